"""Upload throughput of the archive stores: S3Store to a real SeaweedFS server, and LocalStore.

Uses the server named by HUKOU_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY, else starts
one in a temporary directory (and reports how long start-up took).

    python bench/storage.py [--objects 50] [--size-mb 1] [--threads 1,4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.storage import LocalStore, S3Store, Store  # noqa: E402
from scripts.seaweedfs import start_seaweedfs, stop_seaweedfs  # noqa: E402


def payloads(count: int, size: int) -> list[tuple[bytes, str]]:
    """Distinct incompressible objects (a PDF/A page is mostly compressed image data)."""
    out = []
    for _ in range(count):
        data = os.urandom(size)
        out.append((data, hashlib.sha256(data).hexdigest()))
    return out


def upload(store: Store, objects: list[tuple[bytes, str]], threads: int, label: str) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(
            pool.map(
                lambda item: store.put(f"{prefix}/{item[0]:04d}.pdf", item[1][0], sha256=item[1][1]),
                enumerate(objects),
            )
        )
    seconds = time.perf_counter() - started
    megabytes = sum(len(data) for data, _ in objects) / 1e6
    print(
        f"{label:<28} threads={threads}  {len(objects)} objects  {megabytes:7.1f} MB  "
        f"{seconds:6.2f} s  {megabytes / seconds:7.1f} MB/s  {len(objects) / seconds:7.1f} objects/s"
    )
    started = time.perf_counter()
    store.put(f"{prefix}/0000.pdf", objects[0][0], sha256=objects[0][1])
    print(f"{'':<28} identical re-put (HEAD only): {1000 * (time.perf_counter() - started):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--threads", default="1,4")
    args = parser.parse_args()
    objects = payloads(args.objects, int(args.size_mb * 1024 * 1024))
    thread_counts = [int(t) for t in args.threads.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if os.environ.get("HUKOU_TEST_S3_ENDPOINT"):
            endpoint = os.environ["HUKOU_TEST_S3_ENDPOINT"]
            access_key = os.environ["HUKOU_TEST_S3_ACCESS_KEY"]
            secret_key = os.environ["HUKOU_TEST_S3_SECRET_KEY"]
        else:
            started = time.perf_counter()
            server = start_seaweedfs(Path(tmp) / "seaweedfs")
            print(f"SeaweedFS start-up until S3 serves: {time.perf_counter() - started:.1f} s")
            endpoint, access_key, secret_key = server.endpoint, server.access_key, server.secret_key
        try:
            s3 = S3Store(endpoint=endpoint, bucket="hukou-bench", access_key=access_key, secret_key=secret_key)
            s3.ensure_ready()
            for threads in thread_counts:
                upload(s3, objects, threads, "S3Store -> SeaweedFS")
            local = LocalStore(Path(tmp) / "archive")
            local.ensure_ready()
            for threads in thread_counts:
                upload(local, objects, threads, "LocalStore (fsync)")
        finally:
            if server is not None:
                started = time.perf_counter()
                stop_seaweedfs(server)
                print(f"SeaweedFS stop: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
