/**
 * Error kinds. A UserError is the user's to fix (bad input, conflict, gate,
 * auth); an IntegrityError means bytes were not what they claimed to be.
 * Both print as one line. Anything else is a bug and may show its stack
 * under --debug.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** An existing object, tag or version differs from what would be written. */
export class ConflictError extends UserError {
  override name = 'ConflictError';
}

/** A digest, checksum or signature did not match. */
export class IntegrityError extends Error {
  override name = 'IntegrityError';
}

/** One line describing any thrown value, safe to print. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const msg = err.message || err.name;
    return msg.split('\n')[0] ?? msg;
  }
  return String(err);
}

/** True when the error is expected (user or integrity) rather than a bug. */
export function isExpected(err: unknown): boolean {
  return err instanceof UserError || err instanceof IntegrityError;
}

/** Throws a UserError naming the input and what was expected. */
export function badInput(input: string, expected: string, got?: string): never {
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got.length > 200 ? got.slice(0, 200) + '…' : got)})`;
  throw new UserError(`input '${input}': expected ${expected}${shown}`);
}
