"""Plots are checked for what they draw: spans, labels, points, stalls, lines per group."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from ttskit import audio, plot  # noqa: E402
from ttskit.errors import InvalidArgument  # noqa: E402
from ttskit.results import Speech, Timing, words_frame  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_speech(duration: float, *, sample_rate: int = 16000, n_words: int = 4) -> Speech:
    slot = duration / n_words
    starts = np.arange(n_words) * slot
    return Speech(
        audio.sine(1000.0, duration=duration, sample_rate=sample_rate),
        sample_rate,
        words=words_frame([f"w{i}" for i in range(n_words)], starts, starts + 0.8 * slot),
    )


def word_spans(ax) -> PolyCollection:
    (spans,) = [c for c in ax.collections if c.get_label() == "_words"]
    return spans


def labels(ax, *, visible_only: bool = False) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_visible() or not visible_only]


def bench_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for concurrency in (1, 2, 4):
        for voice in ("alpha", "beta"):
            for i in range(10):
                rows.append(
                    {
                        "concurrency": concurrency,
                        "voice": voice,
                        "transport": "sse",
                        "characters": 20 * (i + 1),
                        "first_audio_s": 0.05 * concurrency + 0.01 * rng.random(),
                        "done_s": 0.5 * concurrency,
                        "audio_s": 2.0,
                        "scheduled_s": 10.0 * concurrency + 0.5 * concurrency * i,
                    }
                )
    return pd.DataFrame(rows)


# --- waveform and spectrogram --------------------------------------------------------------


@pytest.mark.parametrize("draw", [plot.waveform, plot.spectrogram])
def test_one_labelled_span_per_word_alternating(draw):
    speech = make_speech(2.0, n_words=5)
    ax = draw(speech)
    spans = word_spans(ax)
    assert len(spans.get_paths()) == 5
    starts = [path.vertices[:, 0].min() for path in spans.get_paths()]
    assert starts == pytest.approx(speech.words["start"].tolist())
    colours = [tuple(c) for c in spans.get_facecolors()]
    assert all(a != b for a, b in zip(colours, colours[1:], strict=False))
    assert labels(ax) == labels(ax, visible_only=True) == [f"w{i}" for i in range(5)]


@pytest.mark.parametrize("draw", [plot.waveform, plot.spectrogram])
def test_words_false_draws_no_spans(draw):
    ax = draw(make_speech(1.0), words=False)
    assert not [c for c in ax.collections if c.get_label() == "_words"]
    assert not ax.texts


def test_short_audio_is_drawn_sample_by_sample():
    speech = Speech(audio.sine(100.0, duration=0.1, sample_rate=8000), 8000)
    ax = plot.waveform(speech)
    (line,) = ax.lines
    assert np.array_equal(line.get_ydata(), speech.audio)


def test_ten_minutes_draw_as_a_bounded_envelope():
    speech = make_speech(600.0, sample_rate=24000, n_words=1500)
    ax = plot.waveform(speech)
    assert not ax.lines  # no line through 14.4 million samples
    (envelope,) = [c for c in ax.collections if c.get_label() != "_words"]
    n_points = sum(len(path.vertices) for path in envelope.get_paths())
    assert n_points <= 2 * plot.MAX_WAVEFORM_BINS + 10
    assert len(word_spans(ax).get_paths()) == 1500
    assert len(ax.texts) == 1500
    # Labels are drawn only where they fit: none at full length, the words in view after zoom;
    # sub-pixel spans share one colour (alternating would alias into stripes) until then.
    assert labels(ax, visible_only=True) == []
    assert len({tuple(c) for c in word_spans(ax).get_facecolors()}) == 1
    ax.set_xlim(10.0, 13.0)
    assert labels(ax, visible_only=True) == [f"w{i}" for i in range(25, 33)]
    assert len({tuple(c) for c in word_spans(ax).get_facecolors()}) == 2


def test_spectrogram_shows_the_tone_at_its_frequency():
    speech = make_speech(1.0, sample_rate=16000)
    ax = plot.spectrogram(speech, n_fft=512)
    (image,) = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    level = image.get_array()
    peak_bin = int(np.argmax(level.mean(axis=1)))
    assert peak_bin * 16000 / 512 == pytest.approx(1000.0, abs=16000 / 512)
    assert image.get_extent()[3] == 8000.0


def test_spectrogram_of_long_audio_has_bounded_frames():
    ax = plot.spectrogram(make_speech(300.0, sample_rate=16000, n_words=10))
    (image,) = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert image.get_array().shape[1] <= plot.MAX_SPECTROGRAM_FRAMES + 1


# --- timeline ------------------------------------------------------------------------------


def stalling_timing() -> Timing:
    """Five 0.5 s chunks; with no start buffer the player runs dry at 1.1 s and at 2.5 s."""
    chunks = pd.DataFrame(
        {
            "arrival_s": [0.1, 0.3, 1.5, 1.6, 3.0],
            "n_samples": [4000] * 5,
            "audio_start_s": [0.0, 0.5, 1.0, 1.5, 2.0],
        }
    )
    return Timing(first_audio_s=0.1, done_s=3.0, chunks=chunks, sample_rate=8000)


def stall_spans(ax) -> list[tuple[float, float]]:
    spans = [p for p in ax.patches if p.get_gid() == "stall"]
    return [(p.get_x(), p.get_x() + p.get_width()) for p in spans]


@pytest.mark.parametrize(
    ("start_buffer_s", "expected"),
    [(0.0, [(1.1, 1.5), (2.5, 3.0)]), (1.0, [(1.3, 1.5), (2.5, 3.0)]), (2.0, [])],
)
def test_timeline_marks_each_stall(start_buffer_s, expected):
    ax = plot.timeline(stalling_timing(), start_buffer_s=start_buffer_s)
    spans = stall_spans(ax)
    assert len(spans) == len(expected)
    for got, want in zip(spans, expected, strict=True):
        assert got == pytest.approx(want)


def test_timeline_lines():
    ax = plot.timeline(Speech(np.zeros(20000, np.float32), 8000, timing=stalling_timing()))
    received, playback, ttfb = ax.lines
    assert received.get_label() == "audio received"
    assert received.get_ydata()[-1] == pytest.approx(2.5)
    # Playback starts at the first chunk, is flat through both stalls, ends with the audio.
    assert playback.get_xdata() == pytest.approx([0.1, 1.1, 1.5, 2.5, 3.0, 3.5])
    assert playback.get_ydata() == pytest.approx([0.0, 1.0, 1.0, 2.0, 2.0, 2.5])
    assert ttfb.get_label() == "TTFB 100 ms"
    assert ttfb.get_xdata()[0] == pytest.approx(0.1)
    assert "stalls (2)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_timeline_rejects_other_objects():
    with pytest.raises(InvalidArgument, match="DataFrame"):
        plot.timeline(pd.DataFrame())


# --- benchmark frames ----------------------------------------------------------------------


def test_ecdf_one_line_per_group_rising_to_one():
    df = bench_frame()
    ax = plot.first_audio_ecdf(df, by="voice")
    assert [line.get_label() for line in ax.lines] == ["alpha", "beta"]
    for line in ax.lines:
        assert len(line.get_ydata()) == 31
        assert line.get_ydata()[-1] == 1.0
        assert np.all(np.diff(line.get_xdata()) >= 0)
    assert len(plot.first_audio_ecdf(df, by=None).lines) == 1


def test_box_per_group():
    df = bench_frame()
    ax = plot.first_audio_box(df, by="concurrency", patch_artist=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    assert len(ax.patches) == 3
    horizontal = {
        round(float(y[0]), 9)
        for y in (line.get_ydata() for line in ax.lines)
        if len(y) == 2 and y[0] == y[1]
    }
    for median in df.groupby("concurrency")["first_audio_s"].median():
        assert round(median, 9) in horizontal
    single = plot.first_audio_box(df, by=None)
    assert [t.get_text() for t in single.get_xticklabels()] == ["first_audio_s"]


def test_latency_vs_length_scatter_per_group():
    ax = plot.latency_vs_length(bench_frame(), by="voice")
    assert [c.get_label() for c in ax.collections] == ["alpha", "beta"]
    assert len(ax.collections[0].get_offsets()) == 30


def test_load_curve_throughput_is_audio_over_the_wall_span():
    df = pd.DataFrame(
        {
            "concurrency": [1, 1, 2, 2],
            "first_audio_s": [0.1, 0.2, 0.3, 0.4],
            "audio_s": [2.0, 2.0, 2.0, 2.0],
            "scheduled_s": [0.0, 1.0, 0.0, 0.5],
            "done_s": [1.0, 1.0, 1.0, 1.5],
        }
    )
    ax = plot.load_curve(df, percentiles=(50, 90))
    assert [line.get_label() for line in ax.lines] == ["p50", "p90"]
    assert ax.lines[1].get_ydata().tolist() == pytest.approx([0.19, 0.39])
    (line,) = ax.right_axis.lines
    assert line.get_xdata().tolist() == [1, 2]
    assert line.get_ydata().tolist() == pytest.approx([4.0 / 2.0, 4.0 / 2.0])


@pytest.mark.parametrize(
    "draw", [plot.first_audio_ecdf, plot.first_audio_box, plot.latency_vs_length, plot.load_curve]
)
def test_missing_column_is_named(draw):
    frame = pd.DataFrame({"transport": ["a"], "concurrency": [1], "characters": [3]})
    with pytest.raises(InvalidArgument, match="'first_audio_s'"):
        draw(frame)


# --- the common contract --------------------------------------------------------------------


CALLS = [
    (plot.waveform, lambda: make_speech(1.0)),
    (plot.spectrogram, lambda: make_speech(1.0)),
    (plot.timeline, stalling_timing),
    (plot.first_audio_ecdf, bench_frame),
    (plot.first_audio_box, bench_frame),
    (plot.latency_vs_length, bench_frame),
    (plot.load_curve, bench_frame),
]


@pytest.mark.parametrize(("draw", "data"), CALLS, ids=[f.__name__ for f, _ in CALLS])
def test_draws_on_the_given_axes(draw, data):
    fig, (left, right) = plt.subplots(1, 2)
    assert draw(data(), ax=right) is right
    assert right.has_data()
    assert not left.has_data()
    assert draw(data()).figure is not fig


def test_kwargs_reach_matplotlib():
    red = to_rgba("red")
    assert to_rgba(plot.waveform(make_speech(0.1), color="red").lines[0].get_color()) == red
    long_ax = plot.waveform(make_speech(10.0), color="red", alpha=0.3)
    (envelope,) = [c for c in long_ax.collections if c.get_label() != "_words"]
    assert envelope.get_alpha() == 0.3
    image = plot.spectrogram(make_speech(1.0), cmap="gray").get_images()[0]
    assert image.get_cmap().name == "gray"
    assert plot.timeline(stalling_timing(), linewidth=3).lines[0].get_linewidth() == 3
    ecdf = plot.first_audio_ecdf(bench_frame(), by="voice", linestyle=":")
    assert ecdf.lines[0].get_linestyle() == ":"
    assert plot.first_audio_box(bench_frame(), by="voice", widths=0.2).get_xticks().size == 2
    assert (
        plot.latency_vs_length(bench_frame(), marker="x", s=40).collections[0].get_sizes()[0] == 40
    )
    assert plot.load_curve(bench_frame(), color="k").lines[0].get_color() == "k"


# --- frames of ttskit.bench.run ----------------------------------------------------------------


def run_frame() -> pd.DataFrame:
    """Rows shaped like ttskit.bench.run's: two transports, three levels, a warm-up, a failure."""
    rng = np.random.default_rng(1)
    rows = []
    for level in (1, 2, 4):
        for transport in ("rest", "sse"):
            for i in range(8):
                first = 0.05 * level + 0.01 * rng.random()
                rows.append(
                    {
                        "transport": transport,
                        "voice": "alpha",
                        "text_id": f"t{i}",
                        "concurrency": level,
                        "rate": np.nan,
                        "characters": 20 * (i + 1),
                        "first_audio_s": first,
                        "done_s": first + 0.2,
                        "audio_s": 2.0,
                        "scheduled_s": 10.0 * level + 0.1 * i,
                        "ok": True,
                        "warmup": False,
                        "sample_rate": 1000,
                        "chunk_arrival_s": [first, first + 0.1, first + 0.2],
                        "chunk_samples": [500, 500, 1000],
                    }
                )
    rows[0].update(warmup=True, first_audio_s=9.0, done_s=9.5)
    rows[1].update(ok=False, first_audio_s=np.nan, done_s=8.0)
    return pd.DataFrame(rows)


def test_first_audio_ecdf_leaves_out_warmup_and_failures():
    df = run_frame()
    ax = plot.first_audio_ecdf(df, by="transport")
    assert len(ax.lines) == 2
    assert ax.get_xlim()[0] == 0.0
    assert "1 failed or silent left out" in ax.get_title()
    xs = np.concatenate([line.get_xdata() for line in ax.lines])
    assert xs.max() < 1.0  # the 9 s warm-up is not drawn


def test_first_audio_box_per_group_from_zero():
    ax = plot.first_audio_box(run_frame(), by="transport")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["rest", "sse"]
    assert ax.get_ylim()[0] == 0.0 and ax.get_title().startswith("first_audio_s by transport")


def test_latency_vs_length_leaves_out_warmup_and_failures_axes_from_zero():
    ax = plot.latency_vs_length(run_frame())
    assert ax.get_xlim()[0] == 0.0 and ax.get_ylim()[0] == 0.0
    assert ax.get_xlabel() == "characters"
    assert len(ax.collections[0].get_offsets()) == 48 - 2


def test_load_curve_draws_percentiles_and_throughput():
    ax = plot.load_curve(run_frame())
    assert [line.get_label() for line in ax.lines] == ["p50", "p90", "p99"]
    assert ax.lines[0].get_xdata().tolist() == [1, 2, 4]
    throughput = ax.right_axis.lines[0].get_ydata()
    # Level 1 (after dropping the warm-up and the failure): 14 requests x 2 s of audio.
    level1 = run_frame().iloc[2:16]
    span = (level1["scheduled_s"] + level1["done_s"]).max() - level1["scheduled_s"].min()
    assert throughput[0] == pytest.approx(28.0 / span)
    assert ax.get_ylim()[0] == 0.0 and ax.right_axis.get_ylim()[0] == 0.0
    assert "concurrency" in ax.get_title()


def test_load_curve_of_a_run_where_every_request_failed_is_empty_and_says_so():
    df = run_frame().assign(ok=False, first_audio_s=np.nan)
    ax = plot.load_curve(df)
    assert not ax.lines and not ax.right_axis.lines
    assert "47 failed or silent left out" in ax.get_title()


def test_slowest_arrivals_draws_the_slowest_requests():
    df = run_frame()
    ax = plot.slowest_arrivals(df, n=3)
    assert len(ax.lines) == 3
    slowest = df[~df["warmup"]].nlargest(3, "done_s")
    assert ax.lines[0].get_label().startswith(f"#{slowest.index[0]} ")
    line = ax.lines[0]
    assert line.get_ydata().tolist() == [0.0, 0.5, 1.0, 2.0]
    assert ax.get_title() == "chunk arrivals of the 3 slowest requests by done_s"
    with pytest.raises(InvalidArgument):
        plot.slowest_arrivals(df, n=0)


# --- texts are drawn as they are ----------------------------------------------------------------

ODD = ["$x_{$", "$42.50", "a\\$b", "$$", "^_{}"]


def drawn(ax) -> list[str]:
    """Every text of the figure as matplotlib lays it out, after drawing it to PNG."""
    from matplotlib.text import Text

    ax.figure.savefig(__import__("io").BytesIO(), format="png")
    texts = [t for t in ax.figure.findobj(Text) if t.get_text()]
    assert not [t.get_text() for t in texts if matplotlib.cbook.is_math_text(t.get_text())]
    return [t.get_text().replace("\\$", "$") for t in texts]


def test_words_with_dollars_are_drawn_as_they_are():
    speech = Speech(
        audio.sine(220.0, duration=1.0, sample_rate=8000),
        8000,
        words=words_frame(ODD, np.arange(5) * 0.2, np.arange(5) * 0.2 + 0.18),
    )
    for draw in (plot.waveform, plot.spectrogram):
        ax = draw(speech)
        ax.set_xlim(0, 0.2)  # zoomed in, so that the first word is shown
        assert "$x_{$" in drawn(ax)
        plt.close(ax.figure)


def test_voices_and_columns_with_dollars_are_drawn_as_they_are():
    df = run_frame()
    df["voice"] = np.where(np.arange(len(df)) % 2, "$x_{$", "$5 voice")
    df["$cost_{$"] = df["first_audio_s"]
    df["chunks"] = 3
    for ax in (
        plot.first_audio_ecdf(df, by="voice", column="$cost_{$"),
        plot.first_audio_box(df, by="voice"),
        plot.latency_vs_length(df, by="voice", y="$cost_{$"),
        plot.slowest_arrivals(df, n=3),
        plot.load_curve(df, column="$cost_{$"),
    ):
        texts = drawn(ax)
        assert any("$x_{$" in t or "$cost_{$" in t for t in texts), texts
    # A legend made later from the lines' labels reads them as text too.
    ax = plot.first_audio_ecdf(df, by="voice")
    ax.legend()
    assert "$x_{$" in drawn(ax)
    assert len(plot.bench_figures(df, by="voice")) == 4
