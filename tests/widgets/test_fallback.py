"""Plain ipywidgets stand-ins, and the switch to them when anywidget is missing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ttskit.widgets import FallbackPlayer, FallbackSpeechView

from .conftest import events


def test_fallback_player_shows_progress_then_the_audio():
    player = FallbackPlayer(events(3), voice="joe").wait(10)
    assert repr(player) == "Player(voice='joe', 0.30 s received, 3 chunks, done)"
    assert "0.30 s received" in player._progress.value
    assert len(player._output.outputs) == 2
    assert "<audio" in player._output.outputs[0]["data"]["text/html"]
    assert player.speech.duration == pytest.approx(0.3)


def test_fallback_view_shows_audio_and_words():
    speech = FallbackPlayer(events(2)).wait(10).speech
    view = FallbackSpeechView(speech, title="local")
    assert repr(view) == "SpeechView(title='local', 0.20 s, 2 words)"
    assert "word1" in view.children[1].outputs[1]["data"]["text/html"]


def test_without_anywidget_the_fallbacks_are_used():
    code = (
        "import sys; sys.modules['anywidget'] = None\n"
        "import ttskit.widgets as w\n"
        "print(w.HAS_ANYWIDGET, w.Player is w.FallbackPlayer, w.SpeechView is w.FallbackSpeechView)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True", "True"]


def test_fallback_view_refuses_what_is_not_a_speech():
    with pytest.raises(TypeError, match="needs a Speech, got str"):
        FallbackSpeechView("not a speech")  # type: ignore[arg-type]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def static_view_of(widget) -> str:
    bundle = widget._repr_mimebundle_()
    if isinstance(bundle, tuple):  # (data, metadata)
        bundle = bundle[0]
    assert WIDGET_VIEW in bundle  # the live widget is still what a notebook shows
    return bundle["text/html"]


def test_every_widget_keeps_the_html_view_of_its_speech():
    from ttskit.widgets import Player, SpeechView

    speech = FallbackPlayer(events(2)).wait(10).speech
    for widget in (
        SpeechView(speech),
        FallbackSpeechView(speech),
        Player(events(2)).wait(10),
        FallbackPlayer(events(2)).wait(10),
    ):
        html = static_view_of(widget)
        assert html == widget.speech._repr_html_(), type(widget).__name__
        assert "<audio" in html and "<svg" in html and "word1" in html


def test_a_player_shown_while_streaming_says_so():
    import threading

    from ttskit.widgets import Player

    release = threading.Event()

    def held():
        yield from events(1)
        release.wait(30)

    player = Player(held())
    try:
        html = static_view_of(player)
        assert "shown while streaming" in html and "<audio" not in html
    finally:
        release.set()
        player.wait(10)


NOTEBOOK_CELLS = [
    "from ttskit import audio\n"
    "from ttskit.results import Speech, words_frame\n"
    "from ttskit.widgets import SpeechView\n"
    "speech = Speech(audio.sine(220.0, duration=1.0, sample_rate=16000), 16000,\n"
    "                words=words_frame(['hello', 'world'], [0.1, 0.5], [0.45, 0.9]))",
    "SpeechView(speech, title='exported')",
]


@pytest.mark.parametrize("anywidget", [True, False], ids=["anywidget", "plain"])
def test_an_exported_notebook_shows_audio_and_waveform(tmp_path, anywidget):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")
    cells = list(NOTEBOOK_CELLS)
    if not anywidget:
        cells.insert(0, "import sys; sys.modules['anywidget'] = None")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # Executed in a real kernel, and saved as JupyterLab saves it by default: outputs
    # without the widget state, so nothing in the page can draw the live widget.
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()  # fmt: skip
    (output,) = notebook.cells[-1].outputs
    assert WIDGET_VIEW in output["data"]
    page, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    assert page.count('src="data:audio/wav;base64,') == 1
    assert "<svg" in page and "<path d=" in page  # the waveform
    assert re.search(r"<title>hello 0\.10.0\.45 s</title>", page)
