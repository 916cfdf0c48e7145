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

/** Any operation, whatever its inputs: what the faces and the registry hold (inputs come from parseInputs on its own spec). */
export interface AnyOperation {
  spec: OperationSpec;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run(inputs: any, ctx: Context): Promise<Result>;
}

export function defineOperation<I extends Record<string, InputSpec>>(
  spec: OperationSpec<I>,
  run: (inputs: InputValues<I>, ctx: Context) => Promise<Result>,
): Operation<I> {
  return { spec, run };
}
