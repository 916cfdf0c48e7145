import { badInput } from '../../errors.js';
import { hostPortProblem } from '../../inputs/url.js';
import { isDigest } from './digest.js';
import { DOCKER_HUB, DOCKER_HUB_ALIASES, displayHost } from './hosts.js';

/** An image in a registry repository, or in an OCI image-layout directory. */
export type Reference =
  | { kind: 'registry'; registry: string; repository: string; tag?: string; digest?: string }
  | { kind: 'layout'; dir: string; tag?: string; digest?: string };

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** distribution-spec's tag grammar, as text for messages. */
export const TAG_PATTERN = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}';
const TAG = new RegExp(`^${TAG_PATTERN}$`);
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const REGISTRY_FORM = 'registry/repository[:tag][@sha256:<hex>]';
const LAYOUT_FORM = 'oci:<directory>[:tag]';

export function isTag(s: string): boolean {
  return TAG.test(s);
}

/** `name:tag` or `name@digest`: the one place the separator is chosen. */
export function joinRef(name: string, ref: string): string {
  return `${name}${isDigest(ref) ? '@' : ':'}${ref}`;
}

/** Refuses `text` as the value of `input`, saying which form was expected and, when known, which rule it broke. */
function bad(input: string, text: string, form: string, why?: string): never {
  badInput(input, why ? `${form} (${why})` : form, text);
}

/**
 * Parses `[docker://]registry/repo[:tag][@sha256:…]` or `oci:<dir>[:tag|@digest]`.
 * `input` names the input in errors (e.g. "source").
 */
export function parseReference(text: string, input = 'reference'): Reference {
  const raw = text.trim();
  if (raw.startsWith('oci:')) return parseLayout(raw, input);
  const s = raw.startsWith('docker://') ? raw.slice('docker://'.length) : raw;
  if (s === '') bad(input, text, REGISTRY_FORM);

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) bad(input, text, REGISTRY_FORM, 'the digest must be sha256:<64 lowercase hex>');
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) bad(input, text, REGISTRY_FORM, `tag '${tag}' is not a valid tag: ${TAG_PATTERN}`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  // As docker: the first component names a registry when it looks like a host.
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) bad(input, text, REGISTRY_FORM, `'${registry}' is not a registry host`);
    const why = hostPortProblem(registry);
    if (why) bad(input, text, REGISTRY_FORM, why);
  }
  if (DOCKER_HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB;
    if (parts.length === 1) parts.unshift('library');
  }
  const repository = parts.join('/');
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    bad(input, text, REGISTRY_FORM, 'the repository must be lowercase path components: [a-z0-9] separated by . _ __ or -');
  }
  if (repository.length > 255) bad(input, text, REGISTRY_FORM, 'the repository name is longer than 255 characters');
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
    if (!isTag(tag)) bad(input, raw, LAYOUT_FORM, `tag '${tag}' is not a valid tag: ${TAG_PATTERN}`);
  }
  if (rest === '') bad(input, raw, LAYOUT_FORM);
  return { kind: 'layout', dir: rest, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** The form people read, e.g. `127.0.0.1:5001/app:1.0@sha256:…`; Docker Hub shown as docker.io. */
export function formatReference(ref: Reference, override?: { tag?: string; digest?: string }): string {
  const tag = override ? override.tag : ref.tag;
  const digest = override ? override.digest : ref.digest;
  const base = ref.kind === 'layout' ? `oci:${ref.dir}` : `${displayHost(ref.registry)}/${ref.repository}`;
  return base + (tag ? `:${tag}` : '') + (digest ? `@${digest}` : '');
}
