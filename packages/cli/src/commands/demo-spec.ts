import { defineSpec } from '@relay/core';

/** The demo's inputs, apart from its code so that --help and completion load nothing else. */
export const demoSpec = defineSpec({
  name: 'demo',
  description:
    'The main job on an embedded default: publishes sample provider tarballs for three platforms into a local file-backed registry with a throwaway key, serves it on loopback and verifies it over HTTP as terraform init would.',
  branding: { icon: 'play', color: 'green' },
  inputs: {
    dir: {
      description:
        'Where the demo writes; created, or one an earlier demo made. A directory holding anything else is refused, never emptied.',
      default: '.relay-demo',
    },
    serve: { description: 'Keep serving the registry on loopback until interrupted.', type: 'boolean', default: 'false' },
  },
  outputs: {},
});
