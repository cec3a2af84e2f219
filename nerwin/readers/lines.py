"""The lines of a UTF-8 data file, with problems worded as ``file:line: problem`` (used by every file reader)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from nerwin.errors import NerwinError

__all__ = ["shorten", "text_lines"]


def shorten(text: str, limit: int = 40) -> str:
    """repr of a text, cut to `limit` characters for a message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def text_lines(path: Path, kind: str = "data") -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of a UTF-8 file without line ends, and without byte-order marks at a
    line's start: a BOM is always dropped, at the file's start or stray further on (WNUT-17's dev file
    ends with a line holding only one), so such a line reads as blank."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NerwinError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NerwinError(f"{path}: is a folder, expected a {kind} file") from None
    except OSError as exc:
        raise NerwinError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NerwinError(
                    f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "save the file as UTF-8"
                ) from None
            yield number, text.rstrip("\r\n").lstrip("\ufeff")
