"""Optional dependencies, imported only where they are needed.

``bioner_llama`` needs peft (LoRA), bitsandbytes (4-bit NF4) and gguf (GGUF
files), the ``llama`` extra. Importing spacy_bioner, building a config or
loading a pipeline that does not use them never imports them; a feature that
does use one calls :func:`require`, which says what to install.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import Errors


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
