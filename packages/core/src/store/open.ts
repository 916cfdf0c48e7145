import * as path from 'node:path';
import { badInput } from '../errors.js';
import { FsStore } from './fs.js';
import { S3Store } from './s3.js';
import type { S3StoreOptions } from './s3.js';
import type { Store } from './store.js';

/** `s3://bucket/prefix` or `file://dir` (or a plain path) -> a Store. */
export function openStore(url: string, input: string, opts: S3StoreOptions & { cwd: string }): Store {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (m) return new S3Store(m[1]!, (m[2] ?? '').replace(/\/+$/, ''), opts);
  if (url.startsWith('s3://')) badInput(input, 's3://<bucket>/<prefix> with a valid bucket name', url);
  if (url.startsWith('file://')) {
    let dir: string;
    try {
      dir = decodeURIComponent(url.slice('file://'.length));
    } catch {
      badInput(input, 'file://<dir> with valid %-escapes', url);
    }
    return new FsStore(path.resolve(opts.cwd, dir));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) badInput(input, 's3://<bucket>/<prefix> or file://<dir>', url);
  return new FsStore(path.resolve(opts.cwd, url));
}
