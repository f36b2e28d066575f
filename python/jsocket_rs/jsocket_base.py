"""JsonSocket, JsonServer and JsonClient: jsocket 2.0.3's ``jsocket_base`` on the Rust core.

The sockets are Python's own (``self.socket``, ``self.conn``), with jsocket's timeouts and
properties; each connection's bytes go through the core (framing, limits, CRC, UTF-8,
statistics), which reads and writes the socket itself with the GIL released (``_core.Stream``):
each message leaves in one write with ``TCP_NODELAY`` set.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import time
from typing import Any, Optional

from . import _core
from ._core import DEFAULT_MAX_MESSAGE_SIZE, FramingError
from ._version import __version__

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "FRAME_HEADER_FMT",
    "FRAME_HEADER_SIZE",
    "FRAME_MAGIC",
    "FramingError",
    "JsonClient",
    "JsonServer",
    "JsonSocket",
    "__version__",
]

logger = logging.getLogger("jsocket_rs")

FRAME_MAGIC = b"JSN1"
"""The v2 header's first four bytes."""
FRAME_HEADER_FMT = "!4sII"
"""The v2 header as a ``struct`` format: magic, payload length, CRC32 (big-endian)."""
FRAME_HEADER_SIZE = 12
"""Bytes in a v2 header."""


def _socket_fileno(sock: Any) -> Optional[int]:
    try:
        return sock.fileno()
    except Exception:  # pylint: disable=broad-exception-caught
        return None


# struct timeval as SO_RCVTIMEO takes it, where its layout is known.
_TIMEVAL = "ll" if sys.platform.startswith(("linux", "darwin")) else None


def _kernel_timeout(sock: socket.socket, timeout: Optional[float]) -> bool:
    """Makes ``sock`` blocking, with ``timeout`` kept by the kernel (SO_RCVTIMEO, SO_SNDTIMEO;
    a call that times out fails with ``EAGAIN``): each read or write is then one system call,
    where a socket with Python's ``settimeout`` is polled before each. False where this is not
    supported (then nothing changed).
    """
    if _TIMEVAL is None or timeout == 0:
        return False
    if timeout is None:
        sec, usec = 0, 0  # no timeout
    else:
        sec = int(timeout)
        usec = max(int((timeout - sec) * 1e6), 0 if sec else 1)
    try:
        tv = struct.pack(_TIMEVAL, sec, usec)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    except (OSError, struct.error, OverflowError):
        return False
    sock.settimeout(None)
    return True


class JsonSocket:
    """JSON-over-TCP socket wrapper with length-prefixed framing (jsocket 2.0.3's contract).

    ``dialect`` (an addition to jsocket's arguments) is the framing spoken: ``"v2"`` (jsocket
    2.x, the default for clients), ``"v1"`` (jsocket 1.x), ``"v1-le"`` (the 2011 original) or
    ``"auto"`` (detected from the peer's first frame, replies in kind; the default for servers).
    """

    _default_dialect = "v2"

    def __init__(
        self,
        address: str = "127.0.0.1",
        port: int = 5489,
        timeout: Optional[float] = 2.0,
        max_message_size: Optional[int] = DEFAULT_MAX_MESSAGE_SIZE,
        accept_timeout: Optional[float] = None,
        recv_timeout: Optional[float] = None,
        create_socket: bool = True,
        dialect: Optional[str] = None,
    ) -> None:
        self.socket: Optional[socket.socket] = None
        self.conn: Optional[socket.socket] = None
        self._timeout = timeout
        self._accept_timeout = timeout if accept_timeout is None else accept_timeout
        self._recv_timeout = timeout if recv_timeout is None else recv_timeout
        self._address = address
        self._port = port
        self._max_message_size: Optional[int] = None
        self._dialect = dialect or self._default_dialect
        if self._dialect != "auto":
            _core.encode(None, self._dialect)  # rejects an unknown dialect now
        self._proto: Optional[_core.Stream] = None
        self._proto_conn: Optional[socket.socket] = None
        self.max_message_size = max_message_size
        self._last_client_addr = None
        self._is_server = False
        self._is_listening = False
        if create_socket:
            self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.conn = self.socket
            # Primary socket timeout (accept for servers; connect/read for clients).
            self.socket.settimeout(self._accept_timeout)

    # -- the core connection of the current socket ----------------------------------------

    def _protocol(self) -> _core.Stream:
        """The core's stream for ``self.conn`` (a new one whenever the socket changes)."""
        conn = self.conn
        if self._proto is None or self._proto_conn is not conn:
            limit = self._max_message_size
            self._proto = _core.Stream(
                min(limit, 0xFFFFFFFF) if limit is not None else 0xFFFFFFFF,
                self._dialect,
                "v2" if self._dialect == "auto" else self._dialect,
                time.monotonic(),
            )
            self._proto_conn = conn
        return self._proto

    def send_obj(self, obj: Any) -> None:
        """Send a JSON-serialisable object over the connection, as one write.

        Serialised as jsocket does (``json.dumps(obj, ensure_ascii=False)``). Raises
        ``ValueError`` when it is over ``max_message_size``, ``RuntimeError("socket connection
        broken")`` when the connection fails.
        """
        if not self.socket:
            return
        conn = self.conn
        try:
            self._protocol().send(conn.fileno(), obj, conn.gettimeout())
        except (OSError, RuntimeError) as e:
            self._close_connection()
            raise RuntimeError("socket connection broken") from e

    def read_obj(self) -> Any:
        """Read one message and return it as Python objects (what ``json.loads`` makes of it).

        Reads exactly one frame from the socket, as jsocket does (so ``select`` on the socket
        still tells whether another message waits). Raises ``socket.timeout`` when no message
        begins within the receive timeout (the connection stays open), ``FramingError`` for a bad
        frame or a timeout inside one, ``RuntimeError("socket connection broken")`` when the peer
        has gone; the last two close the connection.
        """
        conn = self.conn
        try:
            return self._protocol().read(conn.fileno(), conn.gettimeout())
        except socket.timeout:
            raise
        except RuntimeError:  # FramingError too
            self._close_connection()
            raise

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the active connection and the listening socket if open."""
        logger.debug(
            "closing sockets (socket fd=%s, conn fd=%s)",
            _socket_fileno(self.socket),
            _socket_fileno(self.conn),
        )
        self._close_connection()
        self._close_socket()

    @staticmethod
    def _shutdown_close(sock: Optional[socket.socket]) -> None:
        try:
            if sock and sock.fileno() != -1:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
        except OSError:
            pass

    def _close_socket(self) -> None:
        """Best-effort shutdown and close of the main socket."""
        logger.debug("closing main socket (fd=%s)", _socket_fileno(self.socket))
        self._shutdown_close(self.socket)
        self._is_listening = False

    def _close_connection(self) -> None:
        """Best-effort shutdown and close of the connection socket."""
        logger.debug("closing connection socket (fd=%s)", _socket_fileno(self.conn))
        self._shutdown_close(self.conn)

    # -- properties, as jsocket 2.0.3 -----------------------------------------------------------

    def _get_timeout(self) -> Optional[float]:
        return getattr(self, "_timeout", None)

    def _set_timeout(self, timeout: Optional[float]) -> None:
        self._timeout = timeout
        self._accept_timeout = timeout
        self._recv_timeout = timeout
        sock = getattr(self, "socket", None)
        if sock is not None:
            self._timeout_on(sock, self._accept_timeout)
        conn = getattr(self, "conn", None)
        if conn is not None:
            if getattr(self, "_is_server", False):
                if conn is not sock:
                    conn.settimeout(self._recv_timeout)
            else:
                self._timeout_on(conn, self._recv_timeout)

    def _timeout_on(self, sock: socket.socket, timeout: Optional[float]) -> None:
        """Sets ``timeout`` on ``sock``, as ``settimeout`` does."""
        sock.settimeout(timeout)

    def _get_accept_timeout(self) -> Optional[float]:
        return getattr(self, "_accept_timeout", getattr(self, "_timeout", None))

    def _set_accept_timeout(self, timeout: Optional[float]) -> None:
        self._accept_timeout = timeout
        sock = getattr(self, "socket", None)
        if sock is not None:
            sock.settimeout(timeout)

    def _get_recv_timeout(self) -> Optional[float]:
        return getattr(self, "_recv_timeout", getattr(self, "_timeout", None))

    def _set_recv_timeout(self, timeout: Optional[float]) -> None:
        self._recv_timeout = timeout
        conn = getattr(self, "conn", None)
        sock = getattr(self, "socket", None)
        if conn is not None:
            if getattr(self, "_is_server", False) and conn is sock:
                return
            self._timeout_on(conn, timeout)

    def _get_address(self) -> str:
        return self._address

    def _set_address(self, _address: str) -> None:
        return None

    def _get_port(self) -> int:
        return self._port

    def _set_port(self, _port: int) -> None:
        return None

    def _get_max_message_size(self) -> Optional[int]:
        return self._max_message_size

    def _set_max_message_size(self, size: Optional[int]) -> None:
        if size is None:
            self._max_message_size = None
        else:
            size = int(size)
            if size <= 0:
                raise ValueError("max_message_size must be positive")
            self._max_message_size = size
        proto = getattr(self, "_proto", None)
        if proto is not None and proto.partial_frame_len == 0:
            self._proto = None  # the next read or send takes the new limit

    timeout = property(_get_timeout, _set_timeout, doc="Get/set accept/recv timeout together")
    accept_timeout = property(_get_accept_timeout, _set_accept_timeout, doc="Get/set accept timeout")
    recv_timeout = property(_get_recv_timeout, _set_recv_timeout, doc="Get/set recv timeout")
    address = property(_get_address, _set_address, doc="read only property socket address")
    port = property(_get_port, _set_port, doc="read only property socket port")
    max_message_size = property(
        _get_max_message_size, _set_max_message_size, doc="Get/set max message size in bytes"
    )

    def get_stats(self) -> dict:
        """The current connection's statistics (messages and bytes each way, failures, dialect).

        An addition to jsocket's API.
        """
        proto = self._proto
        return proto.stats() if proto is not None else {}


class JsonServer(JsonSocket):
    """Server socket that accepts one connection at a time (jsocket 2.0.3's contract)."""

    _default_dialect = "auto"

    def __init__(
        self,
        address: str = "127.0.0.1",
        port: int = 5489,
        timeout: Optional[float] = 2.0,
        accept_timeout: Optional[float] = None,
        recv_timeout: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address,
            port,
            timeout=timeout,
            accept_timeout=accept_timeout,
            recv_timeout=recv_timeout,
            **kwargs,
        )
        self._is_server = True
        self._bind()

    def _close_connection(self) -> None:
        """Best-effort shutdown and close of the accepted connection socket."""
        logger.debug("closing connection socket (fd=%s)", _socket_fileno(self.conn))
        if self.conn is not self.socket:
            self._shutdown_close(self.conn)

    def _bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((self.address, self.port))
        self._is_listening = False

    def _listen(self) -> None:
        if self._is_listening:
            return
        self.socket.listen(5)
        self._is_listening = True

    def _accept(self):
        return self.socket.accept()

    def accept_connection(self) -> None:
        """Listen and accept one client connection; it gets the receive timeout."""
        self._listen()
        self.conn, addr = self._accept()
        self._last_client_addr = addr
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.settimeout(self.recv_timeout)
        logger.debug("connection accepted, conn socket (%s,%d,%s)", addr[0], addr[1], str(self.conn.gettimeout()))

    def _reset_connection_ref(self) -> None:
        """Reset the server's connection reference to the listening socket."""
        self.conn = self.socket

    def _is_connected(self) -> bool:
        try:
            return (self.conn is not None) and (self.conn is not self.socket) and (self.conn.fileno() != -1)
        except (OSError, AttributeError):
            return False

    connected = property(_is_connected, doc="True if server has an active client connection")


class JsonClient(JsonSocket):
    """Client socket for exchanging JSON messages with a server (jsocket 2.0.3's contract).

    ``connect()`` tries up to ``attempts`` times (10, as jsocket: the Rust core's client
    profile for a program), 3 s apart, as jsocket does; ``attempts`` and ``retry_delay`` (both
    additions) change them.
    """

    attempts: int = _core.CLIENT_ATTEMPTS
    retry_delay = 3.0

    def __init__(
        self,
        address: str = "127.0.0.1",
        port: int = 5489,
        timeout: Optional[float] = 2.0,
        recv_timeout: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address, port, timeout=timeout, recv_timeout=recv_timeout, **kwargs)
        if self.socket is not None:
            self.socket.settimeout(self._recv_timeout)

    def _recreate_socket(self) -> None:
        self._close_socket()
        self._connected = False
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.settimeout(self._recv_timeout)
        self.conn = self.socket

    def _timeout_on(self, sock: socket.socket, timeout: Optional[float]) -> None:
        """Once connected, the kernel keeps the timeout (see `_kernel_timeout`)."""
        if getattr(self, "_connected", False) and sock is self.socket and _kernel_timeout(sock, timeout):
            return
        sock.settimeout(timeout)

    def connect(self) -> bool:
        """Connect to the server, up to ``attempts`` tries; True once connected, False if all
        failed."""
        for attempt in range(1, self.attempts + 1):
            sock = getattr(self, "socket", None)
            fresh = sock is None
            if not fresh:
                try:
                    fresh = sock.fileno() == -1
                except OSError:
                    fresh = True
            if fresh:
                self._recreate_socket()
            try:
                logger.debug("connect attempt %d to %s:%s", attempt, self.address, self.port)
                self.socket.connect((self.address, self.port))
            except OSError as msg:
                logger.error("SockThread Error: %s", msg)
                self._recreate_socket()
                if attempt < self.attempts:
                    time.sleep(self.retry_delay)
                continue
            logger.info("...Socket Connected")
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connected = True
            self.conn = self.socket
            self._timeout_on(self.socket, self._recv_timeout)
            return True
        return False
