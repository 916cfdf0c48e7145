// Lines no runner reads as a command and no terminal as an escape sequence
// (issue 18, class 2): the CLI's logger writes to stderr, which a CI runner
// scans for workflow commands just as it scans stdout.
import { describe, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import { inert, printable } from '../../src/log/inert.js';
import { TerminalLogger } from '../../src/log/terminal.js';

describe('inert', () => {
  test.each([
    ['::stop-commands::abc', '%3A:stop-commands::abc'],
    ['  \t::add-mask::x', '  \t%3A:add-mask::x'],
    ['tag x\n::error::y', 'tag x\n%3A:error::y'],
    ['a\r::error::lone CR', 'a\n%3A:error::lone CR'],
    ['a\r\n::warning::CRLF', 'a\n%3A:warning::CRLF'],
    ['a\u2028::debug::LS', 'a\n%3A:debug::LS'],
    ['text ##[add-mask]legacy form', 'text ##%5Badd-mask]legacy form'],
    ['\u001b[31mred\u001b[0m \u0007', '\\x1b[31mred\\x1b[0m \\x07'],
    ['a: b :: c', 'a: b :: c'],
    [':single colon', ':single colon'],
  ])('%j', (text, want) => {
    expect(inert(text)).toBe(want);
  });

  test('printable: controls and the older form only (an annotation is one command line, its breaks encoded by @actions/core)', () => {
    expect(printable('x\r\n::y\u001b ##[z')).toBe('x\n::y\\x1b ##%5Bz');
  });
});

describe('TerminalLogger', () => {
  test('every line at every level, group titles and progress are inert', async () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        out += chunk.toString();
        done();
      },
    }) as unknown as NodeJS.WriteStream;
    const log = new TerminalLogger(sink, true);
    log.info('tag a\n::stop-commands::t');
    log.warn('w\r::add-mask::m');
    log.error('e ##[error]x');
    log.debug('\u001b]0;title\u0007');
    await log.group('image\n::group::fake', async () => log.info('inside'));
    log.progress('p\n::endgroup::');
    for (const line of out.split(/\r\n|\r|\n/)) {
      expect(line).not.toMatch(/^\s*::/);
      expect(line).not.toContain('##[');
    }
    expect(out).not.toContain('\u001b]');
  });
});
