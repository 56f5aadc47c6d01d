"""``python -m spacy_bioner convert``: a corpus in BRAT, BioC, CoNLL or PubTator -> DocBin."""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from tqdm import tqdm
from wasabi import msg

from ..corpora.base import DEFAULT_SPANS_KEY
from ..corpora.convert import convert_corpus, load_label_map, output_paths, write_atomic
from ..errors import BioNERInputError
from . import app


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
    out_path, report_path = output_paths(input_path, output, fmt.value)
    try:
        docbin, report = convert_corpus(
            input_path, fmt.value, lang=lang, tokenizer=tokenizer, strict=strict,
            spans_key=spans_key, discontinuous=discontinuous, alignment=alignment,
            label_map=load_label_map(label_map), sentences=sentences, reader_options=reader_options,
            progress=None if quiet else (lambda it: tqdm(it, desc="Converting", unit=" docs", leave=False)),
        )
    except (BioNERInputError, ValueError) as err:
        msg.fail(str(err), exits=1)
    write_atomic(docbin.to_bytes(), out_path)
    report.write(report_path)
    report.print_summary()
    msg.good(f"Saved {len(docbin)} Doc(s) to {out_path}; report in {report_path}")
