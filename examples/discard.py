"""Discard (RFC 863): read everything, send nothing."""

import manycore


class Discard:
    def data_received(self, transport, data):
        return None


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8009), protocol=Discard)
    manycore.run()
