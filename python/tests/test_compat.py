"""jsocket 2.0.3 programs with the import switched: ThreadedServer and ServerFactory subclasses,
JsonClient, timeouts, reconnects, bad frames, statistics, end to end on port 0."""

import socket
import threading
import time

import pytest

import jsocket_rs as jsocket
from conftest import HOST, Echo, EchoWorker, closed_by_peer, connect, port_of, v2_frame


def test_threaded_server_subclass_echoes_exactly(echo_server):
    client = connect(port_of(echo_server))
    message = {"z": 1, "a": [1.5, None, True], "big": 2**80, "text": "héllo ☃ 😀", "nested": {"b": 1, "a": 2}}
    client.send_obj(message)
    reply = client.read_obj()
    assert reply == message
    assert list(reply) == list(message) and list(reply["nested"]) == ["b", "a"]
    assert echo_server.seen == [message]
    client.close()


def test_threaded_server_stats_have_jsocket_s_format(echo_server):
    assert echo_server.get_client_stats() == {"connected_clients": 0, "clients": {}}
    client = connect(port_of(echo_server))
    client.send_obj({"hi": 1})
    client.read_obj()
    stats = echo_server.get_client_stats()
    assert stats["connected_clients"] == 1
    ((client_id, seconds),) = stats["clients"].items()
    assert client_id == "%s:%d" % client.socket.getsockname()
    assert 0 <= seconds < 10
    assert echo_server.connected
    client.close()
    deadline = time.monotonic() + 5
    while echo_server.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert echo_server.get_client_stats() == {"connected_clients": 0, "clients": {}}


def test_threaded_server_serves_one_client_at_a_time_as_jsocket(echo_server):
    first = connect(port_of(echo_server))
    second = connect(port_of(echo_server), timeout=0.3)
    first.send_obj("first")
    assert first.read_obj() == "first"
    second.send_obj("second")
    with pytest.raises(socket.timeout):
        second.read_obj()  # waits for the first client to leave
    first.close()
    second.timeout = 5.0
    assert second.read_obj() == "second"
    second.close()


def test_handler_may_send_before_replying_and_order_is_kept():
    class Chatty(jsocket.ThreadedServer):
        def _process_message(self, obj):
            self.send_obj({"ack": obj})
            self.send_obj({"ack2": obj})
            return {"done": obj}

    server = Chatty(address=HOST, port=0)
    server.start()
    try:
        client = connect(port_of(server))
        for i in range(3):
            client.send_obj(i)
        got = [client.read_obj() for _ in range(9)]
        assert got == [m for i in range(3) for m in ({"ack": i}, {"ack2": i}, {"done": i})]
        client.close()
    finally:
        server.stop()
        server.join(10)


def test_a_handler_exception_closes_that_client_only(factory):
    class Fragile(jsocket.ServerFactoryThread):
        def _process_message(self, obj):
            if obj == "boom":
                raise KeyError("boom")
            return obj

    server = jsocket.ServerFactory(Fragile, address=HOST, port=0)
    server.start()
    try:
        good = connect(port_of(server))
        bad = connect(port_of(server))
        bad.send_obj("boom")
        with pytest.raises(RuntimeError, match="socket connection broken"):
            bad.read_obj()
        good.send_obj("still here")
        assert good.read_obj() == "still here"
        good.close()
    finally:
        server.stop()
        server.join(10)


def test_factory_builds_one_handler_per_client_and_serves_them_together():
    built = []
    calls = {"now": 0, "most": 0}
    lock = threading.Lock()

    class Counter(jsocket.ServerFactoryThread):
        def __init__(self, greeting="n", **kwargs):
            super().__init__(**kwargs)
            self.greeting = greeting
            self.count = 0
            built.append(self)

        def _process_message(self, obj):
            with lock:
                calls["now"] += 1
                calls["most"] = max(calls["most"], calls["now"])
            self.count += 1
            reply = {self.greeting: self.count, "you": obj}
            with lock:
                calls["now"] -= 1
            return reply

    server = jsocket.ServerFactory(Counter, address=HOST, port=0, greeting="seq", timeout=2.0)
    server.start()
    clients = [connect(port_of(server)) for _ in range(8)]
    errors = []

    def talk(k, client):
        try:
            for i in range(1, 51):
                client.send_obj(k)
                assert client.read_obj() == {"seq": i, "you": k}
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=talk, args=(k, c)) for k, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(built) == 8 and all(w.count == 50 for w in built)
    assert calls["most"] == 1  # handler calls never overlap
    stats = server.get_client_stats()
    assert stats["connected_clients"] == 8 == server.active
    assert set(stats["clients"]) == {"%s:%d" % c.socket.getsockname() for c in clients}
    assert all(w.is_alive() for w in built)
    assert built[0].get_stats()["messages_in"] == 50

    server.stop_all()
    assert not any(w.is_alive() for w in built)
    for c in clients:
        with pytest.raises(RuntimeError, match="socket connection broken"):
            c.read_obj()
    server.stop()
    server.join(10)
    assert not server.is_alive()


def test_a_handler_can_be_sent_to_from_another_thread(factory):
    client = connect(port_of(factory))
    client.send_obj("hello")
    assert client.read_obj() == "hello"
    (worker,) = factory._workers()
    pusher = threading.Thread(target=lambda: [worker.send_obj({"push": i}) for i in range(100)])
    pusher.start()
    pusher.join()
    assert [client.read_obj() for _ in range(100)] == [{"push": i} for i in range(100)]
    client.close()


def test_client_reconnects_after_a_server_restart():
    first = Echo(address=HOST, port=0)
    port = port_of(first)
    first.start()
    client = connect(port)
    client.send_obj(1)
    assert client.read_obj() == 1
    first.stop()
    first.join(10)
    with pytest.raises(RuntimeError, match="socket connection broken"):
        client.send_obj(2)
        client.read_obj()
    second = Echo(address=HOST, port=port)
    second.start()
    try:
        client.close()
        assert client.connect()
        client.send_obj(3)
        assert client.read_obj() == 3
        client.close()
    finally:
        second.stop()
        second.join(10)


def test_connect_gives_up_after_ten_attempts():
    probe = socket.socket()
    probe.bind((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    client = jsocket.JsonClient(address=HOST, port=port)
    client.retry_delay = 0.01
    started = time.monotonic()
    assert client.connect() is False
    assert time.monotonic() - started < 5
    client.close()


def test_read_timeout_keeps_the_connection(echo_server):
    client = connect(port_of(echo_server), timeout=0.2)
    assert client.timeout == client.recv_timeout == 0.2
    with pytest.raises(socket.timeout):
        client.read_obj()
    client.send_obj("after the timeout")
    assert client.read_obj() == "after the timeout"
    client.close()


def test_a_client_stalling_inside_a_frame_is_cut_off_by_the_servers_recv_timeout():
    server = jsocket.ServerFactory(EchoWorker, address=HOST, port=0, recv_timeout=0.3)
    server.start()
    try:
        stalled = socket.create_connection((HOST, port_of(server)))
        stalled.sendall(v2_frame(b'{"a": 1}')[:9])
        good = connect(port_of(server))
        good.send_obj("served meanwhile")
        assert good.read_obj() == "served meanwhile"
        assert closed_by_peer(stalled, timeout=5)
        stalled.close()
        good.close()
    finally:
        server.stop()
        server.join(10)


@pytest.mark.parametrize(
    "kind,wire",
    [
        ("oversize", v2_frame(b"", length=11 << 20)),
        ("bad_crc", v2_frame(b'{"a": 1}', crc=0xDEADBEEF)),
        ("bad_header", b"\xde\xad\xbe\xef" + bytes(12)),
        ("invalid_utf8", v2_frame(b'"\xff\xfe"')),
        ("invalid_json", v2_frame(b"{not json")),
    ],
)
def test_bad_frames_close_that_connection_and_the_others_go_on(factory, kind, wire):
    good = connect(port_of(factory))
    raw = socket.create_connection((HOST, port_of(factory)))
    raw.sendall(wire)
    assert closed_by_peer(raw), kind
    raw.close()
    good.send_obj({"after": kind})
    assert good.read_obj() == {"after": kind}
    good.close()


class _RawServer:
    """A listening socket that answers its one client with fixed bytes."""

    def __init__(self, reply):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(reply,))
        self.thread.start()

    def _serve(self, reply):
        conn, _ = self.sock.accept()
        conn.recv(65536)
        conn.sendall(reply)
        time.sleep(0.5)
        conn.close()
        self.sock.close()


@pytest.mark.parametrize(
    "reply,message",
    [
        (v2_frame(b"{}", crc=7), "message checksum mismatch"),
        (v2_frame(b"{}", magic=b"JSN2"), "invalid message header magic"),
        (v2_frame(b"{bad"), "invalid JSON payload"),
        (v2_frame(b'"\xff"'), "invalid UTF-8 payload"),
        (v2_frame(b"x" * 2000), "message length 2000 exceeds max_message_size 1000"),
    ],
)
def test_client_raises_framing_error_as_jsocket(reply, message):
    peer = _RawServer(reply)
    client = connect(peer.port)
    client.max_message_size = 1000
    client.send_obj("hello")
    with pytest.raises(jsocket.FramingError, match=message.replace("(", r"\(")):
        client.read_obj()
    assert client.socket.fileno() == -1  # closed, as jsocket closes it
    client.close()
    peer.thread.join()


def test_client_refuses_to_send_over_its_limit(echo_server):
    client = connect(port_of(echo_server))
    client.max_message_size = 100
    with pytest.raises(ValueError, match="exceeds max_message_size"):
        client.send_obj("x" * 200)
    with pytest.raises(ValueError):
        client.max_message_size = 0
    client.send_obj("fits")
    assert client.read_obj() == "fits"
    client.close()


def test_a_stalled_reply_is_a_framing_error_on_the_client():
    peer = _RawServer(v2_frame(b'{"a": 1}')[:10])
    client = connect(peer.port, timeout=0.2)
    client.send_obj("hello")
    with pytest.raises(jsocket.FramingError, match="socket read timeout during message"):
        client.read_obj()
    client.close()
    peer.thread.join()


@pytest.mark.parametrize("dialect", ["v1", "v1-le"])
def test_servers_detect_older_dialects_and_answer_in_kind(echo_server, dialect):
    client = connect(port_of(echo_server), dialect=dialect)
    client.send_obj({"old": dialect})
    assert client.read_obj() == {"old": dialect}
    assert client.get_stats()["dialect"] == dialect
    client.close()


def test_json_server_and_client_one_connection():
    server = jsocket.JsonServer(address=HOST, port=0)
    port = server.socket.getsockname()[1]
    result = {}

    def serve():
        server.accept_connection()
        result["got"] = server.read_obj()
        server.send_obj({"reply": result["got"]})

    server.accept_timeout = 10.0
    t = threading.Thread(target=serve)
    t.start()
    client = jsocket.JsonClient(address=HOST, port=port)
    client.retry_delay = 0.05  # the server may not be listening yet
    assert client.connect()
    client.send_obj([1, 2])
    assert client.read_obj() == {"reply": [1, 2]}
    t.join()
    assert server.connected
    server.close()
    client.close()


def test_contract_checks_as_jsocket():
    with pytest.raises(TypeError):
        jsocket.ThreadedServer(address=HOST, port=0)  # abstract
    with pytest.raises(TypeError):
        jsocket.ServerFactory(dict, address=HOST, port=0)
    client = jsocket.JsonClient()
    assert (client.address, client.port, client.timeout) == ("127.0.0.1", 5489, 2.0)
    assert client.max_message_size == jsocket.DEFAULT_MAX_MESSAGE_SIZE == 10 * 1024 * 1024
    client.address = "elsewhere"  # read-only, silently, as jsocket
    assert client.address == "127.0.0.1"
    client.close()
    assert issubclass(jsocket.FramingError, RuntimeError)


def test_run_without_start_and_stop_from_another_thread():
    server = Echo(address=HOST, port=0)
    runner = threading.Thread(target=server.run)
    runner.start()
    client = connect(port_of(server))
    client.send_obj("x")
    assert client.read_obj() == "x"
    client.close()
    server.stop()
    runner.join(10)
    assert not runner.is_alive()
    assert server.socket.fileno() == -1


def test_ctrl_c_stops_a_server_run_on_the_main_thread():
    import signal
    import subprocess
    import sys

    script = (
        "import jsocket_rs as j\n"
        "class S(j.ThreadedServer):\n"
        "    def _process_message(self, obj): return obj\n"
        "s = S(address='127.0.0.1', port=0)\n"
        "print(s.socket.getsockname()[1], flush=True)\n"
        "s.run()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    client = connect(port)  # the server is running: it answers
    client.send_obj("up")
    assert client.read_obj() == "up"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    client.close()
    proc.stdout.close()
    proc.stderr.close()


def test_a_client_that_does_not_read_cannot_grow_the_servers_queue(factory):
    client = connect(port_of(factory))
    client.send_obj("hello")
    assert client.read_obj() == "hello"
    (worker,) = factory._workers()
    big = "x" * (1 << 20)
    sent = 0
    with pytest.raises(RuntimeError, match="socket connection broken"):
        for _ in range(100):  # 100 MiB if nothing stopped it
            worker.send_obj(big)
            sent += 1
    # The kernel's buffers, 1 MiB of output and max_message_size plus 1 MiB of queue, no more.
    assert sent < 40
    client.close()


def test_the_server_answers_control_messages_itself(echo_server):
    client = connect(port_of(echo_server))
    client.send_obj({"$jsocket": "stats"})
    stats = client.read_obj()
    assert stats["$jsocket"] == "stats" and stats["connections"] == 1
    client.send_obj("for the handler")
    assert client.read_obj() == "for the handler"
    assert echo_server.seen == ["for the handler"]  # the control message never reached it
    client.close()


def test_a_reply_json_cannot_hold_closes_that_client(factory):
    class Odd(jsocket.ServerFactoryThread):
        def _process_message(self, obj):
            return float("nan") if obj == "nan" else obj

    server = jsocket.ServerFactory(Odd, address=HOST, port=0)
    server.start()
    try:
        client = connect(port_of(server))
        client.send_obj("fine")
        assert client.read_obj() == "fine"
        client.send_obj("nan")
        with pytest.raises(RuntimeError, match="socket connection broken"):
            client.read_obj()
    finally:
        server.stop()
        server.join(10)


def test_stopping_a_threaded_server_does_not_serve_the_clients_waiting_their_turn():
    server = Echo(address=HOST, port=0)
    server.start()
    first = connect(port_of(server))
    first.send_obj("served")
    assert first.read_obj() == "served"
    waiting = [connect(port_of(server), timeout=10.0) for _ in range(5)]
    for client in waiting:
        client.send_obj("never answered")
    # All of them taken in by the server, not still in the kernel's queue of the listener,
    # whose close resets what it holds: the server's statistics count them.
    deadline = time.monotonic() + 10
    while True:
        first.send_obj({"$jsocket": "stats"})
        if first.read_obj().get("connections") == 6:
            break
        assert time.monotonic() < deadline, "the server took in the clients in line"
        time.sleep(0.1)
    server.stop()
    # Those in line stop waiting and close in order: no reply, and no reset (which a connection
    # still waiting when the shutdown's time runs out would get).
    server.join(8)
    assert not server.is_alive()
    for client in waiting:
        with pytest.raises(RuntimeError, match="socket connection broken"):
            client.read_obj()
        client.close()
    first.close()
    assert server.seen == ["served"]
