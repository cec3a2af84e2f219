"""Your data, your labels: column files with any columns and scheme, JSONL spans in every shape and every
span error, hub-shaped datasets, --dev-split, and odd label names through train, save, load, tag, evaluate."""
from __future__ import annotations

import json

import pytest

from nerwin.data import DataOptions, load_corpus, read_data, split_dev
from nerwin.errors import NerwinError
from nerwin.readers.hub import convert_hub_corpus
from nerwin.schemes import encode
from nerwin.tags import spans
from tests.helpers import TOY_TEST, TOY_TRAIN, TOY_VALID, fails, ok, read_toy_corpus, run

# Odd label names: hyphens, dots, underscores, non-ASCII.
ODD = {"PER": "Person.Name", "LOC": "Ort.Stadt", "ORG": "creative-work", "MISC": "LEGISLAÇÃO_2"}
TOKENS = ["Anna", "Berg", "met", "Acme", "Corp", "in", "São", "Paulo", "."]
ENTITIES = [(0, 2, "Person.Name"), (3, 5, "creative-work"), (6, 8, "Ort.Stadt")]
TEXT = "Anna Berg met Acme Corp in São Paulo ."
CHARS = [(0, 9, "Person.Name"), (14, 23, "creative-work"), (27, 36, "Ort.Stadt")]  # ENTITIES in TEXT


def write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def columns_text(sentences, scheme="iob2", sep="\t", extra=False, docstart=False):
    """Column text of (tokens, entities) sentences, tags written in `scheme`."""
    blocks = []
    for tokens, entities in sentences:
        tags = encode(entities, len(tokens), scheme)
        blocks.append("\n".join(sep.join([t, "NN", tag] if extra else [t, tag]) for t, tag in zip(tokens, tags)))
    head = "-DOCSTART- -X- O\n\n" if docstart else ""
    return head + "\n\n".join(blocks) + "\n"


# ---- column files ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["iob1", "iob2", "ioe1", "ioe2", "iobes", "bilou"])
def test_each_scheme_in_a_file_reads_as_the_same_iob2(tmp_path, scheme):
    sentences = [(TOKENS, ENTITIES), (["Anna", "Berg", "Berg"], [(0, 2, "Person.Name"), (2, 3, "Person.Name")])]
    path = write(tmp_path, columns_text(sentences, scheme))
    expected = [encode(e, len(t), "iob2") for t, e in sentences]
    assert [s.tags for s in read_data(path)] == expected  # detected
    assert [s.tags for s in read_data(path, DataOptions(scheme=scheme))] == expected  # named and checked
    assert read_data(path)[0].tokens == TOKENS


def test_named_scheme_reports_the_invalid_line(tmp_path):
    path = write(tmp_path, "Anna\tB-PER\nBerg\tE-PER\nmet\tO\n\nAcme\tS-ORG\nCorp\tB-ORG\n.\tO\n")
    with pytest.raises(NerwinError, match=rf"^{path}:6: tag 'B-ORG' between 'S-ORG' and 'O' is not valid IOBES "
                                          r"\(expected 'S-ORG'\)"):
        read_data(path, DataOptions(scheme="iobes"))
    with pytest.raises(NerwinError, match=rf"^{path}:2: tag 'E-PER': prefix E- is not part of IOB2"):
        read_data(path, DataOptions(scheme="iob2"))
    mixed = write(tmp_path, "Anna\tB-PER\nBerg\tL-PER\n\nAcme\tS-ORG\n", "mixed.txt")
    with pytest.raises(NerwinError, match=rf"^{mixed}: the tags mix the prefixes of several schemes"):
        read_data(mixed)


def test_columns_of_choice_tabs_spaces_and_docstart(tmp_path):
    sentences = [(TOKENS, ENTITIES)]
    plain = read_data(write(tmp_path, columns_text(sentences, sep=" "), "a.txt"))
    tabs = read_data(write(tmp_path, columns_text(sentences, docstart=True), "b.txt"))
    assert [(s.tokens, s.tags) for s in plain] == [(s.tokens, s.tags) for s in tabs]
    # token, POS, tag: the tag in column 3 is the last; column 2 read as the tag is not a tag
    three = write(tmp_path, columns_text(sentences, extra=True), "c.txt")
    assert [s.tags for s in read_data(three, DataOptions(tag_column=3))] == [plain[0].tags]
    assert [s.tags for s in read_data(three, DataOptions(tag_column=-1))] == [plain[0].tags]
    with pytest.raises(NerwinError, match=rf"{three}:1: bad tag 'NN'"):
        read_data(three, DataOptions(tag_column=2))
    # tag first, token second
    swapped = write(tmp_path, "B-PER Anna\nO met\n", "d.txt")
    assert read_data(swapped, DataOptions(token_column=2, tag_column=1))[0].tokens == ["Anna", "met"]
    with pytest.raises(NerwinError, match="counts from 1"):
        read_data(swapped, DataOptions(token_column=0))
    with pytest.raises(NerwinError, match=rf"{three}:1: expected the token in column 1 and the tag in column 5"):
        read_data(three, DataOptions(tag_column=5))


@pytest.mark.reliability
def test_stray_bom_and_blank_token_lines(tmp_path):
    """WNUT-17's dev file ends with a line holding a lone byte-order mark; a line with a tag and no token
    is reported as such."""
    path = write(tmp_path, "\ufeffAnna\tB-person\nsaid\tO\n\n\ufeff\n\ufeffOslo\tB-location\n\ufeff\n")
    assert [(s.tokens, s.tags) for s in read_data(path)] == [(["Anna", "said"], ["B-person", "O"]),
                                                             (["Oslo"], ["B-location"])]
    no_token = write(tmp_path, "Anna\tB-person\n\tO\n", "x.txt")
    with pytest.raises(NerwinError, match=rf"{no_token}:2: expected 'token \.\.\. tag', got '\\tO' "
                                          r"\(a tag without a token\)"):
        read_data(no_token)


# ---- JSONL with character spans --------------------------------------------------------------------------

SHAPES = {
    "spacy/prodigy spans": {"text": TEXT, "spans": [{"start": s, "end": e, "label": k} for s, e, k in CHARS]},
    "doccano label": {"text": TEXT, "label": [[s, e, k] for s, e, k in CHARS]},
    "doccano entities": {"text": TEXT, "entities": [{"id": 1, "start_offset": s, "end_offset": e, "label": k}
                                                    for s, e, k in CHARS]},
    "nerwin tag --format json": {"text": TEXT, "entities": [{"text": TEXT[s:e], "label": k, "start": s, "end": e,
                                                             "score": 0.9} for s, e, k in CHARS]},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_jsonl_shape(tmp_path, shape):
    lines = [json.dumps(SHAPES[shape], ensure_ascii=False), "", json.dumps({"text": "Nothing here ."})]
    path = write(tmp_path, "\n".join(lines) + "\n", "data.jsonl")
    first, second = read_data(path)
    assert first.tokens == TOKENS and spans(first.tags) == ENTITIES
    assert (second.tokens, second.tags, second.line) == (["Nothing", "here", "."], ["O", "O", "O"], 3)
    assert first.doc != second.doc  # a record is a document


def test_jsonl_is_detected_by_content_and_spans_lose_edge_whitespace(tmp_path):
    record = {"text": "Anna Berg  left", "spans": [{"start": 0, "end": 10, "label": "PER"}]}  # "Anna Berg "
    path = write(tmp_path, json.dumps(record) + "\n", "records.txt")
    (sentence,) = read_data(path)
    assert sentence.tags == ["B-PER", "I-PER", "O"]
    with pytest.raises(NerwinError, match="no columns or tag scheme"):
        read_data(path, DataOptions(scheme="iob2"))


SPAN_ERRORS = {
    "cuts a token": ({"text": "Anna Bergman left", "spans": [[0, 8, "PER"]]},
                     "span 0-8 'PER' ('Anna Ber') cuts the token 'Bergman' (5-12)"),
    "overlaps another": ({"text": "Anna Berg left", "spans": [[0, 9, "PER"], [5, 9, "LOC"]]},
                         "span 0-9 'PER' ('Anna Berg') overlaps span 5-9 'LOC' ('Berg')"),
    "past the end": ({"text": "Anna", "spans": [[0, 7, "PER"]]}, "span 0-7 'PER' points outside the text (0-4)"),
    "negative start": ({"text": "Anna", "spans": [[-1, 2, "PER"]]}, "span -1-2 'PER' points outside the text"),
    "empty": ({"text": "Anna", "spans": [[2, 2, "PER"]]}, "span 2-2 'PER' is empty"),
    "only whitespace": ({"text": "Anna  Berg", "spans": [[4, 6, "PER"]]},
                        "span 4-6 'PER' ('  ') holds only whitespace"),
    "label with a space": ({"text": "Anna", "spans": [[0, 4, "a b"]]}, "span 0-4 has label 'a b'"),
    "not a span": ({"text": "Anna", "spans": [[0, 4]]}, "a span in \"spans\" must have integer start and end"),
    "spans not a list": ({"text": "Anna", "label": "PER"}, "\"label\" must be a list of spans"),
    "no text": ({"spans": []}, "expected an object with a \"text\" string"),
}


@pytest.mark.reliability
@pytest.mark.parametrize("case", SPAN_ERRORS)
def test_each_span_error_names_line_and_span(tmp_path, case):
    record, message = SPAN_ERRORS[case]
    path = write(tmp_path, json.dumps({"text": "Fine ."}) + "\n" + json.dumps(record) + "\n", "x.jsonl")
    with pytest.raises(NerwinError) as error:
        read_data(path)
    assert str(error.value).startswith(f"{path}:2: ") and message in str(error.value), str(error.value)


@pytest.mark.reliability
def test_bad_json_line(tmp_path):
    path = write(tmp_path, '{"text": "Fine ."}\n{"text": "Anna", \n', "x.jsonl")
    with pytest.raises(NerwinError, match=rf"^{path}:2: not JSON"):
        read_data(path)


def test_snap_widens_cut_spans_but_keeps_overlaps_errors(tmp_path):
    path = write(tmp_path, json.dumps({"text": "Anna Bergman left", "spans": [[1, 8, "PER"]]}) + "\n", "x.jsonl")
    (sentence,) = read_data(path, DataOptions(snap=True))
    assert sentence.tags == ["B-PER", "I-PER", "O"]
    both = write(tmp_path, json.dumps({"text": "Bergman", "spans": [[0, 3, "PER"], [4, 7, "LOC"]]}) + "\n", "y.jsonl")
    with pytest.raises(NerwinError, match="overlaps span 4-7 'LOC' .* once snapped to token boundaries"):
        read_data(both, DataOptions(snap=True))


def test_evaluate_cli_with_jsonl_fails_cleanly_on_a_cut_span(tmp_path, tiny_model):
    path = write(tmp_path, json.dumps({"text": "Anna Bergman left", "spans": [[0, 8, "PER"]]}) + "\n", "x.jsonl")
    fails(run("evaluate", path, "-m", tiny_model), f"{path}:1: span 0-8 'PER'", "--snap")


# ---- hub-shaped datasets ---------------------------------------------------------------------------------

def _hub(tags_feature, tags, tokens_column="tokens", tags_column="ner_tags", splits=("train", "validation")):
    import datasets

    features = datasets.Features({tokens_column: datasets.List(datasets.Value("string")),
                                  tags_column: datasets.List(tags_feature)})
    rows = {tokens_column: [["Anna", "Berg", "in", "Oslo"], ["Acme"]], tags_column: tags}
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(rows, features=features) for s in splits})


def test_hub_class_label_names_with_odd_labels_and_bioes():
    import datasets

    names = ["O", "B-Person.Name", "E-Person.Name", "S-Ort.Stadt", "S-creative-work"]
    corpus = convert_hub_corpus(_hub(datasets.ClassLabel(names=names), [[1, 2, 0, 3], [4]]), "me/data")
    assert [s.tags for s in corpus["train"]] == [["B-Person.Name", "I-Person.Name", "O", "B-Ort.Stadt"],
                                                 ["B-creative-work"]]


def test_hub_string_tags_and_named_columns():
    import datasets

    hub = _hub(datasets.Value("string"), [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]], "words", "labels")
    corpus = convert_hub_corpus(hub, "me/data", tokens_column="words", tags_column="labels")
    assert corpus["validation"][0].tags == ["B-PER", "I-PER", "O", "B-LOC"]
    with pytest.raises(NerwinError, match=r"me/data \[train\]: expected a token column 'tokens' and a tag column"):
        convert_hub_corpus(hub, "me/data")


@pytest.mark.reliability
def test_hub_integer_tags_without_names_are_refused():
    """No ClassLabel: ids are not read in CoNLL-2003's order (that silently swapped labels)."""
    import datasets

    with pytest.raises(NerwinError, match=r"me/data \[train\]: column 'ner_tags' holds int64 tags without label "
                                          r"names.*will not guess"):
        convert_hub_corpus(_hub(datasets.Value("int64"), [[1, 2, 0, 5], [3]]), "me/data")


def test_load_corpus_hub_by_id(monkeypatch):
    """`--hub NAME:CONFIG` reaches datasets.load_dataset with the name and config (offline: no probe)."""
    import datasets

    calls = []

    def fake_load(**arguments):
        calls.append(arguments)
        return _hub(datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC"]), [[1, 2, 0, 3], [0]],
                    splits=("train",))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    corpus = load_corpus(hub="me/data:en", dev_split=0.5, seed=3)
    assert calls == [{"path": "me/data", "name": "en"}]
    assert len(corpus["train"]) == len(corpus["validation"]) == 1
    with pytest.raises(NerwinError, match="the data has no dev split .*--dev-split"):
        load_corpus(hub="me/data")


@pytest.mark.reliability
def test_hub_by_id_fails_fast_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    fails(run("train", tmp_path / "m", "--hub", "me/data", "--quiet"), "cannot reach the Hugging Face hub")
    fails(run("train", tmp_path / "m", "--data", tmp_path, "--tags-column", "x"), "--tags-column", "--hub")


# ---- --dev-split ---------------------------------------------------------------------------------------

def test_dev_split_is_deterministic_and_by_document(toy_corpus):
    train = toy_corpus["train"]
    first, again = split_dev(train, 0.2, seed=5), split_dev(train, 0.2, seed=5)
    assert first == again
    assert any(split_dev(train, 0.2, seed=s)[1] != first[1] for s in range(6, 9))
    rest, dev = first
    docs = {s.doc for s in train}
    assert not {s.doc for s in rest} & {s.doc for s in dev}  # no document split between the two
    assert len({s.doc for s in dev}) == round(0.2 * len(docs))
    assert sorted(map(id, rest + dev)) == sorted(map(id, train))


def test_dev_split_by_sentence_without_documents_and_its_errors(tmp_path):
    path = write(tmp_path, "".join(f"w{i}\tO\n\n" for i in range(10)))
    corpus = load_corpus(train_file=path, dev_split=0.3, seed=1)
    assert len(corpus["validation"]) == 3 and len(corpus["train"]) == 7
    assert corpus == load_corpus(train_file=path, dev_split=0.3, seed=1)
    with pytest.raises(NerwinError, match="between 0 and 1"):
        load_corpus(train_file=path, dev_split=1.5)
    with pytest.raises(NerwinError, match="--dev-split is for data without a dev file"):
        load_corpus(train_file=path, dev_file=path, dev_split=0.3)
    with pytest.raises(NerwinError, match="--dev-split FRACTION"):
        load_corpus(train_file=path)


# ---- odd label names end to end --------------------------------------------------------------------------

def _renamed(sentences):
    return [(s.tokens, [(a, b, ODD[k]) for a, b, k in spans(s.tags)]) for s in sentences]


def test_odd_labels_train_save_load_tag_and_evaluate(tmp_path):
    """The toy corpus with odd label names: train in BILOU columns, dev in BIOES, test as JSONL spans."""
    toy = read_toy_corpus()
    train = write(tmp_path, columns_text(_renamed(toy["train"]), "bilou"), "train.conll")
    dev = write(tmp_path, columns_text(_renamed(toy["validation"]), "iobes", sep=" "), "dev.txt")
    lines = []
    for tokens, entities in _renamed(toy["test"]):
        starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
        lines.append(json.dumps({"text": " ".join(tokens), "spans": [
            {"start": starts[a], "end": starts[b - 1] + len(tokens[b - 1]), "label": k} for a, b, k in entities]},
            ensure_ascii=False))
    test = write(tmp_path, "\n".join(lines) + "\n", "test.jsonl")
    model = tmp_path / "model"
    ok(run("train", model, "--train-file", train, "--dev-file", dev, "--epochs", "2", "--hidden", "16",
           "--word-dim", "8", "--batch-size", "128", "--lr", "0.01", "--quiet"))

    from nerwin.tagger import load

    tagger = load(model)
    assert set(tagger.tags) == {"O"} | {f"{p}-{k}" for k in ODD.values() for p in "BI"}
    found = tagger([" ".join(s.tokens) for s in toy["test"]])
    assert {e.label for entities in found for e in entities} == set(ODD.values())

    report = json.loads(ok(run("evaluate", test, "-m", model, "-F", "json")))
    assert set(report["per_type"]) == set(ODD.values()) and report["f1"] > 80, report["f1"]
    text = ok(run("evaluate", test, "-m", model))
    table = text[text.index("type "):].split("\n\n")[0].splitlines()
    assert len(table) == 5 and len({len(line) for line in table}) == 1  # long names keep the columns aligned
    assert any(line.startswith("LEGISLAÇÃO_2 ") for line in table)
    # the same gold as columns in IOE2, read with --scheme: the same scores
    ioe = write(tmp_path, columns_text(_renamed(toy["test"]), "ioe2"), "test.ioe")
    same = json.loads(ok(run("evaluate", ioe, "-m", model, "-F", "json", "--scheme", "ioe2")))
    assert same["f1"] == report["f1"] and same["per_type"] == report["per_type"]


def test_load_corpus_takes_a_test_file():
    toy = load_corpus(train_file=TOY_TRAIN, dev_file=TOY_VALID, test_file=TOY_TEST)
    assert [s.tags for s in toy["test"]] == [s.tags for s in read_toy_corpus()["test"]]
