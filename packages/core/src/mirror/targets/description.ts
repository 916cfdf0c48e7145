import { errorMessage } from '../../errors.js';
import { bindCredential } from '../../http/client.js';
import type { HttpClient, HttpResponse } from '../../http/client.js';
import { parseJsonObject } from '../../json.js';
import type { Logger } from '../../log/logger.js';
import { registryName, type Target } from '../config.js';

/** What became of a mirror's label (its repository description). */
export interface LabelResult {
  status: 'set' | 'unchanged' | 'unsupported' | 'failed' | 'skipped';
  why: string;
}

/**
 * Sets a mirror repository's description through the registry's own API, so
 * people who find the mirror read that it is one: Docker Hub
 * (`PATCH /v2/repositories/<ns>/<repo>/` after `POST /v2/users/login`) and
 * quay.io (`PUT /api/v1/repository/<ns>/<repo>`). Reads the current text
 * first: an unchanged label writes nothing.
 */
export class Labeller {
  private hubTokens = new Map<string, Promise<string>>();

  constructor(
    private readonly http: HttpClient,
    private readonly log: Logger,
  ) {}

  async label(t: Target, repository: string, text: string): Promise<LabelResult> {
    const api = t.descriptionApi;
    try {
      switch (api.kind) {
        case 'none':
          return { status: 'unsupported', why: `${registryName(t.registry)} has no repository-description API Relay knows` };
        case 'dockerhub': {
          if (!t.credentials) return { status: 'failed', why: 'the Docker Hub API needs username-env and password-env on the target' };
          const token = await this.hubToken(t);
          const url = `${api.url}/v2/repositories/${repository}/`;
          return await this.update(url, token, text, 'PATCH');
        }
        case 'quay': {
          if (!api.token) return { status: 'failed', why: 'the quay API needs description-api.token-env (an OAuth token with repo:admin)' };
          return await this.update(`${api.url}/api/v1/repository/${repository}`, api.token.value, text, 'PUT');
        }
      }
    } catch (err) {
      return { status: 'failed', why: errorMessage(err) };
    }
  }

  private hubToken(t: Target): Promise<string> {
    const c = t.credentials!;
    const key = `${t.descriptionApi.url}\0${c.username}`;
    let p = this.hubTokens.get(key);
    if (!p) {
      p = (async () => {
        const res = await this.http.request({
          method: 'POST',
          url: `${t.descriptionApi.url}/v2/users/login`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: c.username, password: c.password }),
        });
        const body = await this.json(res, 'login');
        const token = body.token;
        if (typeof token !== 'string' || !token) throw new Error(`${t.descriptionApi.url} login: no token in the answer`);
        this.log.mask(token);
        return token;
      })();
      p.catch(() => this.hubTokens.delete(key));
      this.hubTokens.set(key, p);
    }
    return p;
  }

  private async update(url: string, token: string, text: string, method: 'PATCH' | 'PUT'): Promise<LabelResult> {
    const headers = { accept: 'application/json' };
    // The token is the API's (the URL is built from the configured API base): sent to its origin only.
    const credential = bindCredential(`Bearer ${token}`, url);
    const current = await this.json(await this.http.request({ url, headers, credential }), 'GET');
    if (current.description === text) return { status: 'unchanged', why: '' };
    const res = await this.http.request({
      method,
      url,
      headers: { ...headers, 'content-type': 'application/json' },
      credential,
      body: JSON.stringify({ description: text }),
    });
    await this.json(res, method);
    return { status: 'set', why: '' };
  }

  private async json(res: HttpResponse, what: string): Promise<Record<string, unknown>> {
    if (!res.ok) {
      const text = (await res.text(64 * 1024).catch(() => '')).trim().split('\n')[0]?.slice(0, 200);
      throw new Error(`${what} ${res.url.host}${res.url.pathname}: HTTP ${res.status}${text ? `: ${text}` : ''}`);
    }
    const bytes = await res.bytes(1024 * 1024);
    return bytes.length ? parseJsonObject(bytes, `${what} ${res.url.host}${res.url.pathname}`, 'remote') : {};
  }
}
