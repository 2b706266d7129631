"""Figures of speech and of latency benchmarks, drawn with matplotlib.

The only ttskit package that imports matplotlib: ``speech`` draws one Speech, ``bench``
benchmark frames. Every function takes ``ax=None`` (a new
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

from .bench import (
    bench_figures,
    first_audio_box,
    first_audio_ecdf,
    latency_vs_length,
    load_curve,
    slowest_arrivals,
)
from .continuity import continuity as continuity
from .quality import quality_box, quality_vs_latency

# The size limits stay reachable as plot.MAX_*, as they were.
from .speech import MAX_SPECTROGRAM_FRAMES as MAX_SPECTROGRAM_FRAMES
from .speech import MAX_WAVEFORM_BINS as MAX_WAVEFORM_BINS
from .speech import spectrogram, timeline, waveform

__all__ = [
    "bench_figures",
    "first_audio_box",
    "first_audio_ecdf",
    "latency_vs_length",
    "load_curve",
    "quality_box",
    "quality_vs_latency",
    "slowest_arrivals",
    "spectrogram",
    "timeline",
    "waveform",
]
