"""Word timestamps checked against forced alignment (pocketsphinx, CMU's US English model).

The text is put in spoken form first, since that is what the audio says: ``$42.50``,
``3``, ``5th``, ``12%``, ``3:30`` and ``Dr.`` become the words an engine reads for them
(``inflect`` spells the numbers). Where engines differ (eSpeak NG and Piper read
``$42.50`` as "dollar forty two point five zero", others as "forty two dollars and fifty
cents"), every reading goes into a grammar and the aligner keeps the one the audio fits. A
word the dictionary lacks is split into words it has, or spelled ("ttskit": "t t skit"),
so that its audio is accounted for and the words after it keep their times.

Each word a vendor timed is then compared with the same written word where the aligner put
it (the start of its first spoken word): the signed offset of its start, and how many words
were found at all.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import os
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..results import empty_words, words_frame
from ._deps import SAMPLE_RATE, as_audio, provenance, require

__all__ = ["Aligner", "spoken_readings", "timestamp_offsets"]

# A reading is a tuple of (word, optional) pairs; a written word has one or more readings.
Reading = tuple[tuple[str, bool], ...]

_ABBREVIATIONS = {
    "dr": ("doctor", "drive"),
    "mr": ("mister",),
    "mrs": ("missus",),
    "ms": ("ms", "miss"),
    "st": ("saint", "street"),
    "jr": ("junior",),
    "sr": ("senior",),
    "vs": ("versus",),
    "etc": ("et cetera",),
    "prof": ("professor",),
    "&": ("and",),
    "+": ("plus",),
    "%": ("percent",),
}
_EDGE = re.compile(r"^[^\w$%&+]+|[^\w%]+$")
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_CURRENCY = re.compile(r"^\$(\d[\d,]*)(?:\.(\d{1,2}))?$")
_PERCENT = re.compile(rf"^({_NUMBER})%$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_ORDINAL = re.compile(r"^(\d[\d,]*)(st|nd|rd|th)$")
_PLAIN = re.compile(rf"^{_NUMBER}$")
# What a grammar word may hold (JSGF takes these bare, and no quoted ones with an apostrophe).
_SAYABLE = re.compile(r"[a-z][a-z']*")
_DECADE = re.compile(r"^(\d+)'?s$")
_SPLIT = re.compile(r"[-\u2013\u2014/]+")
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _key(word: Any) -> str:
    """A written word as both sides of the comparison spell it: lower case letters and digits.

    A vendor may time ``"12"`` for the text's ``"12%"``, or ``"42.50"`` for ``"$42.50"``.
    """
    return re.sub(r"[\W_]", "", str(word).lower())


@functools.cache
def _inflect() -> Any:
    return require("inflect", purpose="reading numbers aloud for forced alignment").engine()


def _spell(value: int, **options: Any) -> str:
    """``value`` in words: "one thousand, two hundred and fifty" (``group=2``: "twelve, fifty")."""
    return str(_inflect().number_to_words(value, **options))


def _words(text: str, *, optional: tuple[str, ...] = ("and",)) -> Reading:
    """Spelled numbers as plain words; their "and" may be said or not."""
    return tuple((w, w in optional) for w in re.sub(r"[^a-z']+", " ", text.lower()).split() if w)


def _plain(words: str) -> Reading:
    return tuple((w, False) for w in words.split())


def _cardinal(digits: str) -> list[Reading]:
    value = int(digits.replace(",", ""))
    if value >= 10**12:
        return [_plain(" ".join(_DIGITS[int(d)] for d in digits if d.isdigit()))]
    readings = [_words(_spell(value))]
    if "," not in digits and 1100 <= value <= 2099 and value % 100:
        # A year: "nineteen ninety nine" (eSpeak NG says "nineteen hundred ninety nine").
        readings.append(_words(_spell(value, group=2)))
        if value % 1000 >= 100:
            hundreds = _words(f"{_spell(value // 100)} hundred {_spell(value % 100)}")
            readings.append(hundreds)
    return readings


def _decimal(number: str) -> list[Reading]:
    whole, _, fraction = number.partition(".")
    if not fraction:
        return _cardinal(whole)
    after = _plain("point " + " ".join(_DIGITS[int(d)] for d in fraction))
    return [r + after for r in _cardinal(whole or "0")]


def _currency(dollars: str, cents: str | None) -> list[Reading]:
    value = int(dollars.replace(",", ""))
    unit = "dollar" if value == 1 else "dollars"
    number = _cardinal(dollars)[0]
    # eSpeak NG and Piper: "dollar forty two point five zero".
    readings = [
        ((("dollar", False),) + r) for r in _decimal(dollars + ("." + cents if cents else ""))
    ]
    if not cents or not int(cents):
        readings.append(number + ((unit, False),))
        return readings
    amount = _words(_spell(int(cents.ljust(2, "0"))))
    cent = "cent" if int(cents.ljust(2, "0")) == 1 else "cents"
    readings.append(number + ((unit, False), ("and", True)) + amount + ((cent, True),))
    if value == 0:
        readings.append(amount + ((cent, False),))
    return readings


def _time(hours: str, minutes: str) -> list[Reading]:
    hour = _cardinal(hours)[0]
    if minutes == "00":
        return [hour + _plain("o'clock"), hour, hour + _plain("zero zero")]
    if minutes.startswith("0"):
        return [
            hour + _plain("oh " + _DIGITS[int(minutes[1])]),
            hour + _plain("zero " + _DIGITS[int(minutes[1])]),
        ]
    return [hour + r for r in _cardinal(minutes)]


def _number_readings(part: str) -> list[Reading] | None:
    if match := _CURRENCY.match(part):
        return _currency(match[1], match[2])
    if match := _PERCENT.match(part):
        return [r + (("percent", False),) for r in _decimal(match[1])]
    if match := _TIME.match(part):
        return _time(match[1], match[2])
    if match := _ORDINAL.match(part):
        return [_words(_spell(_inflect().ordinal(int(match[1].replace(",", "")))))]
    if _PLAIN.match(part):
        return _decimal(part)
    return None


def _split_known(word: str, known: Callable[[str], bool]) -> list[Reading]:
    """An unknown word as words the dictionary has: the fewest pieces, and letter by letter."""
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 12), end):
            piece, before = word[start:end], best[start]
            if (
                before is not None
                and known(piece)
                and (best[end] is None or len(before) + 1 < len(best[end]))
            ):
                best[end] = before + [piece]
    readings = []
    if best[-1]:
        readings.append(tuple((w, False) for w in best[-1]))
    letters = tuple((c, False) for c in word if c.isalpha())
    spellable = letters and len(letters) == len(word) and all(known(c) for c, _ in letters)
    if spellable and letters not in readings:
        readings.append(letters)
    return readings


def spoken_readings(word: str, known: Callable[[str], bool] = lambda w: True) -> list[Reading]:
    """The ways a written word may be read aloud, as words ``known`` accepts.

    ``"$42.50"`` gives "dollar forty two point five zero" and "forty two dollars [and]
    fifty [cents]"; ``"5th"`` gives "fifth"; a word ``known`` lacks is split into known
    words or spelled. Nothing when none of that works (an empty list).
    """
    ascii_word = unicodedata.normalize("NFKD", str(word).replace("\u2019", "'"))
    token = _EDGE.sub("", ascii_word.encode("ascii", "ignore").decode().lower())
    if not token:
        return []
    if token in _ABBREVIATIONS:
        return [_plain(a) for a in _ABBREVIATIONS[token] if all(map(known, a.split()))]
    numbers = _number_readings(token)
    if numbers is not None:
        return [r for r in numbers if all(known(w) for w, _ in r)]
    if _SAYABLE.fullmatch(token) and known(token):
        return [((token, False),)]
    parts = [p for p in _SPLIT.split(token) if p]
    if len(parts) > 1:
        each = [spoken_readings(p, known) for p in parts]
        if all(each):
            combos = itertools.islice(itertools.product(*each), 8)
            return [tuple(itertools.chain.from_iterable(c)) for c in combos]
        return []
    if match := _DECADE.match(token):
        return [
            r[:-1] + ((_plural(r[-1][0]), False),)
            for r in _decimal(match[1])
            if known(_plural(r[-1][0]))
        ]
    plain = re.sub(r"[^a-z0-9']", "", token).strip("'")
    if plain and plain != token:
        return spoken_readings(plain, known)
    runs = re.findall(r"\d+|[a-z']+", plain)
    if len(runs) > 1:
        each = [spoken_readings(r, known) for r in runs]
        return [tuple(itertools.chain.from_iterable(r[0] for r in each))] if all(each) else []
    return _split_known(plain, known) if plain.isalpha() else []


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _expansions(reading: Reading) -> list[tuple[str, ...]]:
    """Every word sequence a reading allows (its optional words said or not)."""
    choices = [((w,), ()) if optional else ((w,),) for w, optional in reading]
    return [tuple(itertools.chain.from_iterable(c)) for c in itertools.product(*choices)]


def _parse(said: list[str], groups: list[list[tuple[str, ...]]]) -> list[tuple[int, int]] | None:
    """Which spoken words (``said``) each written word's reading took: (first, end) per group."""
    # reach[g] maps a position in ``said`` after g groups to the position it came from.
    reach: list[dict[int, int]] = [{0: -1}]
    for group in groups:
        step: dict[int, int] = {}
        for at in reach[-1]:
            for words in group:
                end = at + len(words)
                if end not in step and tuple(said[at:end]) == words:
                    step[end] = at
        if not step:
            return None
        reach.append(step)
    if len(said) not in reach[-1]:
        return None
    spans, end = [], len(said)
    for step in reversed(reach[1:]):
        start = step[end]
        spans.append((start, end))
        end = start
    return spans[::-1]


_WIDE_BEAMS = {
    "beam": 1e-200,
    "wbeam": 1e-200,
    "pbeam": 1e-200,
    "maxhmmpf": -1,
    "maxwpf": -1,
}


def _grammar(written: list[tuple[str, list[Reading]]], *, skippable: bool = False) -> str:
    """A JSGF grammar of the written words' readings in order (each one optional if asked)."""
    rules = []
    for _, readings in written:
        either = " | ".join(" ".join(f"[{w}]" if opt else w for w, opt in r) for r in readings)
        rules.append(f"[{either}]" if skippable else f"({either})")
    return "#JSGF V1.0;\ngrammar text;\npublic <text> = " + " ".join(rules) + ";\n"


class Aligner:
    """Forced alignment of a text to its audio, in 10 ms frames.

    Returns the text's written words with the start of the first word they are read as and
    the end of the last. Words that have no reading the model's dictionary holds (another
    script, symbols) are left out, and so count against ``timestamp_coverage``.
    """

    def __init__(self) -> None:
        pocketsphinx = require("pocketsphinx", purpose="forced alignment")
        _inflect()
        self._decoder = pocketsphinx.Decoder(bestpath=False, loglevel="FATAL")
        self._wide = functools.partial(
            pocketsphinx.Decoder, bestpath=False, loglevel="FATAL", **_WIDE_BEAMS
        )
        self._wide_decoder: Any = None
        self._frame_s = 1.0 / float(self._decoder.config["frate"])
        # A frame's features describe its window's centre, half a window after it starts.
        self._centre_s = float(self._decoder.config["wlen"]) / 2
        self.model_path = os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us")
        self.provenance = {"align": provenance("pocketsphinx", self.model_path)}

    def _known(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None

    def _search(self, decoder: Any, grammar: str, pcm: bytes) -> list[tuple[str, float, float]]:
        """The words ``decoder`` heard along ``grammar``, with start and end; none on failure."""
        try:
            decoder.add_jsgf_string("text", grammar)
            decoder.activate_search("text")
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
        except RuntimeError:
            return []
        return [
            (
                re.sub(r"\(\d+\)$", "", seg.word),
                seg.start_frame * self._frame_s + self._centre_s,
                (seg.end_frame + 1) * self._frame_s + self._centre_s,
            )
            for seg in decoder.seg() or ()
            if not seg.word.startswith(("<", "[", "(NULL)"))
        ]

    def readings(self, text: str) -> list[tuple[str, list[Reading]]]:
        """The written words of ``text`` that can be said, each with its readings."""
        found = []
        for word in str(text).split():
            readings = spoken_readings(word, self._known)
            if readings and _key(word):
                found.append((word, readings))
        return found

    def __call__(self, audio: Any, sample_rate: int, text: str) -> pd.DataFrame:
        """Written words of ``text`` with their aligned ``start`` and ``end`` in seconds."""
        audio = as_audio(audio, sample_rate)
        written = self.readings(text)
        if not written or len(audio) < SAMPLE_RATE // 10:
            return empty_words()
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        said, skippable = self._search(self._decoder, _grammar(written), pcm), False
        if not said:
            # Audio the model fits badly can fall out of the default beams: the same search
            # with beams that keep every path, then one that may pass over a written word.
            if self._wide_decoder is None:
                self._wide_decoder = self._wide()
            said = self._search(self._wide_decoder, _grammar(written), pcm)
        if not said:
            skippable = True
            said = self._search(self._wide_decoder, _grammar(written, skippable=True), pcm)
        if not said:
            return empty_words()
        groups = [
            sorted(
                {e for r in readings for e in _expansions(r)} | ({()} if skippable else set()),
                key=len,
                reverse=True,
            )
            for _, readings in written
        ]
        spans = _parse([w for w, _, _ in said], groups)
        if spans is None:
            return empty_words()
        names, starts, ends = [], [], []
        for (word, _), (first, end) in zip(written, spans, strict=True):
            if end > first:
                names.append(word)
                starts.append(said[first][1])
                ends.append(said[end - 1][2])
        frame = words_frame(names, starts, ends)
        frame.attrs["spoken"] = words_frame(*zip(*said, strict=True))
        return frame


def timestamp_offsets(claimed: pd.DataFrame, aligned: pd.DataFrame) -> dict[str, Any]:
    """How far ``claimed`` word starts are from the ``aligned`` ones.

    Words are matched as written (``"$42.50"`` with ``"$42.50"``): ``aligned`` holds each
    written word at the start of the first word it is read as, so numbers count too.

    Returns
    -------
    dict
        ``timestamp_offset_p50_ms`` (signed median: positive when the claimed times are
        late), ``timestamp_offset_p95_ms`` (95th percentile of the absolute offset) and
        ``timestamp_coverage`` (the share of claimed words the aligner found).
    """
    nan = float("nan")
    if claimed is None or len(claimed) == 0:
        return {
            "timestamp_offset_p50_ms": nan,
            "timestamp_offset_p95_ms": nan,
            "timestamp_coverage": nan,
            "timestamp_reason": "no word timestamps",
        }
    left = [(_key(w), float(s)) for w, s in zip(claimed["word"], claimed["start"], strict=True)]
    right = [(_key(w), float(s)) for w, s in zip(aligned["word"], aligned["start"], strict=True)]
    matcher = difflib.SequenceMatcher(
        a=[w for w, _ in left], b=[w for w, _ in right], autojunk=False
    )
    offsets = [
        (left[block.a + k][1] - right[block.b + k][1]) * 1000.0
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
        if left[block.a + k][0]
    ]
    counted = sum(1 for w, _ in left if w)
    if not offsets:
        return {
            "timestamp_offset_p50_ms": nan,
            "timestamp_offset_p95_ms": nan,
            "timestamp_coverage": 0.0,
            "timestamp_reason": "the aligner found none of the timed words",
        }
    values = np.asarray(offsets)
    return {
        "timestamp_offset_p50_ms": float(np.median(values)),
        "timestamp_offset_p95_ms": float(np.percentile(np.abs(values), 95)),
        "timestamp_coverage": len(offsets) / max(counted, 1),
        "timestamp_reason": "",
    }
