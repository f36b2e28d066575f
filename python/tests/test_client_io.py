"""A client's reads and writes, done in Rust on the Python socket: one message per read_obj (so
select on the socket stays true to what waits), frames however they arrive, large messages,
Python's own socket timeouts, and Ctrl-C while a read blocks."""

import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import jsocket_rs as jsocket
from conftest import HOST, connect, port_of, v2_frame


class _Peer:
    """A listening socket whose one client is served by `serve(conn)` on a thread."""

    def __init__(self, serve):
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(serve,))
        self.thread.start()

    def _run(self, serve):
        conn, _ = self.sock.accept()
        try:
            serve(conn)
        except Exception as e:  # the test reports it
            self.error = e
        finally:
            conn.close()
            self.sock.close()

    def join(self):
        self.thread.join(10)
        assert self.error is None, self.error


def test_connect_tries_as_often_as_the_cores_client_profile_says(caplog):
    from jsocket_rs import _core

    assert _core.CLIENT_ATTEMPTS == 10  # jsocket's client tries 10 times
    assert jsocket.JsonClient.attempts == _core.CLIENT_ATTEMPTS
    with socket.create_server((HOST, 0)) as sock:
        port = sock.getsockname()[1]  # let go below: nothing listens there
    client = jsocket.JsonClient(address=HOST, port=port)
    client.retry_delay = 0
    with caplog.at_level("DEBUG", logger="jsocket_rs"):
        assert client.connect() is False
    tries = [r for r in caplog.records if r.getMessage().startswith("connect attempt")]
    assert len(tries) == _core.CLIENT_ATTEMPTS
    client.close()


def test_a_read_takes_one_message_so_select_tells_that_another_waits():
    sent = threading.Event()

    def serve(conn):
        conn.sendall(v2_frame(b'{"n": 1}') + v2_frame(b'{"n": 2}'))
        sent.set()
        conn.recv(1)  # until the client leaves

    peer = _Peer(serve)
    client = connect(peer.port)
    assert sent.wait(5)
    time.sleep(0.1)  # both frames are in the client's socket
    assert client.read_obj() == {"n": 1}
    readable, _, _ = select.select([client.socket], [], [], 0)
    assert readable == [client.socket]
    assert client.read_obj() == {"n": 2}
    readable, _, _ = select.select([client.socket], [], [], 0.1)
    assert readable == []
    client.close()
    peer.join()


def test_a_frame_dribbled_byte_by_byte_is_read_whole():
    frames = v2_frame(b'{"slow": [1, 2, 3]}') + v2_frame(b'"next"')

    def serve(conn):
        for i in range(len(frames)):
            conn.sendall(frames[i : i + 1])
            time.sleep(0.002)
        conn.recv(1)

    peer = _Peer(serve)
    client = connect(peer.port)
    assert client.read_obj() == {"slow": [1, 2, 3]}
    assert client.read_obj() == "next"
    client.close()
    peer.join()


def test_a_large_message_crosses_both_ways(factory):
    client = connect(port_of(factory), timeout=30)
    big = {"blob": "é" * (3 << 20), "n": list(range(1000))}
    client.send_obj(big)
    assert client.read_obj() == big
    assert client.get_stats()["bytes_in"] > 6 << 20
    client.close()


def test_pythons_own_socket_timeout_is_honoured(echo_server):
    client = connect(port_of(echo_server))
    client.socket.settimeout(0.2)  # a program may set it on the socket itself
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        client.read_obj()
    assert 0.15 < time.monotonic() - started < 5
    client.send_obj("still open")
    assert client.read_obj() == "still open"
    client.close()


def test_a_timeout_inside_a_frame_on_a_python_timeout_socket_is_a_framing_error():
    def serve(conn):
        conn.sendall(v2_frame(b'{"a": 1}')[:10])
        conn.recv(1)

    peer = _Peer(serve)
    client = connect(peer.port)
    client.socket.settimeout(0.2)
    with pytest.raises(jsocket.FramingError, match="socket read timeout during message"):
        client.read_obj()
    assert client.socket.fileno() == -1
    client.close()
    peer.join()


def test_a_peer_leaving_inside_a_frame_breaks_the_connection_as_jsocket():
    def serve(conn):
        conn.sendall(v2_frame(b'{"a": 1}')[:14])

    peer = _Peer(serve)
    client = connect(peer.port)
    with pytest.raises(RuntimeError, match="socket connection broken"):
        client.read_obj()
    client.close()
    peer.join()


def test_reads_and_writes_on_a_closed_client_fail_as_jsocket(echo_server):
    client = connect(port_of(echo_server))
    client.close()
    with pytest.raises(RuntimeError, match="socket connection broken"):
        client.send_obj("after close")
    with pytest.raises(OSError):
        client.read_obj()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_ends_a_blocked_read_obj(echo_server):
    program = textwrap.dedent(
        f"""
        import jsocket_rs as jsocket
        client = jsocket.JsonClient(address="{HOST}", port={port_of(echo_server)}, timeout=None)
        assert client.connect()
        print("reading", flush=True)
        client.read_obj()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "reading"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
