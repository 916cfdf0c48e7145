#!/usr/bin/env node
// Minimal Docker registry token server (distribution's `auth.token` flow) so the
// integration tests exercise the Bearer dance that Docker Hub, quay.io and
// GHCR use, not just Basic auth. Node built-ins only: it must run before (and
// without) any npm install.
//
//   node token-server.mjs --key key.pem --cert cert.pem [--port 5004]
//        [--issuer relay-test-issuer] [--service relay-test-registry] [--ttl 300]
//
// Users: testuser/testpass may do anything it asks for; pulluser/pullpass only
// gets `pull`, so tests can see what a client does with a token that lacks push.
// As in the spec, the grant is the intersection of what was asked and what is
// allowed; asking for more is not an error (the registry refuses later).
import { createServer } from 'node:http';
import { createSign, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    key: { type: 'string' },
    cert: { type: 'string' },
    port: { type: 'string', default: '5004' },
    issuer: { type: 'string', default: 'relay-test-issuer' },
    service: { type: 'string', default: 'relay-test-registry' },
    ttl: { type: 'string', default: '300' },
  },
});
if (!opt.key || !opt.cert) {
  console.error('usage: token-server.mjs --key KEY.pem --cert CERT.pem [--port N]');
  process.exit(2);
}
const key = readFileSync(opt.key, 'utf8');
// distribution verifies the `x5c` chain against `rootcertbundle`; the leaf is our
// self-signed cert, which is that bundle. x5c wants standard base64 DER, which
// is exactly the PEM body.
const x5c = [readFileSync(opt.cert, 'utf8').replace(/-----[^-]+-----|\s/g, '')];
const ttl = Number(opt.ttl);

const users = {
  testuser: { password: 'testpass', allowed: ['pull', 'push', 'delete', '*'] },
  pulluser: { password: 'pullpass', allowed: ['pull'] },
};
const refreshTokens = new Map(); // opaque refresh token -> user name

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function checkPassword(name, password) {
  const u = Object.hasOwn(users, name) ? users[name] : undefined;
  if (!u) return undefined;
  const a = Buffer.from(password),
    b = Buffer.from(u.password);
  return a.length === b.length && timingSafeEqual(a, b) ? name : undefined;
}

function basicUser(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString();
  const i = text.indexOf(':');
  return i < 0 ? undefined : checkPassword(text.slice(0, i), text.slice(i + 1));
}

// "repository:name:pull,push"; the name may itself contain ':' (host:port),
// so type is the first field and actions the last.
function parseScope(scope) {
  const first = scope.indexOf(':'),
    last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function issue(user, scopes, offline) {
  const now = Math.floor(Date.now() / 1000);
  const allowed = users[user].allowed;
  const access = scopes
    .map(parseScope)
    .filter(Boolean)
    .map((s) => ({ ...s, actions: s.actions.filter((a) => allowed.includes(a)) }));
  // distribution 2.8 reads `aud` as a single string, not an array.
  const claims = {
    iss: opt.issuer,
    sub: user,
    aud: opt.service,
    exp: now + ttl,
    nbf: now - 1,
    iat: now,
    jti: b64url(randomBytes(12)),
    access,
  };
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c }));
  const body = `${head}.${b64url(JSON.stringify(claims))}`;
  const token = `${body}.${createSign('RSA-SHA256').update(body).sign(key, 'base64url')}`;
  const res = { token, access_token: token, expires_in: ttl, issued_at: new Date(now * 1000).toISOString() };
  if (offline) {
    const rt = b64url(randomBytes(24));
    refreshTokens.set(rt, user);
    res.refresh_token = rt;
  }
  return { res, access };
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readForm(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, { details: String(err) });
  });
}).listen(Number(opt.port), '127.0.0.1', () => console.log(`token server on 127.0.0.1:${opt.port}`));

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/token') return send(res, 404, { details: 'not found' });
  let user, params, scopes, offline;
  if (req.method === 'GET') {
    params = url.searchParams;
    user = basicUser(req.headers.authorization);
    scopes = params.getAll('scope');
    offline = params.get('offline_token') === 'true';
  } else if (req.method === 'POST') {
    // OAuth2 form variant (spec auth/oauth.md), used by clients holding a refresh token.
    params = await readForm(req);
    const grant = params.get('grant_type');
    if (grant === 'password') user = checkPassword(params.get('username') ?? '', params.get('password') ?? '');
    else if (grant === 'refresh_token') user = refreshTokens.get(params.get('refresh_token') ?? '');
    else return send(res, 400, { error: 'unsupported_grant_type' });
    scopes = (params.get('scope') ?? '').split(' ').filter(Boolean);
    offline = params.get('access_type') === 'offline';
  } else {
    return send(res, 405, { details: 'method not allowed' });
  }
  if (params.get('service') !== opt.service) {
    return send(res, 400, { details: `unknown service ${JSON.stringify(params.get('service'))}` });
  }
  if (!user) {
    console.log(`${req.method} /token -> 401 (no or bad credentials)`);
    return send(res, 401, { details: 'authentication required' }, { 'www-authenticate': 'Basic realm="relay-test-token"' });
  }
  const { res: body, access } = issue(user, scopes, offline);
  console.log(`${req.method} /token user=${user} granted=${JSON.stringify(access)}`);
  send(res, 200, body);
}
