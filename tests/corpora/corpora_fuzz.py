"""Property-based fuzzing of the converters: mutate valid corpora, convert, and
hold every result to the converters' promise.

For each example a valid seed corpus (a few files, name -> bytes) is mutated
one to three times (bytes flipped, inserted or deleted, truncation, lines
duplicated, swapped or deleted, numbers changed, line ends and BOM changed,
TABs and spaces swapped, plus the format's own structural mutations), written
to a fresh directory and converted the way ``python -m spacy_bioner convert``
does. The outcome must be one of two:

* a clean error: a :class:`~spacy_bioner.errors.BioNERInputError` whose
  message starts with a code of the errors table and names a file of the
  input (``file:line``, ``file [document ...]``), with the previous output
  pair left untouched; no other exception type may escape;
* a DocBin and report where ``source == exact + adjusted + rejected +
  dropped`` for every label, ``source`` equals an *independent* count of
  the annotations the input holds (the test's oracle, a few lines per
  format that read the files without the converter's code), and the spans in
  the DocBin number exactly those not rejected or dropped.

Statistics per format are kept in :data:`STATS` and printed at the end of
the session (tests/corpora/conftest.py).
"""
from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import DocBin

from spacy_bioner.corpora.convert import convert_to_disk
from spacy_bioner.errors import BioNERInputError, Errors

Files = dict[str, bytes]
#: format -> Counter(tried, clean error, converted, other)
STATS: dict[str, Counter[str]] = {}
OLD_DOCBIN = b"previous DocBin"
OLD_REPORT = b'{"previous": "report"}'
LINE_END = re.compile(r"\r\n|\r|\n")

# Byte strings worth inserting: separators, the white space Python treats as
# such but the formats do not, control characters, BOM, an encoded surrogate
# (invalid UTF-8), markup and JSON escapes.
PIECES = [b"\t", b" ", b"\n", b"\r", b"\r\n", b"\xc2\xa0", b"\x00", b"\x1c", b"\x0b", b"\xef\xbb\xbf",
          b"\xe2\x80\xa8", b"\xc2\x85", b"\xff", b"\xed\xa0\x80", b"|", b";", b"-", b"0", b"9", b'"', b"<",
          b">", b"&", b"&#0;", b"]]>", b"\\ud800", b"\\", b"{", b"[", b",", b":", b"T", b"B-", b"I-"]
NUMBERS = [b"0", b"-1", b"+0", b"0.0", b"", b" 5", b"1e12", b"1000000000000", b"99999999999999999999",
           b"9" * 5000, b"1000001", b"2147483648"]
Mutation = Callable[[st.DataObject, Files], Files]


@dataclass
class Expected:
    """What the oracle counts in an input, to compare with a successful conversion."""

    annotations: int
    skipped: dict[str, int] = field(default_factory=dict)
    documents: int | None = None


Oracle = Callable[[Files], "Expected | None"]


def lines_of(data: bytes) -> list[str] | None:
    """The lines of a UTF-8 file as the line-based formats define them (BOM dropped), None if not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return LINE_END.split(text.removeprefix("\ufeff"))


# -- byte-level mutations ---------------------------------------------------------------------
def _pick(data: st.DataObject, files: Files) -> str:
    return data.draw(st.sampled_from(sorted(files)), label="file")


def _edit(fn: Callable[[st.DataObject, bytes], bytes]) -> Mutation:
    def mutation(data: st.DataObject, files: Files) -> Files:
        name = _pick(data, files)
        return {**files, name: fn(data, files[name])}
    mutation.__name__ = fn.__name__
    return mutation


def _pos(data: st.DataObject, content: bytes) -> int:
    return data.draw(st.integers(0, len(content)), label="position")


@_edit
def truncate(data: st.DataObject, content: bytes) -> bytes:
    return content[:_pos(data, content)]


@_edit
def flip(data: st.DataObject, content: bytes) -> bytes:
    if not content:
        return content
    i = data.draw(st.integers(0, len(content) - 1), label="position")
    return content[:i] + bytes([content[i] ^ (1 << data.draw(st.integers(0, 7), label="bit"))]) + content[i + 1:]


@_edit
def insert(data: st.DataObject, content: bytes) -> bytes:
    i = _pos(data, content)
    piece = data.draw(st.sampled_from(PIECES) | st.binary(min_size=1, max_size=3), label="piece")
    return content[:i] + piece + content[i:]


@_edit
def delete(data: st.DataObject, content: bytes) -> bytes:
    i = _pos(data, content)
    j = data.draw(st.integers(i, min(len(content), i + 24)), label="end")
    return content[:i] + content[j:]


def _split_lines(content: bytes) -> list[bytes]:
    return content.splitlines(keepends=True)


@_edit
def duplicate_line(data: st.DataObject, content: bytes) -> bytes:
    lines = _split_lines(content)
    if not lines:
        return content
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    return b"".join(lines[:i + 1] + lines[i:])


@_edit
def swap_lines(data: st.DataObject, content: bytes) -> bytes:
    lines = _split_lines(content)
    if len(lines) < 2:
        return content
    i = data.draw(st.integers(0, len(lines) - 2), label="line")
    j = data.draw(st.integers(i + 1, len(lines) - 1), label="other line")
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


@_edit
def delete_line(data: st.DataObject, content: bytes) -> bytes:
    lines = _split_lines(content)
    if not lines:
        return content
    del lines[data.draw(st.integers(0, len(lines) - 1), label="line")]
    return b"".join(lines)


@_edit
def change_number(data: st.DataObject, content: bytes) -> bytes:
    numbers = list(re.finditer(rb"[0-9]+", content))
    if not numbers:
        return content
    m = data.draw(st.sampled_from(numbers), label="number")
    value = int(m.group())
    new = data.draw(st.sampled_from(NUMBERS) | st.integers(-3, 3).map(lambda d: str(max(value + d, 0)).encode()),
                    label="new number")
    return content[:m.start()] + new + content[m.end():]


@_edit
def line_ends(data: st.DataObject, content: bytes) -> bytes:
    how = data.draw(st.sampled_from(["crlf", "cr", "lf", "one-cr", "one-crlf"]), label="line ends")
    lf = content.replace(b"\r\n", b"\n")
    if how == "crlf":
        return lf.replace(b"\n", b"\r\n")
    if how == "cr":
        return lf.replace(b"\n", b"\r")
    if how == "lf":
        return lf
    ends = [m.start() for m in re.finditer(rb"\n", content)]
    if not ends:
        return content
    i = data.draw(st.sampled_from(ends), label="line end")
    return content[:i] + (b"\r" if how == "one-cr" else b"\r\n") + content[i + 1:]


@_edit
def bom(data: st.DataObject, content: bytes) -> bytes:
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:]
    return b"\xef\xbb\xbf" + content


@_edit
def tabs_spaces(data: st.DataObject, content: bytes) -> bytes:
    how = data.draw(st.sampled_from(["one tab", "all tabs", "one space"]), label="tabs")
    if how == "all tabs":
        return content.replace(b"\t", b" ")
    old, new = (b"\t", b" ") if how == "one tab" else (b" ", b"\t")
    places = [m.start() for m in re.finditer(re.escape(old), content)]
    if not places:
        return content
    i = data.draw(st.sampled_from(places), label="place")
    return content[:i] + new + content[i + 1:]


BYTE_MUTATIONS: list[Mutation] = [truncate, flip, insert, delete, duplicate_line, swap_lines, delete_line,
                                  change_number, line_ends, bom, tabs_spaces]


# -- running and checking -------------------------------------------------------------------------
_CODE = re.compile(r"\[E([0-9]{3})\] ")


def _check_error(message: str, names: list[str], root: Path) -> None:
    """A clean error: a code from the table, and a location naming the input."""
    m = _CODE.match(message)
    assert m, f"error without a code: {message!r}"
    assert hasattr(Errors, f"E{m.group(1)}"), f"code not in the errors table: {message!r}"
    located = [n for n in names if re.search(re.escape(n) + r"(:[0-9]|:| \[|')", message)]
    assert located or str(root) in message, f"error names no input file: {message!r}"


def _check_converted(expected: Expected | None, out: Path, report_path: Path, nlp: Language,
                     dropped_label: str | None) -> None:
    assert expected is not None, "converted, but the oracle finds the input unreadable"
    assert out.read_bytes() != OLD_DOCBIN and report_path.read_bytes() != OLD_REPORT
    report = json.loads(report_path.read_bytes())
    totals = report["totals"]
    for label, counts in report["labels"].items():
        outcomes = counts["exact"] + counts["adjusted"] + counts["rejected"] + counts["dropped"]
        assert counts["source"] == outcomes, f"{label}: {counts}"
        assert dropped_label == label or counts["dropped"] == 0
    assert totals["source"] == expected.annotations, (totals, expected)
    for kind, n in expected.skipped.items():
        assert report["skipped"].get(kind, 0) == n, (kind, report["skipped"], expected)
    if expected.documents is not None:
        assert report["documents"] == expected.documents, (report["documents"], expected)
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    spans = sum(len(d.spans["sc"]) for d in docs)
    assert spans == expected.annotations - totals["rejected"] - totals["dropped"], (spans, totals)
    ents = sum(len(d.ents) for d in docs)
    assert ents + sum(report["spans_only"].values()) == spans, (ents, report["spans_only"], spans)


def run_case(fmt: str, files: Files, oracle: Oracle, nlp: Language, *, single_file: bool,
             sentences: bool, dropped_label: str | None) -> str:
    """Convert one input and check the outcome; RETURNS (str): ``"clean error"`` or ``"converted"``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        for name, content in files.items():
            (root / name).write_bytes(content)
        out = Path(tmp) / "out" / "corpus.spacy"
        report_path = out.with_suffix(".report.json")
        out.parent.mkdir()
        out.write_bytes(OLD_DOCBIN)
        report_path.write_bytes(OLD_REPORT)
        source = root / sorted(files)[0] if single_file else root
        try:
            convert_to_disk(source, out, fmt, nlp=nlp, sentences=sentences,
                            label_map={dropped_label: None} if dropped_label else None)
        except BioNERInputError as err:
            _check_error(str(err), sorted(files), root)
            assert out.read_bytes() == OLD_DOCBIN and report_path.read_bytes() == OLD_REPORT
            return "clean error"
        _check_converted(oracle(files), out, report_path, nlp, dropped_label)
        return "converted"


def fuzz(fmt: str, seeds: list[Files], oracle: Oracle, nlp: Language, examples: int, *,
         mutations: list[Mutation], labels: list[str], single_file: bool = False) -> None:
    """Run ``examples`` derandomized examples of one format (hypothesis shrinks a failure)."""
    stats = STATS.setdefault(fmt, Counter())

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        files = dict(data.draw(st.sampled_from(seeds), label="seed"))
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            mutation = data.draw(st.sampled_from(mutations), label="mutation")
            files = mutation(data, files) or files
        sentences = data.draw(st.booleans(), label="sentences")
        dropped = data.draw(st.none() | st.sampled_from(labels), label="dropped label")
        stats["tried"] += 1
        try:
            outcome = run_case(fmt, files, oracle, nlp, single_file=single_file, sentences=sentences,
                               dropped_label=dropped)
        except BaseException:
            stats["anything else"] += 1
            raise
        stats[outcome] += 1

    check()
