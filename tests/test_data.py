"""Reading CoNLL files and the hub corpus: good data, every kind of bad data, and no network."""

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerwin.data import (
    DATA_ENV,
    HUB_DATASET,
    HUB_REVISION,
    Sentence,
    convert_hub_corpus,
    find_split_files,
    load_corpus,
    read_conll,
)
from nerwin.errors import NerwinError

GOOD = """-DOCSTART- -X- -X- O

Anna NNP B-NP B-PER
Berg NNP I-NP I-PER
lives VBZ B-VP O
in IN B-PP O
Oslo NNP B-NP B-LOC
. . O O

-DOCSTART- X X O

Acme NNP B-NP B-ORG
wins VBZ B-VP O
"""


def write(tmp_path, text, name="x.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_read_good(tmp_path):
    sentences = read_conll(write(tmp_path, GOOD))
    assert sentences == [
        Sentence(
            ["Anna", "Berg", "lives", "in", "Oslo", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "O"], 0, 3
        ),
        Sentence(["Acme", "wins"], ["B-ORG", "O"], 1, 12),
    ]


@pytest.mark.reliability
def test_two_columns_tabs_and_spaces_mixed(tmp_path):
    path = write(tmp_path, "Anna\tB-PER\nBerg \t I-PER\n\nsaid  X\t O\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["Anna", "Berg"], ["said"]]
    assert [s.tags for s in sentences] == [["B-PER", "I-PER"], ["O"]]


@pytest.mark.reliability
def test_crlf_and_bom(tmp_path):
    path = write(tmp_path, "\ufeffAnna B-PER\r\nBerg I-PER\r\n\r\nsaid O\r\n")
    sentences = read_conll(path)
    assert sentences[0].tokens == ["Anna", "Berg"] and sentences[0].tags == ["B-PER", "I-PER"]
    assert sentences[1].tokens == ["said"]


@pytest.mark.reliability
def test_iob1_is_converted(tmp_path):
    path = write(tmp_path, "Anna I-PER\nBerg I-PER\nKarl B-PER\nin O\nOslo I-LOC\n\nx O\n")
    assert read_conll(path)[0].tags == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]


@pytest.mark.reliability
def test_long_sentence(tmp_path):
    path = write(tmp_path, "".join(f"w{i} {'B-PER' if i % 3 == 0 else 'O'}\n" for i in range(100_000)))
    (sentence,) = read_conll(path)
    assert len(sentence.tokens) == 100_000 and sentence.tags[:2] == ["B-PER", "O"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"x\.txt: no sentences"),
        ("\n\n  \n", r"x\.txt: no sentences"),
        ("-DOCSTART- -X- -X- O\n\n-DOCSTART- O\n", r"x\.txt: no sentences"),
        ("Anna B-PER\nBerg\n", r"x\.txt:2: expected 'token \.\.\. tag', got 'Berg'"),
        ("Anna B-PER\n\nBerg B_PER\n", r"x\.txt:3: bad tag 'B_PER'"),
        ("Oslo X-LOC\n", r"x\.txt:1: bad tag 'X-LOC'"),
        ("Oslo B-\n", r"x\.txt:1: bad tag 'B-'"),
        (b"Anna B-PER\nOs\xe9lo B-LOC\n", r"x\.txt:2: not UTF-8 \(byte 0xe9 at column 3\)"),
    ],
)
@pytest.mark.reliability
def test_bad_files(tmp_path, content, message):
    with pytest.raises(NerwinError, match=message):
        read_conll(write(tmp_path, content))


@pytest.mark.reliability
def test_missing_file_and_folder(tmp_path):
    with pytest.raises(NerwinError, match=r"nope\.txt: no such file"):
        read_conll(tmp_path / "nope.txt")
    with pytest.raises(NerwinError, match="is a folder"):
        read_conll(tmp_path)


line_text = st.lists(
    st.sampled_from(list("ab -\tBIOXP_\r\ufeff\u00e9") + ["B-PER", "I-LOC", "-DOCSTART-", " O"]), max_size=8
).map("".join)


@pytest.mark.reliability
@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(line_text, st.binary(max_size=8)), max_size=12))
def test_fuzz_reader(tmp_path, lines):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode("utf-8") for x in lines))
    try:
        sentences = read_conll(path)
    except NerwinError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert sentences and all(len(s.tokens) == len(s.tags) > 0 for s in sentences)


# --- folders ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("train.txt", "valid.txt", "test.txt"),
        ("eng.train", "eng.testa", "eng.testb"),
        ("train.conll", "dev.conll", "testb"),
        ("TRAIN.TXT", "validation.txt", "test"),
    ],
)
def test_find_split_files(tmp_path, names):
    for name in names:
        write(tmp_path, "a O\n", name)
    found = find_split_files(tmp_path)
    assert {k: v.name for k, v in found.items()} == dict(zip(("train", "validation", "test"), names))


@pytest.mark.reliability
def test_find_split_files_errors(tmp_path):
    write(tmp_path, "a O\n", "valid.txt")
    with pytest.raises(
        NerwinError, match=rf"{tmp_path.name}: no training file; expected one of train, eng.train"
    ):
        find_split_files(tmp_path)
    with pytest.raises(NerwinError, match="no such folder"):
        find_split_files(tmp_path / "missing")


def make_folder(tmp_path, test=True):
    write(tmp_path, GOOD, "train.txt")
    write(tmp_path, "Oslo I-LOC\n", "valid.txt")
    if test:
        write(tmp_path, "Berg B-PER\n", "test.txt")
    return tmp_path


def test_load_corpus_from_folder(tmp_path):
    corpus = load_corpus(make_folder(tmp_path))
    assert set(corpus) == {"train", "validation", "test"}
    assert corpus["train"][1] == Sentence(["Acme", "wins"], ["B-ORG", "O"], 1, 12)
    assert corpus["validation"][0].tags == ["B-LOC"]  # IOB1 converted


def _content(corpus) -> dict:
    """Each split's sentences as (tokens, tags, document), after checking they are Sentences."""
    assert all(isinstance(s, Sentence) for split in corpus.values() for s in split)
    return {name: [(s.tokens, s.tags, s.doc) for s in split] for name, split in corpus.items()}


def test_every_source_gives_one_corpus_shape(tmp_path, monkeypatch):
    """A folder, named files, $NERWIN_DATA and the hub's rows all give {split: [Sentence]} alike."""
    import datasets

    folder = tmp_path / "folder"
    folder.mkdir()
    make_folder(folder, test=False)
    from_folder = load_corpus(folder)
    from_files = load_corpus(train_file=folder / "train.txt", dev_file=folder / "valid.txt")
    monkeypatch.setenv(DATA_ENV, str(folder))
    from_env = load_corpus()
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.ClassLabel(names=names))})

    def rows(*sentences):
        return datasets.Dataset.from_dict({"tokens": [[w for w, _ in s] for s in sentences],
                                           "ner_tags": [[names.index(t) for _, t in s] for s in sentences]},
                                          features=features)

    docstart = [("-DOCSTART-", "O")]
    hub = datasets.DatasetDict({
        "train": rows(docstart, [("Anna", "B-PER"), ("Berg", "I-PER"), ("lives", "O"), ("in", "O"),
                                 ("Oslo", "B-LOC"), (".", "O")], docstart, [("Acme", "B-ORG"), ("wins", "O")]),
        "valid": rows([("Oslo", "B-LOC")]),
    })
    from_hub = convert_hub_corpus(hub)
    assert _content(from_folder) == _content(from_files) == _content(from_env) == _content(from_hub)
    assert _content(from_hub)["train"][1] == (["Acme", "wins"], ["B-ORG", "O"], 1)


def test_load_corpus_picks_folder_then_files_then_env(tmp_path, monkeypatch):
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder, word in ((first, "Anna"), (second, "Berta"), (third, "Clara")):
        folder.mkdir()
        write(folder, f"{word} B-PER\n", "train.txt")
        write(folder, f"{word} B-PER\n", "valid.txt")
    monkeypatch.setenv(DATA_ENV, str(third))
    files = {"train_file": second / "train.txt", "dev_file": second / "valid.txt"}
    assert load_corpus(first, **files)["train"][0].tokens == ["Anna"]
    assert load_corpus(**files)["train"][0].tokens == ["Berta"]
    assert load_corpus()["train"][0].tokens == ["Clara"]
    with pytest.raises(NerwinError, match="--train-file and --dev-file"):
        load_corpus(train_file=second / "train.txt")


def test_load_corpus_env_and_optional_test(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(make_folder(tmp_path, test=False)))
    corpus = load_corpus()
    assert set(corpus) == {"train", "validation"}


@pytest.mark.reliability
def test_load_corpus_needs_validation(tmp_path):
    write(tmp_path, GOOD, "train.txt")
    with pytest.raises(NerwinError, match="no validation file"):
        load_corpus(tmp_path)


# --- hub, without the network ----------------------------------------------------------------------------


def test_hub_constants():
    assert HUB_DATASET == "eriktks/conll2003" and HUB_REVISION == "refs/convert/parquet"


@pytest.mark.reliability
def test_hub_unreachable_fails_fast(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(
        NerwinError, match=r"cannot reach the Hugging Face hub.*--data FOLDER or NERWIN_DATA=FOLDER"
    ):
        load_corpus()
    assert time.perf_counter() - start < 5


@pytest.mark.reliability
def test_hub_load_errors_become_nerwin_error(monkeypatch):
    import datasets

    def refuse(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # skips the probe; only the cache
    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(NerwinError, match=r"offline mode.*ConnectionError: offline.*NERWIN_DATA=FOLDER"):
        load_corpus()


def hub_like(tags_feature, tags):
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(tags_feature),
        }
    )
    data = {"id": ["0", "1"], "tokens": [["Anna", "Berg", "in", "Oslo"], ["Acme"]], "ner_tags": tags}
    split = datasets.Dataset.from_dict(data, features=features)
    return datasets.DatasetDict({"train": split, "validation": split})


def test_convert_hub_corpus_uses_feature_names():
    import datasets

    # Names in a different order from TAGS_CONLL2003: the features, not a fixed list, must decide.
    names = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    corpus = convert_hub_corpus(hub_like(datasets.ClassLabel(names=names), [[3, 4, 0, 1], [5]]))
    assert set(corpus) == {"train", "validation"}
    assert [s.tags for s in corpus["train"]] == [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]]


def test_convert_hub_corpus_iob1_and_bad_values():
    import datasets

    label = datasets.ClassLabel(names=["O", "I-PER", "I-LOC", "B-PER", "B_ORG"])
    corpus = convert_hub_corpus(hub_like(label, [[1, 1, 0, 2], [0]]))
    assert corpus["validation"][0].tags == ["B-PER", "I-PER", "O", "B-LOC"]
    with pytest.raises(NerwinError, match=r"\[train\] row 1: bad tag 'B_ORG'"):
        convert_hub_corpus(hub_like(label, [[0, 0, 0, 0], [4]]))


# --- the real corpus -------------------------------------------------------------------------------------

CONLL = Path(__file__).parents[2] / "shared/data/conll2003"


@pytest.mark.slow
@pytest.mark.skipif(not CONLL.is_dir(), reason="CoNLL-2003 not found")
def test_real_conll2003():
    from nerwin.tags import is_iob1
    from nerwin.tokenize import tokenize

    files = find_split_files(CONLL)
    counts = {split: len(read_conll(path)) for split, path in files.items()}
    assert counts == {"train": 14041, "validation": 3250, "test": 3453}
    train = read_conll(files["train"])
    assert not is_iob1(s.tags for s in train)
    # Joined with spaces, sentences must come back token for token (no token split apart).
    same = sum([t.text for t in tokenize(" ".join(s.tokens))] == s.tokens for s in train)
    assert same / len(train) >= 0.97, same / len(train)
