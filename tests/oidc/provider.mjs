// A real OpenID Provider for the integration tests (tests/it/oidc.rs): the npm package
// `oidc-provider` (pinned in package.json), on 127.0.0.1 at a random port, with one
// client (CLIENT_ID, CLIENT_SECRET, REDIRECT_URI from the environment) and its
// development login and consent pages, which accept any login: the login is the
// account's `sub`, and its `preferred_username` comes from ACCOUNTS below (else the
// login itself).
//
// Prints one line, `{"issuer":"http://127.0.0.1:PORT"}`, once it listens. Exits when its
// stdin closes (the test process went away) or on a signal.
//
// For the failure tests, `GET /test/mode?set=NAME` changes what the token endpoint
// returns from then on: `normal`; `wrong-aud` (the ID token re-signed with the real key
// but for another audience); `forged-key` (signed by a key the provider never
// published, with its own key id); `forged-same-kid` (signed by that key under the real
// key's id); `rotated` (signed by a new key that the JWKS now publishes: a rotation);
// and, signed by the real key: `wrong-iss` (another issuer), `expired` (`exp` an hour
// ago), `old-iat` (issued an hour ago, still unexpired), `wrong-nonce`, `wrong-azp`
// (two audiences, the app's and another, authorized party the other).
// `GET /test/stats` says how often the JWKS was fetched.
//
// With AUTHORIZATION_HOST (e.g. `localhost`), the discovery document names the
// authorization endpoint on that host (same port): an endpoint on another origin than
// the issuer's, as some providers have.
//
// The modules are found in NODE_MODULES_DIR (the repository's node_modules unless the
// harness says otherwise).

import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.NODE_MODULES_DIR;
const require = createRequire(path.join(modules, 'resolve-from-here.js'));
const providerEntry = require.resolve('oidc-provider');
const { default: Provider } = await import(pathToFileURL(providerEntry).href);
const jose = await import(pathToFileURL(createRequire(providerEntry).resolve('jose')).href);

const { CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, AUTHORIZATION_HOST } = process.env;

const ACCOUNTS = {
  'sub-carol': { preferred_username: 'carol', name: 'Carol' },
  'sub-dave': { preferred_username: 'dave', name: 'Dave' },
  'sub-erin': { preferred_username: 'Not a valid name!', name: 'Erin' },
};

async function signingKey(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}
function publicPart({ d, p, q, dp, dq, qi, ...pub }) {
  return pub;
}

const keys = { main: await signingKey('main'), forger: await signingKey('forger'), rotated: await signingKey('rotated') };
let mode = 'normal';
const stats = { jwks_fetches: 0 };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  jwks: { keys: [keys.main] },
  cookies: { keys: ['chaat-test-provider-cookies'] },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'] },
  // The profile claims in the ID token itself (not only at the userinfo endpoint).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    const known = ACCOUNTS[sub] ?? { preferred_username: sub, name: sub };
    return { accountId: sub, async claims() { return { sub, ...known }; } };
  },
});

async function forge(idToken) {
  const payload = jose.decodeJwt(idToken);
  let key = keys.main;
  let kid = 'main';
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'wrong-aud') payload.aud = 'someone-else';
  if (mode === 'wrong-iss') payload.iss = 'http://issuer.invalid';
  if (mode === 'expired') { payload.iat = now - 4000; payload.exp = now - 3600; }
  if (mode === 'old-iat') { payload.iat = now - 3600; payload.exp = now + 3600; }
  if (mode === 'wrong-nonce') payload.nonce = 'not-the-nonce-of-this-sign-in';
  if (mode === 'wrong-azp') { payload.aud = [payload.aud, 'someone-else']; payload.azp = 'someone-else'; }
  if (mode === 'forged-key') { key = keys.forger; kid = 'forger'; }
  if (mode === 'forged-same-kid') { key = keys.forger; kid = 'main'; }
  if (mode === 'rotated') { key = keys.rotated; kid = 'rotated'; }
  const signWith = await jose.importJWK(key, 'RS256');
  return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid }).sign(signWith);
}

const asObject = (body) => (typeof body === 'string' || Buffer.isBuffer(body) ? JSON.parse(body.toString()) : body);

provider.use(async (ctx, next) => {
  if (ctx.path === '/jwks') stats.jwks_fetches += 1;
  await next();
  if (ctx.path === '/.well-known/openid-configuration' && AUTHORIZATION_HOST && ctx.status === 200) {
    const body = asObject(ctx.body);
    const endpoint = new URL(body.authorization_endpoint);
    endpoint.hostname = AUTHORIZATION_HOST;
    ctx.body = { ...body, authorization_endpoint: endpoint.href };
  }
  if (ctx.path === '/jwks' && mode === 'rotated') {
    const body = asObject(ctx.body);
    ctx.body = { keys: [...body.keys, publicPart(keys.rotated)] };
  }
  if (ctx.path === '/token' && ctx.status === 200 && mode !== 'normal') {
    const body = asObject(ctx.body);
    if (body.id_token) ctx.body = { ...body, id_token: await forge(body.id_token) };
  }
});

const callback = provider.callback();
server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/test/mode') {
    mode = url.searchParams.get('set') ?? 'normal';
    res.end(mode);
  } else if (url.pathname === '/test/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
  } else {
    callback(req, res);
  }
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
console.log(JSON.stringify({ issuer }));
