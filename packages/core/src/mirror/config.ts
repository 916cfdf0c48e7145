import { createReadStream } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { LineCounter, parseDocument } from 'yaml';
import { DEFAULTS } from '../defaults.js';
import { InputError, RelayError, badInput } from '../errors.js';
import { readLimited } from '../json.js';
import { parseReference, type Reference } from '../oci/ref/reference.js';
import { MIRROR_FILE, type MirrorFile } from './file.js';
import { FieldError, validate, type Positions } from './schema.js';

/** Where a repository description (the mirror label) can be set. */
export interface DescriptionApi {
  kind: 'dockerhub' | 'quay' | 'none';
  url: string;
  /** quay: the OAuth token's value and the variable it came from. */
  token?: { value: string; from: string };
}

export interface ProbeOverrides {
  referrers?: 'api' | 'fallback';
  mounts?: boolean;
  immutableTags?: boolean;
  artifacts?: boolean;
}

export interface Target {
  name: string;
  /** Registry host as the engine names it (docker.io becomes registry-1.docker.io). */
  registry: string;
  repositoryTemplate: string;
  credentials?: { username: string; password: string; from: string };
  moveTags: boolean;
  descriptionApi: DescriptionApi;
  overrides: ProbeOverrides;
}

/** A GitHub repository whose releases receive providers (target kind github-release). */
export interface GithubTarget {
  name: string;
  /** owner/repo */
  repository: string;
  /** REST API base, no trailing slash. */
  apiUrl: string;
  /** Where assets are uploaded: with apiUrl, the only origins the token is sent to. */
  uploadsUrl: string;
  tokenEnv: string;
  /** Set for the targets this run uses. */
  token?: string;
  watch?: { registryUrl: string; timeoutMs: number; intervalMs: number };
}

/** A provider's versions, from the first-party store, to the github-release targets of its tier. */
export interface Provider {
  index: number;
  name: string;
  namespace: string;
  store: string;
  registryUrl: URL;
  tier: string;
  versions: string[];
  targets: GithubTarget[];
}

export const DEFAULT_GITHUB_API = 'https://api.github.com';
/** Where github.com's release assets are uploaded (a release's upload_url). */
export const DEFAULT_GITHUB_UPLOADS = 'https://uploads.github.com';
export const DEFAULT_WATCH_REGISTRY = 'https://registry.terraform.io';

export interface TagFilter {
  semver?: string;
  regex?: RegExp;
  exclude?: RegExp;
}

export interface Image {
  /** Position in the file (images[i]). */
  index: number;
  name: string;
  source: Extract<Reference, { kind: 'registry' }>;
  sourceText: string;
  tier: string;
  targets: Target[];
  tags: string[];
  filter?: TagFilter;
  platforms: string[];
  labelTemplate: string;
  moveTags?: boolean;
  /** The file's `signature` for this image (paths still relative to the file), checked by run.ts. */
  signature?: { key?: string; identity?: string; issuer?: string; 'trusted-root'?: string };
}

export interface MirrorConfig {
  /** The file as the user named it, for messages. */
  file: string;
  targets: Map<string, Target>;
  tiers: Map<string, string[]>;
  /** Images of the selected tiers, in file order. */
  images: Image[];
  githubTargets: Map<string, GithubTarget>;
  /** Providers of the selected tiers, in file order. */
  providers: Provider[];
  /** Credential variables a dry run found unset (`plan`): their targets were read anonymously. */
  anonymous: string[];
  /** Every variable the file names (`username-env`, `password-env`, `token-env`), used by this run or not. */
  variables: string[];
}

/** Short enough for Docker Hub's 100 characters with a source of up to ~60. */
export const DEFAULT_LABEL = 'Unchanged mirror of {source}. The vendor does not run this mirror.';

/** Docker Hub's short repository description holds this many characters. */
export const DOCKER_HUB_DESCRIPTION_MAX = 100;

const REPO_PLACEHOLDERS = ['name'] as const;
const LABEL_PLACEHOLDERS = ['name', 'source', 'target', 'registry', 'repository'] as const;
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** Checks a `{placeholder}` template; returns why it is bad, or undefined. */
/** The variables a mirror file names, in file order. */
function namedVariables(raw: MirrorFile): string[] {
  const names = Object.values(raw.targets).flatMap((t) => {
    const r = t as { 'username-env'?: string; 'password-env'?: string; 'token-env'?: string; 'description-api'?: { 'token-env'?: string } };
    return [r['username-env'], r['password-env'], r['token-env'], r['description-api']?.['token-env']];
  });
  return [...new Set(names.filter((n): n is string => typeof n === 'string'))];
}

export function templateProblem(template: string, allowed: readonly string[]): string | undefined {
  const stripped = template.replace(/\{([^{}]*)\}/g, (_, name: string) => `\u0000${name}\u0000`);
  if (/[{}]/.test(stripped)) return `unbalanced '{' or '}' in "${template}"`;
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    if (!allowed.includes(m[1]!))
      return `unknown placeholder {${m[1]}} in "${template}" (allowed: ${allowed.map((a) => `{${a}}`).join(', ')})`;
  }
  return undefined;
}

export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^{}]*)\}/g, (_, name: string) => values[name] ?? '');
}

/** The repository a target holds an image in. */
export function targetRepository(t: Target, imageName: string): string {
  return renderTemplate(t.repositoryTemplate, { name: imageName });
}

/** How people name a registry: docker.io for Docker Hub. */
export function registryName(host: string): string {
  return host === 'registry-1.docker.io' ? 'docker.io' : host;
}

export function labelFor(img: Image, t: Target): string {
  return renderTemplate(img.labelTemplate, {
    name: img.name,
    source: img.sourceText,
    target: t.name,
    registry: registryName(t.registry),
    repository: targetRepository(t, img.name),
  });
}

const DEFAULT_API_URL: Record<DescriptionApi['kind'], string> = { dockerhub: 'https://hub.docker.com', quay: 'https://quay.io', none: '' };

function defaultDescriptionApi(registry: string): DescriptionApi {
  if (registry === 'registry-1.docker.io') return { kind: 'dockerhub', url: DEFAULT_API_URL.dockerhub };
  if (registry === 'quay.io') return { kind: 'quay', url: DEFAULT_API_URL.quay };
  return { kind: 'none', url: '' };
}

export interface LoadOptions {
  env: Record<string, string | undefined>;
  cwd: string;
  /** Limit to these tiers (input 'tiers'); empty: all. */
  tiers?: readonly string[];
  /**
   * A dry run (the workflows' plan job, which holds no secrets): a credential variable that is unset leaves its
   * target anonymous, read as the public reads it, instead of refusing. A write always needs every variable.
   */
  plan?: boolean;
}

/**
 * Reads and checks the mirror file. Everything is checked before any network
 * use: the schema, tiers and targets named, templates, sources, filters,
 * credential variables. A problem refuses in one line: `file:line: field: why`.
 */
export async function loadMirrorConfig(file: string, opts: LoadOptions): Promise<MirrorConfig> {
  let bytes: Buffer;
  try {
    // Read no further than the limit: the size is checked before any parsing, which could not be interrupted.
    bytes = await readLimited(createReadStream(path.resolve(opts.cwd, file)), DEFAULTS.maxMirrorFileBytes, `mirror file ${file}`, 'input');
  } catch (err) {
    if (err instanceof RelayError) throw err;
    badInput('config', 'a readable mirror file', `${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseMirrorConfig(bytes.toString('utf8'), file, opts);
}

export function parseMirrorConfig(text: string, file: string, opts: LoadOptions): MirrorConfig {
  try {
    return parse(text, file, opts);
  } catch (err) {
    if (err instanceof FieldError) throw new InputError(`${file}:${err.message}`);
    throw err;
  }
}

function parse(text: string, file: string, opts: LoadOptions): MirrorConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0].line ?? counter.linePos(yamlError.pos[0]).line;
    throw new FieldError(line, 'YAML', yamlError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  }
  const { value: raw, positions: at } = validate(MIRROR_FILE, doc, counter);
  return build(raw, at, file, opts);
}

function build(raw: MirrorFile, at: Positions, file: string, opts: LoadOptions): MirrorConfig {
  const tiers = new Map(Object.entries(raw.tiers));
  for (const [tier, names] of tiers) {
    names.forEach((n, i) => {
      if (!(n in raw.targets))
        throw at.error(`tiers.${tier}[${i}]`, `unknown target '${n}' (targets: ${Object.keys(raw.targets).join(', ')})`);
    });
  }
  const wantTiers = opts.tiers ?? [];
  for (const t of wantTiers) if (!tiers.has(t)) badInput('tiers', `tiers of ${file} (${[...tiers.keys()].join(', ')})`, t);

  const targets = new Map<string, Target>();
  const githubTargets = new Map<string, GithubTarget>();
  for (const [name, t] of Object.entries(raw.targets)) {
    const p = `targets.${name}`;
    if (t.kind === 'github-release') {
      githubTargets.set(name, githubTarget(name, t, at));
      continue;
    }
    for (const k of ['token-env', 'api-url', 'uploads-url', 'watch'] as const)
      if (t[k] !== undefined) throw at.error(`${p}.${k}`, `only a github-release target takes '${k}'`);
    if (t.registry === undefined) throw at.error(p, "missing required field 'registry'");
    let registry: string;
    try {
      const ref = parseReference(`${t.registry}/relay-probe`, 'registry');
      registry = (ref as { registry: string }).registry;
    } catch {
      throw at.error(`${p}.registry`, `"${t.registry}" is not a registry host`);
    }
    const bad = templateProblem(t.repository, REPO_PLACEHOLDERS);
    if (bad) throw at.error(`${p}.repository`, bad);
    if (!t.repository.includes('{name}'))
      throw at.error(`${p}.repository`, `"${t.repository}" lacks {name}: every image would land in one repository`);
    if (Boolean(t['username-env']) !== Boolean(t['password-env']))
      throw at.error(`${p}.${t['username-env'] ? 'password-env' : 'username-env'}`, 'give both username-env and password-env, or neither');
    const api = t['description-api'];
    const descriptionApi: DescriptionApi = api
      ? { kind: api.kind, url: (api.url ?? DEFAULT_API_URL[api.kind]).replace(/\/+$/, '') }
      : defaultDescriptionApi(registry);
    const ov = t.overrides ?? {};
    targets.set(name, {
      name,
      registry,
      repositoryTemplate: t.repository,
      moveTags: t['move-tags'] ?? false,
      descriptionApi,
      overrides: {
        ...(ov.referrers && { referrers: ov.referrers }),
        ...(ov.mounts !== undefined && { mounts: ov.mounts }),
        ...(ov['immutable-tags'] !== undefined && { immutableTags: ov['immutable-tags'] }),
        ...(ov.artifacts !== undefined && { artifacts: ov.artifacts }),
      },
    });
  }

  const fileLabel = raw.label ?? DEFAULT_LABEL;
  if (raw.label !== undefined) {
    const bad = templateProblem(raw.label, LABEL_PLACEHOLDERS);
    if (bad) throw at.error('label', bad);
  }

  const seen = new Map<string, number>();
  const images: Image[] = [];
  (raw.images ?? []).forEach((img, i) => {
    const p = `images[${i}]`;
    const dup = seen.get(img.name);
    if (dup !== undefined) throw at.error(`${p}.name`, `image '${img.name}' is already listed as images[${dup}]`);
    seen.set(img.name, i);
    const tierTargets = tiers.get(img.tier);
    if (!tierTargets) throw at.error(`${p}.tier`, `unknown tier '${img.tier}' (tiers: ${[...tiers.keys()].join(', ')})`);
    let source: Reference;
    try {
      source = parseReference(img.source, 'source');
    } catch (err) {
      throw at.error(`${p}.source`, (err as Error).message.replace(/^source '[^']*': /, `"${img.source}": `));
    }
    if (source.kind !== 'registry') throw at.error(`${p}.source`, `"${img.source}": expected registry/repository`);
    if (source.tag || source.digest)
      throw at.error(`${p}.source`, `"${img.source}": name the repository only; tags go in 'tags' or 'tag-filter'`);
    if (!img.tags?.length && !img['tag-filter']) throw at.error(p, "give 'tags', 'tag-filter', or both");
    let filter: TagFilter | undefined;
    const f = img['tag-filter'];
    if (f) {
      filter = {};
      if (f.semver !== undefined) {
        if (semver.validRange(f.semver, { loose: true }) === null)
          throw at.error(`${p}.tag-filter.semver`, `"${f.semver}" is not a semver range`);
        filter.semver = f.semver;
      }
      for (const k of ['regex', 'exclude'] as const) {
        const v = f[k];
        if (v === undefined) continue;
        try {
          filter[k] = new RegExp(v, 'u');
        } catch (err) {
          throw at.error(`${p}.tag-filter.${k}`, `"${v}" is not a regular expression (${(err as Error).message})`);
        }
      }
      if (!filter.semver && !filter.regex && !filter.exclude) throw at.error(`${p}.tag-filter`, 'give semver, regex or exclude');
    }
    const labelTemplate = img.label ?? fileLabel;
    if (img.label !== undefined) {
      const bad = templateProblem(img.label, LABEL_PLACEHOLDERS);
      if (bad) throw at.error(`${p}.label`, bad);
    }
    const image: Image = {
      index: i,
      name: img.name,
      source,
      sourceText: img.source.replace(/^docker:\/\//, ''),
      tier: img.tier,
      targets: tierTargets.filter((n) => targets.has(n)).map((n) => targets.get(n)!),
      tags: [...new Set(img.tags ?? [])],
      ...(filter && { filter }),
      platforms: img.platforms ?? [],
      labelTemplate,
      ...(img['move-tags'] !== undefined && { moveTags: img['move-tags'] }),
      ...(img.signature && { signature: img.signature }),
    };
    // Each target's repository for this image must be a valid name, and its label fit the API.
    for (const t of image.targets) {
      const repo = targetRepository(t, img.name);
      if (repo.length > 255 || repo.split('/').some((c) => !COMPONENT.test(c)))
        throw at.error(
          `targets.${t.name}.repository`,
          `"${t.repositoryTemplate}" gives "${repo}" for image '${img.name}', not a valid repository path`,
        );
      if (t.descriptionApi.kind === 'dockerhub') {
        const label = labelFor(image, t);
        if (label.length > DOCKER_HUB_DESCRIPTION_MAX)
          throw at.error(
            img.label !== undefined ? `${p}.label` : raw.label !== undefined ? 'label' : `targets.${t.name}.description-api`,
            `the ${img.label === undefined && raw.label === undefined ? 'default ' : ''}label for '${img.name}' on ${t.name} is ${label.length} characters; Docker Hub descriptions hold ${DOCKER_HUB_DESCRIPTION_MAX}${img.label === undefined && raw.label === undefined ? ": set a shorter 'label'" : ''}`,
          );
      }
    }
    images.push(image);
  });

  if (!raw.images && !raw.providers) throw at.error('', "give 'images', 'providers', or both");
  const providers = buildProviders(raw, at, tiers, githubTargets);
  const selectedProviders = wantTiers.length ? providers.filter((p) => wantTiers.includes(p.tier)) : providers;
  const anonymous: string[] = [];
  /** A credential variable's value; unset, a refusal, or (in a dry run) anonymous access. */
  const variable = (field: string, name: string, target: string): string | undefined => {
    const value = opts.env[name];
    if (value) return value;
    if (opts.plan) {
      anonymous.push(name);
      return undefined;
    }
    throw at.error(field, `environment variable ${name} is not set (target '${target}' needs it)`);
  };
  for (const name of new Set(selectedProviders.flatMap((p) => p.targets.map((t) => t.name)))) {
    const t = githubTargets.get(name)!;
    const value = variable(`targets.${name}.token-env`, t.tokenEnv, name);
    if (value) t.token = value;
  }

  const selected = wantTiers.length ? images.filter((img) => wantTiers.includes(img.tier)) : images;
  // Credentials: only the targets this run uses must have their variables set.
  const used = new Set(selected.flatMap((img) => img.targets.map((t) => t.name)));
  const byRegistry = new Map<string, Target>();
  for (const name of used) {
    const t = targets.get(name)!;
    const r = raw.targets[name]!;
    const p = `targets.${name}`;
    const user = r['username-env'];
    const pass = r['password-env'];
    if (user && pass) {
      const username = variable(`${p}.username-env`, user, name);
      const password = variable(`${p}.password-env`, pass, name);
      if (username && password) t.credentials = { username, password, from: `${file} ${p}.password-env (${pass})` };
    }
    const tokenEnv = r['description-api']?.['token-env'];
    if (tokenEnv) {
      const value = variable(`${p}.description-api.token-env`, tokenEnv, name);
      if (value) t.descriptionApi.token = { value, from: tokenEnv };
    }
    // One registry host has one set of credentials in a run (the session keys them by host).
    const other = byRegistry.get(t.registry);
    if (
      other &&
      t.credentials &&
      other.credentials &&
      (other.credentials.username !== t.credentials.username || other.credentials.password !== t.credentials.password)
    )
      throw at.error(
        `${p}.username-env`,
        `targets '${other.name}' and '${name}' both use ${registryName(t.registry)} with different credentials`,
      );
    if (!other || t.credentials) byRegistry.set(t.registry, t);
  }
  return {
    file,
    targets,
    tiers,
    images: selected,
    githubTargets,
    providers: selectedProviders,
    anonymous: [...new Set(anonymous)],
    variables: namedVariables(raw),
  };
}

const OWNER_REPO = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;

function githubTarget(name: string, t: MirrorFile['targets'][string], at: Positions): GithubTarget {
  const p = `targets.${name}`;
  for (const k of ['registry', 'username-env', 'password-env', 'move-tags', 'description-api', 'overrides'] as const)
    if (t[k] !== undefined) throw at.error(`${p}.${k}`, `a github-release target does not take '${k}'`);
  if (!OWNER_REPO.test(t.repository) || t.repository.endsWith('.git'))
    throw at.error(`${p}.repository`, `expected a GitHub repository owner/repo, got "${t.repository}"`);
  if (!t['token-env']) throw at.error(p, "missing required field 'token-env' (a github-release target writes releases with a token)");
  const w = t.watch;
  const apiUrl = (t['api-url'] ?? DEFAULT_GITHUB_API).replace(/\/+$/, '');
  return {
    name,
    repository: t.repository,
    apiUrl,
    uploadsUrl: (t['uploads-url'] ?? (apiUrl === DEFAULT_GITHUB_API ? DEFAULT_GITHUB_UPLOADS : apiUrl)).replace(/\/+$/, ''),
    tokenEnv: t['token-env'],
    ...(w && {
      watch: {
        registryUrl: (w['registry-url'] ?? DEFAULT_WATCH_REGISTRY).replace(/\/+$/, ''),
        timeoutMs: w['timeout-seconds'] * 1000,
        intervalMs: (w['interval-seconds'] ?? 15) * 1000,
      },
    }),
  };
}

function buildProviders(
  raw: MirrorFile,
  at: Positions,
  tiers: Map<string, string[]>,
  githubTargets: Map<string, GithubTarget>,
): Provider[] {
  const seen = new Map<string, number>();
  return (raw.providers ?? []).map((pr, i): Provider => {
    const p = `providers[${i}]`;
    const id = `${pr.namespace}/${pr.name}`;
    const dup = seen.get(id);
    if (dup !== undefined) throw at.error(`${p}.name`, `provider '${id}' is already listed as providers[${dup}]`);
    seen.set(id, i);
    const tierTargets = tiers.get(pr.tier);
    if (!tierTargets) throw at.error(`${p}.tier`, `unknown tier '${pr.tier}' (tiers: ${[...tiers.keys()].join(', ')})`);
    if (!/^(s3|file):\/\//.test(pr.store) && /^[a-z][a-z0-9+.-]*:\/\//i.test(pr.store))
      throw at.error(`${p}.store`, `expected s3://bucket/prefix or file://dir, got "${pr.store}"`);
    let registryUrl: URL;
    try {
      registryUrl = new URL(pr['registry-url'].endsWith('/') ? pr['registry-url'] : pr['registry-url'] + '/');
    } catch {
      throw at.error(`${p}.registry-url`, `"${pr['registry-url']}" is not a URL`);
    }
    return {
      index: i,
      name: pr.name,
      namespace: pr.namespace,
      store: pr.store,
      registryUrl,
      tier: pr.tier,
      versions: [...new Set(pr.versions)],
      targets: tierTargets.filter((n) => githubTargets.has(n)).map((n) => githubTargets.get(n)!),
    };
  });
}

/** Whether a source tag passes an image's filter (every given part). */
export function passesFilter(tag: string, f: TagFilter): boolean {
  if (/^sha256-[0-9a-f]{64}/.test(tag)) return false; // cosign and referrer tags travel with their image
  if (f.regex && !f.regex.test(tag)) return false;
  if (f.exclude && f.exclude.test(tag)) return false;
  if (f.semver) {
    const v = semver.valid(tag.replace(/^v(?=\d)/, ''), { loose: true });
    if (!v || !semver.satisfies(v, f.semver, { loose: true, includePrerelease: false })) return false;
  }
  return true;
}

/** Tag `t` names version `v`: equal, or equal but for a leading `v`. */
export function tagIsVersion(t: string, v: string): boolean {
  return t === v || t === `v${v}` || `v${t}` === v;
}
