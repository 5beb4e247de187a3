"""Quote of the day (RFC 865): a quote on connect, then close."""

import manycore

QUOTE = b"Parallel contexts read the main context's state; they never write it.\r\n"


class Qotd:
    def connection_made(self, transport):
        transport.close()  # after the quote below has been sent
        return QUOTE


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8017), protocol=Qotd)
    manycore.run()
