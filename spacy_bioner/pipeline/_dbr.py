"""Dense Bioentities Recognition (DBR), the knowledge-injection training task
of Bian et al., "VANER" (section 3.4), for ``bioner_llama``.

For each training sentence and entity type T, DBR adds a *pseudo-sentence*:
names of known entities, retrieved because they resemble phrases of the
sentence, concatenated and tagged B/I where their type is T (O otherwise),
read with the instruction without the dataset name. The model thereby sees
many more entity names of each type, and similar names of other types as
negatives. The pieces, and how they differ from the paper:

* :class:`KnowledgeBase`: (name, type) pairs. The paper's came mostly from
  UMLS (1M names) plus the training splits; here it is built from the
  training spans (type = the span's label) and extended from a user TSV file
  (``name<TAB>type``), e.g. a UMLS extract.
* :func:`candidate_phrases`: the paper mines phrases with AutoPhrase; we take
  every word n-gram of the sentence up to the longest name in the knowledge
  base (in words), skipping n-grams that start or end with a word without a
  letter or digit.
* Retrieval: :class:`TfidfRetriever` (default) scores phrase and name by the
  cosine of their TF-IDF vectors of character 3-grams within words
  (scikit-learn ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))``,
  fitted on the knowledge-base names, so 3-grams that no name has are
  ignored); :class:`EncoderRetriever` by the cosine
  of encoder embeddings (the paper: SapBERT, CLS token). For each phrase the
  `top_k` names with a cosine of at least `threshold` are kept (0.5 by
  default: a word shared by a two-word phrase and a name scores about that,
  an exact match 1.0).
* :class:`DBRSampler`: of the names retrieved for a sentence, up to 10 of
  type T and 5 of other types (the paper's numbers) are drawn at random,
  shuffled and concatenated (no separator: the B tags mark where a T name
  starts). Draws come from one seeded generator, so a run is reproducible
  and each epoch sees new draws. ``mode = "random"`` (the paper's "random
  DBR" ablation) keeps the numbers of T and other names a retrieval gives but
  draws them uniformly from the whole knowledge base.

Only training uses any of this. This module needs numpy, scikit-learn and,
for an encoder, transformers; it does not import spaCy.
"""
from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy

from ..errors import Errors, location

#: DBR modes: no pseudo-sentences, retrieved names, or random names (ablation).
DBR_MODES = ("off", "retrieved", "random")
#: How EncoderRetriever pools a text's token embeddings: [CLS] (SapBERT) or their mean.
DBR_POOLING = ("cls", "mean")
#: Tags of the pseudo-sentences: O, B, I (the labeler's order).
TAG_O, TAG_B, TAG_I = 0, 1, 2


def _normalize(name: str) -> str:
    return " ".join(name.split())


class KnowledgeBase:
    """Entity names with their types, without duplicate (name, type) pairs.

    entries (Iterable[tuple[str, str]]): (name, type) pairs to start with.
    """

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self.names: list[str] = []
        self.types: list[str] = []
        self._seen: set[tuple[str, str]] = set()
        for name, type_ in entries:
            self.add(name, type_)

    def __len__(self) -> int:
        return len(self.names)

    def add(self, name: str, type_: str) -> bool:
        """Add a name (whitespace is normalised; names compare case-sensitively).

        name (str): The entity name.
        type_ (str): Its type (a label of the component).
        RETURNS (bool): Whether it was new.
        """
        name = _normalize(name)
        if not name or not type_:
            return False
        key = (name, type_)
        if key in self._seen:
            return False
        self._seen.add(key)
        self.names.append(name)
        self.types.append(type_)
        return True

    def add_tsv(self, path: str | Path) -> int:
        """Add the names of a TSV file: one ``name<TAB>type`` per line; empty
        lines and lines starting with "#" are skipped.

        path (str | Path): The file (UTF-8).
        RETURNS (int): Names added (duplicates are not counted).
        RAISES (ValueError): Naming the file and line of the first bad line,
            or the file if it does not exist or is not UTF-8.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(Errors.E711.format(loc=location(path), what="the file does not exist"))
        try:
            text = path.read_text(encoding="utf8")
        except UnicodeDecodeError as err:
            raise ValueError(Errors.E711.format(loc=location(path), what=f"not valid UTF-8 ({err})")) from err
        added = 0
        for i, row in enumerate(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
                continue
            if len(row) != 2:
                raise ValueError(Errors.E711.format(
                    loc=location(path, i), what=f"{len(row)} tab-separated field(s), not 2"))
            name, type_ = (field.strip() for field in row)
            if not name or not type_:
                raise ValueError(Errors.E711.format(loc=location(path, i), what="an empty name or type"))
            added += int(self.add(name, type_))
        return added

    @property
    def max_words(self) -> int:
        """RETURNS (int): Words in the longest name (0 if empty)."""
        return max((len(name.split()) for name in self.names), default=0)

    def of_type(self, type_: str) -> numpy.ndarray:
        """type_ (str): A type. RETURNS (numpy.ndarray): Indices of its names."""
        return numpy.flatnonzero(numpy.asarray(self.types, dtype=object) == type_)

    def type_counts(self) -> dict[str, int]:
        """RETURNS (dict[str, int]): Names per type."""
        counts: dict[str, int] = {}
        for type_ in self.types:
            counts[type_] = counts.get(type_, 0) + 1
        return counts


def candidate_phrases(words: Sequence[str], max_words: int) -> list[str]:
    """Every n-gram of the sentence's words, 1 <= n <= max_words, that starts
    and ends with a word holding a letter or digit.

    words (Sequence[str]): The sentence's words (whitespace tokens are skipped).
    max_words (int): Longest n-gram.
    RETURNS (list[str]): The phrases (words joined by one space), shortest first.
    """
    kept = [w for w in words if w.strip()]
    content = [any(c.isalnum() for c in w) for w in kept]
    out: list[str] = []
    for n in range(1, max_words + 1):
        for start in range(len(kept) - n + 1):
            end = start + n
            if content[start] and content[end - 1]:
                out.append(" ".join(kept[start:end]))
    return out


class Retriever(Protocol):
    """What DBRSampler needs from a retriever."""

    def retrieve(self, phrases: Sequence[str]) -> dict[int, float]:
        """phrases (Sequence[str]): Queries. RETURNS (dict[int, float]):
        Knowledge-base index -> best cosine, over the phrases' top hits."""
        ...


def _top_hits(rows: Iterable[tuple[numpy.ndarray, numpy.ndarray]], top_k: int, threshold: float) -> dict[int, float]:
    """Union of each row's `top_k` (index, score) hits with score >= threshold; best score per index."""
    best: dict[int, float] = {}
    for indices, scores in rows:
        keep = scores >= threshold
        indices, scores = indices[keep], scores[keep]
        if indices.size > top_k:
            order = numpy.argsort(-scores, kind="stable")[:top_k]
            indices, scores = indices[order], scores[order]
        for i, s in zip(indices.tolist(), scores.tolist(), strict=True):
            if s > best.get(i, -1.0):
                best[i] = s
    return best


class TfidfRetriever:
    """Cosine of character 3-gram TF-IDF vectors (within word boundaries,
    lowercased), fitted on the knowledge-base names.

    kb (KnowledgeBase): The names to search.
    threshold (float): Lowest cosine kept.
    top_k (int): Most names kept per phrase.
    """

    def __init__(self, kb: KnowledgeBase, threshold: float = 0.5, top_k: int = 5) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.threshold = threshold
        self.top_k = top_k
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), lowercase=True)
        # rows are L2-normalised, so a dot product is the cosine
        self.matrix = self.vectorizer.fit_transform(kb.names).T.tocsc() if len(kb) else None

    def retrieve(self, phrases: Sequence[str]) -> dict[int, float]:
        """phrases (Sequence[str]): Queries. RETURNS (dict[int, float]): KB index -> best cosine."""
        if self.matrix is None or not phrases:
            return {}
        sims = (self.vectorizer.transform(list(phrases)) @ self.matrix).tocsr()
        rows = (
            (sims.indices[sims.indptr[r] : sims.indptr[r + 1]], sims.data[sims.indptr[r] : sims.indptr[r + 1]])
            for r in range(sims.shape[0])
        )
        return _top_hits(rows, self.top_k, self.threshold)


class EncoderRetriever:
    """Cosine of encoder embeddings, e.g. SapBERT's [CLS] vectors (the paper's).

    kb (KnowledgeBase): The names to search (embedded once, here).
    encoder (str): HF model name (in the local cache) or local directory.
    pooling (str): "cls" (SapBERT) or "mean" (over the name's tokens).
    threshold (float): Lowest cosine kept.
    top_k (int): Most names kept per phrase.
    batch_size (int): Texts per forward pass.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        encoder: str,
        pooling: str = "cls",
        threshold: float = 0.5,
        top_k: int = 5,
        batch_size: int = 64,
    ) -> None:
        from ..models.hf import load_hf_encoder

        if pooling not in DBR_POOLING:
            raise ValueError(Errors.E721.format(pooling=pooling, options=", ".join(DBR_POOLING)))
        try:
            self.model, self.tokenizer = load_hf_encoder(encoder)
        except ValueError as err:
            raise ValueError(Errors.E713.format(name=encoder, err=err)) from err
        self.model.eval()
        self.pooling = pooling
        self.threshold = threshold
        self.top_k = top_k
        self.batch_size = batch_size
        self.matrix = self.embed(kb.names)

    def embed(self, texts: Sequence[str]) -> numpy.ndarray:
        """texts (Sequence[str]): Names or phrases. RETURNS (numpy.ndarray):
        (len(texts), hidden) L2-normalised float32 embeddings."""
        import torch

        parts: list[numpy.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                list(texts[start : start + self.batch_size]), padding=True, truncation=True, max_length=32,
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
            if self.pooling == "cls":
                vectors = hidden[:, 0]
            else:
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vectors = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
            parts.append(vectors.numpy())
        if not parts:
            return numpy.zeros((0, int(self.model.config.hidden_size)), dtype="float32")
        return numpy.concatenate(parts).astype("float32")

    def retrieve(self, phrases: Sequence[str]) -> dict[int, float]:
        """phrases (Sequence[str]): Queries. RETURNS (dict[int, float]): KB index -> best cosine."""
        if not len(self.matrix) or not phrases:
            return {}
        sims = self.embed(phrases) @ self.matrix.T
        every = numpy.arange(sims.shape[1])
        return _top_hits(((every, row) for row in sims), self.top_k, self.threshold)


def pseudo_sentence(kb: KnowledgeBase, chosen: Sequence[int], type_: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Concatenate names into words with their tags for `type_`.

    kb (KnowledgeBase): The knowledge base.
    chosen (Sequence[int]): Indices of the names, in order.
    type_ (str): The type asked for: its names are tagged B, I, I, ...; others O.
    RETURNS (tuple[tuple[str, ...], tuple[int, ...]]): Words and tags (0 O, 1 B, 2 I).
    """
    words: list[str] = []
    tags: list[int] = []
    for index in chosen:
        name_words = kb.names[index].split()
        words.extend(name_words)
        if kb.types[index] == type_:
            tags.extend([TAG_B] + [TAG_I] * (len(name_words) - 1))
        else:
            tags.extend([TAG_O] * len(name_words))
    return tuple(words), tuple(tags)


class DBRSampler:
    """Build DBR pseudo-sentences for (sentence, type) pairs.

    kb (KnowledgeBase): The names.
    retriever (Retriever): Finds names similar to a sentence's phrases.
    mode (str): "retrieved" or "random" (same numbers, names drawn from the whole KB).
    n_same (int): Most names of the asked type per pseudo-sentence (the paper: 10).
    n_other (int): Most names of other types (the paper: 5).
    seed (int): Seed of the draws.
    max_phrase_words (int | None): Longest candidate phrase; None: the
        longest name in the knowledge base.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        retriever: Retriever,
        *,
        mode: str = "retrieved",
        n_same: int = 10,
        n_other: int = 5,
        seed: int = 0,
        max_phrase_words: int | None = None,
    ) -> None:
        if mode not in DBR_MODES or mode == "off":
            raise ValueError(Errors.E722.format(mode=mode, options=", ".join(m for m in DBR_MODES if m != "off")))
        self.kb = kb
        self.retriever = retriever
        self.mode = mode
        self.n_same = n_same
        self.n_other = n_other
        self.rng = random.Random(seed)
        self.max_phrase_words = max_phrase_words if max_phrase_words is not None else kb.max_words
        self._hits: dict[tuple[str, ...], list[int]] = {}
        self._types = numpy.asarray(kb.types, dtype=object)
        self._pool_cache: dict[str, tuple[list[int], list[int]]] = {}

    def retrieved(self, words: Sequence[str]) -> list[int]:
        """The names retrieved for a sentence (cached per sentence).

        words (Sequence[str]): The sentence's words.
        RETURNS (list[int]): KB indices, best cosine first.
        """
        key = tuple(words)
        if key not in self._hits:
            best = self.retriever.retrieve(candidate_phrases(key, self.max_phrase_words))
            self._hits[key] = sorted(best, key=lambda i: (-best[i], i))
        return self._hits[key]

    def _pools(self, type_: str) -> tuple[list[int], list[int]]:
        """All names of the type and of other types (for "random"), cached per type."""
        if type_ not in self._pool_cache:
            is_type = self._types == type_
            self._pool_cache[type_] = (numpy.flatnonzero(is_type).tolist(), numpy.flatnonzero(~is_type).tolist())
        return self._pool_cache[type_]

    def sample(self, words: Sequence[str], type_: str) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
        """A pseudo-sentence for one sentence and type.

        words (Sequence[str]): The training sentence's words.
        type_ (str): The entity type (label) of the instruction.
        RETURNS (tuple | None): Words and tags, or None if nothing was retrieved.
        """
        hits = self.retrieved(words)
        same = [i for i in hits if self.kb.types[i] == type_]
        other = [i for i in hits if self.kb.types[i] != type_]
        n_same, n_other = min(self.n_same, len(same)), min(self.n_other, len(other))
        if n_same + n_other == 0:
            return None
        if self.mode == "random":
            pool_same, pool_other = self._pools(type_)
            chosen = self.rng.sample(pool_same, n_same) + self.rng.sample(pool_other, n_other)
        else:
            chosen = self.rng.sample(same, n_same) + self.rng.sample(other, n_other)
        self.rng.shuffle(chosen)
        return pseudo_sentence(self.kb, chosen, type_)


def make_retriever(kb: KnowledgeBase, retriever: str, *, pooling: str, threshold: float, top_k: int) -> Any:
    """The retriever a component setting names.

    kb (KnowledgeBase): The names.
    retriever (str): "tfidf", or an encoder name or directory.
    pooling (str): Encoder pooling, "cls" or "mean".
    threshold (float): Lowest cosine kept.
    top_k (int): Most names per phrase.
    RETURNS (Retriever): The retriever.
    """
    if retriever == "tfidf":
        return TfidfRetriever(kb, threshold=threshold, top_k=top_k)
    return EncoderRetriever(kb, retriever, pooling=pooling, threshold=threshold, top_k=top_k)
