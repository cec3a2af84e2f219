"""The engine stays small (a tinygrad-style line budget): run with -s to see the counts."""

from __future__ import annotations

from pathlib import Path

import nerwin

PACKAGE = Path(nerwin.__file__).parent
ENGINE_BUDGET = 1_400  # non-blank lines in nerwin/autodiff/*.py (raised from 1,200 for the CRF and Viterbi kernels)


def _non_blank_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_engine_line_budget():
    engine = sorted(p for p in (PACKAGE / "autodiff").glob("*.py") if p.name not in ("nn.py", "optim.py"))
    assert {p.name for p in engine} >= {"tensor.py", "functions.py", "kernels.py", "gradcheck.py"}
    counts = {f"autodiff/{p.name}": _non_blank_lines(p) for p in engine}
    total = sum(counts.values())
    counts.update({name: _non_blank_lines(PACKAGE / "autodiff" / name) for name in ("nn.py", "optim.py")})
    for name, n in counts.items():
        print(f"{name:<24} {n:>5}")
    print(f"{'engine total':<24} {total:>5} / {ENGINE_BUDGET}")
    assert total < ENGINE_BUDGET, (
        f"the autodiff engine has {total} non-blank lines, over the {ENGINE_BUDGET} budget"
    )
