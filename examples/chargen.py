"""Character generator (RFC 864), streamed with send_complete.

send_complete is called only once the previous chunk has left the server's
buffer, so a client that reads slowly slows the generator down instead of
making the server buffer without bound.
"""

import manycore

_CHARS = bytes(range(33, 127))
LINES = [(_CHARS * 2)[i : i + 72] + b"\r\n" for i in range(len(_CHARS))]
CHUNK = b"".join(LINES) * 64  # about 475 KB per send


class Chargen:
    def connection_made(self, transport):
        return CHUNK

    def send_complete(self, transport, send_id):
        return CHUNK


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8019), protocol=Chargen)
    manycore.run()
