"""The import table of ``docs/architecture.md`` is the imports the code has.

Each row names a part of the package (a top-level module or subpackage of ``ttskit``;
``ttskit`` is its ``__init__``) and the other parts it imports, at import time and lazily
(inside a function). Imports under ``if TYPE_CHECKING:`` are not imports. The table must
say exactly what the code does: a missing or an extra arrow fails, naming the table's line
and the files that import.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import ttskit

PACKAGE = Path(ttskit.__file__).parent
DOC = PACKAGE.parent / "docs" / "architecture.md"
ROW = re.compile(r"^\| `(?P<part>[\w.]+)` \| (?P<eager>[^|]*) \| (?P<lazy>[^|]*) \|")


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if relative.parts == ("__init__.py",):
        return "ttskit"
    return relative.parts[0].removesuffix(".py")


def parts() -> set[str]:
    return {part_of(path) for path in PACKAGE.rglob("*.py")}


def _target(module: str, names: list[str], known: set[str]) -> set[str]:
    dotted = module.split(".")
    if dotted[0] != "ttskit":
        return set()
    if len(dotted) > 1:
        return {dotted[1]}
    return {name if name in known else "ttskit" for name in names}


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = ["ttskit", *path.relative_to(PACKAGE).parent.parts]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test)


def imports_of(path: Path, known: set[str]) -> dict[str, dict[str, list[str]]]:
    """``{"eager": {part: [where]}, "lazy": {part: [where]}}`` for one file."""
    found: dict[str, dict[str, list[str]]] = {"eager": defaultdict(list), "lazy": defaultdict(list)}
    where = path.relative_to(PACKAGE.parent).as_posix()

    def visit(node: ast.AST, lazy: bool) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            targets = set().union(*(_target(a.name, [], known) for a in node.names))
        elif isinstance(node, ast.ImportFrom):
            targets = _target(_absolute(path, node), [a.name for a in node.names], known)
        else:
            targets = set()
        for target in targets:
            found["lazy" if lazy else "eager"][target].append(f"{where}:{node.lineno}")
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def code_imports() -> dict[str, dict[str, dict[str, list[str]]]]:
    known = parts()
    graph: dict[str, dict[str, dict[str, list[str]]]] = {
        part: {"eager": defaultdict(list), "lazy": defaultdict(list)} for part in known
    }
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(path)
        for kind, targets in imports_of(path, known).items():
            for target, places in targets.items():
                if target != part:
                    graph[part][kind][target].extend(places)
    # An import at import time already loads the part; a lazy one adds nothing.
    for kinds in graph.values():
        for target in list(kinds["lazy"]):
            if target in kinds["eager"]:
                del kinds["lazy"][target]
    return graph


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([\w.]+)`", cell))


def table() -> dict[str, tuple[int, set[str], set[str]]]:
    rows = {}
    section = False
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("## "):
            section = line == "## Who imports whom"
        match = ROW.match(line) if section else None
        if match:
            rows[match["part"]] = (number, _names(match["eager"]), _names(match["lazy"]))
    return rows


def test_the_table_has_a_row_per_part():
    assert set(table()) == parts(), (
        "docs/architecture.md's import table needs exactly one row per part of ttskit: "
        f"missing {sorted(parts() - set(table()))}, extra {sorted(set(table()) - parts())}"
    )


def test_the_table_says_what_the_code_imports():
    graph = code_imports()
    wrong = []
    for part, (number, eager, lazy) in sorted(table().items()):
        if part not in graph:
            continue
        for kind, said in (("eager", eager), ("lazy", lazy)):
            actual = graph[part][kind]
            if said == set(actual):
                continue
            column = "at import time" if kind == "eager" else "lazily"
            details = [f"docs/architecture.md:{number}: `{part}` imports {column}:"]
            details += [
                f"    + `{t}` (missing from the table; {', '.join(actual[t][:3])})"
                for t in sorted(set(actual) - said)
            ]
            details += [
                f"    - `{t}` (in the table, not in the code)" for t in sorted(said - set(actual))
            ]
            details.append(
                f"    the cell should read: {', '.join(f'`{t}`' for t in sorted(actual)) or '-'}"
            )
            wrong.append("\n".join(details))
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_lazy_and_type_checking_imports(tmp_path, monkeypatch):
    package = tmp_path / "ttskit"
    (package / "client").mkdir(parents=True)
    (package / "errors.py").write_text("")
    (package / "results.py").write_text("")
    (package / "client" / "http.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..errors import X\n"
        "if TYPE_CHECKING:\n"
        "    from ..results import Speech\n"
        "def f():\n"
        "    from .. import results\n"
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    found = imports_of(package / "client" / "http.py", parts())
    assert dict(found["eager"]) == {"errors": ["ttskit/client/http.py:2"]}
    assert dict(found["lazy"]) == {"results": ["ttskit/client/http.py:6"]}
