"""Tag schemes on input: every scheme round-trips to the same entities, seqeval agrees on valid sequences,
detection, and an invalid sequence of a named scheme is reported at its tag."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerwin.errors import NerwinError
from nerwin.schemes import SCHEMES, decode, detect, encode, invalid_at, split_tag, to_iob2

NAMES = ["iob1", "iob2", "ioe1", "ioe2", "iobes", "bilou"]
# Types as users name them: hyphens, dots, digits, underscores, non-ASCII.
TYPES = ["PER", "creative-work", "Restaurant_Name", "Ort.Stadt", "LEGISLAÇÃO", "x2"]


@st.composite
def entity_lists(draw):
    """(length, entities): non-overlapping (start, end, type) spans, adjacent ones often of one type."""
    length = draw(st.integers(0, 14))
    entities, at = [], 0
    while at < length:
        at += draw(st.integers(0, 2))  # 0: an entity right after the previous one
        if at >= length:
            break
        end = draw(st.integers(at + 1, min(length, at + 4)))
        entities.append((at, end, draw(st.sampled_from(TYPES[:2]) if draw(st.booleans()) else st.sampled_from(TYPES))))
        at = end
    return length, entities


@settings(deadline=None, max_examples=300)
@given(entity_lists(), st.sampled_from(NAMES))
def test_every_scheme_round_trips_to_the_same_entities(case, scheme):
    length, entities = case
    tags = encode(entities, length, scheme)
    assert decode(tags) == entities
    assert invalid_at(tags, scheme) is None
    iob2 = encode(entities, length, "iob2")
    assert to_iob2([tags], scheme)[0] == [iob2]  # named: checked, then converted
    assert to_iob2([tags])[0] == [iob2]  # detected


@settings(deadline=None, max_examples=200)
@given(entity_lists(), st.sampled_from(["iob1", "iob2", "ioe2", "iobes", "bilou"]))
def test_seqeval_reads_valid_sequences_the_same(case, scheme):
    """seqeval's strict reader as an independent check (its IOE1 has known gaps, so it is left out)."""
    from seqeval.scheme import Tokens

    length, entities = case
    tags = encode(entities, length, scheme)
    theirs = [(e.start, e.end, e.tag) for e in Tokens(tags, SCHEMES[scheme]).entities]
    assert theirs == entities


def test_encode_examples():
    entities, n = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC")], 6
    assert encode(entities, n, "iob1") == ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "O"]
    assert encode(entities, n, "iob2") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "O"]
    assert encode(entities, n, "ioe1") == ["I-PER", "E-PER", "I-PER", "O", "I-LOC", "O"]
    assert encode(entities, n, "ioe2") == ["I-PER", "E-PER", "E-PER", "O", "E-LOC", "O"]
    assert encode(entities, n, "iobes") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "O"]
    assert encode(entities, n, "bioes") == encode(entities, n, "iobes")
    assert encode(entities, n, "bilou") == ["B-PER", "L-PER", "U-PER", "O", "U-LOC", "O"]


def test_split_tag_takes_any_type_without_whitespace():
    assert split_tag("S-creative-work") == ("S", "creative-work")
    assert split_tag("L-Ort.Stadt") == ("L", "Ort.Stadt")
    assert split_tag("O") == ("O", None)
    for bad in ["B_PER", "X-LOC", "B-", "-PER", "B-a b", "o", ""]:
        with pytest.raises(NerwinError, match="bad tag"):
            split_tag(bad)


@pytest.mark.parametrize("sequences, scheme", [
    ([["B-PER", "I-PER", "O", "B-LOC"]], "iob2"),
    ([["I-PER", "I-PER", "B-PER"], ["O"]], "iob1"),
    ([["I-PER", "E-PER", "O", "E-LOC"]], "ioe2"),
    ([["I-PER", "I-PER", "E-PER", "I-PER"]], "ioe1"),
    ([["B-PER", "E-PER", "S-LOC"]], "iobes"),
    ([["S-LOC"]], "iobes"),
    ([["B-PER", "L-PER", "U-LOC"]], "bilou"),
    ([["U-LOC"]], "bilou"),
    ([["O"], []], "iob2"),
])
def test_detect(sequences, scheme):
    assert detect(sequences) == scheme


def test_detect_refuses_mixed_schemes():
    with pytest.raises(NerwinError, match=r"mix the prefixes of several schemes \(B, E, L\).*--scheme"):
        detect([["B-PER", "E-PER"], ["B-LOC", "L-LOC"]])


@pytest.mark.parametrize("tags, scheme, index, message", [
    (["O", "I-PER"], "iob2", 1, "tag 'I-PER' between 'O' and the sentence end is not valid IOB2 (expected 'B-PER')"),
    (["B-PER", "I-LOC"], "iob2", 1, "expected 'B-LOC'"),
    (["B-PER", "O"], "iob1", 0, "tag 'B-PER' between the sentence start and 'O' is not valid IOB1 (expected 'I-PER')"),
    (["I-PER", "O"], "ioe2", 0, "expected 'E-PER'"),
    (["B-PER", "O"], "iobes", 0, "expected 'S-PER'"),
    (["B-PER", "I-PER"], "iobes", 1, "expected 'E-PER'"),
    (["U-PER", "L-PER"], "bilou", 1, "expected 'U-PER'"),
    (["S-PER"], "iob2", 0, "prefix S- is not part of IOB2 (B, I, O)"),
    (["B-PER"], "ioe1", 0, "prefix B- is not part of IOE1 (I, O, E)"),
])
def test_invalid_sequences_are_found_at_their_tag(tags, scheme, index, message):
    found = invalid_at(tags, scheme)
    assert found is not None and found[0] == index and message in found[1]
    with pytest.raises(NerwinError, match=rf"^line {index}: .*{message[:12]}"):
        to_iob2([tags], scheme, where=lambda s, t: f"line {t}")


def test_auto_reads_stray_tags_as_conlleval():
    """Detected, an I- after O opens an entity (as nerwin always read IOB files, and conlleval does)."""
    assert to_iob2([["O", "I-PER", "I-PER", "B-LOC", "I-ORG"]]) == ([["O", "B-PER", "I-PER", "B-LOC", "B-ORG"]],
                                                                     "iob1")


def test_unknown_scheme():
    with pytest.raises(NerwinError, match="unknown tag scheme 'bio'"):
        to_iob2([["O"]], "bio")
