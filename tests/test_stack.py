"""The neural stack (`nerwin/autodiff/`: engine, layers, optimizers) stays one small folder that knows
nothing of NER: a line budget (tinygrad-style; run with -s to see the counts), imports that point out of
it to nothing but numpy and the standard library (numba in kernels.py alone), and no NER vocabulary."""
from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import nerwin

STACK = Path(nerwin.__file__).parent / "autodiff"
BUDGET = 1_200  # code lines: not blank, not comments, not docstrings
NER_WORDS = ("crf", "viterbi", "tagger", "tagging", "tag", "tags", "entity", "entities", "iob", "iob1", "iob2",
             "conll", "ner", "word", "words", "sentence", "sentences", "token", "tokens")


def _stack_files() -> list[Path]:
    files = sorted(STACK.rglob("*.py"))
    assert {p.name for p in files} >= {"__init__.py", "tensor.py", "functions.py", "kernels.py", "sparse.py",
                                       "gradcheck.py", "nn.py", "optim.py"}
    return files


def _name(path: Path) -> str:
    return path.relative_to(STACK.parent.parent).as_posix()


def code_lines(source: str) -> int:
    """Lines holding code: tokens other than comments and line breaks, outside docstrings (the first
    statement of a module, class or function when it is a string)."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstrings)


def test_code_line_counter():
    source = '"""Module doc."""\nimport os  # a comment\n\n\ndef f(x):\n    """Doc\n    on two lines."""\n' \
             '    # only a comment\n    return (x +\n            1)\n'
    assert code_lines(source) == 4  # import, def, and the two lines of the return


def test_stack_code_line_budget():
    counts = {_name(p): code_lines(p.read_text(encoding="utf-8")) for p in _stack_files()}
    total = sum(counts.values())
    for name, n in counts.items():
        print(f"{name:<32} {n:>5}")
    print(f"{'stack total':<32} {total:>5} / {BUDGET}")
    assert total <= BUDGET, f"the stack has {total} code lines, over the {BUDGET} budget"


def _package(path: Path) -> str:
    """The package a module file's relative imports start from: nerwin.autodiff for every stack file."""
    return ".".join(path.relative_to(STACK.parent.parent).parts[:-1])


def _imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, relative forms resolved from `package`;
    `from a import b` gives a.b as well as a (b may be a module). Also import_module("...") and
    __import__("...") calls with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            found.append((node.lineno, node.args[0].value))
    return found


def _stack_imports() -> list[tuple[Path, int, str]]:
    return [(path, line, module) for path in _stack_files()
            for line, module in _imports(path.read_text(encoding="utf-8"), _package(path))]


def _outside_stack(module: str) -> bool:
    return (module == "nerwin" or module.startswith("nerwin.")) and not (
        module == "nerwin.autodiff" or module.startswith("nerwin.autodiff."))


def test_import_parsing_resolves_every_form():
    source = ("from . import kernels\nfrom .tensor import Tensor\nfrom ..tags import spans\nfrom .. import decode\n"
              "import nerwin.fast.cache\nfrom nerwin.fast import pool\n"
              "def f():\n    import numba\n    return importlib.import_module('nerwin.fast')\n")
    found = [m for _, m in _imports(source, "nerwin.autodiff")]
    assert found == ["nerwin.autodiff", "nerwin.autodiff.kernels", "nerwin.autodiff.tensor",
                     "nerwin.autodiff.tensor.Tensor", "nerwin.tags", "nerwin.tags.spans", "nerwin", "nerwin.decode",
                     "nerwin.fast.cache", "nerwin.fast", "nerwin.fast.pool", "numba", "nerwin.fast"]
    assert [m for m in found if _outside_stack(m)] == found[4:11] + found[12:]
    assert _package(STACK / "__init__.py") == _package(STACK / "nn.py") == "nerwin.autodiff"


def test_stack_imports_nothing_of_nerwin_outside_itself_and_numba_only_in_kernels():
    bad = []
    for path, line, module in _stack_imports():
        if _outside_stack(module):
            bad.append(f"{_name(path)}:{line}: imports {module}")
        if (module == "numba" or module.startswith("numba.")) and path.name != "kernels.py":
            bad.append(f"{_name(path)}:{line}: imports numba outside kernels.py")
    assert not bad, "\n".join(bad)


def test_stack_never_imports_the_speed_wing():
    bad = [f"{_name(p)}:{line}: imports {m}" for p, line, m in _stack_imports()
           if m == "nerwin.fast" or m.startswith("nerwin.fast.")]
    assert not bad, "\n".join(bad)
    # what really loads: the stack, used end to end (lazy imports included), brings no other nerwin module
    code = ("import sys, numpy as np\n"
            "import nerwin.autodiff, nerwin.autodiff.nn, nerwin.autodiff.optim\n"
            "from nerwin.autodiff import cross_entropy, nn, optim, tensor\n"
            "rng = np.random.default_rng(0)\n"
            "emb, lin = nn.Embedding(10, 3, rng), nn.Linear(6, 2, rng)\n"
            "opt = optim.Adam(emb.parameters() + lin.parameters())\n"
            "loss = cross_entropy(lin(nn.Tanh()(emb.windows(np.array([[1, 2], [3, 3]])))), [0, 1])\n"
            "loss.backward(); optim.clip_grad_norm(opt.params, 1.0); opt.step()\n"
            "print(sorted(m for m in sys.modules if m.startswith('nerwin.') and not m.startswith('nerwin.autodiff')))")
    root = str(STACK.parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"the stack loaded {done.stdout.strip()}"


def test_stack_source_has_no_ner_words_and_names_no_caller():
    word = re.compile(r"\b(" + "|".join(NER_WORDS) + r")\b", re.IGNORECASE)
    caller = re.compile(r"\bnerwin\.(?!autodiff\b)\w+")
    bad = []
    for path in _stack_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for pattern in (word, caller):
                for match in pattern.finditer(line):
                    bad.append(f"{_name(path)}:{number}: {match.group(0)!r} in {line.strip()!r}")
    assert not bad, "\n".join(bad)
