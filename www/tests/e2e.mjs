// End-to-end test of the exhibit: two Chromium pages loaded from the native server and a Python
// jsocket client share the live room; each page must show the others' messages, round-trip
// times and statistics. Run by www/test.sh, which builds everything and starts the server.
//
// Environment: EXHIBIT_URL (the server, e.g. http://127.0.0.1:5489/), PYTHON (a python with
// jsocket 2.x), SCREENSHOT (where to save the picture), CHROMIUM (default /usr/bin/chromium).
//
// Every wait below is a condition with a generous limit (a stuck test fails instead of
// hanging), never a measurement.

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const WAIT_MS = 30_000;
const here = dirname(fileURLToPath(import.meta.url));
const base = new URL(need('EXHIBIT_URL'));
const python = need('PYTHON');
const screenshot = need('SCREENSHOT');

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

/** Waits until `fn(arg)` is truthy in the page; on failure says what and shows the page. */
async function waitIn(page, what, fn, arg) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 });
  } catch (error) {
    const text = await page.evaluate(() => document.body.innerText).catch(() => '(page gone)');
    throw new Error(`${page.label}: gave up waiting for ${what}\n--- page text ---\n${text}\n---\n${error.message}`);
  }
}

/** Waits for a chat line from `from` whose text contains `text`. */
function waitForChat(page, from, text) {
  return waitIn(
    page,
    `a chat message from ${from} saying "${text}"`,
    ([from, text]) =>
      [...document.querySelectorAll('#log li.msg[data-kind="chat"]')].some(
        (li) => li.dataset.from === from && li.querySelector('.text').textContent.includes(text),
      ),
    [from, text],
  );
}

function startPython(port) {
  const child = spawn(
    python,
    [join(here, 'room_peer.py'), '--port', String(port), '--name', 'python',
      '--expect', 'ada', '--expect', 'grace', '--hold'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

async function openPage(context, name, problems) {
  const page = await context.newPage();
  page.label = `page ${name}`;
  page.on('pageerror', (error) => problems.push(`${name}: page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${name}: ${response.status()} for ${response.url()}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${name}: console error: ${msg.text()}`);
  });
  const url = new URL(base);
  url.searchParams.set('name', name);
  const response = await page.goto(url.href);
  check(response?.ok(), `${url.href} loads (status ${response?.status()})`);
  await waitIn(page, 'the connection to open', () => document.querySelector('#status').textContent === 'connected');
  return page;
}

async function say(page, text) {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const problems = [];
  let py = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const ada = await openPage(context, 'ada', problems);
    const grace = await openPage(context, 'grace', problems);

    py = startPython(base.port);
    for (const page of [ada, grace]) {
      await waitForChat(page, 'python', 'hello from Python jsocket');
    }
    await say(ada, 'hello from ada');
    await say(grace, 'hello from grace');
    // Ada draws a stroke across the shared canvas.
    const box = await ada.locator('#canvas').boundingBox();
    await ada.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.8);
    await ada.mouse.down();
    for (let i = 1; i <= 20; i++) {
      await ada.mouse.move(box.x + box.width * (0.1 + 0.04 * i), box.y + box.height * (0.8 - 0.03 * i));
      await ada.waitForTimeout(25);
    }
    await ada.mouse.up();

    for (const [page, me, other] of [[ada, 'ada', 'grace'], [grace, 'grace', 'ada']]) {
      await waitForChat(page, other, `hello from ${other}`);
      await waitForChat(page, 'python', 'python saw ada and grace');
      // Its own message came back through the room, with its round trip.
      await waitIn(
        page,
        'its own message with a round-trip time',
        (me) =>
          [...document.querySelectorAll('#log li.mine[data-kind="chat"]')].some(
            (li) => li.dataset.from === me && /↻ \d+(\.\d+)? ms/.test(li.querySelector('.rtt')?.textContent ?? ''),
          ),
        me,
      );
      // Others' messages carry their sender's echo round trip (Python's too).
      await waitIn(
        page,
        "python's round trip on its message",
        () =>
          [...document.querySelectorAll('#log li.msg[data-from="python"][data-kind="chat"] .rtt')].some((el) =>
            /their echo \d+(\.\d+)? ms/.test(el.textContent),
          ),
      );
      await waitIn(page, 'an echo round trip', () =>
        /^\d+(\.\d+)? ms$/.test(document.querySelector('#rtt-last').textContent) &&
        Number(document.querySelector('#rtt-count').textContent) >= 2,
      );
      // The connection's statistics (the core's) and the server's: three clients, one of them
      // over TCP from Python, each named.
      await waitIn(page, "this connection's statistics", () =>
        Number(document.querySelector('#st-msg-in').textContent) > 3 &&
        Number(document.querySelector('#st-msg-out').textContent) > 3 &&
        document.querySelector('#st-dialect').textContent === 'v2',
      );
      await waitIn(page, 'the server statistics with all three clients', () => {
        const names = [...document.querySelectorAll('#clients tbody tr')].map((tr) => tr.children[1].textContent);
        return document.querySelector('#srv-connections').textContent === '3' &&
          ['ada', 'grace', 'python'].every((n) => names.includes(n));
      });
      // Python's ring of 36 dots and Ada's stroke.
      await waitIn(page, 'the shared canvas with dots from two participants', () =>
        Number(document.querySelector('#dot-count').textContent) > 36 &&
        Number(document.querySelector('#dot-people').textContent) === 2,
      );
    }

    mkdirSync(dirname(screenshot), { recursive: true });
    await ada.screenshot({ path: screenshot, fullPage: true });

    py.child.stdin.end();
    const { code, stdout, stderr } = await py.done;
    check(code === 0, `the Python peer exits 0 (got ${code})\n${stderr}`);
    const summary = JSON.parse(stdout.trim().split('\n').pop());
    const heard = summary.chats.map(([from, text]) => `${from}: ${text}`);
    check(heard.includes('ada: hello from ada') && heard.includes('grace: hello from grace'),
      `Python heard both pages: ${JSON.stringify(heard)}`);
    check(typeof summary.rtt_ms === 'number' && summary.rtt_ms > 0, `Python measured a round trip: ${stdout}`);
    py = null;

    // Python left: the pages see it go.
    for (const page of [ada, grace]) {
      await waitIn(page, 'python leaving', () =>
        [...document.querySelectorAll('#log li.msg[data-kind="leave"]')].some((li) => li.dataset.from === 'python'),
      );
    }
    check(problems.length === 0, `no errors in the pages:\n${problems.join('\n')}`);
  } finally {
    if (py !== null) {
      py.child.kill();
      const { stderr } = await py.done;
      if (stderr.trim()) console.error(`python peer:\n${stderr}`);
    }
    await browser.close();
  }
}

main().catch((error) => {
  console.error(`FAILED: exhibit end-to-end: ${error.stack ?? error}`);
  process.exit(1);
});
