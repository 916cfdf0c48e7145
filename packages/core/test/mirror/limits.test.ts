// A mirror file cannot make Relay busy for long: its size is checked before it
// is parsed, aliases resolve in one pass over the document, and the values
// aliases expand to are bounded. Each refusal is one line naming the file
// (exit 1, a bad input, as every mirror file refusal); the hostile corpus had a 120 KB alias file busy for over a minute
// and a 40 MB file taking 1.4 GiB.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/defaults.js';
import { EXIT, InputError, exitCodeFor } from '../../src/errors.js';
import { loadMirrorConfig, parseMirrorConfig } from '../../src/mirror/config.js';

const HEAD = `targets:
  quay: { registry: quay.io, repository: "gravitational/{name}" }
tiers:
  gold: [quay]
`;

function refusal(fn: () => unknown): { message: string; code: number } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return { message: (err as Error).message, code: exitCodeFor(err) };
  }
  throw new Error('expected a refusal');
}

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-mirror-limits-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('mirror file limits', () => {
  test('aliases expanding past the bound (1,000 images sharing a 2,000-tag list) are refused in one line, quickly', () => {
    const tags = Array.from({ length: 2000 }, (_, i) => `"1.${i}.0"`).join(', ');
    const text =
      HEAD +
      `x-tags: &t [${tags}]\nx-image: &img { name: app, source: public.ecr.aws/g/app, tier: gold, tags: *t }\nimages:\n` +
      '  - *img\n'.repeat(1000);
    const t0 = Date.now();
    const r = refusal(() => parseMirrorConfig(text, 'bomb.yml', { env: {}, cwd: '/' }));
    expect(Date.now() - t0).toBeLessThan(15_000); // under a second on an idle machine; the old walk took minutes
    expect(r.code).toBe(EXIT.refused);
    expect(r.message).toMatch(
      new RegExp(
        `^bomb\\.yml:\\d+: images\\[\\d+\\]\\.tags\\[\\d+\\]: aliases expand to more than ${DEFAULTS.yamlMaxAliasedValues} values; write the values out or use fewer aliases$`,
      ),
    );
  }, 60_000);

  test('many aliases resolve in one pass: 20,000 of them parse in seconds, not minutes', () => {
    const images = Array.from(
      { length: 2000 },
      (_, i) => `  - { name: app${i}, source: *src, tier: *tier, tags: [${'*v, '.repeat(9)}*v] }`,
    );
    const text = HEAD + `x-src: &src public.ecr.aws/g/app\nx-tier: &tier gold\nx-v: &v "1.0.0"\nimages:\n${images.join('\n')}\n`;
    const t0 = Date.now();
    const cfg = parseMirrorConfig(text, 'many.yml', { env: {}, cwd: '/' });
    expect(Date.now() - t0).toBeLessThan(30_000); // about a second on an idle machine; quadratic, it took minutes
    expect(cfg.images).toHaveLength(2000);
  }, 60_000);

  test('an alias naming a value that contains it is refused, not followed for ever', () => {
    const text = HEAD + `images: &loop\n  - *loop\n`;
    const r = refusal(() => parseMirrorConfig(text, 'loop.yml', { env: {}, cwd: '/' }));
    expect(r.code).toBe(EXIT.refused);
    expect(r.message).toMatch(/^loop\.yml:\d+: images\[0\]: alias \*loop refers to a value that contains it$/);
  });

  test('a file larger than the limit is refused before it is parsed, naming the file', async () => {
    const file = path.join(dir, 'huge.yml');
    // Valid YAML all along: only its size refuses it.
    await fs.writeFile(file, HEAD + '# ' + 'x'.repeat(DEFAULTS.maxMirrorFileBytes) + '\n');
    const err = await loadMirrorConfig('huge.yml', { env: {}, cwd: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(exitCodeFor(err)).toBe(EXIT.refused);
    expect((err as Error).message).toBe(`mirror file huge.yml: larger than ${DEFAULTS.maxMirrorFileBytes} bytes`);
  });

  test('a file at the limit parses in bounded time', async () => {
    // The largest file allowed, all of it values the walk visits: 1 MiB of distinct tags.
    const head = HEAD + 'images:\n  - name: app\n    source: public.ecr.aws/g/app\n    tier: gold\n    tags:\n';
    const lines: string[] = [];
    for (let size = head.length, i = 0; ; i++) {
      const l = `      - "1.0.${i}"\n`;
      if (size + l.length > DEFAULTS.maxMirrorFileBytes) break;
      lines.push(l);
      size += l.length;
    }
    await fs.writeFile(path.join(dir, 'max.yml'), head + lines.join(''));
    const t0 = Date.now();
    const cfg = await loadMirrorConfig('max.yml', { env: {}, cwd: dir });
    expect(cfg.images[0]!.tags).toHaveLength(lines.length);
    // About half a second on an idle machine; generous for a loaded one.
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 60_000);
});
