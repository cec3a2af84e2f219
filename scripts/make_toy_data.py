"""Write nerwin's toy NER corpus: data/toy/{train,valid,test}.txt, small, synthetic and deterministic.

    python scripts/make_toy_data.py            # writes data/toy/ beside this script's project
    python scripts/make_toy_data.py --out DIR  # somewhere else

Every sentence comes from a template below with made-up people, places, organizations and
"miscellaneous" names (nationalities, events) filled in, so the files are ours to commit and share.
The format is CoNLL-2003's: `token POS chunk NER`, one token a line, blank lines between sentences,
`-DOCSTART- X X O` between documents, IOB2 tags (PER, LOC, ORG, MISC). POS and chunk columns are
placeholders (NNP for entity words, X for the rest). The same seed always writes the same bytes.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

SEED = 2003
SIZES = {"train": 1500, "valid": 300, "test": 300}  # sentences per split
NOVEL_SHARE = 0.25  # share of name words in valid and test drawn from names never used in train

# Made-up names. No line of any real corpus is used; these only have to look like English news.
FIRST = ["Talvo", "Orsina", "Brenik", "Mirelle", "Castor", "Juno", "Edrik", "Sabeth", "Lorcan", "Pim",
         "Quill", "Ravena", "Tobiah", "Ysolde", "Harl", "Nadine", "Oskel", "Femi", "Ulla", "Dacre"]
LAST = ["Brenwick", "Melk", "Ostrander", "Vael", "Quorrin", "Tammet", "Hollis", "Drabek", "Sunvale",
        "Korrigan", "Pelt", "Wystan", "Abernach", "Lusk", "Fairgrave", "Odum", "Renzik", "Calloway"]
PLACES = ["Velmora", "Ostrel", "Brindle", "Kaskar", "Tallowmere", "Zennor", "Quorra", "Amberlin",
          "Dunmarch", "Sorrelby", "Vask", "Harrowgate", "Lindqvist", "Morrow"]
PLACE_PREFIX = ["New", "Port", "North", "Lake", "Upper", "San"]
ORG_TAIL = [["Corp"], ["Holdings"], ["United"], ["Tin", "Corp"], ["Rail"], ["Bank"], ["Group"],
            ["Mining", "Co"], ["Rovers"], ["Telecom"]]
ORG_WORDS = ["Greyfen", "Alder", "Kestrel", "Northwind", "Bellweather", "Cobalt", "Ironvale", "Sable",
             "Marrow", "Tidewell"]
NATIONS = ["Velmoran", "Ostrelian", "Kaskari", "Zennish", "Quorran", "Brindlese"]
EVENTS = [["Glimmer", "Cup"], ["Kaskar", "Open"], ["Amber", "Games"], ["Northern", "Classic"],
          ["Tallow", "Trophy"]]
POOLS = {"FIRST": FIRST, "LAST": LAST, "PLACES": PLACES, "ORG_WORDS": ORG_WORDS}
# Names only the valid and test splits use (a quarter of their name words), so scores there also show
# how the model does on words it never saw in training.
NOVEL = {"FIRST": ["Aurel", "Brisa", "Corvin", "Delphine", "Emrys", "Galen"],
         "LAST": ["Thistlewood", "Marchetti", "Voss", "Quennell", "Ardmore", "Pryce"],
         "PLACES": ["Elderholm", "Carrowbay", "Wenlock", "Istrava", "Pellmoor"],
         "ORG_WORDS": ["Hawthorne", "Lumen", "Brightwater", "Corvid"]}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
VERBS = ["rose", "fell", "held", "slipped", "jumped"]

# Templates: {PER} {LOC} {ORG} {MISC} are entity slots, {DAY} {NUM} {VERB} plain words.
TEMPLATES = [
    "{PER} visited {LOC} on {DAY} .",
    "{ORG} said profits {VERB} .",
    "{PER} , who works for {ORG} , arrived in {LOC} .",
    "{PER} beat {PER} {NUM}-{NUM} .",
    "The {MISC} team lost to {LOC} .",
    "{LOC} and {LOC} signed a deal .",
    "Shares in {ORG} {VERB} {NUM} percent .",
    "{MISC} officials met in {LOC} on {DAY} .",
    "It was quiet in {LOC} .",
    "Prices {VERB} on {DAY} .",
    "No change was expected .",
    "{PER} ( {LOC} ) {NUM}",
    "{ORG} {NUM} {ORG} {NUM}",
    "{PER} won the {MISC} in {LOC} .",
    "{ORG} bought {ORG} .",
    "{PER} said {ORG} would grow .",
    "Police in {LOC} arrested {PER} .",
    "Talks with {MISC} leaders ended .",
]


class Names:
    """Draws made-up names; with `novel` > 0 that share of name words comes from the NOVEL lists."""

    def __init__(self, rng: random.Random, novel: float = 0.0):
        self.rng, self.novel = rng, novel

    def word(self, pool: str) -> str:
        if self.novel and self.rng.random() < self.novel:
            return self.rng.choice(NOVEL[pool])
        return self.rng.choice(POOLS[pool])

    def PER(self) -> list[str]:
        roll = self.rng.random()
        if roll < 0.2:
            return [self.word("LAST")]
        if roll < 0.9:
            return [self.word("FIRST"), self.word("LAST")]
        return [self.word("FIRST"), self.word("FIRST"), self.word("LAST")]

    def LOC(self) -> list[str]:
        if self.rng.random() < 0.25:
            return [self.rng.choice(PLACE_PREFIX), self.word("PLACES")]
        return [self.word("PLACES")]

    def ORG(self) -> list[str]:
        if self.rng.random() < 0.2:
            return ["Bank", "of", self.word("PLACES")]
        return [self.word("ORG_WORDS"), *self.rng.choice(ORG_TAIL)]

    def MISC(self) -> list[str]:
        return [self.rng.choice(NATIONS)] if self.rng.random() < 0.6 else list(self.rng.choice(EVENTS))


ENTITIES = ("PER", "LOC", "ORG", "MISC")
WORDS = {"DAY": lambda rng: rng.choice(DAYS), "NUM": lambda rng: str(rng.randint(1, 9)),
         "VERB": lambda rng: rng.choice(VERBS)}


def sentence(names: Names) -> list[tuple[str, str]]:
    """One (token, IOB2 tag) list from a random template."""
    rng = names.rng
    out: list[tuple[str, str]] = []
    for word in rng.choice(TEMPLATES).split():
        slot = word[1:word.index("}")] if word.startswith("{") else None
        if slot in ENTITIES:
            tokens = getattr(names, slot)()
            out += [(t, ("B-" if i == 0 else "I-") + slot) for i, t in enumerate(tokens)]
        elif slot in WORDS:  # "{NUM}-{NUM}" and friends: fill every slot of the word
            text = word
            for name, fill in WORDS.items():
                while "{" + name + "}" in text:
                    text = text.replace("{" + name + "}", fill(rng), 1)
            out.append((text, "O"))
        else:
            out.append((word, "O"))
    return out


def conll_lines(rng: random.Random, n_sentences: int, novel: float = 0.0) -> list[str]:
    """A CoNLL file's lines: documents of 4-12 sentences, each opened by -DOCSTART-."""
    names = Names(rng, novel)
    lines: list[str] = []
    left = n_sentences
    while left > 0:
        lines += ["-DOCSTART- X X O", ""]
        for _ in range(min(left, rng.randint(4, 12))):
            for token, tag in sentence(names):
                pos = "NNP" if tag != "O" else ("." if token in ".,()" else "X")
                lines.append(f"{token} {pos} X {tag}")
            lines.append("")
            left -= 1
    return lines


def write_toy_data(out: Path, seed: int = SEED) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, (split, n) in enumerate(SIZES.items()):
        rng = random.Random(seed * 10 + i)
        path = out / f"{split}.txt"
        novel = 0.0 if split == "train" else NOVEL_SHARE
        path.write_text("\n".join(conll_lines(rng, n, novel)) + "\n", encoding="utf-8", newline="\n")
        written[split] = path
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "toy")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    for split, path in write_toy_data(args.out, args.seed).items():
        print(f"{split:<6} {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
