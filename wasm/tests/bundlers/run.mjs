// The packed package in a web developer's own toolchain, following its README: the README's
// examples typechecked with `tsc --strict`, then built with Vite, with esbuild (ES module and
// classic script) and with webpack (production and development), served by the native server and loaded in headless Chromium, each receiving
// its echo; the Node example run under Node; the Vite dev server (a page on `localhost`
// connecting to `127.0.0.1`) with the README's config, and without it the `load` error that
// names the fix.
// Usage: node run.mjs <app dir with node_modules> <native binary> <npm tools dir>
// (wasm/tests/bundlers/test.sh prepares the app directory and runs it).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { launchChromium } from '../e2e/chromium.mjs';

const [app, nativeBin, toolsDir] = process.argv.slice(2);
const run = promisify(execFile);
const bin = (name) => join(app, 'node_modules', '.bin', name);
const pkg = join(app, 'node_modules', 'jsocket-wasm');
const README_URL = 'ws://127.0.0.1:5489/';
const children = [];

/** The README's examples, by the name in the `<!-- example: NAME -->` line before each. */
async function readmeExamples() {
  const readme = await readFile(join(pkg, 'README.md'), 'utf8');
  const examples = {};
  for (const [, name, code] of readme.matchAll(/<!-- example: ([\w.]+) -->\n```ts\n([\s\S]*?)```/g)) {
    examples[name] = code;
  }
  for (const name of ['main', 'iife', 'node', 'vite.config']) {
    assert.ok(examples[name], `the README has no example "${name}"`);
  }
  for (const name of ['main', 'iife']) {
    assert.ok(examples[name].includes(README_URL), `the "${name}" example connects to ${README_URL}`);
  }
  return examples;
}

/**
 * Starts `native serve` on a free loopback port, serving `webRoot`; resolves with its port and
 * a function that returns its log so far.
 */
function serve(webRoot) {
  const child = spawn(nativeBin, ['serve', '--bind', '127.0.0.1', '--port', '0', '--web', webRoot], {
    env: { ...process.env, RUST_LOG: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (found) resolve({ port: Number(found[1]), log: () => log });
    });
    child.on('exit', (code) => reject(new Error(`native serve exited (${code}):\n${log}`)));
  });
}

/**
 * Opens `url` in a fresh page and waits until `done(lines)` holds, where `lines` are the
 * page's console messages (each the JSON values of its arguments) and uncaught errors (as
 * `['pageerror', message]`). Returns the lines.
 */
async function visit(browser, url, done) {
  const page = await browser.newPage();
  const lines = [];
  let reading = Promise.resolve();
  page.on('console', (msg) => {
    reading = reading.then(async () => lines.push(await Promise.all(msg.args().map((a) => a.jsonValue()))));
  });
  page.on('pageerror', (error) => lines.push(['pageerror', error.message]));
  try {
    await page.goto(url);
    const deadline = Date.now() + 30_000;
    for (;;) {
      await reading;
      if (done(lines)) return lines;
      if (Date.now() > deadline) assert.fail(`${url}: gave up waiting; the page said ${JSON.stringify(lines)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await page.close();
  }
}

const said = (lines, first) => lines.find((line) => line[0] === first);

/** The README's main example, as it logs against the echo server. */
async function mainExampleEchoes(browser, url) {
  const lines = await visit(browser, url, (l) => said(l, 'message:') || said(l, 'pageerror'));
  assert.deepEqual(said(lines, 'reply:'), ['reply:', { client: 'kiosk-1', op: 'hello' }, 'messages in:', 1], url);
  assert.deepEqual(said(lines, 'message:'), ['message:', { op: 'ping' }], url);
  assert.equal(said(lines, 'pageerror'), undefined, url);
}

async function main() {
  const examples = await readmeExamples();
  const viteDist = join(app, 'dist');
  // The other bundles, each in a directory of its own, come from a second server.
  const otherDist = join(app, 'dist-other');
  const esbuildDist = join(otherDist, 'esbuild');
  await mkdir(viteDist, { recursive: true });
  await mkdir(esbuildDist, { recursive: true });
  const { port, log: serverLog } = await serve(viteDist);
  const { port: otherPort } = await serve(otherDist);
  // Every page talks to the first server; the pages of the second come from another port.
  const wsUrl = `ws://127.0.0.1:${port}/`;

  await mkdir(join(app, 'src'), { recursive: true });
  for (const name of ['main', 'iife', 'node']) {
    await writeFile(join(app, 'src', `${name}.ts`), examples[name].replaceAll(README_URL, wsUrl));
  }
  await writeFile(join(app, 'vite.config.ts'), examples['vite.config']);
  await copyFile(join(app, 'vite', 'index.html'), join(app, 'index.html'));

  await run(bin('tsc'), ['--strict', '-p', join(app, 'tsconfig.json')], { cwd: app });
  console.log('the README examples typecheck with tsc --strict');

  await run(bin('vite'), ['build'], { cwd: app });
  await run(bin('esbuild'), ['src/main.ts', '--bundle', '--format=esm', `--outfile=${esbuildDist}/app.js`], { cwd: app });
  await run(bin('esbuild'), ['src/iife.ts', '--bundle', '--format=iife', `--outfile=${esbuildDist}/app-iife.js`], {
    cwd: app,
  });
  await copyFile(join(pkg, 'jsocket_wasm_bg.wasm'), join(esbuildDist, 'jsocket_wasm_bg.wasm'));
  for (const page of ['index.html', 'iife.html']) {
    await copyFile(join(app, 'esbuild', page), join(esbuildDist, page));
  }

  // webpack 5 with no configuration but the entry: the README's example, types stripped.
  await run(bin('esbuild'), ['src/main.ts', '--format=esm', '--outfile=build/main.js'], { cwd: app });
  const webpack = createRequire(join(app, 'package.json'))('webpack');
  for (const mode of ['production', 'development']) {
    const out = join(otherDist, `webpack-${mode}`);
    const stats = await promisify(webpack)({
      mode,
      context: app,
      entry: './build/main.js',
      output: { path: out, filename: 'main.js', clean: true },
    });
    assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
    await writeFile(join(out, 'index.html'), '<!doctype html>\n<script src="main.js"></script>\n');
  }

  // Node: the README's example, as Node runs it (types stripped by esbuild, nothing bundled).
  await run(bin('esbuild'), ['src/node.ts', '--format=esm', '--platform=node', '--outfile=node-example.mjs'], {
    cwd: app,
  });
  const { stdout } = await run(process.execPath, [join(app, 'node-example.mjs')], { cwd: app });
  assert.equal(stdout.trim(), "[ { op: 'ping' } ]");
  console.log('the Node example runs');

  // A name of our own for this machine, as a foreign site's page would have one.
  const browser = await launchChromium(toolsDir, ['--host-resolver-rules=MAP foreign.test 127.0.0.1']);
  try {
    await mainExampleEchoes(browser, `http://127.0.0.1:${port}/`);
    console.log('Vite build, served by the native server: echo received');
    // The same page from a foreign origin is refused, and the error says what to check.
    const foreign = await visit(browser, `http://foreign.test:${port}/`, (l) => said(l, 'pageerror'));
    assert.match(
      said(foreign, 'pageerror')[1],
      new RegExp(`did not open: .* accepts pages of http://foreign\\.test:${port} \\(its log names`),
    );
    const warning = `refused a WebSocket from a page of origin http://foreign.test:${port} `;
    const deadline = Date.now() + 5000;
    while (!serverLog().includes(warning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const line = serverLog().split('\n').find((l) => l.includes(warning)) ?? assert.fail(serverLog());
    assert.match(line, new RegExp(`WARN .*--allow-origin http://foreign\\.test:${port}$`));
    console.log('the same page from a foreign origin: refused, the error says to check the origin, the log names it');
    await mainExampleEchoes(browser, `http://127.0.0.1:${otherPort}/esbuild/index.html`);
    console.log('esbuild ES module bundle: echo received');
    const iife = await visit(browser, `http://127.0.0.1:${otherPort}/esbuild/iife.html`, (l) => l.length > 0);
    assert.deepEqual(iife, [['reply:', { op: 'hello', from: 'a classic script' }]]);
    console.log('esbuild classic script (IIFE): echo received');
    for (const mode of ['production', 'development']) {
      await mainExampleEchoes(browser, `http://127.0.0.1:${otherPort}/webpack-${mode}/index.html`);
      console.log(`webpack ${mode} build: echo received`);
    }

    const { createServer } = await import(pathToFileURL(join(app, 'node_modules', 'vite', 'dist', 'node', 'index.js')).href);
    const dev = async (options) => {
      const server = await createServer({
        root: app,
        logLevel: 'silent',
        server: { host: 'localhost', port: 0, strictPort: false },
        ...options,
      });
      await server.listen();
      return server;
    };
    // Without the README's config, Vite 7's dependency optimizer moves the JavaScript away from
    // the .wasm: the error says what to add.
    await rm(join(app, 'node_modules', '.vite'), { recursive: true, force: true });
    let server = await dev({ configFile: false });
    try {
      const url = server.resolvedUrls.local[0];
      assert.match(url, /^http:\/\/localhost:\d+\/$/);
      const lines = await visit(browser, url, (l) => said(l, 'pageerror'));
      assert.match(said(lines, 'pageerror')[1], /HTML page.*optimizeDeps: \{ exclude: \['jsocket-wasm'\] \}/s);
    } finally {
      await server.close();
    }
    console.log('Vite dev server without the config: the load error names optimizeDeps.exclude');
    // With it, a page on localhost reaches the native server on 127.0.0.1.
    server = await dev({ configFile: join(app, 'vite.config.ts') });
    try {
      await mainExampleEchoes(browser, server.resolvedUrls.local[0]);
    } finally {
      await server.close();
    }
    console.log('Vite dev server on localhost with the README config: echo received from 127.0.0.1');
  } finally {
    await browser.close();
  }
}

try {
  await main();
} finally {
  for (const child of children) child.kill();
}
