"""jsocket_rs: the API of jsocket 2.0.3 (PyPI) on the Rust core of jsocket-in-Rust.

Change ``import jsocket`` to ``import jsocket_rs as jsocket``: ``JsonClient``, ``JsonServer``,
``JsonSocket``, ``FramingError``, ``ThreadedServer``, ``ServerFactoryThread`` and
``ServerFactory`` keep their names, arguments, defaults, attributes and behaviour, and speak
the same bytes. What differs (faster, one thread for many clients) is listed in the package's
README.

The sans-IO layer underneath is here too: ``encode``, ``Decoder``, ``Connection`` (see
``jsocket_rs.sansio``).
"""

from .jsocket_base import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FRAME_HEADER_FMT,
    FRAME_HEADER_SIZE,
    FRAME_MAGIC,
    FramingError,
    JsonClient,
    JsonServer,
    JsonSocket,
)
from .tserver import ServerFactory, ServerFactoryThread, ThreadedServer
from .sansio import (
    NEED_DATA,
    Closed,
    Connection,
    Decoder,
    Message,
    Rejected,
    encode,
    encode_payload,
)
from ._version import JSOCKET_API_VERSION, __version__

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "FRAME_HEADER_FMT",
    "FRAME_HEADER_SIZE",
    "FRAME_MAGIC",
    "FramingError",
    "JsonClient",
    "JsonServer",
    "JsonSocket",
    "ServerFactory",
    "ServerFactoryThread",
    "ThreadedServer",
    "NEED_DATA",
    "Closed",
    "Connection",
    "Decoder",
    "Message",
    "Rejected",
    "encode",
    "encode_payload",
    "JSOCKET_API_VERSION",
    "__version__",
]
