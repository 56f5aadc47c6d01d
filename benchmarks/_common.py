"""What the benchmark scripts share: running a step in its own process under
/usr/bin/time, offline, so each step's wall time and peak memory are its own."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

#: Benchmarks never touch the hub: every model is a local directory or package.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run_timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> dict:
    """Run a command under /usr/bin/time; return wall seconds and peak RSS (MB).

    The output goes to `log`; a failure exits with the log's tail."""
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB %M", *cmd], stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, **OFFLINE, **(env or {})}, check=False)
    wall = time.perf_counter() - start
    text = log.read_text()
    peak = [int(line.split()[1]) for line in text.splitlines() if line.startswith("PEAK_KB")]
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{text[-3000:]}")
    return {"wall_s": round(wall, 1), "peak_mb": round(peak[-1] / 1024, 1) if peak else None}
