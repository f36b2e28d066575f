// jsocket for browsers: length-prefixed JSON messages over a WebSocket, checked by the Rust core
// compiled to WebAssembly. Types and documentation: index.d.ts.

import initWasm, { RawDecoder, Reconnect, Session, clientDefaults, encodeRaw, textRefusal } from './jsocket_wasm.js';

/**
 * jsocket's default limit on a message, 10 MiB: what applies when no `maxMessageSize` is given
 * (the Rust core's default; the package tests hold the two together).
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024;

// What a Link reports to its sink.
const SINK_OPEN = 1;
const SINK_ITEMS = 2;
const SINK_CLOSED = 3;

// Bytes handed to wasm at once (by Decoder.push and per received WebSocket message): wasm memory
// never shrinks, so it holds no more than the largest frame allowed plus a slice.
const SLICE = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

let exports = null;
let loading = null;

// The package's file, and where it lies by default: beside this module. The literal
// `new URL('./jsocket_wasm_bg.wasm', import.meta.url)` is what Vite and webpack recognise to ship
// the file with a bundle. An IIFE bundle has no import.meta.url: the script's own URL (known
// only while it first runs) stands in, so the .wasm is looked for beside the bundle.
const WASM_FILE = 'jsocket_wasm_bg.wasm';
const SCRIPT_URL = typeof document === 'undefined' ? undefined : document.currentScript?.src;
const HINT = `serve ${WASM_FILE} (it ships in the package beside index.js) at that URL, or pass its URL or bytes to init(); see "Use it with your bundler" in the package's README`;

/**
 * Loads the WebAssembly module (once). `source`: a URL (string or `URL`), a `Response`, bytes
 * or a compiled `WebAssembly.Module`; by default the .wasm beside this file. Under Node a `file:`
 * URL or a path is read from disk. Rejects with an Error of kind `load` that says what to check.
 */
export function init(source) {
  loading ??= compile(source)
    .then((module) => instantiate(module))
    .then(
      (wasm) => {
        exports = wasm;
      },
      (error) => {
        loading = null;
        throw error;
      },
    );
  return loading;
}

function defaultSource() {
  if (import.meta.url) return new URL('./jsocket_wasm_bg.wasm', import.meta.url);
  if (SCRIPT_URL) return new URL(WASM_FILE, SCRIPT_URL);
  throw kindError('load', `cannot tell where ${WASM_FILE} is (this build of the package has no import.meta.url): ${HINT}`);
}

// A module of Node's, when running under Node (found without an import, which bundlers for the
// browser would try to resolve).
function nodeBuiltin(name) {
  const getBuiltin = globalThis.process?.getBuiltinModule;
  return typeof getBuiltin === 'function' ? getBuiltin(name) : undefined;
}

async function compile(source) {
  if (source === undefined) source = defaultSource();
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    return compileBytes(toBytes(source), 'the bytes given to init()', null);
  }
  if (typeof Response === 'function' && source instanceof Response) {
    return compileResponse(source, source.url || 'the Response given to init()');
  }
  const fs = nodeBuiltin('node:fs/promises');
  if (fs !== undefined) {
    const path = filePath(source);
    if (path !== null) {
      let bytes;
      try {
        bytes = await fs.readFile(path);
      } catch (cause) {
        throw kindError('load', `cannot read the WebAssembly module ${path}: ${cause.message}`, cause);
      }
      return compileBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path, null);
    }
  }
  let response;
  try {
    response = await fetch(source);
  } catch (cause) {
    throw kindError('load', `cannot fetch the WebAssembly module ${source}: ${cause.message}; ${HINT}`, cause);
  }
  return compileResponse(response, String(source));
}

// Under Node: the path a `file:` URL or a plain path names, else null (fetched). A scheme has
// two letters or more: `C:\` starts a path.
function filePath(source) {
  const text = String(source);
  if (!/^[a-z][a-z0-9+.-]+:/i.test(text)) return text;
  if (!text.startsWith('file:')) return null;
  try {
    return nodeBuiltin('node:url').fileURLToPath(text);
  } catch (cause) {
    throw kindError('load', `cannot read the WebAssembly module ${text}: ${cause.message}`, cause);
  }
}

async function compileResponse(response, url) {
  if (!response.ok) {
    throw kindError('load', `${url} answered HTTP ${response.status}: the WebAssembly module is not there; ${HINT}`);
  }
  let bytes;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (cause) {
    throw kindError('load', `cannot read the WebAssembly module from ${url}: ${cause.message}`, cause);
  }
  return compileBytes(bytes, url, response.headers.get('content-type'));
}

async function compileBytes(bytes, where, contentType) {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (!magic.every((b, i) => bytes[i] === b)) {
    const start = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    const served = contentType === null ? '' : ` (served as ${contentType})`;
    if (bytes[0] === 0x3c || /html/i.test(contentType ?? '')) {
      // `<`: a development server's page for a path it does not know.
      throw kindError(
        'load',
        `${where} is an HTML page${served}, not the WebAssembly module: the server had no file there. ` +
          `With Vite before version 8, add optimizeDeps: { exclude: ['jsocket-wasm'] } to vite.config; otherwise ${HINT}`,
      );
    }
    throw kindError('load', `${where} is not a WebAssembly module${served}: it begins with ${start || 'nothing'}; ${HINT}`);
  }
  try {
    return await WebAssembly.compile(bytes);
  } catch (cause) {
    throw compileError(where, cause);
  }
}

async function instantiate(module) {
  try {
    return await initWasm({ module_or_path: module });
  } catch (cause) {
    throw compileError('the WebAssembly module', cause);
  }
}

function compileError(where, cause) {
  const csp = /Content.Security.Policy|unsafe-eval/i.test(cause?.message ?? '')
    ? "the page's Content-Security-Policy must allow 'wasm-unsafe-eval' in script-src"
    : `check that it is the ${WASM_FILE} of the same jsocket-wasm version as index.js`;
  return kindError('load', `${where} does not load: ${cause?.message ?? cause}; ${csp}`, cause);
}

function ready() {
  if (exports === null) {
    throw kindError('options', 'jsocket is not initialised: `await init()` first');
  }
}

function kindError(kind, message, cause) {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.kind = kind;
  return error;
}

function toJsonBytes(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw kindError('serialize', `message is not serialisable: ${cause.message}`, cause);
  }
  if (text === undefined) {
    throw kindError('serialize', `message is not serialisable: ${typeof value} has no JSON form`);
  }
  return utf8Encoder.encode(text);
}

function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('expected a Uint8Array, an ArrayBuffer or another ArrayBuffer view');
}

/** A payload whose JSON.parse failed, or a framing error, in a list of decoded values. */
class Failure {
  constructor(error, fatal) {
    this.error = error;
    this.fatal = fatal;
  }
}

// Returns false when the payload is not JSON (a Failure is appended in its place).
function parseOne(bytes, ptr, len, out) {
  try {
    out.push(JSON.parse(utf8.decode(bytes.subarray(ptr, ptr + len))));
    return true;
  } catch (cause) {
    out.push(new Failure(kindError('invalid_json', `invalid JSON payload: ${cause.message}`, cause), false));
    return false;
  }
}

// Reads what the last call on `source` laid out in wasm memory (see wasm/src/batch.rs) and
// appends the values, and a Failure for each bad payload, to `out`; returns false if there was a
// Failure. No wasm call may happen in between: one could grow the memory and detach the views.
function readItems(source, count, out) {
  let clean = true;
  const itemsPtr = source.itemsPtr();
  const boundsPtr = source.boundsPtr();
  const buffer = exports.memory.buffer;
  const bytes = new Uint8Array(buffer);
  const items = new Uint32Array(buffer, itemsPtr, count * 4);
  for (let i = 0; i < count * 4; i += 4) {
    const ptr = items[i];
    const len = items[i + 1];
    const n = items[i + 2];
    if (n === 0) {
      clean = parseOne(bytes, ptr, len, out) && clean;
      continue;
    }
    let group = null;
    try {
      group = JSON.parse(utf8.decode(bytes.subarray(ptr, ptr + len)));
    } catch {
      // One of them is bad: parsed one by one below.
    }
    if (Array.isArray(group) && group.length === n) {
      for (let k = 0; k < n; k++) out.push(group[k]);
      continue;
    }
    const first = items[i + 3];
    const bounds = new Uint32Array(buffer, boundsPtr + first * 8, n * 2);
    for (let k = 0; k < n * 2; k += 2) clean = parseOne(bytes, bounds[k], bounds[k + 1], out) && clean;
  }
  return clean;
}

/**
 * Frames one message: `JSON.stringify(value)` behind a header of `dialect`.
 */
export function encode(value, dialect = 'v2', maxMessageSize) {
  ready();
  return encodeRaw(toJsonBytes(value), dialect, maxMessageSize);
}

/**
 * Turns bytes, in any chunking, into messages.
 */
export class Decoder {
  #raw;
  #pending = [];
  #next = 0;

  constructor({ dialect = 'auto', maxMessageSize } = {}) {
    ready();
    this.#raw = new RawDecoder(dialect, maxMessageSize);
  }

  push(chunk) {
    if (chunk !== undefined) {
      const bytes = toBytes(chunk);
      const before = this.#pending.length;
      let clean = true;
      let failure;
      // A slice at a time: wasm memory never shrinks, so it holds no more than a frame and a slice.
      let at = 0;
      do {
        const count = this.#raw.push(bytes.subarray(at, at + SLICE));
        clean = readItems(this.#raw, count, this.#pending) && clean;
        failure = this.#raw.takeFailure();
        at += SLICE;
      } while (failure === undefined && at < bytes.length);
      if (failure !== undefined) {
        this.#pending.push(new Failure(failure, true));
      } else if (clean && before === 0) {
        // The common case: every payload parsed and nothing was held back.
        const values = this.#pending;
        this.#pending = [];
        return values;
      }
    }
    const values = [];
    while (this.#next < this.#pending.length) {
      const entry = this.#pending[this.#next];
      if (entry instanceof Failure) {
        // A framing error stays, so that every later call reports it again.
        if (!entry.fatal) this.#next++;
        entry.error.values = values;
        throw entry.error;
      }
      values.push(entry);
      this.#next++;
    }
    this.#pending = [];
    this.#next = 0;
    return values;
  }

  *decode(chunk) {
    yield* this.push(chunk);
  }

  finish() {
    this.push();
    this.#raw.finish();
  }

  get buffered() {
    return this.#raw.buffered();
  }

  get dialect() {
    return this.#raw.dialect() ?? null;
  }

  free() {
    this.#raw.free();
  }
}

/**
 * What `JsonSocket.connect` does with each option left out, shaped as its options: the Rust
 * core's client profile for a page, read from the core (after `init()`).
 */
export function defaults() {
  ready();
  return clientDefaults();
}

function normalise(options) {
  // What is left out (`undefined`) the Rust core decides: its client profile for a page (see
  // `defaults()`).
  const {
    dialect,
    maxMessageSize,
    timeouts = {},
    strictJson,
    reconnect = clientDefaults().reconnect,
  } = options;
  const { idle, frame } = timeouts;
  // The schedule is the Rust core's (as the native client's): `undefined` keeps its defaults,
  // and it checks the rest. The seed spreads the waits of pages dropped together.
  let retries = null;
  if (reconnect) {
    const r = reconnect === true ? {} : reconnect;
    retries = new Reconnect(r.initialDelay, r.maxDelay, r.factor, r.maxAttempts, Math.random() * 2 ** 32);
  }
  return { dialect, maxMessageSize, idle, frame, strictJson, retries };
}

/**
 * The adapter: a browser WebSocket (binary type `arraybuffer`) moving bytes between the peer and
 * the core's Session, with performance.now() as the clock and setTimeout for the core's
 * deadlines. It decides nothing about the protocol. `sink(what, arg)` hears of the opening, of
 * laid-out payloads (SINK_ITEMS with their count: read them before any other call into wasm) and,
 * last, of the close.
 */
class Link {
  #ws;
  #session;
  #sink;
  #opened = false;
  // The close has been reported to the sink; nothing follows it.
  #finished = false;
  #timer = null;
  #timerAt = null;

  constructor(url, o, sink) {
    // The core checks the options here, before the WebSocket is made.
    this.#session = new Session(o.dialect, o.maxMessageSize, o.idle, o.frame, o.strictJson, performance.now());
    try {
      this.#ws = new WebSocket(url);
    } catch (cause) {
      this.#session.free();
      throw kindError('connect', cause?.message ?? 'invalid WebSocket URL', cause);
    }
    this.#sink = sink;
    const ws = this.#ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.#onopen();
    ws.onmessage = (event) => this.#onmessage(event);
    ws.onclose = (event) => this.#onclose(event);
  }

  /** Sends a serialised JSON payload (UTF-8 bytes) as one frame. */
  sendRaw(payload) {
    if (!this.#opened || this.#finished) throw kindError('closed', 'the WebSocket is not open');
    this.#session.sendRaw(performance.now(), payload);
    this.#flush();
  }

  /** Closes from this side: what is queued is sent, then the WebSocket closes. */
  close() {
    if (this.#finished) return;
    this.#session.close(performance.now());
    this.#finishIfClosed();
  }

  /** Reports a payload that JSON.parse rejected (fatal in strict mode). */
  reportInvalid(reason) {
    if (this.#finished) return;
    this.#session.reportInvalid(performance.now(), reason);
    this.#finishIfClosed();
  }

  stats() {
    return this.#session.stats();
  }

  bufferedAmount() {
    return this.#ws.bufferedAmount;
  }

  itemsPtr() {
    return this.#session.itemsPtr();
  }

  boundsPtr() {
    return this.#session.boundsPtr();
  }

  /** Unhooks the WebSocket, closing it if the link had not finished, and frees the session. */
  free() {
    const ws = this.#ws;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.#clearTimer();
    if (!this.#finished) {
      this.#finished = true;
      ws.close();
    }
    this.#session.free();
  }

  #onopen() {
    if (this.#finished) return;
    this.#opened = true;
    this.#reschedule();
    this.#sink(SINK_OPEN);
  }

  #onmessage(event) {
    const data = event.data;
    // The binding's rule: jsocket rides on binary messages; a text message is refused.
    if (!(data instanceof ArrayBuffer)) {
      this.#refuseText();
      return;
    }
    const bytes = new Uint8Array(data);
    const session = this.#session;
    for (let at = 0; at < bytes.length && !this.#finished; at += SLICE) {
      const count = session.handleInput(performance.now(), bytes.subarray(at, at + SLICE));
      if (count > 0) this.#sink(SINK_ITEMS, count);
      if (this.#finished) return;
      this.#flush();
      this.#finishIfClosed();
    }
  }

  #onclose(event) {
    if (this.#finished) return;
    if (!this.#opened) {
      this.#finished = true;
      this.#clearTimer();
      // The browser does not say why (a refused origin's 403 looks like no server at all).
      const page = globalThis.location?.origin;
      const error = kindError(
        'connect',
        `WebSocket to ${this.#ws.url} did not open: check that a jsocket server listens there` +
          (page ? ` and accepts pages of ${page} (its log names each origin it refuses)` : ''),
      );
      this.#sink(SINK_CLOSED, { reason: 'error', error, code: event.code, wsReason: event.reason });
      return;
    }
    this.#session.handleEof(performance.now());
    this.#finishIfClosed(event);
  }

  #ontimer() {
    this.#timer = null;
    this.#timerAt = null;
    if (this.#finished) return;
    this.#session.handleTimeout(performance.now());
    this.#reschedule();
    this.#finishIfClosed();
  }

  // Sends what the session has queued and re-arms the timer.
  #flush() {
    const out = this.#session.takeTransmit();
    if (out.length > 0) {
      try {
        this.#ws.send(out);
      } catch {
        this.#session.reportWriteFailure();
      }
    }
    this.#reschedule();
  }

  // Keeps one setTimeout pending for the session's next deadline.
  #reschedule() {
    const at = this.#session.pollTimeout() ?? null;
    if (at === this.#timerAt) return;
    this.#clearTimer();
    if (at !== null) {
      this.#timerAt = at;
      this.#timer = setTimeout(() => this.#ontimer(), Math.max(0, at - performance.now()));
    }
  }

  #clearTimer() {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = null;
  }

  // A text message: closed with the code the core's table gives it, reported as an error.
  #refuseText() {
    this.#finished = true;
    this.#clearTimer();
    const { code, reason, error } = textRefusal();
    try {
      this.#ws.close(code, reason);
    } catch {
      // Already closing.
    }
    this.#sink(SINK_CLOSED, { reason: 'error', error });
  }

  // Once the session has closed: sends what remains and, when the session says so, closes the
  // WebSocket (the browser then waits for the peer's end); stops the timer and tells the sink,
  // adding the WebSocket's own close code and reason when it closed first.
  #finishIfClosed(event) {
    if (this.#finished) return;
    const closed = this.#session.takeClosed();
    if (closed === undefined) return;
    this.#finished = true;
    const out = this.#session.takeTransmit();
    try {
      if (out.length > 0) this.#ws.send(out);
      // The code and reason of the core's WebSocket binding, as the native server sends them.
      if (this.#session.pollHalfClose()) this.#ws.close(closed.sendCode, closed.sendReason);
    } catch {
      // The WebSocket is already closing or closed: nothing more to do with it.
    }
    delete closed.sendCode;
    delete closed.sendReason;
    this.#clearTimer();
    if (event !== undefined) {
      closed.code = event.code;
      closed.wsReason = event.reason;
    }
    this.#sink(SINK_CLOSED, closed);
  }
}

/**
 * A jsocket connection over a WebSocket whose binary messages carry jsocket frames.
 */
export class JsonSocket {
  /** Called with each message no request is waiting for. */
  onmessage = null;
  /** Called with `{reason, error, code, wsReason, willReconnect}` each time the WebSocket closes. */
  onclose = null;
  /** Called after each reconnection. */
  onopen = null;
  /** Called with an Error (kind `invalid_json`) for each payload that is not JSON. */
  onerror = null;

  #url;
  #options;
  #link = null;
  #open = false;
  #everOpened = false;
  #ended = false;
  #retry = null;
  #lastStats = null;
  #requests = [];
  #queue = [];
  #queueStart = 0;
  #waiters = [];
  #opening = null;

  constructor(url, options, secret) {
    if (secret !== CONSTRUCT) throw new TypeError('use `await JsonSocket.connect(url, options)`');
    this.#url = url;
    this.#options = options;
  }

  /** Opens a connection; rejects with an Error of kind `connect` if it cannot. */
  static async connect(url, options = {}) {
    await init(options.wasm);
    const socket = new JsonSocket(String(url), normalise(options), CONSTRUCT);
    await socket.#start();
    return socket;
  }

  /** The URL connected to. */
  get url() {
    return this.#url;
  }

  /** True while the WebSocket is open. */
  get isOpen() {
    return this.#open;
  }

  /** Bytes handed to the WebSocket and not yet on the network. */
  get bufferedAmount() {
    return this.#open ? this.#link.bufferedAmount() : 0;
  }

  send(value) {
    if (!this.#open) throw kindError('closed', 'connection is closed');
    this.#link.sendRaw(toJsonBytes(value));
  }

  request(value) {
    return new Promise((resolve, reject) => {
      this.send(value);
      this.#requests.push({ resolve, reject });
    });
  }

  stats() {
    return this.#link === null ? this.#lastStats : this.#link.stats();
  }

  close() {
    this.#ended = true;
    clearTimeout(this.#retry);
    if (this.#link !== null) {
      this.#link.close();
    } else {
      this.#finish();
    }
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.#queueStart < this.#queue.length) {
          const value = this.#queue[this.#queueStart++];
          if (this.#queueStart === this.#queue.length) {
            this.#queue = [];
            this.#queueStart = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (this.#ended && this.#link === null) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #start() {
    const o = this.#options;
    return new Promise((resolve, reject) => {
      this.#opening = { resolve, reject };
      let link;
      try {
        link = new Link(this.#url, o, (what, arg) => this.#sink(link, what, arg));
      } catch (error) {
        this.#opening = null;
        reject(error);
        return;
      }
      this.#link = link;
    });
  }

  #sink(link, what, arg) {
    if (link !== this.#link) return;
    if (what === SINK_OPEN) {
      this.#open = true;
      this.#everOpened = true;
      this.#options.retries?.reset();
      const opening = this.#opening;
      this.#opening = null;
      opening?.resolve();
    } else if (what === SINK_ITEMS) {
      const entries = [];
      const clean = readItems(link, arg, entries);
      const requests = this.#requests;
      const waiters = this.#waiters;
      for (let i = 0; i < entries.length; i++) {
        if (link !== this.#link) break;
        const entry = entries[i];
        const handler = this.onmessage;
        if (!clean && entry instanceof Failure) {
          this.#report(this.onerror, entry.error);
          // Counted by the core; in strict mode it closes the connection (and onclose follows).
          link.reportInvalid(entry.error.message);
        } else if (requests.length === 0 && waiters.length === 0 && typeof handler === 'function') {
          // The common case, inlined: a page reading messages with onmessage.
          try {
            handler.call(this, entry);
          } catch (error) {
            queueMicrotask(() => {
              throw error;
            });
          }
        } else {
          this.#deliver(entry);
        }
      }
    } else if (what === SINK_CLOSED) {
      this.#closed(link, arg);
    }
  }

  #deliver(value) {
    const request = this.#requests.shift();
    if (request !== undefined) {
      request.resolve(value);
    } else if (this.#waiters.length > 0) {
      this.#waiters.shift()({ value, done: false });
    } else if (typeof this.onmessage === 'function') {
      this.#report(this.onmessage, value);
    } else {
      this.#queue.push(value);
    }
  }

  #report(handler, arg) {
    if (typeof handler !== 'function') return;
    try {
      handler.call(this, arg);
    } catch (error) {
      // The page's handler threw: surface it without breaking the connection.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  #closed(link, info) {
    this.#lastStats = link.stats();
    this.#link = null;
    const wasOpen = this.#open;
    this.#open = false;
    queueMicrotask(() => link.free());
    const error = info.error ?? kindError('closed', 'connection is closed');
    for (const request of this.#requests.splice(0)) request.reject(error);
    if (this.#opening !== null) {
      const opening = this.#opening;
      this.#opening = null;
      opening.reject(error);
    }
    const retries = this.#options.retries;
    const now = performance.now();
    // When to try again, as the core's schedule says (undefined once the attempts are spent).
    const at =
      this.#everOpened && !this.#ended && retries !== null && info.reason !== 'local'
        ? retries.next(now)
        : undefined;
    const retry = at !== undefined;
    if (wasOpen || !retry) this.#report(this.onclose, { ...info, willReconnect: retry });
    if (retry) {
      this.#retry = setTimeout(() => this.#reconnect(), Math.max(0, at - now));
    } else {
      this.#ended = true;
      this.#finish();
    }
  }

  #reconnect() {
    this.#retry = null;
    if (this.#ended) return;
    this.#start().then(
      () => this.#report(this.onopen, undefined),
      // A failed attempt closes like any other: #closed schedules the next one.
      () => {},
    );
  }

  #finish() {
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
    this.#options.retries?.free();
    this.#options.retries = null;
  }
}

const CONSTRUCT = Symbol('JsonSocket.connect');
