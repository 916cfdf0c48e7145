import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * The forms a secret takes in the documents and pages Relay writes: as it is,
 * JSON-escaped (`"` as `\\"`, a newline as `\\n`), URL-encoded (and
 * form-encoded, a space as `+`), and HTML-escaped. Any of them in an output is a leak.
 */
export function forms(secret) {
  const html = secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const url = encodeURIComponent(secret);
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), url, url.replace(/%20/g, '+'), html, html.replace(/'/g, '&#39;')])];
}

/** After the whole run: no registered secret, in any of its forms, may appear in any captured output. */
export default function scan() {
  const dir = process.env.RELAY_TEST_LEAK_DIR;
  if (!dir || !existsSync(dir)) return;
  const lines = (f) =>
    existsSync(path.join(dir, f))
      ? readFileSync(path.join(dir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const secrets = [...new Set(lines('secrets'))].filter((s) => s.length >= 6);
  const outputs = lines('output');
  rmSync(dir, { recursive: true, force: true });
  const leaks = secrets.filter((s) => forms(s).some((f) => outputs.some((o) => o.includes(f))));
  console.log(
    `secret scan: ${secrets.length} secrets (each as it is, JSON-escaped, URL-encoded and HTML-escaped) against ${outputs.length} captured outputs, ${leaks.length} leaked`,
  );
  if (leaks.length)
    throw new Error(
      `secret scan: ${leaks.length} secret(s) appeared in Relay's output: ${leaks.map((l) => l.slice(0, 4) + '…').join(', ')}`,
    );
}
