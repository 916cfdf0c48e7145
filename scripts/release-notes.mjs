// Prints the notes of one release from CHANGELOG.md: the lines under its "## vX.Y.Z (date)" heading, up to the
// next "## " heading, trimmed. The release workflow uses them as the GitHub release's notes.
//   node scripts/release-notes.mjs vX.Y.Z [CHANGELOG.md]
// Exits 1 naming the tag when CHANGELOG.md has no such heading or the section is empty: a release without
// notes is a mistake to stop on, not to publish.
import { readFileSync } from 'node:fs';

export function releaseNotes(changelog, tag) {
  if (!/^v\d+\.\d+\.\d+$/.test(tag)) throw new Error(`release notes: '${tag}' is not a tag vX.Y.Z`);
  const lines = changelog.split('\n');
  const start = lines.findIndex((l) => l === `## ${tag}` || l.startsWith(`## ${tag} `));
  if (start < 0) throw new Error(`release notes: CHANGELOG.md has no '## ${tag}' heading`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  const notes = lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .trim();
  if (!notes) throw new Error(`release notes: the '## ${tag}' section of CHANGELOG.md is empty`);
  return notes + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [tag, file = 'CHANGELOG.md'] = process.argv.slice(2);
  try {
    process.stdout.write(releaseNotes(readFileSync(file, 'utf8'), tag ?? ''));
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
