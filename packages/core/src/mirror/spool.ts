import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { IntegrityError, RelayError, RemoteError, errorMessage, throwIfCancelled } from '../errors.js';
import { digestMismatch } from '../oci/ref/digest.js';
import type { Descriptor } from '../oci/ref/media.js';

/** Bytes one spool reader asks the file for at a time (and so its buffer). */
const READ_CHUNK = 1024 * 1024;
/** The newest downloaded bytes kept in memory: readers keeping up take them from here, not from the file. */
const WINDOW = 4 * 1024 * 1024;

/**
 * One source blob read once and fanned out to every target that lacks it.
 * The single download writes a temporary file; each target's upload reads
 * that file at its own pace, following it while it grows. A slow target
 * never holds back the download or the other targets (the file is the
 * buffer, on disk), and memory stays a chunk per reader.
 *
 * A reader never hands out the blob's last byte before the download has
 * checked the digest: a registry commits an upload once it has
 * Content-Length bytes, so wrong bytes must never all arrive. If the download
 * fails (and is retried, or gives up), readers of that attempt fail with a
 * retryable error and their uploads start again from the file.
 */
export class Spool {
  /** Bytes of the current attempt on disk. */
  private written = 0;
  private attempt = 0;
  private state: 'filling' | 'done' | 'failed' = 'filling';
  private error: Error | undefined;
  /** Set when the download gave up: readers fail at once with it. */
  private finalError: RelayError | undefined;
  private waiters: (() => void)[] = [];
  /** The current attempt's newest chunks, by offset (also on disk). */
  private window: { start: number; buf: Buffer }[] = [];
  private windowBytes = 0;
  private readonly fh: Promise<FileHandle>;
  private disposed = false;
  readonly file: string;
  /** Bytes read from the source, all attempts. */
  bytesRead = 0;

  constructor(
    readonly descriptor: Descriptor,
    dir: string,
    private readonly what: string,
  ) {
    this.file = path.join(dir, descriptor.digest.replace(':', '-'));
    this.fh = open(this.file, 'w+');
    this.fh.catch(() => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Downloads the blob into the file: `openSource` gives a fresh source
   * stream per attempt; `retry` decides (and waits) before another attempt.
   */
  async fill(
    openSource: () => Promise<Readable>,
    retry: (err: unknown, attempt: number) => Promise<boolean>,
    signal?: AbortSignal,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.attempt = attempt;
      this.written = 0;
      this.window = [];
      this.windowBytes = 0;
      this.state = 'filling';
      this.wake();
      try {
        const fh = await this.fh;
        const hash = createHash('sha256');
        const src = await openSource();
        try {
          for await (const c of src) {
            throwIfCancelled(signal);
            const chunk = c as Buffer;
            if (this.written + chunk.length > this.descriptor.size)
              throw new IntegrityError(`${this.what}: more than the ${this.descriptor.size} bytes its descriptor states`, {
                retryable: true,
              });
            hash.update(chunk);
            for (let off = 0; off < chunk.length;) {
              const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, this.written + off);
              off += bytesWritten;
            }
            this.window.push({ start: this.written, buf: chunk });
            this.windowBytes += chunk.length;
            while (this.windowBytes > WINDOW && this.window.length > 1) this.windowBytes -= this.window.shift()!.buf.length;
            this.written += chunk.length;
            this.bytesRead += chunk.length;
            this.wake();
          }
        } finally {
          src.destroy();
        }
        if (this.written !== this.descriptor.size)
          throw new IntegrityError(`${this.what}: ${this.written} bytes, descriptor states ${this.descriptor.size}`, { retryable: true });
        const got = 'sha256:' + hash.digest('hex');
        if (got !== this.descriptor.digest) throw digestMismatch(this.what, this.descriptor.digest, got);
        this.state = 'done';
        this.wake();
        return;
      } catch (err) {
        this.state = 'failed';
        this.error = err as Error;
        const again = !this.disposed && (await retry(err, attempt).catch(() => false));
        if (!again) {
          this.finalError =
            err instanceof RelayError
              ? new RelayError(err.kind, err.message, { cause: err })
              : new RemoteError(`${this.what}: ${errorMessage(err)}`);
          this.wake();
          throw err;
        }
        this.wake();
      }
    }
  }

  /** A stream of the blob that follows the download; it fails if the attempt it follows fails. */
  reader(): Readable {
    if (this.disposed) throw new RemoteError(`${this.what}: spool already removed`);
    let pos = 0;
    let pumping = false;
    let bound = this.attempt;
    const size = this.descriptor.size;
    const stream: Readable = new Readable({
      highWaterMark: READ_CHUNK,
      read: () => {
        void pump();
      },
    });
    const pump = async (): Promise<void> => {
      if (pumping) return;
      pumping = true;
      try {
        const fh = await this.fh;
        for (;;) {
          if (stream.destroyed) return;
          if (this.finalError) {
            stream.destroy(this.finalError);
            return;
          }
          if (this.attempt !== bound || this.state === 'failed') {
            if (pos > 0) {
              const cause = this.error ? `: ${errorMessage(this.error)}` : '';
              stream.destroy(new RemoteError(`${this.what}: the source download was interrupted${cause}`, { retryable: true }));
              return;
            }
            // Nothing handed out yet: follow the next attempt instead.
            if (this.state === 'failed') await this.changed();
            else bound = this.attempt;
            continue;
          }
          // The last byte waits for the digest check.
          const limit = this.state === 'done' ? size : Math.min(this.written, size - 1);
          if (pos < limit) {
            const hit = this.fromWindow(pos, limit);
            if (hit) {
              pos += hit.length;
              if (!stream.push(hit)) return;
              continue;
            }
            const n = Math.min(READ_CHUNK, limit - pos);
            const buf = Buffer.allocUnsafe(n);
            const { bytesRead } = await fh.read(buf, 0, n, pos);
            if (this.attempt !== bound) continue;
            pos += bytesRead;
            if (!stream.push(bytesRead === n ? buf : buf.subarray(0, bytesRead))) return;
            continue;
          }
          if (this.state === 'done') {
            stream.push(null);
            return;
          }
          await this.changed();
        }
      } catch (err) {
        stream.destroy(err instanceof RelayError ? err : new RemoteError(`${this.what}: reading the spooled blob: ${errorMessage(err)}`));
      } finally {
        pumping = false;
      }
    };
    return stream;
  }

  /** Bytes from `pos` (up to `limit`) still in memory, without copying; undefined when only the file has them. */
  private fromWindow(pos: number, limit: number): Buffer | undefined {
    const first = this.window[0];
    if (!first || pos < first.start) return undefined;
    for (const c of this.window) {
      if (pos >= c.start && pos < c.start + c.buf.length) return c.buf.subarray(pos - c.start, Math.min(c.buf.length, limit - c.start));
    }
    return undefined;
  }

  /** Fails every reader with `err` (the download could not even start, or was cancelled). */
  abort(err: unknown): void {
    this.finalError ??= err instanceof RelayError ? err : new RemoteError(`${this.what}: ${errorMessage(err)}`);
    this.wake();
  }

  /** Closes and removes the file; a download still running fails. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.finalError ??= new RemoteError(`${this.what}: spool removed`);
    this.wake();
    const fh = await this.fh.catch(() => undefined);
    await fh?.close().catch(() => undefined);
    await rm(this.file, { force: true });
  }
}
