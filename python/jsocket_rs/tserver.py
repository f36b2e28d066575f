"""ThreadedServer, ServerFactoryThread and ServerFactory: jsocket 2.0.3's ``tserver`` on the
Rust core.

Each server is a ``threading.Thread`` as in jsocket: ``start()``, ``stop()``, ``join()``. Its
thread runs the Rust ``native`` server (with its limits, budgets and control messages), which
waits for every client at once with the GIL released and calls ``_process_message`` with the
GIL held only for the call. ``ServerFactory`` still builds
one ``ServerFactoryThread`` object per client, as jsocket does, but starts no thread for it: a
thousand clients cost one thread, not a thousand.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from typing import Any, Optional

from . import _core
from . import jsocket_base
from ._version import __version__

__all__ = ["ServerFactory", "ServerFactoryThread", "ThreadedServer", "__version__"]

logger = logging.getLogger("jsocket_rs.tserver")


def _format_client_id(addr: Any) -> str:
    try:
        host, port = addr[0], addr[1]
        if ":" in host:
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    except Exception:  # pylint: disable=broad-exception-caught
        return "unknown"


class _PeerSocket:
    """What ``self.conn`` is while a client is served: the parts of a socket that make sense
    for a connection the core owns (its addresses, closing it)."""

    __slots__ = ("_peer", "_local")

    def __init__(self, peer: _core.Peer, local: Any) -> None:
        self._peer = peer
        self._local = local

    def getpeername(self) -> tuple:
        """The client's address."""
        return self._peer.address

    def getsockname(self) -> Any:
        """The server's address."""
        return self._local

    def fileno(self) -> int:
        """-1 once closed, as a closed socket's; the connection's id while open."""
        return -1 if self._peer.closed else self._peer.id

    def shutdown(self, _how: int = 2) -> None:
        """Closes the connection once its queued replies are sent."""
        self._peer.close()

    def close(self) -> None:
        """Closes the connection once its queued replies are sent."""
        self._peer.close()

    def settimeout(self, _timeout: Optional[float]) -> None:
        """Accepted and ignored: the server's timeouts are set when it starts."""

    def gettimeout(self) -> Optional[float]:
        """None: the core handles timeouts."""
        return None


class _Hooks:
    """What the core's server calls: connect, disconnect, a handler's error."""

    __slots__ = ("_server",)

    def __init__(self, server: "ThreadedServer") -> None:
        self._server = server

    def connect(self, peer: _core.Peer) -> Any:
        try:
            return self._server._client_connected(peer)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.exception("client setup failed for %s", _format_client_id(peer.address))
            peer.close()
            return _ignore

    def disconnect(self, peer: _core.Peer, error: Optional[BaseException]) -> None:
        if error is not None:
            logger.debug("client %s: %s", _format_client_id(peer.address), error)
        self._server._client_disconnected(peer)

    def error(self, peer: _core.Peer, exc: BaseException) -> None:
        logger.debug("handler error (%s): %s", type(exc).__name__, exc)


def _ignore(_obj: Any) -> None:
    return None


class ThreadedServer(threading.Thread, jsocket_base.JsonServer, metaclass=abc.ABCMeta):
    """A server in a thread of its own; subclass it and override ``_process_message``.

    As jsocket's, it serves one client at a time: the next is accepted when the first leaves,
    so state a subclass keeps on ``self`` belongs to one conversation at a time. Use
    ``ServerFactory`` for clients at once.
    """

    _one_at_a_time = True

    def __init__(self, **kwargs: Any) -> None:
        threading.Thread.__init__(self)
        jsocket_base.JsonServer.__init__(self, **kwargs)
        self._is_alive = False
        self._stats_lock = threading.Lock()
        self._client_started_at: Optional[float] = None
        self._client_id: Optional[str] = None
        self._engine: Optional[_core.Server] = None
        self._engine_lock = threading.Lock()
        self._current: Optional[_core.Peer] = None

    @abc.abstractmethod
    def _process_message(self, obj: Any) -> Optional[Any]:
        """Called for every message received from a client; returns the reply, or None.

        @param obj the message, as ``json.loads`` made it
        @retval None or a response object
        """
        return None

    # -- the core's server ------------------------------------------------------------------

    def _make_engine(self) -> _core.Server:
        limit = self.max_message_size
        return _core.Server(
            self.socket.fileno(),
            max_message_size=min(limit, 0xFFFFFFFF) if limit is not None else 0xFFFFFFFF,
            frame_timeout=self.recv_timeout,
            dialect=self._dialect,
            one_at_a_time=self._one_at_a_time,
        )

    def run(self) -> None:
        """Serves clients until ``stop()``; then closes the listening socket."""
        with self._engine_lock:
            # run() may be called directly, without start(), as jsocket allows.
            if not self._is_alive and self._engine is None:
                self._is_alive = True
            if not self._is_alive:
                return
            self._engine = self._make_engine()
        self._is_listening = True
        self._serving_thread = threading.current_thread()
        try:
            self._engine.serve(_Hooks(self))
        finally:
            self._is_alive = False
            try:
                self.close()
            except OSError:
                pass

    def _on_server_thread(self) -> bool:
        return threading.current_thread() is getattr(self, "_serving_thread", None)

    def start(self) -> None:
        """Starts the server's thread."""
        self._is_alive = True
        super().start()
        logger.debug("Threaded Server started on %s:%s", self.address, self.port)

    def stop(self) -> None:
        """Stops the server: no more clients are accepted, each connection sends the replies
        it has produced and closes, and the thread ends (``join()`` it)."""
        with self._engine_lock:
            self._is_alive = False
            if self._engine is not None:
                self._engine.stop()
        logger.debug("Threaded Server stopped on %s:%s", self.address, self.port)

    # -- clients ----------------------------------------------------------------------------

    def _client_connected(self, peer: _core.Peer) -> Any:
        with self._stats_lock:
            self._current = peer
            self._client_started_at = time.monotonic()
            self._client_id = _format_client_id(peer.address)
            self._last_client_addr = peer.address
        self.conn = _PeerSocket(peer, self.socket.getsockname())
        return self._process_message

    def _client_disconnected(self, peer: _core.Peer) -> None:
        with self._stats_lock:
            if self._current is peer:
                self._current = None
                self._client_started_at = None
                self._client_id = None

    def send_obj(self, obj: Any) -> None:
        """Sends ``obj`` to the client being served (after the replies queued before it)."""
        peer = self._current
        if peer is None:
            raise RuntimeError("socket connection broken")
        peer.send(obj)

    def read_obj(self) -> Any:
        """Not available: the server reads its clients itself and hands each message to
        ``_process_message``."""
        raise RuntimeError("a running jsocket_rs server reads its clients itself")

    def _is_connected(self) -> bool:
        peer = self._current
        return peer is not None and not peer.closed

    connected = property(_is_connected, doc="True if server has an active client connection")

    def get_client_stats(self) -> dict:
        """Return connected client count and per-client durations in seconds."""
        with self._stats_lock:
            started_at = self._client_started_at
            client_id = self._client_id
        if not started_at or not client_id or not self.connected:
            return {"connected_clients": 0, "clients": {}}
        return {"connected_clients": 1, "clients": {client_id: time.monotonic() - started_at}}


class ServerFactoryThread(threading.Thread, jsocket_base.JsonSocket, metaclass=abc.ABCMeta):
    """The handler of one client of a ``ServerFactory``; subclass it and override
    ``_process_message``.

    The factory builds one per client, as jsocket does, with the keyword arguments it was
    given. It stays a ``threading.Thread`` for the programs that treat it as one, but no thread
    is started for it: ``is_alive()`` is true while its client is connected, ``join()`` waits
    for the client to leave, ``send_obj`` queues a message for the client from any thread.
    """

    def __init__(self, **kwargs: Any) -> None:
        create_socket = kwargs.pop("create_socket", False)
        thread_kwargs = {}
        for key in ("group", "target", "name", "args", "kwargs", "daemon"):
            if key in kwargs:
                thread_kwargs[key] = kwargs.pop(key)
        threading.Thread.__init__(self, **thread_kwargs)
        self.socket = None
        self.conn = None
        jsocket_base.JsonSocket.__init__(self, create_socket=create_socket, **kwargs)
        self._is_alive = False
        self._client_started_at: Optional[float] = None
        self._client_id: Optional[str] = None
        self._peer: Optional[_core.Peer] = None
        self._gone = threading.Event()

    @abc.abstractmethod
    def _process_message(self, obj: Any) -> Optional[Any]:
        """Called for every message of this client; returns the reply, or None.

        @param obj the message, as ``json.loads`` made it
        @retval None or a response object
        """
        return None

    def swap_socket(self, new_sock: Any) -> None:
        """Gives this handler its client: a ``_core.Peer`` from the factory (or, as in jsocket,
        a connected socket, which ``read_obj``/``send_obj`` then use directly)."""
        if isinstance(new_sock, _core.Peer):
            self._peer = new_sock
            self.socket = self.conn = _PeerSocket(new_sock, None)
            addr = new_sock.address
        else:
            self.socket = self.conn = new_sock
            timeout = getattr(self, "_recv_timeout", getattr(self, "_timeout", None))
            if timeout is not None:
                new_sock.settimeout(timeout)
            try:
                addr = new_sock.getpeername()
            except OSError:
                addr = None
        self._client_id = _format_client_id(addr)
        self._client_started_at = time.monotonic()
        self._is_alive = True

    def send_obj(self, obj: Any) -> None:
        """Sends ``obj`` to this handler's client (after the replies queued before it)."""
        peer = self._peer
        if peer is None:
            jsocket_base.JsonSocket.send_obj(self, obj)
        else:
            peer.send(obj)

    def read_obj(self) -> Any:
        """Reads a message from a socket given with ``swap_socket``; a factory's client is read
        by the server, which hands each message to ``_process_message``."""
        if self._peer is not None:
            raise RuntimeError("a jsocket_rs ServerFactory reads its clients itself")
        return jsocket_base.JsonSocket.read_obj(self)

    def start(self) -> None:
        """Marks the handler live (a factory's client needs no thread); for a socket given with
        ``swap_socket``, starts a thread reading it, as jsocket does."""
        self._is_alive = True
        if self._peer is None:
            super().start()

    def run(self) -> None:
        """For a socket given with ``swap_socket``: reads messages and answers them until the
        client leaves, as jsocket does."""
        while self._is_alive:
            try:
                obj = self.read_obj()
                resp = self._process_message(obj)
                if resp is not None:
                    self.send_obj(resp)
            except TimeoutError:
                continue
            except Exception as e:  # pylint: disable=broad-exception-caught
                logger.info("client connection broken, closing connection: %s", e)
                self._is_alive = False
                break
        self._close_connection()

    def force_stop(self) -> None:
        """Closes this handler's client (once the replies queued for it are sent)."""
        self._is_alive = False
        if self._peer is not None:
            self._peer.close()

    def is_alive(self) -> bool:
        """True while the client is connected."""
        if self._peer is not None:
            return not self._gone.is_set()
        return threading.Thread.is_alive(self)

    def join(self, timeout: Optional[float] = None) -> None:
        """Waits until the client has left."""
        if self._peer is not None:
            factory = getattr(self, "_factory", None)
            # On the server's own thread (a handler stopping its client) there is nothing to
            # wait for: the client leaves once the handler returns.
            if factory is None or not factory._on_server_thread():
                self._gone.wait(timeout)
            return
        threading.Thread.join(self, timeout)

    def get_stats(self) -> dict:
        """This client's statistics: messages and bytes each way, its dialect, seconds
        connected. An addition to jsocket's API."""
        return self._peer.stats() if self._peer is not None else jsocket_base.JsonSocket.get_stats(self)


class ServerFactory(ThreadedServer):
    """Accepts clients and builds a ``server_thread`` handler for each, as jsocket does; serves
    them all at once on one thread.

    ``kwargs`` as jsocket's: ``address`` and ``port`` (defaults ``127.0.0.1`` and 5489, where
    jsocket raises ``KeyError`` without them), ``timeout``, ``accept_timeout``,
    ``recv_timeout``; every other keyword goes to each handler's constructor.
    """

    _one_at_a_time = False

    def __init__(self, server_thread: type, **kwargs: Any) -> None:
        if not (isinstance(server_thread, type) and issubclass(server_thread, ServerFactoryThread)):
            raise TypeError("serverThread not of type", ServerFactoryThread)
        init_kwargs = {"address": kwargs.get("address", "127.0.0.1"), "port": kwargs.get("port", 5489)}
        for key in ("timeout", "accept_timeout", "recv_timeout", "max_message_size", "dialect"):
            if key in kwargs:
                init_kwargs[key] = kwargs[key]
        ThreadedServer.__init__(self, **init_kwargs)
        self._thread_type = server_thread
        self._threads: dict = {}
        self._threads_lock = threading.Lock()
        self._thread_args = kwargs
        for key in ("address", "port", "accept_timeout", "dialect"):
            self._thread_args.pop(key, None)

    def _process_message(self, obj: Any) -> Optional[Any]:
        """ServerFactory does not process messages itself."""
        return None

    def _client_connected(self, peer: _core.Peer) -> Any:
        worker = self._thread_type(**self._thread_args)
        worker._factory = self
        worker.swap_socket(peer)
        with self._threads_lock:
            self._threads[peer.id] = worker
        logger.debug("factory built handler %s for %s", worker.name, _format_client_id(peer.address))
        return worker._process_message

    def _client_disconnected(self, peer: _core.Peer) -> None:
        with self._threads_lock:
            worker = self._threads.pop(peer.id, None)
        if worker is not None:
            worker._is_alive = False
            worker._gone.set()

    def _workers(self) -> list:
        with self._threads_lock:
            return list(self._threads.values())

    def stop_all(self) -> None:
        """Closes every client's connection and waits until they are gone."""
        workers = self._workers()
        for worker in workers:
            worker.force_stop()
        if not self._on_server_thread():
            for worker in workers:
                worker.join()

    def _get_num_of_active_threads(self) -> int:
        return len(self._workers())

    active = property(_get_num_of_active_threads, doc="number of active client handlers")

    def _is_connected(self) -> bool:
        return False

    connected = property(_is_connected, doc="False: the factory's clients are its handlers'")

    def get_client_stats(self) -> dict:
        """Return connected client count and per-client durations in seconds."""
        now = time.monotonic()
        clients = {}
        for worker in self._workers():
            started_at = worker._client_started_at
            client_id = worker._client_id or f"thread-{worker.name}"
            clients[client_id] = now - started_at if started_at else 0.0
        return {"connected_clients": len(clients), "clients": clients}
