"""The package's public surface and its import-time promises."""

import pathlib
import subprocess
import sys
import types

import ttskit


def test_all_is_sorted_and_complete():
    assert ttskit.__all__ == sorted(ttskit.__all__)
    # Submodules become attributes once imported; everything else public must be listed.
    public = {
        name
        for name in dir(ttskit)
        if not name.startswith("_") and not isinstance(getattr(ttskit, name), types.ModuleType)
    }
    assert public - set(ttskit.__all__) == set()
    for name in ttskit.__all__:
        assert hasattr(ttskit, name), name


def test_local_is_the_function_that_returns_a_client():
    assert callable(ttskit.local)
    assert ttskit.local.__module__ == "ttskit.client.shortcuts"
    # No module hides behind the name: the embedded server lives with the server.
    package = pathlib.Path(ttskit.__file__).parent
    assert not (package / "local.py").exists() and not (package / "local").exists()
    assert (package / "server" / "background.py").exists()


def test_import_ttskit_stays_light():
    # Plots, widgets, the server and the engines load only when used.
    code = (
        "import sys, ttskit; "
        "heavy = [m for m in ('matplotlib', 'anywidget', 'ipywidgets', 'fastapi', 'uvicorn', "
        "'onnxruntime', 'piper', 'ttskit.server', 'ttskit.engines', 'ttskit.widgets') "
        "if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print([m for m in {modules!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)  # a list literal of module names, printed just above


CLIENT_SIDE = ("ttskit.client", "ttskit.results", "requests", "pandas")


def test_import_ttskit_server_does_not_load_the_client():
    assert _loaded_after("import ttskit.server", CLIENT_SIDE) == []


def test_import_the_engine_protocol_does_not_load_the_client():
    assert _loaded_after("import ttskit.engines.base", CLIENT_SIDE) == []


def test_a_public_name_loads_its_module_on_first_use():
    assert _loaded_after("import ttskit", CLIENT_SIDE) == []
    assert "ttskit.client" in _loaded_after("import ttskit; ttskit.Client", CLIENT_SIDE)
    assert _loaded_after("from ttskit import Speech", ("ttskit.results",)) == ["ttskit.results"]


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        ttskit.Clinet  # noqa: B018


def test_the_version_lives_in_a_module_of_its_own_and_matches_the_package_metadata():
    import tomllib

    from ttskit import _version

    assert ttskit.__version__ == _version.__version__
    project = pathlib.Path(ttskit.__file__).parent.parent / "pyproject.toml"
    assert tomllib.loads(project.read_text())["project"]["version"] == ttskit.__version__
    source = (pathlib.Path(ttskit.__file__).parent / "_version.py").read_text()
    assert not any(line.startswith(("import ", "from ")) for line in source.splitlines())
