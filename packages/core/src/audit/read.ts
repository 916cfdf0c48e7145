import { mapLimit } from '../concurrency.js';
import { DEFAULTS } from '../defaults.js';
import type { Store } from '../store/store.js';
import { AUDIT_HEAD_KEY, checkChain, type ChainState } from './chain.js';
import { AUDIT_SCHEMA, type AuditRecord } from './record.js';
import { AUDIT_PREFIX } from './write.js';

/** What the audit records of a store say was published: `namespace/name` -> versions, and the records that could not be read. */
export interface AuditedVersions {
  versions: Map<string, Set<string>>;
  records: number;
  unreadable: string[];
  /** The chain the records form, walked from `audit-head.json`. */
  chain: ChainState;
}

/**
 * Reads every audit record under `audit/` once, checks the chain they form
 * (audit/chain.ts), and collects the provider versions
 * they name (`subject.provider` = `host/namespace/name`, `subject.version`).
 * The host is left out of the match: the same store can be served under
 * another URL.
 */
export async function auditedVersions(store: Store, signal?: AbortSignal): Promise<AuditedVersions> {
  const keys = (await store.list(AUDIT_PREFIX)).filter((k) => k.endsWith('.json'));
  const versions = new Map<string, Set<string>>();
  const unreadable: string[] = [];
  const bytes = new Map<string, Buffer>();
  await mapLimit(
    keys,
    DEFAULTS.storePlanParallel,
    async (key) => {
      const got = await store.get(key);
      if (got) bytes.set(key, got.body);
      let rec: Partial<AuditRecord> | undefined;
      try {
        rec = got ? (JSON.parse(got.body.toString('utf8')) as Partial<AuditRecord>) : undefined;
      } catch {
        rec = undefined;
      }
      if (!rec || rec.schema !== AUDIT_SCHEMA) {
        unreadable.push(key);
        return;
      }
      const provider = rec.subject?.provider;
      const version = rec.subject?.version;
      if (typeof provider !== 'string' || typeof version !== 'string') return;
      const id = provider.split('/').slice(1).join('/');
      const set = versions.get(id) ?? new Set<string>();
      set.add(version);
      versions.set(id, set);
    },
    signal,
  );
  const head = await store.get(AUDIT_HEAD_KEY);
  return { versions, records: keys.length, unreadable: unreadable.sort(), chain: checkChain(head?.body, bytes, store.url) };
}
