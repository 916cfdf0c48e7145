// Audit records chained in a file store: what verify reports when a record is
// deleted, altered or reordered; appends racing; a run that died between the
// head and its record; records written to audit-file chained in their directory.
import { beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { appendAuditRecord, AUDIT_HEAD_KEY, checkChain, type AuditRecord } from '../../src/audit/index.js';
import { ConflictError, IntegrityError } from '../../src/errors.js';
import { sha256Hex } from '../../src/hash.js';
import { NullLogger } from '../../src/log/logger.js';
import { copyImage, publishTerraformRegistry } from '../../src/operations/index.js';
import { FsStore } from '../../src/store/fs.js';
import { rsaKey, tmpDir } from '../fixtures.js';
import { makeFixture } from '../oci/fixtures.js';
import { chainFromHead, ctx, publishInputs, tamperScenarios, tarballsFor, verify } from './chain-scenarios.js';

let key: string;
beforeAll(async () => {
  key = await rsaKey();
}, 60_000);

/** Appends a small record by hand: the same function every writer calls. */
const append = (store: FsStore, name: string) =>
  appendAuditRecord(store, {
    key: () => `audit/${name}.json`,
    render: (link) => JSON.stringify({ schema: 'relay-audit/v1', name, chain: link }) + '\n',
    log: new NullLogger(),
  });

describe('the audit chain in a file store', () => {
  test('a deleted, altered or reordered record, or a removed head, is reported by verify naming it', async () => {
    const dir = path.join(await tmpDir(), 'reg');
    await tamperScenarios(new FsStore(dir), `file://${dir}`, key);
  }, 120_000);

  test('appends racing all land, one after the other: sequence 1..n, each naming the one before', async () => {
    const store = new FsStore(path.join(await tmpDir(), 'reg'));
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const done = await Promise.all(names.map((n) => append(store, n)));
    expect(done.map((d) => d.sequence).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const chain = await chainFromHead(store);
    expect(chain.map((c) => c.rec.chain.sequence)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(new Set(chain.map((c) => c.key)).size).toBe(8);
    const records = new Map(await Promise.all(chain.map(async (c) => [c.key, (await store.get(c.key))!.body] as const)));
    expect(checkChain((await store.get(AUDIT_HEAD_KEY))!.body, records, store.url)).toMatchObject({
      state: 'intact',
      length: 8,
      outside: [],
    });
  }, 60_000);

  test('two publishes racing both land and chain linearly', async () => {
    const dir = path.join(await tmpDir(), 'reg');
    const tbs = await Promise.all(['1.0.0', '2.0.0'].map((v) => tarballsFor(v)));
    await Promise.all(
      ['1.0.0', '2.0.0'].map((v, i) => publishTerraformRegistry.run(publishInputs(`file://${dir}`, v, tbs[i]!, key), ctx())),
    );
    const chain = await chainFromHead(new FsStore(dir));
    expect(chain.map((c) => c.rec.chain.sequence)).toEqual([2, 1]);
    expect(chain.map((c) => c.rec.subject.version).sort()).toEqual(['1.0.0', '2.0.0']);
    expect((await verify(`file://${dir}`)).outputs['audit-chain']).toMatch(/^intact: 2 records, head /);
  }, 60_000);

  test('a run that died after moving the head, before writing its record: the next append writes it first', async () => {
    const store = new FsStore(path.join(await tmpDir(), 'reg'));
    const first = await append(store, 'first');
    await store.delete(first.key); // as if the process had been killed between the two writes
    const second = await append(store, 'second');
    expect(sha256Hex((await store.get(first.key))!.body)).toBe(first.sha256);
    expect(second).toMatchObject({ sequence: 2 });
    const chain = await chainFromHead(store);
    expect(chain.map((c) => c.key)).toEqual([second.key, first.key]);
  }, 30_000);

  test('a key that exists is never written over; an unreadable head refuses to chain, naming it', async () => {
    const store = new FsStore(path.join(await tmpDir(), 'reg'));
    await append(store, 'one');
    const head = (await store.get(AUDIT_HEAD_KEY))!.body;
    await expect(append(store, 'one')).rejects.toThrow(
      new ConflictError(`${store.url}/audit/one.json exists (audit records are written once)`),
    );
    expect((await store.get(AUDIT_HEAD_KEY))!.body).toEqual(head);
    await store.put(AUDIT_HEAD_KEY, Buffer.from('{}'), { contentType: 'application/json', sha256: sha256Hex(Buffer.from('{}')) });
    await expect(append(store, 'two')).rejects.toThrow(
      new IntegrityError(
        `${store.url}/${AUDIT_HEAD_KEY} is not a relay-audit-head/v1 document naming its record's sha256; repair it by hand`,
      ),
    );
  }, 30_000);
});

describe('audit-file: records chained in their directory', () => {
  test('a second record in the same directory names the first; a fresh directory starts a chain of one', async () => {
    const f = await makeFixture();
    const out = await tmpDir();
    const records = path.join(out, 'records');
    const inputs = (dest: string, file: string) =>
      ({
        source: `oci:${f.dir}:v1`,
        destination: `oci:${out}/${dest}`,
        'require-signature': false,
        tags: [],
        'immutable-tags': false,
        'dry-run': false,
        'insecure-registries': [],
        'audit-file': path.join(records, file),
      }) as Parameters<typeof copyImage.run>[0];
    await copyImage.run(inputs('one', 'first.json'), ctx());
    await copyImage.run(inputs('two', 'second.json'), ctx());
    const read = async (file: string) => JSON.parse(await fs.readFile(path.join(records, file), 'utf8')) as AuditRecord;
    const first = await read('first.json');
    const second = await read('second.json');
    expect(first.chain).toEqual({ sequence: 1, previous: null });
    expect(second.chain).toEqual({
      sequence: 2,
      previous: { key: 'first.json', sha256: sha256Hex(await fs.readFile(path.join(records, 'first.json'))) },
    });
    const head = JSON.parse(await fs.readFile(path.join(records, AUDIT_HEAD_KEY), 'utf8')) as { key: string };
    expect(head.key).toBe('second.json');
  }, 60_000);
});
