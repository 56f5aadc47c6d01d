"""File helpers shared by the readers: finding inputs, reading text exactly."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import BioNERInputError, Errors, location


def find_files(path: str | Path, suffixes: Iterable[str], fmt: str) -> list[Path]:
    """List the input files: the file itself, or matching files below a directory.

    path (str | Path): A file or a directory (searched recursively).
    suffixes (Iterable[str]): Lower-case file endings to accept in a directory.
    fmt (str): Format name, for the error message.
    RETURNS (list[Path]): Sorted paths, so conversions are reproducible.
    """
    path = Path(path)
    suffixes = tuple(suffixes)
    if not path.exists():
        raise BioNERInputError(Errors.E009.format(path=path))
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)
                   and not p.name.startswith("."))
    if not files:
        raise BioNERInputError(Errors.E010.format(fmt=fmt, path=path, patterns=", ".join(f"*{s}" for s in suffixes)))
    return files


def read_text(path: Path) -> str:
    """Read a UTF-8 file without newline translation or BOM removal.

    Standoff offsets count every character of the file as stored, CR of CRLF
    and a leading BOM included, so the text must not be normalised here.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BioNERInputError(Errors.E001.format(loc=f"{path}:{line}", err=err.reason)) from None


def display_path(path: Path, root: Path) -> str:
    """A path relative to the input root when possible, for compact reports."""
    try:
        rel = path.relative_to(root if root.is_dir() else root.parent)
        return str(rel)
    except ValueError:
        return str(path)


def iter_lines(path: Path, shown: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` without the line end, decoding line by line.

    The file is read as bytes and each line decoded on its own, so an invalid
    UTF-8 byte is reported at its own line (a text-mode file decodes in large
    chunks and fails at whichever line the chunk starts). LF, CRLF and CR line
    ends are accepted; a BOM at the start of the file is dropped.
    """
    lineno = 0
    with path.open("rb") as fh:
        for raw in fh:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise BioNERInputError(Errors.E001.format(loc=location(shown, lineno + 1), err=err.reason)) from None
            if lineno == 0 and text.startswith("\ufeff"):
                text = text[1:]
            text = text.rstrip("\r\n")
            if "\r" in text:  # old Mac line ends: CR without LF
                for part in text.split("\r"):
                    lineno += 1
                    yield lineno, part
                continue
            lineno += 1
            yield lineno, text
