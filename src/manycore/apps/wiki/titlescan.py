# cython: boundscheck=False, wraparound=False
"""A search's titles read from the title store's bytes in place, making only the titles it
returns.

``titles.SortedTitles`` answers a search by decoding one or two blocks into strings and
bisecting them; most of that time is making strings the answer never holds.  Here the
block is found by a binary search over the heads' bytes, its lines are compared with the
folded query byte by byte, and a title is decoded only to be returned.  ``setup.py``
compiles this module with Cython, ``titlescan.pxd`` typing the store's arrays as
memoryviews, so the loops run in C.  The same code runs as Python, slowly: the store uses
it only when ``COMPILED`` (the pure build keeps its string path, which is faster there),
and the tests run it in both builds against that path.

Folding a byte is ``bytes.lower``'s: right for ASCII, where ``keys.fold`` is ``str.lower``.
A title byte above 0x7F met in a comparison ends the scan with None (a caller then asks the
string path), since the characters ``keys.fold`` treats its own way ("İ" to "i", the Kelvin
sign to "k", sigma) are all beyond ASCII.  Byte order is code-point order in UTF-8, so the
comparisons agree with the store's ``str`` ones (``titles`` has the blob's layout).
"""

from __future__ import annotations

__all__ = ["COMPILED", "TitleScan"]

# The compiled module's file is the extension, not this source.
COMPILED = not __file__.endswith(".py")

_TITLE_ROOM = 256  # bytes of a title made in place before a bigger buffer is needed


class TitleScan:
    """Reads titles from the blob ``blob`` (bytes), its blocks' offsets ``starts`` (one more
    than the blocks) and their first keys' leading bytes ``heads``, ``width`` bytes a block
    (``titles`` writes them)."""

    def __init__(
        self, blob: memoryview[int], starts: memoryview[int], heads: memoryview[int], width: int
    ) -> None:
        self.blob = blob
        self.starts = starts
        self.heads = heads
        self.width = width
        self.blocks = min(len(starts) - 1, len(heads) // width if width else 0)

    def block_at_least(self, key: bytes) -> int:
        """The first block whose head is ``>= key`` (``key`` at most ``width`` bytes, padded
        with zero bytes as ``np.searchsorted`` pads it)."""
        size = len(key)
        width = self.width
        lo = 0
        hi = self.blocks
        while lo < hi:
            mid = (lo + hi) >> 1
            base = mid * width
            i = 0
            order = 0
            while i < width:
                have = self.heads[base + i]
                want = key[i] if i < size else 0
                if have != want:
                    order = -1 if have < want else 1
                    break
                i += 1
            if order < 0:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def first(self, folded: bytes, count: int) -> tuple[int, list[str]] | None:
        """(id of the first title whose folded form is ``>= folded``, the first ``count``
        titles from it on whose folded form starts with ``folded``), as
        ``SortedTitles.first`` answers; None where a title byte beyond ASCII was met or the
        query is longer than a head (the string path answers those)."""
        if len(folded) > self.width or self.blocks == 0:
            return None
        titles: list[str] = []
        scratch = bytearray(_TITLE_ROOM)
        block = self.block_at_least(folded) - 1
        lo = -1
        if block < 0:  # every title's folded form is >= the query
            block = 0
            lo = 0
        while block < self.blocks:
            line = self.starts[block]
            end = self.starts[block + 1]
            head = line + 1  # the first line's mark is always one byte
            head_end = self._line_end(head)
            row = 0
            while line < end:
                rest, shared = self._parts(line, head, head_end)
                line_end = self._line_end(rest)
                order = self._order(folded, head, shared, rest, line_end)
                if order == -2:
                    return None
                if lo < 0 and order != -1:
                    lo = block * 16 + row  # titles.BLOCK_TITLES
                if lo >= 0:
                    if order != 1 or len(titles) >= count:  # past the titles it answers
                        return lo, titles
                    size = shared + line_end - rest
                    if size > len(scratch):
                        scratch = bytearray(2 * size)
                    titles.append(self._made(scratch, head, shared, rest, line_end))
                    if len(titles) >= count:
                        return lo, titles
                line = line_end + 1
                row += 1
            if lo < 0:
                # Not in the block before the first head >= the query: it starts the next.
                lo = block * 16 + row
            block += 1
        return lo, titles

    def title(self, title_id: int) -> str:
        """The title with id ``title_id`` (``0 <= title_id < len(store)``)."""
        block = title_id >> 4
        line = self.starts[block]
        head = line + 1
        head_end = self._line_end(head)
        end = self.starts[block + 1]
        row = title_id & 15
        while row:
            line = self._line_end(line) + 1
            if line >= end:
                raise IndexError(f"title {title_id} is not in its block")
            row -= 1
        rest, shared = self._parts(line, head, head_end)
        line_end = self._line_end(rest)
        size = shared + line_end - rest
        return self._made(bytearray(size), head, shared, rest, line_end)

    def row_of(self, block: int, title: bytes) -> int:
        """The row of the title whose bytes are ``title`` in block ``block``, or -1."""
        size = len(title)
        line = self.starts[block]
        end = self.starts[block + 1]
        head = line + 1
        head_end = self._line_end(head)
        row = 0
        while line < end:
            rest, shared = self._parts(line, head, head_end)
            line_end = self._line_end(rest)
            if shared + line_end - rest == size and self._equal(title, head, shared, rest):
                return row
            line = line_end + 1
            row += 1
        return -1

    def _equal(self, title: bytes, head: int, shared: int, rest: int) -> bool:
        """Is the title ``head[:shared] + rest[:len(title) - shared]`` ``title``?"""
        i = 0
        while i < shared:
            if self.blob[head + i] != title[i]:
                return False
            i += 1
        size = len(title)
        while i < size:
            if self.blob[rest + i - shared] != title[i]:
                return False
            i += 1
        return True

    def _line_end(self, at: int) -> int:
        """Where the line holding ``at`` ends (its newline; the blob ends in one)."""
        while self.blob[at] != 0x0A:
            at += 1
        return at

    def _parts(self, line: int, head: int, head_end: int) -> tuple[int, int]:
        """(where the rest of the line at ``line`` starts, how many bytes of the block's first
        title, from ``head``, come before it)."""
        mark = self.blob[line]
        if mark < 0x80:
            chars = mark - 0x20  # titleblocks.MARK0
            rest = line + 1
        else:  # a mark beyond 0x7F takes two bytes (the count stops at MAX_SHARED)
            chars = (((mark & 0x1F) << 6) | (self.blob[line + 1] & 0x3F)) - 0x20
            rest = line + 2
        at = head
        while chars > 0 and at < head_end:  # the count is of characters, not bytes
            at += 1
            while at < head_end and (self.blob[at] & 0xC0) == 0x80:
                at += 1
            chars -= 1
        return rest, at - head

    def _order(self, folded: bytes, head: int, shared: int, rest: int, end: int) -> int:
        """How the title ``head[:shared] + rest[:end]`` folds against ``folded``: -1 below,
        1 starting with it, 2 above it otherwise, -2 unknown (a byte beyond ASCII)."""
        size = len(folded)
        i = 0
        while i < size:
            if i < shared:
                byte = self.blob[head + i]
            elif rest + i - shared < end:
                byte = self.blob[rest + i - shared]
            else:
                return -1  # a proper prefix of the query
            if byte >= 0x80:
                return -2
            if 0x41 <= byte <= 0x5A:
                byte += 0x20
            want = folded[i]
            if byte != want:
                return -1 if byte < want else 2
            i += 1
        return 1

    def _made(self, scratch: bytearray, head: int, shared: int, rest: int, end: int) -> str:
        """The title ``head[:shared] + rest[:end]``, put together in ``scratch`` and decoded."""
        i = 0
        while i < shared:
            scratch[i] = self.blob[head + i]
            i += 1
        at = rest
        while at < end:
            scratch[i] = self.blob[at]
            i += 1
            at += 1
        return scratch[0:i].decode("utf-8", "surrogatepass")
