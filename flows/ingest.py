"""The Prefect flow a supervisor watches: one flow run per batch (a box), one task per page.

Tasks pass page ids, never image bytes. Each worker process builds its Runtime
(database, store, OCR engine) once. One page runs at a time in each worker process
(Dask `threads_per_worker=1`, or one thread in the flow's own process), and the OCR
engine gets cores // workers intra-op threads, so the OCR stage never oversubscribes
the machine. Scale-out goes through prefect-dask: a local cluster of worker
processes, or an existing scheduler (`dask_address`).

Skip rule: a page is its master's SHA-256 within a batch (the page id), and
`process_page` skips it when it is done under the same `processing_version`
(software, engine, model files, OCR options). A new model re-runs it.

Recycling: pages go out in waves of `recycle_after` pages per worker; between waves
the Dask workers are restarted (every result fetched, nothing running), so a leaking
OCR runtime cannot grow without bound.

Retries: only storage and database errors are raised by `process_page`; they are
retried with exponential backoff. Every other failure is recorded on the page.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.futures import as_completed
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import Task, exponential_backoff

from flows.report import report_markdown
from flows.runtime import runtime_for
from flows.steps import RETRYABLE, PageOutcome, cpu_count, finish_batch, process_page, register_batch
from pipeline.db.queries import batch_summary
from pipeline.db.session import session_scope
from pipeline.ingest import page_file_names, read_manifest

EnvItems = tuple[tuple[str, str], ...]


def hukou_env(**overrides: str) -> EnvItems:
    """The HUKOU_* settings a worker process needs to build the same Runtime."""
    env = {k: v for k, v in os.environ.items() if k.startswith("HUKOU_")}
    env.update(overrides)
    return tuple(sorted(env.items()))


def retry_on_infrastructure(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a page only when storage or the database failed: other failures are already on the page."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, RETRYABLE)


OCR_LIMIT = "hukou-ocr"


def ocr_slot() -> AbstractContextManager[Any]:
    """One slot of the `hukou-ocr` global concurrency limit, held while a page is OCRed."""
    return concurrency(OCR_LIMIT, occupy=1, strict=True, raise_on_lease_renewal_failure=False)


def ensure_ocr_limit(slots: int) -> int:
    """The OCR limit's slots, created (at least one per core) when it does not exist yet.

    A limit a supervisor set on the dashboard's Concurrency page (lowered to leave cores to other
    work, raised for a bigger cluster) is kept as it is; the run's log says when it holds pages back.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = int(client.read_global_concurrency_limit_by_name(OCR_LIMIT).limit)
        except ObjectNotFound:
            limit = max(slots, cpu_count())
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=OCR_LIMIT, limit=limit))
    if limit < slots:
        print(f"global concurrency limit {OCR_LIMIT!r} is {limit}: at most {limit} of {slots} workers OCR at once")
    return limit


@task(name="process-page", task_run_name="page-{page_id}", retries=2, retry_delay_seconds=exponential_backoff(2.0),
      retry_jitter_factor=0.5, retry_condition_fn=retry_on_infrastructure)
def process_page_task(page_id: str, env_items: EnvItems, force: bool = False) -> dict[str, Any]:
    outcome: PageOutcome = process_page(runtime_for(env_items), page_id, force=force, ocr_slot=ocr_slot)
    return asdict(outcome)


def _dask_client() -> Any:
    runner = FlowRunContext.get().task_runner
    return runner.client if type(runner).__name__ == "DaskTaskRunner" else None


def page_slots() -> int:
    """Pages that run at once: the Dask cluster's worker threads, else one."""
    client = _dask_client()
    return max(1, sum(client.nthreads().values())) if client is not None else 1


def recycle_workers() -> bool:
    """Replace the Dask worker processes (their nannies start fresh ones), so memory stays flat.

    Called between waves of pages, when no page is running and every result has been
    fetched, so a restart loses nothing. Without Dask there is nothing to recycle: the
    flow's own process lives for one batch.
    """
    client = _dask_client()
    if client is None:
        return False
    client.restart(wait_for_workers=True)
    return True


@flow(name="ingest-batch", flow_run_name="{batch_id}", log_prints=True)
def ingest_batch_flow(batch_dir: str, batch_id: str | None = None, options: dict[str, Any] | None = None,
                      env_items: EnvItems = (), force: bool = False) -> dict[str, Any]:
    """Register the batch, process every page, and leave a progress bar and a quality report for the supervisor."""
    started = time.perf_counter()
    env_items = env_items or hukou_env()  # a run started from the dashboard takes the serving process's settings
    rt = runtime_for(env_items)
    opts = dict(options or {})
    location = opts.pop("location", None)
    manifest = read_manifest(Path(batch_dir), batch_id=batch_id, location=location, **opts)
    registered = register_batch(rt, manifest)
    register_seconds = time.perf_counter() - started
    progress = create_progress_artifact(0.0, key=artifact_key(manifest.batch_id, "progress"),
                                        description=f"Pages of batch {manifest.batch_id} processed")
    p = rt.settings.pipeline
    page_task = process_page_task.with_options(retries=p.retries, retry_delay_seconds=exponential_backoff(p.retry_delay_seconds))
    slots = page_slots()
    ensure_ocr_limit(slots)
    wave = max(1, p.recycle_after) * slots
    outcomes: list[dict[str, Any] | BaseException] = []
    for first in range(0, len(registered.page_ids), wave):
        if first and p.recycle_after > 0:
            recycle_workers()
        futures = [page_task.submit(pid, env_items=env_items, force=force)
                   for pid in registered.page_ids[first:first + wave]]
        for future in as_completed(futures):  # no timeout: a timed wait arms SIGALRM in this thread
            outcomes.append(future.result(raise_on_failure=False))
            update_progress_artifact(progress, 100.0 * len(outcomes) / max(1, len(registered.page_ids)))
    seconds = time.perf_counter() - started
    processed = sum(1 for o in outcomes if isinstance(o, dict) and not o["skipped"])
    finish_batch(rt, manifest.batch_id, seconds, processed)
    with session_scope(rt.sessions) as session:
        summary = batch_summary(session, manifest.batch_id)
    failed_tasks = [f"{type(o).__name__}: {str(o).splitlines()[0] if str(o) else ''}" for o in outcomes
                    if not isinstance(o, dict)]
    create_markdown_artifact(report_markdown(summary, failed_tasks), key=artifact_key(manifest.batch_id, "report"),
                             description=f"Quality report for batch {manifest.batch_id}")
    return {"batch_id": manifest.batch_id, "registered": asdict(registered), "summary": summary,
            "processed": processed, "skipped": sum(1 for o in outcomes if isinstance(o, dict) and o["skipped"]),
            "failed_tasks": len(failed_tasks), "task_errors": failed_tasks, "seconds": seconds,
            "register_seconds": register_seconds}


def artifact_key(batch_id: str, what: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in batch_id.lower()).strip("-") or "batch"
    return f"{safe}-{what}"


def quiet_dask() -> None:
    """Dask narrates every worker start and stop at INFO on the operator's terminal: keep its warnings
    and errors only (the worker processes read the same setting from the environment they inherit)."""
    import logging

    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its child loggers take the level from here


def task_runner_for(workers: int, dask_address: str) -> Any:
    """One page at a time in this process; or Dask worker processes (local or remote) of one thread each."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    if workers > 1:
        quiet_dask()
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": ":0"})
    return ThreadPoolTaskRunner(max_workers=1)


@contextlib.contextmanager
def shared_prefect_api() -> Iterator[None]:
    """Worker processes must report to the flow's Prefect API: without a configured server, start the
    local one now and name it in the settings that travel with every task (else each worker would
    start a server of its own)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield


def run_env(workers: int, dask_address: str) -> EnvItems:
    """The settings a run's tasks get: this process's HUKOU_* plus the worker count the run really uses,
    from which each worker sizes its OCR threads. A remote cluster's machines are unknown here: one OCR
    thread per worker unless HUKOU_OCR_THREADS says otherwise."""
    overrides = {"HUKOU_PIPELINE_WORKERS": str(max(1, workers))}
    if dask_address and not os.environ.get("HUKOU_OCR_THREADS"):
        overrides["HUKOU_OCR_THREADS"] = "1"
    return hukou_env(**overrides)


def run_ingest(batch_dir: str, *, batch_id: str | None = None, options: dict[str, Any] | None = None,
               workers: int = 1, dask_address: str = "", force: bool = False) -> dict[str, Any]:
    """Run the flow with the task runner the settings ask for (the CLI's entry point).

    `workers` 0 means one worker process per core; a batch never gets more workers than it has
    page files, and one worker runs in the flow's own process (no cluster to start).
    """
    opts = dict(options or {})
    manifest = read_manifest(Path(batch_dir), batch_id=batch_id, location=opts.pop("location", None), **opts)
    batch_id = manifest.batch_id  # named now, so the flow run carries the batch's name on the dashboard
    if not dask_address:
        workers = max(1, min(workers or cpu_count(), len(page_file_names(Path(manifest.root)))))
    runner = task_runner_for(workers, dask_address)
    env_items = run_env(workers, dask_address)
    with shared_prefect_api() if (workers > 1 or dask_address) else contextlib.nullcontext():
        return ingest_batch_flow.with_options(task_runner=runner)(
            batch_dir=batch_dir, batch_id=batch_id, options=options, env_items=env_items, force=force
        )
