// Loading the WebAssembly module under Node: init() with no argument, a path or a file: URL
// reads the package's .wasm from disk; every way of failing (nothing at the URL, an HTML page
// instead of the module, bytes that are not WebAssembly or do not compile, no server) rejects
// with an Error of kind `load` that says what to check. Run by wasm/test.sh; JSOCKET_PKG names
// the package directory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(process.env.JSOCKET_PKG ?? join(here, '..', '..', '..', 'target', 'npm', 'jsocket-wasm'));
const indexUrl = pathToFileURL(join(pkgDir, 'index.js')).href;
const wasmPath = join(pkgDir, 'jsocket_wasm_bg.wasm');

// A fresh instance of the package's module, so that each test loads (or fails to) anew.
let instances = 0;
const fresh = () => import(`${indexUrl}?instance=${++instances}`);

// Runs `init(<source>)` then a round trip through the codec in a Node process of its own.
async function roundTripIn(source) {
  const script = `
    const { init, encode, Decoder } = await import(${JSON.stringify(indexUrl)});
    await init(${source});
    const values = new Decoder().push(encode({ loaded: 'from disk' }));
    console.log(JSON.stringify(values));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, WASM_PATH: wasmPath },
  });
  return JSON.parse(stdout);
}

test('init() with no argument reads the .wasm beside index.js under Node', async () => {
  assert.deepEqual(await roundTripIn(''), [{ loaded: 'from disk' }]);
});

test('init() takes a path or a file: URL under Node', async () => {
  assert.deepEqual(await roundTripIn('process.env.WASM_PATH'), [{ loaded: 'from disk' }]);
  const url = 'new URL("file://" + process.env.WASM_PATH)';
  assert.deepEqual(await roundTripIn(url), [{ loaded: 'from disk' }]);
});

async function rejectsWithLoad(promise, ...phrases) {
  const error = await promise.then(
    () => assert.fail('init should have failed'),
    (e) => e,
  );
  assert.ok(error instanceof Error, String(error));
  assert.equal(error.kind, 'load', error.message);
  for (const phrase of phrases) assert.match(error.message, phrase);
  return error;
}

test('bytes that are not WebAssembly are a load error naming what came instead', async () => {
  const { init } = await fresh();
  const html = new TextEncoder().encode('<!doctype html><html><body>app</body></html>');
  await rejectsWithLoad(init(html), /HTML page/, /optimizeDeps: \{ exclude: \['jsocket-wasm'\] \}/);
  await rejectsWithLoad(init(new Uint8Array([1, 2, 3, 4, 5])), /not a WebAssembly module/, /01 02 03 04/);
  await rejectsWithLoad(init(new Uint8Array()), /begins with nothing/);
  // The right magic number, then garbage: the compiler's complaint, and what to check.
  const broken = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff]);
  await rejectsWithLoad(init(broken), /does not load/, /same jsocket-wasm version/);
});

test('a missing file is a load error naming the path', async () => {
  const { init } = await fresh();
  await rejectsWithLoad(init(join(pkgDir, 'missing.wasm')), /cannot read/, /missing\.wasm/);
  await rejectsWithLoad(init('file://elsewhere/jsocket_wasm_bg.wasm'), /cannot read/, /file:\/\/elsewhere/);
});

test('over HTTP: a 404, an HTML fallback page and no server are load errors; a good answer loads', async (t) => {
  const wasm = readFileSync(wasmPath);
  const server = createServer((req, res) => {
    if (req.url === '/jsocket_wasm_bg.wasm') {
      // Not served as application/wasm: still loads (the bytes are checked, not the type).
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(wasm);
    } else if (req.url === '/spa/jsocket_wasm_bg.wasm') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><div id="app"></div>');
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.address().port}`;

  const { init } = await fresh();
  await rejectsWithLoad(init(`${base}/nothing.wasm`), /HTTP 404/, /nothing\.wasm/, /Use it with your bundler/);
  await rejectsWithLoad(init(new URL(`${base}/spa/jsocket_wasm_bg.wasm`)), /HTML page \(served as text\/html\)/, /optimizeDeps/);
  // A port with nothing listening: the fetch itself fails.
  const closed = createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address();
  await new Promise((resolve) => closed.close(resolve));
  await rejectsWithLoad(init(`http://127.0.0.1:${port}/jsocket_wasm_bg.wasm`), /cannot fetch/);

  // After failures, the same instance loads from a good source.
  await init(`${base}/jsocket_wasm_bg.wasm`);
  const { encode, Decoder } = await import(`${indexUrl}?instance=${instances}`);
  assert.deepEqual(new Decoder().push(encode([1, 'two'])), [[1, 'two']]);
});
