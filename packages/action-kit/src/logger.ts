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
  mask(secret: string): void {
    for (const line of this.masker.add(secret)) if (!line.includes('\n')) core.setSecret(line);
  }
}
