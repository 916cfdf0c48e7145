import type { Context, Result } from './context.js';
import type { InputSpec, InputValues, OperationSpec } from './inputs/spec.js';

/**
 * One operation, three faces: the action and the CLI both take `spec` to read
 * inputs and call `run`; nothing else differs between them.
 */
export interface Operation<I extends Record<string, InputSpec> = Record<string, InputSpec>> {
  spec: OperationSpec<I>;
  run(inputs: InputValues<I>, ctx: Context): Promise<Result>;
}

export function defineRunnable<I extends Record<string, InputSpec>>(
  spec: OperationSpec<I>,
  run: (inputs: InputValues<I>, ctx: Context) => Promise<Result>,
): Operation<I> {
  return { spec, run };
}
