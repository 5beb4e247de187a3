# The compiled build's declarations for _response.py (Cython reads this beside the .py;
# the pure-Python build never does).  Response as an extension type: a handler's
# Response(...) is then made by C code, keyword arguments and all.
cdef class Response:
    cdef public object body
    cdef public object status
    cdef public object headers
    cdef public object content_type
