"""Shared helpers: servers on port 0, clients, raw frames, the repository's wire vectors and the
real jsocket interpreters (JSOCKET_PY_203, JSOCKET_PY_196, set by tests/run.sh)."""

import json
import os
import pathlib
import socket
import struct
import zlib

import pytest

import jsocket_rs as jsocket

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
PEERS = ROOT / "tests" / "python"
HOST = "127.0.0.1"


def vectors(name):
    """(value, frame bytes) of each line of tests/vectors/NAME."""
    out = []
    for line in (VECTORS / name).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        text, hexed = line.split("\t")
        out.append((json.loads(text), bytes.fromhex(hexed)))
    assert out, f"no vectors in {name}"
    return out


def v2_frame(payload, magic=b"JSN1", length=None, crc=None):
    """A v2 frame, with any field overridden to make a bad one."""
    length = len(payload) if length is None else length
    crc = zlib.crc32(payload) & 0xFFFFFFFF if crc is None else crc
    return struct.pack("!4sII", magic, length, crc) + payload


def closed_by_peer(sock, timeout=10.0):
    """True if the peer closes `sock` (reads end or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def port_of(server):
    return server.socket.getsockname()[1]


class Echo(jsocket.ThreadedServer):
    """A ThreadedServer as its users write one: answers each message with itself."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def _process_message(self, obj):
        self.seen.append(obj)
        return obj


class EchoWorker(jsocket.ServerFactoryThread):
    """A ServerFactoryThread as its users write one."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeout = 2.0

    def _process_message(self, obj):
        return obj


@pytest.fixture
def echo_server():
    server = Echo(address=HOST, port=0)
    server.start()
    yield server
    server.stop()
    server.join(10)
    assert not server.is_alive()


@pytest.fixture
def factory():
    server = jsocket.ServerFactory(EchoWorker, address=HOST, port=0)
    server.start()
    yield server
    server.stop()
    server.join(10)
    assert not server.is_alive()


def connect(port, **kwargs):
    client = jsocket.JsonClient(address=HOST, port=port, **kwargs)
    assert client.connect()
    return client


def interpreter(version):
    """The Python with jsocket VERSION, or a skip (a failure when JSOCKET_REQUIRE_PY is set)."""
    var = {"2.0.3": "JSOCKET_PY_203", "1.9.6": "JSOCKET_PY_196"}[version]
    path = os.environ.get(var)
    if not path:
        if os.environ.get("JSOCKET_REQUIRE_PY"):
            pytest.fail(f"{var} is not set")
        pytest.skip(f"{var} not set: no jsocket {version} to test against")
    return path
