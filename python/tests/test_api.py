"""The public surface: jsocket 2.0.3's names are all here, and every public name is documented."""

import inspect

import jsocket_rs

JSOCKET_203_NAMES = [
    "DEFAULT_MAX_MESSAGE_SIZE", "FRAME_HEADER_FMT", "FRAME_HEADER_SIZE", "FRAME_MAGIC",
    "FramingError", "JsonClient", "JsonServer", "JsonSocket", "ServerFactory",
    "ServerFactoryThread", "ThreadedServer",
]


def test_every_jsocket_name_is_here_with_its_value():
    for name in JSOCKET_203_NAMES:
        assert hasattr(jsocket_rs, name), name
    assert jsocket_rs.FRAME_MAGIC == b"JSN1" and jsocket_rs.FRAME_HEADER_SIZE == 12
    assert jsocket_rs.FRAME_HEADER_FMT == "!4sII"
    from jsocket_rs import jsocket_base, tserver  # jsocket's module names too

    assert jsocket_base.JsonClient is jsocket_rs.JsonClient
    assert tserver.ServerFactory is jsocket_rs.ServerFactory


def test_every_public_name_has_a_docstring():
    missing = []
    for name in jsocket_rs.__all__:
        obj = getattr(jsocket_rs, name)
        if not (inspect.isclass(obj) or callable(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (callable(member) or isinstance(member, property)):
                    continue
                if not (getattr(member, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{attr}")
    assert missing == []
