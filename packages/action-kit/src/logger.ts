import * as core from '@actions/core';
import type { Logger } from '@relay/core';
import { inert, Masker, printable } from '@relay/core';

/**
 * Logger over @actions/core: groups fold in the log, secrets are registered
 * with the runner too. Every line it writes, at every level, is masked and
 * then made inert (no line of a tag, a server's error text or a file name
 * can be read by the runner as a workflow command): plain lines by `inert`;
 * annotation messages and group titles by @actions/core, which encodes their
 * `%`, CR and LF (escapeData), after `printable` has escaped control characters.
 */
export class ActionsLogger implements Logger {
  private masker = new Masker();
  /** A plain line: every line of it inert. */
  private line(msg: string): string {
    return inert(this.masker.apply(msg));
  }
  /** An annotation's message or a group's title: @actions/core writes it as one command line, its line breaks encoded. */
  private data(msg: string): string {
    return printable(this.masker.apply(msg));
  }
  debug(msg: string): void {
    core.debug(this.data(msg));
  }
  info(msg: string): void {
    core.info(this.line(msg));
  }
  warn(msg: string): void {
    core.warning(this.data(msg));
  }
  error(msg: string): void {
    core.error(this.data(msg));
  }
  /** The step's one failure annotation (core.setFailed), through the same masking as every other line. */
  fail(msg: string): void {
    core.setFailed(this.data(msg));
  }
  group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    return core.group(this.data(title), fn);
  }
  progress(): void {
    // Actions logs are not a terminal; the grouped lines already say what happened.
  }
  redact(text: string): string {
    return this.masker.apply(text);
  }
  mask(secret: string): void {
    // Masker.add has split multi-line secrets, so each piece is one line the runner can mask.
    for (const line of this.masker.add(secret)) core.setSecret(line);
  }
}
