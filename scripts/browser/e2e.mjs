// End-to-end scenarios of the permesi console in headless Chromium. Started by run.sh, which
// brings up the stack and sets CONSOLE_URL, API_URL, MAIL_DIR, ARTIFACTS, RP_PORT, CHROMIUM,
// OPERATOR_TOKEN_CMD and BROWSER_DB_URL / BROWSER_REDIS_*. No sleeps: every step waits for a selector, a URL or a
// response.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { execFileSync, execSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { chromium } from 'playwright-core';

const env = (k) => process.env[k] || (() => { throw new Error(`${k} not set`); })();
const CONSOLE = env('CONSOLE_URL');
const API = env('API_URL');
const MAIL_DIR = env('MAIL_DIR');
const ART = env('ARTIFACTS');
const RP_PORT = Number(env('RP_PORT'));
const DB_URL = env('BROWSER_DB_URL');
const REDIS_CLI = env('BROWSER_REDIS_CLI');
const REDIS_PORT = env('BROWSER_REDIS_PORT');
const REDIS_PASSWORD = env('BROWSER_REDIS_PASSWORD');
const RP = `http://localhost:${RP_PORT}`;
const REDIRECT_URI = `${RP}/callback`;
const LOGGED_OUT_URI = `${RP}/logged-out`;

const run = Date.now().toString(36);
const email = `browser-${run}@example.com`;
let password = `correct horse ${run} battery`;
let shot = 0;
const results = [];

// ---- helpers ------------------------------------------------------------------------------

async function screenshot(page, name, { fullPage = true } = {}) {
  shot += 1;
  const file = join(ART, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage });
}

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').replace(/\s/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`bad base32 char ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totpAt(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigInt64BE(BigInt(step));
  const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const o = h[19] & 0x0f;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1e6).padStart(6, '0');
}

// permesi accepts each step once, newer than the last used, within ±1 step of now.
let lastStep = 0;
async function totpCode(secret) {
  const now = () => Math.floor(Date.now() / 1000 / 30);
  let step = Math.max(now(), lastStep + 1);
  if (step > now() + 1) {
    // The next usable code is two steps ahead: wait for the clock, not for the page.
    await new Promise((r) => setTimeout(r, (30 - ((Date.now() / 1000) % 30)) * 1000 + 200));
    step = Math.max(now(), lastStep + 1);
  }
  lastStep = step;
  return totpAt(secret, step);
}

function decodeQuotedPrintable(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

// The newest link to `path` mailed to `to` (verification, password reset). Links carry the
// token in the fragment (`#token=`); `?token=` is what older mails carried.
async function mailedLink(to, path) {
  const deadline = Date.now() + 30_000;
  const pattern = new RegExp(`https?://\\S+${path}[?#]token=[A-Za-z0-9_-]+`);
  while (Date.now() < deadline) {
    for (const f of readdirSync(MAIL_DIR).filter((n) => n.endsWith('.eml')).sort().reverse()) {
      const raw = readFileSync(join(MAIL_DIR, f), 'utf8');
      if (!raw.includes(`To: ${to}`)) continue;
      const m = decodeQuotedPrintable(raw).match(pattern);
      if (m) return m[0];
    }
    await new Promise((r) => setTimeout(r, 100)); // the mail file is written by permesi
  }
  throw new Error(`no ${path} mail for ${to} in ${MAIL_DIR}`);
}

const verificationLink = (to) => mailedLink(to, '/verify-email');

// A mailed link must carry its token in the fragment, which browsers never send to a server.
function assertFragmentToken(link) {
  if (!/#token=[A-Za-z0-9_-]+$/.test(link)) throw new Error(`the token is not in the fragment: ${link.replace(/token=.*/, 'token=…')}`);
}

// The console takes the token out of the address bar once it has read it.
async function tokenLeftAddressBar(page) {
  await page.waitForFunction(() => !window.location.href.includes('token='), null, { timeout: 10_000 });
}

// Makes the session's last authentication an hour old (step-up needs one within 10 minutes):
// the same as signing in an hour ago. The session id comes from the API, as the console sees it.
// permesi caches sessions in Redis (`permesi:session:<hex of the token hash>`), so the cached
// copy is dropped too: the next request reads the aged row.
async function ageAuthentication(page) {
  const sessionId = await page.evaluate(async (api) => {
    const r = await fetch(`${api}/v1/auth/session`, { credentials: 'include', cache: 'no-store' });
    return (await r.json()).session_id;
  }, API);
  if (!/^[0-9a-f-]{36}$/.test(sessionId ?? '')) throw new Error(`no session id: ${sessionId}`);
  const hash = execFileSync('psql', [DB_URL, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c',
    `UPDATE sessions SET authenticated_at = now() - interval '1 hour' WHERE id = '${sessionId}' RETURNING encode(token_hash, 'hex')`],
  { encoding: 'utf8' }).trim();
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`session ${sessionId} not aged: ${hash}`);
  execFileSync(REDIS_CLI, ['--no-auth-warning', '--user', 'admin', '-h', '127.0.0.1', '-p', REDIS_PORT, '-n', '7',
    'DEL', `permesi:session:${hash}`], { encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: REDIS_PASSWORD, VALKEYCLI_AUTH: REDIS_PASSWORD } });
}

// The "Confirm it's you" dialog the console shows on `403 reauthentication_required`.
const reauthDialog = (page) => page.getByRole('dialog', { name: "Confirm it's you" });

const skipPattern = process.env.BROWSER_SKIP ? new RegExp(process.env.BROWSER_SKIP) : null;

async function step(name, fn) {
  if (skipPattern?.test(name)) {
    skip(name, 'BROWSER_SKIP');
    return;
  }
  const t = Date.now();
  process.stdout.write(`browser: ${name} … `);
  await fn();
  const secs = ((Date.now() - t) / 1000).toFixed(1);
  console.log(`ok (${secs}s)`);
  results.push({ name, ok: true, secs });
}

function skip(name, why) {
  console.log(`browser: ${name} … SKIPPED: ${why}`);
  results.push({ name, ok: true, skipped: why });
}

async function passwordLogin(page, { totpSecret, recoveryCode } = {}) {
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByRole('button', { name: 'Use a password instead' }).click();
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  if (totpSecret) {
    const field = page.getByLabel('Code from your authenticator app');
    await field.waitFor();
    await screenshot(page, 'login-mfa');
    await field.fill(await totpCode(totpSecret));
    await page.getByRole('button', { name: 'Verify' }).click();
  } else if (recoveryCode) {
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(recoveryCode);
    await page.getByRole('button', { name: 'Verify' }).click();
  }
}

function operatorToken() {
  const out = execSync(env('OPERATOR_TOKEN_CMD'), { encoding: 'utf8', shell: '/bin/bash', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split(/\s+/).pop();
}

// The admin page asks for an operator token when this session is not elevated.
async function elevateIfAsked(page) {
  const elevate = page.getByRole('button', { name: 'Elevate' });
  const users = page.getByTestId('user-list');
  await elevate.or(users).first().waitFor();
  if (await elevate.isVisible()) {
    await page.getByLabel('Operator token').fill(operatorToken());
    await elevate.click();
    await users.waitFor();
  }
}

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login$/);
  await page.getByRole('link', { name: 'Sign up' }).waitFor();
}

// ---- the test relying party (OIDC) ----------------------------------------------------------
// Built on openid-client (an OpenID-certified relying-party library, not ours), configured only
// with the issuer URL, client id, secret and redirect URI. `allowInsecureRequests` is there
// because the test issuer is plain http on localhost; `enableNonRepudiationChecks` makes it
// verify every ID token's signature against the JWKS (by default it trusts the TLS channel).
// Its pages show what it verified: #claims, #alg, #userinfo.

function escape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

function idTokenAlg(idToken) {
  return JSON.parse(Buffer.from(idToken.split('.')[0], 'base64url').toString()).alg;
}

async function startRelyingParty(clientId, clientSecret) {
  const config = await oidc.discovery(new URL(API), clientId, clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  oidc.enableNonRepudiationChecks(config);
  const pending = new Map();
  let tokens;
  const page = (title, body) => `<!doctype html><title>${title}</title><h1>${title}</h1>${body}`;
  const signedIn = async (title, set) => {
    tokens = set;
    const claims = set.claims();
    const userinfo = await oidc.fetchUserInfo(config, set.access_token, claims.sub);
    return page(title, `<p>alg <span id="alg">${escape(idTokenAlg(set.id_token))}</span></p>`
      + `<pre id="claims">${escape(JSON.stringify(claims, null, 2))}</pre>`
      + `<pre id="userinfo">${escape(JSON.stringify(userinfo, null, 2))}</pre>`);
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, RP);
    try {
      if (url.pathname === '/start') {
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        const verifier = oidc.randomPKCECodeVerifier();
        pending.set(state, { nonce, verifier });
        const auth = oidc.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT_URI, scope: 'openid email offline_access', state, nonce,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        });
        res.writeHead(302, { location: auth.href }).end();
        return;
      }
      let html;
      if (url.pathname === '/callback') {
        const p = pending.get(url.searchParams.get('state'));
        if (!p) throw new Error(`unknown state; query: ${url.search}`);
        pending.delete(url.searchParams.get('state'));
        const set = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: p.verifier, expectedState: url.searchParams.get('state'),
          expectedNonce: p.nonce, idTokenExpected: true,
        });
        if (!set.refresh_token) throw new Error('no refresh token');
        html = await signedIn('Signed in', set);
      } else if (url.pathname === '/refresh') {
        html = await signedIn('Refreshed', await oidc.refreshTokenGrant(config, tokens.refresh_token));
      } else if (url.pathname === '/logout') {
        const end = oidc.buildEndSessionUrl(config, {
          id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGGED_OUT_URI,
        });
        res.writeHead(302, { location: end.href }).end();
        return;
      } else if (url.pathname === '/logged-out') {
        html = page('Logged out', '<p id="logged-out">The provider sent the browser back.</p>');
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/html' });
      res.end(page('RP error', `<pre id="rp-error">${escape(e.stack || e)}
${escape(JSON.stringify(e.cause ?? {}))}</pre>`));
    }
  });
  return new Promise((resolve) => server.listen(RP_PORT, '127.0.0.1', () => resolve(server)));
}

/// What the relying party page shows, or its error.
async function rpPage(page, id) {
  await page.locator(`#${id}, #rp-error`).first().waitFor();
  const error = page.locator('#rp-error');
  if (await error.count()) throw new Error(`relying party: ${await error.textContent()}`);
  return (await page.locator(`#${id}`).textContent()).trim();
}

// ---- scenarios ------------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: !process.env.BROWSER_HEADED,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
// permesi's default console URL (http://localhost:8080) may appear in redirects: send them to
// the console under test.
await context.route(/^http:\/\/localhost:8080\//, (route) => {
  const u = new URL(route.request().url());
  return route.fulfill({ status: 302, headers: { location: `${CONSOLE}${u.pathname}${u.search}` } });
});
const page = await context.newPage();
page.setDefaultTimeout(60_000);
const consoleLog = [];
page.on('console', (m) => consoleLog.push(`[${m.type()}] ${m.text()}`));
page.on('pageerror', (e) => consoleLog.push(`[pageerror] ${e.message}`));

let totpSecret;
let recoveryCodes = [];
let passkeyAdded = false;
let clientId;
let clientSecret;
let applicationsPage;
let rp;
try {
  await step('status page shows both services', async () => {
    await page.goto(`${CONSOLE}/`);
    await page.getByText('All services operational').waitFor();
    await screenshot(page, 'status');
  });

  await step('sign up (PoW + OPAQUE in WASM)', async () => {
    await page.goto(`${CONSOLE}/signup`);
    await screenshot(page, 'signup');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Confirm password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByTestId('check-email').waitFor({ timeout: 120_000 });
    await screenshot(page, 'signup-check-email');
  });

  await step('verify the email from the dev mail folder (token in the fragment)', async () => {
    const link = await verificationLink(email);
    assertFragmentToken(link);
    await page.goto(link.replace(/^https?:\/\/[^/]+/, CONSOLE));
    await tokenLeftAddressBar(page);
    await page.getByTestId('verified').waitFor();
    await screenshot(page, 'verified');
  });

  await step('wrong password: a non-enumerating error', async () => {
    await page.goto(`${CONSOLE}/login`);
    await screenshot(page, 'login');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Use a password instead' }).click();
    await page.getByLabel('Password', { exact: true }).fill(`${password}x`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('error').getByText('Wrong email or password').waitFor({ timeout: 120_000 });
  });

  await step('log in with the password, keyboard only', async () => {
    await page.goto(`${CONSOLE}/login`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.keyboard.press('Tab'); // Continue with a passkey
    await page.keyboard.press('Tab'); // Use a password instead
    await page.keyboard.press('Enter');
    await page.getByLabel('Password', { exact: true }).and(page.locator(':focus')).waitFor();
    await page.keyboard.type(password);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/me\/security$/, { timeout: 120_000 });
    await page.getByTestId('whoami').getByText(email).waitFor();
    await page.getByTestId('session-list').waitFor();
    await screenshot(page, 'security');
  });

  await step('add a passkey (virtual authenticator), rename it', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await page.getByLabel('Name of the new passkey').fill('Laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText('Passkey added.').waitFor();
    await page.getByTestId('passkey-list').getByText('Laptop').waitFor();
    await page.getByTestId('passkey-list').getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Work laptop');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('passkey-name').getByText('Work laptop').waitFor();
    await screenshot(page, 'security-passkey');
    passkeyAdded = true;
  });

  await step('log in with the passkey alone (email first)', async () => {
    await signOut(page);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Continue with a passkey' }).click();
    await page.waitForURL(/\/console\/me\/security$/);
    await page.getByTestId('whoami').getByText(email).waitFor();
  });

  await step('log in with the passkey alone (no email: discoverable)', async () => {
    await signOut(page);
    await page.getByRole('button', { name: 'Sign in with a passkey without typing an email' }).click();
    await page.waitForURL(/\/console\/me\/security$/);
    await page.getByTestId('whoami').getByText(email).waitFor();
  });

  await step('step-up: after an old sign-in, setting up TOTP asks to confirm it\'s you (cancel, then the password)', async () => {
    await page.getByTestId('totp-off').waitFor();
    await ageAuthentication(page);
    const setUp = page.getByRole('button', { name: 'Set up an authenticator app' });
    const dialog = reauthDialog(page);
    // Cancelling leaves TOTP off and says why.
    await setUp.click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByTestId('error').getByText("confirm it's you").waitFor();
    await page.getByTestId('totp-off').waitFor();
    // Again, and confirm with the password: the enrolment goes on by itself.
    await setUp.click();
    await dialog.waitFor();
    // The account has a passkey, so the dialog offers one (unless the passkey scenario was skipped).
    if (passkeyAdded) await dialog.getByRole('button', { name: 'Use a passkey' }).waitFor();
    await dialog.getByLabel('Password', { exact: true }).and(page.locator(':focus')).waitFor();
    await screenshot(page, 'reauth-dialog', { fullPage: false }); // the dialog covers the viewport
    await dialog.getByLabel('Password', { exact: true }).fill(password);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.getByTestId('totp-secret').waitFor({ timeout: 120_000 });
    await dialog.waitFor({ state: 'hidden' });
  });

  await step('enrol TOTP (QR, confirm, recovery codes shown once)', async () => {
    const secret = page.getByTestId('totp-secret');
    if (!(await secret.isVisible())) {
      await page.getByTestId('totp-off').waitFor();
      await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    }
    totpSecret = (await page.getByTestId('totp-secret').textContent()).trim();
    await page.getByRole('img', { name: 'QR code of the TOTP key' }).locator('svg').waitFor();
    await screenshot(page, 'totp-enrol');
    await page.getByLabel('Code from the app').fill(await totpCode(totpSecret));
    await page.getByRole('button', { name: 'Confirm' }).click();
    recoveryCodes = (await page.getByTestId('recovery-codes').textContent()).trim().split(/\s+/);
    if (recoveryCodes.length < 5) throw new Error(`expected recovery codes, got ${recoveryCodes}`);
    await page.getByTestId('totp-on').waitFor();
    await screenshot(page, 'totp-on');
  });

  await step('log in with password + TOTP code', async () => {
    await signOut(page);
    await passwordLogin(page, { totpSecret });
    await page.waitForURL(/\/console\/me\/security$/);
    await page.getByTestId('session-list').waitFor();
  });

  await step('change the password (OPAQUE re-registration)', async () => {
    const next = `${password} changed`;
    await page.getByLabel('New password', { exact: true }).fill(next);
    await page.getByLabel('Confirm the new password').fill(next);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed.').waitFor({ timeout: 120_000 });
    password = next;
  });

  await step('log in with the new password + a recovery code (TOTP account)', async () => {
    await signOut(page);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Use a password instead' }).click();
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(recoveryCodes[0]);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/console\/me\/security$/);
    await page.getByTestId('totp-on').getByText(`${recoveryCodes.length - 1} recovery codes left`).waitFor();
  });

  const passkeyStepUp = 'step-up with a passkey: regenerating recovery codes after an old sign-in';
  if (!passkeyAdded || !totpSecret) skip(passkeyStepUp, 'needs the passkey and TOTP scenarios');
  else await step(passkeyStepUp, async () => {
    await ageAuthentication(page);
    await page.getByRole('button', { name: 'Regenerate recovery codes' }).click();
    const dialog = reauthDialog(page);
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByText('New recovery codes: the old ones no longer work.').waitFor();
    await dialog.waitFor({ state: 'hidden' });
    const fresh = (await page.getByTestId('recovery-codes').textContent()).trim().split(/\s+/);
    if (fresh.length < 5 || fresh.includes(recoveryCodes[1])) throw new Error('the recovery codes were not regenerated');
    recoveryCodes = ['(used)', ...fresh];
  });

  await step('create an organization, project, environments, application', async () => {
    await page.getByRole('link', { name: 'Organizations' }).click();
    await page.waitForURL(/\/console\/orgs$/);
    await page.getByText('None yet').waitFor();
    await page.getByLabel('Name', { exact: true }).fill(`Acme ${run}`);
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByTestId('org-list').getByRole('link', { name: `Acme ${run}` }).click();
    await page.waitForURL(/\/console\/orgs\/acme-/);
    await page.getByTestId('member-list').getByText(email).waitFor();
    await page.getByLabel('Invite by email').fill(`invitee-${run}@example.com`);
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    await page.getByText(`invitee-${run}@example.com as member`).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    await screenshot(page, 'org');
    await page.getByTestId('project-list').getByRole('link', { name: 'Shop' }).click();
    await page.waitForURL(/\/projects\/shop$/);
    await page.getByText('create production first').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Production');
    await page.getByRole('button', { name: 'Create environment' }).click();
    await page.getByTestId('env-list').getByRole('link', { name: 'Production' }).waitFor();
    // After production exists the tier defaults to staging.
    await page.waitForFunction(() => document.getElementById('env-tier')?.value === 'staging');
    await page.getByLabel('Name', { exact: true }).fill('Staging');
    await page.getByRole('button', { name: 'Create environment' }).click();
    await page.getByTestId('env-list').getByRole('link', { name: 'Staging' }).waitFor();
    await screenshot(page, 'project');
    await page.getByTestId('env-list').getByRole('link', { name: 'Production' }).click();
    await page.waitForURL(/\/environments\/production$/);
    applicationsPage = page.url();
    await page.getByLabel('Name', { exact: true }).fill('Web');
    await page.getByLabel('Redirect URIs (one a line)', { exact: true }).first().fill(REDIRECT_URI);
    await page.getByLabel('Post-logout redirect URIs (one a line, optional)').fill(LOGGED_OUT_URI);
    await page.getByRole('button', { name: 'Create application' }).click();
    clientSecret = (await page.getByTestId('client-secret').textContent()).trim();
    clientId = (await page.getByTestId('client-id').first().textContent()).trim();
    if (!clientId || !clientSecret) throw new Error('no client id or secret shown');
    await screenshot(page, 'environment-application');
  });

  await step('admin: claim, elevate, users, audit log', async () => {
    await page.goto(`${CONSOLE}/admin/claim`);
    await page.getByLabel('Operator token').fill(operatorToken());
    await page.getByRole('button', { name: 'Claim' }).click();
    await page.waitForURL(/\/admin$/);
    await elevateIfAsked(page);
    await page.getByTestId('user-list').getByText(email).waitFor();
    await page.getByTestId('audit-table').waitFor();
    await page.getByLabel('Action (auth.login)').fill('auth.login');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByTestId('audit-table').getByText('auth.login').first().waitFor();
    await screenshot(page, 'admin');
  });

  await step('OIDC login from a relying party built on openid-client (login page, consent, verified EdDSA ID token, userinfo)', async () => {
    rp = await startRelyingParty(clientId, clientSecret);
    await signOut(page);
    await page.goto(`${RP}/start`);
    await page.waitForURL((u) => u.pathname === '/login' && u.searchParams.has('request'));
    await screenshot(page, 'oidc-login');
    // A recovery code: a third TOTP code could mean waiting for the next 30 s step.
    await passwordLogin(page, totpSecret ? { recoveryCode: recoveryCodes[1] } : {});
    const allow = page.getByRole('button', { name: 'Allow' });
    await page.waitForURL((u) => u.pathname === '/consent' || u.pathname === '/callback', { timeout: 120_000 });
    if (new URL(page.url()).pathname === '/consent') {
      await allow.waitFor();
      await screenshot(page, 'oidc-consent');
      await allow.click();
    }
    await page.waitForURL((u) => u.pathname === '/callback');
    if ((await rpPage(page, 'alg')) !== 'EdDSA') throw new Error('the default ID token algorithm is not EdDSA');
    const claims = JSON.parse(await rpPage(page, 'claims'));
    const userinfo = JSON.parse(await rpPage(page, 'userinfo'));
    if (!claims.sub || userinfo.sub !== claims.sub) throw new Error(`claims ${JSON.stringify(claims)}, userinfo ${JSON.stringify(userinfo)}`);
    if (userinfo.email !== email) throw new Error(`userinfo email ${userinfo.email}`);
    if (!claims.amr?.includes('pwd')) throw new Error(`amr ${JSON.stringify(claims.amr)}`);
    await screenshot(page, 'oidc-callback');
  });

  await step('the application asks for RS256 ID tokens in the console; the relying party refreshes and verifies one', async () => {
    await page.goto(applicationsPage);
    const settings = page.getByTestId('oidc-settings');
    await settings.locator('summary').click();
    const alg = settings.getByLabel('ID token algorithm');
    await alg.locator('option[value="RS256"]').waitFor({ state: 'attached' });
    await page.getByRole('button', { name: 'Save OpenID Connect settings' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('[data-testid="oidc-settings"] button')?.disabled);
    await alg.selectOption('RS256');
    await settings.getByRole('button', { name: 'Save OpenID Connect settings' }).click();
    await settings.getByText('OpenID Connect settings saved.').waitFor();
    await screenshot(page, 'oidc-settings');
    await page.goto(`${RP}/refresh`);
    if ((await rpPage(page, 'alg')) !== 'RS256') throw new Error('the refreshed ID token is not RS256');
    const claims = JSON.parse(await rpPage(page, 'claims'));
    if (claims.aud !== clientId && !claims.aud?.includes?.(clientId)) throw new Error(`aud ${claims.aud}`);
  });

  await step('the consent is listed on the security page and can be withdrawn', async () => {
    await page.goto(`${CONSOLE}/console/me/security`);
    const list = page.getByTestId('consent-list');
    await list.getByText('Web').waitFor();
    await list.getByRole('button', { name: 'Remove access' }).click();
    await page.getByText('No application has access to your account.').waitFor();
  });

  await step('RP-initiated logout ends the console session and returns to the relying party', async () => {
    await page.goto(`${RP}/logout`);
    await page.waitForURL((u) => u.pathname === '/logged-out');
    await rpPage(page, 'logged-out');
    await page.goto(`${CONSOLE}/console/me/security`);
    await page.getByText('You need to sign in to see this page.').waitFor();
    // Back in for the scenarios that follow.
    await page.goto(`${CONSOLE}/login`);
    await passwordLogin(page, totpSecret ? { recoveryCode: recoveryCodes[2] } : {});
    await page.waitForURL(/\/console/);
  });

  await step('disable TOTP (fresh login)', async () => {
    await page.goto(`${CONSOLE}/console/me/security`);
    await page.getByTestId('totp-on').waitFor();
    await page.getByRole('button', { name: 'Disable', exact: true }).click();
    await page.getByTestId('totp-off').waitFor();
  });

  await step('phone width: login and security pages', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${CONSOLE}/console/me/security`);
    await phone.getByRole('heading', { name: 'Passkeys' }).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    if (overflow) throw new Error('the security page scrolls sideways at 390 px');
    await screenshot(phone, 'phone-security');
    await phone.close();
  });

  await step('admin: ending the user\'s sessions signs the console out', async () => {
    await page.goto(`${CONSOLE}/admin`);
    await elevateIfAsked(page); // elevation belongs to a session; the OIDC scenario made a new one
    const row = page.getByTestId('user-list').locator('li', { hasText: email });
    await row.getByRole('button', { name: 'End sessions' }).click();
    await page.getByText(/session\(s\) ended/).waitFor();
    await page.goto(`${CONSOLE}/console/me/security`);
    await page.getByText('You need to sign in to see this page.').waitFor();
    await screenshot(page, 'signed-out');
  });

  await step('forgotten password: a reset link (token in the fragment), a new password, the sign-in methods left, sign in', async () => {
    await page.goto(`${CONSOLE}/login`);
    await page.getByRole('button', { name: 'Use a password instead' }).click();
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL(/\/forgot-password$/);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByRole('button', { name: 'Send a reset link' }).click();
    await page.getByTestId('reset-sent').waitFor();
    const link = await mailedLink(email, '/reset-password');
    assertFragmentToken(link);
    await page.goto(link.replace(/^https?:\/\/[^/]+/, CONSOLE));
    await page.getByLabel('New password', { exact: true }).waitFor();
    await tokenLeftAddressBar(page);
    password = `reset ${run} horse battery`;
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('Confirm the new password').fill(password);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByTestId('reset-done').waitFor({ timeout: 120_000 });
    // The methods still on the account: the passkey (TOTP was disabled earlier).
    const factors = page.getByTestId('reset-factors');
    await factors.waitFor();
    if (passkeyAdded) {
      await factors.getByText("These sign-in methods are still on your account. If you don't recognise one, remove it in Security settings after you log in.").waitFor();
      await factors.getByText('Work laptop').waitFor();
    }
    if (await factors.getByText('Authenticator app').count()) throw new Error('TOTP listed after it was disabled');
    await screenshot(page, 'password-reset-factors');
    await page.getByTestId('reset-done').getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(/\/login$/);
    await passwordLogin(page);
    await page.waitForURL(/\/console\/me\/security$/);
  });

  await step('a second account (older ?token= link, next=/\\evil.com stays on the console) deletes itself from the security page', async () => {
    await signOut(page);
    const leaver = `leaver-${run}@example.com`;
    const secret = `leaving ${run} for good`;
    await page.goto(`${CONSOLE}/signup`);
    await page.getByLabel('Email', { exact: true }).fill(leaver);
    await page.getByLabel('Password', { exact: true }).fill(secret);
    await page.getByLabel('Confirm password').fill(secret);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByTestId('check-email').waitFor({ timeout: 120_000 });
    // A link in the older form (`?token=`) still works.
    await page.goto((await verificationLink(leaver)).replace(/^https?:\/\/[^/]+/, CONSOLE).replace('#token=', '?token='));
    await tokenLeftAddressBar(page);
    await page.getByTestId('verified').waitFor();
    // `next=` must stay on the console: `/\evil.com` is another origin to a browser.
    await page.goto(`${CONSOLE}/login?next=/%5Cevil.com`);
    await page.getByLabel('Email', { exact: true }).fill(leaver);
    await page.getByRole('button', { name: 'Use a password instead' }).click();
    await page.getByLabel('Password', { exact: true }).fill(secret);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/console\/me\/security$/, { timeout: 120_000 });
    if (new URL(page.url()).origin !== CONSOLE) throw new Error(`next= left the console: ${page.url()}`);
    await page.getByLabel('Type your email address to confirm').fill(leaver);
    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(/\/signup\?deleted=1$/);
    await page.getByTestId('account-deleted').waitFor();
    await screenshot(page, 'account-deleted');
    // The session is gone with the account.
    await page.goto(`${CONSOLE}/console/me/security`);
    await page.getByText('You need to sign in to see this page.').waitFor();
  });
} catch (e) {
  console.log('FAILED');
  console.error(e);
  try {
    await screenshot(page, 'failure');
  } catch {}
  writeFileSync(join(ART, 'console.log'), consoleLog.join('\n'));
  await browser.close();
  if (rp) rp.close();
  process.exit(1);
}
writeFileSync(join(ART, 'console.log'), consoleLog.join('\n'));
writeFileSync(join(ART, 'results.json'), JSON.stringify(results, null, 2));
await browser.close();
if (rp) rp.close();
console.log(`browser: ${results.length} scenarios passed; screenshots in ${ART}`);
