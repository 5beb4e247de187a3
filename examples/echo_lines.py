"""Echo in lines mode: each line (CRLF or LF) comes back upper-cased, one per line."""

import manycore


class EchoLines:
    lines_mode = True
    max_line_length = 1024

    def line_received(self, transport, line):
        return line.upper() + b"\r\n"


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8007), protocol=EchoLines)
    manycore.run()
