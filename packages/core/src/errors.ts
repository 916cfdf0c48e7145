import { redact } from './log/redact.js';

/**
 * One error base for everything Relay expects to go wrong. The `kind` decides
 * the exit code and the JSON report's `error.kind`; `retryable` tells the
 * retry loops whether another attempt can help. Anything that is not a
 * RelayError is a bug: it prints as "internal error" and exits 70.
 */
export type ErrorKind =
  /** A bad input value or file: the user's to fix. */
  | 'input'
  /** An existing object, tag or version differs from what would be written. */
  | 'conflict'
  /** A promotion gate refused (scan findings, a missing signature, a quota). */
  | 'gate'
  /** Credentials were missing or refused. */
  | 'auth'
  /** A digest, checksum or signature did not match, or stored content is malformed. */
  | 'integrity'
  /** A remote (registry, S3, HTTP server) failed after every retry. */
  | 'remote'
  /** The run was cancelled (SIGINT, SIGTERM, the runner's cancel). */
  | 'cancelled'
  /** A check found mirrors that differ from their source. */
  | 'drift';

/** Exit codes, documented in the README and tested (cli/test/exit-codes.test.ts). */
export const EXIT = {
  ok: 0,
  refused: 1,
  usage: 2,
  remote: 3,
  drift: 4,
  bug: 70,
  cancelled: 130,
} as const;

const EXIT_BY_KIND: Record<ErrorKind, number> = {
  input: EXIT.refused,
  conflict: EXIT.refused,
  gate: EXIT.refused,
  auth: EXIT.refused,
  integrity: EXIT.refused,
  remote: EXIT.remote,
  cancelled: EXIT.cancelled,
  drift: EXIT.drift,
};

export interface RelayErrorOptions extends ErrorOptions {
  retryable?: boolean;
}

export class RelayError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options: RelayErrorOptions = {},
  ) {
    // Credentials inside URLs and references never survive into a message, wherever it is printed.
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }
}

/** A RelayError subclass fixed to one kind, so callers can throw and test for it by class. */
function ofKind(kind: ErrorKind, className: string) {
  return class extends RelayError {
    override name = className;
    constructor(message: string, options?: RelayErrorOptions) {
      super(kind, message, options);
    }
  };
}

/** A bad input value, file or document: the user's to fix. */
export class InputError extends ofKind('input', 'InputError') {}
/** An existing object, tag or version differs from what would be written. */
export class ConflictError extends ofKind('conflict', 'ConflictError') {}
/** A gate refused what would be published. */
export class GateError extends ofKind('gate', 'GateError') {}
/** Credentials missing or refused. */
export class AuthError extends ofKind('auth', 'AuthError') {}
/** Bytes were not what they claimed to be, or stored content is malformed. */
export class IntegrityError extends ofKind('integrity', 'IntegrityError') {}
/** A remote failed; retryable while attempts remain, exit 3 once they are spent. */
export class RemoteError extends ofKind('remote', 'RemoteError') {}

/** The run's signal fired. Never retried. */
export class CancelledError extends RelayError {
  override name = 'CancelledError';
  constructor(message = 'cancelled', options?: RelayErrorOptions) {
    super('cancelled', message, { ...options, retryable: false });
  }
}

const CLASS_BY_KIND: Partial<Record<ErrorKind, new (message: string, options?: RelayErrorOptions) => RelayError>> = {
  input: InputError,
  conflict: ConflictError,
  gate: GateError,
  auth: AuthError,
  integrity: IntegrityError,
  remote: RemoteError,
  cancelled: CancelledError,
};

/** The error of a kind chosen at run time, as its own class, so `instanceof IntegrityError` holds for shared helpers too. */
export function errorOfKind(kind: ErrorKind, message: string, options?: RelayErrorOptions): RelayError {
  const C = CLASS_BY_KIND[kind];
  return C ? new C(message, options) : new RelayError(kind, message, options);
}

/** Throws CancelledError when the signal has fired: engines call it between objects. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError(cancelReason(signal));
}

function cancelReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return typeof r === 'string' ? r : r instanceof Error && r.message && r.name !== 'AbortError' ? r.message : 'cancelled';
}

/** The run's signal as a CancelledError, for an aborted request or wait. */
export function cancelledBy(signal: AbortSignal): CancelledError {
  return new CancelledError(cancelReason(signal));
}

/** One line describing any thrown value, safe to print. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const msg = err.message || err.name;
    return redact(msg.split('\n')[0] ?? msg);
  }
  return redact(String(err));
}

/** True when the error is expected (a RelayError of any kind) rather than a bug. */
export function isExpected(err: unknown): err is RelayError {
  return err instanceof RelayError;
}

/** The documented exit code for any thrown value. */
export function exitCodeFor(err: unknown): number {
  return err instanceof RelayError ? EXIT_BY_KIND[err.kind] : EXIT.bug;
}

/** `{kind, message}` for the JSON report; a bug is kind `bug`. */
export function errorJson(err: unknown): { kind: ErrorKind | 'bug'; message: string } {
  return { kind: err instanceof RelayError ? err.kind : 'bug', message: errorMessage(err) };
}

/** The one shape of a bad-input message: `input 'name': expected ..., got "..."`. */
export function badInputMessage(input: string, expected: string, got?: string): string {
  const safe = got === undefined ? undefined : redact(got);
  const shown = safe === undefined ? '' : `, got ${JSON.stringify(safe.length > 200 ? safe.slice(0, 200) + '…' : safe)}`;
  return `input '${input}': expected ${expected}${shown}`;
}

/** Throws an InputError naming the input and what was expected. */
export function badInput(input: string, expected: string, got?: string): never {
  throw new InputError(badInputMessage(input, expected, got));
}
