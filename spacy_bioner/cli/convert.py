"""``python -m spacy_bioner convert``: a corpus in BRAT, BioC, CoNLL or PubTator -> DocBin."""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from tqdm import tqdm
from wasabi import msg

from ..corpora.base import DEFAULT_SPANS_KEY
from ..corpora.convert import convert_to_disk, load_label_map
from ..corpora.limits import DEFAULT_MAX_CHARS, Limits
from ..errors import BioNERInputError
from . import app
from ._util import fail


class Format(str, Enum):
    brat = "brat"
    bioc_xml = "bioc-xml"
    bioc_json = "bioc-json"
    conll = "conll"
    pubtator = "pubtator"


@app.command("convert")
def convert_cli(
    input_path: Path = typer.Argument(..., help="Input file or directory", metavar="INPUT"),
    output: Path = typer.Argument(..., help="Output .spacy file, or a directory to write INPUT_NAME.spacy into",
                                  metavar="OUTPUT"),
    fmt: Format = typer.Option(..., "--format", "-f", help="Input format"),
    lang: str = typer.Option("en", "--lang", help="Language of the blank pipeline used to tokenise"),
    sentences: bool = typer.Option(False, "--sentences", help="One Doc per sentence (offsets to the source are kept)"),
    spans_key: str = typer.Option(DEFAULT_SPANS_KEY, "--spans-key", help="Span group that keeps all (also overlapping) annotations"),
    label_map: Path | None = typer.Option(None, "--label-map", help="JSON or TSV file renaming (or, with null/empty, dropping) types"),
    strict: bool = typer.Option(False, "--strict", help="Fail on any adjusted or rejected annotation"),
    discontinuous: str = typer.Option("span", "--discontinuous", help="Discontinuous mentions: span | split | skip"),
    alignment: str = typer.Option("expand", "--alignment", help="Boundary inside a token: expand | contract | reject"),
    tokenizer: str = typer.Option("bio", "--tokenizer", help="bio (biomedical infix rules) | spacy (spaCy's default)"),
    include_triggers: bool = typer.Option(False, "--include-triggers", help="BRAT .a2: keep event triggers as entities"),
    infon_key: str = typer.Option("type", "--infon-key", help="BioC: annotation infon that holds the entity type"),
    scheme: str = typer.Option("auto", "--scheme", help="CoNLL tag scheme: auto | iob1 | iob2 | bioes"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
    max_doc_chars: int = typer.Option(DEFAULT_MAX_CHARS, "--max-doc-chars", min=1,
                                      help="Largest document (characters) to accept; a longer one is an error"),
    max_offset: int | None = typer.Option(None, "--max-offset", min=1,
                                          help="Largest offset to accept (default: --max-doc-chars)"),
) -> None:
    """Convert a biomedical NER corpus to a spaCy DocBin, with a conversion report
    (NAME.report.json next to the output) that accounts for every annotation."""
    reader_options: dict = {}
    if fmt == Format.brat:
        reader_options["include_triggers"] = include_triggers
    elif fmt in (Format.bioc_xml, Format.bioc_json):
        reader_options["infon_key"] = infon_key
    elif fmt == Format.conll:
        reader_options["scheme"] = scheme
    try:
        out_path, report_path, docbin, report = convert_to_disk(
            input_path, output, fmt.value, lang=lang, tokenizer=tokenizer, strict=strict,
            spans_key=spans_key, discontinuous=discontinuous, alignment=alignment,
            label_map=load_label_map(label_map), sentences=sentences, reader_options=reader_options,
            limits=Limits(max_chars=max_doc_chars, max_offset=max_offset),
            progress=None if quiet else (lambda it: tqdm(it, desc="Converting", unit=" docs", leave=False)),
        )
    except BioNERInputError as err:
        fail(str(err))
    report.print_summary()
    msg.good(f"Saved {len(docbin)} Doc(s) to {out_path}; report in {report_path}")
