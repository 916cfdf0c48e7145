import type { Report, ReportSection } from './report.js';

const STATUS_LINE: Record<NonNullable<Report['status']>, string> = {
  done: 'done',
  'no-op': 'no-op: everything was already in place',
  'dry-run': 'dry run: nothing was written',
  refused: 'refused: nothing was written',
  failed: 'failed',
  cancelled: 'cancelled',
  drift: 'drift found',
};

/** The terminal report's width: tables wider than this are printed one record per row. */
export const TEXT_WIDTH = 100;

/** "status: done · 3 put, 11 identical" */
function statusLine(r: Report, sep: string): string | undefined {
  if (!r.status) return undefined;
  return [STATUS_LINE[r.status], ...(r.counts ? [r.counts] : [])].join(sep);
}

/** Plain text for a terminal or a log file, within TEXT_WIDTH columns wherever the values allow. */
export function renderText(r: Report): string {
  const status = statusLine(r, ' · ');
  const out: string[] = [r.title, ...(status ? [`status: ${status}`] : []), ''];
  for (const s of r.sections) {
    out.push(`${s.heading}:`);
    if ('table' in s) out.push(...textTable(s.table.head, s.table.rows));
    else if ('code' in s) out.push(...s.code.split('\n').map((l) => '  ' + l));
    else out.push('  ' + s.text);
    out.push('');
  }
  return out.join('\n');
}

function textTable(head: string[], rows: string[][]): string[] {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  if (2 + widths.reduce((n, w) => n + w + 2, 0) - 2 <= TEXT_WIDTH) {
    return all.map(
      (row) =>
        '  ' +
        row
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
    );
  }
  // Too wide (hashes, long keys): the first column names the record, the others follow as `name: value`.
  const label = Math.max(...head.slice(1).map((h) => h.length));
  return rows.flatMap((row) => [
    `  ${row[0] ?? ''}`,
    ...head
      .slice(1)
      .map((h, i) => [h, row[i + 1] ?? ''] as const)
      .filter(([, v]) => v !== '')
      .map(([h, v]) => `    ${(h + ':').padEnd(label + 1)} ${v}`),
  ]);
}

const html = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Plain text as GitHub-flavoured Markdown shows it, letter for letter: report
 * text holds strings Relay did not choose (tags, release names, server
 * errors), which must not become HTML, links, images or emphasis in the job
 * summary. `&`, `<` and `>` become entities; the characters that open Markdown
 * constructs (backslash, backtick, `*`, `_`, `[`, `]`, `!`, `|`, `~`, `#`) are
 * backslash-escaped (a bare pipe would also end a table cell); and every line
 * ending (LF, CRLF, a lone CR) becomes <br>, as any of them would end a row or
 * a heading.
 */
const plain = (c: string): string =>
  html(c)
    .replace(/[\\`*_[\]!|~#]/g, '\\$&')
    .replace(/\r\n|\r|\n|\u2028|\u2029/g, '<br>');

/** A code fence longer than any run of backticks in the code, so the code cannot close it. */
function fence(code: string): string {
  const longest = Math.max(0, ...(code.match(/`+/g) ?? []).map((r) => r.length));
  return '`'.repeat(Math.max(3, longest + 1));
}

function sectionBody(s: ReportSection): string[] {
  if ('table' in s) {
    return [
      `| ${s.table.head.map(plain).join(' | ')} |`,
      `|${s.table.head.map(() => ' --- ').join('|')}|`,
      ...s.table.rows.map((row) => `| ${row.map(plain).join(' | ')} |`),
    ];
  }
  if ('code' in s) {
    const f = fence(s.code);
    return [f + (s.lang ?? '').replace(/[^\w+-]/g, ''), s.code, f];
  }
  return [plain(s.text)];
}

/** GitHub-flavoured Markdown for the job summary: status first, long detail folded away. */
export function renderMarkdown(r: Report): string {
  const out: string[] = [`## ${plain(r.title)}`, ''];
  const status = statusLine(r, ' · ');
  if (status) out.push(`**Status: ${plain(status)}**`, '');
  for (const s of r.sections) {
    if ('collapsed' in s && s.collapsed) {
      out.push('<details>', `<summary>${html(s.heading)}</summary>`, '', ...sectionBody(s), '', '</details>', '');
      continue;
    }
    out.push(`### ${plain(s.heading)}`, '', ...sectionBody(s), '');
  }
  return out.join('\n');
}
