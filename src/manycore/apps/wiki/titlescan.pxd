# The compiled build's declarations for titlescan.py (Cython reads this beside the .py; the
# pure-Python build never does): the store's arrays as typed memoryviews, offsets and bytes
# as C integers.
import cython

cdef class TitleScan:
    cdef const unsigned char[::1] blob
    cdef const unsigned long long[::1] starts
    cdef const unsigned char[::1] heads
    cdef Py_ssize_t width
    cdef Py_ssize_t blocks

    @cython.locals(
        size=Py_ssize_t, width=Py_ssize_t, lo=Py_ssize_t, hi=Py_ssize_t, mid=Py_ssize_t,
        base=Py_ssize_t, i=Py_ssize_t, order=cython.int, have=cython.int, want=cython.int,
    )
    cpdef Py_ssize_t block_at_least(self, bytes key) except -1

    @cython.locals(
        titles=list, scratch=bytearray, block=Py_ssize_t, lo=Py_ssize_t, line=Py_ssize_t,
        end=Py_ssize_t, head=Py_ssize_t, head_end=Py_ssize_t, row=Py_ssize_t,
        rest=Py_ssize_t, shared=Py_ssize_t, line_end=Py_ssize_t, order=cython.int,
        size=Py_ssize_t,
    )
    cpdef object first(self, bytes folded, Py_ssize_t count)

    @cython.locals(
        block=Py_ssize_t, line=Py_ssize_t, end=Py_ssize_t, head=Py_ssize_t,
        head_end=Py_ssize_t, row=Py_ssize_t, rest=Py_ssize_t, shared=Py_ssize_t,
        line_end=Py_ssize_t, size=Py_ssize_t,
    )
    cpdef str title(self, Py_ssize_t title_id)

    @cython.locals(
        size=Py_ssize_t, line=Py_ssize_t, end=Py_ssize_t, head=Py_ssize_t,
        head_end=Py_ssize_t, row=Py_ssize_t, rest=Py_ssize_t, shared=Py_ssize_t,
        line_end=Py_ssize_t,
    )
    cpdef Py_ssize_t row_of(self, Py_ssize_t block, bytes title) except? -2

    @cython.locals(i=Py_ssize_t, size=Py_ssize_t)
    cdef bint _equal(self, bytes title, Py_ssize_t head, Py_ssize_t shared, Py_ssize_t rest)

    cdef Py_ssize_t _line_end(self, Py_ssize_t at) noexcept

    @cython.locals(mark=cython.int, chars=Py_ssize_t, rest=Py_ssize_t, at=Py_ssize_t)
    cdef (Py_ssize_t, Py_ssize_t) _parts(
        self, Py_ssize_t line, Py_ssize_t head, Py_ssize_t head_end
    ) noexcept

    @cython.locals(size=Py_ssize_t, i=Py_ssize_t, byte=cython.int, want=cython.int)
    cdef int _order(
        self, bytes folded, Py_ssize_t head, Py_ssize_t shared, Py_ssize_t rest, Py_ssize_t end
    ) noexcept

    @cython.locals(i=Py_ssize_t, at=Py_ssize_t)
    cdef str _made(
        self, bytearray scratch, Py_ssize_t head, Py_ssize_t shared, Py_ssize_t rest,
        Py_ssize_t end
    )
