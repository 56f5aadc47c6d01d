"""Write the BioC XML and CoNLL copies of the BRAT sample corpus.

    python assets/sample/make_sample_formats.py                        # into assets/sample/{bioc,conll}
    python assets/sample/make_sample_formats.py --brat DIR --out DIR   # DIR/bioc, DIR/conll

The BRAT files (made by make_sample_brat.py) are the source of truth. BioC XML
keeps everything BRAT has (title and abstract as two passages, discontinuous
mentions as several locations, nested mentions). CoNLL can hold only
non-overlapping, contiguous entities: it gets each document's doc.ents
(longest span wins; a discontinuous mention becomes one span from its first
start to its last end), one -DOCSTART- block per document.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from spacy_bioner.corpora.base import DocBuilder
from spacy_bioner.corpora.brat import read_brat
from spacy_bioner.corpora.convert import make_nlp
from spacy_bioner.corpora.report import ConversionReport
from spacy_bioner.corpora.writers import bioc_xml_from_sources, conll_from_doc

HERE = Path(__file__).resolve().parent


def write_formats(brat_dir: Path = HERE / "brat", out_dir: Path = HERE) -> None:
    """Write out_dir/bioc/{split}.xml and out_dir/conll/{split}.conll from the BRAT files.

    brat_dir (Path): The BRAT sample, with train/, dev/ and test/.
    out_dir (Path): Where bioc/ and conll/ go.
    """
    nlp = make_nlp("en")
    for split in ("train", "dev", "test"):
        report = ConversionReport(corpus=split, fmt="brat")
        docs = list(read_brat(brat_dir / split, report))
        for doc in docs:
            title_end = doc.text.index("\n")
            body = doc.text.rstrip("\n")
            doc.meta["passages"] = [
                {"offset": 0, "length": title_end, "type": "title"},
                {"offset": title_end + 1, "length": len(body) - title_end - 1, "type": "abstract"},
            ]
        (out_dir / "bioc").mkdir(parents=True, exist_ok=True)
        xml = bioc_xml_from_sources(docs, source="spacy_bioner sample", date="2026-11-21", key="sample.key")
        (out_dir / "bioc" / f"{split}.xml").write_text(xml, encoding="utf-8")
        builder = DocBuilder(nlp, ConversionReport(), spans_key="sc")
        chunks = []
        for src in docs:
            for doc in builder.build(src):
                chunks.append("-DOCSTART-\tO\n\n" + conll_from_doc(doc))
        (out_dir / "conll").mkdir(parents=True, exist_ok=True)
        (out_dir / "conll" / f"{split}.conll").write_text("".join(chunks), encoding="utf-8")
        print(f"{split}: {len(docs)} documents -> bioc/{split}.xml, conll/{split}.conll")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brat", type=Path, default=HERE / "brat", help="the BRAT sample (train/, dev/, test/)")
    parser.add_argument("--out", type=Path, default=HERE, help="directory for bioc/ and conll/")
    args = parser.parse_args(argv)
    write_formats(args.brat, args.out)


if __name__ == "__main__":
    main()
