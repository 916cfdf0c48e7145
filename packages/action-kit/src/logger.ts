import * as core from '@actions/core';
import type { Logger } from '@relay/core';
import { Masker } from '@relay/core';

/** Logger over @actions/core: groups fold in the log, secrets are registered with the runner too. */
export class ActionsLogger implements Logger {
  private masker = new Masker();
  debug(msg: string): void {
    core.debug(this.masker.apply(msg));
  }
  info(msg: string): void {
    core.info(this.masker.apply(msg));
  }
  warn(msg: string): void {
    core.warning(this.masker.apply(msg));
  }
  error(msg: string): void {
    core.error(this.masker.apply(msg));
  }
  group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    return core.group(this.masker.apply(title), fn);
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
