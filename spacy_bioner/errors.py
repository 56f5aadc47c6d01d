"""One table of user-facing messages.

Every message says what was wrong, where, and what to do. Locations are given
as ``file:line`` where a line exists, else as ``file [document id]``.
"""
from __future__ import annotations

from pathlib import Path


class Errors:
    E001 = "{loc}: not valid UTF-8 text ({err}). Convert the file to UTF-8 first."
    E002 = "{loc}: malformed BRAT line: {what}. Expected 'ID<TAB>Type START END[;START END...]<TAB>text' for 'T' lines."
    E003 = "{loc}: annotation offsets {start}-{end} lie outside the text (length {length})."
    E004 = "{loc}: malformed CoNLL line: {what}."
    E005 = "{loc}: invalid tag '{tag}': {what}. Use IOB1, IOB2 (B-/I-/O) or BIOES/BILOU tags."
    E006 = "{loc}: malformed PubTator line: {what}."
    E007 = "{loc}: malformed BioC {kind}: {what}."
    E008 = "{loc}: not a BioC collection: {what}."
    E009 = "Input '{path}' does not exist."
    E010 = "No input files found for format '{fmt}' in '{path}' (looked for {patterns})."
    E011 = "Unknown format '{fmt}'. Choose one of: {options}."
    E012 = "Label map '{path}' is not valid: {what}. Give a JSON object mapping source type to new type (null drops the type), or a TSV file with 'source<TAB>target' lines."
    E013 = "Unknown discontinuous-span policy '{policy}'. Choose one of: {options}."
    E014 = "Unknown alignment mode '{mode}'. Choose one of: {options}."
    E015 = "--strict: {n} annotation(s) would be adjusted or rejected; the first: {first}. Fix the input or drop --strict to convert with adjustments (they are listed in the report)."
    E016 = "BRAT text file '{txt}' has no annotation file (looked for {anns})."
    E017 = "Unknown tag scheme '{scheme}'. Choose one of: {options}."
    E018 = "Pipeline '{name}' could not be loaded: {err}"
    E019 = "'{path}' is not a spaCy DocBin (.spacy) file: {err}"
    E020 = "{loc}: passage offset {declared} overlaps the previous passage, which ends at {end}."
    E021 = "No span group '{key}' in the documents of '{path}'. Available keys: {keys}."
    E022 = "--strict: {loc}: {what}"
    E100 = "No span group '{key}' in any of the {n} reference document(s) (their span groups: {keys}). Pass the key the gold data uses, or no key to score doc.ents."
    E101 = "'{path}' contains no documents: nothing to evaluate."
    E200 = "Document {doc_id} is one sentence of its source document (char_offset {offset}); its offsets do not index its text. Join the sentences with merge_sentence_sources() before writing."
    E201 = "Document {doc_id}, annotation {ann_id}: label {label!r} cannot be written to BRAT (empty or containing whitespace). Rename it with a label map."
    E202 = "{where}: the text contains {char} at position {pos}, which XML 1.0 cannot represent. Write BioC JSON instead, or remove the control character."
    E203 = "Document {doc_id}: a sentence starting at {offset} overlaps the previous one, which ends at {end}; the sentence Docs do not come from one conversion."


class BioNERInputError(ValueError):
    """Bad input data: raised with a location so the CLI can print it without a traceback."""


def location(path: str | Path | None, line: int | None = None, doc_id: str | None = None) -> str:
    """Format a source location as ``file:line`` or ``file [doc id]``.

    path (str | Path | None): The source file.
    line (int | None): 1-based line number, where the format has lines.
    doc_id (str | None): Document identifier (PMID, BioC id), where lines do not help.
    RETURNS (str): The location, for error messages and reports.
    """
    loc = str(path) if path is not None else "<input>"
    if line is not None:
        loc = f"{loc}:{line}"
    if doc_id is not None:
        loc = f"{loc} [document {doc_id}]"
    return loc
