"""The Prefect flow a supervisor watches: one flow run per batch (a box), one task per page.

Tasks pass page ids, never image bytes. Each worker process builds its Runtime
(database, store, OCR engine) once. Scale-out goes through prefect-dask: a local
cluster of worker processes, or an existing scheduler (`dask_address`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from dataclasses import asdict
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import unmapped

from flows.runtime import runtime_for
from flows.steps import PageOutcome, finish_batch, process_page, register_batch
from pipeline.db.queries import batch_summary
from pipeline.db.session import session_scope
from pipeline.ingest import read_manifest

EnvItems = tuple[tuple[str, str], ...]


def hukou_env() -> EnvItems:
    """The HUKOU_* settings a worker process needs to build the same Runtime."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("HUKOU_")))


@task(name="process-page", task_run_name="page-{page_id}", retries=2, retry_delay_seconds=[2, 10])
def process_page_task(page_id: str, env_items: EnvItems, force: bool = False) -> dict[str, Any]:
    outcome: PageOutcome = process_page(runtime_for(env_items), page_id, force=force)
    return asdict(outcome)


@flow(name="ingest-batch", flow_run_name="{batch_id}", log_prints=True)
def ingest_batch_flow(batch_dir: str, batch_id: str | None = None, options: dict[str, Any] | None = None,
                      env_items: EnvItems = (), force: bool = False) -> dict[str, Any]:
    """Register the batch, process every page, and leave a report for the supervisor."""
    started = time.perf_counter()
    rt = runtime_for(env_items)
    opts = dict(options or {})
    location = opts.pop("location", None)
    manifest = read_manifest(Path(batch_dir), batch_id=batch_id, location=location, **opts)
    registered = register_batch(rt, manifest)
    progress = create_progress_artifact(0.0, key=_key(manifest.batch_id, "progress"),
                                        description=f"Pages of batch {manifest.batch_id} processed")
    futures = process_page_task.map(registered.page_ids, env_items=unmapped(env_items), force=unmapped(force))
    done = 0
    for future in _as_completed(futures):
        future.wait()
        done += 1
        update_progress_artifact(progress, 100.0 * done / max(1, len(futures)))
    outcomes = [f.result(raise_on_failure=False) for f in futures]
    seconds = time.perf_counter() - started
    processed = sum(1 for o in outcomes if isinstance(o, dict) and not o["skipped"])
    finish_batch(rt, manifest.batch_id, seconds, processed)
    with session_scope(rt.sessions) as session:
        summary = batch_summary(session, manifest.batch_id)
    create_markdown_artifact(report_markdown(summary), key=_key(manifest.batch_id, "report"),
                             description=f"Quality report for batch {manifest.batch_id}")
    failed_tasks = sum(1 for o in outcomes if not isinstance(o, dict))
    return {"batch_id": manifest.batch_id, "registered": asdict(registered), "summary": summary,
            "failed_tasks": failed_tasks, "seconds": seconds}


def _as_completed(futures: list[Any]) -> list[Any]:
    """Futures in completion order, so progress moves as pages finish."""
    pending = list(futures)
    ordered = []
    while pending:
        done, not_done = wait(pending, timeout=1.0)
        ordered.extend(done)
        pending = list(not_done)
    return ordered


def _key(batch_id: str, what: str) -> str:
    # Prefect artifact keys allow lowercase letters, digits and dashes only.
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in batch_id.lower()).strip("-") or "batch"
    return f"{safe}-{what}"


def report_markdown(summary: dict[str, Any]) -> str:
    """The supervisor's page: progress, quality, re-scan list, fields, links, speed."""
    s = summary
    lines = [
        f"# Batch {s['batch_id']}",
        "",
        f"Box {s['location'].get('box', '')} · fonds {s['location'].get('fonds', '')} · volume {s['location'].get('volume', '')}",
        "",
        "| pages | done | quarantined | failed | needs re-scan | pages/minute |",
        "|---|---|---|---|---|---|",
        f"| {s['pages']} | {s['done']} | {s['quarantined']} | {s['failed']} | {s['needs_rescan']} | {s['pages_per_minute']:.1f} |",
        "",
        "## Pages needing re-scan or attention",
        "",
        "| page | file | box | status | reasons |",
        "|---|---|---|---|---|",
    ]
    for p in s["attention"]:
        lines.append(f"| {p['page_no']} | {p['source_file']} | {p['box']} | {p['status']} | {'; '.join(p['reasons'])} |")
    lines += ["", "## Damage", "", "| kind | pages |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["damage"].items())]
    lines += ["", "## Links", "", "| status | mentions |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["links"].items())]
    lines += ["", "## Fields", "", "| field | found | mean confidence |", "|---|---|---|"]
    lines += [f"| {k} | {v['count']} | {v['mean_confidence']:.3f} |" for k, v in sorted(s["fields"].items())]
    lines += ["", "## Seconds per stage (mean per page)", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in s["stage_seconds"].items()]
    return "\n".join(lines)


def task_runner_for(workers: int, dask_address: str) -> Any:
    """Threads for one worker; Dask worker processes (local or remote) to scale out."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    if workers > 1:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=1)


def run_ingest(batch_dir: str, *, batch_id: str | None = None, options: dict[str, Any] | None = None,
               workers: int = 1, dask_address: str = "", force: bool = False) -> dict[str, Any]:
    """Run the flow with the task runner the settings ask for (the CLI's entry point)."""
    runner = task_runner_for(workers, dask_address)
    return ingest_batch_flow.with_options(task_runner=runner)(
        batch_dir=batch_dir, batch_id=batch_id, options=options, env_items=hukou_env(), force=force
    )
