import pytest

from ttskit.engines.text import sentence_end, speakable, split_sentences, split_words


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
