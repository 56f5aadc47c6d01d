"""File helpers shared by the readers: finding inputs, reading text exactly."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import BioNERInputError, Errors, location
from .limits import Limits

#: The white space that separates columns: a TAB or an ASCII space.
ASCII_SPACE = " \t"
_LINE_END = re.compile(r"\r\n|\r|\n")


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


def read_bytes(path: Path, shown: str | Path | None = None) -> bytes:
    """Read a file, turning an operating-system error into an error that names it."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise BioNERInputError(Errors.E028.format(path=shown or path, what="read", err=err.strerror or err)) from None


def read_text(path: Path, shown: str | None = None, limits: Limits | None = None) -> str:
    """Read a UTF-8 file without newline translation or BOM removal.

    Standoff offsets count every character of the file as stored, CR of CRLF
    and a leading BOM included, so the text must not be normalised here.

    path (Path): The file.
    shown (str | None): Its name in messages; the path when None.
    limits (Limits | None): Check the file against the document size, before
        reading it (every character takes at most 4 bytes) and after decoding.
    RETURNS (str): The text.
    """
    where = shown or str(path)
    if limits is not None:
        try:
            size = path.stat().st_size
        except OSError as err:
            raise BioNERInputError(Errors.E028.format(path=where, what="read", err=err.strerror or err)) from None
        if size > 4 * limits.max_chars:
            # refused unread: even at 4 bytes a character it holds too many
            raise BioNERInputError(Errors.E024.format(loc=where, n=f"at least {-(-size // 4)}",
                                                      limit=limits.max_chars))
    data = read_bytes(path, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BioNERInputError(Errors.E001.format(loc=f"{where}:{line}", err=err.reason)) from None
    if limits is not None:
        limits.check_chars(len(text), where)
    return text


def split_lines(text: str) -> list[str]:
    """Split on LF, CRLF and a lone CR (old Mac files), which all end a line.

    ``str.splitlines`` is not used: it also splits at U+2028, U+0085 and
    other characters that are text in these formats.
    """
    return _LINE_END.split(text)


def display_path(path: Path, root: Path) -> str:
    """A path relative to the input root when possible, for compact reports."""
    try:
        rel = path.relative_to(root if root.is_dir() else root.parent)
        return str(rel)
    except ValueError:
        return str(path)


def is_blank(line: str) -> bool:
    """Whether a line holds nothing but ASCII spaces and TABs.

    Only ASCII white space separates columns and marks empty lines: a no-break
    space or a control character is part of a token (``str.strip`` would treat
    U+00A0, U+001C-U+001F and others as white space and cut tokens at them).
    """
    return not line.strip(ASCII_SPACE)


def iter_lines(path: Path, shown: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` without the line end, decoding line by line.

    The file is read as bytes and each line decoded on its own, so an invalid
    UTF-8 byte is reported at its own line (a text-mode file decodes in large
    chunks and fails at whichever line the chunk starts). LF, CRLF and CR line
    ends are accepted (each ends exactly one line, so CR CR LF is two lines);
    a BOM at the start of the file is dropped.
    """
    lineno = 0
    try:
        fh = path.open("rb")
    except OSError as err:
        raise BioNERInputError(Errors.E028.format(path=shown, what="read", err=err.strerror or err)) from None
    with fh:
        for raw in fh:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise BioNERInputError(Errors.E001.format(loc=location(shown, lineno + 1), err=err.reason)) from None
            if lineno == 0 and text.startswith("\ufeff"):
                text = text[1:]
            text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
            for part in text.split("\r"):
                lineno += 1
                yield lineno, part
