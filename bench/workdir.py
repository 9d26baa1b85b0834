"""The scratch folder of one benchmark run: logs and repos live there, removed afterwards unless kept."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.machine import load_average


@contextmanager
def bench_workdir(prefix: str, keep: bool) -> Iterator[Path]:
    """A fresh folder for the run; on the way out it is removed (or named, when kept) and the run's
    total time and load average are printed."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    began = time.monotonic()
    try:
        yield workdir
    finally:
        if keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"\ntotal bench time {time.monotonic() - began:.0f} s; load average at end: {load_average()}")
