"""The training step: the base model (spaCy's own training loop on the seen
labels) and the few-shot runs (a fixed number of updates from the base model,
nothing selected)."""
from __future__ import annotations

import math
import random
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from spacy import util
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Config, fix_random_seed
from wasabi import Printer

from ...errors import BioNERInputError, Errors
from ...pipeline.prompted import PromptedTagger
from .data import Sentence, sentence_example, write_docs
from .options import check_schedule

FACTORY = "bioner_prompted"
#: Default few-shot schedule: at least this many updates ...
MIN_FEWSHOT_STEPS = 10
#: ... and at least this many passes over the k sentences.
MIN_FEWSHOT_EPOCHS = 3
#: Few-shot batch size when the config's batcher has no integer `size`.
DEFAULT_BATCH_SIZE = 16


# ---- the base model -----------------------------------------------------------


@dataclass
class BaseConfig:
    """The training config of the base model, and what the experiment reads from it.

    config (Config): The config, not interpolated, with the overrides applied.
    name (str): The name of the bioner_prompted component.
    spans_key (str): Its span group (where it reads gold and writes spans).
    config_labels (dict[str, Any]): Descriptions the config gives, if any.
    """

    config: Config
    name: str
    spans_key: str
    config_labels: dict[str, Any]


@dataclass
class BaseModel:
    """The trained base model, loaded, and what the report says about it.

    path (Path): model-best (else model-last).
    nlp (Language): The pipeline loaded from `path`.
    tagger (PromptedTagger): Its bioner_prompted component.
    labels (dict[str, str]): The labels it was trained on, with their descriptions.
    dev_scores (dict[str, Any]): Its dev scores (meta.json "performance").
    seconds (float): Training time.
    config_path (Path): The config it was trained with.
    train_path (Path): Its training data (no hidden label).
    dev_path (Path): Its dev data (no hidden label).
    """

    path: Path
    nlp: Language
    tagger: PromptedTagger
    labels: dict[str, str]
    dev_scores: dict[str, Any]
    seconds: float
    config_path: Path
    train_path: Path
    dev_path: Path


def load_base_config(config_path: str | Path, overrides: Mapping[str, Any] | None = None) -> BaseConfig:
    """Load a training config and find its bioner_prompted component.

    config_path (str | Path): The config, e.g. configs/prompted.cfg.
    overrides (Mapping[str, Any] | None): Config overrides ("section.key" -> value).
    RETURNS (BaseConfig): The config and its component settings.
    RAISES (BioNERInputError): If the config cannot be read or has no single bioner_prompted.
    """
    path = Path(config_path)
    if not path.is_file():
        raise BioNERInputError(Errors.E410.format(path=path, err="no such file"))
    try:
        config = util.load_config(path, overrides=dict(overrides or {}), interpolate=False)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E410.format(path=path, err=err)) from err
    components = config.get("components", {})
    names = [name for name, block in components.items() if isinstance(block, dict) and block.get("factory") == FACTORY]
    if len(names) != 1:
        raise BioNERInputError(Errors.E411.format(path=path, n=len(names), names=", ".join(names) or "none"))
    name = names[0]
    block = components[name]
    init_block = config.get("initialize", {}).get("components", {}).get(name, {}) or {}
    config_labels: dict[str, Any] = {}
    for labels in (block.get("labels"), init_block.get("labels")):
        if isinstance(labels, Mapping):
            config_labels.update(labels)
    spans_key = block.get("spans_key", "sc")
    if not isinstance(spans_key, str):
        raise BioNERInputError(Errors.E410.format(path=path, err=f"components.{name}.spans_key is {spans_key!r}"))
    return BaseConfig(config, name, spans_key, config_labels)


def prepare_base_config(
    base: BaseConfig,
    config_path: str | Path,
    *,
    train_path: Path,
    dev_path: Path,
    labels: Mapping[str, str],
    encoder: str | None = None,
    max_steps: int | None = None,
) -> Config:
    """Point the config at the seen-label data and give the component the seen labels.

    The train and dev corpora's `path` (and [paths] train/dev) are set to the
    filtered files, so no reader can fall back to data with hidden labels;
    [initialize.components.NAME] labels is set to `labels` and the
    component's own `labels` to null.

    base (BaseConfig): From `load_base_config` (its config is modified).
    config_path (str | Path): The config file, for errors.
    train_path (Path): Training docs without hidden labels.
    dev_path (Path): Dev docs without hidden labels.
    labels (Mapping[str, str]): The seen labels and their descriptions.
    encoder (str | None): Encoder name or directory to use instead of the config's.
    max_steps (int | None): [training] max_steps to use instead of the config's.
    RETURNS (Config): The modified config.
    """
    config = base.config
    training = config.setdefault("training", {})
    for what, key, data in (("train", "train_corpus", train_path), ("dev", "dev_corpus", dev_path)):
        _set_corpus_path(config, training.get(key, f"corpora.{what}"), what, data, config_path)
    component = config["components"][base.name]
    component["labels"] = None
    init = config.setdefault("initialize", {}).setdefault("components", {})
    init.setdefault(base.name, {})["labels"] = dict(labels)
    if encoder is not None:
        component.setdefault("model", {})["encoder"] = str(encoder)
        if isinstance(config.get("paths"), dict) and "encoder" in config["paths"]:
            config["paths"]["encoder"] = str(encoder)
    if max_steps is not None:
        training["max_steps"] = int(max_steps)
    return config


def _set_corpus_path(config: Config, dot_name: Any, what: str, data: Path, config_path: str | Path) -> None:
    """Point the corpus block `dot_name` (and [paths] `what`) at `data`."""
    block: Any = config
    for part in str(dot_name).split("."):
        block = block.get(part) if isinstance(block, dict) else None
    if not isinstance(block, dict) or "path" not in block:
        raise BioNERInputError(Errors.E412.format(path=config_path, what=what, dot_name=dot_name))
    block["path"] = str(data)
    if isinstance(config.get("paths"), dict) and what in config["paths"]:
        config["paths"][what] = str(data)


def train_base(config: Config, output_dir: Path, *, use_gpu: int = -1, stdout: IO[str] | None = None) -> Path:
    """Train with spaCy's training loop and return model-best (else model-last).

    config (Config): The prepared config.
    output_dir (Path): Where model-best and model-last go.
    use_gpu (int): GPU id, -1 for CPU.
    stdout (IO[str] | None): Where the training log goes; None: sys.stdout.
    RETURNS (Path): The directory of the selected model.
    """
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as train_loop

    output_dir.mkdir(parents=True, exist_ok=True)
    out = stdout if stdout is not None else sys.stdout
    try:
        nlp = init_nlp(config, use_gpu=use_gpu)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E410.format(path=output_dir.parent / "base.cfg", err=err)) from err
    train_loop(nlp, output_dir, use_gpu=use_gpu, stdout=out, stderr=out)
    # spaCy evaluates after the first update, so model-best exists after any training
    best = output_dir / "model-best"
    return best if best.exists() else output_dir / "model-last"


def train_base_model(
    base: BaseConfig,
    config_path: str | Path,
    output_dir: Path,
    *,
    train_docs: Sequence[Doc],
    dev_docs: Sequence[Doc],
    labels: Mapping[str, str],
    hidden: Sequence[str],
    encoder: str | None = None,
    max_steps: int | None = None,
    use_gpu: int = -1,
    msg: Printer | None = None,
    stdout: IO[str] | None = None,
) -> BaseModel:
    """Write the seen-label data and config to `output_dir`, train the base model on them, and load it.

    base (BaseConfig): From `load_base_config`.
    config_path (str | Path): The config file, for errors.
    output_dir (Path): Gets data/train.seen.spacy, data/dev.seen.spacy, base.cfg and base/.
    train_docs (Sequence[Doc]): Training docs without hidden labels.
    dev_docs (Sequence[Doc]): Dev docs without hidden labels.
    labels (Mapping[str, str]): The seen labels and their descriptions.
    hidden (Sequence[str]): The hidden labels, which the trained model must not know.
    encoder (str | None): Encoder name or directory instead of the config's.
    max_steps (int | None): [training] max_steps instead of the config's.
    use_gpu (int): GPU id, -1 for CPU.
    msg (Printer | None): Progress messages (None: silent).
    stdout (IO[str] | None): Where the training log goes; None: sys.stdout.
    RETURNS (BaseModel): The loaded base model.
    """
    msg = msg if msg is not None else Printer(no_print=True)
    train_path, dev_path = output_dir / "data" / "train.seen.spacy", output_dir / "data" / "dev.seen.spacy"
    write_docs(train_docs, train_path)
    write_docs(dev_docs, dev_path)
    config = prepare_base_config(base, config_path, train_path=train_path, dev_path=dev_path, labels=labels,
                                 encoder=encoder, max_steps=max_steps)
    config.to_disk(output_dir / "base.cfg")
    if use_gpu >= 0:
        from spacy import require_gpu

        require_gpu(use_gpu)
    msg.divider("Base model (seen labels: " + ", ".join(labels) + ")")
    started = time.perf_counter()
    best = train_base(config, output_dir / "base", use_gpu=use_gpu, stdout=stdout)
    seconds = time.perf_counter() - started
    msg.info(f"Base model: {best} (selected on {dev_path}, no hidden label)")
    nlp, tagger = load_tagger(best, base.name)
    leaked = sorted(set(tagger.labels) & set(hidden))
    if leaked:
        raise BioNERInputError(Errors.E414.format(path=best, labels=", ".join(leaked)))
    return BaseModel(best, nlp, tagger, tagger.label_descriptions, dict(nlp.meta.get("performance", {})), seconds,
                     output_dir / "base.cfg", train_path, dev_path)


def load_tagger(path: Path, name: str) -> tuple[Language, PromptedTagger]:
    """path (Path): A saved pipeline. name (str): The component.
    RETURNS (tuple[Language, PromptedTagger]): The pipeline and its tagger."""
    nlp = util.load_model(path)
    return nlp, cast(PromptedTagger, nlp.get_pipe(name))


# ---- the few-shot runs -----------------------------------------------------------


@dataclass(frozen=True)
class FinetuneSettings:
    """How every few-shot run is trained.

    optimizer (dict[str, Any]): An optimizer block with a constant rate (see `fewshot_optimizer`).
    batch_size (int): Sentences per update.
    steps (int | None): Fixed updates per run (see `fewshot_schedule`).
    epochs (int | None): Fixed passes per run.
    """

    optimizer: dict[str, Any]
    batch_size: int
    steps: int | None = None
    epochs: int | None = None

    def schedule(self, k: int) -> int:
        """k (int): Sentences in the sample. RETURNS (int): Updates of its run."""
        return fewshot_schedule(k, self.batch_size, steps=self.steps, epochs=self.epochs)

    @property
    def rule(self) -> str:
        """RETURNS (str): The schedule in words, for the report."""
        if self.steps is not None:
            return f"{self.steps} updates per run"
        if self.epochs is not None:
            return f"{self.epochs} passes over the sample per run"
        return f"max({MIN_FEWSHOT_STEPS}, {MIN_FEWSHOT_EPOCHS} passes) updates per run"


def finetune_settings(
    trained_config: Config,
    *,
    learn_rate: float | None = None,
    batch_size: int | None = None,
    steps: int | None = None,
    epochs: int | None = None,
) -> FinetuneSettings:
    """The few-shot settings: the base model's optimizer and batch size unless given.

    trained_config (Config): The base model's config, interpolated.
    learn_rate (float | None): Constant learning rate (see `fewshot_optimizer`).
    batch_size (int | None): Sentences per update; None: the config's
        [training.batcher] size if an integer, else DEFAULT_BATCH_SIZE.
    steps (int | None): Fixed updates per run.
    epochs (int | None): Fixed passes per run.
    RETURNS (FinetuneSettings): The settings.
    """
    optimizer = fewshot_optimizer(trained_config["training"]["optimizer"], learn_rate)
    if batch_size is None:
        size = trained_config.get("training", {}).get("batcher", {}).get("size")
        ok = isinstance(size, int) and not isinstance(size, bool) and size > 0
        batch_size = size if ok else DEFAULT_BATCH_SIZE
    return FinetuneSettings(optimizer, batch_size, steps, epochs)


def fewshot_schedule(k: int, batch_size: int, *, steps: int | None = None, epochs: int | None = None) -> int:
    """The number of updates of a k-shot fine-tuning run.

    Given `steps`: that many. Given `epochs`: epochs * ceil(k / batch_size).
    Neither: max(MIN_FEWSHOT_STEPS, MIN_FEWSHOT_EPOCHS * ceil(k / batch_size)),
    i.e. at least 10 updates and at least 3 passes over the sample (with
    batch 16: 10 updates for k <= 53, 21 for k = 100).

    k (int): Sentences in the sample (the number used, not asked for).
    batch_size (int): Sentences per update.
    steps (int | None): Fixed number of updates.
    epochs (int | None): Fixed number of passes.
    RETURNS (int): The number of updates.
    """
    check_schedule(batch_size, steps=steps, epochs=epochs)
    batches = max(1, math.ceil(k / batch_size))
    if steps is not None:
        return steps
    if epochs is not None:
        return epochs * batches
    return max(MIN_FEWSHOT_STEPS, MIN_FEWSHOT_EPOCHS * batches)


def fewshot_optimizer(optimizer_config: Mapping[str, Any], learn_rate: float | None = None) -> dict[str, Any]:
    """The base model's optimizer block with a constant learning rate.

    A schedule tuned for the base model (a warm-up over hundreds of steps)
    would leave a 10-update few-shot run at a learning rate near zero, so the
    few-shot runs use `learn_rate` when given, else the schedule's
    `initial_rate`, else the block's own constant rate.

    optimizer_config (Mapping[str, Any]): An interpolated [training.optimizer] block.
    learn_rate (float | None): The rate to use instead.
    RETURNS (dict[str, Any]): A copy with a float `learn_rate`.
    """
    config = dict(optimizer_config)
    rate = config.get("learn_rate")
    if learn_rate is not None:
        config["learn_rate"] = float(learn_rate)
    elif isinstance(rate, Mapping):
        if "initial_rate" not in rate:
            raise BioNERInputError(Errors.E415.format(schedule=rate.get("@schedules", rate)))
        config["learn_rate"] = float(rate["initial_rate"])
    return config


def finetune_label(
    base: Path,
    name: str,
    label: str,
    description: str,
    sample: Sequence[Sentence],
    spans_key: str,
    *,
    steps: int,
    settings: FinetuneSettings,
    seed: int,
) -> tuple[Language, float]:
    """Load the base model, make it know only `label`, and fine-tune it on the sample.

    base (Path): The saved base model.
    name (str): Its bioner_prompted component.
    label (str): The hidden label.
    description (str): The label's description.
    sample (Sequence[Sentence]): The k-shot sentences (their gold: only `label`).
    spans_key (str): The component's span group.
    steps (int): Number of updates.
    settings (FinetuneSettings): Optimizer and batch size.
    seed (int): The run's seed (see `finetune`).
    RETURNS (tuple[Language, float]): The fine-tuned pipeline and its loss (see `finetune`).
    """
    nlp, tagger = load_tagger(base, name)
    tagger.set_labels({label: description})
    examples = [sentence_example(nlp, sentence, label, spans_key) for sentence in sample]
    loss = finetune(nlp, name, examples, steps=steps, batch_size=settings.batch_size,
                    optimizer_config=settings.optimizer, seed=seed)
    return nlp, loss


def finetune(
    nlp: Language,
    name: str,
    examples: Sequence[Example],
    *,
    steps: int,
    batch_size: int,
    optimizer_config: Mapping[str, Any],
    seed: int,
) -> float:
    """Update one component for a fixed number of steps; nothing is selected.

    Each pass visits the examples in a seeded random order, in batches of
    `batch_size` (the last one of a pass may be smaller). A fresh optimizer is
    made from `optimizer_config` (the training config's [training.optimizer]).

    nlp (Language): The pipeline (updated in place).
    name (str): The component to update; the others are left alone.
    examples (Sequence[Example]): The few-shot examples.
    steps (int): Number of updates.
    batch_size (int): Examples per update.
    optimizer_config (Mapping[str, Any]): An interpolated optimizer block.
    seed (int): Seeds the order and torch, numpy and random (dropout).
    RETURNS (float): The mean loss of the last pass.
    """
    fix_random_seed(seed)
    optimizer = util.registry.resolve({"optimizer": dict(optimizer_config)})["optimizer"]
    rng = random.Random(seed)
    others = [other for other in nlp.pipe_names if other != name]
    queue: list[Example] = []
    pass_losses: list[float] = []
    for _ in range(steps):
        if not queue:
            queue = list(examples)
            rng.shuffle(queue)
            pass_losses = []
        batch, queue = queue[:batch_size], queue[batch_size:]
        losses: dict[str, float] = {}
        nlp.update(batch, sgd=optimizer, losses=losses, exclude=others)
        pass_losses.append(losses.get(name, 0.0))
    return statistics.fmean(pass_losses) if pass_losses else 0.0
