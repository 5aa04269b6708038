"""The ingest flow under Prefect: resume, the version skip rule, retries, the supervisor's artifacts,
watch mode, and a two-worker Dask cluster.

One generated two-page batch of forms is processed once per module (OCR is slow); the
other tests use tiny one-line pages that OCR in about a second.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import pagegen

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[dict[str, str]]:
    """Module-wide settings: PostgreSQL, the local store under a private HUKOU_HOME."""
    home = tmp_path_factory.mktemp("flows-home")
    values = {"HUKOU_HOME": str(home), "HUKOU_DATABASE_URL": pg_url}
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("HUKOU_") and not key.startswith("HUKOU_TEST_"):
                mp.delenv(key)
        for key, value in values.items():
            mp.setenv(key, value)
        from flows.runtime import runtime_for

        runtime_for().init()
        yield values


def tiny_batch(root: Path, pages: int, text: str) -> Path:
    """Small pages with one printed line: the whole pipeline runs on them in about a second each."""
    root.mkdir(parents=True)
    (root / "batch.toml").write_text(
        f'[batch]\nid = "{root.name}"\nscanner = "flatbed"\ndpi = 300\n'
        '[location]\nbox = "0007"\nfonds = "J001"\nvolume = "1980-1"\n', encoding="utf-8")
    for i in range(pages):
        img = np.full((600, 900, 3), 240, np.uint8)
        cv2.putText(img, f"{text} {i + 1}", (50, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.8, (25, 25, 25), 4)
        cv2.imwrite(str(root / f"{i + 1:04d}.png"), img)
    return root


def page_rows(batch_id: str) -> dict[str, Any]:
    """What a batch holds in the database, to compare before and after a run."""
    from flows.runtime import runtime_for
    from pipeline.db.models import ArchiveObject, Event, FieldRow, OcrLineRow, Page

    with runtime_for().sessions() as session:
        pages = list(session.scalars(select(Page).where(Page.batch_id == batch_id).order_by(Page.page_no)))
        ids = [p.id for p in pages]

        def count(model: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(model).where(model.page_id.in_(ids))) or 0)

        ocr_events = dict(session.execute(select(Event.page_id, func.count()).where(
            Event.page_id.in_(ids), Event.event_type == "ocr").group_by(Event.page_id)).all())
        return {"pages": len(pages), "status": [p.status for p in pages], "versions": [p.processed_version for p in pages],
                "ids": ids, "fields": count(FieldRow), "lines": count(OcrLineRow), "archives": count(ArchiveObject),
                "ocr_events": [ocr_events.get(i, 0) for i in ids]}


def run(batch: Path, **kwargs: Any) -> dict[str, Any]:
    from flows.ingest import run_ingest

    return run_ingest(str(batch), **kwargs)


# --- resume and the supervisor's report, on one batch of generated forms -------------------------------


@pytest.fixture(scope="module")
def resumed(env: dict[str, str], prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run killed after its first page (simulated: register, process one page), then the flow run again."""
    from flows.runtime import runtime_for
    from flows.steps import process_page, register_batch
    from pipeline.ingest import read_manifest

    batch = tmp_path_factory.mktemp("forms") / "box-resume"
    pagegen.make_batch(batch, pages=2, seed=23, register_extra=5)
    rt = runtime_for()
    registered = register_batch(rt, read_manifest(batch))
    first = process_page(rt, registered.page_ids[0])
    assert first.status == "done" and not first.skipped
    before = page_rows(registered.batch_id)
    result = run(batch)
    return {"batch": batch, "before": before, "after": page_rows(registered.batch_id), "result": result}


@pytest.mark.slow
def test_resume_processes_only_the_rest(resumed: dict[str, Any]) -> None:
    before, after, result = resumed["before"], resumed["after"], resumed["result"]
    assert before["status"] == ["done", "registered"]
    assert (result["processed"], result["skipped"], result["failed_tasks"]) == (1, 1, 0)
    assert after["pages"] == 2 and after["ids"] == before["ids"]
    assert after["status"] == ["done", "done"]
    assert after["ocr_events"] == [1, 1]  # the first page was not read again
    assert after["archives"] == 2


@pytest.mark.slow
def test_report_artifact_and_status_show_the_batch(resumed: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from cli import main
    from flows.ingest import artifact_key

    summary = resumed["result"]["summary"]
    batch_id = summary["batch_id"]
    with get_client(sync_client=True) as client:
        reports = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[artifact_key(batch_id, "report")])))
        progress = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[artifact_key(batch_id, "progress")])))
    assert reports and progress
    assert float(progress[0].data) == 100.0
    text = str(reports[0].data)
    box = summary["location"]["box"]
    assert f"# Batch {batch_id}" in text and f"Box {box}" in text
    for section in ("Pages needing re-scan", "## Damage", "## Links", "## Fields", "## Seconds per stage"):
        assert section in text
    for p in summary["attention"]:  # each page to re-scan with its box, page number and reasons
        assert f"| {p['box']} | {p['page_no']} | {p['source_file']} |" in text
        assert all(r.split("|")[0].strip() in text for r in p["reasons"])
    for kind, n in summary["damage"].items():
        assert f"| {kind} | {n} |" in text
    for status, n in summary["links"].items():
        assert f"| {status} | {n} |" in text
    assert summary["fields"] and all(f"| {key} | {v['count']} | {v['mean_confidence']:.3f} |" in text
                                     for key, v in summary["fields"].items())
    assert {"ocr", "repair", "archive"} <= set(summary["stage_seconds"])
    assert all(f"| {stage} | {secs:.2f} |" in text for stage, secs in summary["stage_seconds"].items())
    assert summary["pages_per_minute"] > 0 and f"| {summary['pages_per_minute']:.1f} |" in text

    # `hukou status BATCH` shows the same figures as the dashboard's report.
    result = CliRunner().invoke(main, ["status", batch_id], catch_exceptions=False)
    assert result.exit_code == 0
    for kind in summary["damage"]:
        assert kind in result.stdout
    for key in summary["fields"]:
        assert key in result.stdout
    assert f"{summary['pages_per_minute']:.1f}" in result.stdout


# --- the skip rule and retries, on tiny pages ----------------------------------------------------------


def test_done_pages_are_skipped_and_rerun_under_a_new_model(env: dict[str, str], prefect_harness: None,
                                                           tmp_path: Path) -> None:
    from flows.ingest import run_env
    from flows.runtime import runtime_for

    batch = tiny_batch(tmp_path / "box-version", 1, "VERSION")
    assert run(batch)["processed"] == 1
    first = page_rows("box-version")
    again = run(batch)
    assert (again["processed"], again["skipped"]) == (0, 1)
    assert page_rows("box-version")["ocr_events"] == [1]

    rt = runtime_for(run_env(1, ""))  # the Runtime the flow's tasks use
    old_model = rt.model_identity
    rt.model_identity = "0123456789abcdef"  # as if the model files had been replaced
    try:
        rerun = run(batch)
    finally:
        rt.model_identity = old_model
    after = page_rows("box-version")
    assert (rerun["processed"], rerun["skipped"]) == (1, 0)
    assert "0123456789abcdef" in after["versions"][0] and old_model in first["versions"][0]
    assert after["ocr_events"] == [2]
    assert (after["pages"], after["fields"], after["lines"], after["archives"]) == (
        first["pages"], first["fields"], first["lines"], first["archives"])  # replaced, not duplicated


def test_ocr_runs_inside_a_slot_of_the_global_concurrency_limit(env: dict[str, str], prefect_harness: None,
                                                                tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from flows.ingest import OCR_LIMIT, ensure_ocr_limit
    from flows.runtime import runtime_for
    from flows.steps import process_page, register_batch
    from pipeline.ingest import read_manifest

    batch = tiny_batch(tmp_path / "box-slots", 1, "SLOTS")
    rt = runtime_for()
    page_id = register_batch(rt, read_manifest(batch)).page_ids[0]
    held: list[str] = []

    class Slot:
        def __enter__(self) -> None:
            held.append("enter")

        def __exit__(self, *exc: object) -> None:
            held.append("exit")

    assert process_page(rt, page_id, ocr_slot=Slot).status == "done"
    assert held == ["enter", "exit"]
    assert process_page(rt, page_id, ocr_slot=Slot).skipped and held == ["enter", "exit"]  # a skipped page takes none

    assert run(tiny_batch(tmp_path / "box-slots-2", 1, "SLOTS"))["processed"] == 1
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(OCR_LIMIT)
        assert limit.limit >= 1 and limit.active_slots == 0  # created by the run, every slot given back
    assert ensure_ocr_limit(64) == limit.limit  # a limit that exists (a supervisor's) is kept, not raised


class FlakyStore:
    """The real store, except that the first `fail` PDF writes raise `error` (e.g. a dropped connection)."""

    def __init__(self, store: Any, fail: int, error: type[Exception]) -> None:
        self.store, self.fail, self.error, self.pdf_puts = store, fail, error, 0

    def put(self, key: str, data: bytes, **kwargs: Any) -> Any:
        if key.endswith(".pdf"):
            self.pdf_puts += 1
            if self.pdf_puts <= self.fail:
                raise self.error(f"{key}: connection reset by peer")
        return self.store.put(key, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize(("error", "fail", "tries", "status", "failed_tasks"), [
    ("StorageError", 1, 2, "done", 0),  # retried, then stored
    ("StorageError", 3, 3, "registered", 1),  # given up after three tries: the page stays to do
    ("ValueError", 1, 1, "failed", 0),  # not an infrastructure error: recorded on the page, never retried
])
def test_only_storage_errors_are_retried(env: dict[str, str], prefect_harness: None, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, error: str, fail: int, tries: int,
                                        status: str, failed_tasks: int) -> None:
    from flows.runtime import runtime_for
    from pipeline.storage import StorageError

    monkeypatch.setenv("HUKOU_PIPELINE_RETRY_DELAY_SECONDS", "0.1")  # retries=2: three tries in all
    name = f"box-flaky-{error.lower()}-{fail}"
    batch = tiny_batch(tmp_path / name, 1, f"FLAKY {error} {fail}")
    from flows.ingest import run_env

    rt = runtime_for(run_env(1, ""))  # the Runtime the flow's tasks will use
    flaky = FlakyStore(rt.store, fail, {"StorageError": StorageError, "ValueError": ValueError}[error])
    monkeypatch.setattr(rt, "store", flaky)
    result = run(batch)
    rows = page_rows(name)
    assert flaky.pdf_puts == tries
    assert rows["status"] == [status] and result["failed_tasks"] == failed_tasks
    if failed_tasks:
        assert "StorageError" in result["task_errors"][0]
        assert result["summary"]["registered"] == 1  # shown as "not processed"; the next run picks it up
    if status == "failed":
        assert "ValueError" in result["summary"]["attention"][0]["reasons"][0]
    assert rows["archives"] == (1 if status == "done" else 0)


# --- watch mode ----------------------------------------------------------------------------------------


def test_watcher_waits_for_manifest_and_settled_files(tmp_path: Path) -> None:
    from flows.watch import BatchWatcher

    known: set[str] = {"box-old"}
    watcher = BatchWatcher(tmp_path, settle_seconds=10.0, is_known=known.__contains__)
    tiny_batch(tmp_path / "box-old", 1, "OLD")
    growing = tmp_path / "box-new"
    growing.mkdir()
    (growing / "0001.png").write_bytes(b"x" * 10)
    assert watcher.ready(now=0.0) == []
    assert watcher.ready(now=100.0) == []  # no manifest yet: the station is still writing
    (growing / "batch.toml").write_text('[batch]\nid = "box-new"\n', encoding="utf-8")
    assert watcher.ready(now=101.0) == []  # first sight
    (growing / "0002.png").write_bytes(b"y" * 10)
    assert watcher.ready(now=109.0) == []  # a new file: settling starts again
    with (growing / "0002.png").open("ab") as fh:
        fh.write(b"more")
    assert watcher.ready(now=120.0) == []  # still growing
    assert watcher.ready(now=125.0) == []  # unchanged for 5 s only
    assert watcher.ready(now=131.0) == [growing]  # unchanged for 11 s
    assert watcher.ready(now=500.0) == []  # handed on once; box-old was never handed on (already known)


def test_watch_ingests_a_new_batch_once(env: dict[str, str], prefect_harness: None, tmp_path: Path) -> None:
    from flows.watch import ingest_new_batches

    root = tmp_path / "incoming"
    root.mkdir()
    tiny_batch(root / "box-watched", 1, "WATCHED")
    stop = threading.Event()
    worker = threading.Thread(target=ingest_new_batches, args=(root,),
                              kwargs={"settle_seconds": 0.5, "poll_seconds": 0.3, "stop": stop})
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and page_rows("box-watched")["status"] != ["done"]:
            time.sleep(1.0)
        time.sleep(2.0)  # more polls: nothing is ingested twice
    finally:
        stop.set()
        worker.join(timeout=120)
    rows = page_rows("box-watched")
    assert rows["status"] == ["done"] and rows["ocr_events"] == [1]


# --- scale-out -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_worker_local_cluster_with_recycling(env: dict[str, str], prefect_harness: None, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUKOU_PIPELINE_RECYCLE_AFTER", "1")  # restart the workers between waves of pages
    batch = tiny_batch(tmp_path / "box-dask", 3, "DASK")
    result = run(batch, workers=2)
    rows = page_rows("box-dask")
    assert (result["processed"], result["failed_tasks"]) == (3, 0)
    assert rows["status"] == ["done"] * 3 and rows["ocr_events"] == [1, 1, 1] and rows["archives"] == 3
