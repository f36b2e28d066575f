"""The repository's wire vectors through the sans-IO layer: every frame decodes to its value at
every split, and every value encodes to the very bytes jsocket put on the wire."""

import pytest

import jsocket_rs as jsocket
from conftest import vectors

FILES = [("jsocket-2.0.3.tsv", "v2"), ("jsocket-1.9.6.tsv", "v1"), ("jsocket-1.0-le.tsv", "v1-le")]


@pytest.mark.parametrize("name,dialect", FILES)
def test_encode_gives_the_captured_bytes(name, dialect):
    for value, frame in vectors(name):
        assert jsocket.encode(value, dialect) == frame, value


@pytest.mark.parametrize("name,dialect", FILES)
def test_decoder_reads_every_vector_at_every_split(name, dialect):
    import json

    for value, frame in vectors(name):
        for cut in range(len(frame) + 1):
            decoder = jsocket.Decoder(dialect=dialect)
            payloads = decoder.feed(frame[:cut]) + decoder.feed(frame[cut:])
            assert [json.loads(p) for p in payloads] == [value]
            decoder.finish()


@pytest.mark.parametrize("name,dialect", FILES)
def test_connection_detects_each_dialect_and_answers_in_kind(name, dialect):
    wire = b"".join(frame for _, frame in vectors(name))
    conn = jsocket.Connection()
    for i in range(0, len(wire), 7):
        conn.receive_data(wire[i : i + 7], 0.0)
    got = []
    while (event := conn.next_event()) is not jsocket.NEED_DATA:
        got.append(event.obj)
    assert got == [value for value, _ in vectors(name)]
    assert conn.dialect == dialect
    first_value, first_frame = vectors(name)[0]
    conn.send(first_value, 0.0)
    assert conn.data_to_send() == first_frame


def test_whole_stream_in_one_feed():
    wire = b"".join(frame for _, frame in vectors("jsocket-2.0.3.tsv"))
    assert len(jsocket.Decoder().feed(wire)) == len(vectors("jsocket-2.0.3.tsv"))
