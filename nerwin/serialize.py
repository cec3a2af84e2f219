"""Model folders: JSON for everything that is not a number, safetensors for the arrays. No pickle.

    model/
      config.json          format name and version, hyper-parameters, tag set, feature settings
      vocab.json           the vocabulary of each feature column
      weights.safetensors  the parameters (float32), by dotted name

A training checkpoint (`nerwin.training`) is a folder of the same three files under its own format
name, so neither is ever taken for the other.

Loading reads JSON and raw arrays only, so a model file can never run code. Writing goes to a
temporary folder beside the target, then renames it into place: a crash leaves either the old
model or the new one, never half of one. An existing model is only replaced when asked to.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

from .errors import NerwinError

__all__ = ["FORMAT", "CHECKPOINT_FORMAT", "FORMAT_VERSION", "save_folder", "load_folder", "write_json_atomic",
           "atomic_text", "check_writable", "folder_contents", "load_contents"]

FORMAT = "nerwin-window-tagger"
CHECKPOINT_FORMAT = "nerwin-training-checkpoint"
FORMAT_VERSION = 1
_WHAT = {FORMAT: "nerwin model", CHECKPOINT_FORMAT: "nerwin training checkpoint"}
CONFIG, VOCAB, WEIGHTS = "config.json", "vocab.json", "weights.safetensors"


def check_writable(path: Path, force: bool) -> None:
    """Refuse to replace an existing model (or any existing path) unless force."""
    if path.exists() and not force:
        raise NerwinError(f"{path}: already exists; pass --force to replace it")
    if path.exists() and not (path / CONFIG).is_file():
        raise NerwinError(f"{path}: exists and is not a nerwin model folder; refusing to replace it")


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def atomic_text(path: Path, force: bool = False) -> Iterator[TextIO]:
    """A text file written through a temporary file beside `path`, renamed into place when the block
    ends without an error (removed otherwise). An existing `path` is replaced only with `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise NerwinError(f"{path}: already exists; pass --force to replace it")
    if path.is_dir():
        raise NerwinError(f"{path}: is a folder")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to `path` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _fsync_write(tmp, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
    os.replace(tmp, path)


def folder_contents(config: dict, vocab: dict, arrays: dict[str, np.ndarray], *, format: str = FORMAT
                    ) -> dict[str, bytes]:
    """The bytes of a model folder's three files, as `save_folder` writes them and `load_contents` reads them
    back (a tagger travels to other processes as these, never as code)."""
    from safetensors.numpy import save as st_save

    config = {"format": format, "format_version": FORMAT_VERSION, **config}
    return {CONFIG: (json.dumps(config, indent=2) + "\n").encode(),
            VOCAB: json.dumps(vocab, ensure_ascii=False).encode(),
            WEIGHTS: st_save({k: np.ascontiguousarray(v) for k, v in arrays.items()})}


def save_folder(path: str | Path, config: dict, vocab: dict, arrays: dict[str, np.ndarray],
                extra_files: dict[str, str] | None = None, *, format: str = FORMAT) -> Path:
    """Write a model folder (or with `format=CHECKPOINT_FORMAT` a checkpoint) atomically, replacing an
    existing one at `path`."""
    path = Path(path)
    finish_interrupted_save(path)
    if path.exists() and not (path / CONFIG).is_file():  # never replace what is not a model
        raise NerwinError(f"{path}: exists and is not a nerwin model folder; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, data in folder_contents(config, vocab, arrays, format=format).items():
            _fsync_write(tmp / name, data)
        for name, text in (extra_files or {}).items():
            _fsync_write(tmp / name, text.encode())
    except BaseException:  # a failed write (disk full, Ctrl-C) leaves the old model and no half folder
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def finish_interrupted_save(path: Path) -> None:
    """A save killed between its two renames leaves no `path`, the old model in `.NAME.old-PID` and the
    complete new one in `.NAME.tmp-PID`: finish that swap. (A save killed while writing leaves `path`
    untouched, so nothing is done then.)"""
    if path.exists():
        return
    for old in sorted(path.parent.glob(f".{path.name}.old-*")):
        new = path.with_name(f".{path.name}.tmp-{old.name.rsplit('-', 1)[1]}")
        if new.is_dir():
            os.replace(new, path)
            shutil.rmtree(old, ignore_errors=True)
            return


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def _remove_leftovers(path: Path) -> None:
    """Remove the hidden `.NAME.tmp-PID` / `.NAME.old-PID` folders of saves whose process is gone."""
    for leftover in path.parent.glob(f".{path.name}.*-*"):
        kind, _, pid = leftover.name[len(path.name) + 2:].partition("-")
        if kind in ("tmp", "old") and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise NerwinError(f"{path}: missing (not a complete nerwin model folder)")
    return _parse_json(path.read_bytes(), path)


def _parse_json(data: bytes, path: Path) -> dict:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NerwinError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(parsed, dict):
        raise NerwinError(f"{path}: expected a JSON object")
    return parsed


def _check_format(config: dict, path: Path, format: str) -> None:
    found = config.get("format")
    if found != format:
        if found in _WHAT:  # a model given as a checkpoint, or a checkpoint as a model
            hint = ("; `nerwin train ... --resume` finishes the run and writes the model"
                    if found == CHECKPOINT_FORMAT else "")
            raise NerwinError(f"{path}: a {_WHAT[found]}, not a {_WHAT[format]}{hint}")
        raise NerwinError(f"{path / CONFIG}: not a {_WHAT[format]} (format {found!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise NerwinError(f"{path / CONFIG}: model format version {version!r}; this nerwin reads version "
                          f"{FORMAT_VERSION} (upgrade nerwin to read newer models)")


def _parse_weights(data: bytes, path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    try:
        return st_load(data)
    except (SafetensorError, ValueError, OSError) as e:
        raise NerwinError(f"{path}: damaged or truncated weights ({e})") from None


def load_folder(path: str | Path, *, format: str = FORMAT) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """(config, vocab, arrays) of a model folder (or with `format=CHECKPOINT_FORMAT` a checkpoint), checked;
    NerwinError naming the file if anything is off."""
    path = Path(path)
    finish_interrupted_save(path)
    if not path.exists():
        raise NerwinError(f"{path}: no such model")
    if not path.is_dir():
        raise NerwinError(f"{path}: a model is a folder holding {CONFIG}, {VOCAB} and {WEIGHTS}")
    config = _read_json(path / CONFIG)
    _check_format(config, path, format)
    vocab = _read_json(path / VOCAB)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise NerwinError(f"{weights}: missing (not a complete nerwin model folder)")
    try:
        data = weights.read_bytes()
    except OSError as e:
        raise NerwinError(f"{weights}: cannot be read ({e})") from None
    return config, vocab, _parse_weights(data, weights)


def load_contents(files: dict[str, bytes], where: str | Path, *, format: str = FORMAT
                  ) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """`load_folder` for a folder's files held in memory (`folder_contents`), checked the same way; errors
    name `where`."""
    where = Path(where)
    config = _parse_json(files[CONFIG], where / CONFIG)
    _check_format(config, where, format)
    return config, _parse_json(files[VOCAB], where / VOCAB), _parse_weights(files[WEIGHTS], where / WEIGHTS)
