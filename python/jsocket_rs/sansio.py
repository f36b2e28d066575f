"""The sans-IO layer, for programs that bring their own sockets (asyncio, trio, selectors), as
h11 is for HTTP: ``encode`` a message into a frame, a ``Decoder`` for frames to payloads, and
the ``Connection`` state machine (framing, dialect detection, limits, frame and idle timeouts,
statistics) with time as an argument. No IO, no clock, no threads.

The driving rule: after every input (``receive_data``, ``handle_timeout``, ``send``,
``close``, each with the time), call ``next_event()`` until it returns ``NEED_DATA`` (or a ``Closed`` event), write
``data_to_send()``, and call ``handle_timeout(now)`` once ``next_timeout()`` has passed.

    conn = Connection(now=time.monotonic())
    conn.receive_data(sock.recv(65536), time.monotonic())
    while (event := conn.next_event()) is not NEED_DATA:
        if isinstance(event, Message):
            conn.send({"echo": event.obj}, time.monotonic())
        elif isinstance(event, Closed):
            break
    sock.sendall(conn.data_to_send())
"""

from ._core import (
    DEFAULT_FRAME_TIMEOUT,
    NEED_DATA,
    Closed,
    Connection,
    Decoder,
    FramingError,
    Message,
    Rejected,
    encode,
    encode_payload,
)

__all__ = [
    "DEFAULT_FRAME_TIMEOUT",
    "NEED_DATA",
    "Closed",
    "Connection",
    "Decoder",
    "FramingError",
    "Message",
    "Rejected",
    "encode",
    "encode_payload",
]
