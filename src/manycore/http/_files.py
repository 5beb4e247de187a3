"""Files: ``Response.file``, static mounts, conditional requests and ranges.

A file response is decided when it is sent, against the request being
answered: ``stat`` once, then the RFC 9110 §13.2.2 order of preconditions
(If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, then
If-Range with Range), then 200, 206 (one range, or multipart/byteranges),
304, 412 or 416.  Bytes of the file are never read into Python: the head goes
out as bytes and the body as ``transport.sendfile_ranged(path, offset,
nbytes)`` parts, which the transport sends with ``os.sendfile`` (any offset,
files over 4 GiB included).

Validators: the ETag is strong, built from the modification time in
nanoseconds and the size; Last-Modified is the modification time in whole
seconds.  Static mounts refuse any path that could leave their directory:
``..`` segments (also when percent-encoded, since routing decodes first), NUL,
dot-files unless enabled, and -- unless ``follow_symlinks=True`` -- any path
that leads outside the directory through a symlink.  A mount opens the file
relative to its directory on every request (:mod:`._beneath`) and sends that
open file: nothing is resolved once and trusted later, so swapping a directory
for a symlink cannot redirect a request.  A mount's directory must exist when
the application class is made.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, final
from urllib.parse import quote

from ._beneath import FILE_FLAGS, OpenedFile, open_beneath
from ._clock import head_cache
from ._errors import HTTPError, StaticDirectoryError
from ._head_builder import CLOSE, HeaderBlock, build_head, field_line, header_block
from ._modes import ConnectionMode
from ._ranges import Unsatisfiable, content_range, multipart_layout, parse_range
from ._response import RESPONSE_KINDS, Response, error_response, render

if TYPE_CHECKING:
    from ._request import Request

__all__ = ["FilePart", "FileResponse", "StaticFiles", "guess_type", "static"]

# ------------------------------------------------------------------ content types
_EXTRA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".md": "text/markdown",
    ".gz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".xml": "application/xml",
    ".csv": "text/csv",
    ".ico": "image/vnd.microsoft.icon",
}
_TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript", "image/svg")
# The built-in table only (not /etc/mime.types), so answers do not vary by machine;
# text types carry their charset.  Built once, read-only.
_TYPES = {
    ext: content_type + "; charset=utf-8" if content_type.startswith(_TEXTUAL) else content_type
    for ext, content_type in {**mimetypes.MimeTypes().types_map[True], **_EXTRA_TYPES}.items()
}


def guess_type(path: str | os.PathLike[str]) -> str:
    """The Content-Type for ``path`` from its extension (UTF-8 for text types)."""
    _, ext = os.path.splitext(os.fspath(path))
    return _TYPES.get(ext.lower(), "application/octet-stream")


# ------------------------------------------------------------------ HTTP dates
def _parse_http_date(value: str) -> int | None:
    """Seconds since the epoch, or None for an invalid date (which is then ignored)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return int(parsed.timestamp())


def _etag_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _strong_match(header: str, etag: str) -> bool:
    """If-Match: strong comparison (RFC 9110 §8.8.3.2); ``*`` matches an existing file."""
    if header.strip() == "*":
        return True
    return any(tag == etag for tag in _etag_list(header) if not tag.startswith("W/"))


def _weak_match(header: str, etag: str) -> bool:
    """If-None-Match: weak comparison (a W/ prefix is ignored on both sides)."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == bare for tag in _etag_list(header))


# ------------------------------------------------------------------ responses
@final
class FilePart:
    """``nbytes`` of ``path`` (or of a file already open) from ``offset``: one zero-copy send."""

    __slots__ = ("nbytes", "offset", "path")

    def __init__(self, path: str | OpenedFile, offset: int, nbytes: int) -> None:
        self.path = path
        self.offset = offset
        self.nbytes = nbytes

    def __repr__(self) -> str:
        return f"FilePart({self.path!r}, {self.offset}, {self.nbytes})"


class FileResponse(Response):
    """A file, sent with sendfile; see :meth:`Response.file`."""

    __slots__ = (
        "cache_control",
        "filename",
        "length",
        "max_ranges",
        "offset",
        "opened",
        "path",
        "stat_result",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        content_type: str | None = None,
        filename: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | HeaderBlock | None = None,
        cache_control: str | None = None,
        max_ranges: int = 16,
        stat_result: os.stat_result | None = None,
        offset: int = 0,
        length: int | None = None,
        opened: OpenedFile | None = None,
    ) -> None:
        super().__init__(b"", 200, headers, content_type)
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"file slice offset={offset} length={length} must not be negative")
        self.offset = offset  # serve bytes [offset, offset+length) as if they were the file
        self.length = length
        self.path = os.fspath(path)
        self.filename = filename
        self.cache_control = cache_control
        self.max_ranges = max_ranges
        self.stat_result = stat_result  # known already (a static mount looked): one stat less
        # A static mount opens the file safely itself: send what it opened, not the path.
        self.opened = opened

    def __repr__(self) -> str:
        return f"<FileResponse {self.path!r}>"

    def prepare(
        self, request: Request, mode: ConnectionMode, head_only: bool
    ) -> tuple[list[bytes | FilePart], ConnectionMode]:
        """Decide the answer for ``request``: a list of bytes and FileParts, and the mode."""
        path = self.path
        try:
            st = self.stat_result or os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return _plain(error_response(404, "no such file"), mode)
        except PermissionError:
            return _plain(error_response(403, "the file is not readable"), mode)
        if not stat.S_ISREG(st.st_mode):
            return _plain(error_response(404, "not a regular file"), mode)
        base = self.offset
        size = st.st_size - base if self.length is None else self.length
        if base + size > st.st_size or size < 0:
            return _plain(error_response(500, "the file is shorter than the slice"), mode)
        mtime = int(st.st_mtime)
        etag = (
            f'"{st.st_mtime_ns:x}-{size:x}"'
            if not base
            else (f'"{st.st_mtime_ns:x}-{base:x}-{size:x}"')
        )
        last_modified = head_cache().fresh().http_date_of(mtime)
        content_type = self.content_type or guess_type(path)
        source = path if self.opened is None else self.opened
        extra = self.headers = header_block(self.headers)
        if extra is not None and extra.close:
            mode = CLOSE
        validators = [
            b"ETag: " + etag.encode("ascii") + b"\r\n",
            b"Last-Modified: " + last_modified + b"\r\n",
        ]
        if self.cache_control:
            validators.append(field_line(b"Cache-Control", self.cache_control))

        method = request.method
        fields = request.headers.by_name()  # name -> values: plain dict lookups below
        status = 0
        if _CONDITIONAL.intersection(fields):
            status = _preconditions(fields, method, etag, mtime)
        if status == 304:
            return [_head(304, None, validators, extra, mode, None)], mode
        if status == 412:
            return [_head(412, None, [], extra, mode, 0)], mode

        common = [b"Accept-Ranges: bytes\r\n", *validators]
        if self.filename is not None:
            common.append(_disposition(self.filename))
        ranges = None
        range_header = _first(fields, "range")
        if range_header is not None and method in ("GET", "HEAD"):
            if_range = _first(fields, "if-range")
            if if_range is None or _if_range_holds(if_range, etag, mtime):
                try:
                    ranges = parse_range(range_header, size, self.max_ranges)
                except Unsatisfiable:
                    lines = [b"Content-Range: bytes */%d\r\n" % size, *common]
                    return [_head(416, None, lines, extra, mode, 0)], mode
        if ranges is None:
            items: list[bytes | FilePart] = [_head(200, content_type, common, extra, mode, size)]
            if size and not head_only:
                items.append(FilePart(source, base, size))
            return items, mode
        if len(ranges) == 1:
            first, last = ranges[0]
            nbytes = last - first + 1
            lines = [b"Content-Range: " + content_range(first, last, size) + b"\r\n", *common]
            items = [_head(206, content_type, lines, extra, mode, nbytes)]
            if not head_only:
                items.append(FilePart(source, base + first, nbytes))
            return items, mode
        boundary, parts, closing, length = multipart_layout(ranges, size, content_type)
        multipart_type = "multipart/byteranges; boundary=" + boundary.decode("ascii")
        items = [_head(206, multipart_type, common, extra, mode, length)]
        if not head_only:
            for part_head, offset, nbytes in parts:
                items.append(part_head)
                items.append(FilePart(source, base + offset, nbytes))
            items.append(closing)
        return items, mode


_CONDITIONAL = frozenset(("if-match", "if-none-match", "if-modified-since", "if-unmodified-since"))


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return None if values is None else values[0]


def _preconditions(fields: dict[str, list[str]], method: str, etag: str, mtime: int) -> int:
    """RFC 9110 §13.2.2: 0 to proceed, or 304 / 412."""
    if_match = _first(fields, "if-match")
    if if_match is not None:
        if not _strong_match(if_match, etag):
            return 412
    else:
        since = _first(fields, "if-unmodified-since")
        if since is not None:
            date = _parse_http_date(since)
            if date is not None and mtime > date:
                return 412
    if_none_match = _first(fields, "if-none-match")
    if if_none_match is not None:
        if _weak_match(if_none_match, etag):
            return 304 if method in ("GET", "HEAD") else 412
    elif method in ("GET", "HEAD"):
        since = _first(fields, "if-modified-since")
        if since is not None:
            date = _parse_http_date(since)
            if date is not None and mtime <= date:
                return 304
    return 0


def _if_range_holds(value: str, etag: str, mtime: int) -> bool:
    """If-Range (RFC 9110 §13.1.5): a strong ETag match, or the exact Last-Modified date."""
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    date = _parse_http_date(value)
    return date is not None and date == mtime


def _disposition(filename: str) -> bytes:
    """RFC 6266: an ASCII fallback name, and the exact name in RFC 8187 encoding."""
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace('"', "'")
    ascii_name = ascii_name.replace("\\", "_")
    value = f'attachment; filename="{ascii_name}"'
    if not filename.isascii():
        value += "; filename*=UTF-8''" + quote(filename, safe="")
    return field_line(b"Content-Disposition", value)


def _head(
    status: int,
    content_type: str | None,
    lines: list[bytes],
    extra: HeaderBlock | None,
    mode: ConnectionMode,
    length: int | None,
) -> bytes:
    """A file response head: the common head, then the file's own fields."""
    cacheable = content_type is None or not content_type.startswith("multipart/")  # boundary
    return build_head(status, content_type, mode, extra, lines, length, cacheable=cacheable)


def _plain(
    response: Response, mode: ConnectionMode
) -> tuple[list[bytes | FilePart], ConnectionMode]:
    out: list[bytes | FilePart] = []
    mode = render(out, response, mode, False)
    return out, mode


RESPONSE_KINDS["file"] = FileResponse


# ------------------------------------------------------------------ static mounts
class StaticFiles:
    """A directory served under a URL prefix; create with :func:`static`."""

    is_async = False
    implicit = False

    def __init__(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        follow_symlinks: bool = False,
        index: str | None = "index.html",
        dotfiles: bool = False,
        cache_control: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"static() prefix must be a str starting with '/', got {prefix!r}")
        self.prefix = prefix
        self.path = prefix
        self.directory = os.path.realpath(os.fspath(directory))
        if not os.path.isdir(self.directory):
            raise StaticDirectoryError(
                f"static({prefix!r}, {os.fspath(directory)!r}): "
                + (
                    f"{self.directory} is not a directory"
                    if os.path.exists(self.directory)
                    else f"the directory {self.directory} does not exist"
                )
                + "; create it or correct the path"
            )
        self.follow_symlinks = follow_symlinks
        self.index = index
        self.dotfiles = dotfiles
        self.cache_control = cache_control
        self.headers = header_block(headers)
        self.name = f"static({prefix!r}, {self.directory!r})"
        self.fn = self._serve

    def __repr__(self) -> str:
        return self.name

    def _serve(self, app: Any, request: Request, path: str) -> Response:
        return self.respond(request, path)

    def _parts(self, subpath: str) -> list[str] | None:
        """The URL path's components, or None for one a mount never serves."""
        if "\0" in subpath or "\\" in subpath:
            return None
        parts = []
        for segment in subpath.split("/"):
            if segment in ("", "."):
                continue
            if segment == ".." or (segment.startswith(".") and not self.dotfiles):
                return None
            parts.append(segment)
        return parts

    def _open(self, parts: list[str]) -> tuple[OpenedFile, os.stat_result]:
        """Open and fstat the file: what is checked is what is sent (no path in between)."""
        if self.follow_symlinks:
            fd = os.open(os.path.join(self.directory, *parts), FILE_FLAGS)
        else:
            fd = open_beneath(self.directory, parts)
        opened = OpenedFile(fd)
        return opened, os.fstat(fd)

    def respond(self, request: Request, subpath: str) -> Response:
        parts = self._parts(subpath)
        if parts is None:
            raise HTTPError(404, "no such file")
        try:
            opened, st = self._open(parts)
            if stat.S_ISDIR(st.st_mode):
                opened.close()
                if self.index is None:
                    raise HTTPError(404, "no such file")
                if not request.raw_path.endswith(b"/"):
                    target = request.raw_path + b"/"
                    query = request.query_string
                    if query:
                        target += b"?" + query
                    return Response(b"", 301, [("Location", target.decode("latin-1"))])
                parts += self.index.split("/")
                opened, st = self._open(parts)
        except OSError:
            raise HTTPError(404, "no such file") from None
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(404, "no such file")
        return FileResponse(
            os.path.join(self.directory, *parts),
            headers=self.headers,
            cache_control=self.cache_control,
            stat_result=st,
            opened=opened,
        )


def static(
    prefix: str,
    directory: str | os.PathLike[str],
    *,
    follow_symlinks: bool = False,
    index: str | None = "index.html",
    dotfiles: bool = False,
    cache_control: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> StaticFiles:
    """Serve ``directory`` under ``prefix``: ``assets = static("/assets", "/srv/assets")``.

    Files go out with sendfile, with ranges, ETag/Last-Modified and 304s.  Paths
    that would leave the directory are refused with 404: ``..`` (also encoded),
    NUL, dot-files (unless ``dotfiles=True``) and symlinks that point outside
    (unless ``follow_symlinks=True``).  A directory serves its ``index`` file.
    A ``directory`` that does not exist raises :class:`StaticDirectoryError`.
    """
    return StaticFiles(
        prefix,
        directory,
        follow_symlinks=follow_symlinks,
        index=index,
        dotfiles=dotfiles,
        cache_control=cache_control,
        headers=headers,
    )
