#!/usr/bin/env python3
"""Generate (and verify) the small BRAT standoff sample corpus in ``assets/sample/brat/``.

The sample is the offline default data for spacy_bioner's workflows and tests. It
consists of 24 short, invented PubMed-style abstracts (16 train / 4 dev / 4 test)
annotated with four entity types: Disease, Chemical, Gene and Species. The documents
and their mentions are data, in ``documents.json`` beside this script; the script
resolves the mentions to offsets and writes the ``.txt``/``.ann`` files.

Usage::

    python assets/sample/make_sample_brat.py            # (re)write the .txt/.ann files
    python assets/sample/make_sample_brat.py --check    # verify the files on disk

Standard library only.

How documents.json is written
-----------------------------
``{"documents": [...]}``; each document has ``name``, ``split`` (train, dev or test),
``title``, ``sentences`` (the abstract), ``mentions`` and optionally ``extras``. The
written text is ``title + "\\n" + " ".join(sentences) + "\\n"``. Mentions are never
given as offsets:

* ``{"label": L, "text": M, "occ": n}`` - a contiguous mention. ``occ`` (default 1)
  selects the n-th (1-based) *token-bounded* occurrence of ``M`` in the document text
  (title included), i.e. an occurrence whose neighbouring characters are not letters
  or digits. A hyphen is a boundary, so "IL-6" is found inside "IL-6-induced", but
  "cancer" is not found inside "anticancer". Occurrences inside longer mentions are
  counted too.
* ``{"label": L, "text": M, "occ": "all"}`` - every token-bounded occurrence, except
  those lying inside a longer (or identical) mention of the same label. Explicit
  mentions are resolved first, then "all" mentions from the longest string to the
  shortest.
* ``{"label": L, "fragments": [F1, F2, ...], "occ": n}`` - a discontinuous mention:
  the first fragment is located like ``text``; each further fragment is the next
  token-bounded occurrence after the end of the previous fragment.
* ``"key"`` names a mention so that ``extras`` can refer to it:
  ``{"normalization": key, "id": "MESH:D001943"}`` (an ``N`` line),
  ``{"relation": type, "arg1": key, "arg2": key}`` (``R``) and
  ``{"note": key, "text": ...}`` (``#`` AnnotatorNotes).

Offsets are computed with ``str.find`` on Python strings, i.e. 0-based, end-exclusive
Unicode code point offsets, as BRAT expects.

Annotation conventions
----------------------
* Disease: diseases, disorders and adverse effects/symptoms (CDR/NCBI-disease style),
  e.g. "nephrotoxicity", "bleeding", "weight loss", "overdose". Modifiers that are
  part of the name are included ("cisplatin-induced nephrotoxicity",
  "BRCA1-associated breast cancer"); the chemical/gene inside is annotated as well
  (nested mentions). Coordinated names ("ovarian and breast cancer") get a
  discontinuous mention for the elided one.
* Chemical: drugs and chemical compounds, including drug classes ("statins") and
  abbreviations ("APAP", "MTX").
* Gene: genes and gene products (proteins, receptors, enzymes), any species.
* Species: organism names, scientific and common ("Escherichia coli", "mice",
  "ferrets") and human-denoting words ("human", "humans", "patients", "people",
  "women", "men", "children"), following the LINNAEUS convention. Strain and cell
  line names are not annotated.
Abbreviations are annotated separately from their long forms.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "brat"
DATA = HERE / "documents.json"
SPLITS = ("train", "dev", "test")
LABELS = ("Disease", "Chemical", "Gene", "Species")
ALL = "all"
EXTRA_KINDS = {"normalization": ("N", "id"), "relation": ("R", "arg1", "arg2"), "note": ("#", "text")}


# --------------------------------------------------------------------------- data


@dataclass
class Doc:
    name: str
    split: str
    title: str
    sentences: list[str]
    # {"label", "frags", "occ", "key"}
    mentions: list[dict[str, Any]]
    # ("N", key, db_id) | ("R", rel_type, arg1_key, arg2_key) | ("#", key, text)
    extras: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.title + "\n" + " ".join(self.sentences) + "\n"


def _mention(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """One mention of documents.json in the generator's form (see module docstring)."""
    if set(spec) - {"label", "text", "fragments", "occ", "key"} or ("text" in spec) == ("fragments" in spec):
        raise ValueError(f"{where}: a mention has label, text or fragments, and optionally occ and key: {spec}")
    frags = [spec["text"]] if "text" in spec else list(spec["fragments"])
    return {"label": spec["label"], "frags": frags, "occ": spec.get("occ", 1), "key": spec.get("key")}


def _extra(spec: dict[str, Any], where: str) -> tuple[str, ...]:
    """One extra line of documents.json as (kind, fields...)."""
    for head, (kind, *rest) in EXTRA_KINDS.items():
        if head in spec and set(spec) == {head, *rest}:
            return (kind, spec[head], *(spec[key] for key in rest))
    raise ValueError(f"{where}: an extra is one of {sorted(EXTRA_KINDS)} with its fields: {spec}")


def load_documents(path: Path = DATA) -> list[Doc]:
    """Read the sample's documents and mention specs from documents.json.

    path (Path): The data file.
    RETURNS (list[Doc]): The documents, in file order.
    """
    docs = []
    for i, raw in enumerate(json.loads(path.read_text(encoding="utf-8"))["documents"]):
        where = f"{path.name}: document {i} ({raw.get('name', '?')})"
        if raw.get("split") not in SPLITS:
            raise ValueError(f"{where}: split must be one of {SPLITS}")
        docs.append(Doc(raw["name"], raw["split"], raw["title"], list(raw["sentences"]),
                        [_mention(m, where) for m in raw["mentions"]],
                        [_extra(e, where) for e in raw.get("extras", [])]))
    return docs


# --------------------------------------------------------------------------- generation


def bounded_occurrences(text: str, s: str, start: int = 0) -> list[int]:
    """Start offsets of ``s`` in ``text`` whose neighbours are not letters or digits."""
    found = []
    i = text.find(s, start)
    while i != -1:
        before = text[i - 1] if i > 0 else " "
        after = text[i + len(s)] if i + len(s) < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            found.append(i)
        i = text.find(s, i + 1)
    return found


def _inside(inner, outer) -> bool:
    """Whether fragment list ``inner`` lies within one fragment of ``outer`` (same label)."""
    return all(any(os <= s and e <= oe for os, oe in outer) for s, e in inner)


def _where(doc: Doc, m: dict[str, Any]) -> str:
    return f"{doc.name}: {m['label']} {m['frags']!r} (occ={m['occ']})"


def _resolve_explicit(doc: Doc, m: dict[str, Any], entities: list[dict]) -> dict:
    """The span of one mention with a numbered occurrence."""
    first, *rest = m["frags"]
    occs = bounded_occurrences(doc.text, first)
    if not isinstance(m["occ"], int) or not 1 <= m["occ"] <= len(occs):
        raise ValueError(f"{_where(doc, m)}: only {len(occs)} occurrence(s) found")
    frags = [(occs[m["occ"] - 1], occs[m["occ"] - 1] + len(first))]
    for frag in rest:
        nxt = bounded_occurrences(doc.text, frag, frags[-1][1])
        if not nxt:
            raise ValueError(f"{_where(doc, m)}: fragment {frag!r} not found after {frags[-1]}")
        frags.append((nxt[0], nxt[0] + len(frag)))
    ent = {"label": m["label"], "frags": frags}
    if any(e["label"] == ent["label"] and e["frags"] == frags for e in entities):
        raise ValueError(f"{_where(doc, m)}: duplicate annotation")
    return ent


def _resolve_all(doc: Doc, m: dict[str, Any], entities: list[dict]) -> list[dict]:
    """The spans of an "all" mention not inside a mention of the same label."""
    if len(m["frags"]) != 1 or m["key"]:
        raise ValueError(f"{_where(doc, m)}: ALL needs a single fragment and no key")
    s = m["frags"][0]
    added: list[dict] = []
    for i in bounded_occurrences(doc.text, s):
        frags = [(i, i + len(s))]
        same_label = [e["frags"] for e in entities + added if e["label"] == m["label"]]
        if not any(_inside(frags, other) for other in same_label):
            added.append({"label": m["label"], "frags": frags})
    if not added:
        raise ValueError(f"{_where(doc, m)}: no (new) occurrence found")
    return added


def resolve(doc: Doc) -> tuple[list[dict], dict[str, dict]]:
    """Turn the mention specs of ``doc`` into spans; returns (entities, key -> entity)."""
    entities: list[dict] = []
    keys: dict[str, dict] = {}
    for m in (m for m in doc.mentions if m["occ"] != ALL):
        ent = _resolve_explicit(doc, m, entities)
        entities.append(ent)
        if m["key"]:
            keys[m["key"]] = ent
    for m in sorted((m for m in doc.mentions if m["occ"] == ALL), key=lambda m: -len(m["frags"][0])):
        entities.extend(_resolve_all(doc, m, entities))
    entities.sort(key=lambda e: (e["frags"][0][0], -e["frags"][-1][1], e["label"]))
    for n, ent in enumerate(entities, 1):
        ent["id"] = f"T{n}"
        ent["text"] = " ".join(doc.text[s:e] for s, e in ent["frags"])
    return entities, keys


def ann_lines(doc: Doc) -> list[str]:
    """The lines of the document's .ann file."""
    entities, keys = resolve(doc)
    lines = []
    for ent in entities:
        offsets = ";".join(f"{s} {e}" for s, e in ent["frags"])
        lines.append(f"{ent['id']}\t{ent['label']} {offsets}\t{ent['text']}")
    counters: Counter[str] = Counter()
    for extra in doc.extras:
        kind = extra[0]
        counters[kind] += 1
        n = counters[kind]
        if kind == "N":
            ent = keys[extra[1]]
            lines.append(f"N{n}\tReference {ent['id']} {extra[2]}\t{ent['text']}")
        elif kind == "R":
            a1, a2 = keys[extra[2]], keys[extra[3]]
            lines.append(f"R{n}\t{extra[1]} Arg1:{a1['id']} Arg2:{a2['id']}")
        else:
            lines.append(f"#{n}\tAnnotatorNotes {keys[extra[1]]['id']}\t{extra[2]}")
    return lines


def generate(out_dir: Path = OUT_DIR, docs: list[Doc] | None = None) -> None:
    """Write every document's .txt and .ann file under ``out_dir/<split>/``."""
    docs = load_documents() if docs is None else docs
    names = [d.name for d in docs]
    assert len(names) == len(set(names)), "duplicate document names"
    for split in SPLITS:
        split_dir = out_dir / split
        split_dir.mkdir(parents=True, exist_ok=True)
        wanted = {d.name for d in docs if d.split == split}
        for old in list(split_dir.glob("sample-*.txt")) + list(split_dir.glob("sample-*.ann")):
            if old.stem not in wanted:  # a document moved to another split or was removed
                old.unlink()
    for doc in docs:
        text = doc.text
        assert "\t" not in text and "\r" not in text and text.count("\n") == 2, doc.name
        base = out_dir / doc.split / doc.name
        base.with_suffix(".txt").write_text(text, encoding="utf-8", newline="\n")
        ann = "\n".join(ann_lines(doc)) + "\n"
        base.with_suffix(".ann").write_text(ann, encoding="utf-8", newline="\n")
    print(f"wrote {len(docs)} documents to {out_dir}")


# --------------------------------------------------------------------------- verification

# Tokens ending in "." that do not end a sentence.
ABBREVIATIONS = {"al.", "e.g.", "i.e.", "vs.", "cf.", "approx.", "ca.", "Fig.", "no.", "et."}

MIN_SENTENCES = 70
MIN_PER_TYPE = 40
MIN_NESTED = 5
MIN_DISCONTINUOUS = 3
OTHER_LINES = {
    "N": (r"N\d+\tReference (T\d+) ([A-Za-z]+:\S+)\t(.*)", 1, "malformed N line"),
    "R": (r"R\d+\t\w+ Arg1:(T\d+) Arg2:(T\d+)", 2, "malformed R line"),
    "#": (r"#\d+\tAnnotatorNotes (T\d+)\t.+", 1, "malformed AnnotatorNotes line"),
}


def count_sentences(text: str) -> int:
    """Title line = 1 sentence; abstract split at [.!?] + space unless after an abbreviation
    or an initial such as the "E." of "E. coli"."""
    title, _, abstract = text.rstrip("\n").partition("\n")
    count = 1 if title.strip() else 0
    n = 1 if abstract.strip() else 0
    for m in re.finditer(r"[.!?](?=\s+\S)", abstract):
        token = abstract[: m.end()].split()[-1]
        if token in ABBREVIATIONS or re.fullmatch(r"[A-Z]\.", token):
            continue
        n += 1
    return count + n


def _check_file_bytes(path: Path, raw: bytes, errors: list[str]) -> None:
    """LF line endings and exactly one final newline."""
    if b"\r" in raw:
        errors.append(f"{path}: CR characters (line endings must be LF)")
    if not raw.endswith(b"\n") or raw.endswith(b"\n\n"):
        errors.append(f"{path}: must end with exactly one newline")


def _parse_t_line(line: str, where: str, text: str, errors: list[str]) -> dict | None:
    """One T line checked against the text; None if it cannot be read."""
    parts = line.split("\t")
    if len(parts) != 3:
        errors.append(f"{where}: T line needs 3 tab-separated fields")
        return None
    label, _, offsets = parts[1].partition(" ")
    if label not in LABELS:
        errors.append(f"{where}: unknown label {label!r}")
    try:
        frags = [tuple(int(x) for x in f.split(" ")) for f in offsets.split(";")]
        assert all(len(f) == 2 for f in frags)
    except (ValueError, AssertionError):
        errors.append(f"{where}: bad offsets {offsets!r}")
        return None
    prev_end = -1
    for s, e in frags:
        if not (0 <= s < e <= len(text)):
            errors.append(f"{where}: fragment {s}-{e} outside text (len {len(text)})")
        if s <= prev_end:
            errors.append(f"{where}: fragments not ordered / overlapping")
        if "\n" in text[s:e] or text[s:e] != text[s:e].strip():
            errors.append(f"{where}: fragment {s}-{e} has newline or edge whitespace")
        prev_end = e
    expected = " ".join(text[s:e] for s, e in frags)
    if parts[2] != expected:
        errors.append(f"{where}: text field {parts[2]!r} != document text {expected!r}")
    return {"id": parts[0], "label": label, "frags": frags, "text": parts[2]}


def parse_ann(path: Path, text: str, errors: list[str]) -> dict:
    """Parse and validate one .ann file against its text."""
    ents: dict[str, dict] = {}
    others: Counter[str] = Counter()
    refs: list[tuple[str, str]] = []
    raw = path.read_bytes()
    _check_file_bytes(path, raw, errors)
    content = raw.decode("utf-8")
    seen_ids = set()
    for lineno, line in enumerate(content.rstrip("\n").split("\n"), 1):
        where = f"{path.name}:{lineno}"
        if not line.strip():
            errors.append(f"{where}: empty line")
            continue
        ident = line.split("\t", 1)[0]
        if ident in seen_ids:
            errors.append(f"{where}: duplicate id {ident}")
        seen_ids.add(ident)
        kind = ident[:1]
        if kind == "T":
            ent = _parse_t_line(line, where, text, errors)
            if ent is not None:
                ents[ident] = ent
        elif kind in OTHER_LINES:
            pattern, n_refs, problem = OTHER_LINES[kind]
            m = re.fullmatch(pattern, line)
            if not m:
                errors.append(f"{where}: {problem}")
                continue
            refs += [(where, m.group(g)) for g in range(1, n_refs + 1)]
            others[kind] += 1
        else:
            errors.append(f"{where}: unexpected line type {ident!r}")
    errors += [f"{where}: reference to missing {ref}" for where, ref in refs if ref not in ents]
    # N lines must repeat the text of the mention they normalise
    for line in content.split("\n"):
        m = re.fullmatch(r"N\d+\tReference (T\d+) \S+\t(.*)", line)
        if m and m.group(1) in ents and ents[m.group(1)]["text"] != m.group(2):
            errors.append(f"{path.name}: N line text {m.group(2)!r} != {m.group(1)} text")
    return {"ents": list(ents.values()), "others": others}


def _overlap(a, b) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a["frags"] for s2, e2 in b["frags"])


def _is_abbreviation(s: str) -> bool:
    # Upper-case short forms (HD, ALL, IL-6) are document-local, so they are checked per document.
    return not any(c.islower() for c in s)


def _read_text(txt_path: Path, errors: list[str]) -> str | None:
    """A .txt file checked for encoding, line endings, layout and normalisation."""
    raw = txt_path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.append(f"{txt_path}: not UTF-8 ({exc})")
        return None
    _check_file_bytes(txt_path, raw, errors)
    if text.count("\n") != 2:
        errors.append(f"{txt_path}: expected 'title\\nabstract\\n'")
    if unicodedata.normalize("NFC", text) != text:
        errors.append(f"{txt_path}: text is not NFC-normalised")
    return text


def _read_docs(out_dir: Path, errors: list[str]) -> list[dict]:
    """Every document on disk, parsed and checked."""
    docs = []
    for split in SPLITS:
        split_dir = out_dir / split
        txts = sorted(split_dir.glob("*.txt"))
        anns = sorted(split_dir.glob("*.ann"))
        if {p.stem for p in txts} != {p.stem for p in anns}:
            errors.append(f"{split_dir}: .txt and .ann files do not pair up")
        for txt_path in txts:
            text = _read_text(txt_path, errors)
            if text is None or not txt_path.with_suffix(".ann").exists():
                continue  # reported above
            ann = parse_ann(txt_path.with_suffix(".ann"), text, errors)
            docs.append({"name": txt_path.stem, "split": split, "text": text, **ann})
    return docs


def _in_hyphenated_token(text: str, e: dict) -> bool:
    s, end = e["frags"][0][0], e["frags"][-1][1]
    return (s >= 2 and text[s - 1] == "-" and text[s - 2].isalnum()) or (
        end + 1 < len(text) and text[end] == "-" and text[end + 1].isalnum()
    )


def _document_stats(docs: list[dict], errors: list[str]) -> tuple[dict, dict]:
    """Per-split counts (documents, sentences, mentions, ...) and per-split label counts."""
    stats: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    by_type: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    for d in docs:
        st, ents, text = stats[d["split"]], d["ents"], d["text"]
        st["documents"] += 1
        st["sentences"] += count_sentences(text)
        st["mentions"] += len(ents)
        for kind, n in d["others"].items():
            st[f"{kind} lines"] += n
        for e in ents:
            by_type[d["split"]][e["label"]] += 1
            st["discontinuous"] += len(e["frags"]) > 1
            st["in hyphenated token"] += _in_hyphenated_token(text, e)
        for i, a in enumerate(ents):
            for b in ents[i + 1 :]:
                if _overlap(a, b):
                    st["nested/overlapping pairs"] += 1
                if a["label"] == b["label"] and a["frags"] == b["frags"]:
                    errors.append(f"{d['name']}: duplicate annotation {a['id']}/{b['id']}")
        if len({e["label"] for e in ents}) < 3:
            errors.append(f"{d['name']}: fewer than 3 entity types")
    return stats, by_type


def _consistency_lint(docs: list[dict], errors: list[str]) -> None:
    """Every token-bounded occurrence of an annotated string must itself be annotated with
    the same label, lie inside a longer mention of that label, or lie inside a longer
    mention of another label (a name part, e.g. "tuberculosis" in the species
    "Mycobacterium tuberculosis")."""
    lexicon = defaultdict(set)
    for d in docs:
        for e in d["ents"]:
            if len(e["frags"]) == 1:
                lexicon[(e["text"], e["label"])].add(d["name"])
    for d in docs:
        for (surface, label), annotated_in in lexicon.items():
            if _is_abbreviation(surface) and d["name"] not in annotated_in:
                continue
            for i in bounded_occurrences(d["text"], surface):
                frags = [(i, i + len(surface))]
                if not any(_inside(frags, e["frags"]) and (e["label"] == label or len(e["text"]) > len(surface))
                           for e in d["ents"]):
                    errors.append(
                        f"{d['name']}: {surface!r} at {i} is not annotated as {label} "
                        f"(annotated as {label} in {sorted(annotated_in)[0]})"
                    )


def _cross_check_source(docs: list[dict], source: list[Doc], errors: list[str]) -> None:
    """The sentence counter agrees with the source data, and the same documents exist."""
    expected = {doc.name: 1 + len(doc.sentences) for doc in source}
    for d in docs:
        if d["name"] in expected and count_sentences(d["text"]) != expected[d["name"]]:
            errors.append(
                f"{d['name']}: sentence counter found {count_sentences(d['text'])}, "
                f"source has {expected[d['name']]}"
            )
    if {d["name"] for d in docs} != set(expected):
        errors.append("documents on disk differ from the documents in documents.json (run the generator)")


def _required_totals(stats: dict, by_type: dict, errors: list[str]) -> None:
    """The corpus is big and varied enough for the workflows and tests."""
    total = sum(stats.values(), Counter())
    total_types = sum(by_type.values(), Counter())
    if total["sentences"] < MIN_SENTENCES:
        errors.append(f"only {total['sentences']} sentences (< {MIN_SENTENCES})")
    for label in LABELS:
        if total_types[label] < MIN_PER_TYPE:
            errors.append(f"only {total_types[label]} {label} mentions (< {MIN_PER_TYPE})")
        errors += [f"split {split} has no {label} mention" for split in SPLITS if by_type[split][label] == 0]
    if total["nested/overlapping pairs"] < MIN_NESTED:
        errors.append(f"only {total['nested/overlapping pairs']} nested pairs (< {MIN_NESTED})")
    if total["discontinuous"] < MIN_DISCONTINUOUS:
        errors.append(f"only {total['discontinuous']} discontinuous (< {MIN_DISCONTINUOUS})")
    for split in ("train", "test"):
        for what in ("nested/overlapping pairs", "discontinuous", "in hyphenated token"):
            if stats[split][what] == 0:
                errors.append(f"split {split} has no {what} example")
    errors += [f"no {kind} in the corpus" for kind in ("N lines", "R lines", "# lines") if total[kind] == 0]


def _print_report(stats: dict, by_type: dict) -> None:
    rows = ["documents", "sentences", "mentions", *LABELS, "discontinuous", "nested/overlapping pairs",
            "in hyphenated token", "N lines", "R lines", "# lines"]
    print(f"{'':26}" + "".join(f"{s:>8}" for s in (*SPLITS, "total")))
    for row in rows:
        src = by_type if row in LABELS else stats
        vals = [src[s][row] for s in SPLITS]
        print(f"{row:26}" + "".join(f"{v:>8}" for v in (*vals, sum(vals))))


def check(out_dir: Path = OUT_DIR) -> bool:
    """Verify the files on disk: format, offsets, consistency, counts. Prints a report."""
    errors: list[str] = []
    docs = _read_docs(out_dir, errors)
    stats, by_type = _document_stats(docs, errors)
    _consistency_lint(docs, errors)
    _cross_check_source(docs, load_documents(), errors)
    _required_totals(stats, by_type, errors)
    _print_report(stats, by_type)
    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for err in errors:
            print("  " + err, file=sys.stderr)
        return False
    print("\nall checks passed")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the files on disk")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = parser.parse_args(argv)
    if args.check:
        return 0 if check(args.out) else 1
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
