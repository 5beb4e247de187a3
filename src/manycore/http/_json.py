"""JSON encoding and decoding: msgspec when importable, the standard library otherwise.

msgspec is several times faster and has free-threaded wheels for recent
CPython; where it cannot be installed (a free-threaded build of an older
CPython) the stdlib fallback produces the same compact bytes for the types both
support (``separators=(",", ":")``, UTF-8, no ASCII escaping).
``MANYCORE_JSON=stdlib`` forces the fallback (the test-suite uses it).
"""

from __future__ import annotations

import json as _stdlib_json
import os
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND", "decode", "encode"]


def _stdlib_default(obj: Any) -> Any:
    """Serialise what msgspec serialises natively and the stdlib does not."""
    import dataclasses
    import datetime
    import enum
    import uuid

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, datetime.datetime | datetime.date | datetime.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, bytes | bytearray):
        import base64

        return base64.b64encode(obj).decode("ascii")
    raise TypeError(f"Encoding objects of type {type(obj).__name__} is unsupported")


_stdlib_encoder = _stdlib_json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_stdlib_default, allow_nan=False
)


def stdlib_encode(obj: Any) -> bytes:
    return _stdlib_encoder.encode(obj).encode("utf-8")


def stdlib_decode(data: bytes | str) -> Any:
    return _stdlib_json.loads(data)


def _pick() -> tuple[str, Callable[[Any], bytes], Callable[[bytes | str], Any]]:
    if os.environ.get("MANYCORE_JSON", "").lower() != "stdlib":
        try:
            import msgspec
        except ImportError:
            pass
        else:
            return "msgspec", msgspec.json.Encoder().encode, msgspec.json.Decoder().decode
    return "stdlib", stdlib_encode, stdlib_decode


BACKEND, encode, decode = _pick()
