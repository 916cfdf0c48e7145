import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup() {
  process.env.RELAY_TEST_LEAK_DIR ??= mkdtempSync(path.join(tmpdir(), 'relay-leaks-'));
}
