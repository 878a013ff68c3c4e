// `wsock serve` against headless Chromium: the page at / (`--page`) opens
// `wss://` to the same server, sends text and binary, and closes with a
// code and a reason. Twice: over HTTP/2, where the server's log must show
// the WebSocket as an RFC 8441 extended CONNECT on the page's own
// connection, and over HTTP/1.1 (`--no-http2`), where it must be a GET.
//
// Needs the release CLI (`cargo build --release -p wsock-cli`; or
// $WSOCK_BIN), Chromium ($WSOCK_CHROMIUM, default /usr/bin/chromium),
// openssl (the test certificates) and `npm ci` here. Without Chromium or
// playwright-core the tests are skipped with a message, unless CI is set,
// where they fail.
//
// Run: node --test chromium.test.mjs   (or npm test)

import { spawn, spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const wsockBin =
  process.env.WSOCK_BIN || join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'release', 'wsock');
const chromiumBin = process.env.WSOCK_CHROMIUM || '/usr/bin/chromium';
// Bounds for each wait, so that a hang fails instead of blocking CI.
const WAIT_MS = 30_000;

/** Why the tests cannot run here, or null. */
async function missing() {
  if (!existsSync(wsockBin)) return `${wsockBin} not found: cargo build --release -p wsock-cli (or set WSOCK_BIN)`;
  if (!existsSync(chromiumBin)) return `${chromiumBin} not found: apt-get install chromium (or set WSOCK_CHROMIUM)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed: run npm ci in tests/browser';
  }
  return null;
}

const why = await missing();
if (why && process.env.CI) {
  console.error(`browser tests: ${why}`);
  process.exit(1);
}
if (why) console.log(`browser tests skipped: ${why}`);

let work;
let pki;
before(() => {
  if (why) return;
  work = mkdtempSync(join(tmpdir(), 'wsock-browser-'));
  pki = makePki(work);
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A throw-away CA and a certificate it signed for localhost and 127.0.0.1
 * (as the Autobahn TLS runs make), and the base64 SHA-256 of the
 * certificate's public key, which Chromium is told to trust
 * (--ignore-certificate-errors-spki-list) instead of a CA store.
 */
function makePki(dir) {
  const cnf = join(dir, 'openssl.cnf');
  writeFileSync(
    cnf,
    `[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`,
  );
  const p = (name) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256'];
  const steps = [
    ['req', '-x509', '-config', cnf, '-extensions', 'ca', ...ec, '-days', '2',
      '-subj', '/CN=wsock browser test CA', '-keyout', p('ca.key'), '-out', p('ca.pem')],
    ['req', '-new', '-config', cnf, ...ec, '-subj', '/CN=localhost', '-keyout', p('key.pem'), '-out', p('cert.csr')],
    ['x509', '-req', '-in', p('cert.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial', '1',
      '-days', '2', '-sha256', '-extfile', cnf, '-extensions', 'server', '-out', p('cert.pem')],
  ];
  for (const args of steps) {
    const run = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.equal(run.status, 0, `openssl ${args.join(' ')} failed:\n${run.stderr}`);
  }
  const spki = new X509Certificate(readFileSync(p('cert.pem'))).publicKey.export({ type: 'spki', format: 'der' });
  return { cert: p('cert.pem'), key: p('key.pem'), spki: createHash('sha256').update(spki).digest('base64') };
}

/** `wsock serve` on a free port; resolves once it listens. */
async function startServer(extraArgs) {
  const args = ['serve', '--listen', '127.0.0.1:0', '--tls-cert', pki.cert, '--tls-key', pki.key,
    '--page', join(here, 'page.html'), '--subprotocol', 'chat.v1', ...extraArgs];
  const child = spawn(wsockBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal })));
  const port = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`wsock serve did not listen within ${WAIT_MS} ms:\n${log}`)), WAIT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on wss:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`wsock serve exited (${code}):\n${log}`)));
  });
  return {
    port,
    /** SIGTERM (graceful shutdown), then the whole log. */
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
      const { code, signal } = await exited;
      clearTimeout(timer);
      assert.equal(code, 0, `wsock serve exited with ${code ?? signal}:\n${log}`);
      return log;
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

/** Loads the page in a fresh headless Chromium and returns what its script saw. */
async function runPage(port, extraArgs = []) {
  const { chromium } = await import('playwright-core');
  // A new, empty profile each time (launchPersistentContext passes it as
  // --user-data-dir).
  const context = await chromium.launchPersistentContext(mkdtempSync(join(work, 'profile-')), {
    executablePath: chromiumBin,
    headless: true,
    timeout: WAIT_MS,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${pki.spki}`,
      ...extraArgs,
    ],
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const response = await page.goto(`https://127.0.0.1:${port}/`);
    assert.equal(response.status(), 200, 'the page loads');
    return await page.evaluate(() => window.result);
  } finally {
    await context.close();
  }
}

/** The browser's side: echoes, then a clean close with our code and reason. */
function checkExchange(result) {
  assert.equal(result.error, null, `the page reports: ${JSON.stringify(result)}`);
  const [open, text, binary, close] = result.log;
  assert.equal(open?.open, true, `opened: ${JSON.stringify(result.log)}`);
  assert.equal(open.protocol, 'chat.v1', `subprotocol: ${JSON.stringify(result.log)}`);
  assert.match(open.extensions, /permessage-deflate/, `deflate negotiated: ${JSON.stringify(result.log)}`);
  assert.deepEqual(text, { text: 'héllo, wsock' }, 'text echoed');
  assert.deepEqual(binary, { binary: [0, 1, 2, 253, 254, 255] }, 'binary echoed');
  // The server echoes the code; the reason it received is in its log.
  console.log(`the page saw: ${JSON.stringify(result)}`);
  assert.equal(close?.close?.code, 4000, `close code: ${JSON.stringify(result.log)}`);
  assert.equal(close.close.wasClean, true, `clean close: ${JSON.stringify(close)}`);
}

/** The log line of the WebSocket (`#ID PEER connected: ...`). */
function connectedLine(log) {
  const lines = log.split('\n').filter((line) => line.includes(' connected: '));
  assert.equal(lines.length, 1, `one WebSocket in the server log:\n${log}`);
  return lines[0];
}

test('WebSocket over HTTP/2 (RFC 8441) on the page connection', { skip: why ?? false }, async () => {
  const server = await startServer([]);
  let log;
  try {
    const result = await runPage(server.port);
    assert.equal(result.pageProtocol, 'h2', 'the page came over HTTP/2');
    checkExchange(result);
  } finally {
    log = await server.stop().catch((e) => {
      server.kill();
      throw e;
    });
  }
  // The page: `#N PEER GET / HTTP/2 answered 200 OK`; the WebSocket:
  // `#N.1 PEER connected: CONNECT /chat HTTP/2` on the same connection N.
  const page = /#(\d+) \S+ GET \/ HTTP\/2 answered 200/.exec(log);
  assert.ok(page, `the page was served over HTTP/2:\n${log}`);
  const ws = /#(\d+)\.1 \S+ connected: CONNECT \/chat HTTP\/2 \(subprotocol chat\.v1\)/.exec(connectedLine(log));
  assert.ok(ws, `the WebSocket came as an extended CONNECT:\n${log}`);
  assert.equal(ws[1], page[1], `the WebSocket used the page's connection:\n${log}`);
  assert.match(log, /#\d+\.1 \S+ closed: 4000 "bye from the browser"/, `server saw the close:\n${log}`);
  assert.match(log, /served 0 WebSockets over HTTP\/1\.1 and 1 over HTTP\/2/, `shutdown summary:\n${log}`);
});

test('WebSocket over HTTP/1.1 (--no-http2)', { skip: why ?? false }, async () => {
  const server = await startServer(['--no-http2']);
  let log;
  try {
    const result = await runPage(server.port);
    assert.equal(result.pageProtocol, 'http/1.1', 'the page came over HTTP/1.1');
    checkExchange(result);
  } finally {
    log = await server.stop().catch((e) => {
      server.kill();
      throw e;
    });
  }
  assert.match(log, /#\d+ \S+ GET \/ HTTP\/1\.1 answered 200/, `the page was served over HTTP/1.1:\n${log}`);
  assert.match(
    connectedLine(log),
    /#\d+ \S+ connected: GET \/chat HTTP\/1\.1 \(subprotocol chat\.v1\)/,
    `the WebSocket came as an HTTP/1.1 GET:\n${log}`,
  );
  assert.match(log, /closed: 4000 "bye from the browser"/, `server saw the close:\n${log}`);
  assert.match(log, /served 1 WebSockets over HTTP\/1\.1 and 0 over HTTP\/2/, `shutdown summary:\n${log}`);
});
