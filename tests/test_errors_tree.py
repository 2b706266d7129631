"""Every exception a user can get from ttskit is a ``TTSKitError``: no module that user code
reaches raises a builtin exception, or checks an argument with ``assert``.

Engines and the server's internals are left out: the server maps what they raise to the
wire's error bodies in one place (``ttskit/server/errors.py``).
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import ttskit
from ttskit import errors

PACKAGE = Path(ttskit.__file__).parent
SERVER_ENTRY_POINTS = {"server/app.py", "server/background.py"}

BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}

# (module, builtin): raised on purpose, and why that is right.
ALLOWED = {
    ("client/streaming.py", "StopIteration"): "the iterator protocol",
    ("client/wire.py", "TypeError"): "caught a few lines below and raised as ProtocolError",
    ("client/recording.py", "AssertionError"): "an invariant of the recorder's callers",
    ("client/session.py", "AssertionError"): "marks unreachable code",
    ("client/websocket.py", "AssertionError"): "marks unreachable code",
    ("dataset/runner.py", "KeyboardInterrupt"): "Ctrl-C, passed on with what to do next",
    ("demo.py", "KeyboardInterrupt"): "Ctrl-C, passed on with the files the demo kept",
}


def user_modules() -> list[Path]:
    paths = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("engines/"):
            continue
        if relative.startswith("server/") and relative not in SERVER_ENTRY_POINTS:
            continue
        paths.append(path)
    return paths


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


def test_the_walk_covers_the_modules_users_reach() -> None:
    walked = {path.relative_to(PACKAGE).as_posix() for path in user_modules()}
    for module in (
        "client/http.py",
        "results.py",
        "cli/say.py",
        "dataset/cli.py",
        "audio/files.py",
    ):
        assert module in walked
    assert walked >= SERVER_ENTRY_POINTS
    assert not any(m.startswith("engines/") for m in walked)


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
