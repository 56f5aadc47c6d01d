"""Convert the corpora of the base-model recipe for `spacy project run base`.

    python scripts/convert_base.py configs/base.cfg assets/corpora corpus/base \
        --document-split brat/maccrobat2020=configs/maccrobat_split.json

reads the corpus entries of the recipe's `spacy_bioner.CatalogueCorpus.v1`
readers ([catalogue] corpora of configs/base.cfg), finds each corpus's split
files under the corpora root as the label catalogue names them (a root laid
out like ../shared/corpora: `spacy project run corpora-base` fetches one into
assets/corpora) and converts every split to OUTPUT/<corpus id>/<split>.spacy
(raw tags, --sentences, the catalogue's format), with a conversion report
beside each. Extra arguments override the recipe, as for `spacy train`
(e.g. --catalogue.corpora '["conll/BC5CDR-IOB"]'). The steps are
`spacy_bioner.experiments.base.data`.
"""
from __future__ import annotations

from pathlib import Path

import typer
from spacy.cli._util import parse_config_overrides
from spacy.util import load_config
from thinc.api import ConfigValidationError
from wasabi import msg

from spacy_bioner.catalogue import load_catalogue
from spacy_bioner.errors import BioNERInputError
from spacy_bioner.experiments.base.data import (
    check_recipe_splits,
    convert,
    parse_document_splits,
    plan_conversions,
    recipe_corpora,
    recipe_entries,
    unassigned_documents,
)

app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The base-model recipe"),
    corpora_root: Path = typer.Argument(..., help="The corpora root, laid out like ../shared/corpora"),
    output_dir: Path = typer.Argument(..., help="Where <corpus id>/<split>.spacy go (the recipe's paths.corpus)"),
    document_split: list[str] = typer.Option([], "--document-split",
                                              help="CORPUS_ID=PATH: a document split file for a corpus without splits"),
) -> None:
    """Convert every split of every corpus the recipe reads (raw tags, one Doc per sentence)."""
    try:
        config = load_config(config_path, overrides=parse_config_overrides(ctx.args), interpolate=True)
        plan = plan_conversions(load_catalogue(), corpora_root, recipe_corpora(config), output_dir,
                                parse_document_splits(document_split))
        check_recipe_splits(recipe_entries(config), plan)
        for corpus, ids in unassigned_documents(plan).items():
            msg.warn(f"{corpus}: {len(ids)} document(s) in no split, not converted: {', '.join(ids[:10])}")
        for conversion in plan:
            report = convert(conversion)
            msg.good(f"{conversion.corpus} {conversion.split}: {report.documents} documents, "
                     f"{report.output_docs} sentences -> {conversion.output}")
    except (BioNERInputError, ConfigValidationError) as err:
        msg.fail(str(err), exits=1)


if __name__ == "__main__":
    app()
