"""How fast pagegen renders pages and how big the sample batch is.

Run from the repository root: python -m bench.pagegen_speed [PAGES]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import pagegen
from pagegen.forms import DOC_TYPES


def main(pages_per_type: int = 2) -> None:
    rng = random.Random(0)
    for doc_type in DOC_TYPES:
        times = []
        for _ in range(pages_per_type):
            spec = pagegen.random_spec(rng, doc_type=doc_type)
            start = time.perf_counter()
            page = pagegen.render_page(spec)
            times.append(time.perf_counter() - start)
        print(f"{doc_type:24s} {sum(times) / len(times):5.2f} s/page  last {page.image.shape[1]}x{page.image.shape[0]}")
    spec = pagegen.random_spec(rng, camera=True)
    start = time.perf_counter()
    pagegen.render_page(spec)
    print(f"{'camera shot':24s} {time.perf_counter() - start:5.2f} s/page")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pagegen.make_batch(tmp, pages=6, seed=0)
        elapsed = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        print(f"6-page sample batch: {elapsed:.1f} s, {size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
