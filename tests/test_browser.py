"""The views in a real browser: headless Chromium (Debian's `chromium`, which `.ci/run` installs) renders
the `nerwin tag` page and the `nerwin evaluate` report, and the rendered DOM is checked: the marks and
labels in order, the charts there, and no script from the text run (a control page shows that scripts
do run in this browser, so an unchanged title means something)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nerwin.cli import app
from tests.helpers import parse_marks, write_conll
from tests.test_views import REPORT_CONLL

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium binary found (Debian's chromium package; "
                                "`.ci/run` installs it with apt-get)")
runner = CliRunner()
# Would change the page's title if the browser ran it: as a script element, or as an image's error handler.
ATTACK = "<script>document.title='pwned'</script> <img src=x onerror=\"document.title='pwned'\">"


def rendered_dom(page: Path, tmp_path: Path) -> str:
    """The DOM Chromium builds from `page`, scripts run, serialized (`--dump-dom`)."""
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def title(dom: str) -> str:
    return dom.split("<title>", 1)[1].split("</title>", 1)[0]


def test_the_browser_runs_scripts_so_an_unchanged_title_means_none_ran(tmp_path):
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>before</title></head><body>{ATTACK}</body></html>")
    assert title(rendered_dom(control, tmp_path)) == "pwned"


def test_tag_page_in_a_browser_marks_each_entity_in_order_and_runs_nothing_from_the_text(
        tmp_path, tiny_model, tiny_tagger):
    lines = ["Talvo Brenwick visited Velmora on Monday .", f"Greyfen Corp said {ATTACK} in Velmora & Quillon ."]
    source, page = tmp_path / "in.txt", tmp_path / "page.html"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["tag", "--file", str(source), "-m", str(tiny_model), "-F", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output

    dom_text = rendered_dom(page, tmp_path)
    dom = parse_marks(dom_text)
    expected = tiny_tagger(lines)
    assert sum(len(e) for e in expected) >= 3
    assert [b["text"] for b in dom.blocks] == lines  # the text as written, markup and all
    assert [b["marks"] for b in dom.blocks] == [[(e.text, e.label) for e in ents] for ents in expected]
    assert title(dom_text) == "nerwin: entities"
    assert not any(tag in ("script", "img") for tag, _ in dom.tags)


def test_evaluate_report_in_a_browser_shows_the_chart_the_sentences_and_runs_nothing(tmp_path, tiny_model):
    data, page = write_conll(tmp_path, REPORT_CONLL), tmp_path / "report.html"
    result = runner.invoke(app, ["evaluate", str(data), "-m", str(tiny_model), "--html", str(page)])
    assert result.exit_code == 0, result.output
    report = json.loads(runner.invoke(app, ["evaluate", str(data), "-m", str(tiny_model), "-F", "json"]).stdout)

    dom_text = rendered_dom(page, tmp_path)
    dom = parse_marks(dom_text)
    assert title(dom_text) == "nerwin: evaluation"
    assert not any(tag == "script" for tag, _ in dom.tags)
    bars = [a for t, a in dom.tags if t == "rect" and a.get("class") == "bar"]
    assert any(t == "svg" for t, _ in dom.tags)
    assert len(bars) == sum(1 for b in report["calibration"]["bins"] if b["count"]) > 0
    # as the file was written (tests/test_views.py checks its blocks against gold and predictions)
    assert [(b["class"], b["marks"], b["text"]) for b in dom.blocks] == [
        (b["class"], b["marks"], b["text"]) for b in parse_marks(page.read_text(encoding="utf-8")).blocks]
    assert [b["class"] for b in dom.blocks] == ["doc gold", "doc pred"] * 3
    assert "<script>document.title='pwned'</script>" in dom.blocks[2]["text"]
