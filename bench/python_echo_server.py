"""A Python jsocket 2.0.3 echo server, for comparison with ``native serve``.

It is the stock ``jsocket.ServerFactory`` with a ``ServerFactoryThread`` whose
``_process_message`` returns each message as it came: one thread per client, as jsocket users
write it. It prints ``listening on HOST:PORT`` once ready and runs until SIGINT or SIGTERM.

    python bench/python_echo_server.py --port 0
"""

import argparse
import signal
import sys
import threading

import jsocket


class Echo(jsocket.ServerFactoryThread):
    """Replies to each message with the message itself."""

    def _process_message(self, obj):
        return obj


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5489, help="0 picks a free port")
    args = parser.parse_args()

    server = jsocket.ServerFactory(Echo, address=args.host, port=args.port)
    host, port = server.socket.getsockname()[:2]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"listening on {host}:{port}", flush=True)
    stop.wait()
    server.stop_all()
    server.stop()
    server.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
