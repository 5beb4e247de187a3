"""The common WebSocket frame, parsed and built without the protocol library.

Nearly every frame of a busy connection is a whole, unfragmented, uncompressed
text or binary message.  Going through the sans-I/O library costs a generator
resume, a buffer copy and a ``Frame`` object per message each way, a large
share of an echoed message's CPU time.  These functions handle exactly that
frame and nothing else: whatever they do not recognise (control frames,
fragments, 64-bit lengths, a frame cut short by the read) is left to the
library, from the first byte they did not consume.
"""

from __future__ import annotations

import struct
from typing import Final

try:  # the library's C speedup where it was built, as websockets.frames does
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build of websockets without its C extension
    from websockets.utils import apply_mask

__all__ = ["data_frame_head", "whole_messages"]

_TEXT_FIN: Final = 0x81
_BINARY_FIN: Final = 0x82
_MASKED: Final = 0x80
_LENGTH_16: Final = 126
_HEAD_16: Final = struct.Struct("!BBH")


def whole_messages(data: bytes, max_size: int) -> tuple[list[tuple[bool, bytes]], int]:
    """The leading complete, masked, unfragmented text/binary frames of ``data``.

    Returns ``(is_text, unmasked payload)`` per message and how many bytes they
    took (RFC 6455 §5.2: FIN set, no RSV bits, the MASK bit a client must set,
    a 7- or 16-bit length).  A payload over ``max_size`` stops the scan, so the
    library answers it with close 1009 as it does for any other.
    """
    messages: list[tuple[bool, bytes]] = []
    at = 0
    end = len(data)
    while end - at >= 6:
        first = data[at]
        second = data[at + 1]
        if (first != _TEXT_FIN and first != _BINARY_FIN) or not second & _MASKED:
            break
        length = second & 0x7F
        if length < _LENGTH_16:
            start = at + 6
        elif length == _LENGTH_16 and end - at >= 8:
            length = (data[at + 2] << 8) | data[at + 3]
            start = at + 8
        else:
            break
        stop = start + length
        if stop > end or length > max_size:
            break
        messages.append((first == _TEXT_FIN, apply_mask(data[start:stop], data[start - 4 : start])))
        at = stop
    return messages, at


def data_frame_head(text: bool, length: int) -> bytes:
    """The head of an unmasked server frame carrying a whole message (RFC 6455 §5.2)."""
    first = _TEXT_FIN if text else _BINARY_FIN
    if length < _LENGTH_16:
        return bytes((first, length))
    if length < 0x10000:
        return _HEAD_16.pack(first, _LENGTH_16, length)
    return struct.pack("!BBQ", first, 127, length)
