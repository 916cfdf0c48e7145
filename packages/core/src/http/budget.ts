/**
 * The time one request (or one S3 operation) may take to get an answer,
 * across every attempt, backoff and redirect, so that a server that accepts
 * connections and never answers fails the run in bounded time. Time spent
 * queued for a connection slot is not counted, and an upload still moving
 * is never cut: the budget fires only once the request has also been quiet
 * for the idle timeout.
 */
export class Budget {
  private readonly ac = new AbortController();
  private total: number;
  private used = 0;
  private since: number | undefined;
  private lastProgress = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    ms: number,
    private readonly idleMs: number,
  ) {
    this.total = ms;
  }

  /** The time allowed, extensions included. */
  get ms(): number {
    return this.total;
  }

  /** More time for a body of known size (HttpClient: content at the slowest rate it accepts). */
  extend(ms: number): void {
    this.total += ms;
    if (this.since !== undefined && !this.spent) this.arm(this.remainingMs());
  }

  /** Aborts when the budget is spent. */
  get signal(): AbortSignal {
    return this.ac.signal;
  }

  get spent(): boolean {
    return this.ac.signal.aborted;
  }

  /** Time counted so far. */
  elapsedMs(): number {
    return this.used + (this.since === undefined ? 0 : Date.now() - this.since);
  }

  remainingMs(): number {
    return Math.max(0, this.ms - this.elapsedMs());
  }

  /** Starts (or resumes) counting. */
  run(): void {
    if (this.since !== undefined || this.spent) return;
    this.since = Date.now();
    this.arm(this.remainingMs());
  }

  /** Stops counting (while queued for a slot). */
  pause(): void {
    if (this.since === undefined) return;
    this.used += Date.now() - this.since;
    this.since = undefined;
    clearTimeout(this.timer);
  }

  /** Bytes moved: the budget will not fire within the idle timeout from now. */
  progress(): void {
    this.lastProgress = Date.now();
  }

  dispose(): void {
    this.pause();
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    // setTimeout fires at once past 2^31-1 ms; a long allowance is armed in steps.
    this.timer = setTimeout(
      () => {
        const left = this.remainingMs();
        if (left > 0) return this.arm(left);
        const quiet = Date.now() - this.lastProgress;
        if (quiet < this.idleMs) return this.arm(this.idleMs - quiet);
        this.pause();
        this.ac.abort();
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    // Never what keeps the process alive: a socket or a caller's await does that while anything is pending.
    this.timer.unref();
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Seconds for messages: "2", "2.5", "55". */
export function seconds(ms: number): string {
  return ms >= 10_000 ? String(Math.round(ms / 1000)) : String(Math.round(ms / 100) / 10);
}
