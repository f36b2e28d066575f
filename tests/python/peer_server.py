"""Run the real jsocket ServerFactory as an echo server, for our client to talk to.

Usage: python peer_server.py

Binds 127.0.0.1 on a free port, prints that port on one line, serves until standard input is
closed, then stops the factory and its workers. Works with jsocket 2.0.3 (framing v2) and 1.9.6
(framing v1): both have ServerFactory and ServerFactoryThread with _process_message.
"""

import sys

import jsocket


class Echo(jsocket.ServerFactoryThread):
    """One worker per client: each message is answered with itself."""

    def _process_message(self, obj):
        return obj


def main():
    server = jsocket.ServerFactory(Echo, address="127.0.0.1", port=0)
    port = server.socket.getsockname()[1]
    # jsocket calls listen() from its thread's run(): listen here, so that the port printed
    # takes connections at once (both versions' _listen may be called again).
    server._listen()
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop()
    server.join()


if __name__ == "__main__":
    main()
