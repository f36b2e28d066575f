/**
 * A frame decoder: bytes in any chunking in, validated payloads out, laid out for
 * `JSON.parse` (see the `batch` module). The JavaScript `Decoder` wraps it.
 */
export class RawDecoder {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        RawDecoderFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_rawdecoder_free(ptr, 0);
    }
    /**
     * Address of the last call's payload bounds.
     * @returns {number}
     */
    boundsPtr() {
        const ret = wasm.rawdecoder_boundsPtr(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * Bytes held of a frame not yet complete.
     * @returns {number}
     */
    buffered() {
        const ret = wasm.rawdecoder_buffered(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * The dialect in force, once fixed or detected.
     * @returns {string | undefined}
     */
    dialect() {
        const ret = wasm.rawdecoder_dialect(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * Reports the end of the stream: throws an `Error` of kind `framing` if it ended inside a
     * frame, or the stream's framing error.
     */
    finish() {
        const ret = wasm.rawdecoder_finish(this.__wbg_ptr);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * Address of the last call's item table.
     * @returns {number}
     */
    itemsPtr() {
        const ret = wasm.rawdecoder_itemsPtr(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * A decoder accepting `dialect` (`"auto"` to detect it from the first frame) and payloads
     * up to `max_message_size` bytes.
     * @param {string} dialect
     * @param {number | null} [max_message_size]
     */
    constructor(dialect, max_message_size) {
        const val2 = +(isLikeNone(max_message_size) ? Number.MAX_SAFE_INTEGER : (max_message_size) >>> 0);
        const ptr0 = passStringToWasm0(dialect, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.rawdecoder_new(ptr0, len0, val2);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        RawDecoderFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Decodes a chunk; returns how many items it laid out. A framing error stops the stream:
     * the payloads before it are still laid out, and [`take_failure`](Self::take_failure)
     * returns the error (as does every later call).
     * @param {Uint8Array | number[]} chunk
     * @returns {number}
     */
    push(chunk) {
        const ptr0 = passArray8ToWasm0(chunk, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.rawdecoder_push(this.__wbg_ptr, ptr0, len0);
        return ret >>> 0;
    }
    /**
     * The framing error met by the last `push`, as an `Error`, or `undefined`.
     * @returns {any}
     */
    takeFailure() {
        const ret = wasm.rawdecoder_takeFailure(this.__wbg_ptr);
        return ret;
    }
}
if (Symbol.dispose) RawDecoder.prototype[Symbol.dispose] = RawDecoder.prototype.free;

/**
 * When to reconnect after each close. Times are `performance.now()` milliseconds.
 */
export class Reconnect {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        ReconnectFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_reconnect_free(ptr, 0);
    }
    /**
     * The schedule from the `reconnect` options; each `undefined` keeps the core's default for
     * a page ([`ClientProfile::page`]).
     * `maxAttempts` is reconnections before giving up (`Infinity`: never). `seed` draws the
     * jitter. Throws an `Error` of kind `options` for a bad option.
     * @param {any} initial_delay_ms
     * @param {any} max_delay_ms
     * @param {any} factor
     * @param {any} max_attempts
     * @param {number} seed
     */
    constructor(initial_delay_ms, max_delay_ms, factor, max_attempts, seed) {
        const ret = wasm.reconnect_new(initial_delay_ms, max_delay_ms, factor, max_attempts, seed);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        ReconnectFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * After a close at `now_ms`: when to reconnect, or `undefined` once the attempts are spent.
     * @param {number} now_ms
     * @returns {number | undefined}
     */
    next(now_ms) {
        const ret = wasm.reconnect_next(this.__wbg_ptr, now_ms);
        return ret[0] === 0 ? undefined : ret[1];
    }
    /**
     * After a connection opened: the next close starts the schedule again.
     */
    reset() {
        wasm.reconnect_reset(this.__wbg_ptr);
    }
}
if (Symbol.dispose) Reconnect.prototype[Symbol.dispose] = Reconnect.prototype.free;

/**
 * One jsocket connection without IO. Times are `performance.now()` milliseconds.
 *
 * After each `handle*` call, read the laid-out payloads (see the `batch` module), then
 * [`take_closed`](Self::take_closed), then send [`take_transmit`](Self::take_transmit), end
 * this side's stream if [`poll_half_close`](Self::poll_half_close) says so, and schedule
 * [`poll_timeout`](Self::poll_timeout): the core's driving rule.
 */
export class Session {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        SessionFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_session_free(ptr, 0);
    }
    /**
     * Address of the last call's payload bounds.
     * @returns {number}
     */
    boundsPtr() {
        const ret = wasm.session_boundsPtr(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * Closes from this side at `now_ms`; queued output remains to be sent, then
     * [`poll_half_close`](Self::poll_half_close) says to close the transport.
     * @param {number} now_ms
     */
    close(now_ms) {
        wasm.session_close(this.__wbg_ptr, now_ms);
    }
    /**
     * Reports that the peer ended the stream.
     * @param {number} now_ms
     * @returns {number}
     */
    handleEof(now_ms) {
        const ret = wasm.session_handleEof(this.__wbg_ptr, now_ms);
        return ret >>> 0;
    }
    /**
     * Takes bytes from the peer; returns how many items were laid out.
     * @param {number} now_ms
     * @param {Uint8Array | number[]} bytes
     * @returns {number}
     */
    handleInput(now_ms, bytes) {
        const val2 = +now_ms;
        const ptr0 = passArray8ToWasm0(bytes, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.session_handleInput(this.__wbg_ptr, val2, ptr0, len0);
        return ret >>> 0;
    }
    /**
     * Reports the time, closing the connection if a deadline has passed.
     * @param {number} now_ms
     * @returns {number}
     */
    handleTimeout(now_ms) {
        const ret = wasm.session_handleTimeout(this.__wbg_ptr, now_ms);
        return ret >>> 0;
    }
    /**
     * True once the connection is closed.
     * @returns {boolean}
     */
    isClosed() {
        const ret = wasm.session_isClosed(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * True once the close has gone through (or its grace period ran out): nothing more to do.
     * @returns {boolean}
     */
    isDrained() {
        const ret = wasm.session_isDrained(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * Address of the last call's item table.
     * @returns {number}
     */
    itemsPtr() {
        const ret = wasm.session_itemsPtr(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * A connection opened at `now_ms`. `dialect` is `"auto"` or a dialect name; timeouts are in
     * milliseconds, `null` for none; any option `undefined` keeps the core's default for a
     * page (`clientDefaults()`). Throws an `Error` of kind `options` for a bad option.
     * @param {string | null | undefined} dialect
     * @param {number | null | undefined} max_message_size
     * @param {any} idle_timeout_ms
     * @param {any} frame_timeout_ms
     * @param {boolean | null | undefined} strict_json
     * @param {number} now_ms
     */
    constructor(dialect, max_message_size, idle_timeout_ms, frame_timeout_ms, strict_json, now_ms) {
        const val2 = +(isLikeNone(max_message_size) ? Number.MAX_SAFE_INTEGER : (max_message_size) >>> 0);
        const val3 = +now_ms;
        var ptr0 = isLikeNone(dialect) ? 0 : passStringToWasm0(dialect, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        var len0 = WASM_VECTOR_LEN;
        const ret = wasm.session_new(ptr0, len0, val2, idle_timeout_ms, frame_timeout_ms, isLikeNone(strict_json) ? 0xFFFFFF : strict_json ? 1 : 0, val3);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        SessionFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Whether to end this side's stream now (once): closed, and everything taken with
     * `takeTransmit`. Close the WebSocket with the `sendCode` and `sendReason` that
     * `takeClosed` gave.
     * @returns {boolean}
     */
    pollHalfClose() {
        const ret = wasm.session_pollHalfClose(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * When to call `handleTimeout` next, in milliseconds, if ever.
     * @returns {number | undefined}
     */
    pollTimeout() {
        const ret = wasm.session_pollTimeout(this.__wbg_ptr);
        return ret[0] === 0 ? undefined : ret[1];
    }
    /**
     * Reports at `now_ms` a payload that `JSON.parse` rejected: counted, and fatal in strict
     * mode.
     * @param {number} now_ms
     * @param {string} reason
     */
    reportInvalid(now_ms, reason) {
        const val2 = +now_ms;
        const ptr0 = passStringToWasm0(reason, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        wasm.session_reportInvalid(this.__wbg_ptr, val2, ptr0, len0);
    }
    /**
     * Counts a failed write to the transport.
     */
    reportWriteFailure() {
        wasm.session_reportWriteFailure(this.__wbg_ptr);
    }
    /**
     * Queues a serialised JSON payload (UTF-8 bytes) at `now_ms` as one frame in the peer's
     * dialect. Throws an `Error` of kind `oversize` or `closed`.
     * @param {number} now_ms
     * @param {Uint8Array | number[]} payload
     */
    sendRaw(now_ms, payload) {
        const val2 = +now_ms;
        const ptr0 = passArray8ToWasm0(payload, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.session_sendRaw(this.__wbg_ptr, val2, ptr0, len0);
        if (ret[1]) {
            throw takeFromExternrefTable0(ret[0]);
        }
    }
    /**
     * The statistics so far (see the package's `Stats` type).
     * @returns {any}
     */
    stats() {
        const ret = wasm.session_stats(this.__wbg_ptr);
        return ret;
    }
    /**
     * How the connection closed, once: `{reason: "eof" | "local" | "idle" | "error", error}`
     * where `error` is an `Error` with a `kind` (or `null`); `undefined` while open or once
     * taken.
     * @returns {any}
     */
    takeClosed() {
        const ret = wasm.session_takeClosed(this.__wbg_ptr);
        return ret;
    }
    /**
     * The bytes to send now (empty when none), counted as written.
     * @returns {Uint8Array}
     */
    takeTransmit() {
        const ret = wasm.session_takeTransmit(this.__wbg_ptr);
        var v1 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        return v1;
    }
}
if (Symbol.dispose) Session.prototype[Symbol.dispose] = Session.prototype.free;

/**
 * The defaults of `JsonSocket.connect`, shaped as its options: `{dialect, maxMessageSize,
 * timeouts: {idle, frame}, strictJson, reconnect}` (milliseconds, `null` for none), with
 * `reconnectOptions` (`{initialDelay, maxDelay, factor, maxAttempts}`), the schedule that
 * `reconnect: true` stands for.
 * @returns {any}
 */
export function clientDefaults() {
    const ret = wasm.clientDefaults();
    return ret;
}

/**
 * Frames an already serialised JSON payload (UTF-8 bytes, `JSON.stringify` output) in
 * `dialect` (`"v2"`, `"v1"` or `"v1-le"`). Throws an `Error` of kind `oversize` over the limit.
 * @param {Uint8Array | number[]} payload
 * @param {string} dialect
 * @param {number | null} [max_message_size]
 * @returns {Uint8Array}
 */
export function encodeRaw(payload, dialect, max_message_size) {
    const val3 = +(isLikeNone(max_message_size) ? Number.MAX_SAFE_INTEGER : (max_message_size) >>> 0);
    let ptr0, len0, ptr1, len1;
    try {
        ptr0 = passArray8ToWasm0(payload, wasm.__wbindgen_malloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = passStringToWasm0(dialect, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        len1 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
        throw e;
    }
    const ret = wasm.encodeRaw(ptr0, len0, ptr1, len1, val3);
    if (ret[3]) {
        throw takeFromExternrefTable0(ret[2]);
    }
    var v4 = getArrayU8FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
    return v4;
}

/**
 * The close a text message gets (the binding's rule: jsocket rides on binary messages only),
 * as `{code, reason}`, with the `Error` (kind `bad_header`) the page is told.
 * @returns {any}
 */
export function textRefusal() {
    const ret = wasm.textRefusal();
    return ret;
}
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg___wbindgen_is_null_c22311b1cc228e3a: function(arg0) {
            const ret = arg0 === null;
            return ret;
        },
        __wbg___wbindgen_is_undefined_be5b34249ff1fc15: function(arg0) {
            const ret = arg0 === undefined;
            return ret;
        },
        __wbg___wbindgen_number_get_934b640d0889af78: function(arg0, arg1) {
            const obj = arg1;
            const ret = typeof(obj) === 'number' ? obj : undefined;
            getDataViewMemory0().setFloat64((arg0 >>> 0) + 8 * 1, isLikeNone(ret) ? 0 : ret, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, !isLikeNone(ret), true);
        },
        __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
            throw new Error(getStringFromWasm0(arg0, arg1));
        },
        __wbg_new_787b9fb330d55d78: function(arg0, arg1) {
            const ret = new Error(getStringFromWasm0(arg0, arg1));
            return ret;
        },
        __wbg_new_cd4348290afae586: function() {
            const ret = new Object();
            return ret;
        },
        __wbg_set_2793479888329cb6: function() { return handleError(function (arg0, arg1, arg2) {
            const ret = Reflect.set(arg0, arg1, arg2);
            return ret;
        }, arguments); },
        __wbindgen_generic_0000000000000001: function(arg0) {
            // Cast intrinsic for `F64 -> Externref`.
            const ret = arg0;
            return ret;
        },
        __wbindgen_generic_0000000000000002: function(arg0, arg1) {
            // Cast intrinsic for `Ref(String) -> Externref`.
            const ret = getStringFromWasm0(arg0, arg1);
            return ret;
        },
        __wbindgen_init_externref_table: function() {
            const table = wasm.__wbindgen_externrefs;
            table.set(0, undefined);
            table.set(1024, undefined);
            table.set(1025, null);
            table.set(1026, true);
            table.set(1027, false);
        },
    };
    return {
        __proto__: null,
        "./jsocket_wasm_bg.js": import0,
    };
}

const RawDecoderFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_rawdecoder_free(ptr, 1));
const ReconnectFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_reconnect_free(ptr, 1));
const SessionFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_session_free(ptr, 1));

function addToExternrefTable0(obj) {
    const idx = wasm.__externref_table_alloc();
    wasm.__wbindgen_externrefs.set(idx, obj);
    return idx;
}

function getArrayU8FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getUint8ArrayMemory0().subarray(ptr / 1, ptr / 1 + len);
}

let cachedDataViewMemory0 = null;
function getDataViewMemory0() {
    if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
        cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
    }
    return cachedDataViewMemory0;
}

function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
}

let cachedUint8ArrayMemory0 = null;
function getUint8ArrayMemory0() {
    if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
        cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
    }
    return cachedUint8ArrayMemory0;
}

function handleError(f, args) {
    try {
        return f.apply(this, args);
    } catch (e) {
        const idx = addToExternrefTable0(e);
        wasm.__wbindgen_exn_store(idx);
    }
}

function isLikeNone(x) {
    return x === undefined || x === null;
}

function passArray8ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 1, 1) >>> 0;
    getUint8ArrayMemory0().set(arg, ptr / 1);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passStringToWasm0(arg, malloc, realloc) {
    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }

    let len = arg.length;
    let ptr = malloc(len, 1) >>> 0;

    const mem = getUint8ArrayMemory0();

    let offset = 0;

    for (; offset < len; offset++) {
        const code = arg.charCodeAt(offset);
        if (code > 0x7F) break;
        mem[ptr + offset] = code;
    }
    if (offset !== len) {
        if (offset !== 0) {
            arg = arg.slice(offset);
        }
        ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
        const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
        const ret = cachedTextEncoder.encodeInto(arg, view);

        offset += ret.written;
        ptr = realloc(ptr, len, offset, 1) >>> 0;
    }

    WASM_VECTOR_LEN = offset;
    return ptr;
}

function takeFromExternrefTable0(idx) {
    const value = wasm.__wbindgen_externrefs.get(idx);
    wasm.__externref_table_dealloc(idx);
    return value;
}

let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
cachedTextDecoder.decode();
const MAX_SAFARI_DECODE_BYTES = 2146435072;
let numBytesDecoded = 0;
function decodeText(bytes) {
    numBytesDecoded += bytes.length;
    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {
        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
        cachedTextDecoder.decode();
        numBytesDecoded = bytes.length;
    }
    return cachedTextDecoder.decode(bytes);
}

const cachedTextEncoder = new TextEncoder();

if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}

let WASM_VECTOR_LEN = 0;

let wasmModule, wasmInstance, wasm;
function __wbg_finalize_init(instance, module) {
    wasmInstance = instance;
    wasm = instance.exports;
    wasmModule = module;
    cachedDataViewMemory0 = null;
    cachedUint8ArrayMemory0 = null;
    wasm.__wbindgen_start();
    return wasm;
}

async function __wbg_load(module, imports) {
    if (typeof Response === 'function' && module instanceof Response) {
        if (!module.ok) {
            throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
        }

        if (typeof WebAssembly.instantiateStreaming === 'function') {
            try {
                return await WebAssembly.instantiateStreaming(module, imports);
            } catch (e) {
                const validResponse = expectedResponseType(module.type);

                if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                    console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                } else { throw e; }
            }
        }

        const bytes = await module.arrayBuffer();
        return await WebAssembly.instantiate(bytes, imports);
    } else {
        const instance = await WebAssembly.instantiate(module, imports);

        if (instance instanceof WebAssembly.Instance) {
            return { instance, module };
        } else {
            return instance;
        }
    }

    function expectedResponseType(type) {
        switch (type) {
            case 'basic': case 'cors': case 'default': return true;
        }
        return false;
    }
}

function initSync(module) {
    if (wasm !== undefined) return wasm;


    if (module !== undefined) {
        if (Object.getPrototypeOf(module) === Object.prototype) {
            ({module} = module)
        } else {
            console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
        }
    }

    const imports = __wbg_get_imports();
    if (!(module instanceof WebAssembly.Module)) {
        module = new WebAssembly.Module(module);
    }
    const instance = new WebAssembly.Instance(module, imports);
    return __wbg_finalize_init(instance, module);
}

let __wbg_init_promise;
async function __wbg_init(module_or_path) {
    if (wasm !== undefined) return wasm;
    if (__wbg_init_promise === undefined) {
        __wbg_init_promise = __wbg_init_once(module_or_path);
        __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
    }
    return __wbg_init_promise;
}

async function __wbg_init_once(module_or_path) {

    if (module_or_path !== undefined) {
        if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
            ({module_or_path} = module_or_path)
        } else {
            console.warn('using deprecated parameters for the initialization function; pass a single object instead')
        }
    }


    const imports = __wbg_get_imports();

    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        module_or_path = fetch(module_or_path);
    }

    const { instance, module } = await __wbg_load(await module_or_path, imports);

    return __wbg_finalize_init(instance, module);
}

export { initSync, __wbg_init as default };
