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

/** Any operation, whatever its inputs: what the faces and the registry hold. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOperation = Operation<any>;

export function defineOperation<I extends Record<string, InputSpec>>(
  spec: OperationSpec<I>,
  run: (inputs: InputValues<I>, ctx: Context) => Promise<Result>,
): Operation<I> {
  return { spec, run };
}
