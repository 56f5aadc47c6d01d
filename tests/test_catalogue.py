"""The label catalogue: the shipped file is consistent, the loader answers
lookups, and (with ../shared/corpora present) every raw type in the corpus
files is mapped and every mapped type occurs.

The corpus scan here is deliberately independent of spacy_bioner's readers:
it collects types from CoNLL tags, BRAT ``T`` lines (skipping ``.a2`` event
triggers, as the BRAT reader does), BioC ``type`` infons and PubTator mention
lines, which takes a few seconds for all corpora.
"""
from __future__ import annotations

import configparser
import copy
import fnmatch
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from spacy_bioner.catalogue import (
    DATA_FILE,
    WHOLE,
    LabelCatalogue,
    load_catalogue,
    read_catalogue_data,
    validate_catalogue,
)
from spacy_bioner.errors import BioNERInputError

REPO = Path(__file__).resolve().parents[1]
CORPORA = next((p for p in (REPO.parent / "shared" / "corpora", Path("/work/shared/corpora")) if p.is_dir()), None)
needs_corpora = pytest.mark.skipif(CORPORA is None, reason="../shared/corpora not found")


@pytest.fixture(scope="module")
def data() -> dict:
    return read_catalogue_data()


@pytest.fixture(scope="module")
def catalogue() -> LabelCatalogue:
    return load_catalogue()


# ----------------------------------------------------------------- the file


def test_packaged_file_validates(data):
    assert validate_catalogue(data) == []


def test_every_mapping_points_to_a_label(data):
    for corpus, info in data["corpora"].items():
        for tag, label in info["tags"].items():
            assert label in data["labels"], (corpus, tag, label)


def test_descriptions_non_empty_and_distinct(data):
    descriptions = [" ".join(v["description"].lower().split()) for v in data["labels"].values()]
    assert all(len(d.split()) >= 5 for d in descriptions)
    assert len(set(descriptions)) == len(descriptions)
    assert all(v["name"].strip() for v in data["labels"].values())


def test_overlap_groups_name_labels(data):
    for group in data["overlap_groups"]:
        assert len(group["labels"]) >= 2
        assert set(group["labels"]) <= set(data["labels"]), group["id"]


def test_overlap_relation_is_symmetric_and_irreflexive(catalogue):
    for label in catalogue.labels:
        others = catalogue.overlaps(label)
        assert label not in others
        assert all(label in catalogue.overlaps(other) for other in others), label


def test_package_data_declares_the_file():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    patterns = config["options.package_data"].get("spacy_bioner.catalogue", "").split()
    assert any(fnmatch.fnmatch(DATA_FILE, p) for p in patterns)


# ------------------------------------------------------------- validation

def _break_mapping(d):
    d["corpora"]["conll/JNLPBA"]["tags"]["protein"] = "genia.no_such_label"


def _empty_description(d):
    d["labels"]["cdr.disease"]["description"] = " "


def _same_description(d):
    d["labels"]["cdr.disease"]["description"] = d["labels"]["ncbi.disease"]["description"].upper()


def _unknown_group_label(d):
    d["overlap_groups"][0]["labels"].append("nope.nothing")


def _lonely_group(d):
    d["overlap_groups"].append({"id": "alone", "labels": ["cdr.disease"], "why": "x"})


def _same_corpus_group(d):
    d["overlap_groups"].append({"id": "jnlpba", "labels": ["genia.protein", "genia.dna"], "why": "x"})


def _subset_group(d):
    d["overlap_groups"].append({"id": "sub", "labels": d["overlap_groups"][0]["labels"][:2], "why": "x"})


def _orphan_label(d):
    d["labels"]["x.unused"] = {"name": "Unused", "description": "A label no corpus maps to.", "source": "x"}


def _split_pattern(d):
    d["corpora"]["conll/BC2GM-IOB"]["paths"]["conll"] = "conll/BC2GM-IOB/train.tsv"


def _unknown_format(d):
    d["corpora"]["conll/BC2GM-IOB"]["paths"]["iob"] = "conll/BC2GM-IOB/{split}.tsv"


@pytest.mark.parametrize("mutate,expected", [
    (_break_mapping, "unknown label 'genia.no_such_label'"),
    (_empty_description, "has no description"),
    (_same_description, "same description as labels['ncbi.disease']"),
    (_unknown_group_label, "unknown label 'nope.nothing'"),
    (_lonely_group, "two or more different labels"),
    (_same_corpus_group, "annotates side by side"),
    (_subset_group, "is contained in group"),
    (_orphan_label, "'x.unused'] is not used by any corpus"),
    (_split_pattern, "must contain '{split}'"),
    (_unknown_format, "unknown format 'iob'"),
])
def test_validation_finds_problems(data, mutate, expected):
    broken = copy.deepcopy(data)
    mutate(broken)
    problems = validate_catalogue(broken)
    assert any(expected in p for p in problems), problems


def test_invalid_file_raises_with_code(tmp_path, data):
    path = tmp_path / "labels.json"
    broken = copy.deepcopy(data)
    _break_mapping(broken)
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(BioNERInputError, match=r"\[E800\].*labels.json"):
        load_catalogue(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BioNERInputError, match=r"\[E800\].*not valid JSON"):
        load_catalogue(path)


# ------------------------------------------------------------------ lookups


def test_guideline_distinct_types_stay_distinct(catalogue):
    jnlpba = catalogue.lookup("conll/JNLPBA", "protein")
    cg = catalogue.lookup("conll/BioNLP13CG-IOB", "Gene_or_gene_product")
    bc2gm = catalogue.lookup("conll/BC2GM-IOB", "GENE")
    assert len({jnlpba.id, cg.id, bc2gm.id}) == 3
    assert {cg.id, bc2gm.id} <= catalogue.overlaps(jnlpba.id)
    assert catalogue.lookup("conll/BioNLP13PC-IOB", "Gene_or_gene_product").id != cg.id
    assert catalogue.lookup("conll/CRAFT-IOB", "GGP").id != cg.id


def test_same_guideline_shares_a_label(catalogue):
    assert catalogue.lookup("brat/anatem", "Cell") == catalogue.lookup("brat/bionlp-st-2013-cg", "Cell")
    assert catalogue.lookup("conll/BC5CDR-IOB", "Disease") == catalogue.lookup("bioc/bc5cdr", "Disease")
    assert catalogue.lookup("pubtator/biored", "CellLine") == catalogue.lookup("bioc/biored", "CellLine")
    assert catalogue.lookup("conll/BioNLP09-IOB", "Protein") == catalogue.lookup("conll/Ex-PTM-IOB", "Protein")


def test_lookup_errors_and_exclusions(catalogue):
    sample = "brat/brat-example-bionlp-st-2011/BioNLP-ST_2011_GE"
    assert catalogue.lookup(sample, "Gene_expression") is None
    assert catalogue.label_map(sample)["Gene_expression"] is None
    assert catalogue.label_map(sample)["Protein"] == "bionlp_st.protein"
    with pytest.raises(BioNERInputError, match=r"\[E801\]"):
        catalogue.lookup("conll/no-such-corpus", "Disease")
    with pytest.raises(BioNERInputError, match=r"\[E802\].*'Gene'"):
        catalogue.lookup("conll/NCBI-disease-IOB", "Gene")
    with pytest.raises(BioNERInputError, match=r"\[E803\]"):
        catalogue.overlap_closure(["disease"])


def test_overlap_closure_for_held_out_labels(catalogue):
    closure = catalogue.overlap_closure(["ncbi.disease"])
    assert {"ncbi.disease", "cdr.disease", "biored.disease", "ncbi.specific_disease", "bionlp13.cancer"} <= closure
    assert "cdr.chemical" not in closure
    # one step: a label is not removed because it overlaps an overlapping label
    protein = catalogue.overlap_closure(["genia.protein"])
    assert "genia.dna" not in protein and "genia.cell_type" not in protein
    assert catalogue.overlap_closure(["genia.protein"], transitive=True) > protein


def test_corpus_labels_files_and_prompts(catalogue, tmp_path):
    assert catalogue.corpus_labels("conll/BC5CDR-IOB") == ["cdr.chemical", "cdr.disease"]
    files = catalogue.corpus("conll/JNLPBA").files(tmp_path)
    assert files == {"dev": tmp_path / "conll/JNLPBA/devel.tsv", "test": tmp_path / "conll/JNLPBA/test.tsv"}
    assert catalogue.corpus("brat/maccrobat2020").files(tmp_path) == {WHOLE: tmp_path / "brat/maccrobat2020"}
    with pytest.raises(BioNERInputError, match=r"\[E804\]"):
        catalogue.corpus("conll/JNLPBA").files(tmp_path, "brat")
    prompts = catalogue.prompts(["cdr.disease"], "description")
    assert prompts["cdr.disease"].startswith("A disease")
    with pytest.raises(BioNERInputError, match=r"\[E805\]"):
        catalogue.prompts(["cdr.disease"], "label")
    assert "bioc/bc5cdr-sample" in catalogue.sharing_documents("pubtator/bc5cdr")
    assert "brat/maccrobat2020" in catalogue.corpora_annotating(["maccrobat.age"])


# ------------------------------------------------------- the real corpora


def _conll_types(path: Path) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    with path.open(encoding="utf-8") as f:
        for line in f:
            tag = line.rstrip("\r\n").rsplit("\t", 1)[-1]
            if tag[:2] in ("B-", "I-") and "\t" in line:
                found[tag[2:]] += 1
    return found


def _brat_types(directory: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Entity types as the BRAT reader keeps them, and how often each is an event trigger."""
    found: dict[str, int] = defaultdict(int)
    triggers: dict[str, int] = defaultdict(int)
    for path in sorted(directory.rglob("*")):
        if path.suffix not in (".ann", ".a1", ".a2"):
            continue
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        used = {line.split("\t")[1].split()[0].split(":", 1)[1] for line in lines if line.startswith("E")}
        for line in lines:
            if line.startswith("T"):
                ann_id, head = line.split("\t")[:2]
                label = head.split(" ", 1)[0]
                if ann_id in used:
                    triggers[label] += 1
                if not (path.suffix == ".a2" and ann_id in used):
                    found[label] += 1
    return found, triggers


def _bioc_xml_types(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"<annotation\b.*?</annotation>", text, flags=re.S)
    return {m.group(1) for b in blocks for m in re.finditer(r"<infon key=[\"']type[\"']>([^<]*)</infon>", b)}


def _bioc_json_types(path: Path) -> set[str]:
    collection = json.loads(path.read_text(encoding="utf-8"))
    return {a["infons"]["type"] for d in collection["documents"] for p in d["passages"] for a in p["annotations"]}


def _pubtator_types(path: Path) -> set[str]:
    types = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) >= 5 and cols[1].isdigit() and cols[2].isdigit():
                types.add(cols[4])
    return types


def _scan(path: Path, fmt: str) -> tuple[dict[str, int], dict[str, int]]:
    """Raw types found (with counts where the scan counts) and event-trigger counts."""
    assert path.exists(), path
    if fmt == "brat":
        return _brat_types(path)
    if fmt == "conll":
        return _conll_types(path), {}
    reader = {"bioc-xml": _bioc_xml_types, "bioc-json": _bioc_json_types, "pubtator": _pubtator_types}[fmt]
    return dict.fromkeys(reader(path), 1), {}


def _annotation_files(root: Path) -> set[Path]:
    """Every file under the corpora root that holds annotations."""
    skip = {"README.txt", "LICENSE", "DISCLAIMER.txt", "labels.txt", "LICENSE.md", "README.source.md"}
    wanted = {"conll": (".tsv", ".txt"), "brat": (".ann", ".a1", ".a2"), "bioc": (".xml", ".json"),
              "pubtator": None}
    files = set()
    for top, suffixes in wanted.items():
        for path in (root / top).rglob("*"):
            if path.is_file() and path.name not in skip and (suffixes is None or path.suffix.lower() in suffixes):
                files.add(path)
    return files


def _claimed(catalogue: LabelCatalogue, root: Path) -> set[Path]:
    claimed = set()
    for info in catalogue.corpora.values():
        for fmt in info.paths:
            for path in info.files(root, fmt).values():
                claimed |= {p for p in path.rglob("*") if p.is_file()} if path.is_dir() else {path}
    return claimed


@needs_corpora
def test_every_corpus_file_belongs_to_a_catalogue_corpus(catalogue):
    missing = sorted(str(p.relative_to(CORPORA)) for p in _annotation_files(CORPORA) - _claimed(catalogue, CORPORA))
    assert missing == []


@needs_corpora
def test_every_raw_type_in_the_corpora_is_mapped(catalogue):
    for info in catalogue.corpora.values():
        for fmt in info.paths:
            found: dict[str, int] = defaultdict(int)
            triggers: dict[str, int] = defaultdict(int)
            for path in info.files(CORPORA, fmt).values():
                types, trig = _scan(path, fmt)
                for label, n in types.items():
                    found[label] += n
                for label, n in trig.items():
                    triggers[label] += n
            known = set(info.tags) | set(info.excluded)
            assert set(found) - known == set(), f"{info.id} ({fmt}): unmapped raw types"
            assert known - set(found) == set(), f"{info.id} ({fmt}): catalogue lists types the files do not have"
            # an excluded type is never an entity in this corpus: each of its T lines is an event trigger
            assert all(found[t] == triggers[t] for t in info.excluded), info.id
