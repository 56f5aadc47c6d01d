"""Optional dependencies, imported only where they are needed.

``bioner_llama`` needs peft (LoRA), bitsandbytes (4-bit NF4) and gguf (GGUF
files), the ``llama`` extra. Importing spacy_bioner, building a config or
loading a pipeline that does not use them never imports them; a feature that
does use one calls :func:`require`, which says what to install.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

from packaging.requirements import Requirement
from spacy.util import registry

from .errors import Errors

DISTRIBUTION = "spacy-bioner"
_Lang = TypeVar("_Lang")


def require(package: str, feature: str) -> ModuleType:
    """Import an optional dependency, or explain how to install it.

    package (str): The importable name, e.g. "peft".
    feature (str): What needs it, for the message, e.g. "LoRA (lora = true)".
    RETURNS (ModuleType): The module.
    RAISES (ImportError): If it is not installed, naming `pip install spacy_bioner[llama]`.
    """
    try:
        return importlib.import_module(package)
    except ImportError as err:
        raise ImportError(Errors.E700.format(feature=feature, package=package)) from err


def missing_requirements(extra: str) -> list[str]:
    """The requirements of one of spacy-bioner's extras that are not satisfied.

    extra (str): The extra, e.g. "baseline" (setup.cfg [options.extras_require]).
    RETURNS (list[str]): Each unmet requirement with what is installed instead,
        e.g. "spacy-transformers<1.5.0,>=1.4.0 is not installed"; empty if all are met.
    RAISES (ValueError): If spacy-bioner has no such extra.
    """
    try:
        declared = [Requirement(line) for line in importlib.metadata.requires(DISTRIBUTION) or []]
        extras = importlib.metadata.metadata(DISTRIBUTION).get_all("Provides-Extra") or []
    except importlib.metadata.PackageNotFoundError:  # imported from a source tree, never installed
        return []
    if extra not in extras:
        raise ValueError(Errors.E901.format(extra=extra, options=sorted(extras)))
    missing = []
    for req in declared:
        if req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        spec = f"{req.name}{req.specifier}"
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{spec} is not installed")
            continue
        if not req.specifier.contains(version, prereleases=True):
            missing.append(f"{spec} is not met by the installed version {version}")
    return missing


@registry.misc("spacy_bioner.require_extra.v1")
def make_require_extra(extra: str, feature: str) -> Callable[[_Lang], _Lang]:
    """An [nlp] before_creation callback that stops with a clear message when
    an optional extra the config needs is missing. spaCy creates the
    components after this callback; without it, a missing spacy-transformers
    shows only as "Can't find factory for 'transformer'" (E002).

    extra (str): The extra of spacy-bioner the config needs, e.g. "baseline".
    feature (str): What needs it, for the message.
    RETURNS (Callable[[type], type]): The callback; it returns the Language class unchanged.
    """

    def require_extra(lang_cls: _Lang) -> _Lang:
        missing = missing_requirements(extra)
        if missing:
            raise ImportError(Errors.E900.format(extra=extra, feature=feature, missing="; ".join(missing)))
        return lang_cls

    return require_extra
