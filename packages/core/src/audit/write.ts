import { randomBytes } from 'node:crypto';
import { accessSync, constants, lstatSync, statSync, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Context, OutputValue, Result } from '../context.js';
import { ConflictError, errorMessage, errorOfKind, InputError, RelayError } from '../errors.js';
import { FsStore } from '../store/fs.js';
import type { Store } from '../store/store.js';
import { PreconditionFailed } from '../store/store.js';
import { appendAuditRecord, AUDIT_HEAD_KEY, type ChainLink } from './chain.js';
import { buildAuditRecord, renderAuditRecord, type UnchainedRecord } from './record.js';

/** Where audit records live in a registry store: `audit/<yyyy>/<mm>/`. */
export const AUDIT_PREFIX = 'audit/';

/** Where a run's record goes: the store it wrote (a registry), or a file (image operations); neither is no record. */
export interface AuditTarget {
  store?: Store;
  file?: string;
  /** What the run made true; default: the `provider`, `version`, `digest` and `images` outputs. */
  subject?: Record<string, OutputValue>;
  /** The provenance statements the run stored or kept (terraform/provenance.ts), linked from the record. */
  provenance?: { key: string; sha256: string; predicateType: string }[];
}

/** `audit/2026/05/20260514T101112.345Z-<run id>-<attempt>-<random>.json`: sorted by time, unique per run and job. */
export function auditKey(record: Pick<UnchainedRecord, 'time' | 'run'>): string {
  const t = record.time;
  const stamp = t.replace(/[-:]/g, '');
  const run = record.run ? `${record.run.id}-${record.run.attempt ?? '1'}` : 'local';
  return `${AUDIT_PREFIX}${t.slice(0, 4)}/${t.slice(5, 7)}/${stamp}-${run}-${randomBytes(4).toString('hex')}.json`;
}

/** Did the run change anything? Only then is there something to record. */
export function wroteSomething(res: Result): boolean {
  return res.plan.some((r) => r.result === 'written');
}

/**
 * Writes the audit record of a run that changed something, once, as the next
 * link of a chain (audit/chain.ts): in the store, under `audit/`; for a file,
 * in the file's directory, whose `audit-head.json` chains the records written
 * there (a directory kept across runs holds one chain; a fresh one per run, as
 * the reusable workflows use, holds a chain of one). Returns the result with a
 * report section saying where it went. A dry run or a no-op wrote nothing, so
 * it records nothing. Called by each writing operation, after its writes and
 * their verification succeeded; failing to write the record fails the run
 * (what was written stays, and the message says so).
 */
export async function audited(ctx: Context, res: Result, where: AuditTarget): Promise<Result> {
  if (!wroteSomething(res)) return res;
  const operation = ctx.record?.operation ?? 'relay';
  const record = buildAuditRecord(operation, res, ctx.record, ctx.env, where.subject);
  if (where.provenance?.length) record.provenance = where.provenance;
  const render = (link: ChainLink): string => renderAuditRecord(record, link, (t) => ctx.log.redact(t));
  let at: string;
  try {
    if (where.store) {
      const store = where.store;
      const done = await appendAuditRecord(store, { key: () => auditKey(record), render, log: ctx.log });
      at = `${store.url}/${done.key}`;
    } else if (where.file) at = await appendToFile(path.resolve(ctx.cwd, where.file), render, ctx);
    else return note(res, 'none: no audit-file given (the reusable workflows set RELAY_AUDIT_FILE and keep the file as an artifact)');
  } catch (err) {
    const msg = `${operation} wrote what it planned, but its audit record could not be written: ${errorMessage(err)}`;
    throw err instanceof RelayError ? errorOfKind(err.kind, msg, { cause: err, retryable: false }) : new Error(msg, { cause: err });
  }
  ctx.log.info(`audit record: ${at}`);
  return note(res, at);
}

function note(res: Result, text: string): Result {
  return { ...res, report: { ...res.report, sections: [...res.report.sections, { heading: 'Audit record', text }] } };
}

/** A record written to audit-file: chained in its directory, never over an existing file. */
async function appendToFile(file: string, render: (link: ChainLink) => string, ctx: Context): Promise<string> {
  const name = path.basename(file);
  if (name === AUDIT_HEAD_KEY)
    throw new InputError(`audit-file ${file}: ${AUDIT_HEAD_KEY} is the chain's head in that directory; name the record otherwise`);
  const dir = new FsStore(path.dirname(file));
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    if (await dir.head(name)) throw new ConflictError(`${file} exists (audit records are written once; give a new audit-file)`);
    await appendAuditRecord(dir, { key: () => name, render, log: ctx.log });
  } catch (e) {
    if (e instanceof PreconditionFailed && e.key === name)
      throw new ConflictError(`${file} exists (audit records are written once; give a new audit-file)`);
    if (e instanceof RelayError) throw e;
    throw new InputError(`audit-file ${file}: ${errorMessage(e)}`);
  }
  return file;
}

/**
 * Refuses an audit-file the record could not be written to, before the run
 * writes anything (RunRecord.approve() runs it; defineOperation registers it):
 * one that exists (records are written once), or whose nearest existing
 * ancestor is not a directory we may create entries in. appendToFile() still
 * creates exclusively: this check only moves the refusal ahead of the writes.
 */
export function checkAuditFile(file: string): void {
  let st: Stats | undefined;
  try {
    st = lstatSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new InputError(`audit-file ${file}: ${(e as Error).message}; nothing written`);
  }
  if (st) throw new ConflictError(`${file} exists (audit records are written once; give a new audit-file); nothing written`);
  let dir = path.dirname(file);
  for (;;) {
    let d: Stats | undefined;
    try {
      d = statSync(dir);
    } catch {}
    if (d) {
      if (!d.isDirectory()) throw new InputError(`audit-file ${file}: ${dir} is not a directory; nothing written`);
      try {
        accessSync(dir, constants.W_OK | constants.X_OK);
      } catch {
        throw new InputError(`audit-file ${file}: directory ${dir} is not writable; nothing written`);
      }
      return;
    }
    const up = path.dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}
