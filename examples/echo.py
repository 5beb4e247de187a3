"""Echo: every read is sent straight back."""

import manycore


class Echo:
    def data_received(self, transport, data):
        return data


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8007), protocol=Echo)
    manycore.run()
