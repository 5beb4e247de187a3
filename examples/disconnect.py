"""Disconnect: close every connection as soon as it is made."""

import manycore


class Disconnect:
    def connection_made(self, transport):
        transport.close()


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8010), protocol=Disconnect)
    manycore.run()
