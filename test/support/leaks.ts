// The suite's secret scan. Tests register every secret they hand to Relay
// (`secret(value)`) and every output Relay gave back (`captured(text)`); after
// the whole run, test/support/leak-scan.ts fails it if any secret appears in any
// captured output, as it is or escaped (JSON, URL, HTML: leak-scan.mjs's forms).
// Files under RELAY_TEST_LEAK_DIR, set by the global setup.
import { appendFileSync } from 'node:fs';
import path from 'node:path';

function dir(): string | undefined {
  return process.env.RELAY_TEST_LEAK_DIR;
}

/** Registers a secret a test gives Relay; returns it for inline use. */
export function secret<T extends string>(value: T): T {
  const d = dir();
  if (d) appendFileSync(path.join(d, 'secrets'), JSON.stringify(value) + '\n');
  return value;
}

/**
 * Records what Relay printed (stdout, stderr, summaries, outputs, messages).
 * `::add-mask::<secret>` lines are the one place a secret must appear: they
 * tell the runner what to hide, and the runner never shows them.
 */
export function captured(...texts: (string | undefined)[]): void {
  const d = dir();
  if (!d) return;
  for (const t of texts) if (t) appendFileSync(path.join(d, 'output'), JSON.stringify(t.replace(/^::add-mask::.*$/gm, '')) + '\n');
}

/** Registers an armored key's body lines (any one of them printed is a leak); returns the key. */
export function secretKey(armored: string): string {
  for (const line of armored.split('\n')) if (line.length >= 40 && !line.startsWith('-----')) secret(line);
  return armored;
}
