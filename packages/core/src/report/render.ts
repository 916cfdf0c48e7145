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

/** Plain text for a terminal or a log file. */
export function renderText(r: Report): string {
  const out: string[] = [r.title, ...(r.status ? [`status: ${STATUS_LINE[r.status]}`] : []), ''];
  for (const s of r.sections) {
    out.push(`${s.heading}:`);
    if ('table' in s) {
      const rows = [s.table.head, ...s.table.rows];
      const widths = s.table.head.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
      for (const row of rows)
        out.push(
          '  ' +
            row
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd(),
        );
    } else if ('code' in s) out.push(...s.code.split('\n').map((l) => '  ' + l));
    else out.push('  ' + s.text);
    out.push('');
  }
  return out.join('\n');
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
  if (r.status) out.push(`**Status: ${STATUS_LINE[r.status]}**`, '');
  for (const s of r.sections) {
    if ('collapsed' in s && s.collapsed) {
      out.push('<details>', `<summary>${html(s.heading)}</summary>`, '', ...sectionBody(s), '', '</details>', '');
      continue;
    }
    out.push(`### ${s.heading}`, '', ...sectionBody(s), '');
  }
  return out.join('\n');
}
