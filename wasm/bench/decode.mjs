// Runs page.js in headless Chromium (Debian's /usr/bin/chromium via playwright-core) and prints
// the decode throughput table, then, given a WebSocket URL of an echo server, the browser's
// round trips to it. Usage: wasm/bench/run.sh (builds the package and starts the server).

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, extname, normalize } from 'node:path';
import { launchChromium } from '../tests/e2e/chromium.mjs';

const [pkgDir, toolsDir, benchDir, wsUrl] = process.argv.slice(2);

const types = { '.js': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
  const file = path.startsWith('/pkg/') ? join(pkgDir, path.slice(5)) : join(benchDir, path);
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      // Cross-origin isolation: performance.now() in 5 µs steps rather than 100 µs.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/page.html`;

const browser = await launchChromium(toolsDir);
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(url);
  await page.waitForFunction(() => window.benchmarkReady === true);
  const results = await page.evaluate(() => window.runBenchmark());
  console.log(`Chromium ${browser.version()}`);
  console.table(results);
  console.log(JSON.stringify(results));
  if (wsUrl) {
    const rtt = await page.evaluate((url) => window.roundTrips(url), wsUrl);
    console.log(`browser round trips over WebSocket to ${wsUrl}`);
    console.table(rtt);
    console.log(JSON.stringify(rtt));
  }
} finally {
  await browser.close();
  server.close();
}
