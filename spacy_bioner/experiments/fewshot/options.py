"""What the user asks for: hidden labels, k values, seeds, the few-shot
schedule and label descriptions, checked before any file is read or any model
trained, so that a typo fails in a second rather than after the base model."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import srsly

from ...errors import BioNERInputError, Errors
from ...pipeline._base import default_description


@dataclass(frozen=True)
class FewshotOptions:
    """The checked options of one experiment (see `run_fewshot` for each).

    The data and config paths are kept as given: they are reported and named
    in errors as the user wrote them.
    """

    train: str | Path
    dev: str | Path
    test: str | Path
    config_path: str | Path
    output_dir: Path
    hidden: list[str]
    shots: list[int]
    seeds: int
    overrides: Mapping[str, Any] | None = None
    encoder: str | None = None
    max_steps: int | None = None
    fewshot_steps: int | None = None
    fewshot_epochs: int | None = None
    fewshot_batch_size: int | None = None
    fewshot_lr: float | None = None
    descriptions: Mapping[str, str] | None = None
    use_gpu: int = -1
    verbose: bool = True

    @property
    def few_shots(self) -> list[int]:
        """RETURNS (list[int]): The k values that sample sentences (k > 0)."""
        return [k for k in self.shots if k > 0]


def check_options(
    *, hidden: Sequence[str], shots: Sequence[int] | str, seeds: int, output_dir: str | Path, **options: Any
) -> FewshotOptions:
    """Check the options that need no file, in the order the user is told about them.

    hidden (Sequence[str]): The hidden labels.
    shots (Sequence[int] | str): The k values (see `parse_shots`).
    seeds (int): Few-shot samples per k > 0.
    output_dir (str | Path): Output directory.
    **options (Any): The other fields of FewshotOptions.
    RETURNS (FewshotOptions): The options.
    RAISES (BioNERInputError): For an invalid option.
    """
    labels = check_hidden(hidden)
    ks = parse_shots(shots)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BioNERInputError(Errors.E405.format(value=seeds))
    check_schedule(options.get("fewshot_batch_size"), steps=options.get("fewshot_steps"),
                   epochs=options.get("fewshot_epochs"))
    max_steps = options.get("max_steps")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0):
        raise BioNERInputError(Errors.E413.format(what=f"--max-steps must be a non-negative integer, not {max_steps!r}"))
    return FewshotOptions(hidden=labels, shots=ks, seeds=seeds, output_dir=Path(output_dir), **options)


def check_hidden(hidden: Sequence[str]) -> list[str]:
    """hidden (Sequence[str]): The hidden labels, as given.
    RETURNS (list[str]): Them, as a list.
    RAISES (BioNERInputError): For no label, a label that is not a non-empty string, or a repeated one."""
    labels = list(hidden)
    if not labels:
        raise BioNERInputError(Errors.E406.format(labels=labels, what="no hidden label given"))
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise BioNERInputError(Errors.E406.format(labels=labels, what=f"{label!r} is not a label"))
    dupes = sorted(label for label, n in Counter(labels).items() if n > 1)
    if dupes:
        raise BioNERInputError(Errors.E406.format(labels=labels, what=f"{', '.join(dupes)} given more than once"))
    return labels


def check_schedule(batch_size: int | None, *, steps: int | None = None, epochs: int | None = None) -> None:
    """Check the few-shot schedule's settings (see `fewshot_schedule`).

    batch_size (int | None): Sentences per update (None: not given).
    steps (int | None): Fixed number of updates.
    epochs (int | None): Fixed number of passes.
    RAISES (BioNERInputError): For both steps and epochs, or a value that is not a positive integer.
    """
    if steps is not None and epochs is not None:
        raise BioNERInputError(Errors.E413.format(what="give --fewshot-steps or --fewshot-epochs, not both"))
    for name, value in (("--fewshot-steps", steps), ("--fewshot-epochs", epochs), ("batch size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BioNERInputError(Errors.E413.format(what=f"{name} must be a positive integer, not {value!r}"))


def parse_shots(value: str | Sequence[int]) -> list[int]:
    """`"0,1,10,100"` -> [0, 1, 10, 100] (sorted, each once).

    value (str | Sequence[int]): Comma-separated integers, or integers.
    RETURNS (list[int]): The k values.
    RAISES (BioNERInputError): For anything else than non-negative integers.
    """
    items = [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
    if not items or items == [""]:
        raise BioNERInputError(Errors.E404.format(value=value, what="no value given"))
    shots: list[int] = []
    for item in items:
        if isinstance(item, str) and re.fullmatch(r"-?[0-9]+", item):
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int):
            raise BioNERInputError(Errors.E404.format(value=value, what=f"{item!r} is not an integer"))
        if item < 0:
            raise BioNERInputError(Errors.E404.format(value=value, what=f"{item} is negative"))
        shots.append(item)
    return sorted(set(shots))


def load_descriptions(path: str | Path) -> dict[str, str]:
    """Read a JSON object {label: description}.

    path (str | Path): The file.
    RETURNS (dict[str, str]): The descriptions.
    RAISES (BioNERInputError): If the file is missing or not such an object.
    """
    path = Path(path)
    try:
        data = srsly.read_json(path)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E409.format(path=path, what=err)) from err
    if not isinstance(data, dict):
        raise BioNERInputError(Errors.E409.format(path=path, what=f"a JSON {type(data).__name__}, not an object"))
    for label, text in data.items():
        if not isinstance(text, str) or not text.strip():
            raise BioNERInputError(Errors.E409.format(path=path, what=f"the description of {label!r} is {text!r}"))
    return {str(label): text for label, text in data.items()}


def describe(label: str, given: Mapping[str, str] | None = None, config_labels: Mapping[str, Any] | None = None) -> str:
    """The description the model reads for a label: a given one, else the
    config's, else the label in words, lower-cased.

    label (str): The label.
    given (Mapping[str, str] | None): Descriptions given by the user.
    config_labels (Mapping[str, Any] | None): The config's initialize labels.
    RETURNS (str): The description.
    """
    for source in (given, config_labels):
        if source and isinstance(source.get(label), str) and source[label].strip():
            return str(source[label])
    return default_description(label).lower()
