"""Run settings: every serving command's shared options, their defaults and their checks.

``serve``, ``tefb`` and ``wiki serve|demo`` all take these options through
:func:`add_run_options` and read them back with :meth:`RunSettings.from_args`;
what a user relies on is that each option parses to the value given, that a
command may change a default, and that a bad value is refused with a line
naming it (a :class:`UsageError`, exit status 2).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from manycore.commands.settings import LOG_LEVELS, RunSettings, add_run_options
from manycore.commands.usage import Parser, UsageError
from manycore.engine import ENGINES


def parse(*argv: str, **defaults: object) -> RunSettings:
    parser = Parser(prog="manycore serve")
    add_run_options(parser, **defaults)
    return RunSettings.from_args(parser.parse_args(argv))


def test_no_options_give_the_documented_defaults():
    assert parse() == RunSettings(
        host="127.0.0.1",
        port=8080,
        workers=None,
        engine="auto",
        guard=False,
        grace=10.0,
        log_level="INFO",
    )


def test_every_option_reaches_the_settings():
    settings = parse(
        "--host=0.0.0.0",
        "--port=0",
        "--workers=3",
        "--engine=threads",
        "--guard",
        "--grace=2.5",
        "--log-level=debug",
    )
    assert settings == RunSettings(
        host="0.0.0.0",
        port=0,
        workers=3,
        engine="threads",
        guard=True,
        grace=2.5,
        log_level="DEBUG",
    )


def test_every_setting_has_an_option():
    parser = Parser(prog="p")
    add_run_options(parser, server_flags=True)
    flags = {flag for action in parser._actions for flag in action.option_strings}
    for field in dataclasses.fields(RunSettings):
        assert "--" + field.name.replace("_", "-") in flags


def test_a_command_may_change_a_default_and_the_user_may_still_override_it():
    assert parse(port=8000).port == 8000
    assert parse("--port", "9000", port=8000).port == 9000


def test_help_shows_each_default():
    parser = Parser(prog="p")
    add_run_options(parser, port=8000)
    text = parser.format_help()
    assert "(default: 8000)" in text
    assert "(default: 10.0)" in text
    assert "(default: None)" not in text  # no default workers: one per core, said in words


def test_run_kwargs_are_what_run_takes():
    settings = parse("--workers=2", "--engine=inline", "--guard", "--grace=1")
    assert settings.run_kwargs() == {"workers": 2, "engine": "inline", "guard": True, "grace": 1.0}


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse().port = 1  # type: ignore[misc]


@pytest.mark.parametrize("level", LOG_LEVELS)
def test_log_levels_are_taken_in_any_case(level):
    assert parse("--log-level", level.lower()).log_level == level
    assert parse("--log-level", level.title()).log_level == level


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_can_be_chosen(engine):
    assert parse("--engine", engine).engine == engine


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "http"], r"--port: port must be a number 0\.\.65535, got 'http'"),
        (["--port", "65536"], r"--port: port must be 0\.\.65535, got 65536"),
        (["--port", "-1"], r"--port: port must be 0\.\.65535, got -1"),
        (["--workers", "0"], r"--workers: expected a positive integer, got 0"),
        (["--workers", "many"], r"--workers: expected a positive integer, got 'many'"),
        (["--grace", "soon"], r"--grace: expected seconds, got 'soon'"),
        (["--grace", "-1"], r"--grace: expected seconds >= 0, got -1"),
        (["--grace", "nan"], r"--grace: expected a finite number of seconds, got 'nan'"),
        (["--grace", "inf"], r"--grace: expected a finite number of seconds, got 'inf'"),
        (["--log-level", "loud"], r"--log-level: expected one of DEBUG, .*, got 'loud'"),
        (["--engine", "gpu"], r"--engine: invalid choice: 'gpu'"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_and_the_value(argv, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse(*argv)
    assert str(caught.value).endswith("(see manycore serve --help)")


def test_a_default_for_an_option_that_does_not_exist_is_a_mistake_said_at_once():
    with pytest.raises(TypeError, match="prot"):
        add_run_options(Parser(prog="p"), prot=8000)


def test_the_command_line_refuses_a_bad_value_in_one_line_with_status_2():
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", "nowhere:App", "--grace", "nan"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "--grace: expected a finite number of seconds, got 'nan'" in result.stderr
    assert "Traceback" not in result.stderr
