import { Semaphore } from '../concurrency.js';

/** One semaphore per host:port. */
export class HostLimiter {
  private readonly byHost = new Map<string, Semaphore>();
  constructor(readonly perHost: number) {}
  for(host: string): Semaphore {
    let s = this.byHost.get(host);
    if (!s) this.byHost.set(host, (s = new Semaphore(this.perHost)));
    return s;
  }
}
