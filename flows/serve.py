"""`hukou serve`: the ingest flow as a deployment a supervisor starts from the Prefect dashboard.

No `prefect deploy`, work pool or worker is needed: `serve` registers the deployment
and runs the flow runs the dashboard asks for in this process's machine, one batch at
a time. Without PREFECT_API_URL it starts a Prefect server (with its dashboard) under
PREFECT_HOME. With `--watch ROOT`, new complete batch folders start runs by themselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import flow
from prefect import serve as prefect_serve
from prefect.deployments import run_deployment

from flows.ingest import run_ingest
from flows.runtime import runtime_for
from flows.watch import BatchWatcher, batch_is_known, watch

DEPLOYMENT = "hukou-ingest"


@flow(name="ingest-from-dashboard", flow_run_name="{batch_dir}")
def ingest_from_dashboard(batch_dir: str, batch_id: str | None = None, force: bool = False) -> dict[str, Any]:
    """Ingest one batch folder (a path on this machine or a shared one) with the workers the settings name."""
    pipeline = runtime_for().settings.pipeline
    result = run_ingest(batch_dir, batch_id=batch_id, workers=pipeline.workers, dask_address=pipeline.dask_address,
                        force=force)
    return {k: result[k] for k in ("batch_id", "processed", "skipped", "failed_tasks", "seconds")}


class ServerDidNotStart(RuntimeError):
    """The Prefect server gave no healthy answer in time."""


@contextlib.contextmanager
def prefect_server(host: str, port: int, timeout: float = 180.0) -> Iterator[str]:
    """The API to serve on: PREFECT_API_URL when set, else a Prefect server started here for as long as we run."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    url = f"http://{host}:{port}/api"
    prefect = Path(sys.executable).parent / "prefect"
    server = subprocess.Popen([str(prefect), "server", "start", "--host", host, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise ServerDidNotStart(f"the Prefect server on {host}:{port} did not start (is the port free?)")
            time.sleep(1.0)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve_dashboard(*, host: str = "127.0.0.1", port: int = 4200, watch_root: Path | None = None,
                    settle_seconds: float = 30.0, poll_seconds: float = 5.0) -> None:
    """Register the deployment, optionally watch ROOT, and run flow runs until interrupted."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # a service manager's stop also stops our Prefect server
    with prefect_server(host, port) as api_url:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api_url}):
            deployment = ingest_from_dashboard.to_deployment(
                name=DEPLOYMENT, description="Ingest one scan batch folder: give its path (batch_dir).")
            deployment.apply()
            stop = threading.Event()
            if watch_root is not None:
                watcher = BatchWatcher(watch_root, settle_seconds, batch_is_known)
                threading.Thread(target=watch, args=(watcher, start_run), kwargs={"poll_seconds": poll_seconds, "stop": stop},
                                 name="batch-watcher", daemon=True).start()
            print(f"dashboard: {api_url.removesuffix('/api')}  (deployment ingest-from-dashboard/{DEPLOYMENT})", flush=True)
            try:
                prefect_serve(deployment, limit=1, print_starting_message=False)
            finally:
                stop.set()


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def start_run(folder: Path) -> None:
    """Queue a dashboard-visible run for a folder the watcher found ready."""
    run_deployment(f"ingest-from-dashboard/{DEPLOYMENT}", parameters={"batch_dir": str(folder)}, timeout=0,
                   as_subflow=False)
