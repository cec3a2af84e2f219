"""IOB tag parsing, IOB1 detection and conversion, repair and spans."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerwin.errors import NerwinError
from nerwin.tags import TAGS_CONLL2003, iob1_to_iob2, is_iob1, parse_tag, repair_iob2, spans


def test_parse_tag_good():
    assert parse_tag("O") == ("O", None)
    assert parse_tag("B-PER") == ("B", "PER")
    assert parse_tag("I-MISC") == ("I", "MISC")
    assert parse_tag("B-per_2") == ("B", "per_2")


@pytest.mark.parametrize(
    "bad", ["B_PER", "X-LOC", "B-", "I-per ok?", "S-PER", "E-LOC", "o", "", "B-PER ", "-PER"]
)
def test_parse_tag_bad(bad):
    with pytest.raises(NerwinError, match="expected O, B-TYPE or I-TYPE"):
        parse_tag(bad)


def test_conll2003_tag_order():
    assert TAGS_CONLL2003[0] == "O" and len(TAGS_CONLL2003) == 9
    assert all(parse_tag(t) for t in TAGS_CONLL2003)


def test_is_iob1():
    assert is_iob1([["O", "I-PER", "I-PER"]])  # entity opened by I- after O
    assert is_iob1([["I-LOC"]])  # at the sentence start
    assert is_iob1([["B-PER", "I-LOC"]])  # after another type
    assert not is_iob1([["B-PER", "I-PER", "O", "B-LOC"], ["O"]])
    assert not is_iob1([])


def test_iob1_to_iob2():
    # IOB1: B- only where an entity follows one of the same type.
    assert iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]) == [
        "B-PER",
        "I-PER",
        "B-PER",
        "O",
        "B-LOC",
        "B-ORG",
    ]


def test_repair_iob2():
    assert repair_iob2(["I-PER", "I-PER"]) == ["B-PER", "I-PER"]
    assert repair_iob2(["O", "I-LOC"]) == ["O", "B-LOC"]
    assert repair_iob2(["B-PER", "I-LOC", "I-LOC"]) == ["B-PER", "B-LOC", "I-LOC"]
    assert repair_iob2(["B-PER", "I-PER", "O"]) == ["B-PER", "I-PER", "O"]
    assert repair_iob2([]) == []


def test_spans():
    assert spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG", "I-ORG"]) == [
        (0, 2, "PER"),
        (3, 4, "LOC"),
        (4, 5, "LOC"),
        (5, 7, "ORG"),
    ]
    assert spans(["O", "O"]) == []
    assert spans(["I-MISC"]) == [(0, 1, "MISC")]


tag_lists = st.lists(st.sampled_from(TAGS_CONLL2003), max_size=30)


@given(tag_lists)
def test_repair_gives_valid_iob2(tags):
    fixed = repair_iob2(tags)
    assert not is_iob1([fixed])
    assert repair_iob2(fixed) == fixed  # idempotent
    assert spans(fixed) == spans(tags)  # repair keeps the entities spans() reads
