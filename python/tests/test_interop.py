"""Interop with the real jsocket from PyPI, both ways: its JsonClient against our servers
(tests/python/peer_client.py, shared with the Rust tests), our JsonClient against its
ServerFactory (tests/python/peer_server.py): 2.0.3 in v2, 1.9.6 in v1."""

import subprocess

import pytest

import jsocket_rs as jsocket
from conftest import HOST, PEERS, VECTORS, interpreter, port_of



class Wrapper(jsocket.ServerFactoryThread):
    def _process_message(self, obj):
        return {"echo": obj}


class WrappingServer(jsocket.ThreadedServer):
    def _process_message(self, obj):
        return {"echo": obj}


def run(version, script, *args):
    out = subprocess.run(
        [interpreter(version), str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stdout + out.stderr
    return out.stdout


@pytest.fixture
def wrapping_factory():
    server = jsocket.ServerFactory(Wrapper, address=HOST, port=0)
    server.start()
    yield server
    server.stop()
    server.join(10)


@pytest.mark.parametrize("version", ["2.0.3", "1.9.6"])
def test_their_client_against_our_factory(wrapping_factory, version):
    port = port_of(wrapping_factory)
    run(version, PEERS / "peer_client.py", "echo", port, VECTORS, "--wrapped")
    run(version, PEERS / "peer_client.py", "concurrent", port, 8, "--wrapped")


@pytest.mark.parametrize("version", ["2.0.3", "1.9.6"])
def test_their_client_reconnects_to_our_factory(factory, version):
    run(version, PEERS / "peer_client.py", "reconnect", port_of(factory))


@pytest.mark.parametrize("version", ["2.0.3", "1.9.6"])
def test_their_client_against_our_threaded_server(version):
    server = WrappingServer(address=HOST, port=0)
    server.start()
    try:
        run(version, PEERS / "peer_client.py", "echo", port_of(server), VECTORS, "--wrapped")
    finally:
        server.stop()
        server.join(10)


@pytest.mark.parametrize("version,dialect", [("2.0.3", "v2"), ("1.9.6", "v1")])
def test_our_client_against_their_factory(version, dialect):
    peer = subprocess.Popen(
        [interpreter(version), str(PEERS / "peer_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(peer.stdout.readline())
        client = jsocket.JsonClient(address=HOST, port=port, timeout=30.0, dialect=dialect)
        client.retry_delay = 0.1
        assert client.connect()
        # Not None: a jsocket handler returning None sends no reply.
        values = [{"z": 1, "a": 2**70, "f": 0.1, "s": "☃\n"}, [], "x" * 100_000, False]
        for value in values:
            client.send_obj(value)
            assert client.read_obj() == value
        client.close()
    finally:
        peer.stdin.close()
        peer.wait(timeout=30)
        peer.stdout.close()
