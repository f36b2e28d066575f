// Tests of the npm package (the built target/npm/jsocket-wasm) under Node: the codec against the
// repository's wire vectors, the joining of small payloads, error kinds, and JsonSocket over a fake WebSocket.
// Run by wasm/test.sh; JSOCKET_PKG names the package directory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FakeWebSocket } from './fake_websocket.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const pkgDir = process.env.JSOCKET_PKG ?? join(root, 'target', 'npm', 'jsocket-wasm');
const vectorsDir = join(root, 'tests', 'vectors');

globalThis.WebSocket = FakeWebSocket;
const jsocket = await import(pathToFileURL(join(pkgDir, 'index.js')).href);
const { init, encode, Decoder, JsonSocket } = jsocket;
await init(readFileSync(join(pkgDir, 'jsocket_wasm_bg.wasm')));

const hex = (s) => Uint8Array.from(s.match(/../g), (b) => parseInt(b, 16));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const dialectOf = { 'jsocket-2.0.3.tsv': 'v2', 'jsocket-1.9.6.tsv': 'v1', 'jsocket-1.0-le.tsv': 'v1-le' };
const vectors = readdirSync(vectorsDir)
  .filter((f) => f.endsWith('.tsv'))
  .map((file) => ({
    file,
    dialect: dialectOf[file],
    cases: readFileSync(join(vectorsDir, file), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const [json, frame] = l.split('\t');
        return { json, value: JSON.parse(json), frame: hex(frame) };
      }),
  }));

/** v2 frame of an arbitrary payload text, CRC from the package's own encoder of valid JSON. */
function frameOf(text, dialect = 'v1') {
  const payload = new TextEncoder().encode(text);
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, dialect !== 'v1-le' ? false : true);
  out.set(payload, 4);
  return out;
}

test('vectors decode whole, byte by byte and all together', () => {
  assert.ok(vectors.length >= 3);
  for (const { file, dialect, cases } of vectors) {
    assert.ok(dialect, `dialect of ${file}`);
    for (const { json, value, frame } of cases) {
      assert.deepEqual(new Decoder({ dialect }).push(frame), [value], `${file} ${json}`);
      const bytewise = new Decoder();
      const got = [];
      for (const b of frame) got.push(...bytewise.push(frame.subarray(0, 0)), ...bytewise.push(Uint8Array.of(b)));
      assert.deepEqual(got, [value], `${file} ${json} byte by byte`);
    }
    const all = concat(...cases.map((c) => c.frame));
    assert.deepEqual(new Decoder().push(all), cases.map((c) => c.value), file);
  }
});

test('encode then decode gives the value back in every dialect', () => {
  for (const { dialect, cases } of vectors) {
    for (const { value } of cases) {
      const frame = encode(value, dialect);
      assert.deepEqual(new Decoder({ dialect }).push(frame), [value]);
    }
  }
  // v2 frames of the vectors' exact payload text are byte-identical to the captured ones.
  const v2 = vectors.find((v) => v.dialect === 'v2');
  for (const { value, frame, json } of v2.cases) {
    if (JSON.stringify(value) === json) assert.deepEqual(encode(value, 'v2'), frame);
  }
  assert.deepEqual([...encode(42, 'v2')], [...hex('4a534e31000000023224b088'), 0x34, 0x32]);
});

test('runs of small frames join; frames that are not one value each never do', () => {
  const values = Array.from({ length: 500 }, (_, i) => ({ i, s: 'x'.repeat(i % 50), a: [i, null, true] }));
  const wire = concat(...values.map((v) => encode(v, 'v1')));
  assert.deepEqual(new Decoder().push(wire), values);
  // Each of these passes its framing, yet joined they would parse as three values.
  const d = new Decoder();
  const tricky = concat(frameOf('1'), frameOf('1,2'), frameOf('[3'), frameOf('4]'), frameOf('5'));
  const seen = [];
  let rest = tricky;
  for (;;) {
    try {
      seen.push(...d.push(rest));
      break;
    } catch (e) {
      assert.equal(e.kind, 'invalid_json');
      seen.push(...e.values, 'bad');
      rest = undefined;
    }
  }
  assert.deepEqual(seen, [1, 'bad', 'bad', 'bad', 5]);
});

test('a bad payload inside an intact frame costs only that message', () => {
  const d = new Decoder();
  const wire = concat(frameOf('{"a":1}'), frameOf('{"a":'), frameOf('{"a":3}'));
  let error;
  try {
    d.push(wire);
  } catch (e) {
    error = e;
  }
  assert.equal(error.kind, 'invalid_json');
  assert.ok(error instanceof Error);
  assert.deepEqual(error.values, [{ a: 1 }]);
  assert.deepEqual(d.push(), [{ a: 3 }]);
  // `__proto__` stays a plain key, as JSON.parse makes it.
  const [obj] = new Decoder().push(frameOf('{"__proto__": {"polluted": 1}}'));
  assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  assert.equal({}.polluted, undefined);
});

test('with no size given, the limit is the core default, DEFAULT_MAX_MESSAGE_SIZE', () => {
  const { DEFAULT_MAX_MESSAGE_SIZE } = jsocket;
  const header = (len) => concat(new TextEncoder().encode('JSN1'), Uint8Array.of(len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, 0, 0, 0, 0));
  // A frame of exactly the limit is awaited; one byte more is refused from its header.
  const atLimit = new Decoder();
  assert.deepEqual(atLimit.push(header(DEFAULT_MAX_MESSAGE_SIZE)), []);
  assert.equal(atLimit.buffered, 12);
  assert.throws(() => new Decoder().push(header(DEFAULT_MAX_MESSAGE_SIZE + 1)), { kind: 'oversize' });
  assert.throws(() => new Decoder({ maxMessageSize: 0 }), { kind: 'options' });
});

test('framing errors carry the core error kind and stay', () => {
  const good = encode({ ok: 1 }, 'v2');
  const bad = encode({ ok: 2 }, 'v2');
  bad[bad.length - 2] ^= 1;
  const d = new Decoder();
  assert.throws(() => d.push(concat(good, bad)), (e) => e.kind === 'bad_crc' && e.values[0].ok === 1);
  assert.throws(() => d.push(good), (e) => e.kind === 'bad_crc');
  assert.throws(() => new Decoder().push(new TextEncoder().encode('GET / HTTP/1.1\r\n')), { kind: 'bad_header' });
  assert.throws(() => new Decoder({ maxMessageSize: 10 }).push(encode('x'.repeat(20), 'v2')), { kind: 'oversize' });
  assert.throws(() => new Decoder({ dialect: 'v2' }).push(encode('x'.repeat(20), 'v1')), { kind: 'bad_header' });
  // Invalid UTF-8 in a v1 frame.
  assert.throws(() => new Decoder().push(Uint8Array.of(0, 0, 0, 3, 0x22, 0xff, 0x22)), { kind: 'invalid_utf8' });
  const partial = new Decoder();
  partial.push(good.subarray(0, 5));
  assert.equal(partial.buffered, 5);
  assert.throws(() => partial.finish(), { kind: 'framing' });
  assert.throws(() => encode(1n), { kind: 'serialize' });
  assert.throws(() => encode(undefined), { kind: 'serialize' });
  assert.throws(() => encode('x'.repeat(20), 'v2', 10), { kind: 'oversize' });
  assert.throws(() => encode(1, 'v3'), { kind: 'options' });
});

// --- JsonSocket over the fake WebSocket -------------------------------------------------------

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const server = () => FakeWebSocket.instances.at(-1);
const frames = (ws, dialect = 'v2') => {
  const d = new Decoder({ dialect });
  return ws.sent.flatMap((bytes) => d.push(bytes));
};

test('connect, send, request, onmessage and stats', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', { dialect: 'auto' });
  const ws = server();
  assert.equal(ws.binaryType, 'arraybuffer');
  socket.send({ hello: 'world' });
  assert.deepEqual(frames(ws), [{ hello: 'world' }]);
  const reply = socket.request({ op: 'ping' });
  ws.deliver(encode({ op: 'pong' }, 'v1'));
  assert.deepEqual(await reply, { op: 'pong' });
  // The peer spoke v1: replies now go out in v1.
  socket.send('after');
  assert.deepEqual(new Decoder({ dialect: 'v1' }).push(ws.sent.at(-1)), ['after']);
  const got = [];
  socket.onmessage = (m) => got.push(m);
  ws.deliver(concat(encode(1, 'v1'), encode([2], 'v1'), encode({ three: 3 }, 'v1')));
  assert.deepEqual(got, [1, [2], { three: 3 }]);
  const stats = socket.stats();
  // The core's schema, tagged as the native server's statistics are.
  assert.equal(stats.$jsocket, 'stats');
  assert.equal(stats.scope, 'connection');
  assert.equal(stats.messages_in, 4);
  assert.equal(stats.messages_out, 3);
  assert.equal(stats.dialect, 'v1');
  assert.equal(stats.failures.bad_crc, 0);
  assert.throws(() => socket.send(() => 1), { kind: 'serialize' });
  const closed = new Promise((r) => (socket.onclose = r));
  socket.close();
  assert.deepEqual(await closed, { reason: 'local', error: null, willReconnect: false });
  assert.equal(ws.closedWith, 1000);
  assert.throws(() => socket.send(1), { kind: 'closed' });
  await assert.rejects(socket.request(1), { kind: 'closed' });
});

test('async iteration ends when the peer closes; pending requests are rejected', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/');
  const ws = server();
  ws.deliver(concat(encode('a', 'v2'), encode('b', 'v2')));
  const seen = [];
  const done = (async () => {
    for await (const m of socket) seen.push(m);
  })();
  await tick();
  ws.deliver(encode('c', 'v2'));
  const pending = socket.request('q');
  const closed = new Promise((r) => (socket.onclose = r));
  ws.drop(1001, 'going away');
  await done;
  assert.deepEqual(seen, ['a', 'b', 'c']);
  await assert.rejects(pending, { kind: 'closed' });
  const info = await closed;
  assert.equal(info.reason, 'eof');
  assert.equal(info.code, 1001);
  assert.equal(info.wsReason, 'going away');
});

test('a peer that breaks the protocol is cut off with the core error kind', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', { dialect: 'v2' });
  const ws = server();
  const closed = new Promise((r) => (socket.onclose = r));
  const frame = encode({ x: 1 }, 'v2');
  frame[frame.length - 1] ^= 0x20;
  ws.deliver(frame);
  const info = await closed;
  assert.equal(info.reason, 'error');
  assert.equal(info.error.kind, 'bad_crc');
  assert.equal(ws.closedWith, 4002);
  assert.equal(socket.stats().failures.bad_crc, 1);
});

test('strict JSON closes on a bad payload; lenient reports it and goes on', async () => {
  const lenient = await JsonSocket.connect('ws://kiosk.test/');
  const ws = server();
  const errors = [];
  const got = [];
  lenient.onerror = (e) => errors.push(e.kind);
  lenient.onmessage = (m) => got.push(m);
  ws.deliver(concat(frameOf('1'), frameOf('{nope'), frameOf('3')));
  assert.deepEqual(got, [1, 3]);
  assert.deepEqual(errors, ['invalid_json']);
  assert.equal(lenient.stats().failures.invalid_json, 1);
  lenient.close();

  const strict = await JsonSocket.connect('ws://kiosk.test/', { strictJson: true });
  const ws2 = server();
  const got2 = [];
  strict.onmessage = (m) => got2.push(m);
  const closed = new Promise((r) => (strict.onclose = r));
  ws2.deliver(concat(frameOf('1'), frameOf('{nope'), frameOf('3')));
  const info = await closed;
  assert.deepEqual(got2, [1]);
  assert.equal(info.error.kind, 'invalid_json');
});

test('the core frame timeout closes a stalled frame', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', { timeouts: { frame: 30 } });
  const ws = server();
  const closed = new Promise((r) => (socket.onclose = r));
  ws.deliver(encode({ slow: true }, 'v2').subarray(0, 7));
  const info = await closed;
  assert.equal(info.error.kind, 'timeout');
});

test('sends keep a connection from idling out; idle then closes it, as no error', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', { timeouts: { idle: 300 }, reconnect: false });
  const ws = server();
  let closedAt = null;
  const closed = new Promise((r) => (socket.onclose = (info) => r(info)));
  closed.then(() => (closedAt = performance.now()));
  const start = performance.now();
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    socket.send({ push: i });
  }
  assert.equal(closedAt, null, 'closed while sending');
  assert.equal(frames(ws).length, 5);
  const info = await closed;
  assert.ok(closedAt - start >= 500 + 300 - 5, `closed after ${closedAt - start} ms`);
  assert.equal(info.reason, 'idle');
  assert.equal(info.error, null);
  // The core's WebSocket binding: the idle code, as the native server sends it.
  assert.equal(ws.closedWith, 4000);
  assert.equal(socket.stats().failures.timeout, 0, 'idle is no one\'s error');
});

test('a text message is refused with the binding\'s code, as the native server refuses it', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', { dialect: 'v2' });
  const ws = server();
  const closed = new Promise((r) => (socket.onclose = r));
  ws.deliverText('{"x": 1}');
  const info = await closed;
  assert.equal(info.reason, 'error');
  assert.equal(info.error.kind, 'bad_header');
  assert.equal(ws.closedWith, 4003);
  assert.equal(info.sendCode, undefined, 'no internal field reaches the page');
});

test('oversize sends are refused locally; the connection goes on', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', { maxMessageSize: 16 });
  const ws = server();
  assert.throws(() => socket.send('x'.repeat(100)), { kind: 'oversize' });
  socket.send('ok');
  assert.deepEqual(frames(ws), ['ok']);
  socket.close();
});

test('connect failures reject with kind connect; bad options with kind options', async () => {
  FakeWebSocket.refuse = true;
  try {
    await assert.rejects(JsonSocket.connect('ws://nowhere.test/'), { kind: 'connect' });
  } finally {
    FakeWebSocket.refuse = false;
  }
  await assert.rejects(JsonSocket.connect('http:/x'), { kind: 'connect' });
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { dialect: 'v9' }), { kind: 'options' });
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { timeouts: { idle: -1 } }), { kind: 'options' });
  // Zero is no way to say "never" (null is): the core refuses it, as the native side does.
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { timeouts: { frame: 0 } }), {
    kind: 'options',
    message: /^timeouts\.frame is zero/,
  });
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { maxMessageSize: 0 }), { kind: 'options' });
});

test('options left out are the core profile for a page: a frame timeout, reconnection when asked', async () => {
  assert.deepEqual(jsocket.defaults(), {
    dialect: 'auto',
    maxMessageSize: jsocket.DEFAULT_MAX_MESSAGE_SIZE,
    timeouts: { idle: null, frame: 30000 },
    strictJson: false,
    reconnect: false,
    reconnectOptions: { initialDelay: 250, maxDelay: 10000, factor: 2, maxAttempts: Infinity },
  });
  // A socket with no options does not come back after a drop.
  const socket = await JsonSocket.connect('ws://kiosk.test/');
  const closed = new Promise((r) => (socket.onclose = r));
  server().drop(1006);
  const info = await closed;
  assert.equal(info.reason, 'eof');
  assert.equal(info.willReconnect, false);
});

test('reconnects with backoff after the peer drops, then works again', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/', {
    reconnect: { initialDelay: 5, maxDelay: 20 },
  });
  const first = server();
  const closes = [];
  socket.onclose = (info) => closes.push(info);
  const reopened = new Promise((r) => (socket.onopen = r));
  first.drop(1006);
  assert.equal(closes[0].willReconnect, true);
  assert.throws(() => socket.send(1), { kind: 'closed' });
  await reopened;
  const second = server();
  assert.notEqual(first, second);
  const reply = socket.request('again');
  assert.deepEqual(frames(second), ['again']);
  second.deliver(encode('yes', 'v2'));
  assert.equal(await reply, 'yes');
  socket.close();
  assert.equal(closes.at(-1).reason, 'local');
  assert.equal(closes.at(-1).willReconnect, false);
});

test('reconnection follows the core schedule: its options checked there, its attempts counted', async () => {
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { reconnect: { initialDelay: 0 } }), {
    kind: 'options',
    message: /^reconnect\.initialDelay is zero/,
  });
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { reconnect: { initialDelay: 50, maxDelay: 10 } }), {
    kind: 'options',
    message: /^reconnect\.maxDelay must be/,
  });
  await assert.rejects(JsonSocket.connect('ws://kiosk.test/', { reconnect: { factor: 0.5 } }), { kind: 'options' });
  const socket = await JsonSocket.connect('ws://kiosk.test/', {
    reconnect: { initialDelay: 5, maxDelay: 5, maxAttempts: 1 },
  });
  server();
  const closes = [];
  const gaveUp = new Promise((r) => {
    socket.onclose = (info) => {
      closes.push(info);
      if (!info.willReconnect) r();
    };
  });
  FakeWebSocket.refuse = true;
  try {
    FakeWebSocket.instances.at(-1).drop(1006);
    await gaveUp;
  } finally {
    FakeWebSocket.refuse = false;
  }
  // One reconnection was tried and failed; then it gave up.
  assert.deepEqual(
    closes.map((c) => c.willReconnect),
    [true, false],
  );
  assert.equal(closes[1].error.kind, 'connect');
});

test('handlers may send and close from inside onmessage', async () => {
  const socket = await JsonSocket.connect('ws://kiosk.test/');
  const ws = server();
  const got = [];
  socket.onmessage = (m) => {
    got.push(m);
    socket.send({ echo: m });
    if (m === 2) socket.close();
  };
  const closed = new Promise((r) => (socket.onclose = r));
  ws.deliver(concat(encode(1, 'v2'), encode(2, 'v2'), encode(3, 'v2')));
  assert.equal((await closed).reason, 'local');
  assert.deepEqual(got, [1, 2]);
  assert.deepEqual(frames(ws), [{ echo: 1 }, { echo: 2 }]);
  assert.equal(socket.stats().messages_out, 2);
});

test('large chunks and messages go through in bounded slices', async () => {
  const values = Array.from({ length: 3000 }, (_, i) => ({ i, pad: 'p'.repeat(i % 300) }));
  const big = { text: 'z'.repeat(300000) };
  const wire = concat(...values.map((v) => encode(v, 'v2')), encode(big, 'v2'), encode('end', 'v2'));
  assert.ok(wire.length > 4 * 64 * 1024);
  assert.deepEqual(new Decoder().push(wire), [...values, big, 'end']);

  const socket = await JsonSocket.connect('ws://kiosk.test/');
  const ws = server();
  const got = [];
  socket.onmessage = (m) => got.push(m);
  ws.deliver(wire);
  assert.deepEqual(got, [...values, big, 'end']);
  // A text message is not frames: its bytes reach the core, which refuses them.
  const closed = new Promise((r) => (socket.onclose = r));
  ws.onmessage({ data: 'hello, not a frame' });
  assert.equal((await closed).error.kind, 'bad_header');
  socket.close();
});
