/**
 * Text that a CI runner reads as text, never as a command. Relay prints
 * strings it did not choose (tags a registry lists, annotations, release
 * names, file names, error text from servers), and GitHub's runner scans
 * every line of a step's stdout and stderr for workflow commands: a line
 * that starts with `::` after whitespace (`::add-mask::`, `::stop-commands::`,
 * `::error::`), or one holding the older `##[command]` form anywhere. The
 * runner splits lines at LF, CR and CRLF alike (.NET's ReadLine), so a lone
 * CR starts a line too. Terminals and the runner's log viewer also act on
 * escape sequences (colours, cursor moves, titles).
 *
 * `inert` makes every line of a message plain: line breaks of any kind become
 * LF, a line that would start with `::` has its first colon written `%3A`
 * (the runner's own escape for it), `##[` becomes `##%5B`, and control
 * characters other than tab and LF are written `\xNN`. The loggers of both
 * faces apply it to every plain line they write. `printable` does all but the
 * `::` escape, for the message of an annotation or a group title, which
 * @actions/core writes as one line with its line breaks and `%` encoded.
 */

// eslint-disable-next-line no-control-regex -- control characters are what this matches
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const COMMAND_START = /^(\s*):(?=:)/;

function hex(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** One line (no line breaks in it) that no runner reads as a command. */
function inertLine(line: string): string {
  return line.replace(CONTROL, hex).replace(COMMAND_START, '$1%3A').replaceAll('##[', '##%5B');
}

const LINE_BREAK = /\r\n|\r|\n|\u2028|\u2029/;

export function inert(text: string): string {
  return text.split(LINE_BREAK).map(inertLine).join('\n');
}

export function printable(text: string): string {
  return text
    .split(LINE_BREAK)
    .map((l) => l.replace(CONTROL, hex).replaceAll('##[', '##%5B'))
    .join('\n');
}
