// Types of jsocket-wasm: jsocket's length-prefixed JSON messages in the browser, over a WebSocket
// whose binary messages carry jsocket frames. The frames are checked by the Rust jsocket core
// compiled to WebAssembly; payloads become values with `JSON.parse`.

/** Any value `JSON.parse` can return. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A wire dialect: `v2` (jsocket 2.x: `JSN1`, length, CRC32), `v1` (jsocket 1.x: big-endian
 * length) or `v1-le` (the 2011 original: little-endian length).
 */
export type Dialect = 'v2' | 'v1' | 'v1-le';

/**
 * What went wrong, as the `kind` of every `Error` this package throws or reports. The peer's
 * faults carry the core's names (those of Python jsocket 2.0.3's statistics):
 * - `timeout`: a frame stalled past `timeouts.frame`, or nothing moved for `timeouts.idle`.
 * - `bad_crc`, `bad_header`, `oversize`, `invalid_utf8`, `invalid_json`, `framing` (the stream
 *   ended inside a frame), `bad_write`, `handler`.
 * This side's: `oversize` (a message over `maxMessageSize`), `serialize` (no JSON form),
 * `closed` (the connection is closed), `connect` (the WebSocket did not open), `options`,
 * `load` (the WebAssembly module could not be fetched, read or compiled: the message says
 * what to check).
 */
export type ErrorKind =
  | 'timeout'
  | 'bad_write'
  | 'bad_crc'
  | 'bad_header'
  | 'oversize'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'handler'
  | 'framing'
  | 'closed'
  | 'serialize'
  | 'connect'
  | 'options'
  | 'load';

/** An `Error` from this package. */
export interface JsocketError extends Error {
  kind: ErrorKind;
  /** From `Decoder.push`: the values decoded before the error in that call. */
  values?: Json[];
}

/** jsocket's default message limit, 10 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE: number;

/**
 * Where the WebAssembly module comes from: a URL (fetched; under Node, a `file:` URL or a path
 * is read from disk), a `Response`, the module's bytes, or a compiled `WebAssembly.Module`.
 */
export type WasmSource = URL | string | Response | ArrayBuffer | ArrayBufferView | WebAssembly.Module;

/**
 * Loads the WebAssembly module (once); `JsonSocket.connect` calls it, `encode` and `Decoder` need
 * it done. `source` defaults to `jsocket_wasm_bg.wasm` beside the package's `index.js` (beside
 * the script, in a bundle without `import.meta.url`). Rejects with a {@link JsocketError} of
 * kind `load` that says what to check (the URL, the server's answer, the module's bytes).
 */
export function init(source?: WasmSource): Promise<void>;

/**
 * Frames one message: `JSON.stringify(value)` behind a header of `dialect` (default `v2`).
 * Throws a {@link JsocketError} of kind `serialize` or `oversize`.
 */
export function encode(value: unknown, dialect?: Dialect, maxMessageSize?: number): Uint8Array;

/** Options of a {@link Decoder}. */
export interface DecoderOptions {
  /** The dialect to accept, or `auto` (the default) to detect it from the first frame. */
  dialect?: Dialect | 'auto';
  /** Largest payload accepted, checked on the header (default 10 MiB). */
  maxMessageSize?: number;
}

/**
 * Turns bytes, in any chunking, into messages: for pages that bring their own transport.
 *
 * A framing error (`bad_crc`, `bad_header`, `oversize`, `invalid_utf8`) ends the stream: `push`
 * throws it, with the values decoded before it in `error.values`, and throws it again on every
 * later call. A payload that is not JSON costs only itself: `push` throws an `invalid_json`
 * error (again with `values`) and the values after it come out of the next `push()`.
 */
export class Decoder {
  constructor(options?: DecoderOptions);
  /** Takes a chunk (or none, to collect what an error held back) and returns the values. */
  push(chunk?: Uint8Array | ArrayBuffer | ArrayBufferView): Json[];
  /** The values of a chunk, as an iterator. */
  decode(chunk?: Uint8Array | ArrayBuffer | ArrayBufferView): Generator<Json>;
  /** Reports the end of the stream: throws a `framing` error if it ended inside a frame. */
  finish(): void;
  /** Bytes held of a frame not yet complete. */
  readonly buffered: number;
  /** The dialect in force, once fixed or detected. */
  readonly dialect: Dialect | null;
  /** Releases the WebAssembly memory now rather than when the decoder is collected. */
  free(): void;
}

/** Reconnection after the peer drops: delays grow by `factor`, with jitter, up to `maxDelay`. */
/**
 * The reconnection schedule: the Rust core's `Backoff`, as the native client's. Each wait is drawn
 * from the upper half of its nominal wait (`initialDelay × factor^n`, capped at `maxDelay`), so
 * pages dropped together do not come back in step. Bad values throw an Error of kind `options`.
 */
export interface ReconnectOptions {
  /** Milliseconds before the first attempt (default 250; more than zero). */
  initialDelay?: number;
  /** Longest wait between attempts (default 10000). */
  maxDelay?: number;
  /** Growth of the delay per failed attempt (default 2). */
  factor?: number;
  /** Attempts before giving up (default: never give up). */
  maxAttempts?: number;
}

/**
 * The options {@link JsonSocket.connect} uses for those left out, in the shape of its options:
 * the Rust core's client profile for a page (`ClientProfile::page`), read from the core.
 * `reconnectOptions` is the schedule `reconnect: true` stands for. Needs {@link init} first.
 */
export function defaults(): {
  dialect: Dialect | 'auto';
  maxMessageSize: number;
  timeouts: { idle: number | null; frame: number | null };
  strictJson: boolean;
  reconnect: boolean;
  reconnectOptions: Required<ReconnectOptions>;
};

/** Options of {@link JsonSocket.connect}; the core enforces them as the native server does. */
export interface ConnectOptions {
  /** The dialect to speak, or `auto` (the default): the peer's, once it has spoken (v2 before). */
  dialect?: Dialect | 'auto';
  /** Largest message sent or accepted (default 10 MiB). */
  maxMessageSize?: number;
  timeouts?: {
    /**
     * Close after this many milliseconds with nothing sent or received (default: never).
     * `null` turns a timeout off; zero is refused (kind `options`), as everywhere in jsocket.
     */
    idle?: number | null;
    /** Close when a frame, once begun, is not complete within this long (default 30000; `null`: never). */
    frame?: number | null;
  };
  /** Close on a payload that is not JSON, as Python jsocket does (default false: skip it). */
  strictJson?: boolean;
  /**
   * Reconnect when the connection drops (default false: a page asks for it, as the core's client
   * profile for a page says).
   */
  reconnect?: boolean | ReconnectOptions;
  /** Where to load the `.wasm` from (see {@link init}). */
  wasm?: WasmSource;
}

/** Why a WebSocket closed, as `onclose` receives it. */
export interface CloseInfo {
  /**
   * `local`: `close()` was called; `eof`: the peer closed between frames; `idle`: nothing crossed
   * the connection for the idle timeout; `error`: see `error`.
   */
  reason: 'local' | 'eof' | 'idle' | 'error';
  /** What went wrong, when `reason` is `error`. */
  error: JsocketError | null;
  /**
   * The WebSocket close code and reason, when the peer closed. A jsocket peer sends the codes of
   * the core's table (`jsocket_core::websocket::CloseCode`): 1000 closed, 1001 going away, 1009
   * message too big, 1013 try again later, 4000 idle timeout, 4001 frame timeout, 4002 malformed
   * frame, 4003 text message; this side sends the same codes for the same reasons.
   */
  code?: number;
  wsReason?: string;
  /** Whether a reconnection will be attempted. */
  willReconnect: boolean;
}

/** A connection's statistics, kept by the core. Times are `performance.now()` milliseconds. */
/**
 * A connection's statistics in the Rust core's schema, the one a native server's
 * `{"$jsocket": "stats"}` reply uses too (there with `scope: 'server'`): tell them by the tag.
 */
export interface Stats {
  $jsocket: 'stats';
  scope: 'connection';
  /** The dialect the peer speaks, once known. */
  dialect: Dialect | null;
  messages_in: number;
  messages_out: number;
  /** Bytes, headers included. */
  bytes_in: number;
  bytes_out: number;
  /** Failures by kind (the peer's kinds of {@link ErrorKind}). */
  failures: Record<'timeout' | 'bad_write' | 'bad_crc' | 'bad_header' | 'oversize' | 'invalid_utf8' | 'invalid_json' | 'handler' | 'framing', number>;
  /** The name the peer gave itself in a `client_id` or `client` field. */
  client_id: string | null;
  /** Times in seconds of `performance.now()`: the connection's start, the last message in and out. */
  connected_at_s: number;
  last_in_s: number | null;
  last_out_s: number | null;
}

/**
 * A jsocket connection over a WebSocket.
 *
 * ```js
 * const socket = await JsonSocket.connect('ws://127.0.0.1:5489/', { reconnect: true });
 * socket.onmessage = (msg) => console.log('got', msg);
 * console.log(await socket.request({ op: 'ping' }));
 * ```
 *
 * Each incoming message goes to the oldest pending `request`, else to a waiting async
 * iterator, else to `onmessage`; with none of these it is queued for a later iterator.
 */
export class JsonSocket implements AsyncIterable<Json> {
  private constructor();
  /** Opens a connection; rejects with a {@link JsocketError} of kind `connect`, `options` or `load`. */
  static connect(url: string | URL, options?: ConnectOptions): Promise<JsonSocket>;
  /** Sends one message; throws a {@link JsocketError} of kind `closed`, `oversize` or `serialize`. */
  send(value: unknown): void;
  /** Sends one message and resolves with the next message that arrives (jsocket's request and reply). */
  request(value: unknown): Promise<Json>;
  /** Closes the connection (and stops reconnecting); `onclose` follows with reason `local`. */
  close(): void;
  /** The core's statistics of the current (or last) connection. */
  stats(): Stats;
  /** Messages, until the connection closes for good; leaving the loop early closes it. */
  [Symbol.asyncIterator](): AsyncIterator<Json>;
  readonly url: string;
  readonly isOpen: boolean;
  /** Bytes handed to the WebSocket and not yet on the network. */
  readonly bufferedAmount: number;
  onmessage: ((message: Json) => void) | null;
  onclose: ((info: CloseInfo) => void) | null;
  /** Called after each reconnection. */
  onopen: (() => void) | null;
  /** Called with each payload that is not JSON (kind `invalid_json`), unless `strictJson` closes. */
  onerror: ((error: JsocketError) => void) | null;
}
