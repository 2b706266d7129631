"""``SpeechView``: a Speech's waveform, an audio player and its words, in the browser.

Python reduces the audio to a min/max envelope of at most ``columns`` pairs, so what is sent
for drawing stays small however long the audio is; the whole audio travels once, as WAV
bytes, for the ``<audio>`` element. Clicking a word plays from its start; clicking the
waveform seeks there; the cursor and the highlighted word follow playback.
"""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..display import envelope as display_envelope
from ..errors import InvalidType
from ..results import Speech
from .fallback import with_static_view

__all__ = ["SpeechView", "envelope"]


def envelope(audio: np.ndarray, *, columns: int) -> np.ndarray:
    """Min/max envelope of ``audio`` in ``columns`` slices, as pairs (``display.envelope``).

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
    columns : int
        Number of slices; fewer when the audio has fewer samples.

    Returns
    -------
    np.ndarray, shape (min(columns, n), 2), float32
        Minimum and maximum of each slice.

    Examples
    --------
    >>> envelope(np.array([0.0, 1.0, -1.0, 0.5], dtype=np.float32), columns=2).tolist()
    [[0.0, 1.0], [-1.0, 0.5]]
    """
    minimum, maximum = display_envelope(audio, n_columns=columns)
    return np.stack([minimum, maximum], axis=1)


class SpeechView(anywidget.AnyWidget):
    """Waveform, player and clickable words of a ``Speech``.

    Parameters
    ----------
    speech : Speech
    title : str, optional
        Heading; defaults to the speech's voice or model.
    columns : int
        Envelope resolution: the most min/max pairs sent to the browser.

    Examples
    --------
    >>> SpeechView(speech)  # doctest: +SKIP
    SpeechView(title='joe', 1.42 s, 6 words)
    """

    _esm = pathlib.Path(__file__).with_name("view.js")
    _css = pathlib.Path(__file__).with_name("widgets.css")

    title = traitlets.Unicode("").tag(sync=True)
    duration_s = traitlets.Float(0.0).tag(sync=True)
    ttfb_s = traitlets.Float(None, allow_none=True).tag(sync=True)
    #: Float32 pairs (min, max), one per column, little-endian.
    envelope = traitlets.Bytes(b"").tag(sync=True)
    wav = traitlets.Bytes(b"").tag(sync=True)
    words = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(
        self, speech: Speech, *, title: str | None = None, columns: int = 600, **kwargs: Any
    ) -> None:
        if not isinstance(speech, Speech):
            raise InvalidType(f"SpeechView needs a Speech, got {type(speech).__name__}")
        self.speech = speech
        words = speech.words
        super().__init__(
            title=title if title is not None else (speech.voice or speech.model),
            duration_s=speech.duration,
            ttfb_s=speech.timing.first_audio_s,
            envelope=envelope(speech.audio, columns=columns).astype("<f4").tobytes(),
            wav=speech.to_wav_bytes(),
            words=[
                {"word": str(w), "start": float(s), "end": float(e)}
                for w, s, e in zip(words["word"], words["start"], words["end"], strict=True)
            ],
            **kwargs,
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # The widget, and the HTML view for exported notebooks (see ``widgets.fallback``).
        return with_static_view(super()._repr_mimebundle_(**kwargs), self)

    def __repr__(self) -> str:
        parts = [f"title={self.title!r}"] if self.title else []
        parts.append(f"{self.duration_s:.2f} s")
        n_words = len(self.words)
        parts.append(f"{n_words} word" if n_words == 1 else f"{n_words} words")
        return f"SpeechView({', '.join(parts)})"
