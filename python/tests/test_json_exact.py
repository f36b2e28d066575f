"""Messages become exactly what Python's json makes of them, and are written exactly as jsocket
writes them (json.dumps(obj, ensure_ascii=False)): the same objects, the same bytes, the same
errors, for texts and objects chosen to tell parsers and encoders apart."""

import json
import math

import pytest

import jsocket_rs as jsocket
from conftest import v2_frame

TEXTS = [
    '{"z": 1, "a": 2}',
    '{"a": 1, "a": 2}',  # the last of duplicate keys
    "123456789012345678901234567890123",
    "-0",
    "-0.0",
    "1.1000000000000001",
    "5e-324",
    "1e400",
    "-1e400",
    "NaN",
    "[Infinity, -Infinity]",
    '"\\ud83d\\ude00 \\u00e9 \\u0000"',
    '"\\ud800"',  # a lone surrogate: json gives it as it is
    '"é€😀"',
    " \t\n\r[1, 2] \r\n\t ",
    "[[[[[[[[[[[]]]]]]]]]]]",
    '{"nested": {"list": [true, false, null, 1.5, "s"]}}',
    "0",
    "true",
    '""',
]

BAD_TEXTS = [
    "",
    "   ",
    "[1, 2] x",
    "[1, 2] [3]",
    "{'single': 1}",
    "\ufeff[1]",  # json.loads refuses a byte order mark in a str
    "[1,]",
    "01",
    '"\\x"',
    "[1, 2",
]


def _message(text):
    conn = jsocket.Connection()
    conn.receive_data(v2_frame(text.encode("utf-8", "surrogatepass")), 0.0)
    return conn.next_event()


def _same(a, b):
    """Equal as json would have them, telling NaN, -0.0 and types apart."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("text", TEXTS)
def test_a_message_is_what_json_loads_gives(text):
    event = _message(text)
    assert isinstance(event, jsocket.Message), event
    assert _same(event.obj, json.loads(text))


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_what_json_loads_refuses_is_refused_with_its_position(text):
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    event = _message(text)
    assert isinstance(event, jsocket.Rejected), event
    assert event.error.kind == "invalid_json"


OBJECTS = [
    {"z": 1, "a": [1, 2.5, None, True, False]},
    {"é": "€😀", "esc": "\"\\/\b\f\n\r\t\u0000\u001f"},
    123456789012345678901234567890123,
    -0.0,
    1e16,
    0.1 + 0.2,
    float("nan"),
    [float("inf"), float("-inf")],
    "top-level string",
    {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    (1, 2, (3,)),
    [],
    {},
]


@pytest.mark.parametrize("obj", OBJECTS, ids=range(len(OBJECTS)))
def test_a_message_is_written_as_jsocket_writes_it(obj):
    payload = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    assert jsocket.encode(obj, "v1") == len(payload).to_bytes(4, "big") + payload


def test_what_json_dumps_refuses_is_refused_alike_and_the_next_one_goes_out():
    circular = []
    circular.append(circular)
    for bad, error in [(circular, ValueError), (object(), TypeError), ({(1, 2): 3}, TypeError)]:
        with pytest.raises(error) as expected:
            json.dumps(bad, ensure_ascii=False)
        with pytest.raises(error) as got:
            jsocket.encode(bad)
        assert str(got.value) == str(expected.value)
    shared = [1]
    assert jsocket.encode([shared, shared], "v1")[4:] == b"[[1], [1]]"  # not circular
    with pytest.raises(UnicodeEncodeError):
        jsocket.encode("\ud800")  # as jsocket's msg.encode("utf-8")
