"""The pictures of README's "Views" section, made again: screenshots of the pages in headless Chromium.

    python scripts/screenshots.py [--data FOLDER] [--curves]

Writes docs/tag.png (the `nerwin tag --format html` page of a few made-up sentences), docs/report.png
(the top of the `nerwin evaluate --html` report of the shipped model on CoNLL-2003 dev: scores, confusion,
reliability diagram; cropped above the sentences, which are the data set's text) and
docs/report-sentences.png (the report's "sentences with a mistake", from the synthetic toy test set).
With --curves it also trains the classic model (plain `nerwin train`, row 1 of README's ablation; a
minute or two) on CoNLL-2003 and copies its curves to docs/curves.svg. Each page is made by the `nerwin`
command itself; the crop is the browser's window size.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import ROOT, data_folder

DOCS = ROOT / "docs"
SENTENCES = [  # made up for the picture (no data set's text)
    "Samuel Quinn was arrested in the Hilton Hotel in Paris in April 1989 .",
    "Angela Merkel met Emmanuel Macron in Berlin on Tuesday , the German government said .",
    "Shares of Siemens rose 2 percent in Frankfurt after the Reuters report .",
    "Real Madrid beat Bayern Munich 2-1 in the Champions League semi-final .",
]


def nerwin(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "nerwin.cli", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def screenshot(page: Path, png: Path, width: int, height: int, work: Path) -> None:
    """`page` as the browser shows it in a window of width x height (what is below is cut off)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("no chromium binary found (apt-get install chromium)")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", f"--user-data-dir={work / 'profile'}",
                    f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri()],
                   check=True, capture_output=True)
    print(f"{png.relative_to(ROOT)}: {png.stat().st_size / 1024:.0f} KB")


def section(page: Path, heading: str, out: Path) -> Path:
    """A copy of a report page from `heading` on (its style kept): the part a screenshot should show."""
    markup = page.read_text(encoding="utf-8")
    head, body = markup.split("<body>", 1)
    out.write_text(head + "<body>\n" + body[body.index(heading):], encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="CoNLL-2003 folder (default: $NERWIN_DATA or ../shared/data/conll2003)")
    ap.add_argument("--curves", action="store_true", help="also train the classic model for docs/curves.svg")
    args = ap.parse_args()
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
        nerwin("tag", "--file", str(work / "in.txt"), "-F", "html", "-o", str(work / "tag.html"))
        screenshot(work / "tag.html", DOCS / "tag.png", 860, 420, work)

        dev = os.path.relpath(data_folder(args.data) / "valid.txt", ROOT)  # as the page names it
        nerwin("evaluate", dev, "--html", str(work / "report.html"))
        screenshot(work / "report.html", DOCS / "report.png", 900, 1270, work)

        nerwin("evaluate", "data/toy/test.txt", "--html", str(work / "toy.html"))
        part = section(work / "toy.html", "<h2>Sentences with a mistake", work / "toy-sentences.html")
        screenshot(part, DOCS / "report-sentences.png", 900, 520, work)

        if args.curves:
            nerwin("train", str(work / "model"), "--data", str(data_folder(args.data)), "--quiet")
            shutil.copy(work / "model.curves.svg", DOCS / "curves.svg")
            print("docs/curves.svg: the classic model's training curves")


if __name__ == "__main__":
    main()
