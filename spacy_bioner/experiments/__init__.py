"""Experiments with the components: protocols that train, score and report
several runs (e.g. :mod:`.fewshot`, zero- and few-shot NER on hidden labels)."""
from __future__ import annotations

from .fewshot import run_fewshot

__all__ = ["run_fewshot"]
