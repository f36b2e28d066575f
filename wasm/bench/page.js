// Decode throughput in the browser: the package's Decoder (core checks in wasm, JSON.parse in
// JS, small payloads joined) beside plain JavaScript that reads each header and calls
// JSON.parse on a TextDecoder string per frame, with and without a CRC32 check.

import { init, encode, Decoder, JsonSocket } from './pkg/index.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

// The common table-driven CRC32 (one table, a byte at a time), as JavaScript clients write it.
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}
function crc32(bytes) {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Plain JS v2 reader: whole frames per chunk (as the chunks here are), one JSON.parse each. */
function plainDecode(chunks, checkCrc) {
  let count = 0;
  for (const chunk of chunks) {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let at = 0;
    while (at < chunk.length) {
      if (view.getUint32(at) !== 0x4a534e31) throw new Error('bad magic');
      const len = view.getUint32(at + 4);
      const payload = chunk.subarray(at + 12, at + 12 + len);
      if (checkCrc && crc32(payload) !== view.getUint32(at + 8)) throw new Error('bad crc');
      const value = JSON.parse(utf8.decode(payload));
      if (value === undefined) throw new Error('unreachable');
      count++;
      at += 12 + len;
    }
  }
  return count;
}

function wasmDecode(chunks) {
  const decoder = new Decoder({ dialect: 'v2', maxMessageSize: 16 << 20 });
  let count = 0;
  for (const chunk of chunks) count += decoder.push(chunk).length;
  decoder.free();
  return count;
}

// About 100 B, 4 KiB and 1 MiB of JSON: a chat line, and a page of such lines.
// The receive path of JsonSocket, without a network: a WebSocket stand-in whose messages the
// benchmark delivers itself, straight into the package's WebSocket adapter (its onmessage).
class BenchWebSocket {
  static last = null;
  constructor(url) {
    this.url = url;
    this.bufferedAmount = 0;
    BenchWebSocket.last = this;
    setTimeout(() => this.onopen?.({}), 0);
  }
  send() {}
  close() {}
}

async function socketDecoder() {
  const real = globalThis.WebSocket;
  globalThis.WebSocket = BenchWebSocket;
  let socket;
  try {
    socket = await JsonSocket.connect('ws://bench.invalid/', { maxMessageSize: 16 << 20, timeouts: { frame: null } });
  } finally {
    globalThis.WebSocket = real;
  }
  const ws = BenchWebSocket.last;
  let count = 0;
  socket.onmessage = () => count++;
  return (chunks) => {
    count = 0;
    for (const chunk of chunks) ws.onmessage({ data: chunk.buffer });
    return count;
  };
}

function message(size, i) {
  const line = { type: 'chat', from: `kiosk-${i % 13}`, text: 'hello from the museum floor', seq: i, t: 1732550000000 + i };
  if (size === 'small') return line;
  const rows = size === '4KiB' ? 40 : 10500;
  return { type: 'history', seq: i, lines: Array.from({ length: rows }, (_, k) => ({ ...line, seq: k })) };
}

/** Frames grouped into chunks of up to 64 KiB of whole frames, as a server's writes arrive. */
function chunksOf(frames) {
  const chunks = [];
  let group = [];
  let size = 0;
  const flush = () => {
    if (group.length === 0) return;
    const chunk = new Uint8Array(size);
    let at = 0;
    for (const f of group) {
      chunk.set(f, at);
      at += f.length;
    }
    chunks.push(chunk);
    group = [];
    size = 0;
  };
  for (const f of frames) {
    if (size + f.length > 65536) flush();
    group.push(f);
    size += f.length;
  }
  flush();
  return chunks;
}

function time(fn, minMs) {
  fn(); // warm up
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    runs++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return elapsed / runs;
}

export async function run({ rounds = 7, roundMs = 250 } = {}) {
  await init();
  const results = [];
  for (const [size, n] of [['small', 20000], ['4KiB', 2000], ['1MiB', 8]]) {
    const frames = Array.from({ length: n }, (_, i) => encode(message(size, i), 'v2'));
    const bytes = frames.reduce((t, f) => t + f.length, 0);
    const chunks = chunksOf(frames);
    const socketDecode = await socketDecoder();
    if (wasmDecode(chunks) !== n || plainDecode(chunks, true) !== n || socketDecode(chunks) !== n) {
      throw new Error('count');
    }
    // Interleaved rounds, best of each: the machine's other load hits all three alike.
    const best = { wasm: Infinity, socket: Infinity, plain: Infinity, plainCrc: Infinity };
    const runs = {
      wasm: () => wasmDecode(chunks),
      socket: () => socketDecode(chunks),
      plain: () => plainDecode(chunks, false),
      plainCrc: () => plainDecode(chunks, true),
    };
    for (let round = 0; round < rounds; round++) {
      for (const [name, fn] of Object.entries(runs)) best[name] = Math.min(best[name], time(fn, roundMs));
    }
    const { wasm, socket, plain, plainCrc } = best;
    results.push({
      size,
      avgFrameBytes: Math.round(bytes / n),
      wasmMsgPerSec: Math.round((n / wasm) * 1000),
      wasmMBps: +((bytes / wasm) / 1000).toFixed(1),
      socketMsgPerSec: Math.round((n / socket) * 1000),
      plainMsgPerSec: Math.round((n / plain) * 1000),
      plainCrcMsgPerSec: Math.round((n / plainCrc) * 1000),
      vsPlain: +(plain / wasm).toFixed(2),
      vsPlainCrc: +(plainCrc / wasm).toFixed(2),
      socketVsPlain: +(plain / socket).toFixed(2),
      socketVsPlainCrc: +(plainCrc / socket).toFixed(2),
    });
  }
  return results;
}

/**
 * Round trips to an echo server over the WebSocket, one request at a time with messages of
 * about `size` bytes of JSON: JsonSocket beside a bare WebSocket that sends a ready-made frame
 * and decodes nothing (the browser's own floor), in interleaved rounds. Microseconds.
 */
export async function roundTrips(url, { rounds = 4, count = 1500, size = 64 } = {}) {
  await init();
  const pad = 'x'.repeat(Math.max(0, size - 20));

  const socket = await JsonSocket.connect(url, { dialect: 'v2' });
  let seq = 0;
  const viaJsocket = async () => {
    const reply = await socket.request({ seq, pad });
    if (reply.seq !== seq++) throw new Error('out of order');
  };

  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const frame = encode({ seq: 0, pad }, 'v2');
  const viaBare = () =>
    new Promise((resolve) => {
      ws.onmessage = resolve;
      ws.send(frame);
    });

  const clients = [
    { client: 'JsonSocket (this package)', run: viaJsocket, times: [], best: Infinity },
    { client: 'bare WebSocket, no decoding', run: viaBare, times: [], best: Infinity },
  ];
  for (const c of clients) for (let i = 0; i < 200; i++) await c.run(); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const c of clients) {
      const start = performance.now();
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        await c.run();
        c.times.push(performance.now() - t0);
      }
      c.best = Math.min(c.best, (performance.now() - start) / count);
    }
  }
  socket.close();
  ws.close();
  return clients.map(({ client, times, best }) => {
    times.sort((a, b) => a - b);
    const at = (q) => +(times[Math.floor(q * (times.length - 1))] * 1000).toFixed(0);
    return { client, payloadBytes: frame.length - 12, bestRoundMeanUs: +(best * 1000).toFixed(0), p50Us: at(0.5), p99Us: at(0.99) };
  });
}
