"""The sans-IO layer on its own: events, errors that say who was wrong, time as an argument."""

import socket

import pytest

import jsocket_rs as jsocket
from conftest import HOST, v2_frame


def drain(conn):
    events = []
    while (event := conn.next_event()) is not jsocket.NEED_DATA:
        events.append(event)
        if isinstance(event, jsocket.Closed):
            break
    return events


def test_message_keeps_key_order_big_integers_and_floats():
    payload = b'{"z": 1, "a": 123456789012345678901234567890, "f": 1.1000000000000001, "n": NaN}'
    conn = jsocket.Connection()
    conn.receive_data(v2_frame(payload), 0.0)
    (event,) = drain(conn)
    assert isinstance(event, jsocket.Message)
    assert list(event.obj) == ["z", "a", "f", "n"]
    assert event.obj["a"] == 123456789012345678901234567890
    assert event.obj["f"] == 1.1000000000000001
    assert event.obj["n"] != event.obj["n"]


def test_a_bad_json_payload_costs_one_message_unless_strict():
    wire = v2_frame(b"{nope") + v2_frame(b"[1]")
    lenient = jsocket.Connection()
    lenient.receive_data(wire, 0.0)
    rejected, message = drain(lenient)
    assert isinstance(rejected, jsocket.Rejected)
    assert rejected.error.kind == "invalid_json"
    assert message.obj == [1]
    assert lenient.stats()["failures"] == {"invalid_json": 1}

    strict = jsocket.Connection(strict_json=True)
    strict.receive_data(wire, 0.0)
    (closed,) = drain(strict)  # and the message behind the bad one is not delivered
    assert isinstance(closed, jsocket.Closed) and closed.reason == "error"
    assert closed.error.kind == "invalid_json"
    assert strict.closed


@pytest.mark.parametrize(
    "wire,kind,message",
    [
        (v2_frame(b"{}", crc=1), "crc_mismatch", "message checksum mismatch"),
        (v2_frame(b"{}", magic=b"XXXX"), "bad_magic", "invalid message header magic"),
        (v2_frame(b"", length=11 << 20), "oversize", "message length 11534336 exceeds max_message_size 10485760"),
    ],
)
def test_framing_errors_close_with_jsocket_messages(wire, kind, message):
    conn = jsocket.Connection(dialect="v2")
    conn.receive_data(wire, 0.0)
    (closed,) = drain(conn)
    assert isinstance(closed, jsocket.Closed) and closed.reason == "error"
    assert isinstance(closed.error, jsocket.FramingError)
    assert isinstance(closed.error, RuntimeError)
    assert closed.error.kind == kind
    assert str(closed.error) == message
    # A framing error is sticky: later input changes nothing.
    conn.receive_data(v2_frame(b"{}"), 1.0)
    assert conn.next_event() is jsocket.NEED_DATA


def test_invalid_utf8_in_an_intact_frame_costs_one_message_unless_strict():
    wire = v2_frame(b'"\xff"') + v2_frame(b"[1]")
    lenient = jsocket.Connection(dialect="v2")
    lenient.receive_data(wire, 0.0)
    rejected, message = drain(lenient)
    assert isinstance(rejected, jsocket.Rejected)
    assert rejected.error.kind == "invalid_utf8"
    assert str(rejected.error) == "invalid UTF-8 payload"
    assert message.obj == [1]

    strict = jsocket.Connection(dialect="v2", strict_json=True)
    strict.receive_data(wire, 0.0)
    (closed,) = drain(strict)
    assert isinstance(closed, jsocket.Closed) and closed.reason == "error"
    assert closed.error.kind == "invalid_utf8"


def test_decoder_errors_are_sticky_and_end_of_stream_inside_a_frame_is_an_error():
    decoder = jsocket.Decoder(dialect="v2")
    with pytest.raises(jsocket.FramingError) as err:
        decoder.feed(b"XXXX" + bytes(8))
    assert err.value.kind == "bad_magic"
    with pytest.raises(jsocket.FramingError):
        decoder.feed(v2_frame(b"{}"))
    half = jsocket.Decoder()
    assert half.feed(v2_frame(b"{}")[:5]) == []
    assert half.buffered == 5
    with pytest.raises(jsocket.FramingError) as err:
        half.finish()
    assert err.value.kind == "truncated"


def test_frame_timeout_runs_on_the_callers_clock():
    conn = jsocket.Connection(frame_timeout=5.0, now=100.0)
    assert conn.next_timeout() is None  # between frames: no deadline
    conn.receive_data(v2_frame(b"{}")[:3], 101.0)
    assert conn.next_timeout() == pytest.approx(106.0)
    conn.handle_timeout(105.9)
    assert conn.next_event() is jsocket.NEED_DATA
    conn.handle_timeout(106.0)
    (closed,) = drain(conn)
    assert closed.error.kind == "frame_timeout"


def test_a_frame_timeout_left_out_is_the_cores_and_none_turns_it_off():
    from jsocket_rs import _core

    default = jsocket.sansio.DEFAULT_FRAME_TIMEOUT
    assert default == 30.0  # the core's Config::default()
    conn = jsocket.Connection(now=100.0)
    assert conn.frame_timeout == default
    conn.receive_data(v2_frame(b"{}")[:3], 101.0)
    assert conn.next_timeout() == pytest.approx(101.0 + default)
    assert jsocket.Connection(frame_timeout=None).frame_timeout is None
    assert jsocket.Connection(frame_timeout=5.0).frame_timeout == 5.0
    # The server's engine takes the same default.
    with socket.create_server((HOST, 0)) as sock:
        assert _core.Server(sock.fileno()).frame_timeout == default
        assert _core.Server(sock.fileno(), frame_timeout=None).frame_timeout is None


def test_idle_timeout_and_eof():
    conn = jsocket.Connection(idle_timeout=1.0, now=0.0)
    conn.handle_timeout(conn.next_timeout())
    (closed,) = drain(conn)
    assert closed.reason == "idle" and closed.error is None
    assert conn.stats()["failures"] == {}  # idle is no one's error
    eof = jsocket.Connection()
    eof.receive_data(b"", 0.0)
    assert drain(eof)[0].reason == "eof"


def test_send_checks_the_limit_and_the_state():
    conn = jsocket.Connection(max_message_size=10)
    with pytest.raises(ValueError, match=r"exceeds max_message_size \(12 > 10\)"):
        conn.send("x" * 10, 0.0)
    conn.send([1, 2], 0.0)
    assert conn.data_to_send() == jsocket.encode([1, 2])
    conn.close(0.0)
    conn.send(1, 0.0)  # a reply to what was read: taken until the Closed event is
    (closed,) = drain(conn)
    assert closed.reason == "local"
    with pytest.raises(RuntimeError):
        conn.send(1, 0.0)
    with pytest.raises(ValueError):
        jsocket.Connection().send(1, -1.0)


def test_a_close_whose_output_is_not_taken_in_time_says_so():
    conn = jsocket.Connection(now=0.0)
    conn.receive_data(v2_frame(b"1"), 0.0)
    conn.send("never taken", 0.0)
    conn.close(1.0)
    assert conn.next_timeout() == pytest.approx(3.0)  # the core's grace: 2 s
    conn.handle_timeout(2.9)
    assert conn.next_timeout() == pytest.approx(3.0)
    conn.handle_timeout(3.0)
    assert conn.next_timeout() is None
    events = drain(conn)
    assert [e.obj for e in events[:-1]] == [1]  # what was read is still handed out
    assert events[-1].reason == "grace_expired"
    assert conn.data_to_send() == b""  # dropped
    assert conn.stats()["failures"] == {}


def test_a_peer_that_only_receives_pushes_is_not_idle():
    conn = jsocket.Connection(idle_timeout=60.0, now=0.0)
    for t in [10.0, 20.0, 30.0, 40.0, 50.0]:
        conn.handle_timeout(t)
        conn.send({"push": t}, t)
    conn.send_payload(b"[]", 55.0)
    assert conn.next_timeout() == pytest.approx(115.0)
    conn.handle_timeout(60.0)
    assert conn.next_event() is jsocket.NEED_DATA
    assert not conn.closed
    conn.handle_timeout(115.0)
    assert drain(conn)[0].reason == "idle"


def test_large_replies_in_one_turn_hold_no_event_back():
    # data_to_send() takes everything each turn, so replies over the core's output limit
    # (1 MiB by default) must not pause the events the caller's loop is reading.
    conn = jsocket.Connection()
    conn.receive_data(v2_frame(b"1") + v2_frame(b"2") + v2_frame(b"3"), 0.0)
    got = []
    while (event := conn.next_event()) is not jsocket.NEED_DATA:
        got.append(event.obj)
        conn.send("x" * (1 << 20), 0.0)
    assert got == [1, 2, 3]
    assert conn.wants_input
    assert len(conn.data_to_send()) > 3 << 20


def test_encode_writes_as_jsocket_and_checks_arguments():
    frame = jsocket.encode({"k": "é"}, "v1")
    assert frame == len('{"k": "é"}'.encode()).to_bytes(4, "big") + '{"k": "é"}'.encode()
    assert jsocket.encode_payload(b"[]", "v1-le") == b"\x02\x00\x00\x00[]"
    with pytest.raises(ValueError):
        jsocket.encode(1, "v3")
    with pytest.raises(ValueError):
        jsocket.Connection(now=-1.0)
    with pytest.raises(TypeError):
        jsocket.encode(object())


def test_an_asyncio_server_on_the_connection_serves_a_jsocket_client():
    import asyncio
    import threading
    import time

    async def handle(reader, writer):
        conn = jsocket.Connection(now=time.monotonic())
        while not conn.closed:
            conn.receive_data(await reader.read(65536), time.monotonic())
            while (event := conn.next_event()) is not jsocket.NEED_DATA:
                if isinstance(event, jsocket.Message):
                    conn.send({"echo": event.obj}, time.monotonic())
                elif isinstance(event, jsocket.Closed):
                    break
            writer.write(conn.data_to_send())
            await writer.drain()
        writer.close()

    ready = threading.Event()
    box = {}

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        box["port"] = server.sockets[0].getsockname()[1]
        box["stop"] = asyncio.Event()
        ready.set()
        await box["stop"].wait()
        server.close()
        await server.wait_closed()

    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_until_complete, args=(main(),))
    runner.start()
    try:
        assert ready.wait(10)
        client = jsocket.JsonClient(address="127.0.0.1", port=box["port"])
        assert client.connect()
        for value in [{"a": 1}, [2**70], "☃"]:
            client.send_obj(value)
            assert client.read_obj() == {"echo": value}
        client.close()
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        runner.join(10)
        loop.close()
