"""Figures of speech and of latency benchmarks, drawn with matplotlib.

The only ttskit module that imports matplotlib. Every function takes ``ax=None`` (a new
figure when None), passes ``**kwargs`` to its main matplotlib call, and returns the Axes.

- One Speech: :func:`waveform` and :func:`spectrogram` with the words' spans;
  :func:`timeline` of when the audio arrived against when a player needed it.
- Benchmark frames, one row per request as ``ttskit.bench.run`` returns them (titled,
  axes from zero, warm-ups and failures left out): :func:`first_audio_ecdf`,
  :func:`first_audio_box`, :func:`latency_vs_length`, :func:`load_curve` (percentiles
  and throughput against concurrency or rate), :func:`slowest_arrivals`.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from ttskit import audio, plot
>>> from ttskit.results import Speech, words_frame
>>> speech = Speech(audio.sine(220.0, duration=1.0, sample_rate=16000), 16000,
...                 words=words_frame(["hello", "world"], [0.1, 0.5], [0.45, 0.9]))
>>> ax = plot.waveform(speech)
>>> [t.get_text() for t in ax.texts]
['hello', 'world']
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection

from .display import envelope
from .errors import InvalidArgument
from .results import Speech, Timing

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "bench_figures",
    "first_audio_box",
    "first_audio_ecdf",
    "latency_vs_length",
    "load_curve",
    "slowest_arrivals",
    "spectrogram",
    "timeline",
    "waveform",
]

#: Longer audio is drawn as a min/max envelope over this many bins.
MAX_WAVEFORM_BINS = 2000
#: Spectrograms use at most this many STFT frames (the hop grows with the audio).
MAX_SPECTROGRAM_FRAMES = 2000


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3), layout="constrained")
    return ax


def _require(df: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidArgument(
            f"the frame has no column {', '.join(map(repr, missing))}; "
            f"it has {list(map(str, df.columns))}"
        )


def _groups(df: pd.DataFrame, by: str | None) -> Iterator[tuple[str | None, pd.DataFrame]]:
    """(label, rows) per value of ``by`` in sorted order, or (None, df) when ``by`` is None."""
    if by is None:
        yield None, df
        return
    _require(df, by)
    for key, rows in df.groupby(by, sort=True, dropna=False):
        yield str(key), rows


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
            str(word),
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
    ax = _axes(ax)
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
    ax = _axes(ax)
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
    ax = _axes(ax)
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


# --- benchmark frames: one row per request, as ttskit.bench.run returns -------------------------


def _measured_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Requests that produced audio and are not warm-ups (what latency plots show)."""
    rows = df
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    if "ok" in rows.columns:
        rows = rows[rows["ok"].astype(bool)]
    return rows


def _title(ax: Axes, text: str, df: pd.DataFrame, shown: pd.DataFrame) -> None:
    """Title the plot, saying how many measured requests were left out as failed or silent."""
    measured = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    left_out = len(measured) - len(shown)
    ax.set_title(text + (f" ({left_out} failed or silent left out)" if left_out else ""))


def first_audio_ecdf(
    df: pd.DataFrame,
    *,
    by: str | None = "transport",
    column: str = "first_audio_s",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Empirical CDF of first audio (or another latency column), one step line per group.

    Warm-up requests and requests that failed or were silent (columns ``warmup`` and
    ``ok``, when the frame has them) are left out, and the title says how many; the x axis
    starts at zero so that distances between groups read honestly.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per request, e.g. from :func:`ttskit.bench.run`.
    by : str, optional
        Column to group by (``"voice"``, ``"transport"``, ...); one line for all when None.
    column : str
        The latency in seconds.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to each ``ax.step``.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> df = pd.DataFrame({"first_audio_s": [0.1, 0.2, 0.15, 0.3], "transport": list("aabb"),
    ...                    "ok": [True] * 4, "warmup": [False] * 4})
    >>> ax = first_audio_ecdf(df)
    >>> len(ax.lines), ax.get_title()
    (2, 'first_audio_s by transport')
    """
    _require(df, column)
    shown = _measured_rows(df)
    ax = _axes(ax)
    for label, rows in _groups(shown, by):
        values = np.sort(rows[column].dropna().to_numpy(float))
        if not values.size:
            continue
        fraction = np.arange(values.size + 1) / values.size
        ax.step(np.r_[values[0], values], fraction, where="post", label=label, **kwargs)
    ax.set_xlim(left=0.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(column)
    ax.set_ylabel("fraction of requests")
    if by is not None and ax.lines:
        ax.legend(title=by, fontsize="small")
    _title(ax, f"{column}{'' if by is None else f' by {by}'}", df, shown)
    return ax


def first_audio_box(
    df: pd.DataFrame,
    *,
    by: str | None = "transport",
    column: str = "first_audio_s",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Box plot of first audio (or another latency) per group, y axis from zero.

    Rows are chosen as in :func:`first_audio_ecdf`; one box for all when ``by`` is None.
    ``**kwargs`` go to ``ax.boxplot``.

    Examples
    --------
    >>> df = pd.DataFrame({"first_audio_s": [0.1, 0.2, 0.15, 0.3], "voice": list("aabb")})
    >>> ax = first_audio_box(df, by="voice")
    >>> [t.get_text() for t in ax.get_xticklabels()], float(ax.get_ylim()[0])
    (['a', 'b'], 0.0)
    """
    _require(df, column)
    shown = _measured_rows(df)
    ax = _axes(ax)
    groups = [(label, rows[column].dropna().to_numpy(float)) for label, rows in _groups(shown, by)]
    ax.boxplot([values for _, values in groups], **kwargs)
    ax.set_xticks(
        np.arange(1, len(groups) + 1), [column if label is None else label for label, _ in groups]
    )
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel(column)
    if by is not None:
        ax.set_xlabel(by)
    _title(ax, f"{column}{'' if by is None else f' by {by}'}", df, shown)
    return ax


def latency_vs_length(
    df: pd.DataFrame,
    *,
    x: str = "characters",
    y: str = "first_audio_s",
    by: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Scatter a latency against the text's length, one colour per group, axes from zero.

    Rows are chosen as in :func:`first_audio_ecdf`. ``**kwargs`` go to each ``ax.scatter``.

    Examples
    --------
    >>> df = pd.DataFrame({"characters": [10, 100, 1000], "first_audio_s": [0.1, 0.12, 0.3]})
    >>> ax = latency_vs_length(df)
    >>> len(ax.collections), ax.get_title()
    (1, 'first_audio_s against characters')
    """
    _require(df, x, y)
    shown = _measured_rows(df)
    ax = _axes(ax)
    kwargs.setdefault("s", 12)
    for label, rows in _groups(shown, by):
        ax.scatter(rows[x], rows[y], label=label, **kwargs)
    ax.set_xlim(left=0.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if by is not None and ax.collections:
        ax.legend(title=by, fontsize="small")
    _title(ax, f"{y} against {x}", df, shown)
    return ax


def load_curve(
    df: pd.DataFrame,
    *,
    level: str | None = None,
    column: str = "first_audio_s",
    percentiles: Sequence[float] = (50, 90, 99),
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Percentiles of a latency (left axis) and throughput (right axis) against load.

    ``level`` is ``"concurrency"`` or ``"rate"`` (whichever the frame swept when None).
    Throughput is audio seconds delivered per wall second at each level: the audio of
    its successful requests over the span from the first scheduled start to the last
    finish (``scheduled_s + done_s``), what the server sustained. Both axes start at
    zero; the right axis is ``ax.right_axis``. ``**kwargs`` go to each percentile's
    ``ax.plot``.

    Examples
    --------
    >>> df = pd.DataFrame({"concurrency": [1, 1, 4, 4], "first_audio_s": [0.1, 0.2, 0.3, 0.5],
    ...                    "done_s": [0.5] * 4, "audio_s": [2.0] * 4,
    ...                    "scheduled_s": [0.0, 0.5, 1.0, 1.0]})
    >>> ax = load_curve(df)
    >>> [line.get_label() for line in ax.lines]
    ['p50', 'p90', 'p99']
    >>> ax.right_axis.lines[0].get_ydata().tolist()
    [4.0, 8.0]
    """
    if level is None:
        level = "rate" if "rate" in df.columns and df["rate"].notna().any() else "concurrency"
    _require(df, level, column, "done_s", "audio_s", "scheduled_s")
    shown = _measured_rows(df)
    shown = shown[shown[level].notna()]
    ax = _axes(ax)
    right = ax.twinx()
    kwargs.setdefault("marker", "o")
    if len(shown):
        by_level = shown.groupby(level, sort=True)
        quantiles = by_level[column].quantile([p / 100 for p in percentiles]).unstack()
        levels = quantiles.index.to_numpy(float)
        for p, q in zip(percentiles, quantiles.columns, strict=True):
            ax.plot(levels, quantiles[q].to_numpy(float), label=f"p{p:g}", **kwargs)
        span = (shown["scheduled_s"] + shown["done_s"]).groupby(shown[level]).max() - by_level[
            "scheduled_s"
        ].min()
        audio = by_level["audio_s"].sum()
        throughput = (audio / span.where(span > 0)).to_numpy(float)
        right.plot(levels, throughput, color="0.3", linestyle=":", marker="s", label="throughput")
        ax.legend(loc="upper left", fontsize="small")
        right.legend(loc="upper right", fontsize="small")
    ax.set_xlabel(level)
    ax.set_ylabel(column)
    right.set_ylabel("audio seconds per wall second")
    right.set_ylim(bottom=0.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlim(left=0.0)
    _title(ax, f"{column} percentiles and throughput against {level}", df, shown)
    ax.right_axis = right
    return ax


def slowest_arrivals(
    df: pd.DataFrame,
    *,
    n: int = 5,
    column: str = "done_s",
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Chunk arrival timelines of the ``n`` slowest requests (by ``column``).

    Each request is a step line of audio received (s) against wall time since its
    scheduled start, from the frame's ``chunk_arrival_s`` and ``chunk_samples``; a flat
    stretch is a wait for the next chunk. Both axes start at zero.

    Examples
    --------
    >>> df = pd.DataFrame({"done_s": [0.5, 1.0], "sample_rate": [10, 10],
    ...                    "chunk_arrival_s": [[0.1, 0.5], [0.2, 1.0]],
    ...                    "chunk_samples": [[5, 5], [5, 5]], "voice": ["a", "b"]})
    >>> len(slowest_arrivals(df, n=1).lines)
    1
    """
    _require(df, column, "chunk_arrival_s", "chunk_samples", "sample_rate")
    if n < 1:
        raise InvalidArgument(f"n must be >= 1, got {n!r}")
    ax = _axes(ax)
    rows = df
    if "warmup" in rows.columns:
        rows = rows[~rows["warmup"].astype(bool)]
    slowest = rows.dropna(subset=[column]).nlargest(n, column)
    kwargs.setdefault("marker", ".")
    for index, row in slowest.iterrows():
        arrivals = np.asarray(list(row["chunk_arrival_s"]), dtype=float)
        if not arrivals.size or not row["sample_rate"]:
            continue
        received = np.cumsum(np.asarray(list(row["chunk_samples"]), float)) / row["sample_rate"]
        parts = [str(row[c]) for c in ("transport", "voice", "text_id") if c in row.index]
        label = f"#{index} {' '.join(parts)} ({row[column] * 1000:.0f} ms)"
        ax.step(np.r_[0.0, arrivals], np.r_[0.0, received], where="post", label=label, **kwargs)
    ax.set_xlim(left=0.0)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("wall time since scheduled start (s)")
    ax.set_ylabel("audio received (s)")
    ax.set_title(f"chunk arrivals of the {len(slowest)} slowest requests by {column}")
    if ax.lines:
        ax.legend(loc="upper left", fontsize="small")
    return ax


def bench_figures(df: pd.DataFrame, *, by: str = "transport") -> list[bytes]:
    """The figures of a benchmark report, as PNG images.

    First audio as ECDF and box plot and against text length (when any request
    succeeded), the load curve (when the run swept concurrency or rate), and the chunk
    arrivals of the slowest requests (when chunks were recorded). Each is drawn on a
    figure of its own, outside pyplot, so that writing a report never touches the
    notebook's current figure or backend.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of ``ttskit.bench.run``.
    by : str
        The column whose groups the plots compare.

    Returns
    -------
    list of bytes
    """
    from matplotlib.figure import Figure

    def png(figure: Figure) -> bytes:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

    def wide(columns: int = 1) -> tuple[Figure, Any]:
        figure = Figure(figsize=(12, 4), layout="constrained")
        return figure, figure.subplots(1, columns)

    images = []
    measured = _measured_rows(df)
    if len(measured):
        figure, axes = wide(2)
        first_audio_ecdf(df, by=by, ax=axes[0])
        first_audio_box(df, by=by, ax=axes[1])
        images.append(png(figure))
        figure, ax = wide()
        latency_vs_length(df, by=by, ax=ax)
        images.append(png(figure))
    swept = df[~df["warmup"].astype(bool)] if "warmup" in df.columns else df
    level = "rate" if swept["rate"].notna().any() else "concurrency"
    if swept[level].nunique() > 1:
        figure, ax = wide()
        load_curve(df, level=level, ax=ax)
        images.append(png(figure))
    if swept["chunks"].gt(0).any():
        figure, ax = wide()
        slowest_arrivals(df, n=5, ax=ax)
        images.append(png(figure))
    return images
