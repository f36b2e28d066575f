// A stand-in for the browser's WebSocket, so that JsonSocket's logic runs under Node: a test
// plays the server through `peer`.

export class FakeWebSocket {
  static instances = [];
  /** When set, the next sockets fail to open. */
  static refuse = false;

  constructor(url) {
    if (!/^wss?:\/\//.test(url)) throw new SyntaxError(`invalid WebSocket URL ${url}`);
    this.url = url;
    this.binaryType = 'blob';
    this.bufferedAmount = 0;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.onopen = this.onmessage = this.onclose = null;
    FakeWebSocket.instances.push(this);
    const refuse = FakeWebSocket.refuse;
    setTimeout(() => {
      if (refuse) {
        this.readyState = 3;
        this.onclose?.({ code: 1006, reason: '' });
      } else {
        this.readyState = 1;
        this.onopen?.({});
      }
    }, 0);
  }

  send(bytes) {
    if (this.readyState !== 1) throw new Error('InvalidStateError');
    // The view may be into wasm memory: copy, as a browser does.
    this.sent.push(Uint8Array.from(bytes));
    this.onsent?.(this.sent.at(-1));
  }

  close(code = 1005, reason = '') {
    // A browser refuses any other code (InvalidAccessError).
    if (code !== 1005 && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new Error(`InvalidAccessError: close code ${code}`);
    }
    if (this.readyState >= 2) return;
    this.closedWith = code;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }

  /** The server sends `bytes` (as one binary message). */
  deliver(bytes) {
    const copy = Uint8Array.from(bytes);
    this.onmessage?.({ data: copy.buffer });
  }

  /** The server sends `text` as a text message. */
  deliverText(text) {
    this.onmessage?.({ data: String(text) });
  }

  /** The server closes the connection. */
  drop(code = 1000, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
