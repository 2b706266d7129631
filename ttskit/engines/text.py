"""Text helpers the engines and the server share: words and sentences of an input text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "SENTENCE_TERMINATORS",
    "TextWord",
    "first_clause_end",
    "sentence_end",
    "speakable",
    "split_sentences",
    "split_words",
]


@dataclass(frozen=True)
class TextWord:
    """A word of the input: its text and its character span ``[start, end)``."""

    text: str
    start: int
    end: int


def _is_edge_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def split_words(text: str) -> list[TextWord]:
    """The words of ``text`` as a listener would count them.

    A word is a whitespace-separated token that holds at least one letter or digit, with
    leading and trailing punctuation removed: ``"(Hello, world!)"`` gives ``Hello`` and
    ``world``; ``"3.14"`` and ``"don't"`` stay whole; a lone emoji or dash is no word.
    """
    words = []
    for match in re.finditer(r"\S+", text):
        token, start, end = match.group(), match.start(), match.end()
        if not any(ch.isalnum() for ch in token):
            continue
        while _is_edge_punctuation(text[start]):
            start += 1
        while _is_edge_punctuation(text[end - 1]):
            end -= 1
        words.append(TextWord(text[start:end], start, end))
    return words


# A sentence ends at ., ! or ? (possibly repeated, possibly followed by closing quotes or
# brackets) and then whitespace, or at the end of the text. A dot inside a number ("3.14")
# or between letters ("e.g") is no end because no whitespace follows it.
#: Characters that end a sentence (Latin, CJK full-width, the ellipsis character).
SENTENCE_TERMINATORS = ".!?\u3002\uff01\uff1f\u2026"
_SENTENCE_END = re.compile(f"[{re.escape(SENTENCE_TERMINATORS)}]+" r"[\"'\u201d\u2019)\]]*(?=\s|$)")


# Titles and Latin abbreviations whose dot does not end a sentence ("Dr. Smith", "e.g. this").
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "mt", "e.g", "i.e", "cf", "approx"]
    + ["dept", "fig", "inc", "ltd"]
)


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if match.group()[0] != ".":
        return True
    token = text[: match.start() + 1].rsplit(None, 1)[-1].lstrip("(\"'\u201c\u2018").lower()
    word = token.rstrip(".")
    # A single letter before a dot is an initial ("J. Smith") or part of "U.S." style names.
    return word not in _ABBREVIATIONS and not (len(word) == 1 and word.isalpha())


def _sentence_ends(text: str) -> list[int]:
    return [m.end() for m in _SENTENCE_END.finditer(text) if _ends_sentence(text, m)]


def sentence_end(text: str) -> int | None:
    """Index just past the first complete sentence in ``text``, or None if there is none.

    A sentence is complete once its terminator is followed by whitespace, so a streamed
    buffer ``"Hello world."`` is not yet known to be complete, but ``"Hello world. "`` is.
    """
    for end in _sentence_ends(text):
        if end < len(text):
            return end
    return None


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences, whitespace trimmed, empty pieces dropped."""
    sentences = []
    start = 0
    for end in _sentence_ends(text):
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


# A clause ends at a comma, semicolon or colon followed by whitespace, so that "1,000" and
# "10:30" are no ends.
_CLAUSE_END = re.compile(r"[,;:](?=\s)")
#: Words a clause cut from the first sentence, and the rest of that sentence, have at least.
CLAUSE_MIN_WORDS = 4


def first_clause_end(text: str, *, min_words: int = CLAUSE_MIN_WORDS) -> int | None:
    """Index just past the first clause of ``text``'s first sentence, or None.

    The clause ends at a comma, semicolon or colon followed by whitespace, with at least
    ``min_words`` words before it and ``min_words`` after it within the sentence, so that
    neither part is a fragment too short to be spoken well on its own. Speaking the first
    clause alone lets its audio start before the whole sentence is synthesized.

    Examples
    --------
    >>> text = "When the train finally pulled in, the passengers stepped down. Then rain."
    >>> text[: first_clause_end(text)]
    'When the train finally pulled in,'
    >>> first_clause_end("Yes, the passengers stepped down onto the platform.") is None
    True
    """
    end = sentence_end(text)
    sentence = text if end is None else text[:end]
    for match in _CLAUSE_END.finditer(sentence):
        before, after = sentence[: match.end()], sentence[match.end() :]
        if len(split_words(before)) >= min_words and len(split_words(after)) >= min_words:
            return match.end()
        if len(split_words(after)) < min_words:
            return None
    return None


# A title's dot before a name ("Dr. Smith"): eSpeak ends a clause there, with a falling
# tone and a pause after "Doctor". Without the dot it reads the title within the sentence.
_TITLE_DOT = re.compile(
    r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Rev|Hon|Sgt|Capt|Gen|Col|Lt|St|Mt)\.(?=\s+[A-Z])"
)


def speakable(text: str) -> str:
    """``text`` as eSpeak should read it, with every character at the same position.

    The dots of titles before a name become spaces, so that eSpeak does not end the
    sentence at "Dr." in "Dr. Smith". The length is kept, so character positions (of
    word events, of words) mean the same in both texts.
    """
    return _TITLE_DOT.sub(lambda match: match.group()[:-1] + " ", text)
