"""Range requests (RFC 9110 §14): parsing, coalescing, limits, multipart/byteranges.

Policy, chosen so that a Range header can never make the server send more
than about the size of the file (no amplification):

- a header that is not ``bytes=...``, or is syntactically invalid, is ignored
  (the whole file is sent with 200), as §14.2 allows;
- unsatisfiable ranges are dropped; if none is left the answer is 416 with
  ``Content-Range: bytes */SIZE``;
- the remaining ranges are sorted and merged when they overlap, touch, or are
  separated by less than a part header's worth of bytes (§14.3 permits
  coalescing), so the bytes sent never exceed the file size plus part headers;
- a header with more than ``MAX_RANGE_SPECS`` specs, or more than
  ``max_ranges`` parts after merging, is ignored (200 with the whole file), as
  Apache's MaxRanges does.

Nothing here touches files; :mod:`._files` decides and sends.
"""

from __future__ import annotations

import secrets

__all__ = [
    "MAX_RANGE_SPECS",
    "content_range",
    "multipart_layout",
    "parse_range",
]

MAX_RANGE_SPECS = 100
_MERGE_GAP = 80  # bytes: roughly one multipart part header


class Unsatisfiable(Exception):
    """No requested range overlaps the representation: answer 416."""


def parse_range(header: str, size: int, max_ranges: int = 16) -> list[tuple[int, int]] | None:
    """``[(first, last), ...]`` inclusive byte positions to send, or None to send it all.

    Raises :class:`Unsatisfiable` when every range lies outside a ``size``-byte file.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or size <= 0:
        return None
    specs = spec.split(",")
    if len(specs) > MAX_RANGE_SPECS:
        return None
    ranges: list[tuple[int, int]] = []
    seen_any = False
    for item in specs:
        item = item.strip(" \t")
        if not item:
            continue  # empty list elements are allowed (RFC 9110 §5.6.1)
        first_text, dash, last_text = item.partition("-")
        if not dash:
            return None
        first_text = first_text.strip(" \t")
        last_text = last_text.strip(" \t")
        seen_any = True
        if not first_text:  # suffix-range: the last N bytes
            if not last_text.isdigit() or not last_text.isascii():
                return None
            length = int(last_text)
            if length > 0:
                ranges.append((max(0, size - length), size - 1))
            continue
        if not first_text.isdigit() or not first_text.isascii():
            return None
        first = int(first_text)
        if last_text:
            if not last_text.isdigit() or not last_text.isascii():
                return None
            last = int(last_text)
            if last < first:
                return None  # invalid range-spec: the whole header is invalid
        else:
            last = size - 1
        if first < size:
            ranges.append((first, min(last, size - 1)))
    if not seen_any:
        return None
    if not ranges:
        raise Unsatisfiable(size)
    merged = _coalesce(ranges)
    if len(merged) > max_ranges:
        return None
    return merged


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ranges.sort()
    merged = [ranges[0]]
    for first, last in ranges[1:]:
        prev_first, prev_last = merged[-1]
        if first <= prev_last + 1 + _MERGE_GAP:
            if last > prev_last:
                merged[-1] = (prev_first, last)
        else:
            merged.append((first, last))
    return merged


def content_range(first: int, last: int, size: int) -> bytes:
    return b"bytes %d-%d/%d" % (first, last, size)


def multipart_layout(
    ranges: list[tuple[int, int]], size: int, content_type: str | None
) -> tuple[bytes, list[tuple[bytes, int, int]], bytes, int]:
    """Plan a multipart/byteranges body (RFC 9110 §14.6).

    Returns ``(boundary, parts, closing, content_length)`` where each part is
    ``(part_head, offset, nbytes)``: send the part head, then the file bytes.
    """
    boundary = secrets.token_hex(12).encode("ascii")
    type_line = (
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n" if content_type else b""
    )
    parts = []
    total = 0
    for first, last in ranges:
        part_head = b"\r\n--%s\r\n%sContent-Range: %s\r\n\r\n" % (
            boundary,
            type_line,
            content_range(first, last, size),
        )
        nbytes = last - first + 1
        parts.append((part_head, first, nbytes))
        total += len(part_head) + nbytes
    closing = b"\r\n--%s--\r\n" % boundary
    return boundary, parts, closing, total + len(closing)
