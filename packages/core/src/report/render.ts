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

/**
 * Text for a GFM table cell: pipes and backslashes are backslash-escaped (a
 * bare pipe ends the cell; a bare backslash would escape whatever follows it),
 * and every line ending (LF, CRLF, a lone CR) becomes <br>, as any of them
 * would end the row.
 */
const cell = (c: string): string => c.replace(/[\\|]/g, '\\$&').replace(/\r\n|\r|\n/g, '<br>');
const html = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function sectionBody(s: ReportSection): string[] {
  if ('table' in s) {
    return [
      `| ${s.table.head.map(cell).join(' | ')} |`,
      `|${s.table.head.map(() => ' --- ').join('|')}|`,
      ...s.table.rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    ];
  }
  if ('code' in s) return ['```' + (s.lang ?? ''), s.code, '```'];
  return [s.text];
}

/** GitHub-flavoured Markdown for the job summary: status first, long detail folded away. */
export function renderMarkdown(r: Report): string {
  const out: string[] = [`## ${r.title}`, ''];
  const status = statusLine(r, ' · ');
  if (status) out.push(`**Status: ${status}**`, '');
  for (const s of r.sections) {
    if ('collapsed' in s && s.collapsed) {
      out.push('<details>', `<summary>${html(s.heading)}</summary>`, '', ...sectionBody(s), '', '</details>', '');
      continue;
    }
    out.push(`### ${s.heading}`, '', ...sectionBody(s), '');
  }
  return out.join('\n');
}
