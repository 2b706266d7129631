"""Every exception a user can get from ttskit is a ``TTSKitError``: no module of the package,
the server and the engines included, raises a builtin exception or checks an argument with
``assert``, but for the few raised on purpose listed in ``ALLOWED`` with their reason.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import ttskit
from ttskit import errors

PACKAGE = Path(ttskit.__file__).parent

BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}

# (module, builtin): raised on purpose, and why that is right.
ALLOWED = {
    ("client/streaming.py", "StopIteration"): "the iterator protocol",
    ("client/asynchronous.py", "StopAsyncIteration"): "the async iterator protocol",
    ("client/asynchronous.py", "AssertionError"): "marks unreachable code",
    ("client/wire.py", "TypeError"): "caught a few lines below and raised as ProtocolError",
    ("client/recording.py", "AssertionError"): "an invariant of the recorder's callers",
    ("client/session.py", "AssertionError"): "marks unreachable code",
    ("client/websocket.py", "AssertionError"): "marks unreachable code",
    ("dataset/runner.py", "KeyboardInterrupt"): "Ctrl-C, passed on with what to do next",
    ("demo.py", "KeyboardInterrupt"): "Ctrl-C, passed on with the files the demo kept",
    ("__init__.py", "AttributeError"): "the module attribute protocol of a lazy export",
    ("server/limits.py", "OSError"): "tells the WebSocket route its client has gone, as a "
    "closed socket does; never reaches a user",
}


def user_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def ttskit_error_names(tree: ast.Module) -> set[str]:
    """Names bound by ``from ..errors import ...`` (ttskit's ``TimeoutError`` shadows the builtin)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "errors"
        for alias in node.names
    }


def raised_name(node: ast.Raise) -> str | None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return exc.id if isinstance(exc, ast.Name) else None


def builtin_raises(path: Path) -> list[tuple[str, int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    relative = path.relative_to(PACKAGE).as_posix()
    shadowed = ttskit_error_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            found.append((relative, node.lineno, "assert"))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            name = raised_name(node)
            allowed = name in shadowed or (relative, name) in ALLOWED
            if name in BUILTIN_EXCEPTIONS and not allowed:
                found.append((relative, node.lineno, name))
    return found


def test_the_walk_covers_every_module() -> None:
    walked = {path.relative_to(PACKAGE).as_posix() for path in user_modules()}
    for module in (
        "client/http.py",
        "results.py",
        "cli/say.py",
        "cli/dataset.py",
        "audio/files.py",
        "server/__init__.py",
        "server/faults.py",
        "server/limits.py",
        "server/pool.py",
        "engines/base.py",
    ):
        assert module in walked


def test_every_allowance_is_still_needed() -> None:
    raised = set()
    for path in user_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = path.relative_to(PACKAGE).as_posix()
        raised |= {
            (relative, raised_name(node))
            for node in ast.walk(tree)
            if isinstance(node, ast.Raise) and node.exc is not None
        }
    assert set(ALLOWED) - raised == set()


def test_no_builtin_exception_escapes_the_tree() -> None:
    found = [hit for path in user_modules() for hit in builtin_raises(path)]
    assert not found, "raise a ttskit.errors class instead:\n" + "\n".join(
        f"ttskit/{module}:{line}: {name}" for module, line, name in found
    )


def test_the_check_finds_a_builtin_raise(tmp_path, monkeypatch) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "from .errors import TimeoutError\n"
        "def f(x):\n"
        "    assert x\n"
        "    if x < 0:\n"
        "        raise ValueError(x)\n"
        "    raise TimeoutError(x)\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    assert builtin_raises(module) == [("module.py", 3, "assert"), ("module.py", 5, "ValueError")]


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.InvalidArgument, ValueError),
        (errors.InvalidType, TypeError),
        (errors.InvalidType, ValueError),
        (errors.MissingExtra, ImportError),
        (errors.NoSuchItem, KeyError),
    ],
)
def test_ttskit_errors_stay_the_builtins_callers_catch(error, builtin) -> None:
    assert issubclass(error, errors.TTSKitError) and issubclass(error, builtin)


def test_an_engine_argument_error_is_an_invalid_argument() -> None:
    from ttskit.engines.base import EngineArgumentError, check_speed

    assert issubclass(EngineArgumentError, errors.InvalidArgument)
    with pytest.raises(errors.InvalidArgument, match="speed must be within"):
        check_speed(9.0)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: _faults(error_rate=2), "error_rate must be within 0..1, got 2"),
        (lambda: _faults(jitter=-1), "jitter must be a number >= 0"),
        (lambda: _faults(error_status=418), "error_status must be one of"),
        (lambda: _faults().updated("nope=1"), "expected key=value"),
        (lambda: _limits(queue_timeout=0), "queue_timeout must be a number of seconds > 0"),
        (lambda: _limits(write_timeout=float("nan")), "write_timeout must be a number"),
        (lambda: _create_app({}), "a server needs at least one engine"),
        (lambda: _create_app({"espeak": []}), "model 'espeak' has no engine"),
        (lambda: _create_app(_espeak(), queue=-1), "queue_size must be >= 0, got -1"),
        (lambda: _create_app(_espeak(), cors_origins=["nope"]), "expected an origin such as"),
        (
            lambda: _create_app(_espeak(), aliases={"hosted": "absent"}),
            "alias 'hosted' points to 'absent'",
        ),
    ],
)
def test_the_server_configuration_errors_are_invalid_arguments(make, says) -> None:
    with pytest.raises(errors.InvalidArgument, match=says) as caught:
        make()
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("options", "says"),
    [({"queue": -1}, "queue_size must be >= 0"), ({"cors_origins": ["nope"]}, "an origin")],
)
def test_local_with_a_bad_server_option_says_so(options, says) -> None:
    with pytest.raises(errors.InvalidArgument, match=says):
        ttskit.local("espeak", **options)


def _faults(**options):
    from ttskit.server import Faults

    return Faults(**options)


def _limits(**options):
    from ttskit.server.limits import Limits

    return Limits(**options)


def _create_app(engines, **options):
    from ttskit.server import create_app

    return create_app(engines, **options)


def _espeak():
    from ttskit.engines import load_engine

    return {"espeak": [load_engine("espeak")]}
