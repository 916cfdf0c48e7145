// A publisher killed (SIGKILL) at each step of its run into a file store, then
// re-run for the same version with nothing else in between: the tree a static
// server shows must verify over HTTP, every plain file must equal its newest
// generation, and the version must have its audit record. The publisher is the
// real CLI, built here as users run it; the kill points are found from outside
// the process, by watching the store's directory, never by hooks in Relay.
// Also: a publisher stopped (SIGSTOP) before its indexes while ten other
// versions are published finishes once resumed; and on Ceph RGW, a publisher
// killed before `versions` or before its audit record is finished by a re-run.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { auditedVersions as auditedVersionsOf } from '../../packages/core/src/audit/read.js';
import { NullLogger, publishTerraformRegistry } from '../../packages/core/src/index.js';
import { openStore } from '../../packages/core/src/store/open.js';
import type { Store } from '../../packages/core/src/store/store.js';
import { providerTarball, rsaKey, tmpDir } from '../../packages/core/test/fixtures.js';
import { makeBucket, s3Settings } from '../support/servers.js';

const run = promisify(execFile);
const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const PLATFORMS = [
  ['linux', 'amd64'],
  ['darwin', 'arm64'],
] as const;

let work: string;
let cli: string;
let signingKey: string;
let server: http.Server;
let registryUrl: string;
let host: string;
/** The directory the static server shows. */
let served = '';

/** A static file server: the directory as it is, types by extension, as nginx or `python -m http.server` would. */
function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
  const file = path.resolve(served, rel);
  void fs
    .stat(file)
    .then(async (st) => {
      if (!file.startsWith(served + path.sep) || !st.isFile()) throw new Error('not a file');
      const type = file.endsWith('.json') ? 'application/json' : file.endsWith('.zip') ? 'application/zip' : 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'content-length': st.size });
      await pipeline((await import('node:fs')).createReadStream(file), res);
    })
    .catch(() => {
      if (!res.headersSent) res.writeHead(404).end();
      else res.destroy();
    });
}

const tarballs = new Map<string, string[]>();
async function release(version: string): Promise<string[]> {
  if (!tarballs.has(version)) {
    const dir = path.join(work, 'tarballs', version);
    await fs.mkdir(dir, { recursive: true });
    const files = await Promise.all(
      PLATFORMS.map(([os, arch]) => providerTarball(dir, 'demo', version, os, arch, `provider ${version} ${os}/${arch}\n`.repeat(20_000))),
    );
    tarballs.set(version, files);
  }
  return tarballs.get(version)!;
}

const env = (store: string, version: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  RELAY_NAMESPACE: 'acme',
  RELAY_NAME: 'demo',
  RELAY_VERSION: version,
  RELAY_TARBALLS: tarballs.get(version)!.join('\n'),
  RELAY_STORE: `file://${store}`,
  RELAY_REGISTRY_URL: registryUrl,
  RELAY_SIGNING_KEY: signingKey,
  RELAY_PROTOCOLS: '6.0',
  RELAY_DETECT_PROTOCOLS: 'off',
});

/** The CLI to its end, with a time limit; its --json document parsed. */
async function relay(args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number; doc: RunDoc; stderr: string }> {
  const r = await run(process.execPath, [cli, ...args, '--json'], { env: e, timeout: 120_000, maxBuffer: 64 << 20 }).then(
    (o) => ({ code: 0, ...o }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }),
  );
  return { code: r.code, doc: JSON.parse(r.stdout || '{}') as RunDoc, stderr: r.stderr };
}
interface RunDoc {
  status?: string;
  outputs?: Record<string, string>;
  plan?: { object: string; action: string; why: string }[];
  error?: { message: string };
}

const publish = (store: string, version: string) => relay(['publish-terraform-registry'], env(store, version));
const verifyHttp = () => relay(['verify-terraform-registry', '--registry-url', registryUrl, '--namespace', 'acme', '--name', 'demo'], {});
const verifyStore = (store: string) =>
  relay(
    ['verify-terraform-registry', '--registry-url', registryUrl, '--namespace', 'acme', '--name', 'demo', '--store', `file://${store}`],
    {},
  );

beforeAll(async () => {
  work = await tmpDir('relay-kill-');
  // The CLI as users run it: the committed bundle's build, made here from the sources.
  await run(process.execPath, [path.join(ROOT, 'scripts/build-bundles.mjs'), '--out', path.join(work, 'dist')], { timeout: 300_000 });
  cli = path.join(work, 'dist', 'cli.js');
  signingKey = await rsaKey();
  server = http.createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  registryUrl = `http://${host}/`;
  for (const v of ['1.0.0', '1.1.0', ...Array.from({ length: 10 }, (_, i) => `2.${i}.0`)]) await release(v);
}, 400_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** Every plain file whose key has generations, with its newest generation's bytes when they differ. */
function plainFilesBehind(root: string): string[] {
  const behind: string[] = [];
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!e.isDirectory() || !e.name.endsWith('.relay-gen')) continue;
    const dir = path.join(e.parentPath, e.name);
    const newest = readdirSync(dir).sort().at(-1);
    const plain = dir.slice(0, -'.relay-gen'.length);
    if (newest && (!existsSync(plain) || !readFileSync(plain).equals(readFileSync(path.join(dir, newest)))))
      behind.push(path.relative(root, plain));
  }
  return behind;
}

/** The versions the audit records under audit/ name. */
async function auditedVersions(root: string): Promise<string[]> {
  const files = (await fs.readdir(path.join(root, 'audit'), { recursive: true })).filter((f) => f.endsWith('.json'));
  const recs = await Promise.all(files.map(async (f) => JSON.parse(await fs.readFile(path.join(root, 'audit', f), 'utf8'))));
  return recs.map((r: { subject: { version: string } }) => r.subject.version).sort();
}

/** Whether an audit record names the version. */
const hasRecord = (root: string): boolean => {
  try {
    return readdirSync(path.join(root, 'audit'), { recursive: true, encoding: 'utf8' }).some(
      (f) => f.endsWith('.json') && has(path.join(root, 'audit', f), `"version": "${V}"`),
    );
  } catch {
    return false;
  }
};

const has = (file: string, text: string): boolean => {
  try {
    return readFileSync(file, 'utf8').includes(text);
  } catch {
    return false;
  }
};
const nonEmptyDir = (dir: string, ext = '', temp = false): boolean => {
  try {
    return readdirSync(dir).some((f) => f.endsWith(ext) && (temp || !f.includes('.relay-tmp')));
  } catch {
    return false;
  }
};

interface KillPoint {
  name: string;
  /** The state of the store to kill in, seen from outside (the process is killed the moment it holds). */
  at: (root: string) => boolean;
  /** A file this point must catch behind its newest generation (the moment between linking and copying out). */
  behind?: string;
  /** Where stepping starts (default: the previous point's state). */
  near?: (root: string) => boolean;
  /** A state the kill must come before: seen after it, the kill landed late (the machine is shared) and is tried again. */
  before: (root: string) => boolean;
  /** Rows the re-run must plan as `repair`. */
  repairs: string[];
}

const V = '1.1.0';
const key = {
  store: `store/acme/demo/${V}`,
  download: `registry/acme/demo/${V}/download/linux/amd64`,
  mirrorDoc: () => `mirror/${host}/acme/demo/${V}.json`,
  mirrorIndex: () => `mirror/${host}/acme/demo/index.json`,
  versions: 'registry/acme/demo/versions',
};
const exists = (k: string) => (r: string) => existsSync(path.join(r, k));
const lists = (k: () => string) => (r: string) => has(path.join(r, k()), `"${V}"`);
const zipLinked = (r: string): boolean => nonEmptyDir(path.join(r, key.store), '.zip');
const mirrorGen = (r: string): boolean => existsSync(path.join(r, `${key.mirrorIndex()}.relay-gen`, '000000000001'));
const versionsGen = exists(`${key.versions}.relay-gen/000000000001`);
const POINTS: KillPoint[] = [
  {
    name: 'its first write (a zip still a temp file)',
    at: (r) => nonEmptyDir(path.join(r, key.store), '', true),
    near: exists(key.store),
    before: zipLinked,
    repairs: [],
  },
  { name: 'a zip', at: zipLinked, before: exists(key.download), repairs: [] },
  { name: 'the first download document', at: exists(key.download), before: mirrorGen, repairs: [] },
  { name: 'the mirror version document', at: (r) => exists(key.mirrorDoc())(r), before: mirrorGen, repairs: [] },
  {
    name: "the mirror index's generation linked, its plain file not yet copied",
    at: mirrorGen,
    before: lists(key.mirrorIndex),
    behind: 'mirrorIndex',
    repairs: ['mirrorIndex'],
  },
  { name: 'the mirror index served, before versions', at: lists(key.mirrorIndex), before: versionsGen, repairs: [] },
  {
    name: "versions' generation linked, its plain file not yet copied",
    at: versionsGen,
    before: lists(() => key.versions),
    behind: 'versions',
    repairs: ['versions', 'audit/'],
  },
  { name: 'versions served, before the audit record', at: lists(() => key.versions), before: hasRecord, repairs: ['audit/'] },
];
const keyOf = (k: string): string => (k === 'mirrorIndex' ? key.mirrorIndex() : k === 'versions' ? key.versions : k);

/** Whether every thread of the process has stopped (SIGSTOP takes effect once a thread leaves its system call). */
function allStopped(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every((t) => {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return /^[TtZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
    });
  } catch {
    return true; // gone
  }
}

const spinFor = (micros: number): void => {
  const end = process.hrtime.bigint() + BigInt(micros * 1000);
  while (process.hrtime.bigint() < end);
};

/**
 * Starts a publish of `version` and SIGKILLs it in the first state where `at`
 * holds. Until `near` holds it is watched at full speed (a look every few
 * microseconds, a millisecond's pause every 50 so the child's exit is seen);
 * from there it is stepped: stopped (SIGSTOP, every thread), looked at, and
 * let run for a few microseconds, so the store it is killed with is the very
 * state `at` saw. Returns whether `at` was reached before the run ended.
 */
async function killWhen(root: string, version: string, near: (root: string) => boolean, at: (root: string) => boolean): Promise<boolean> {
  const child = spawn(process.execPath, [cli, 'publish-terraform-registry'], { env: env(root, version), stdio: 'ignore' });
  const pid = child.pid!;
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 120_000;
  let hit = false;
  try {
    let close = false;
    while (!close && Date.now() < deadline && child.exitCode === null) {
      const spin = Date.now() + 50;
      while (!(close = near(root)) && Date.now() < spin);
      if (!close) await new Promise((r) => setTimeout(r, 1));
    }
    while (close && Date.now() < deadline && child.exitCode === null) {
      process.kill(pid, 'SIGSTOP');
      while (!allStopped(pid));
      if ((hit = at(root))) break;
      process.kill(pid, 'SIGCONT');
      spinFor(20);
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')) break; // ended
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  return hit;
}

describe('a publisher killed at each step, then re-run for the same version', () => {
  let template: string;
  beforeAll(async () => {
    template = path.join(work, 'template');
    served = template;
    expect((await publish(template, '1.0.0')).code).toBe(0);
  }, 120_000);

  test.each(POINTS.map((p, i) => [i, p.name] as const))(
    'killed after %i: %s; the re-run repairs, the served tree verifies over HTTP, plain files are current, the audit record exists',
    async (i) => {
      const point = POINTS[i]!;
      const root = path.join(work, `kill-${i}`);
      // Stepping starts once the previous point's state is seen; when that was seen too late (the machine is
      // shared), the kill lands past this point: tried again on a fresh copy, and the test fails if never caught.
      const near = point.near ?? (i === 0 ? () => true : POINTS[i - 1]!.at);
      // Killed in this state and not past it: the kill must land before `before` (and, where asked, with the file behind).
      const caught = (): boolean => !point.before(root) && (!point.behind || plainFilesBehind(root).includes(keyOf(point.behind)));
      for (let attempt = 1; ; attempt++) {
        await fs.rm(root, { recursive: true, force: true });
        await fs.cp(template, root, { recursive: true });
        if ((await killWhen(root, V, near, point.at)) && caught()) break;
        if (attempt === 30) throw new Error(`never killed in the state "${point.name}" in ${attempt} runs`);
      }
      served = root;
      if (point.behind) {
        // What a static server shows is behind the store: verify --store reads the plain files and names both.
        const v = await verifyStore(root);
        expect(v.code).toBe(1);
        const k = keyOf(point.behind);
        expect(v.doc.error?.message).toBe(
          `file://${root}/${k} is behind its newest generation file://${root}/${k}.relay-gen/000000000001: a static server shows the older content (a publish was stopped before it caught up; re-run it to repair)`,
        );
      }

      const again = await publish(root, V);
      expect(again.doc.error).toBeUndefined();
      expect(again.code).toBe(0);
      const repaired = again.doc.plan!.filter((r) => r.action === 'repair').map((r) => r.object);
      expect(repaired.sort()).toEqual(point.repairs.map(keyOf).sort());
      expect(again.doc.status).toBe('done'); // never a silent no-op

      expect(plainFilesBehind(root)).toEqual([]);
      const overHttp = await verifyHttp();
      expect(overHttp.doc.error).toBeUndefined();
      expect(overHttp.doc.outputs?.versions).toBe(`1.0.0 ${V}`);
      const fromStore = await verifyStore(root);
      expect(fromStore.doc.error).toBeUndefined();
      expect(await auditedVersions(root)).toEqual(['1.0.0', V]);
      await fs.rm(root, { recursive: true, force: true });
    },
    600_000,
  );
});

describe('a publisher stopped before its indexes while ten others publish', () => {
  test('resumed, it loses its compare-and-swap races, reads again past the pruned generations, and lists its version', async () => {
    const root = path.join(work, 'paused');
    await fs.cp(path.join(work, 'template'), root, { recursive: true });
    served = root;
    const child: ChildProcess = spawn(process.execPath, [cli, 'publish-terraform-registry'], { env: env(root, V), stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const mirrorDoc = path.join(root, key.mirrorDoc());
    const deadline = Date.now() + 120_000;
    while (!existsSync(mirrorDoc) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    child.kill('SIGSTOP');
    expect(existsSync(mirrorDoc)).toBe(true);
    const others = Array.from({ length: 10 }, (_, i) => `2.${i}.0`);
    try {
      for (const v of others) {
        await publishTerraformRegistry.run(
          {
            namespace: 'acme',
            name: 'demo',
            version: v,
            tarballs: tarballs.get(v)!,
            source: undefined,
            store: `file://${root}`,
            'registry-url': registryUrl,
            'signing-key': signingKey,
            'signing-key-passphrase': undefined,
            protocols: ['6.0'],
            'detect-protocols': 'off',
            immutable: true,
            'dry-run': false,
            's3-endpoint': undefined,
            'max-binary-size': 1024,
          } as Parameters<typeof publishTerraformRegistry.run>[0],
          { log: new NullLogger(), env: {}, cwd: '/' },
        );
      }
      // Generations the stopped publisher could have listed are gone.
      expect(existsSync(path.join(root, `${key.versions}.relay-gen`, '000000000001'))).toBe(false);
    } finally {
      child.kill('SIGCONT');
    }
    expect(await exited).toBe(0);
    expect(plainFilesBehind(root)).toEqual([]);
    const overHttp = await verifyHttp();
    expect(overHttp.doc.error).toBeUndefined();
    expect(overHttp.doc.outputs?.versions?.split(' ').sort()).toEqual(['1.0.0', V, ...others].sort());
    expect((await verifyStore(root)).doc.error).toBeUndefined();
    expect(await auditedVersions(root)).toEqual(['1.0.0', V, ...others].sort());
  }, 600_000);
});

// S3 keeps no generations (an object is served as stored), so there is nothing to catch up; what a kill can
// still leave is a version listed in the mirror index and not yet in `versions`, or listed with no audit record.
describe('the same on Ceph RGW: a publisher killed before versions, or before its audit record, is finished by the re-run', () => {
  let s3: ReturnType<typeof s3Settings>;
  beforeAll(() => {
    s3 = s3Settings();
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    process.env.AWS_REGION = 'us-east-1';
  });
  const REG = 'https://registry.example.com/';
  const s3env = (bucket: string, version: string): NodeJS.ProcessEnv => ({
    ...env('', version),
    RELAY_STORE: `s3://${bucket}`,
    RELAY_REGISTRY_URL: REG,
    RELAY_S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: 'us-east-1',
  });
  const text = async (store: Store, k: string): Promise<string> => (await store.get(k))?.body.toString() ?? '';
  const mirrorIndexKey = 'mirror/registry.example.com/acme/demo/index.json';
  const recorded = async (store: Store): Promise<boolean> => (await auditedVersionsOf(store)).versions.get('acme/demo')?.has(V) ?? false;

  test.each([
    {
      name: 'the mirror index lists it, versions does not yet',
      at: async (st: Store) => (await text(st, mirrorIndexKey)).includes(`"${V}"`),
      caught: async (st: Store) => !(await text(st, key.versions)).includes(`"${V}"`),
      repairs: [] as string[],
    },
    {
      name: 'versions lists it, no audit record yet',
      at: async (st: Store) => (await text(st, key.versions)).includes(`"${V}"`),
      caught: async (st: Store) => !(await recorded(st)),
      repairs: ['audit/'],
    },
  ])(
    'killed when $name',
    async ({ at, caught, repairs }) => {
      let bucket = '';
      let store: Store | undefined;
      for (let attempt = 1; ; attempt++) {
        bucket = await makeBucket('kill');
        store = openStore(`s3://${bucket}`, 'store', { endpoint: s3.endpoint, cwd: '/' });
        expect((await relay(['publish-terraform-registry'], s3env(bucket, '1.0.0'))).code).toBe(0);
        const child = spawn(process.execPath, [cli, 'publish-terraform-registry'], { env: s3env(bucket, V), stdio: 'ignore' });
        const exited = new Promise((r) => child.once('exit', r));
        const deadline = Date.now() + 120_000;
        let hit = false;
        while (child.exitCode === null && Date.now() < deadline && !(hit = await at(store)));
        child.kill('SIGKILL');
        await exited;
        if (hit && (await caught(store))) break;
        if (attempt === 30) throw new Error(`never killed in that state in ${attempt} runs`);
      }
      const again = await relay(['publish-terraform-registry'], s3env(bucket, V));
      expect(again.doc.error).toBeUndefined();
      expect(again.doc.plan!.filter((r) => r.action === 'repair').map((r) => r.object)).toEqual(repairs);
      expect(again.doc.status).toBe('done');
      const verified = await relay(
        ['verify-terraform-registry', '--registry-url', REG, '--namespace', 'acme', '--name', 'demo', '--store', `s3://${bucket}`],
        { ...s3env(bucket, V), RELAY_VERSION: undefined },
      );
      expect(verified.doc.error).toBeUndefined();
      expect(verified.doc.outputs?.versions).toBe(`1.0.0 ${V}`);
      expect(await recorded(store!)).toBe(true);
    },
    600_000,
  );
});
