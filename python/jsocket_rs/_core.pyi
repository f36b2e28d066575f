"""Type stubs for jsocket_rs._core, the Rust core of jsocket_rs."""

from typing import Any, Callable, Final, Optional, Protocol, Tuple, Union

DEFAULT_MAX_MESSAGE_SIZE: Final[int]
DEFAULT_FRAME_TIMEOUT: Final[Optional[float]]
"""The core's frame timeout in seconds: the default ``frame_timeout`` of ``Connection`` and ``Server``."""
CLIENT_ATTEMPTS: Final[int]
"""A client's attempts to connect, from the core's client profile for a program."""

class FramingError(RuntimeError):
    """A message failed framing or integrity checks; ``kind`` names the failure."""

    kind: str

class NeedData:
    """The type of ``NEED_DATA``."""

NEED_DATA: Final[NeedData]

class Message:
    """A message arrived: ``obj`` is what ``json.loads`` made of it."""

    @property
    def obj(self) -> Any: ...

class Rejected:
    """A frame arrived intact but its payload was not JSON (lenient connections only)."""

    @property
    def error(self) -> FramingError: ...

class Closed:
    """The connection is over: ``reason`` is ``"eof"``, ``"local"``, ``"idle"``, ``"error"`` or
    ``"grace_expired"`` (closing, the peer did not take the output in time: it was dropped)."""

    @property
    def reason(self) -> str: ...
    @property
    def error(self) -> Optional[FramingError]: ...

Event = Union[Message, Rejected, Closed, NeedData]

def encode(obj: Any, dialect: str = "v2", max_message_size: int = ...) -> bytes:
    """``obj`` serialised as jsocket does, as one frame of ``dialect``."""

def encode_payload(payload: Union[bytes, str], dialect: str = "v2", max_message_size: int = ...) -> bytes:
    """An already serialised JSON payload as one frame of ``dialect``."""

class Decoder:
    """Bytes in any chunking to validated payload texts."""

    def __init__(self, max_message_size: int = ..., dialect: str = "auto") -> None: ...
    def feed(self, data: bytes) -> list[str]:
        """The payloads the bytes complete."""
    def finish(self) -> None:
        """Raises ``FramingError`` if the stream ended inside a frame."""
    @property
    def dialect(self) -> Optional[str]: ...
    @property
    def buffered(self) -> int: ...

class Connection:
    """One jsocket connection without IO: bytes and time in, events and bytes out."""

    def __init__(
        self,
        max_message_size: int = ...,
        dialect: str = "auto",
        send_dialect: str = "v2",
        frame_timeout: Optional[float] = ...,
        idle_timeout: Optional[float] = None,
        strict_json: bool = False,
        now: float = 0.0,
    ) -> None: ...
    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes received at ``now``; ``b""`` is the end of the stream."""
    def handle_timeout(self, now: float) -> None:
        """Reports the time; closes the connection past a deadline."""
    def next_event(self) -> Event:
        """The next event, or ``NEED_DATA``."""
    def send(self, obj: Any, now: float) -> None:
        """Queues ``obj`` at ``now`` as one frame in the peer's dialect."""
    def send_payload(self, payload: bytes, now: float) -> None:
        """Queues an already serialised JSON payload at ``now`` as one frame."""
    def close(self, now: float) -> None:
        """Closes from this side at ``now``; queued output remains to be sent."""
    def data_to_send(self) -> bytes:
        """Every byte waiting to be sent."""
    def next_timeout(self) -> Optional[float]:
        """When ``handle_timeout`` must next be called, or ``None``."""
    @property
    def closed(self) -> bool: ...
    @property
    def wants_input(self) -> bool: ...
    @property
    def partial_frame_len(self) -> int: ...
    @property
    def dialect(self) -> Optional[str]: ...
    @property
    def send_dialect(self) -> str: ...
    @property
    def frame_timeout(self) -> Optional[float]: ...
    def stats(self) -> dict[str, Any]:
        """Messages and bytes each way, failures by kind, dialect."""

class Peer:
    """A server's handle on one client."""

    def send(self, obj: Any) -> None:
        """Sends ``obj`` to this client: from its handler ahead of the reply, from any other
        thread after what the server holds for it."""
    def close(self) -> None:
        """Closes the connection once what is queued is sent."""
    @property
    def id(self) -> int: ...
    @property
    def address(self) -> Tuple[str, int]: ...
    @property
    def closed(self) -> bool: ...
    @property
    def duration(self) -> float: ...
    def stats(self) -> dict[str, Any]:
        """Messages and bytes each way, dialect, seconds connected."""

class _Hooks(Protocol):
    def connect(self, peer: Peer) -> Callable[[Any], Any]: ...
    def disconnect(self, peer: Peer, error: Optional[FramingError]) -> None: ...
    def error(self, peer: Peer, exc: BaseException) -> None: ...

class Server:
    """A bound socket served by the Rust ``native`` server, many clients on one thread."""

    def __init__(
        self,
        fileno: int,
        max_message_size: int = ...,
        frame_timeout: Optional[float] = ...,
        idle_timeout: Optional[float] = None,
        dialect: str = "auto",
        one_at_a_time: bool = False,
        max_connections: Optional[int] = None,
    ) -> None: ...
    def serve(self, hooks: _Hooks) -> None:
        """Serves clients until ``stop()``."""
    def stop(self) -> None:
        """Stops the server from any thread."""
    @property
    def address(self) -> Tuple[str, int]: ...
    @property
    def frame_timeout(self) -> Optional[float]: ...

class Stream:
    """The IO of ``JsonSocket`` on a Python socket, done in Rust with the GIL released: one
    ``send`` per message; a read takes the header, then the payload, never a byte past the
    message it returns."""

    def __init__(
        self, max_message_size: int, dialect: str = "v2", send_dialect: str = "v2", now: float = 0.0
    ) -> None: ...
    def send(self, fd: int, obj: Any, timeout: Optional[float]) -> None:
        """Sends ``obj`` as one frame on the socket ``fd`` whose timeout is ``timeout``."""
    def read(self, fd: int, timeout: Optional[float]) -> Any:
        """Reads one message from the socket ``fd`` whose timeout is ``timeout``."""
    @property
    def partial_frame_len(self) -> int: ...
    def stats(self) -> dict[str, Any]:
        """Messages and bytes each way, failures by kind, dialect."""
