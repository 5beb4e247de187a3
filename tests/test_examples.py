"""Every example in examples/ and the README, served as a user would serve it, over real
sockets."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, connect, recv_all, recv_until
from manycore.testing import ServerProcess


def serve(example: str, engine: str = "inline", workers: int = 1, **kwargs) -> ServerProcess:
    return ServerProcess(str(EXAMPLES / example), engine=engine, workers=workers, **kwargs)


def test_hello_answers_every_read(engine, workers):
    with serve("hello.py:Hello", engine, workers) as server, connect(server.address) as sock:
        for _ in range(3):
            sock.sendall(b"anything")
            assert sock.recv(100) == b"Hello, World!\r\n"


def test_echo_returns_each_read(engine, workers):
    with serve("echo.py:Echo", engine, workers) as server, connect(server.address) as sock:
        sock.sendall(b"ping")
        assert sock.recv(100) == b"ping"
        payload = bytes(range(256)) * 4096  # 1 MiB, several reads
        sock.sendall(payload)
        assert recv_until(sock, lambda d: len(d) >= len(payload)) == payload


def test_echo_lines_splits_crlf_and_lf(engine, workers):
    with serve("echo_lines.py:EchoLines", engine, workers) as server:
        with connect(server.address) as sock:
            sock.sendall(b"one\r\ntw")
            sock.sendall(b"o\nthree\n")
            assert recv_until(sock, lambda d: d.count(b"\n") == 3) == b"ONE\r\nTWO\r\nTHREE\r\n"


def test_echo_lines_too_long_closes_only_that_connection(engine, workers):
    with serve("echo_lines.py:EchoLines", engine, workers) as server:
        with connect(server.address) as bad:
            bad.sendall(b"x" * 2000)
            assert recv_all(bad) == b""  # closed
        with connect(server.address) as good:
            good.sendall(b"still here\n")
            assert good.recv(100) == b"STILL HERE\r\n"
    assert "max_line_length=1024" in server.log()


def test_qotd_sends_quote_and_closes(engine):
    with serve("qotd.py:Qotd", engine) as server, connect(server.address) as sock:
        assert recv_all(sock).startswith(b"Parallel contexts")


def test_daytime_sends_time_and_closes(engine):
    with serve("daytime.py:Daytime", engine) as server, connect(server.address) as sock:
        assert str(time.gmtime().tm_year).encode() in recv_all(sock)


def test_discard_sends_nothing(engine):
    with serve("discard.py:Discard", engine) as server, connect(server.address) as sock:
        sock.sendall(b"x" * 100_000)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""


def test_disconnect_closes_at_once(engine):
    with serve("disconnect.py:Disconnect", engine) as server, connect(server.address) as sock:
        assert recv_all(sock) == b""


def _rss_kb(pid: int) -> int:
    total = 0
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    for p in [pid, *map(int, children)]:
        with open(f"/proc/{p}/status") as f:
            total += next(int(x.split()[1]) for x in f if x.startswith("VmRSS"))
    return total


def test_chargen_streams_and_a_slow_reader_does_not_make_the_server_buffer(engine):
    with serve("chargen.py:Chargen", engine) as server, connect(server.address) as sock:
        first = recv_until(sock, lambda d: len(d) > 1_000_000)
        assert first[:74] == bytes(range(33, 105)) + b"\r\n"
        before = _rss_kb(server.pid())
        time.sleep(2.0)  # stop reading: an unbounded server would buffer GBs by now
        growth_mb = (_rss_kb(server.pid()) - before) / 1024
        assert growth_mb < 64, f"server memory grew by {growth_mb:.0f} MB for a stalled reader"
        more = recv_until(sock, lambda d: len(d) > 5_000_000)
        assert len(more) > 5_000_000  # and it resumes when the reader does


def test_echo_client_talks_to_echo_server(engine):
    with serve("echo.py:Echo", engine) as server:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "echo_client.py"), *map(str, server.address), "hi!"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hi!"


@pytest.mark.parametrize("elements", [100_000_000])
def test_big_shared_array_sums_slices_in_parallel(engine, workers, elements):
    env = {"BIG_ARRAY_ELEMENTS": str(elements)}
    with serve("big_shared_array.py:SliceSum", engine, workers, env=env) as server:
        slices = 8
        step = elements // slices
        socks = [connect(server.address, timeout=60) for _ in range(slices)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(b"%d %d\n" % (i * step, (i + 1) * step))
            total = sum(int(recv_until(s, lambda d: d.endswith(b"\n"))) for s in socks)
        finally:
            for sock in socks:
                sock.close()
        assert total == elements * (elements - 1) // 2
        with connect(server.address) as sock:
            sock.sendall(b"not numbers\n")
            assert recv_all(sock) == b"error: send two integers, START STOP\n"


# ----------------------------------------------------------------------------- README


def readme_section(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_squares(tmp_path: Path, source: str, port: int) -> Path:
    """The README's file, listening on ``port`` instead of 8080 should it listen by itself."""
    path = tmp_path / "squares.py"
    path.write_text(source.replace("8080", str(port)))
    return path


def ten_lines() -> str:
    (source,) = code_blocks(readme_section("Ten lines"), "python")
    return source


def without_main_guard(source: str) -> str:
    """The file as it would be without its ``if __name__ == "__main__":`` line."""
    head, guard, body = source.partition('if __name__ == "__main__":')
    assert guard, "the README's file guards its register() and run()"
    return head + textwrap.dedent(body.split("\n", 1)[1])


SERVE_INLINE = ("--engine", "inline", "--port", "0")


def serve_squares(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "serve", f"{path}:Squares", *SERVE_INLINE],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_readme_ten_line_file_is_served_with_the_options_given(tmp_path):
    port = free_port()
    path = write_squares(tmp_path, ten_lines(), port)
    with ServerProcess(f"{path}:Squares", engine="inline") as server:
        with connect(server.address) as sock:
            sock.sendall(b"12\n")
            assert recv_until(sock, lambda d: d.endswith(b"\n")) == b"144\n"
    listening = [line for line in server.output if "listening on" in line]
    assert len(listening) == 1, server.log()
    assert "engine=inline" in listening[0]
    assert server.port != port


def test_readme_ten_line_file_without_its_guard_is_refused(tmp_path):
    port = free_port()
    result = serve_squares(write_squares(tmp_path, without_main_guard(ten_lines()), port))
    assert result.returncode == 2, result.stderr
    assert "listening on" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "squares.py calls manycore.run() when imported" in lines[0]
    assert 'if __name__ == "__main__":' in lines[0]


def test_readme_ten_line_file_registering_at_import_is_refused(tmp_path):
    port = free_port()
    source = without_main_guard(ten_lines()).replace(
        "manycore.run()", 'if __name__ == "__main__":\n    manycore.run()'
    )
    path = write_squares(tmp_path, source, port)
    result = serve_squares(path)
    assert result.returncode == 2, result.stderr
    assert "listening on" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"registers Squares on 127.0.0.1:{port} when imported" in lines[0]
    assert f"manycore serve {path}" in lines[0]


@pytest.mark.skipif(shutil.which("nc") is None, reason="needs netcat (nc)")
def test_readme_client_line_prints_the_answer_and_returns(tmp_path):
    (client,) = code_blocks(readme_section("Ten lines"), "sh")
    path = write_squares(tmp_path, ten_lines(), free_port())
    with ServerProcess(f"{path}:Squares", engine="inline") as server:
        command = client.replace("8080", str(server.port))
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "144\n"
