import { declare, toJsonSchema, type Infer } from './schema.js';

/**
 * The mirror file, declared once: `MirrorFile` (the type), the JSON Schema
 * shipped at packages/core/schemas/mirror-file.schema.json (drift-tested),
 * and the validator config.ts runs all come from MIRROR_FILE.
 */

const ENV_NAME = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', expected: 'an environment variable name' } as const;
const TEMPLATE_NOTE = 'Placeholders: {name}';
const LABEL_NOTE =
  'A description template. Placeholders: {name} (image name), {source} (the first-party repository), {target} (target name), {registry}, {repository} (where the mirror is).';

const TARGET = declare({
  type: 'object',
  description:
    "Where mirrors go: an OCI registry repository family (kind oci, the default: images) or a GitHub repository's releases (kind github-release: providers).",
  properties: {
    kind: {
      schema: {
        type: 'string',
        enum: ['oci', 'github-release'],
        description: 'oci (default): an OCI registry, for images. github-release: releases of a GitHub repository, for providers.',
      },
    },
    registry: {
      schema: {
        type: 'string',
        description: 'Registry host[:port]: quay.io, docker.io, ghcr.io, …',
        pattern:
          '^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?$',
        expected: 'a registry host[:port] such as quay.io',
      },
    },
    repository: {
      required: true,
      schema: {
        type: 'string',
        description: `oci: repository path template for each image (${TEMPLATE_NOTE}). github-release: the GitHub repository, owner/repo.`,
        minLength: 1,
        expected: 'a repository template such as "gravitational/{name}"',
      },
    },
    'token-env': {
      schema: { ...ENV_NAME, description: "github-release: variable holding a token that may write the repository's releases." },
    },
    'api-url': {
      schema: {
        type: 'string',
        description: 'github-release: the REST API base URL (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3).',
        pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
        format: 'http-url',
        expected: 'an http(s) base URL',
      },
    },
    'uploads-url': {
      schema: {
        type: 'string',
        description:
          "github-release: the uploads host release assets go to, the other origin the token is sent to (default https://uploads.github.com for api.github.com; otherwise the API's own origin, as GitHub Enterprise's /api/uploads).",
        pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
        expected: 'an http(s) base URL',
      },
    },
    watch: {
      schema: {
        type: 'object',
        description:
          "github-release: after publishing, poll a public registry's versions endpoint until the version appears (registry.terraform.io ingests releases by webhook).",
        properties: {
          'registry-url': {
            schema: {
              type: 'string',
              description:
                'The registry polled: <registry-url>/v1/providers/<namespace>/<name>/versions (default https://registry.terraform.io).',
              pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
              format: 'http-url',
              expected: 'an http(s) base URL',
            },
          },
          'timeout-seconds': {
            required: true,
            schema: { type: 'integer', description: 'How long to wait for the version to appear.', minimum: 1, maximum: 3600 },
          },
          'interval-seconds': {
            schema: { type: 'integer', description: 'Time between polls (default 15).', minimum: 1, maximum: 600 },
          },
        },
      },
    },
    'username-env': { schema: { ...ENV_NAME, description: 'Variable holding the registry username (else docker config or ECR).' } },
    'password-env': { schema: { ...ENV_NAME, description: 'Variable holding the registry password or token.' } },
    'move-tags': {
      schema: {
        type: 'boolean',
        description: 'Move a tag that points at other content on this target (default false: reported as a conflict).',
      },
    },
    'description-api': {
      schema: {
        type: 'object',
        description: 'Where the repository description (the mirror label) is set. Default: Docker Hub for docker.io, quay for quay.io.',
        properties: {
          kind: { required: true, schema: { type: 'string', enum: ['dockerhub', 'quay', 'none'] } },
          url: {
            schema: {
              type: 'string',
              description: 'API base URL (default https://hub.docker.com or https://quay.io).',
              pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
              format: 'http-url',
              expected: 'an http(s) base URL',
            },
          },
          'token-env': { schema: { ...ENV_NAME, description: 'quay: variable holding an OAuth application token with repo:admin.' } },
        },
      },
    },
    overrides: {
      schema: {
        type: 'object',
        description: 'What to assume instead of what the capability probe finds.',
        properties: {
          referrers: {
            schema: {
              type: 'string',
              enum: ['api', 'fallback'],
              description: 'Referrers API present (api) or use the sha256-<hex> tag index.',
            },
          },
          mounts: {
            schema: { type: 'boolean', description: 'false: never try cross-repository mounts (registries that never fulfil them).' },
          },
          'immutable-tags': { schema: { type: 'boolean', description: 'The target refuses to move any tag (cosign tags included).' } },
          artifacts: {
            schema: { type: 'boolean', description: 'false: the target refuses OCI artifact manifests; referrers are skipped.' },
          },
        },
      },
    },
  },
});

const IMAGE = declare({
  type: 'object',
  description: 'A first-party image and where it is mirrored.',
  properties: {
    name: {
      required: true,
      schema: {
        type: 'string',
        description: 'Name used in repository templates ({name}).',
        pattern: '^[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*$',
        expected: 'a lowercase repository path such as "teleport"',
      },
    },
    source: {
      required: true,
      schema: { type: 'string', description: 'The first-party repository: registry/repository, no tag.', minLength: 1 },
    },
    tier: { required: true, schema: { type: 'string', description: 'Which tier (and so which targets) the image goes to.', minLength: 1 } },
    tags: {
      schema: {
        type: 'array',
        description: 'Tags to mirror.',
        items: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$', expected: 'a tag' },
      },
    },
    'tag-filter': {
      schema: {
        type: 'object',
        description: "Also mirror the source's tags that pass every filter given.",
        properties: {
          semver: { schema: { type: 'string', description: 'A semver range, e.g. ">=9.0.0 <10" (a leading v is allowed).', minLength: 1 } },
          regex: { schema: { type: 'string', description: 'A regular expression the tag must match.', minLength: 1 } },
          exclude: { schema: { type: 'string', description: 'A regular expression the tag must not match.', minLength: 1 } },
        },
      },
    },
    platforms: {
      schema: {
        type: 'array',
        description: 'Platforms the image must have (os/arch[/variant]); the index is copied whole, so this is checked, not filtered.',
        items: { type: 'string', pattern: '^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$', expected: 'os/arch[/variant]' },
      },
    },
    label: { schema: { type: 'string', description: `${LABEL_NOTE} Overrides the file's label.` } },
    'move-tags': { schema: { type: 'boolean', description: 'Move tags that point at other content on every target.' } },
    signature: {
      schema: {
        type: 'object',
        description:
          "What the image's cosign signature must satisfy, instead of the operation's signature inputs: checked on its source before anything is written, on every target after mirroring, and by check (a mirror whose signature no longer verifies is drift).",
        properties: {
          key: {
            schema: {
              type: 'string',
              description: 'PEM public key, its contents or a path relative to the mirror file (key-based).',
              minLength: 1,
            },
          },
          identity: {
            schema: { type: 'string', description: 'Keyless: the signer certificate identity, exact or /regex/.', minLength: 1 },
          },
          issuer: { schema: { type: 'string', description: 'Keyless: the OIDC issuer, exact or /regex/.', minLength: 1 } },
          'trusted-root': {
            schema: {
              type: 'string',
              description: "Sigstore trusted-root JSON file, relative to the mirror file (default: Sigstore's public root).",
              minLength: 1,
            },
          },
        },
      },
    },
  },
});

const PROVIDER = declare({
  type: 'object',
  description: "A Terraform provider in Relay's first-party registry store, released on the github-release targets of its tier.",
  properties: {
    name: {
      required: true,
      schema: {
        type: 'string',
        description: 'Provider type (terraform-provider-<name>).',
        pattern: '^[a-z0-9][a-z0-9-]*$',
        expected: 'a provider name such as "teleport"',
      },
    },
    namespace: {
      required: true,
      schema: {
        type: 'string',
        description: 'Namespace in the first-party registry.',
        pattern: '^[A-Za-z0-9][A-Za-z0-9-]*$',
        expected: 'a namespace such as "gravitational"',
      },
    },
    store: {
      required: true,
      schema: { type: 'string', description: 'The first-party registry store: s3://bucket/prefix or file://dir.', minLength: 1 },
    },
    'registry-url': {
      required: true,
      schema: {
        type: 'string',
        description: 'The URL the store is served at (the signing keys the registry lists are checked there).',
        pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
        format: 'http-url',
        expected: 'an http(s) base URL',
      },
    },
    tier: {
      required: true,
      schema: { type: 'string', description: 'Which tier (and so which github-release targets) the provider goes to.', minLength: 1 },
    },
    versions: {
      required: true,
      schema: {
        type: 'array',
        description: 'Versions to release (no leading v; the tag is v<version>).',
        minItems: 1,
        items: {
          type: 'string',
          pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$',
          expected: 'a version such as "1.2.3"',
        },
      },
    },
  },
});

export const MIRROR_FILE = declare({
  type: 'object',
  description:
    'Relay mirror-artifact: first-party images copied unchanged to third-party registries, and Terraform providers released byte-identical on GitHub, grouped in tiers.',
  ignoredKeys: '^x-',
  properties: {
    version: { schema: { type: 'integer', description: 'File format version.', minimum: 1, maximum: 1 } },
    label: { schema: { type: 'string', description: `${LABEL_NOTE} Default for every image.` } },
    targets: {
      required: true,
      schema: {
        type: 'map',
        description: 'Mirror targets by name.',
        keyPattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
        keyExpected: 'a target name ([A-Za-z0-9_.-])',
        values: TARGET,
      },
    },
    tiers: {
      required: true,
      schema: {
        type: 'map',
        description: 'Tiers by name: the targets each tier mirrors to (may be empty).',
        keyPattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
        keyExpected: 'a tier name ([A-Za-z0-9_.-])',
        values: { type: 'array', items: { type: 'string', minLength: 1, expected: 'a target name' } },
      },
    },
    images: { schema: { type: 'array', description: 'Images to mirror.', minItems: 1, items: IMAGE } },
    providers: {
      schema: { type: 'array', description: 'Terraform providers released on github-release targets.', minItems: 1, items: PROVIDER },
    },
  },
});

export type MirrorFile = Infer<typeof MIRROR_FILE>;
export type MirrorTarget = Infer<typeof TARGET>;
export type MirrorImage = Infer<typeof IMAGE>;
export type MirrorProvider = Infer<typeof PROVIDER>;

export const MIRROR_FILE_SCHEMA_ID = 'urn:relay:schema:mirror-file:1';

/** The JSON Schema shipped as packages/core/schemas/mirror-file.schema.json. */
export function mirrorFileJsonSchema(): Record<string, unknown> {
  return toJsonSchema(MIRROR_FILE, { id: MIRROR_FILE_SCHEMA_ID, title: 'Relay mirror file' });
}
