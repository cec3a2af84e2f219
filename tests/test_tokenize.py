"""The tokenizer: CoNLL-like splits, exact offsets, robustness and speed."""


import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerwin.tokenize import Token, tokenize, tokenize_many


def words(text):
    return [t.text for t in tokenize(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Paris.", ["Paris", "."]),
        ("(AP) said", ["(", "AP", ")", "said"]),
        (
            'He said "no"; yes? no! so: a, b',
            ["He", "said", '"', "no", '"', ";", "yes", "?", "no", "!", "so", ":", "a", ",", "b"],
        ),
        (
            "U.S. officials met Mr. Smith on Jan. 5 at 3 p.m.",
            ["U.S.", "officials", "met", "Mr.", "Smith", "on", "Jan.", "5", "at", "3", "p.m."],
        ),
        ("1,234.5 on 1996-08-22 , 3/4 at 10:30", ["1,234.5", "on", "1996-08-22", ",", "3/4", "at", "10:30"]),
        ("Bosnia-Herzegovina 's AT&T", ["Bosnia-Herzegovina", "'s", "AT&T"]),
        (
            "John's dog didn't bark; I'm sure they'll go",
            ["John", "'s", "dog", "did", "n't", "bark", ";", "I", "'m", "sure", "they", "'ll", "go"],
        ),
        ("O'Brien can't JOHN'S", ["O'Brien", "ca", "n't", "JOHN", "'S"]),
        ("John F. Kennedy ... -- 12-year-old", ["John", "F.", "Kennedy", "...", "--", "12-year-old"]),
        ("paid US$ 5 and C$ 3 or 5%", ["paid", "US$", "5", "and", "C$", "3", "or", "5", "%"]),
        ("U.S.-led Inc.", ["U.S.-led", "Inc."]),
    ],
)
def test_conll_like_splits(text, expected):
    assert words(text) == expected


def test_offsets_and_type():
    text = "  Peter  Blackburn.\n"
    tokens = tokenize(text)
    assert tokens == [Token("Peter", 2, 7), Token("Blackburn", 9, 18), Token(".", 18, 19)]
    assert all(text[t.start : t.end] == t.text for t in tokens)


@pytest.mark.parametrize("text", ["", " ", "\n\t \r\n", "\u00a0\u2003"])
def test_empty(text):
    assert tokenize(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "café e\u0301t\u00e9 😀👍🏽 👨‍👩‍👧",
        "\x00\x01\x1b[31m\x7f",
        "مرحبا بالعالم \u202eabc\u202c שלום",
        "\ud800 lone surrogate",
        "x" * 1_000_000,
        "a. " * 300_000,
    ],
)
def test_robust(text):
    tokens = tokenize(text)
    assert all(text[t.start : t.end] == t.text for t in tokens)


def test_combining_marks_stay_in_word():
    assert words("e\u0301te\u0301 cafe\u0301") == ["e\u0301te\u0301", "cafe\u0301"]


def test_tokenize_many():
    assert [[t.text for t in ts] for ts in tokenize_many(["a b.", "", "c"])] == [["a", "b", "."], [], ["c"]]


@settings(deadline=None, max_examples=400)
@given(st.text())
def test_fuzz_tokens_cover_text(text):
    tokens = tokenize(text)
    previous_end = 0
    for token in tokens:
        assert token.text and text[token.start : token.end] == token.text
        assert token.start >= previous_end  # ordered, non-overlapping
        assert not any(c.isspace() for c in token.text)
        previous_end = token.end
    # every non-space character is in some token
    covered = sum(t.end - t.start for t in tokens)
    assert covered == sum(not c.isspace() for c in text)


PIECES = ["a", "Z", "9", ".", "'", "-", ",", "$", ":", "\n", " ", "\t", "+", "\u00e9", "\u0301", "n't", "U.S.",
          "Mr.", "1.", "F.", "don", "'s", "(", '"', "\r\n", "US$"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_tokens_of_each_chunk_by_its_key_are_the_tokens_of_the_whole_text(text):
    """A chunk's tokens depend on its key alone (what the fast wing memoizes): chunk by chunk gives
    exactly the tokens of one match over the whole text."""
    from nerwin.tokenize import chunk_keys, chunk_tokens

    by_chunks = [(t, at + s, at + e) for at, key in chunk_keys(text) for t, s, e in chunk_tokens(key)]
    assert by_chunks == [tuple(t) for t in tokenize(text)]


@given(st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12), st.booleans(), st.booleans())
def test_letters_and_digits_alone_are_one_token_as_the_expression_says(chunk, line_start, space_after):
    """chunk_tokens skips the expression for such chunks; the expression must agree."""
    from nerwin.tokenize import _TOKEN

    pad = 0 if line_start else 1
    padded = " " * pad + chunk + (" " if space_after else "")
    assert [(m.group(), m.start() - pad) for m in _TOKEN.finditer(padded)] == [(chunk, 0)]
