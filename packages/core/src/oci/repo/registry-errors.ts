import { RelayError, type ErrorKind } from '../../errors.js';
import { isRetryableStatus } from '../../retry.js';

/**
 * A registry's refusal, typed as go-containerregistry's transport.Error is:
 * the HTTP status, the distribution-spec error code, the kind of failure and
 * whether another attempt may succeed.
 */

/** The error codes of the OCI distribution-spec ("Error Codes"). */
export const REGISTRY_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;
export type RegistryErrorCode = (typeof REGISTRY_ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(REGISTRY_ERROR_CODES);

/** A spec code, or undefined for anything else (vendor codes such as TAG_INVALID, or none). */
export function registryErrorCode(code: string | undefined): RegistryErrorCode | undefined {
  return code !== undefined && KNOWN.has(code) ? (code as RegistryErrorCode) : undefined;
}

/**
 * Codes that say "try again" whatever the status: an upload session that went
 * bad or expired (a fresh upload opens a new one) and throttling. As ggcr's
 * temporaryErrorCodes, plus BLOB_UPLOAD_UNKNOWN, which Relay meets when a
 * mount's upload session expires.
 */
const TEMPORARY_CODES: ReadonlySet<RegistryErrorCode> = new Set(['BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'TOOMANYREQUESTS']);

/** Whether another attempt may succeed: a retryable status (408, 429, 5xx) or a temporary code. */
export function isTemporary(status: number, code: RegistryErrorCode | undefined): boolean {
  return isRetryableStatus(status) || (code !== undefined && TEMPORARY_CODES.has(code));
}

/**
 * Refused credentials (401, 403, or the codes that mean it, as ECR Public's
 * 400 DENIED) are `auth`; bytes the registry says do not match their digest or
 * size are `integrity`; anything else is the remote's failure.
 */
export function registryErrorKind(status: number, code: RegistryErrorCode | undefined): ErrorKind {
  if (status === 401 || status === 403 || code === 'UNAUTHORIZED' || code === 'DENIED') return 'auth';
  if (code === 'DIGEST_INVALID' || code === 'SIZE_INVALID') return 'integrity';
  return 'remote';
}

/** The first `{code, message}` of a distribution error body, else the body's first line as the message. */
export function parseErrorBody(text: string): { code?: string; message?: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (an HTML error page, a proxy's text): its first line is all a person needs.
    const line = text.trim().split('\n')[0]?.slice(0, 200);
    return line ? { message: line } : {};
  }
  const first = (body as { errors?: { code?: unknown; message?: unknown }[] } | null)?.errors?.[0];
  return {
    ...(typeof first?.code === 'string' && first.code && { code: first.code }),
    ...(typeof first?.message === 'string' && first.message && { message: first.message }),
  };
}

export class RegistryError extends RelayError {
  override name = 'RegistryError';
  /** The spec code, or undefined when the registry sent none or one the spec does not define. */
  readonly code: RegistryErrorCode | undefined;
  constructor(
    message: string,
    readonly status: number,
    /** The code exactly as sent, for vendor codes the spec does not list (TAG_INVALID). */
    readonly reportedCode?: string,
    /** A server's Retry-After, read by retryDecision. */
    readonly retryAfterMs?: number,
  ) {
    const code = registryErrorCode(reportedCode);
    super(registryErrorKind(status, code), message, { retryable: isTemporary(status, code) });
    this.code = code;
  }

  /** As ggcr's Error.Temporary(): whether another attempt may succeed. */
  temporary(): boolean {
    return this.retryable;
  }
}
