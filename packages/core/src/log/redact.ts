/**
 * The one redaction of credentials that travel inside URLs and references,
 * applied to every line a logger prints, every error message and every
 * document a face writes (Masker.apply, errorMessage, badInput): userinfo
 * (`https://user:pass@host`, `user:pass@registry/repo`) and the query
 * parameters that carry signatures and tokens (presigned S3 and ECR blob
 * URLs, SAS, OAuth). Secrets registered with Logger.mask are replaced too,
 * by the Masker itself.
 */

const SCHEME_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@'"<>]+@/gi;
/** `user:password@host[:port]/...` with no scheme: an image reference or a store URL pasted with credentials. */
const BARE_USERINFO = /(^|[\s'"(=,])[^\s'"/@:(=,]+:[^\s'"/@]+@(?=[a-z0-9][a-z0-9.-]*(?::\d+)?\/)/gi;
const SECRET_PARAMS =
  /([?&](?:x-amz-signature|x-amz-security-token|x-amz-credential|x-goog-signature|x-goog-credential|signature|sig|token|access_token|id_token|refresh_token|password|passwd|secret|client_secret|api_key|apikey|key-pair-id|policy|awsaccesskeyid|sv|se|sp|skoid|sktid|skt|ske|sks|skv|st)=)[^&#\s'"<>]*/gi;

export function redact(text: string): string {
  if (!text.includes('@') && !text.includes('=')) return text;
  return text.replace(SCHEME_USERINFO, '$1***@').replace(BARE_USERINFO, '$1***@').replace(SECRET_PARAMS, '$1***');
}
