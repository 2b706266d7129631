import pytest

from ttskit.engines.text import (
    first_clause_end,
    sentence_end,
    speakable,
    split_sentences,
    split_words,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("(Hello, world!)", ["Hello", "world"]),
        ("It costs $5, not 3.14 or 1,234.", ["It", "costs", "$5", "not", "3.14", "or", "1,234"]),
        ("don't stop — ever 🙂", ["don't", "stop", "ever"]),
        ("naïve café, Zürich", ["naïve", "café", "Zürich"]),
        ("... !!! 🎉", []),
    ],
)
def test_split_words_keeps_what_a_listener_counts(text, words):
    found = split_words(text)
    assert [w.text for w in found] == words
    assert all(text[w.start : w.end] == w.text for w in found)


def test_split_sentences_respects_abbreviations_and_initials():
    text = "Dr. Smith paid e.g. five. J. R. Tolkien wrote it! Was it 3.14? Yes"
    assert split_sentences(text) == [
        "Dr. Smith paid e.g. five.",
        "J. R. Tolkien wrote it!",
        "Was it 3.14?",
        "Yes",
    ]


def test_sentence_end_waits_for_whitespace_after_the_terminator():
    assert sentence_end("Hello world.") is None
    assert sentence_end("Hello world. Next") == len("Hello world.")
    assert sentence_end("Mr. Brown") is None


def test_speakable_drops_title_dots_before_names_and_keeps_positions():
    text = "Dr. Smith met Mrs. Green on St. Paul's day. He said no. Then e.g. this."
    spoken = speakable(text)
    assert spoken == "Dr  Smith met Mrs  Green on St  Paul's day. He said no. Then e.g. this."
    assert len(spoken) == len(text)
    assert speakable("Ask the Dr. then") == "Ask the Dr. then"


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ("When the train finally pulled in, the passengers stepped down. Then rain.",
         "When the train finally pulled in,"),
        ("One two three four; five six seven eight.", "One two three four;"),
        ("A list of things: apples, pears and plums.", "A list of things:"),
        # Too short a part on either side of every break: no cut.
        ("Yes, the passengers stepped down onto the platform.", None),
        ("The passengers stepped down onto the platform, slowly.", None),
        # Commas inside numbers and times, and breaks past the first sentence, are no cut.
        ("It cost 1,000 dollars at 10:30 on the dot today.", None),
        ("The passengers stepped down. Then, after a while, they all left the station.", None),
        ("", None),
    ],
)  # fmt: skip
def test_first_clause_end(text, clause):
    end = first_clause_end(text)
    assert (None if end is None else text[:end]) == clause
