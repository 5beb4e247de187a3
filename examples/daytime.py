"""Daytime (RFC 867): the current date and time, then close."""

import time

import manycore


class Daytime:
    def connection_made(self, transport):
        transport.close()
        return time.strftime("%A, %B %d, %Y %H:%M:%S-%Z\r\n").encode()


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8013), protocol=Daytime)
    manycore.run()
