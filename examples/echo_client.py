"""A client with the same contract: send a greeting, print the echo, hang up.

python examples/echo_client.py 127.0.0.1 8007 "hello, echo"
"""

import sys

import manycore


class EchoClient:
    message = b"hello"

    def initial_bytes_to_send(self, transport):
        return self.message

    def data_received(self, transport, data):
        print(data.decode(), flush=True)
        transport.close()


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        EchoClient.message = sys.argv[3].encode()
    manycore.register(transport=manycore.client(host, port), protocol=EchoClient)
    manycore.run(workers=1)
