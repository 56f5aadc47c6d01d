"""The options of the few-shot experiment: k values and label descriptions."""
from __future__ import annotations

from pathlib import Path

import pytest
import srsly

from spacy_bioner.errors import BioNERInputError
from spacy_bioner.experiments.fewshot.options import describe, load_descriptions, parse_shots


def test_parse_shots() -> None:
    assert parse_shots("0,1,10,100") == [0, 1, 10, 100]
    assert parse_shots(" 10, 1,1") == [1, 10]
    assert parse_shots([2, 0]) == [0, 2]
    for bad in ("a", "-1", "", "1.5", "1,,2", "--1", "²", [True]):
        with pytest.raises(BioNERInputError, match="--shots"):
            parse_shots(bad)



def test_descriptions(tmp_path: Path) -> None:
    assert describe("Gene_or_gene_product") == "gene or gene product"
    assert describe("SpecificDisease") == "specific disease"
    assert describe("Gene", {"Gene": "gene or protein"}, {"Gene": "gene"}) == "gene or protein"
    assert describe("Gene", None, {"Gene": "a gene"}) == "a gene"
    path = tmp_path / "d.json"
    srsly.write_json(path, {"Gene": "gene or protein"})
    assert load_descriptions(path) == {"Gene": "gene or protein"}
    srsly.write_json(path, {"Gene": ""})
    with pytest.raises(BioNERInputError, match="description of 'Gene'"):
        load_descriptions(path)
    srsly.write_json(path, ["Gene"])
    with pytest.raises(BioNERInputError, match="not an object"):
        load_descriptions(path)

