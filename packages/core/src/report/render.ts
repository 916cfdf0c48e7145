import type { Report } from './report.js';

/** Plain text for a terminal or a log file. */
export function renderText(r: Report): string {
  const out: string[] = [r.title, ''];
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

const cell = (c: string): string => c.replace(/\|/g, '\\|').replace(/\n/g, '<br>');

/** GitHub-flavoured Markdown for the job summary. */
export function renderMarkdown(r: Report): string {
  const out: string[] = [`## ${r.title}`, ''];
  for (const s of r.sections) {
    out.push(`### ${s.heading}`, '');
    if ('table' in s) {
      out.push(`| ${s.table.head.map(cell).join(' | ')} |`, `|${s.table.head.map(() => ' --- ').join('|')}|`);
      for (const row of s.table.rows) out.push(`| ${row.map((c) => cell(c)).join(' | ')} |`);
    } else if ('code' in s) out.push('```' + (s.lang ?? ''), s.code, '```');
    else out.push(s.text);
    out.push('');
  }
  return out.join('\n');
}
