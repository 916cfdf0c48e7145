import type { Logger } from './logger.js';
import { mib } from '../report/plan.js';

/** How often the status line is redrawn: often enough to feel live, rarely enough to cost nothing. */
const REDRAW_MS = 200;

/**
 * One status line for work spread over parallel workers: items and bytes
 * done of the total, the rate, and the time left, redrawn in place on a
 * terminal (Logger.progress; plain logs and Actions show nothing).
 */
export class TransferProgress {
  private doneItems = 0;
  private doneBytes = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  constructor(
    private readonly log: Logger,
    /** "repacking", "uploading", "copying blobs" */
    private readonly verb: string,
    private readonly totalItems: number,
    private readonly totalBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes moved (negative when a failed attempt is rolled back). */
  add(bytes: number): void {
    this.doneBytes += bytes;
    this.draw(false);
  }

  itemDone(): void {
    this.doneItems++;
    this.draw(true);
  }

  /** The line as it would be drawn now. */
  line(): string {
    const elapsed = Math.max(1, this.now() - this.started) / 1000;
    const rate = this.doneBytes / elapsed;
    const parts = [`${this.verb} ${this.doneItems}/${this.totalItems}`];
    // A count alone when the bytes are not known ahead (zips still being compressed)
    if (this.totalBytes > 0 || this.doneBytes > 0) parts.push(`${mib(this.doneBytes)}/${mib(this.totalBytes)} MiB`);
    if (this.doneBytes > 0 && elapsed >= 0.5) {
      parts.push(`${mib(rate)} MiB/s`);
      const left = (this.totalBytes - this.doneBytes) / rate;
      if (Number.isFinite(left) && left >= 0) parts.push(`${formatSeconds(left)} left`);
    }
    return parts.join(' · ');
  }

  private draw(force: boolean): void {
    const t = this.now();
    if (!force && t - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = t;
    this.log.progress(this.line());
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
