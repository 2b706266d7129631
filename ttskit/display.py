"""HTML views of results for notebooks: an audio player, a waveform with word spans, timing.

``Speech._repr_html_`` calls :func:`speech_html`. Everything here is plain string building
with numpy (no matplotlib), so showing a result stays cheap; :mod:`ttskit.plot` draws the
full-size figures.

How the audio is embedded (a notebook stores it as base64, 4/3 of its bytes):

- Up to ``WAV_MAX_BYTES`` of 16-bit PCM (31 s at 24 kHz, 34 s at 22.05 kHz, 94 s at
  8 kHz): the exact audio, as WAV at its own sample rate.
- Longer: the first ``MP3_MAX_SECONDS`` as MP3 at ``MP3_KBPS`` kbit/s, constant bitrate,
  resampled to ``MP3_SAMPLE_RATE`` (soxr) and encoded by LAME (lameenc) at its fast
  algorithm quality, with a note saying how much the player holds; the waveform always
  shows all of it, and ``speech.segment(start, end)`` plays any other part exactly.

Why, measured on 10 minutes of 24 kHz eSpeak NG speech (``benchmarks/display.py``):
16-bit WAV is 28.8 MB (38 MB as base64), too much for a notebook. Ogg Opus through
libsndfile takes 4.7 to 5.6 s and writes a random stream serial number, so its bytes differ
on every run. MP3 through libsndfile, whose LAME runs at its default (slow) quality,
took 1.5 to 2.3 s for 2 minutes at 24 kHz; LAME at quality 7 on 16 kHz audio takes about
0.2 s for the same 2 minutes and the same 0.48 MB. Speech keeps its band (to 8 kHz) at
16 kHz; the exact audio is one ``speech.save(path)`` away.

The output depends only on the Speech (no ids, no clock), so notebooks re-run to the
same bytes.

>>> import numpy as np
>>> from ttskit import audio
>>> from ttskit.results import Speech, words_frame
>>> speech = Speech(audio.sine(220.0, duration=1.0, sample_rate=16000), 16000,
...                 words=words_frame(["hello", "world"], [0.1, 0.5], [0.45, 0.9]))
>>> html = speech_html(speech)
>>> html.count("<rect"), "data:audio/wav;base64," in html
(2, True)
"""

from __future__ import annotations

import base64
import html
import math
from typing import TYPE_CHECKING

import numpy as np

from . import audio as _audio
from .errors import InvalidArgument

if TYPE_CHECKING:
    from .results import Speech, Timing

__all__ = [
    "MP3_KBPS",
    "MP3_MAX_SECONDS",
    "MP3_SAMPLE_RATE",
    "WAV_MAX_BYTES",
    "embedded_audio",
    "envelope",
    "speech_html",
    "timing_html",
]

#: Audio up to this many bytes of 16-bit PCM is embedded exactly, as WAV.
WAV_MAX_BYTES = 1_500_000
#: Bitrate of the MP3 used for longer audio: clear enough for speech.
MP3_KBPS = 32
#: Sample rate of that MP3 (MPEG-2): speech keeps its band, and LAME has fewer samples
#: to encode than at the 22.05 or 24 kHz of most speech engines.
MP3_SAMPLE_RATE = 16_000
#: At most this many seconds are embedded as MP3 (encoding time grows with them).
MP3_MAX_SECONDS = 120.0
# LAME's algorithm quality, 0 (best, slowest) to 9: 7 is its fast mode, several times
# quicker than the default and indistinguishable for speech at this bitrate.
_LAME_QUALITY = 7

_SVG_WIDTH = 600
_SVG_HEIGHT = 72
_WORD_FILLS = ("#ff7f0e", "#2ca02c")  # alternate so that neighbouring words stand apart
_TEXT_PREVIEW_CHARS = 200
_PIXELS_PER_CHAR = 6.5  # a word is written on the waveform only where its label fits


def envelope(audio: np.ndarray, *, n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of the audio in each of ``n_columns`` equal columns.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
    n_columns : int
        Columns wanted; audio shorter than that gets one column per sample.

    Returns
    -------
    minimum, maximum : np.ndarray, shape (min(n, n_columns),), float32
        Samples left over after ``n // n_columns`` per column join the last column.

    Examples
    --------
    >>> lo, hi = envelope(np.array([0.0, 1.0, -1.0, 0.5], dtype=np.float32), n_columns=2)
    >>> lo.tolist(), hi.tolist()
    ([0.0, -1.0], [1.0, 0.5])
    """
    if n_columns < 1:
        raise InvalidArgument(f"n_columns must be at least 1, got {n_columns!r}")
    samples = np.asarray(audio, dtype=np.float32)
    if samples.size <= n_columns:
        return samples.copy(), samples.copy()
    per_column = samples.size // n_columns
    body = samples[: per_column * n_columns].reshape(n_columns, per_column)
    minimum, maximum = body.min(axis=1), body.max(axis=1)
    tail = samples[per_column * n_columns :]
    if tail.size:
        minimum[-1] = min(minimum[-1], tail.min())
        maximum[-1] = max(maximum[-1], tail.max())
    return minimum, maximum


def embedded_audio(speech: Speech) -> tuple[str, bytes, float]:
    """The audio file that :func:`speech_html` embeds, following the module's policy.

    Returns
    -------
    mime : str
        ``"audio/wav"`` or ``"audio/mpeg"``.
    data : bytes
        The file's bytes.
    seconds : float
        How much of the audio it holds (less than ``speech.duration`` when cut).
    """
    samples, rate = speech.audio, speech.sample_rate
    if samples.size * 2 <= WAV_MAX_BYTES:
        return "audio/wav", _audio.wav_bytes(samples, sample_rate=rate), samples.size / rate
    import lameenc

    kept = samples[: int(MP3_MAX_SECONDS * rate)]
    if rate != MP3_SAMPLE_RATE:
        kept = _audio.resample(kept, orig_sr=rate, target_sr=MP3_SAMPLE_RATE)
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(MP3_SAMPLE_RATE)
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_quality(_LAME_QUALITY)
    data = encoder.encode(_audio.encode_pcm(kept)) + encoder.flush()
    return "audio/mpeg", bytes(data), kept.size / MP3_SAMPLE_RATE


def _clock(seconds: float) -> str:
    """``2.35 s`` below a minute, ``10:00.0`` above."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


def _count(n: int, noun: str) -> str:
    """``1 word``, ``2 words``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _waveform_svg(speech: Speech) -> str:
    width, height, middle = _SVG_WIDTH, _SVG_HEIGHT, _SVG_HEIGHT / 2
    duration = speech.duration
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="display:block;max-width:100%;height:auto;'
        'background:#fafafa;border:1px solid #ddd">'
    ]
    words = speech.words
    if duration > 0 and len(words):
        scale = width / duration
        starts = words["start"].to_numpy(dtype=float)
        ends = words["end"].to_numpy(dtype=float)
        texts = [str(word) for word in words["word"]]
        labels = [html.escape(text) for text in texts]
        x0 = np.clip(starts * scale, 0, width)
        span = np.clip(ends * scale, 0, width) - x0
        # Alternate colours so neighbouring words stand apart, unless spans are narrower
        # than a few pixels, where alternation aliases into false stripes.
        fills = _WORD_FILLS if np.median(span) >= 3 else _WORD_FILLS[:1]
        for parity, fill in enumerate(fills):
            parts.append(f'<g fill="{fill}" fill-opacity="0.22">')
            parts.extend(
                f'<rect x="{x0[i]:.1f}" y="0" width="{max(span[i], 0.5):.1f}" '
                f'height="{height}"><title>{labels[i]} '
                f"{starts[i]:.2f}\u2013{ends[i]:.2f} s</title></rect>"
                for i in range(parity, len(labels), len(fills))
            )
            parts.append("</g>")
        fits = [i for i, text in enumerate(texts) if span[i] >= _PIXELS_PER_CHAR * len(text)]
        if fits:
            parts.append(
                '<g font-family="sans-serif" font-size="10" fill="#333" text-anchor="middle" '
                'pointer-events="none">'
            )
            parts.extend(
                f'<text x="{x0[i] + span[i] / 2:.1f}" y="11">{labels[i]}</text>' for i in fits
            )
            parts.append("</g>")
    if speech.audio.size:
        minimum, maximum = envelope(speech.audio, n_columns=width)
        x = np.linspace(0.0, width, minimum.size)
        # Top edge left to right, bottom edge back: one closed path, ~2 points per column.
        top = middle - np.clip(maximum, -1, 1) * (middle - 1)
        bottom = middle - np.clip(minimum, -1, 1) * (middle - 1)
        xs = np.concatenate([x, x[::-1]])
        ys = np.concatenate([top, bottom[::-1]])
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
        parts.append(
            f'<path d="M{points}Z" fill="#1f77b4" stroke="#1f77b4" stroke-width="0.5" '
            'pointer-events="none"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def timing_html(timing: Timing) -> str:
    """A one-row HTML table of a request's timing, in milliseconds.

    Columns that are unknown (None) are left out; ``chunks`` and the real-time factor are
    shown when chunks were recorded.

    Examples
    --------
    >>> from ttskit.results import Timing
    >>> "120 ms" in timing_html(Timing(first_audio_s=0.12, done_s=0.5))
    True
    """
    cells = [
        (name, _ms(value))
        for name, value in (
            ("headers", timing.headers_s),
            ("first byte", timing.first_byte_s),
            ("first audio (TTFB)", timing.first_audio_s),
            ("first audible", timing.first_audible_s),
            ("done", timing.done_s),
        )
        if value is not None
    ]
    if len(timing.chunks):
        cells.append(("chunks", str(len(timing.chunks))))
        rtf = timing.real_time_factor
        if not math.isnan(rtf):
            cells.append(("real-time factor", f"{rtf:.3f}"))
    if not cells:
        return ""
    cell = 'style="padding:1px 8px;text-align:right"'
    head = "".join(f"<th {cell}>{html.escape(name)}</th>" for name, _ in cells)
    body = "".join(f"<td {cell}>{html.escape(value)}</td>" for _, value in cells)
    return (
        '<table style="border-collapse:collapse;font-size:11px;margin:2px 0">'
        f"<tr>{head}</tr><tr>{body}</tr></table>"
    )


def speech_html(speech: Speech) -> str:
    """A compact HTML view of a Speech: summary line, audio player, waveform with words.

    The summary gives the duration, sample rate, word count, voice and model, and the
    TTFB (``timing.first_audio_s``) when known. The player embeds the audio as a ``data:``
    URI following the policy in the module docstring. The waveform is an inline SVG
    envelope (minimum and maximum over 600 columns) with every word's span shaded
    (alternating colours where spans are 3 pixels or wider) and a tooltip giving its
    times; words wide enough are also written on it. All text is HTML-escaped, and the
    output depends only on ``speech``.

    Parameters
    ----------
    speech : Speech

    Returns
    -------
    str
        An HTML fragment (one ``<div>``).

    Examples
    --------
    >>> from ttskit import audio
    >>> from ttskit.results import Speech
    >>> html = speech_html(Speech(audio.sine(440.0, duration=0.5, sample_rate=8000), 8000))
    >>> html.startswith('<div class="ttskit-speech"')
    True
    """
    summary = [
        _clock(speech.duration),
        f"{speech.sample_rate} Hz",
        _count(len(speech.words), "word"),
    ]
    if speech.voice:
        summary.append(f"voice {speech.voice}")
    if speech.model:
        summary.append(f"model {speech.model}")
    ttfb = speech.timing.first_audio_s
    if ttfb is not None:
        summary.append(f"TTFB {_ms(ttfb)}")

    mime, data, embedded_s = embedded_audio(speech)
    encoded = base64.b64encode(data).decode("ascii")
    note = ""
    if embedded_s < speech.duration - 1e-9:
        note = (
            f'<div style="color:#a60">The player holds the first {_clock(embedded_s)} of '
            f"{_clock(speech.duration)} (the waveform shows all of it): "
            "<code>speech.segment(start, end)</code> plays any other part, "
            "<code>speech.save(path)</code> writes all of it.</div>"
        )
    text = speech.text
    if len(text) > _TEXT_PREVIEW_CHARS:
        text = text[:_TEXT_PREVIEW_CHARS] + "\u2026"

    parts = [
        '<div class="ttskit-speech" style="font-family:sans-serif;font-size:12px;'
        'line-height:1.4;max-width:620px">',
        "<div><strong>Speech</strong> \u00b7 " + html.escape(" \u00b7 ".join(summary)) + "</div>",
    ]
    if text:
        parts.append(f'<div style="color:#555">{html.escape(text)}</div>')
    parts += [
        f'<audio controls preload="metadata" style="width:100%;max-width:{_SVG_WIDTH}px" '
        f'src="data:{mime};base64,{encoded}"></audio>',
        note,
        _waveform_svg(speech),
        timing_html(speech.timing),
        "</div>",
    ]
    return "".join(parts)
