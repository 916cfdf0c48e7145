import type { Logger } from './logger.js';
import { Masker } from './logger.js';
import { inert } from './inert.js';

/** How often progress becomes a plain line when stderr is not a terminal. */
const PLAIN_PROGRESS_MS = 10_000;

/**
 * Logger for a person at a terminal (or a plain log file when not a TTY, or a
 * CI step whose runner reads commands from stderr): every line masked, then
 * made inert (no escape sequences, no workflow commands).
 */
export class TerminalLogger implements Logger {
  private masker = new Masker();
  private depth = 0;
  private statusShown = false;
  private lastPlain = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly verbose = false,
    /** --quiet: warnings and errors only, no progress. */
    private readonly quiet = false,
  ) {}

  private write(prefix: string, msg: string): void {
    this.clearStatus();
    const pad = '  '.repeat(this.depth);
    for (const line of inert(this.masker.apply(msg)).split('\n')) this.out.write(`${pad}${prefix}${line}\n`);
  }
  private clearStatus(): void {
    if (this.statusShown) {
      this.out.write('\r\x1b[K');
      this.statusShown = false;
    }
  }
  debug(msg: string): void {
    if (this.verbose) this.write('debug: ', msg);
  }
  info(msg: string): void {
    if (!this.quiet) this.write('', msg);
  }
  warn(msg: string): void {
    this.write('warning: ', msg);
  }
  error(msg: string): void {
    this.write('error: ', msg);
  }
  async group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    if (!this.quiet) this.write('', `▸ ${title}`);
    this.depth++;
    try {
      return await fn();
    } finally {
      this.depth--;
      this.clearStatus();
    }
  }
  progress(msg: string): void {
    if (this.quiet) return;
    if (!this.out.isTTY) {
      // A log file gets a plain line now and then, not a redraw every 200 ms.
      const now = Date.now();
      if (now - this.lastPlain < PLAIN_PROGRESS_MS) return;
      this.lastPlain = now;
      this.write('', msg);
      return;
    }
    const cols = this.out.columns || 80;
    this.out.write(
      '\r\x1b[K' +
        inert(this.masker.apply(msg))
          .replaceAll('\n', ' ')
          .slice(0, cols - 1),
    );
    this.statusShown = true;
  }
  mask(secret: string): void {
    this.masker.add(secret);
  }
  redact(text: string): string {
    return this.masker.apply(text);
  }
}
