// The audit record's destination is checked when the plan is approved, before
// the first write: a run never writes and then refuses over its record.
import { expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { checkAuditFile } from '../../src/audit/write.js';
import { ConflictError, InputError } from '../../src/errors.js';
import { RunRecord } from '../../src/report/recorder.js';
import { tmpDir } from '../fixtures.js';

// Waits on the disk: each test and hook gets time for a loaded machine, not jest's 5 s.
jest.setTimeout(30_000);

test('an audit-file that exists, or under a file, is refused; one whose directories do not exist yet is not', async () => {
  const dir = await tmpDir();
  const file = path.join(dir, 'a.json');
  expect(() => checkAuditFile(path.join(dir, 'new', 'deeper', 'a.json'))).not.toThrow();
  await fs.writeFile(file, '{}');
  expect(() => checkAuditFile(file)).toThrow(
    new ConflictError(`${file} exists (audit records are written once; give a new audit-file); nothing written`),
  );
  expect(() => checkAuditFile(path.join(file, 'b.json'))).toThrow(
    new InputError(`audit-file ${file}/b.json: ${file} is not a directory; nothing written`),
  );
  // A symbolic link, even a dangling one, exists: the record is never written through it.
  await fs.symlink(path.join(dir, 'nowhere'), path.join(dir, 'link.json'));
  expect(() => checkAuditFile(path.join(dir, 'link.json'))).toThrow(ConflictError);
});

test('approve() runs the checks before a write only: not for a dry run, not for a plan that writes nothing', () => {
  let checked = 0;
  const refuse = (): void => {
    checked++;
    throw new ConflictError('refused');
  };
  const noop = new RunRecord();
  noop.beforeWrite(refuse);
  noop.addPlan([{ object: 'r:1', action: 'skip', why: 'identical' }]);
  expect(() => noop.approve()).not.toThrow();

  const dry = new RunRecord();
  dry.dryRun = true;
  dry.beforeWrite(refuse);
  dry.addPlan([{ object: 'r:1', action: 'put', why: 'new' }]);
  expect(() => dry.approve()).not.toThrow();

  const writes = new RunRecord();
  writes.beforeWrite(refuse);
  writes.addPlan([{ object: 'r:1', action: 'put', why: 'new' }]);
  expect(() => writes.approve()).toThrow('refused');
  expect(writes.approved).toBeUndefined();
  expect(checked).toBe(1);
});
