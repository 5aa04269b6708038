"""What the ingest benches share: generated batches kept between runs, and private settings.

Settings: HUKOU_DATABASE_URL when given (PostgreSQL for several workers), else a fresh
PostgreSQL database on 127.0.0.1 when one answers, else SQLite under a private
HUKOU_HOME (fine for one worker). The archive goes to the local store there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("HUKOU_BENCH_CACHE", Path(tempfile.gettempdir()) / "hukou-bench"))


def generated_batch(pages: int, seed: int) -> Path:
    """A pagegen batch of `pages` 300-dpi pages, generated once and kept under HUKOU_BENCH_CACHE."""
    import pagegen

    folder = CACHE / f"pages-{pages}-seed-{seed}"
    if not (folder / "truth.jsonl").is_file():
        started = time.perf_counter()
        print(f"generating {pages} pages into {folder} ...", flush=True)
        pagegen.make_batch(folder, pages=pages, seed=seed, register_extra=20)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def _postgres_database() -> contextlib.AbstractContextManager[str | None]:
    @contextlib.contextmanager
    def database() -> Iterator[str | None]:
        try:
            import psycopg2

            admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
        except Exception:
            yield None
            return
        admin.autocommit = True
        name = f"hukou_bench_{secrets.token_hex(4)}"
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")
        try:
            yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()

    return database()


@contextlib.contextmanager
def bench_settings() -> Iterator[Path]:
    """A private HUKOU_HOME, database and local archive for one bench run; Prefect state beside them."""
    with tempfile.TemporaryDirectory(prefix="hukou-bench-home-") as home, _postgres_database() as pg:
        env = {"HUKOU_HOME": home, "PREFECT_HOME": str(Path(home) / "prefect"), "PREFECT_LOGGING_LEVEL": "ERROR",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
               "PREFECT_SERVER_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
               "DASK_LOGGING__DISTRIBUTED": "error"}
        if not os.environ.get("HUKOU_DATABASE_URL") and pg:
            env["HUKOU_DATABASE_URL"] = pg
        os.environ.update(env)
        os.environ.setdefault("HUKOU_STORAGE_BACKEND", "local")
        from flows.runtime import runtime_for

        runtime_for().init()
        print(f"database: {runtime_for().engine.url.render_as_string(hide_password=True)}", flush=True)
        yield Path(home)


def repeated_batch(pages: int, base: Path) -> Path:
    """A batch of `pages` files made by cycling through `base`'s pages, each copy made distinct by
    trailing bytes (ignored by TIFF and JPEG decoders), so every file is a page of its own.

    For memory-over-time runs only (is a worker's memory flat after 500 pages?): it saves
    generating hundreds of pages. Field accuracy means nothing on such a batch.
    """
    folder = CACHE / f"repeat-{pages}-of-{base.name}"
    sources = sorted(p for p in base.iterdir() if p.suffix.lower() in (".tif", ".tiff", ".jpg", ".jpeg", ".png"))
    if not (folder / "batch.toml").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(pages):
            src = sources[i % len(sources)]
            data = src.read_bytes() + f"\nhukou-bench copy {i}\n".encode() * (i >= len(sources))
            (folder / f"{i + 1:04d}{src.suffix}").write_bytes(data)
        (folder / "batch.toml").write_text((base / "batch.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return folder
