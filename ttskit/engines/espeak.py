"""eSpeak NG through ctypes on the shared library that ``espeakng-loader`` ships.

The library keeps global state (current voice, rate, synth callback), so it is loaded and
initialised once per process and every call into it holds the module's one lock. Audio and
word events reach Python through the synth callback of eSpeak's synchronous output mode.

Example
-------
>>> engine = EspeakEngine()
>>> [segment.text for segment in engine.synthesize("Hi there. Bye!", voice="en-us+f2")]
['Hi there.', 'Bye!']
"""

from __future__ import annotations

import ctypes
import difflib
import os
import re
import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import espeakng_loader
import numpy as np

from .base import EngineArgumentError, EngineError, Segment, UnknownVoice, Voice, Word, check_speed
from .text import speakable, split_sentences, split_words

__all__ = ["LISTED_VARIANTS", "RATE_AT_SPEED_1", "RATE_RANGE", "EspeakEngine"]

#: words per minute that speed 1.0 stands for (eSpeak's own default rate)
RATE_AT_SPEED_1 = 175
#: eSpeak's rates in words per minute; a speed maps to ``RATE_AT_SPEED_1 * speed``,
#: clamped to this range (so speeds below 0.46 or above 2.57 sound as those do)
RATE_RANGE = (80, 450)
#: variants that ``voices()`` lists for the English voices in ``_VOICES_LISTED_WITH_VARIANTS``;
#: every other "<voice>+<variant>" is accepted too but left out of the list
LISTED_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5")
_VOICES_LISTED_WITH_VARIANTS = ("en-us", "en")

# Constants from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 0x1
# Without it eSpeak drops the pause at the end of each text it speaks, and segments
# played back to back would run into each other.
_ENDPAUSE = 0x1000
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAMETER_RATE = 1
_EE_OK = 0
_GENDERS = {1: "male", 2: "female"}

# A word's speech ends at its last sample louder than this (-40 dBFS), so that the pause
# after "world," belongs to no word.
_SILENCE_LEVEL = 0.01


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _VoiceSpec(ctypes.Structure):
    """``espeak_VOICE`` of speak_lib.h.

    ``languages`` is a void pointer because it holds several NUL-terminated strings, which
    a ``c_char_p`` field would cut at the first NUL.
    """

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class _BaseVoice:
    """A voice file of espeak-ng-data/voices and the language codes it speaks, best first."""

    name: str
    identifier: str
    languages: tuple[tuple[int, str], ...]
    gender: str
    description: str


def _read_languages(address: int) -> tuple[tuple[int, str], ...]:
    # Pairs of (priority byte, NUL-terminated language), ended by a zero priority byte.
    languages = []
    while priority := ctypes.c_ubyte.from_address(address).value:
        language = ctypes.string_at(address + 1)
        languages.append((priority, language.decode()))
        address += len(language) + 2
    return tuple(languages)


class _Library:
    """The initialised eSpeak NG library. One per process, used only under ``_lock``."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceSpec))
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        self._lib = lib

        data_path = espeakng_loader.get_data_path()
        # One callback per second of audio rather than eSpeak's default 60 ms.
        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 1000, os.fsencode(data_path), _INITIALIZE_DONT_EXIT
        )
        if sample_rate <= 0:
            raise EngineError(f"espeak_Initialize failed ({sample_rate}) with data {data_path}")
        self.sample_rate: int = sample_rate
        # The callback object must outlive every synthesis, hence an attribute.
        self._callback = _SynthCallback(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)

        self.voices = self._list_voices()
        variant_dir = os.path.join(data_path, "voices", "!v")
        self.variants = sorted(os.listdir(variant_dir), key=str.lower)

        self._chunks: list[bytes] = []
        self._word_events: list[tuple[int, float]] = []

    def _list_voices(self) -> list[_BaseVoice]:
        voices = []
        listed = self._lib.espeak_ListVoices(None)
        index = 0
        while listed[index]:
            spec = listed[index].contents
            index += 1
            identifier = spec.identifier.decode()
            voices.append(
                _BaseVoice(
                    name=identifier.rsplit("/", 1)[-1].lower(),
                    identifier=identifier,
                    languages=_read_languages(spec.languages),
                    gender=_GENDERS.get(spec.gender, ""),
                    description=spec.name.decode(errors="replace").strip(),
                )
            )
        return voices

    def _on_synth(
        self,
        wav: ctypes._Pointer[ctypes.c_short],
        num_samples: int,
        events: ctypes._Pointer[_Event],
    ) -> int:
        if num_samples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        if events:
            index = 0
            while (event := events[index]).type != _EVENT_LIST_TERMINATED:
                if event.type == _EVENT_WORD:
                    # text_position counts characters (code points) from 1
                    char_index = event.text_position - 1
                    self._word_events.append((char_index, event.audio_position / 1000))
                index += 1
        return 0

    def synthesize(
        self, text: str, *, espeak_voice: str, rate: int
    ) -> tuple[np.ndarray, list[tuple[int, float]]]:
        """Speak ``text``: int16 audio and (character index, seconds) of each word event."""
        if self._lib.espeak_SetVoiceByName(espeak_voice.encode()) != _EE_OK:
            raise EngineError(f"eSpeak could not load voice {espeak_voice!r}")
        self._lib.espeak_SetParameter(_PARAMETER_RATE, rate, 0)
        # A NUL would end the C string early; a space keeps every character position.
        data = speakable(text).replace("\0", " ").encode() + b"\0"
        self._chunks, self._word_events = [], []
        try:
            status = self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
            if status != _EE_OK:
                raise EngineError(f"espeak_Synth failed ({status}) on {text!r}")
            audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16)
            return audio, self._word_events
        finally:
            self._chunks, self._word_events = [], []


_lock = threading.Lock()
_library: _Library | None = None


def _get_library() -> _Library:
    global _library
    with _lock:
        if _library is None:
            _library = _Library()
        return _library


class EspeakEngine:
    """eSpeak NG: 140+ voices in many languages, 22050 Hz, word timings from its events.

    Parameters
    ----------
    model : str
        The model id the server serves this engine under.

    Notes
    -----
    Voice names are eSpeak's voice files in lower case (``"en-us"``, ``"en"`` for British
    English, ``"en-gb-x-rp"``, ``"fr"``), optionally with a variant from
    espeak-ng-data/voices/!v: ``"en-us+f2"``, ``"de+m3"``, ``"en+klatt"``. A voice's
    language codes work as names too (``"en-gb"``, ``"fr-fr"``).

    Examples
    --------
    >>> engine = EspeakEngine()
    >>> segment = next(engine.synthesize("Hello world.", voice="en-us"))
    >>> [word.text for word in segment.words]
    ['Hello', 'world']
    """

    def __init__(self, *, model: str = "espeak") -> None:
        self.model = model
        self._library = _get_library()
        self.sample_rate: int = self._library.sample_rate
        self._names = {voice.name: voice for voice in self._library.voices}
        self._aliases = self._language_aliases()
        self._variants = {variant.lower(): variant for variant in self._library.variants}

    def __repr__(self) -> str:
        return f"EspeakEngine(model={self.model!r})"

    def _language_aliases(self) -> dict[str, _BaseVoice]:
        # Each language code names the voice that speaks it with the best (lowest) priority.
        best: dict[str, tuple[int, _BaseVoice]] = {}
        for voice in self._library.voices:
            for priority, language in voice.languages:
                if language not in best or priority < best[language][0]:
                    best[language] = (priority, voice)
        return {
            language: voice for language, (_, voice) in best.items() if language not in self._names
        }

    def voices(self) -> list[Voice]:
        """Every base voice, then variants ``m1``..``m8``, ``f1``..``f5`` of two English voices.

        All 140+ base voices are listed; of the variants only ``LISTED_VARIANTS`` of
        ``en-us`` and ``en`` (British), to keep the list short. ``synthesize`` accepts any
        ``"<voice>+<variant>"`` with a variant from ``variants()``.
        """
        listed = [
            Voice(
                name=voice.name,
                language=voice.languages[0][1] if voice.languages else "",
                gender=voice.gender,
                description=voice.description,
            )
            for voice in self._library.voices
        ]
        for name in _VOICES_LISTED_WITH_VARIANTS:
            base = self._names[name]
            for variant in LISTED_VARIANTS:
                listed.append(
                    Voice(
                        name=f"{name}+{variant}",
                        language=base.languages[0][1],
                        gender="female" if variant.startswith("f") else "male",
                        description=f"{base.description}, variant {variant}",
                    )
                )
        return listed

    def variants(self) -> list[str]:
        """The variant names that may follow ``+`` in a voice name (``"f2"``, ``"klatt"``)."""
        return list(self._library.variants)

    def _espeak_voice(self, voice: str) -> str:
        """The name eSpeak loads for ``voice``: its voice file, plus ``+variant``."""
        if not isinstance(voice, str):
            raise EngineArgumentError(f"voice must be a str, not {type(voice).__name__}: {voice!r}")
        name, plus, variant = voice.strip().lower().partition("+")
        base = self._names.get(name) or self._aliases.get(name)
        if base is None:
            close = difflib.get_close_matches(name, [*self._names, *self._aliases], n=3)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            raise UnknownVoice(voice, hint=hint + "voices() lists the names, e.g. 'en-us'")
        if not plus:
            return base.identifier
        # eSpeak ignores a variant it cannot find, so check it here.
        if variant not in self._variants:
            close = difflib.get_close_matches(variant, list(self._variants), n=3)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            raise UnknownVoice(voice, hint=hint + "variants() lists the variants, e.g. 'f2'")
        return f"{base.identifier}+{self._variants[variant]}"

    def synthesize(self, text: str, *, voice: str, speed: float = 1.0) -> Iterator[Segment]:
        """Speak ``text`` and yield one Segment per sentence, each as soon as it is ready.

        Parameters
        ----------
        text : str
            Plain text (no SSML). Sentences without a word (``"..."``, a lone emoji) are
            skipped.
        voice : str
            A name from ``voices()``, or any ``"<voice>+<variant>"``.
        speed : float
            1.0 is eSpeak's 175 words per minute. The protocol's 0.25 to 4.0 is accepted and
            mapped to a rate, clamped to eSpeak's ``RATE_RANGE``.

        Returns
        -------
        Iterator[Segment]
            Lazy: a sentence is synthesized only when its segment is asked for.

        Raises
        ------
        UnknownVoice
            For a voice or variant eSpeak lacks, when called.
        EngineArgumentError
            For a speed outside ``ttskit.protocol.SPEED_RANGE``, when called.
        EngineError
            When ``text`` holds no word at all, when called.
        """
        espeak_voice = self._espeak_voice(voice)
        low, high = RATE_RANGE
        rate = min(max(round(RATE_AT_SPEED_1 * check_speed(speed)), low), high)
        sentences = [sentence for sentence in split_sentences(text) if split_words(sentence)]
        if not sentences:
            raise EngineError(f"no words to speak in {text[:80]!r}")
        return self._segments(sentences, espeak_voice, rate)

    def _segments(self, sentences: list[str], espeak_voice: str, rate: int) -> Iterator[Segment]:
        for sentence in sentences:
            # Voice and rate are set anew under the lock each time, since another engine
            # may have changed the library's global state between two sentences.
            with _lock:
                pcm16, word_events = self._library.synthesize(
                    sentence, espeak_voice=espeak_voice, rate=rate
                )
            audio = pcm16.astype(np.float32) / 32768.0
            words = _align_words(sentence, word_events, audio, self.sample_rate)
            yield Segment(text=sentence, audio=audio, sample_rate=self.sample_rate, words=words)


def _align_words(
    text: str,
    word_events: Sequence[tuple[int, float]],
    audio: np.ndarray,
    sample_rate: int,
) -> list[Word]:
    """Give every word of ``split_words(text)`` a span, from eSpeak's word events.

    Parameters
    ----------
    text : str
        The text eSpeak spoke.
    word_events : sequence of (int, float)
        The 0-based character index into ``text`` and the time in seconds of each word
        event, in the order eSpeak sent them.
    audio : np.ndarray, shape (n_samples,)
        The spoken audio, float32.
    sample_rate : int
        Sample rate of ``audio``.

    Returns
    -------
    list of Word
        One per word of ``split_words(text)``, in order, times non-decreasing and within
        ``[0, len(audio) / sample_rate]``.

    Notes
    -----
    eSpeak may send several events for one word ("1,234" is four spoken words), events for
    text that is no word (an emoji is read out by name), and none for some words. An event
    anywhere in a word's whitespace-separated token, edge punctuation included, is that
    word's: the first starts it, later ones are part of it. An event in whitespace or in a
    token without a word (an emoji) cuts: it ends the word before it. A word without an
    event shares the span of the word before it (or after it, at the start) in proportion
    to their lengths. A span ends at the next start or cut, or at the end of the audio,
    less any silence before that.
    """
    words = split_words(text)
    if not words:
        return []
    duration = len(audio) / sample_rate
    word_starts = [word.start for word in words]
    tokens = [match.span() for match in re.finditer(r"\S+", text)]
    token_starts = [start for start, _ in tokens]

    def token_of(char_index: int) -> int | None:
        token = bisect_right(token_starts, char_index) - 1
        return token if token >= 0 and char_index < tokens[token][1] else None

    token_words = {token_of(word.start): index for index, word in enumerate(words)}

    # Marks on the timeline: (time, word index) for a word's start, (time, None) for a cut.
    marks: list[tuple[float, int | None]] = []
    current = -1
    last_time = 0.0
    for char_index, time in word_events:
        # Clamping keeps the marks in order even if eSpeak's clock ever wobbles.
        time = min(max(time, last_time), duration)
        # An event on a word's edge punctuation ("%" of "50%", "#" of "#1") is that word's.
        word = token_words.get(token_of(char_index))
        if word is not None:
            if word > current:
                marks.append((time, word))
                current, last_time = word, time
        elif bisect_right(word_starts, char_index) - 1 >= current:
            marks.append((time, None))
            last_time = time

    # Each word with a start mark heads a group holding the unmarked words that follow it.
    ends = {
        owner: marks[k + 1][0] if k + 1 < len(marks) else duration
        for k, (_, owner) in enumerate(marks)
        if owner is not None
    }
    starts = {owner: time for time, owner in marks if owner is not None}
    heads = sorted(starts)
    if not heads:
        groups = [(0.0, duration, list(range(len(words))))]
    else:
        groups = []
        for position, head in enumerate(heads):
            first = 0 if position == 0 else head
            last = heads[position + 1] if position + 1 < len(heads) else len(words)
            start = 0.0 if first < head else starts[head]
            groups.append((start, ends[head], list(range(first, last))))

    aligned: list[Word] = []
    for start, end, members in groups:
        end = max(start, _speech_end(audio, sample_rate, start, end))
        lengths = np.array([len(words[index].text) for index in members], dtype=float)
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()
        # Rounding must not push a word past the next one's start.
        edges[-1] = end
        edges = np.minimum(edges, end)
        for index, word_start, word_end in zip(members, edges[:-1], edges[1:], strict=True):
            aligned.append(Word(words[index].text, float(word_start), float(word_end)))
    return aligned


def _speech_end(audio: np.ndarray, sample_rate: int, start: float, end: float) -> float:
    """``end`` moved back to the last sample above ``_SILENCE_LEVEL`` after ``start``."""
    first, last = int(start * sample_rate), int(end * sample_rate)
    loud = np.flatnonzero(np.abs(audio[first:last]) > _SILENCE_LEVEL)
    if loud.size == 0:
        return end
    return min(end, (first + loud[-1] + 1) / sample_rate)
