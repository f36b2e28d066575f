"""Encode JSON values into frames with the jsocket library's own writing code.

Usage: python encode.py < VALUES > FRAMES

Reads one JSON value per line from stdin (blank lines are ignored), parses it with ``json.loads``
and sends it with jsocket's ``send_obj`` into one end of a ``socket.socketpair()``. The other end
is read in full and its raw bytes go to stdout. The sending object is a jsocket
``ServerFactoryThread`` given the socket through ``swap_socket``, the public hand-off that
``ServerFactory`` uses for each accepted connection, so the output is exactly what the installed
jsocket (2.0.x: ``JSN1`` header with CRC32; 1.x: big-endian length prefix) puts on the wire.
Our Rust decoder must read these bytes back to the same values: that is the proof that we read
what the real library writes.

Exit status 0 on success; 2 on a line that is not JSON; 3 when jsocket refuses to send a value.
"""

import json
import socket
import sys
import threading

import jsocket


class _Writer(jsocket.ServerFactoryThread):
    """A factory worker that is never started: only its socket and send_obj are used."""

    def _process_message(self, obj):
        return None


def _drain(sock, chunks):
    """Collect everything written to the other end until it is shut down."""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        chunks.append(chunk)


def main():
    ours, theirs = socket.socketpair()
    chunks = []
    drainer = threading.Thread(target=_drain, args=(ours, chunks), daemon=True)
    drainer.start()

    writer = _Writer()
    writer.swap_socket(theirs)
    theirs.settimeout(None)

    status = 0
    for number, line in enumerate(sys.stdin.buffer, start=1):
        text = line.strip(b" \t\r\n")
        if not text:
            continue
        try:
            obj = json.loads(text.decode("utf-8"))
        except ValueError as e:
            sys.stderr.write(f"line {number}: not JSON: {e}\n")
            status = 2
            break
        try:
            writer.send_obj(obj)
        except Exception as e:  # pylint: disable=broad-exception-caught
            sys.stderr.write(f"line {number}: ERROR {type(e).__name__}: {e}\n")
            status = 3
            break

    theirs.shutdown(socket.SHUT_WR)
    drainer.join()
    theirs.close()
    ours.close()
    sys.stdout.buffer.write(b"".join(chunks))
    sys.stdout.buffer.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
