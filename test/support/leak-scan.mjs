import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/** After the whole run: no registered secret may appear in any captured output. */
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
  const leaks = secrets.filter((s) => outputs.some((o) => o.includes(s)));
  console.log(`secret scan: ${secrets.length} secrets against ${outputs.length} captured outputs, ${leaks.length} leaked`);
  if (leaks.length)
    throw new Error(
      `secret scan: ${leaks.length} secret(s) appeared in Relay's output: ${leaks.map((l) => l.slice(0, 4) + '…').join(', ')}`,
    );
}
