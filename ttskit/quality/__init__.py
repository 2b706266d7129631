"""Whether speech says its text, and how it sounds: every measure offline, on this machine.

- ``wer``: the audio transcribed back (faster-whisper; the bundled Whisper tiny.en, any
  faster-whisper model, or an OpenAI-compatible ``/v1/audio/transcriptions`` endpoint)
  and compared with its text (jiwer, after Whisper's English normalizer): ``wer``,
  ``cer``, ``transcript``.
- ``mos``: DNSMOS P.808 and P.835 (``mos_p808``, ``mos_sig``, ``mos_bak``, ``mos_ovrl``).
- ``vad``: silero VAD (``speech_onset_s``, ``speech_ratio``, ``leading_silence_s``,
  ``trailing_silence_s``).
- ``timestamps``: word timestamps against forced alignment with pocketsphinx
  (``timestamp_offset_p50_ms``, ``timestamp_offset_p95_ms``, ``timestamp_coverage``).

Scorers load once and score many; ``score_rows`` scores a table of results in another
process, after whatever was timed. Needs ``pip install 'ttskit[quality]'``.

>>> import ttskit
>>> from ttskit import quality
>>> speech = ttskit.local("piper").speak("Hello there.", alignment="word")  # doctest: +SKIP
>>> quality.score(speech)  # doctest: +SKIP
"""

from .rows import score_rows
from .score import COLUMNS, METRICS, Limits, Scorer, score, score_many

__all__ = ["COLUMNS", "METRICS", "Limits", "Scorer", "score", "score_many", "score_rows"]
