import { redact } from './redact.js';

/**
 * What core may say. The faces implement it: a terminal logger for the CLI,
 * one over @actions/core for the actions, a silent one for tests.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Runs fn inside a collapsible group (Actions) or an indented section (terminal). */
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
  /** Transient progress (a terminal status line); never required for correctness. */
  progress(msg: string): void;
  /** Registers a secret so no later line can print it. */
  mask(secret: string): void;
  /** Text with every registered secret replaced, for output that bypasses the logger (stdout, JSON). */
  redact(text: string): string;
}

/**
 * The forms a secret takes once embedded in text Relay did not write itself:
 * an error body quoting it as JSON, a URL carrying it percent-encoded (or
 * form-encoded), an HTML page escaping it. Documents are redacted as values
 * before they are serialised (redactValue), so their own escaping never
 * hides a secret; these forms catch a secret that was already escaped inside
 * a string when Relay received it.
 */
export function secretForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const url = encodeURIComponent(secret);
  const html = secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  return [...new Set([secret, json, url, url.replace(/%20/g, '+'), html, html.replace(/&#39;/g, '&#x27;')])];
}

/** Replaces every registered secret (in each of its forms) with ***. */
export class Masker {
  private secrets: string[] = [];
  /** Returns the forms not seen before (what a runner still needs to be told). */
  add(secret: string): string[] {
    const added: string[] = [];
    for (const s of [secret, ...secret.split(/\r\n|\r|\n/)]) {
      const t = s.trim();
      if (t.length < 4) continue;
      for (const form of secretForms(t)) {
        if (this.secrets.includes(form)) continue;
        this.secrets.push(form);
        added.push(form);
      }
    }
    // Longest first: a form that contains another is replaced whole.
    this.secrets.sort((a, b) => b.length - a.length);
    return added;
  }
  apply(line: string): string {
    let out = redact(line);
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }
}

export class NullLogger implements Logger {
  readonly lines: string[] = [];
  private masker = new Masker();
  debug(msg: string): void {
    this.lines.push(`debug: ${this.masker.apply(msg)}`);
  }
  info(msg: string): void {
    this.lines.push(this.masker.apply(msg));
  }
  warn(msg: string): void {
    this.lines.push(`warning: ${this.masker.apply(msg)}`);
  }
  error(msg: string): void {
    this.lines.push(`error: ${this.masker.apply(msg)}`);
  }
  async group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    this.lines.push(`# ${this.masker.apply(title)}`);
    return fn();
  }
  progress(): void {}
  mask(secret: string): void {
    this.masker.add(secret);
  }
  redact(text: string): string {
    return this.masker.apply(text);
  }
}
