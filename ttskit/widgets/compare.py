"""``compare``: several speeches or voices side by side, each with its TTFB and duration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets

from ..errors import InvalidArgument
from ..results import Speech

__all__ = ["Comparison", "compare"]


class Comparison(ipywidgets.GridBox):
    """A grid with one view per speech; ``speeches`` and ``labels`` are in grid order."""

    def __init__(self, speeches: list[Speech], labels: list[str], *, columns: int) -> None:
        from . import SpeechView

        self.speeches = speeches
        self.labels = labels
        views = [SpeechView(s, title=label) for s, label in zip(speeches, labels, strict=True)]
        super().__init__(
            views,
            layout=ipywidgets.Layout(
                grid_template_columns=f"repeat({columns}, minmax(0, 1fr))", grid_gap="8px"
            ),
        )

    def __repr__(self) -> str:
        cells = []
        for speech, label in zip(self.speeches, self.labels, strict=True):
            cell = f"{label!r} {speech.duration:.2f} s"
            if speech.timing.first_audio_s is not None:
                cell += f" ttfb {speech.timing.first_audio_s * 1000:.0f} ms"
            cells.append(cell)
        return f"Comparison({', '.join(cells)})"


def compare(
    speeches_or_voices: Iterable[Speech | str] | Mapping[str, Speech | str],
    text: str | None = None,
    *,
    client: Any = None,
    columns: int | None = None,
) -> Comparison:
    """Show and play several voices or endpoints side by side.

    Parameters
    ----------
    speeches_or_voices : iterable of Speech or str, or mapping of label to Speech or str
        Speeches to show, or voice names to synthesize ``text`` with. A mapping's keys
        label the cells; otherwise a cell is labelled by its voice (or model, or endpoint).
    text : str, optional
        What the voices say; required when any item is a voice name.
    client : ttskit.Client, optional
        Synthesizes the voices through ``client.speak`` with word alignment; by default
        ``ttskit.default_client()``, which picks its endpoint as the client always does.
    columns : int, optional
        Cells per row; by default all in one row, at most three.

    Returns
    -------
    Comparison
        An ``ipywidgets.GridBox`` of ``SpeechView``; its ``speeches`` hold the results.

    Examples
    --------
    >>> compare(["en-us", "en-gb"], "Good morning.", client=client)  # doctest: +SKIP
    Comparison('en-us' 0.98 s ttfb 12 ms, 'en-gb' 1.02 s ttfb 11 ms)
    """
    if isinstance(speeches_or_voices, Mapping):
        items = [(str(label), item) for label, item in speeches_or_voices.items()]
    else:
        items = [(None, item) for item in speeches_or_voices]
    if not items:
        raise InvalidArgument("compare needs at least one speech or voice")
    for _, item in items:
        if not isinstance(item, (Speech, str)):
            raise InvalidArgument(f"compare takes Speech objects or voice names, got {item!r}")
    if any(isinstance(item, str) for _, item in items):
        if text is None:
            raise InvalidArgument("compare needs text= to synthesize voices by name")
        if client is None:
            from ..client import default_client

            client = default_client()

    speeches: list[Speech] = []
    labels: list[str] = []
    for i, (label, item) in enumerate(items):
        speech = client.speak(text, voice=item, alignment="word") if isinstance(item, str) else item
        speeches.append(speech)
        labels.append(label or speech.voice or speech.model or speech.endpoint or f"#{i + 1}")
    if columns is None:
        columns = min(len(speeches), 3)
    if columns < 1:
        raise InvalidArgument(f"columns must be at least 1, got {columns!r}")
    return Comparison(speeches, labels, columns=columns)
