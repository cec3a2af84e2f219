"""One reader per kind of input, each giving IOB2 `Sentence`s: `columns` (CoNLL-style column files),
`spans` (JSONL records of text and character spans), `hub` (Hugging Face datasets). `nerwin.data` picks
the reader; these modules know nothing of splits or of each other."""
