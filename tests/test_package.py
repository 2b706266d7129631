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
