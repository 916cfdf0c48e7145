import { InputError } from '../errors.js';
import { isDigest } from './digest.js';

/** An image in a registry repository, or in an OCI image-layout directory. */
export type Reference =
  | { kind: 'registry'; registry: string; repository: string; tag?: string; digest?: string }
  | { kind: 'layout'; dir: string; tag?: string; digest?: string };

const DOCKER_HUB = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', DOCKER_HUB]);
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function bad(input: string, text: string, why: string): never {
  throw new InputError(`${input} '${text}': ${why}`);
}

/**
 * Parses `[docker://]registry/repo[:tag][@sha256:…]` or `oci:<dir>[:tag|@digest]`.
 * `input` names the input in errors (e.g. "source").
 */
export function parseReference(text: string, input = 'reference'): Reference {
  const raw = text.trim();
  if (raw.startsWith('oci:')) return parseLayout(raw, input);
  const s = raw.startsWith('docker://') ? raw.slice('docker://'.length) : raw;
  if (s === '') bad(input, text, 'expected registry/repository[:tag][@sha256:<hex>]');

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) bad(input, text, 'the digest must be sha256:<64 lowercase hex>');
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(input, text, `tag '${tag}' is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  // As docker: the first component names a registry when it looks like a host.
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) bad(input, text, `'${registry}' is not a registry host`);
  }
  if (HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB;
    if (parts.length === 1) parts.unshift('library');
  }
  const repository = parts.join('/');
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    bad(input, text, 'the repository must be lowercase path components ([a-z0-9] separated by . _ __ or -)');
  }
  if (repository.length > 255) bad(input, text, 'the repository name is longer than 255 characters');
  return { kind: 'registry', registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

function parseLayout(raw: string, input: string): Reference {
  let rest = raw.slice('oci:'.length);
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0 && isDigest(rest.slice(at + 1))) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  // As skopeo: what follows the last ':' is the tag when it cannot be part of a path.
  if (colon >= 0 && !rest.slice(colon + 1).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(input, raw, `tag '${tag}' is not a valid tag`);
  }
  if (rest === '') bad(input, raw, 'expected oci:<directory>[:tag]');
  return { kind: 'layout', dir: rest, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** The form people read, e.g. `127.0.0.1:5001/app:1.0@sha256:…`; Docker Hub shown as docker.io. */
export function formatReference(ref: Reference, override?: { tag?: string; digest?: string }): string {
  const tag = override ? override.tag : ref.tag;
  const digest = override ? override.digest : ref.digest;
  const base = ref.kind === 'layout' ? `oci:${ref.dir}` : `${ref.registry === DOCKER_HUB ? 'docker.io' : ref.registry}/${ref.repository}`;
  return base + (tag ? `:${tag}` : '') + (digest ? `@${digest}` : '');
}

/** The repository without tag or digest, for messages and reports. */
export function repositoryName(ref: Reference): string {
  return formatReference(ref, {});
}
