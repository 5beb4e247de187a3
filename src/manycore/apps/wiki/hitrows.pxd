# The compiled build's declarations for hitrows.py (Cython reads this beside the .py; the
# pure-Python build never does): the index's arrays as typed memoryviews, the counters as
# C integers.
import cython

cdef class HitRows:
    cdef const unsigned char[::1] flags
    cdef const unsigned short[::1] lengths
    cdef const unsigned int[::1] redirect_blocks
    cdef const unsigned int[::1] redirect_ids
    cdef const int[::1] redirect_targets
    cdef list namespaces
    cdef object title
    cdef object missing
    cdef object long_length
    cdef object make

    @cython.locals(entry=Py_ssize_t)
    cpdef int redirect_target(self, Py_ssize_t key_id) except? -1

    @cython.locals(
        count=Py_ssize_t, i=Py_ssize_t, key_id=Py_ssize_t, flag=cython.int,
        length=Py_ssize_t, found=cython.int,
    )
    cpdef list rows(self, list titles, object ids, bint as_json=*)
