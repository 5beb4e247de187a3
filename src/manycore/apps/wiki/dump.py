"""What kind of dump a file is, and reading its bytes.

Three layouts are supported, decided from the file's first bytes (never its
name): plain XML; a single-stream ``.bz2`` (decompressed once, to a plain file
inside the index, because serving needs byte ranges); and Wikimedia's
multistream ``.bz2`` -- many independent bz2 streams of ~100 pages each,
listed by an ``*-index.txt.bz2`` of ``offset:page_id:title`` lines -- which is
served compressed: a page is read by decompressing only its own stream.

Validation reads at most the first 64 KiB (or the first bz2 stream) and
rejects, with one line naming the file and the fix: empty files, compressed
formats we do not read, UTF-16/32 (told by a byte order mark or by XML's "<"
in wide characters; other NUL bytes mean binary data, not an export) or a
non-UTF-8 XML declaration, files whose root element is not ``<mediawiki>``,
and export schemas older than 0.10.
"""

from __future__ import annotations

import bz2
import os
import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import DumpError

__all__ = [
    "DumpInfo",
    "decompress_to",
    "find_multistream_index",
    "inspect_dump",
    "read_stream",
    "read_stream_offsets",
]

HEAD_BYTES = 64 << 10
SUPPORTED_SCHEMAS = ("0.10", "0.11")
_BZ2_MAGIC = re.compile(rb"BZh[1-9]")
_XML_DECL = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)[\"']")
_ROOT = re.compile(rb"<mediawiki\b[^>]*>")
_SCHEMA = re.compile(rb"mediawiki\.org/xml/export-(\d+\.\d+)/|\bversion\s*=\s*\"(\d+\.\d+)\"")
_SITE_FIELDS = ("sitename", "dbname", "base", "generator", "case")
_NAMESPACE = re.compile(rb"<namespace\s+key=\"(-?\d+)\"[^>]*?(?:/>|>([^<]*)</namespace>)")
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def _wide_xml_start(unit: int, big_endian: bool) -> re.Pattern[bytes]:
    """XML's start (white space, then "<" and "?", "!" or a letter) in ``unit``-byte characters."""
    pad = rb"\x00" * (unit - 1)

    def wide(char: bytes) -> bytes:
        return pad + char if big_endian else char + pad

    return re.compile(b"(?:%s)*%s%s" % (wide(rb"[ \t\r\n]"), wide(b"<"), wide(rb"[?!A-Za-z]")))


# Wide encodings without a byte order mark, told by how XML starts.
_WIDE_XML = [
    ("UTF-32", _wide_xml_start(4, big_endian=False)),
    ("UTF-32", _wide_xml_start(4, big_endian=True)),
    ("UTF-16", _wide_xml_start(2, big_endian=False)),
    ("UTF-16", _wide_xml_start(2, big_endian=True)),
]

_OTHER_COMPRESSION = {
    b"\x1f\x8b": ("gzip", "gunzip"),
    b"7z\xbc\xaf": ("7-Zip", "7z x"),
    b"\xfd7zXZ": ("xz", "unxz"),
    b"\x28\xb5\x2f\xfd": ("zstd", "unzstd"),
}

Progress = Callable[[int], None]


@dataclass(frozen=True)
class DumpInfo:
    """A validated dump: its layout, schema version and site information."""

    path: Path
    kind: str  # "xml", "bz2" or "multistream"
    size: int
    schema: str
    site: dict[str, str] = field(default_factory=dict)
    namespaces: dict[int, str] = field(default_factory=dict)
    index_path: Path | None = None  # the multistream index
    warnings: tuple[str, ...] = ()


def inspect_dump(
    path: str | os.PathLike[str], index_path: str | os.PathLike[str] | None = None
) -> DumpInfo:
    """Identify and validate ``path``; raise ``DumpError`` with a one-line reason if unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            magic = f.read(8)
    except FileNotFoundError:
        raise DumpError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DumpError(f"{path}: is a directory, not a dump file") from None
    except OSError as exc:
        raise DumpError(f"{path}: cannot read it ({exc.strerror})") from None
    for prefix, (name, tool) in _OTHER_COMPRESSION.items():
        if magic.startswith(prefix):
            raise DumpError(
                f"{path}: is {name}-compressed; decompress it first ({tool}) "
                "or use the .xml.bz2 dump"
            )
    if _BZ2_MAGIC.match(magic):
        head = _bz2_head(path)
        if index_path is None:
            index_path = find_multistream_index(path)
        kind = "multistream" if index_path is not None else "bz2"
    else:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        kind = "xml"
        if index_path is not None:
            raise DumpError(f"{path}: a multistream index was given, but the dump is not bz2")
    schema, site, namespaces, warnings = _check_head(path, head)
    return DumpInfo(
        path=path,
        kind=kind,
        size=size,
        schema=schema,
        site=site,
        namespaces=namespaces,
        index_path=Path(index_path) if index_path is not None else None,
        warnings=tuple(warnings),
    )


def find_multistream_index(path: Path) -> Path | None:
    """The ``*-index.txt[.bz2]`` that Wikimedia publishes beside a multistream dump, if any."""
    name = path.name
    stem = name[: -len(".xml.bz2")] if name.endswith(".xml.bz2") else path.stem
    for candidate in (f"{stem}-index.txt.bz2", f"{stem}-index.txt"):
        if (path.parent / candidate).is_file():
            return path.parent / candidate
    return None


def _bz2_head(path: Path) -> bytes:
    """The first 64 KiB of decompressed text (or the whole first stream, if shorter)."""
    decompressor = bz2.BZ2Decompressor()
    out = bytearray()
    with open(path, "rb") as f:
        while len(out) < HEAD_BYTES and not decompressor.eof:
            block = f.read(64 << 10)
            if not block:
                break
            try:
                out += decompressor.decompress(block, HEAD_BYTES - len(out))
                while not (decompressor.eof or decompressor.needs_input) and (
                    len(out) < HEAD_BYTES
                ):
                    out += decompressor.decompress(b"", HEAD_BYTES - len(out))
            except OSError:
                raise DumpError(f"{path}: is not a valid bz2 file (corrupt data)") from None
    return bytes(out)


def _check_head(path: Path, head: bytes) -> tuple[str, dict[str, str], dict[int, str], list[str]]:
    if not head:
        raise DumpError(f"{path}: is empty; a MediaWiki XML export was expected")
    for bom, encoding in _BOMS.items():
        if head.startswith(bom):
            raise DumpError(_encoding_message(path, encoding))
    for encoding, pattern in _WIDE_XML:
        if pattern.match(head):
            raise DumpError(_encoding_message(path, encoding))
    if b"\x00" in head[:1024]:
        raise DumpError(
            f"{path}: is not a MediaWiki XML export (it holds binary data, not text); "
            "export one with Special:Export or download a pages-articles dump from "
            "dumps.wikimedia.org"
        )
    declaration = _XML_DECL.search(head[:1024])
    if declaration is not None:
        encoding = declaration.group(1).decode("ascii", "replace")
        if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise DumpError(_encoding_message(path, encoding))
    root = _ROOT.search(head)
    if root is None:
        raise DumpError(
            f"{path}: is not a MediaWiki XML export (no <mediawiki> element in its first "
            f"{HEAD_BYTES >> 10} KiB); export one with Special:Export or download a "
            "pages-articles dump from dumps.wikimedia.org"
        )
    schema_match = _SCHEMA.search(root.group(0))
    schema = (schema_match.group(1) or schema_match.group(2)).decode() if schema_match else "?"
    warnings = []
    if schema not in SUPPORTED_SCHEMAS:
        major_minor = tuple(int(x) for x in schema.split(".")) if schema != "?" else (0, 0)
        if major_minor < (0, 10):
            raise DumpError(
                f"{path}: MediaWiki export schema {schema} is not supported "
                f"(supported: {', '.join(SUPPORTED_SCHEMAS)}); use a recent dump"
            )
        warnings.append(f"{path}: export schema {schema} is newer than 0.11; indexing anyway")
    site = {}
    for name in _SITE_FIELDS:
        match = re.search(rb"<%s>([^<]*)</%s>" % (name.encode(), name.encode()), head)
        if match:
            site[name] = match.group(1).decode("utf-8", "replace")
    namespaces = {
        int(key): (name or b"").decode("utf-8", "replace") for key, name in _NAMESPACE.findall(head)
    }
    return schema, site, namespaces, warnings


def _encoding_message(path: Path, encoding: str) -> str:
    return (
        f"{path}: the export is encoded as {encoding}; only UTF-8 exports are supported "
        f"(convert it: iconv -f {encoding.split()[0]} -t UTF-8 IN > OUT)"
    )


def decompress_to(source: Path, target: Path, progress: Progress | None = None) -> bool:
    """Decompress a (possibly multi-stream) bz2 file to ``target``, fsynced.

    Returns False if the compressed data ends early or is corrupt; everything
    decompressed until then is kept, so its complete pages can still be indexed.
    Bytes after the last stream that are not a stream are ignored, as bzip2 does.
    """
    with open(source, "rb") as f, open(target, "wb") as out:
        try:
            return _decompress_into(f, out, progress)
        finally:
            out.flush()
            os.fsync(out.fileno())


def _decompress_into(f: BinaryIO, out: BinaryIO, progress: Progress | None) -> bool:
    decompressor = bz2.BZ2Decompressor()
    fed = False  # has the current decompressor been given any data?
    carry = b""
    while True:
        block = f.read(1 << 20)
        if not block:
            return not fed
        if progress is not None:
            progress(len(block))
        block = carry + block
        carry = b""
        while block:
            if not fed:
                if len(block) < 4:
                    carry = block
                    break
                if not _BZ2_MAGIC.match(block):
                    return True  # trailing bytes after the last stream
            fed = True
            try:
                out.write(decompressor.decompress(block))
            except OSError:
                return False
            if decompressor.eof:
                block = decompressor.unused_data
                decompressor = bz2.BZ2Decompressor()
                fed = False
            else:
                block = b""


_OFFSET_LINE = re.compile(rb"^(\d+):", re.MULTILINE)


def read_stream_offsets(index_path: Path, progress: Progress | None = None) -> np.ndarray:
    """The sorted distinct stream offsets listed in a multistream index."""
    compressed = index_path.name.endswith(".bz2")
    found = []
    try:
        with open(index_path, "rb") as raw, bz2.open(raw) if compressed else nullcontext(raw) as f:
            tail = b""
            last = 0
            while True:
                block = f.read(8 << 20)
                if not block:
                    break
                if progress is not None:
                    position = raw.tell()
                    progress(position - last)
                    last = position
                block = tail + block
                cut = block.rfind(b"\n") + 1
                tail = block[cut:]
                values = [int(x) for x in _OFFSET_LINE.findall(block, 0, cut)]
                if values:
                    found.append(np.unique(np.array(values, dtype=np.uint64)))
            if tail.strip():
                found.append(np.array([int(x) for x in _OFFSET_LINE.findall(tail)], np.uint64))
    except (OSError, EOFError) as exc:
        raise DumpError(f"{index_path}: cannot read the multistream index ({exc})") from None
    if not found or not sum(len(a) for a in found):
        raise DumpError(
            f"{index_path}: is not a multistream index (expected lines 'offset:page_id:title')"
        )
    return np.unique(np.concatenate(found))


def read_stream(fd: int, offset: int, end: int) -> tuple[bytes, bool]:
    """Decompress the bz2 stream(s) stored in bytes ``[offset, end)`` of ``fd``.

    Returns the text and whether it ended cleanly (False: truncated or corrupt).
    """
    data = os.pread(fd, end - offset, offset)
    parts = []
    while data:
        decompressor = bz2.BZ2Decompressor()
        try:
            parts.append(decompressor.decompress(data))
        except OSError:
            return b"".join(parts), False
        if not decompressor.eof:
            return b"".join(parts), False
        data = decompressor.unused_data
    return b"".join(parts), True
