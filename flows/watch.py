"""Watch a folder where scanning stations drop batch folders, and ingest each one once it is complete.

A batch folder is ready when its manifest (`batch.toml`) exists and none of its files
has changed size or time for a settle period: a station still copying pages keeps
the folder waiting. Each folder is handed on once; a folder whose batch id the
database already knows is never handed on again, so a restarted watcher does not
re-ingest old boxes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import HukouError
from pipeline.ingest import read_manifest

log = logging.getLogger(__name__)

MANIFEST = "batch.toml"

Signature = tuple[tuple[str, int, int], ...]


def folder_signature(folder: Path) -> Signature:
    """Name, size and modification time of every file in the folder (a growing file changes it)."""
    out = []
    for path in sorted(folder.iterdir()):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed while listing: the next poll sees the new state
            continue
        if path.is_file():
            out.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass
class BatchWatcher:
    """Decides, poll by poll, which batch folders under `root` are complete and not yet handed on."""

    root: Path
    settle_seconds: float = 30.0
    is_known: Callable[[str], bool] = lambda batch_id: False
    _seen: dict[Path, tuple[Signature, float]] = field(default_factory=dict)
    _handed_on: set[Path] = field(default_factory=set)

    def ready(self, now: float | None = None) -> list[Path]:
        """Folders that became ready since the last poll, in name order; each is returned once."""
        now = time.monotonic() if now is None else now
        out = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder in self._handed_on or not (folder / MANIFEST).is_file():
                continue
            signature = folder_signature(folder)
            previous = self._seen.get(folder)
            if previous is None or previous[0] != signature:
                self._seen[folder] = (signature, now)
                continue
            if now - previous[1] < self.settle_seconds:
                continue
            self._handed_on.add(folder)
            self._seen.pop(folder, None)
            try:
                batch_id = read_manifest(folder).batch_id
            except HukouError as exc:
                log.warning("%s: not a usable batch folder: %s", folder, exc)
                continue
            if self.is_known(batch_id):
                log.info("%s: batch %s is already in the archive; not ingesting it again", folder, batch_id)
                continue
            out.append(folder)
        return out


def watch(watcher: BatchWatcher, on_ready: Callable[[Path], object], *, poll_seconds: float = 5.0,
          stop: threading.Event | None = None) -> None:
    """Poll until `stop` is set, handing each ready folder to `on_ready` (one at a time, in order)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        for folder in watcher.ready():
            try:
                on_ready(folder)
            except Exception:  # one bad box must not stop the watcher; the error is in its own flow run
                log.exception("ingesting %s failed", folder)
        stop.wait(poll_seconds)


def batch_is_known(batch_id: str) -> bool:
    """Whether the archive's database already holds this batch (this process's settings)."""
    from flows.runtime import runtime_for
    from pipeline.db.models import Batch
    from pipeline.db.session import session_scope

    with session_scope(runtime_for().sessions) as session:
        return session.get(Batch, batch_id) is not None


def ingest_new_batches(root: Path, *, settle_seconds: float = 30.0, poll_seconds: float = 5.0,
                       stop: threading.Event | None = None) -> None:
    """`hukou watch ROOT`: ingest every new complete batch folder under ROOT, with the settings' workers."""
    from flows.ingest import run_ingest
    from flows.runtime import runtime_for

    pipeline = runtime_for().settings.pipeline

    def ingest(folder: Path) -> None:
        result = run_ingest(str(folder), workers=pipeline.workers, dask_address=pipeline.dask_address)
        s = result["summary"]
        log.warning("%s: batch %s, %d pages, %d done, %d need re-scan", folder, s["batch_id"], s["pages"], s["done"],
                    s["needs_rescan"])

    watch(BatchWatcher(root, settle_seconds, batch_is_known), ingest, poll_seconds=poll_seconds, stop=stop)
