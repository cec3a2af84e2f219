"""What a non-editable install ships: every package of the source tree, and the shipped model."""
from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_of_the_source_tree_is_in_the_wheel():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nerwin").rglob("__init__.py")}
    listed = set(_setuptools()["packages"])
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


def test_the_shipped_model_is_package_data():
    config = _setuptools()
    assert config["package-dir"]["nerwin.models"] == "models"
    patterns = config["package-data"]["nerwin.models"]
    shipped = {p.relative_to(ROOT / "models").as_posix() for p in (ROOT / "models" / "default").iterdir()}
    assert all(any(Path(f).match(pattern) for pattern in patterns) for f in shipped), shipped
