// End-to-end: the npm package in headless Chromium (Debian's /usr/bin/chromium via
// playwright-core) exchanging messages over a real WebSocket with the native echo server.
// Usage: node echo.mjs <package dir> <npm tools dir> <ws url>  (wasm/test.sh runs it)

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const [pkgDir, toolsDir, wsUrl] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));

const types = { '.js': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm' };
const http = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const file = path.startsWith('/pkg/') ? join(pkgDir, path.slice(5).replaceAll('..', '')) : join(here, 'page.html');
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));

const browser = await launchChromium(toolsDir);
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e));
  await page.goto(`http://127.0.0.1:${http.address().port}/page.html`);
  await page.waitForFunction(() => window.ready === true);
  const seen = await page.evaluate((url) => window.exchange(url), wsUrl);

  assert.deepEqual(seen.hello, { client: 'browser-1', op: 'hello', n: [1, 2, 3] });
  assert.deepEqual(seen.stream, Array.from({ length: 200 }, (_, i) => ({ i, text: 'é✓🙂' })));
  assert.equal(seen.bigEchoed, true);
  assert.equal(seen.stats.messages_in, 1);
  assert.equal(seen.stats.messages_out, 1);
  assert.equal(seen.stats.dialect, 'v2');
  assert.ok(seen.stats.bytes_in > 1 << 20);
  assert.equal(seen.closed.reason, 'local');
  assert.equal(seen.isOpen, false);
  assert.deepEqual(pageErrors, []);
  console.log('end-to-end against the native server: ok');
} finally {
  await browser.close();
  http.close();
}
