// The two renderings people read: a cell's text must never break the
// markdown table around it, and terminal columns line up.
import { describe, expect, test } from '@jest/globals';
import type { Report } from '../../src/report/report.js';
import { renderMarkdown, renderText } from '../../src/report/render.js';

const table = (head: string[], rows: string[][]): Report => ({ title: 'T', sections: [{ heading: 'H', table: { head, rows } }] });

/** The table's lines of a rendered markdown report. */
const tableLines = (md: string): string[] => md.split('\n').filter((l) => l.startsWith('|'));

/** Cells of a markdown table row, split as GFM does: a backslash escapes the next character, an unescaped pipe ends the cell. */
function cells(row: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 1; i < row.length - 1; i++) {
    const ch = row[i]!;
    if (ch === '\\') cur += ch + (row[++i] ?? '');
    else if (ch === '|') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  return [...out, cur.trim()];
}

describe('renderMarkdown', () => {
  test.each([
    ['plain', 'linux-amd64', 'linux-amd64'],
    ['an underscore (escaped: `_x_` would be emphasis)', 'linux_amd64', 'linux\\_amd64'],
    ['HTML from a server', '<img src=x onerror=alert(1)>&', '&lt;img src=x onerror=alert(1)&gt;&amp;'],
    [
      'a link and an image',
      '[click](https://x.test) ![i](https://x.test/i.png)',
      '\\[click\\](https://x.test) \\!\\[i\\](https://x.test/i.png)',
    ],
    ['a pipe', 'a|b', 'a\\|b'],
    ['several pipes', '|x||', '\\|x\\|\\|'],
    ['a newline', 'line 1\nline 2', 'line 1<br>line 2'],
    ['a CRLF', 'line 1\r\nline 2', 'line 1<br>line 2'],
    ['a lone CR', 'line 1\rline 2', 'line 1<br>line 2'],
    ['a pipe and a newline', 'holds {"a":"|"}\nbut', 'holds {"a":"\\|"}<br>but'],
    ['a backslash before a pipe', 'a\\|b', 'a\\\\\\|b'],
    ['a trailing backslash', 'C:\\dir\\', 'C:\\\\dir\\\\'],
  ])('a cell with %s stays one cell on one line', (_name, text, want) => {
    const md = renderMarkdown(table(['object', 'why'], [['k', text]]));
    const lines = tableLines(md);
    expect(lines).toHaveLength(3); // head, separator, one row
    expect(cells(lines[2]!)).toEqual(['k', want]);
  });

  test('title, headings, status words and text are plain text: no HTML, link, heading or line break of their own', () => {
    const md = renderMarkdown({
      title: 'copy <b>x</b>\n# owned',
      counts: '1 [put](https://x.test)',
      status: 'done',
      sections: [{ heading: 'H <i>', text: 'release "v1"\r\n<script>x</script> **bold**' }],
    });
    expect(md).not.toMatch(/<(b|i|script)>/);
    expect(md).not.toMatch(/^# owned/m);
    expect(md).toContain('## copy &lt;b&gt;x&lt;/b&gt;<br>\\# owned');
    expect(md).toContain('**Status: done · 1 \\[put\\](https://x.test)**');
    expect(md).toContain('### H &lt;i&gt;');
    expect(md).toContain('release "v1"<br>&lt;script&gt;x&lt;/script&gt; \\*\\*bold\\*\\*');
  });

  test('a code section cannot close its own fence', () => {
    const md = renderMarkdown({ title: 'T', sections: [{ heading: 'C', code: 'a\n```\n# not a heading\n````', lang: 'hcl' }] });
    expect(md).toContain('`````hcl\na\n```\n# not a heading\n````\n`````');
  });

  test('head cells are escaped too, and the separator has one column per head cell', () => {
    const lines = tableLines(renderMarkdown(table(['a|b', 'c'], [['1', '2']])));
    expect(cells(lines[0]!)).toEqual(['a\\|b', 'c']);
    expect(lines[1]).toBe('| --- | --- |');
  });

  test('title, headings, text, and code fenced with its language', () => {
    const md = renderMarkdown({
      title: 'Dry run: x',
      sections: [
        { heading: 'Summary', text: 'Would write 3 objects.' },
        { heading: 'Lock', code: 'provider "x" {\n}', lang: 'hcl' },
      ],
    });
    expect(md).toBe(
      ['## Dry run: x', '', '### Summary', '', 'Would write 3 objects.', '', '### Lock', '', '```hcl', 'provider "x" {\n}', '```', ''].join(
        '\n',
      ),
    );
  });
});

describe('renderText', () => {
  test('columns line up at the widest cell, head included, with no trailing spaces', () => {
    const text = renderText(
      table(
        ['object', 'action', 'why'],
        [
          ['store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_linux_amd64.zip', 'put', 'new'],
          ['versions', 'skip', 'identical'],
        ],
      ),
    );
    expect(text.split('\n')).toEqual([
      'T',
      '',
      'H:',
      '  object                                                               action  why',
      '  store/acme/demo/1.0.0/terraform-provider-demo_1.0.0_linux_amd64.zip  put     new',
      '  versions                                                             skip    identical',
      '',
    ]);
  });

  test('an empty last cell leaves no trailing spaces; a short row is padded as empty cells', () => {
    const lines = renderText(table(['a', 'b', 'c'], [['1', 'long value', ''], ['2']])).split('\n');
    expect(lines.slice(3, 6)).toEqual(['  a  b           c', '  1  long value', '  2']);
  });

  test('code is indented under its heading; text follows it', () => {
    expect(
      renderText({
        title: 'T',
        sections: [
          { heading: 'Lock', code: 'a\n  b' },
          { heading: 'Summary', text: 'done' },
        ],
      }),
    ).toBe('T\n\nLock:\n  a\n    b\n\nSummary:\n  done\n');
  });
});
