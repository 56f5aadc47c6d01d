"""Resource limits of the readers: the largest document and the largest offset.

A few bytes of input can ask for a lot of memory: a BioC passage at offset
10^12 would be placed by filling the gap with that many characters, and a
20-digit offset in a standoff file ends in a report no JSON writer takes. The
readers check every offset and every document size against these limits
*before* they allocate anything, and raise an error that names the file and
line (or document) and the setting to raise.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import BioNERInputError, Errors

#: spaCy's own default ``nlp.max_length``: longer texts need more memory than a
#: tokenizer pipeline should take without being asked to.
DEFAULT_MAX_CHARS = 1_000_000


@dataclass(frozen=True)
class Limits:
    """The largest document and offset a conversion accepts.

    max_chars (int): Characters in one document (its whole text, before
        sentence splitting).
    max_offset (int | None): Largest character offset of an annotation,
        location end or passage; None: ``max_chars`` (an offset beyond the
        largest document cannot point into any document).
    """

    max_chars: int = DEFAULT_MAX_CHARS
    max_offset: int | None = None

    def __post_init__(self) -> None:
        for setting, value in (("max_chars", self.max_chars), ("max_offset", self.max_offset)):
            if value is None and setting == "max_offset":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BioNERInputError(Errors.E029.format(setting=setting, value=value))

    @property
    def offset_limit(self) -> int:
        """RETURNS (int): The largest offset accepted."""
        return self.max_chars if self.max_offset is None else self.max_offset

    def offset(self, digits: str, loc: str) -> int:
        """Convert a string of ASCII digits into an offset within the limit.

        The length is checked before ``int()`` runs: Python refuses to convert
        more than 4,300 digits (with a ValueError that names no file), and a
        number with more digits than the limit is over it anyway.

        digits (str): ASCII digits only (the caller checks the syntax).
        loc (str): ``file:line`` or ``file [document ID]``, for the error.
        RETURNS (int): The offset.
        """
        significant = digits.lstrip("0") or "0"
        if len(significant) > len(str(self.offset_limit)):
            shown = significant if len(significant) <= 24 else f"{significant[:12]}... ({len(significant)} digits)"
            raise BioNERInputError(Errors.E023.format(loc=loc, value=shown, limit=self.offset_limit))
        return self.check_offset(int(significant), loc)

    def check_offset(self, value: int, loc: str) -> int:
        """Refuse an offset over the limit.

        value (int): The offset (or offset + length).
        loc (str): Where it was read, for the error.
        RETURNS (int): ``value``.
        """
        if value > self.offset_limit:
            # str() of a huge int raises too; a number that large is shown by its size
            shown = str(value) if value.bit_length() <= 80 else f"of {value.bit_length()} bits"
            raise BioNERInputError(Errors.E023.format(loc=loc, value=shown, limit=self.offset_limit))
        return value

    def check_chars(self, n: int, loc: str) -> None:
        """Refuse a document longer than ``max_chars``, before its text is built.

        n (int): The document's length in characters (or a lower bound of it).
        loc (str): ``file`` or ``file [document ID]``, for the error.
        """
        if n > self.max_chars:
            raise BioNERInputError(Errors.E024.format(loc=loc, n=n, limit=self.max_chars))


#: The limits used when a reader is given none.
DEFAULT_LIMITS = Limits()
