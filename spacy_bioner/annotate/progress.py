"""The progress bar of `annotate`: documents (done or failed) of the whole run,
advanced as shards finish, with docs/s and words/s of this run."""
from __future__ import annotations

import time
from types import TracebackType

from tqdm import tqdm

from .types import ShardResult


class Progress:
    """Count the documents and words of the shards finished in this run.

    total (int): Document slots of the whole run.
    initial (int): Slots finished before (a resumed run); not counted in the rates.
    enabled (bool): Show a bar (on stderr); the counts are kept either way.
    """

    def __init__(self, total: int, initial: int = 0, *, enabled: bool = True) -> None:
        self.documents = 0
        self.words = 0
        self._start = time.perf_counter()
        # smoothing=0: the rate is the average of this run, not of the last shards
        self._bar = tqdm(total=total, initial=initial, desc="Annotating", unit=" docs", smoothing=0,
                         disable=not enabled, dynamic_ncols=True)

    @property
    def seconds(self) -> float:
        """RETURNS (float): Wall time since the bar was made."""
        return time.perf_counter() - self._start

    @property
    def docs_per_second(self) -> float:
        """RETURNS (float): Documents of this run per second."""
        return self.documents / max(self.seconds, 1e-9)

    @property
    def words_per_second(self) -> float:
        """RETURNS (float): Tokens tagged in this run per second."""
        return self.words / max(self.seconds, 1e-9)

    def update(self, result: ShardResult) -> None:
        """Count a finished shard.

        result (ShardResult): Its result.
        """
        n = result.done + len(result.failures)
        self.documents += n
        self.words += result.words
        self._bar.set_postfix_str(f"{self.words_per_second:,.0f} words/s", refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
