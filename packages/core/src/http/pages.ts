import { DEFAULTS } from '../defaults.js';
import { IntegrityError } from '../errors.js';
import type { HttpResponse } from './client.js';

/** The rel="next" URL of a page's Link header (RFC 8288, as registries send it), resolved against the page. */
export function nextPage(res: HttpResponse, current: string): string | undefined {
  const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.header('link') ?? '')?.[1];
  return next ? new URL(next, current).href : undefined;
}

/**
 * The bounds of one paginated listing (tag lists, referrers): a page already
 * visited, or more than `max` pages, is refused rather than followed for
 * ever; a server paging in a loop is wrong, not slow.
 */
export class PageWalk {
  private readonly seen = new Set<string>();

  constructor(
    private readonly what: string,
    private readonly max: number = DEFAULTS.maxListPages,
  ) {}

  /** Call before fetching each page. */
  visit(url: string): void {
    const u = new URL(url);
    if (this.seen.has(u.href)) throw new IntegrityError(`${this.what}: the pages link back to ${u.pathname}${u.search}`);
    if (this.seen.size >= this.max) {
      throw new IntegrityError(`${this.what}: more than ${this.max} pages, more than Relay follows (the next is ${u.pathname}${u.search})`);
    }
    this.seen.add(u.href);
  }
}
