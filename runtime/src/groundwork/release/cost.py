"""What a packaged model costs to serve, measured on this machine through `Predictor`.

- latency: one record per call through `Predictor.records`, the API's predict step after
  validation, `LATENCY_CALLS` calls after `WARMUP_CALLS` unmeasured ones; p50 and p95;
- batch: `predict_frame` (validation included, as `score` runs it) on at least
  `BATCH_ROWS` rows: rows per second, and the process CPU time (every thread) scaled to
  CPU-seconds per million predictions;
- size: the package's files on disk, in MB (10^6 bytes);
- memory: how much the resident memory of a fresh process grows when it loads a second
  copy of the model and scores with it, the first copy held. The first copy pays for the
  libraries its loading imports, which a server pays once whatever the model; the
  second shows what the model itself holds.

`side_by_side` and `latency_figures` are what the gate shares: it times the candidate and
production in alternating rounds in one process, so a busy machine slows both alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from ..data.spec import DataSpec
    from .package import ModelPackage
    from .predictor import Predictor

LATENCY_CALLS = 300
WARMUP_CALLS = 30
ROUNDS = 5  # the gate's alternating rounds of LATENCY_CALLS / ROUNDS calls per model
BATCH_ROWS = 10_000


def latency_figures(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50 and p95, in ms, of single-record latencies in seconds."""
    latencies = np.asarray(latencies_s, dtype=float)
    return {
        "latency_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 4),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 4),
    }


def batch_figures(rows: int, wall_s: float, cpu_s: float) -> dict[str, float]:
    """Throughput, and CPU time scaled to a million predictions, of one batch."""
    return {
        "throughput_rows_per_s": round(rows / wall_s, 1),
        "cpu_s_per_million": round(cpu_s / rows * 1_000_000, 3),
    }


def package_mb(path: Path | str) -> float:
    """The package's files on disk, in MB."""
    size = sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())
    return round(size / 1_000_000, 3)


def feature_records(frame: pd.DataFrame, spec: DataSpec) -> list[dict]:
    """Feature rows as the API receives them once validated: missing values as None."""
    import pandas as pd

    features = frame[spec.inputs].astype(object)
    return [
        {name: (None if pd.isna(value) else value) for name, value in row.items()}
        for row in features.to_dict(orient="records")
    ]


def side_by_side(predictors: Sequence[Predictor], records: list[dict]) -> list[list[float]]:
    """`LATENCY_CALLS` single-record latencies in seconds per predictor, timed in `ROUNDS`
    alternating rounds after a warm-up (the order flips each round, so neither always
    goes first)."""
    for predictor in predictors:
        for n in range(WARMUP_CALLS):
            predictor.records([records[n % len(records)]])
    timings: list[list[float]] = [[] for _ in predictors]
    per_round = max(1, LATENCY_CALLS // ROUNDS)
    for round_ in range(ROUNDS):
        order = list(enumerate(predictors))
        for index, predictor in order if round_ % 2 == 0 else reversed(order):
            for n in range(per_round):
                record = [records[(round_ * per_round + n) % len(records)]]
                start = time.perf_counter()
                predictor.records(record)
                timings[index].append(time.perf_counter() - start)
    return timings


def batch_timing(predictor: Predictor, frame: pd.DataFrame) -> tuple[int, float, float]:
    """Rows, wall seconds and process CPU seconds of one `predict_frame` on >= BATCH_ROWS rows."""
    import pandas as pd

    copies = -(-BATCH_ROWS // len(frame))  # ceiling division
    batch = pd.concat([frame] * copies, ignore_index=True)
    predictor.predict_frame(batch.head(100))  # warm-up: first-call allocations
    wall, cpu = time.perf_counter(), time.process_time()
    predictor.predict_frame(batch)
    return len(batch), time.perf_counter() - wall, time.process_time() - cpu


def loaded_memory_mb(path: Path | str, records: list[dict]) -> float:
    """The memory one loaded model holds, measured in a fresh process (see the module's note)."""
    # The child sees the modules this process sees, so a model of custom classes unpickles.
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-m", __name__, str(path)],
        input=json.dumps(records[:10], default=str),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring the memory of {path} failed: {done.stderr.strip()}")
    return float(json.loads(done.stdout)["memory_mb"])


def measure(package: ModelPackage, frame: pd.DataFrame) -> dict[str, float]:
    """Every cost figure of a package, on rows of `frame` (the test split)."""
    from .predictor import Predictor

    predictor = Predictor(package)
    records = feature_records(frame, predictor.spec)
    (latencies,) = side_by_side([predictor], records)
    figures = latency_figures(latencies) | batch_figures(*batch_timing(predictor, frame))
    return figures | {
        "package_mb": package_mb(package.path),
        "memory_mb": loaded_memory_mb(package.path, records),
    }


def _rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far (macOS has no /proc)."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # bytes on macOS


def _second_copy_memory(path: str) -> None:
    from .package import load_package
    from .predictor import Predictor

    records = json.loads(sys.stdin.read())
    first = Predictor(load_package(path))
    first.records(records)
    before = _rss_mb()
    second = Predictor(load_package(path))
    second.records(records)
    # The answer to the parent process, which reads this line: not a message for a person.
    print(json.dumps({"memory_mb": round(max(0.0, _rss_mb() - before), 1)}))  # noqa: T201


if __name__ == "__main__":
    _second_copy_memory(sys.argv[1])
