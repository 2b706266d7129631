"""Figures of one Speech: its waveform and spectrogram with the words' spans, and the
timeline of when its audio arrived against when a player needed it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection

from ..display import envelope
from ..errors import InvalidArgument
from ..results import Speech, Timing
from ._axes import axes, literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MAX_SPECTROGRAM_FRAMES", "MAX_WAVEFORM_BINS", "spectrogram", "timeline", "waveform"]


#: Longer audio is drawn as a min/max envelope over this many bins.
MAX_WAVEFORM_BINS = 2000
#: Spectrograms use at most this many STFT frames (the hop grows with the audio).
MAX_SPECTROGRAM_FRAMES = 2000


def _word_spans(
    ax: Axes,
    words: pd.DataFrame,
    *,
    colors: Sequence[str] = ("C1", "C2"),
    alpha: float = 0.2,
    text_color: str = "0.15",
) -> PolyCollection:
    """Shade each word's time span over the full height of ``ax`` and write it at the top.

    Spans alternate between ``colors`` so neighbouring words stand apart (while they are at
    least 3 pixels wide; narrower ones share the first colour). All spans are one
    collection (cheap for thousands of words). Each word gets one ``Text``, visible while
    its span is in view and wide enough for it, so zooming in with ``set_xlim`` (or the
    toolbar) writes the words of a long Speech.
    """
    starts = words["start"].to_numpy(dtype=float)
    ends = words["end"].to_numpy(dtype=float)
    rectangles = [
        [(s, 0.0), (s, 1.0), (e, 1.0), (e, 0.0)] for s, e in zip(starts, ends, strict=True)
    ]
    # x in data coordinates, y in axes coordinates: spans fill the height whatever ylim is.
    transform = ax.get_xaxis_transform()
    spans = PolyCollection(
        rectangles,
        edgecolors="none",
        alpha=alpha,
        transform=transform,
        zorder=0.5,
        label="_words",
    )
    ax.add_collection(spans, autolim=False)
    labels = [
        ax.text(
            (start + end) / 2,
            0.98,
            literal(word),
            transform=transform,
            ha="center",
            va="top",
            fontsize="small",
            color=text_color,
            clip_on=True,
            in_layout=False,
        )
        for word, start, end in zip(words["word"], starts, ends, strict=True)
    ]
    n_chars = np.array([len(str(word)) for word in words["word"]], dtype=float)
    alternating = [colors[i % len(colors)] for i in range(len(rectangles))]

    def fit_words_to_view(ax: Axes) -> None:
        # Thousands of overlapping labels would take seconds to draw and say nothing, so a
        # label is drawn only while its span in view is wide enough to hold it. Spans
        # narrower than a few pixels alias into false stripes when alternated, so they
        # share one colour until zooming in separates them.
        x0, x1 = sorted(ax.get_xlim())
        if x1 <= x0 or not labels:
            return
        pixels = (ends - starts) * ax.bbox.width / (x1 - x0)
        char_pixels = 0.6 * labels[0].get_fontsize() * ax.figure.dpi / 72
        fits = (pixels >= n_chars * char_pixels) & (ends > x0) & (starts < x1)
        for label, visible in zip(labels, fits.tolist(), strict=True):
            if label.get_visible() != visible:
                label.set_visible(visible)
        spans.set_facecolor(alternating if np.median(pixels) >= 3 else colors[0])

    ax.callbacks.connect("xlim_changed", fit_words_to_view)
    fit_words_to_view(ax)
    return spans


def waveform(speech: Speech, *, ax: Axes | None = None, words: bool = True, **kwargs: Any) -> Axes:
    """Plot the waveform, with each word's span shaded and labelled.

    Audio of up to ``MAX_WAVEFORM_BINS`` samples is drawn sample by sample with
    ``ax.plot``; longer audio as its envelope, ``ax.fill_between`` of the minimum and
    maximum over ``MAX_WAVEFORM_BINS`` bins, so that a 10-minute result draws as fast as a
    short one. ``**kwargs`` go to that call (``color``, ``alpha``, ``linewidth`` suit both).
    For detail in long audio, plot ``speech.segment(start, end)``.

    Parameters
    ----------
    speech : Speech
        Audio of shape (n,) at ``speech.sample_rate``; words in ``speech.words``.
    ax : matplotlib Axes, optional
    words : bool
        Shade and label the words: one span (alternating colours) and one label each;
        a label shows while its span is wide enough on screen, so zoom in with
        ``ax.set_xlim`` to read the words of long audio.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from ttskit import audio
    >>> ax = waveform(Speech(audio.sine(220.0, duration=0.5, sample_rate=8000), 8000),
    ...               color="k", linewidth=0.5)
    """
    ax = axes(ax)
    samples, rate = speech.audio, speech.sample_rate
    kwargs.setdefault("color", "C0")
    if samples.size <= MAX_WAVEFORM_BINS:
        ax.plot(np.arange(samples.size) / rate, samples, **kwargs)
    else:
        minimum, maximum = envelope(samples, n_columns=MAX_WAVEFORM_BINS)
        per_bin = samples.size // MAX_WAVEFORM_BINS
        centres = (np.arange(MAX_WAVEFORM_BINS) + 0.5) * per_bin / rate
        kwargs.setdefault("linewidth", 0.5)
        ax.fill_between(centres, minimum, maximum, **kwargs)
    if words and len(speech.words):
        _word_spans(ax, speech.words)
    ax.set_xlim(0.0, max(speech.duration, 1e-3))
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    return ax


def spectrogram(
    speech: Speech,
    *,
    ax: Axes | None = None,
    words: bool = True,
    n_fft: int = 512,
    top_db: float = 80.0,
    **kwargs: Any,
) -> Axes:
    """Plot a log-magnitude spectrogram (Hann-windowed STFT), with the words' spans.

    The hop is a quarter of ``n_fft``, grown for long audio so that there are at most
    ``MAX_SPECTROGRAM_FRAMES`` frames. ``**kwargs`` go to ``ax.imshow`` (``cmap``,
    ``vmin``, ...).

    Parameters
    ----------
    speech : Speech
    ax : matplotlib Axes, optional
    words : bool
        Shade and label the words, as in :func:`waveform`.
    n_fft : int
        Samples per frame (512 is 21 ms at 24 kHz).
    top_db : float
        Levels more than this far below the loudest bin are drawn as the floor.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from ttskit import audio
    >>> ax = spectrogram(Speech(audio.sine(1000.0, duration=0.5, sample_rate=8000), 8000),
    ...                  n_fft=256, cmap="gray")
    """
    if n_fft < 2:
        raise InvalidArgument(f"n_fft must be at least 2, got {n_fft!r}")
    ax = axes(ax)
    rate = speech.sample_rate
    samples = speech.audio
    if samples.size < n_fft:
        samples = np.pad(samples, (0, n_fft - samples.size))
    hop = max(n_fft // 4, -(-(samples.size - n_fft) // MAX_SPECTROGRAM_FRAMES))
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[::hop]
    magnitude = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))
    level = 20.0 * np.log10(np.maximum(magnitude, 1e-10))
    level = np.maximum(level, level.max() - top_db)
    half_frame = n_fft / 2 / rate
    extent = (
        half_frame - hop / 2 / rate,
        half_frame + (len(frames) - 0.5) * hop / rate,
        0.0,
        rate / 2,
    )
    kwargs.setdefault("cmap", "magma")
    image = ax.imshow(level.T, origin="lower", aspect="auto", extent=extent, **kwargs)
    image.set_zorder(0)
    if words and len(speech.words):
        _word_spans(ax, speech.words, colors=("w", "C0"), alpha=0.15, text_color="w")
    ax.set_xlim(0.0, max(speech.duration, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    return ax


def timeline(
    speech_or_timing: Speech | Timing,
    *,
    start_buffer_s: float = 0.0,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Plot when the audio arrived against when a player needed it.

    x is wall time since the request started; y is position in the audio (s). The step
    line is the audio received (``**kwargs`` go to this ``ax.step``). The playback line
    starts once ``start_buffer_s`` seconds of audio are in, rises at real time, and runs
    flat through each stall of ``Timing.stalls(start_buffer_s)``, which are also shaded
    (``axvspan`` with gid ``"stall"``). A dashed line marks the TTFB
    (``first_audio_s``). Where the step line is above the playback line, the player has
    audio in hand; stalls are where they touch.

    Parameters
    ----------
    speech_or_timing : Speech or Timing
        The timing of one streamed request (a Speech's ``timing`` is used).
    start_buffer_s : float
        Seconds of audio the player waits for before starting.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import pandas as pd
    >>> chunks = pd.DataFrame({"arrival_s": [0.2, 0.5, 1.4], "n_samples": [8000] * 3,
    ...                        "audio_start_s": [0.0, 0.5, 1.0]})
    >>> timing = Timing(first_audio_s=0.2, done_s=1.4, chunks=chunks, sample_rate=16000)
    >>> ax = timeline(timing, start_buffer_s=0.5)
    >>> len([p for p in ax.patches if p.get_gid() == "stall"])
    1
    """
    timing = speech_or_timing.timing if isinstance(speech_or_timing, Speech) else speech_or_timing
    if not isinstance(timing, Timing):
        raise InvalidArgument(f"timeline needs a Speech or a Timing, got {type(timing).__name__}")
    if start_buffer_s < 0:
        raise InvalidArgument(f"start_buffer_s must be >= 0, got {start_buffer_s!r}")
    ax = axes(ax)
    chunks = timing.chunks
    if not chunks.empty and timing.sample_rate:
        arrival = chunks["arrival_s"].to_numpy(float)
        ends = chunks["audio_start_s"].to_numpy(float) + chunks["n_samples"].to_numpy(
            float
        ) / float(timing.sample_rate)
        received = np.maximum.accumulate(ends)
        kwargs.setdefault("label", "audio received")
        ax.step(np.r_[0.0, arrival], np.r_[0.0, received], where="post", **kwargs)

        play_start = timing.playback_start(start_buffer_s)
        stalls = timing.stalls(start_buffer_s)
        # Playback rises at real time from (play_start, 0) and is flat during each stall.
        xs, ys = [play_start], [0.0]
        for at_s, duration_s, audio_s in stalls[["at_s", "duration_s", "audio_s"]].itertuples(
            index=False
        ):
            xs += [at_s, at_s + duration_s]
            ys += [audio_s, audio_s]
        total = float(received[-1])
        xs.append(xs[-1] + total - ys[-1])
        ys.append(total)
        ax.plot(xs, ys, color="C1", label=f"playback (start buffer {start_buffer_s:g} s)")
        for i, (at_s, duration_s) in enumerate(
            stalls[["at_s", "duration_s"]].itertuples(index=False)
        ):
            ax.axvspan(
                at_s,
                at_s + duration_s,
                color="C3",
                alpha=0.25,
                gid="stall",
                label=f"stalls ({len(stalls)})" if i == 0 else "_stall",
            )
    if timing.first_audio_s is not None:
        ax.axvline(
            timing.first_audio_s,
            color="0.4",
            linestyle="--",
            linewidth=1,
            label=f"TTFB {timing.first_audio_s * 1000:.0f} ms",
        )
    ax.set_xlabel("wall time since request (s)")
    ax.set_ylabel("audio position (s)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize="small")
    return ax
