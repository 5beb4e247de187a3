"""Hello: every read is answered with the same bytes, without running Python per read."""

import manycore


class Hello:
    next_bytes_to_send = b"Hello, World!\r\n"


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8080), protocol=Hello)
    manycore.run()
