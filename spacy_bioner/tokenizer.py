"""A tokenizer for biomedical text.

spaCy's default rules keep ``IL-6-induced``, ``Na+/K+`` or ``BRCA1/2`` largely
whole and glue a zero-width space onto the next word, so entity boundaries
fall inside tokens and annotations must be stretched. This tokenizer adds
infix splits on hyphens, slashes, plus signs, colons, semicolons, commas and
equals signs between word characters, and treats brackets and zero-width
spaces as prefixes, suffixes and infixes everywhere (punctuation before a
zero-width space is split off as before a space). It also splits ``::``
(``PA3553::lux``), comparison signs (``ANC>0.5``, ``≥30%``) and a full stop
glued to a citation (``ataxia.1``, ``layer.[10]``). Use the same tokenizer
for conversion and in the training config (``[nlp.tokenizer]``), so training
and prediction see the same tokens.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import spacy
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

_EXTRA_INFIXES = [
    r"(?<=[\w\)\]\+\*])[-\u2010\u2011\u2012\u2013\u2014/+:;,=*](?=[\w\(\[\*])",
    r"[\(\)\[\]\{\}\u200b\u00ae\u2122]",
    r"(?<=[A-Za-z])(?=\d+(?:\.\d+)?(?:mg|kg|ml|mL|µg|μg|nm|nM|µM|μM|mM)\b)",
    # a zero-width space separates words like a space: punctuation before it
    # is split off too ("weeks;\u200bp53")
    r"[.,;:!?]+(?=\u200b)",
    # "PA3553::lux" (gene fusions, insertions)
    r"(?<=[\w\)\]])::(?=[\w\(\[])",
    # a full stop glued to a citation or footnote: "ataxia.1", "layer.[10]"
    r"(?<=[^\W\d_]{2})\.(?=[\[\(]|\d)",
    # comparison signs inside lab values: "ANC>0.5", "CRP<5"
    r"(?<=[\w%])[<>\u2264\u2265](?=[\w.])",
]
_EXTRA_AFFIXES = [r"[\(\)\[\]\{\}\u200b]"]
# "≥30%", "<5 mg"
_EXTRA_PREFIXES = [r"[<>\u2264\u2265]"]


@spacy.registry.tokenizers("spacy_bioner.BioTokenizer.v1")
def create_bio_tokenizer() -> Callable[[Language], Tokenizer]:
    """Registered factory of the biomedical tokenizer (``[nlp.tokenizer]``).

    RETURNS (Callable[[Language], Tokenizer]): Builds the tokenizer for a pipeline.
    """

    def make(nlp: Language) -> Tokenizer:
        defaults = nlp.Defaults
        infixes = list(defaults.infixes or []) + _EXTRA_INFIXES
        prefixes = list(defaults.prefixes or []) + _EXTRA_AFFIXES + _EXTRA_PREFIXES
        # a final full stop after a word is punctuation here ("protein S."),
        # not an initial; abbreviations are kept whole by the exceptions
        suffixes = list(defaults.suffixes or []) + _EXTRA_AFFIXES + [r"(?<=\w)\.$", r"(?<=[\w+])[-\u2010\u2011\u2013/]"]
        # US-state and month abbreviations ("Ia.", "Mass.", "Jan.") collide with
        # gene and subtype names at the end of a sentence ("type Ia."), and
        # single letters with a full stop ("d.", "n.") with units and
        # variables there ("for 2 d.")
        rules = {k: v for k, v in (defaults.tokenizer_exceptions or {}).items()
                 if not re.fullmatch(r"[A-Z][a-z]{1,4}\.|[a-z]\.", k)}
        return Tokenizer(
            nlp.vocab,
            rules=rules,
            prefix_search=compile_prefix_regex(prefixes).search,
            suffix_search=compile_suffix_regex(suffixes).search,
            infix_finditer=compile_infix_regex(infixes).finditer,
            token_match=defaults.token_match,
            url_match=defaults.url_match,
        )

    return make
