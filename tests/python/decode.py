"""Decode a file of frames with the jsocket library's own reading code.

Usage: python decode.py FRAMES_FILE

FRAMES_FILE holds a concatenation of frames as written by our Rust encoder. The bytes are pushed
through one end of a ``socket.socketpair()``; the other end is handed to a jsocket
``ServerFactoryThread`` with ``swap_socket`` -- the public hand-off that ``ServerFactory`` itself
uses for every accepted connection -- and read back with that object's ``read_obj``. Nothing of
jsocket's framing is re-implemented here, so a frame that decodes proves that the installed
jsocket (2.0.x reads the ``JSN1`` dialect, 1.x the plain big-endian length prefix) accepts our
bytes as they are on the wire.

Output: one line per decoded message, ``json.dumps(obj, sort_keys=True, ensure_ascii=False)``,
UTF-8 encoded. Exit status 0 when the stream ends cleanly on a frame boundary. When jsocket raises
(bad header, checksum, JSON, or the stream ends inside a frame), the last line is
``ERROR <ExceptionType>: <message>`` and the exit status is 3.
"""

import json
import socket
import sys
import threading

import jsocket


class _Reader(jsocket.ServerFactoryThread):
    """A factory worker that is never started: only its socket and read_obj are used."""

    def _process_message(self, obj):
        return None


def _feed(sock, data):
    """Write all of `data` into `sock`, then signal end of stream."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        # The reading side closed early after an error; it reports that error itself.
        pass


def _at_end_of_stream(sock):
    """True when the writer has finished and no byte is left: a clean end, between frames."""
    return sock.recv(1, socket.MSG_PEEK) == b""


def _emit(line):
    sys.stdout.buffer.write(line.encode("utf-8") + b"\n")


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: decode.py FRAMES_FILE\n")
        return 2
    with open(sys.argv[1], "rb") as f:
        data = f.read()

    ours, theirs = socket.socketpair()
    writer = threading.Thread(target=_feed, args=(ours, data), daemon=True)
    writer.start()

    reader = _Reader()
    reader.swap_socket(theirs)
    # Block without a timeout: the whole input is local, and 1.x loses bytes on a timeout.
    theirs.settimeout(None)

    status = 0
    while True:
        if _at_end_of_stream(theirs):
            break
        try:
            obj = reader.read_obj()
        except Exception as e:  # pylint: disable=broad-exception-caught
            _emit(f"ERROR {type(e).__name__}: {e}")
            status = 3
            break
        _emit(json.dumps(obj, sort_keys=True, ensure_ascii=False))

    sys.stdout.buffer.flush()
    for sock in (theirs, ours):
        try:
            sock.close()
        except OSError:
            pass
    writer.join(timeout=5)
    return status


if __name__ == "__main__":
    sys.exit(main())
