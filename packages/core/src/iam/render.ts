import { NEEDS, OPERATION_RESOURCES, type ActionNeed, type Use } from './grants.js';

const ON: Record<ActionNeed['on'], { s3: string; ecr: string; 'ecr-public': string }> = {
  bucket: { s3: '`arn:aws:s3:::<bucket>`', ecr: '', 'ecr-public': '' },
  objects: { s3: '`arn:aws:s3:::<bucket>/<prefix>/*`', ecr: '', 'ecr-public': '' },
  probe: { s3: '`arn:aws:s3:::<bucket>/<prefix>/.relay/*`', ecr: '', 'ecr-public': '' },
  repository: { s3: '', ecr: 'the repository', 'ecr-public': 'the repository' },
  any: { s3: '`*`', ecr: '`*`', 'ecr-public': '`*`' },
};

/** The (registry kind, needs) pairs an input's use can lead to. */
function cases(use: Use): { when: string; kind: 's3' | 'ecr' | 'ecr-public'; needs: ActionNeed[] }[] {
  switch (use) {
    case 's3-read':
    case 's3-write':
      return [{ when: 'an `s3://` location', kind: 's3', needs: NEEDS[use] }];
    case 'image-pull':
      return [
        { when: 'in private ECR', kind: 'ecr', needs: NEEDS['ecr-pull'] },
        { when: 'in ECR Public', kind: 'ecr-public', needs: NEEDS['ecr-public-token'] },
      ];
    case 'image-push':
      return [
        { when: 'in private ECR', kind: 'ecr', needs: NEEDS['ecr-push'] },
        { when: 'in ECR Public', kind: 'ecr-public', needs: NEEDS['ecr-public-push'] },
      ];
    case 'ecr-gated-pull':
      return [{ when: 'in private ECR', kind: 'ecr', needs: [...NEEDS['ecr-pull'], ...NEEDS['ecr-gate']] }];
  }
}

/**
 * The README's Permissions section body: per operation, the IAM actions
 * each of its inputs leads to, where and why, from the same table
 * `relay iam-policy` builds policies from.
 */
export function renderPermissions(): string {
  const out: string[] = [];
  for (const [op, inputs] of Object.entries(OPERATION_RESOURCES)) {
    out.push(`### ${op}`, '');
    for (const { input, use, what } of inputs) {
      for (const c of cases(use)) {
        out.push(`\`${input}\` (${what}), ${c.when}:`, '', '| action | on | why |', '| --- | --- | --- |');
        const seen = new Set<string>();
        for (const n of c.needs) {
          if (seen.has(n.action)) continue;
          seen.add(n.action);
          out.push(`| \`${n.action}\` | ${ON[n.on][c.kind]} | ${n.why} |`);
        }
        out.push('');
      }
    }
    const flags = inputs.map((i) => `--${i.input} …`).join(' ');
    out.push(`Policies for your buckets and repositories: \`relay iam-policy ${op} ${flags}\`.`, '');
  }
  return out.join('\n').trimEnd();
}
