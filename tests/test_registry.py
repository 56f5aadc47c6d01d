"""Every entry point declared in setup.cfg resolves to the registered function."""
from __future__ import annotations

import configparser
from pathlib import Path

import catalogue
import pytest
import spacy

import spacy_bioner

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"
REGISTRIES = {
    "spacy_scorers": spacy.registry.scorers,
    "spacy_readers": spacy.registry.readers,
    "spacy_tokenizers": spacy.registry.tokenizers,
    "spacy_factories": None,
    "spacy_architectures": spacy.registry.architectures,
    "spacy_misc": spacy.registry.misc,
}


def _entry_points() -> list[tuple[str, str, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(SETUP_CFG)
    out = []
    for group, block in cfg["options.entry_points"].items():
        if not group.startswith("spacy_"):
            continue
        for line in block.strip().splitlines():
            name, target = (x.strip() for x in line.split("=", 1))
            out.append((group, name, target))
    return out


ENTRY_POINTS = _entry_points()


def test_entry_points_declared() -> None:
    groups = {g for g, _, _ in ENTRY_POINTS}
    assert {"spacy_scorers", "spacy_readers", "spacy_tokenizers"} <= groups


@pytest.mark.parametrize("group,name,target", ENTRY_POINTS, ids=[n for _, n, _ in ENTRY_POINTS])
def test_entry_point_resolves(group: str, name: str, target: str) -> None:
    module, attr = target.split(":")
    func = getattr(__import__(module, fromlist=[attr]), attr)
    if group == "spacy_factories":
        assert name in spacy.registry.factories
        return
    registry = REGISTRIES[group]
    try:
        registered = registry.get(name)
    except catalogue.RegistryError as err:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{name} from {group} is not registered: {err}")
    assert registered is func


def test_version() -> None:
    assert spacy_bioner.__version__.count(".") == 2
