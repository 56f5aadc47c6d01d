"""The k-NN post-layer of ``bioner_btl`` as pipe state: the stored training
words (their logits and gold tags), their saved form, and the voter built on
them. The search itself is ``spacy_bioner.torch.knn``; fitting (a forward pass
over training words) is the component's, in ``btl.py``.

* k-NN post-layer (``knn``): after training, a k-NN (``knn_k = 17``,
  ``knn_metric`` "euclidean" or "cosine", uniform votes, ties to the class of
  the nearest voter) over the raw logits (all ``1 + 2 * n_labels`` of them) of
  each word's *first subword* (averaged over the windows that cover it) gives
  the final tag; the span score is the mean over the span's words of the
  fraction of neighbours voting for the span's label (B or I). It is fitted on
  training words with the trained model in eval mode, their gold tags as
  classes, a seeded random sample of at most ``knn_max_tokens`` words, drawn
  sentence by sentence (so O keeps its empirical share and the fitting pass
  reads at most that many words plus one batch). Cost: ``knn_max_tokens x
  n_tags`` float32 in memory and in the saved pipeline (50,000 x 9 tags: 1.8
  MB). The search is exact (``knn_algorithm``, see ``spacy_bioner.torch.knn``):
  "auto" uses a KD-tree, built from the stored arrays when first needed, for
  up to 11 tags (5 labels) and brute force above (``knn_max_tokens x n_tags``
  multiply-adds per word at most: the k smallest are found among the k
  groups of 64 points with the smallest minimum, and a word that a 5% sample
  of the O points already settles skips the other O points); fitting is one
  forward pass over the sample. Without a fitted k-NN (``knn = false``, or
  before fitting) the tag is the argmax of the logits and the score the mean
  softmax probability of the label (B + I).
* Fitting in ``spacy train``: the registered callback
  ``spacy_bioner.fit_knn.v1``, used as ``[training.before_to_disk]``, fits the
  k-NN on ``[training] train_corpus`` each time the pipeline is saved
  (model-last after every evaluation, model-best as its copy, and model-last
  at the end), inside the averaged parameters that are saved. So both saved
  pipelines hold a k-NN fitted on exactly their own weights, which fitting
  inside ``update``/``finish_update`` cannot guarantee (it never sees the
  whole training set, nor knows which step is the last). Any ``update``
  discards the k-NN, which would be stale: evaluations during training (and
  the choice of model-best) therefore score the argmax decoder.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy
import spacy
import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe

from ..errors import Errors
from ..torch.knn import KNNVoter

#: Docs per forward pass while fitting the k-NN.
KNN_FIT_BATCH = 64
#: Version of the layout of the saved k-NN.
KNN_DATA_VERSION = 1

#: (features (n, n_tags) float32, gold tags (n,) int64)
KNNData = tuple[numpy.ndarray, numpy.ndarray]


class KNNPostLayer:
    """The stored words of a fitted k-NN (or none) and the voter on them.

    The voter (a KD-tree or the brute-force store) is built when first needed
    and rebuilt when the data or the search settings change.
    """

    def __init__(self) -> None:
        self._data: KNNData | None = None
        self.voter: KNNVoter | None = None
        self._settings: tuple[int, str, str] | None = None

    @property
    def data(self) -> KNNData | None:
        """RETURNS (KNNData | None): The stored (features, tags), None if not fitted."""
        return self._data

    @data.setter
    def data(self, value: KNNData | None) -> None:
        # a new (or no) k-NN invalidates the search structure built on the old one
        self._data = value
        self.voter = None

    def vote(self, logits: numpy.ndarray, k: int, metric: str, algorithm: str) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Each word's tag and vote fractions from its k nearest stored words.

        logits (numpy.ndarray): (n_words, n_tags) first-subword logits.
        k (int): Neighbours. metric (str): "euclidean" or "cosine".
        algorithm (str): "auto", "brute" or "kd_tree" (same neighbours).
        RETURNS (tuple[numpy.ndarray, numpy.ndarray]): (n_words,) int64 tags and
            (n_words, n_tags) vote fractions.
        """
        assert self._data is not None
        settings = (k, metric, algorithm)
        if self.voter is None or self._settings != settings:
            # built once per fitted k-NN and settings (a KD-tree takes ~0.05 s per 50,000 points)
            features, tags = self._data
            self.voter = KNNVoter(features, tags, logits.shape[1], *settings)
            self._settings = settings
        votes, predicted = self.voter.vote(logits)
        fractions = (votes / votes.sum(dim=1, keepdim=True).clamp_min(1.0)).numpy()
        return predicted.numpy().astype("int64"), fractions

    def to_bytes(self) -> bytes:
        """RETURNS (bytes): The stored words as msgpack (little-endian arrays)."""
        if self._data is None:
            return srsly.msgpack_dumps({"version": KNN_DATA_VERSION, "n": 0})
        features, tags = self._data
        return srsly.msgpack_dumps({
            "version": KNN_DATA_VERSION,
            "n": int(features.shape[0]),
            "dim": int(features.shape[1]),
            "features": features.astype("<f4").tobytes(),
            "tags": tags.astype("<i8").tobytes(),
        })

    def from_bytes(self, data: bytes, n_tags: int, name: str) -> None:
        """Load stored words, checking that they fit the component's tags.

        data (bytes): What `to_bytes` wrote.
        n_tags (int): The component's number of tags.
        name (str): The component, for messages.
        """
        msg = srsly.msgpack_loads(data)
        if not isinstance(msg, dict) or msg.get("version") != KNN_DATA_VERSION:
            raise ValueError(Errors.E611.format(name=name, what="unknown k-NN data version"))
        n = int(msg["n"])
        if n == 0:
            self.data = None
            return
        dim = int(msg["dim"])
        if dim != n_tags:
            raise ValueError(Errors.E611.format(name=name, what=f"the k-NN has {dim} features, the labels {n_tags} tags"))
        features = numpy.frombuffer(msg["features"], dtype="<f4").reshape((n, dim)).astype("float32")
        tags = numpy.frombuffer(msg["tags"], dtype="<i8").astype("int64")
        if tags.shape != (n,) or tags.min() < 0 or tags.max() >= dim:
            raise ValueError(Errors.E611.format(name=name, what="the k-NN tags do not fit the labels"))
        self.data = (features, tags)


class KNNSerialization(TrainablePipe):
    """TrainablePipe's serialization (cfg, vocab, model) plus the k-NN: a
    "knn" field in bytes, a "knn" file on disk (a directory without it loads
    as not fitted). For a pipe with `_knn_layer`, `_knn_from_bytes` and `_check_loaded`."""

    _knn_layer: KNNPostLayer
    _knn_from_bytes: Callable[[bytes], None]
    _check_loaded: Callable[[], None]

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Serialize the component (cfg, vocab, model, k-NN) to bytes.

        exclude (Iterable[str]): Fields to leave out.
        RETURNS (bytes): The data.
        """
        self._validate_serialization_attrs()
        serialize = {
            "cfg": lambda: srsly.json_dumps(self.cfg),
            "vocab": lambda: self.vocab.to_bytes(exclude=exclude),
            "model": self.model.to_bytes,
            "knn": self._knn_layer.to_bytes,
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> KNNSerialization:
        """Load the component from bytes.

        bytes_data (bytes): The data.
        exclude (Iterable[str]): Fields to leave out.
        RETURNS (KNNSerialization): The component.
        """
        self._validate_serialization_attrs()
        if "knn" not in exclude:
            self._knn_layer.data = None
        deserialize = {
            "cfg": lambda b: self.cfg.update(srsly.json_loads(b)),
            "vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude),
            "model": lambda b: self.model.from_bytes(b),
            "knn": self._knn_from_bytes,
        }
        util.from_bytes(bytes_data, deserialize, exclude)
        self._check_loaded()
        return self

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = tuple()) -> None:
        """Save the component to a directory: TrainablePipe's cfg, vocab and
        model, plus the k-NN in the file "knn".

        path (str | Path): The directory.
        exclude (Iterable[str]): Fields to leave out.
        """
        super().to_disk(path, exclude=exclude)
        if "knn" not in exclude:
            (Path(path) / "knn").write_bytes(self._knn_layer.to_bytes())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = tuple()) -> KNNSerialization:
        """Load the component from a directory (without a "knn" file: no k-NN).

        path (str | Path): The directory.
        exclude (Iterable[str]): Fields to leave out.
        RETURNS (KNNSerialization): The component.
        """
        super().from_disk(path, exclude=exclude)
        knn_path = Path(path) / "knn"
        if "knn" not in exclude:
            self._knn_layer.data = None
            if knn_path.exists():
                self._knn_from_bytes(knn_path.read_bytes())
        self._check_loaded()
        return self





def _has_knn(pipe: Any) -> bool:
    return callable(getattr(pipe, "fit_knn", None)) and hasattr(pipe, "knn_fitted")


def cap_words(
    rng: numpy.random.Generator, features: list[numpy.ndarray], tags: list[numpy.ndarray], cap: int
) -> KNNData:
    """Join the collected words and keep a seeded random subset of at most `cap`.

    rng (numpy.random.Generator): The fitting's generator (after the example order).
    features (list[numpy.ndarray]): Per batch, (n, n_tags) logits.
    tags (list[numpy.ndarray]): Per batch, (n,) gold tags.
    cap (int): Most words kept.
    RETURNS (KNNData): Contiguous (features, tags), in collection order.
    """
    all_features = numpy.concatenate(features).astype("float32")
    all_tags = numpy.concatenate(tags)
    if all_tags.shape[0] > cap:
        keep = numpy.sort(rng.choice(all_tags.shape[0], cap, replace=False))
        all_features, all_tags = all_features[keep], all_tags[keep]
    return numpy.ascontiguousarray(all_features), numpy.ascontiguousarray(all_tags)


@spacy.registry.misc("spacy_bioner.fit_knn.v1")
def make_fit_knn(
    corpus: str | None = None, components: list[str] | None = None
) -> Callable[[Language], Language]:
    """A `[training.before_to_disk]` callback that fits the k-NN of bioner_btl components.

    `spacy train` calls it, inside the averaged parameters it saves, each time
    it writes model-last (model-best is a copy), so every saved pipeline holds
    a k-NN fitted on its own weights. Components with `knn = false` are skipped,
    and so are components whose k-NN is still fitted (no update since).

    corpus (str | None): Dot name of the training corpus reader in the config,
        e.g. "corpora.train"; None: the config's [training] train_corpus.
    components (list[str] | None): bioner_btl components to fit; None: all.
    RETURNS (Callable[[Language], Language]): The callback.
    """

    def fit_knn_before_to_disk(nlp: Language) -> Language:
        pipes: dict[str, Any] = dict(nlp.pipeline)
        if components is not None:
            for name in components:
                if name not in nlp.pipe_names or not _has_knn(nlp.get_pipe(name)):
                    raise ValueError(Errors.E609.format(what=f"{name!r} is not a bioner_btl component of the pipeline"))
            names = list(components)
        else:
            names = [name for name, pipe in pipes.items() if _has_knn(pipe) and pipe.knn]
        # initialize() and every update discard the k-NN, so one still fitted was
        # fitted on these very weights (spacy train saves model-last twice at the
        # end with no update between): skipping saves a forward pass
        names = [name for name in names if not pipes[name].knn_fitted]
        if not names:
            return nlp
        config = nlp.config.interpolate()
        dot_name = corpus or config["training"].get("train_corpus")
        try:
            (reader,) = util.resolve_dot_names(config, [dot_name])
        except Exception as err:
            raise ValueError(Errors.E609.format(what=f"the corpus {dot_name!r} cannot be read: {err}")) from err
        for name in names:
            pipes[name].fit_knn(lambda: reader(nlp))
        return nlp

    return fit_knn_before_to_disk
