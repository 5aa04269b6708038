"""Throughput of the whole ingest on one machine, and the same pages through OCRmyPDF.

For N generated 300-dpi pages (kept between runs under HUKOU_BENCH_CACHE), each layout
of the cores runs the full flow (register, repair, OCR, extract, link, PDF/A, store):

- `1x<cores>`: one page at a time in the flow's process, OCR with all cores as threads;
- `<cores>x1`: a Dask LocalCluster of one-thread worker processes, OCR with one thread each.

Prints pages/minute (wall clock of the run, cluster start included) and the peak
resident memory of the flow's process and of each worker process. `--rss-pages 100,500`
runs those batch sizes too, to show whether worker memory stays flat (workers are
recycled every `recycle_after` pages); those batches cycle through the N generated pages
(each copy with distinct bytes), since generating hundreds of pages takes longer than the run. `--ocrmypdf` runs
`ocrmypdf -l chi_sim --output-type pdfa --rotate-pages --deskew` on the same pages,
as many files at once as there are cores, for the ratio.

    /work/main/.venv/bin/python bench/throughput.py [--pages 40] [--layouts 1x2,2x1] [--rss-pages 100,500]
        [--recycle-after 200] [--ocrmypdf]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import bench_settings, generated_batch, repeated_batch  # noqa: E402


class PeakMemory:
    """Peak RSS of this process and of each child process (Dask workers), sampled twice a second."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.peaks: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            for proc in [self._me, *self._me.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                    name = "flow" if proc.pid == self._me.pid else " ".join(proc.cmdline()[-2:])[-40:]
                except psutil.Error:
                    continue
                self.cpu[proc.pid] = (name, times.user + times.system)
                if rss > self.peaks.get(proc.pid, ("", 0))[1]:
                    self.peaks[proc.pid] = (name, rss)
            self._stop.wait(0.5)

    def __enter__(self) -> PeakMemory:
        import psutil

        self._base: dict[int, float] = {}
        for proc in [self._me, *self._me.children(recursive=True)]:  # CPU spent before the run is not the run's
            with contextlib.suppress(psutil.Error):
                self._base[proc.pid] = sum(proc.cpu_times()[:2])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_report(self, pages: int) -> str:
        """CPU seconds per page by kind of process: where the cores went besides the pages' own work."""
        kinds: dict[str, float] = {}
        for pid, (name, seconds) in self.cpu.items():
            kind = ("flow" if name == "flow" else "workers" if "multiprocessing-fork" in name or not name
                    else "prefect server" if "--port" in name or "lifespan" in name else "other")
            kinds[kind] = kinds.get(kind, 0.0) + seconds - self._base.get(pid, 0.0)
        if os.environ.get("HUKOU_BENCH_VERBOSE"):
            for pid, (name, seconds) in sorted(self.cpu.items(), key=lambda kv: -kv[1][1]):
                print(f"         pid {pid} {name!r}: {seconds:.1f} s CPU", flush=True)
        return ", ".join(f"{k} {v / max(1, pages):.2f}" for k, v in sorted(kinds.items()))

    def report(self) -> str:
        flow = [rss for name, rss in self.peaks.values() if name == "flow"]
        workers = sorted((rss for name, rss in self.peaks.values() if "multiprocessing-fork" in name),
                         reverse=True)
        mb = 1 << 20
        text = f"flow process {max(flow, default=0) / mb:.0f} MB"
        if workers:
            text += f"; worker processes (each, incl. recycled ones) peak {workers[0] / mb:.0f} MB, " \
                    f"{len(workers)} processes seen"
        return text


@contextlib.contextmanager
def prefect_server() -> Iterator[None]:
    """A Prefect server of the installation's own, as supervisors run it for the dashboard
    (`prefect server start`), started before the clock: runs then pay no server start-up."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen([str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("prefect server did not start") from None
                time.sleep(1)
        os.environ["PREFECT_API_URL"] = url
        print(f"prefect server running at {url} (started before the clock, as an installation runs it)", flush=True)
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_layout(batch: Path, layout: str, pages: int) -> dict[str, float]:
    from flows.ingest import run_ingest

    workers, threads = (int(x) for x in layout.split("x"))
    os.environ["HUKOU_OCR_THREADS"] = str(threads)
    batch_id = f"bench-{layout}-{pages}-{time.time_ns() % 10**8}"
    with PeakMemory() as memory:
        started = time.perf_counter()
        result = run_ingest(str(batch), batch_id=batch_id, workers=workers)
        seconds = time.perf_counter() - started
    s = result["summary"]
    per_minute = 60.0 * pages / seconds
    stages = ", ".join(f"{k} {v:.1f}" for k, v in s["stage_seconds"].items())
    print(f"{layout:>5} ({workers} worker{'s' if workers > 1 else ''} x {threads} OCR thread{'s' if threads > 1 else ''}): "
          f"{pages} pages in {seconds:.0f} s = {per_minute:.2f} pages/minute; done {s['done']}, failed {s['failed']}, "
          f"quarantined {s['quarantined']}", flush=True)
    print(f"       mean seconds per page by stage: {stages}; registering the batch took "
          f"{result['register_seconds']:.1f} s", flush=True)
    print(f"       peak memory: {memory.report()}", flush=True)
    print(f"       CPU seconds per page by process: {memory.cpu_report(pages)}", flush=True)
    return {"pages_per_minute": per_minute}


def run_ocrmypdf(batch: Path, pages: int, jobs: int) -> float | None:
    binary = shutil.which("ocrmypdf")
    if binary is None:
        print("ocrmypdf: not installed (apt-get install ocrmypdf, or pip install ocrmypdf); no ratio", flush=True)
        return None
    files = sorted(p for p in batch.iterdir() if p.suffix.lower() in (".tif", ".tiff", ".jpg", ".jpeg", ".png"))[:pages]
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hukou-ocrmypdf-") as out:

        def one(path: Path) -> None:
            cmd = [binary, "-l", "chi_sim", "--output-type", "pdfa", "--rotate-pages", "--deskew", "--jobs", "1",
                   "--image-dpi", "300", str(path), str(Path(out) / f"{path.stem}.pdf")]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                failures.append(f"{path.name}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, files))
        seconds = time.perf_counter() - started
    per_minute = 60.0 * len(files) / seconds
    print(f"ocrmypdf ({jobs} files at once): {len(files)} pages in {seconds:.0f} s = {per_minute:.2f} pages/minute; "
          f"{len(failures)} failed", flush=True)
    for f in failures[:5]:
        print(f"       {f}", flush=True)
    return per_minute


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--layouts", default=f"1x{cores},{cores}x1", help="workers x OCR threads, comma-separated")
    ap.add_argument("--rss-pages", default="", help="also run these batch sizes for memory, e.g. 100,500")
    ap.add_argument("--recycle-after", type=int, default=0, help="pages per worker before it is replaced (0: settings)")
    ap.add_argument("--ocrmypdf", action="store_true", help="run OCRmyPDF on the same pages for the ratio")
    ap.add_argument("--server", action="store_true",
                    help="run against a Prefect server started before the clock (the installed set-up) instead of "
                         "a temporary one started inside each run")
    args = ap.parse_args()
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    if args.recycle_after:
        os.environ["HUKOU_PIPELINE_RECYCLE_AFTER"] = str(args.recycle_after)
    print(f"{cores} cores; load average {os.getloadavg()[0]:.1f} (other work on the machine slows every figure)", flush=True)
    batch = generated_batch(args.pages, args.seed)
    with bench_settings(), (prefect_server() if args.server else contextlib.nullcontext()):
        best = {layout: run_layout(batch, layout, args.pages)["pages_per_minute"] for layout in layouts}
        for n in (int(x) for x in args.rss_pages.split(",") if x.strip()):
            big = repeated_batch(n, batch)  # memory over time, not accuracy: the same pages cycled
            for layout in layouts:
                run_layout(big, layout, n)
    if len(best) > 1:
        fastest = max(best, key=best.__getitem__)
        print(f"fastest layout: {fastest} ({best[fastest]:.2f} pages/minute)", flush=True)
    if args.ocrmypdf:
        theirs = run_ocrmypdf(batch, args.pages, cores)
        if theirs:
            ours = max(best.values())
            print(f"hukou / ocrmypdf pages-per-minute ratio: {ours / theirs:.2f} (hukou also extracts fields, links "
                  f"and stores; ocrmypdf only OCRs into PDF/A)", flush=True)


if __name__ == "__main__":
    main()
