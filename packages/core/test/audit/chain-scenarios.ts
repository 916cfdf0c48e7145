// The audit chain's tamper scenarios, on any store (the file store in the unit
// tests, Ceph RGW in test/integration): three real publishes make a chain of
// three records; each record is then deleted, altered, or swapped with
// another, and verify-terraform-registry must fail naming it; put back, the
// chain is intact again.
import { expect } from '@jest/globals';
import { AUDIT_HEAD_KEY, type AuditRecord } from '../../src/audit/index.js';
import { sha256Hex } from '../../src/hash.js';
import { IntegrityError } from '../../src/errors.js';
import { NullLogger } from '../../src/log/logger.js';
import { publishTerraformRegistry, verifyTerraformRegistry } from '../../src/operations/index.js';
import type { Store } from '../../src/store/store.js';
import { providerTarball, tmpDir } from '../fixtures.js';

export const REGISTRY_URL = 'https://registry.example.com/';

export const ctx = (env: Record<string, string> = {}) => ({ log: new NullLogger(), env, cwd: '/' });

export async function tarballsFor(version: string, content = `bin ${version}\n`): Promise<string[]> {
  const dir = await tmpDir();
  return Promise.all((['linux', 'darwin'] as const).map((os) => providerTarball(dir, 'demo', version, os, 'amd64', `${content}${os}\n`)));
}

export const publishInputs = (store: string, version: string, tarballs: string[], key: string, over: Record<string, unknown> = {}) =>
  ({
    namespace: 'acme',
    name: 'demo',
    version,
    tarballs,
    store,
    'registry-url': REGISTRY_URL,
    'signing-key': key,
    protocols: ['6.0'],
    'detect-protocols': 'off',
    immutable: true,
    'dry-run': false,
    ...over,
  }) as Parameters<typeof publishTerraformRegistry.run>[0];

/** verify-terraform-registry over the store; `env` carries the S3 endpoint for an s3:// store. */
export const verify = (store: string, env: Record<string, string> = {}) =>
  verifyTerraformRegistry.run({ 'registry-url': REGISTRY_URL, namespace: 'acme', name: 'demo', store, mirror: true }, ctx(env));

/** Every object of the store and the sha256 of its bytes: equal before and after means nothing was written. */
export async function treeHash(store: Store): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await store.list('')) out[key] = sha256Hex((await store.get(key))!.body);
  return out;
}

/** The records from the head back to the first, as keys with their parsed record. */
export async function chainFromHead(store: Store): Promise<{ key: string; rec: AuditRecord }[]> {
  const head = JSON.parse((await store.get(AUDIT_HEAD_KEY))!.body.toString('utf8')) as { key: string };
  const out: { key: string; rec: AuditRecord }[] = [];
  for (let key: string | undefined = head.key; key;) {
    const rec = JSON.parse((await store.get(key))!.body.toString('utf8')) as AuditRecord;
    out.push({ key, rec });
    key = rec.chain.previous?.key;
  }
  return out;
}

/** A put that overwrites, as someone with write access and no scruples would. */
const overwrite = (store: Store, key: string, body: Buffer) =>
  store.put(key, body, { contentType: 'application/json', sha256: sha256Hex(body) });

async function expectBroken(storeUrl: string, env: Record<string, string>, record: string, problem: RegExp): Promise<void> {
  const err = await verify(storeUrl, env).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(IntegrityError);
  const msg = (err as Error).message;
  expect(msg).toContain(`chain broken at ${record}: `);
  expect(msg).toMatch(problem);
}

/**
 * Publishes three versions into `storeUrl` (opened as `store`), checks the
 * chain they make, then deletes, alters and reorders records one at a time,
 * each reported by verify naming the record, each put back after.
 */
export async function tamperScenarios(store: Store, storeUrl: string, key: string, env: Record<string, string> = {}): Promise<void> {
  for (const v of ['1.0.0', '1.1.0', '1.2.0'])
    await publishTerraformRegistry.run(publishInputs(storeUrl, v, await tarballsFor(v), key), ctx(env));
  const chain = (await chainFromHead(store)).reverse();
  expect(chain.map((c) => [c.rec.subject.version, c.rec.chain.sequence])).toEqual([
    ['1.0.0', 1],
    ['1.1.0', 2],
    ['1.2.0', 3],
  ]);
  const bytes = await Promise.all(chain.map(async (c) => (await store.get(c.key))!.body));
  expect(chain[0]!.rec.chain.previous).toBeNull();
  for (const i of [1, 2]) expect(chain[i]!.rec.chain.previous).toEqual({ key: chain[i - 1]!.key, sha256: sha256Hex(bytes[i - 1]!) });
  const intact = await verify(storeUrl, env);
  expect(intact.outputs['audit-chain']).toBe(`intact: 3 records, head ${chain[2]!.key} (sha256 ${sha256Hex(bytes[2]!)})`);

  const [first, second, third] = chain.map((c) => c.key) as [string, string, string];
  // Deleted: the record after it names a record that is not there.
  await store.delete(second);
  await expectBroken(storeUrl, env, second, new RegExp(`missing: ${third.replace(/\./g, '\\.')} names it as record #2 \\(deleted\\?\\)`));
  await overwrite(store, second, bytes[1]!);
  expect((await verify(storeUrl, env)).outputs['audit-chain']).toMatch(/^intact: 3 records/);

  // Altered: one approver's login changed; the bytes no longer hash to what the next record names.
  await overwrite(store, first, Buffer.from(bytes[0]!.toString('utf8').replace('"approvers": []', '"approvers": [{"login": "mallory"}]')));
  await expectBroken(storeUrl, env, first, /sha256 [0-9a-f]{64}, but .* names [0-9a-f]{64} for record #1 \(altered\?\)/);
  await overwrite(store, first, bytes[0]!);

  // Reordered: the first two records swapped, each where the other was.
  await overwrite(store, first, bytes[1]!);
  await overwrite(store, second, bytes[0]!);
  await expectBroken(storeUrl, env, second, /: it holds record #1 \(reordered\?\)/);
  await overwrite(store, first, bytes[0]!);
  await overwrite(store, second, bytes[1]!);

  // The head itself removed: the records are chained, so that is a break too.
  const head = (await store.get(AUDIT_HEAD_KEY))!.body;
  await store.delete(AUDIT_HEAD_KEY);
  await expectBroken(storeUrl, env, AUDIT_HEAD_KEY, /missing, while records under audit\/ are chained/);
  await overwrite(store, AUDIT_HEAD_KEY, head);
  expect((await verify(storeUrl, env)).outputs['audit-chain']).toMatch(/^intact: 3 records/);
}
