"""End to end on generated pages: speed, field accuracy against the truth, and the text layers.

Generates N 300-dpi pages with pagegen (kept under HUKOU_BENCH_CACHE), imports the
batch's register, runs the ingest flow, and prints:

- pages/minute and mean seconds per page for each stage;
- field accuracy: exported values equal to the truth's normalised values, overall and per field;
- the share of hand-filled values (truth `handwritten_values`) that a reader finds in the
  archived PDF/A's text layer (pipeline.archive.extract_text on the stored bytes).

    /work/main/.venv/bin/python bench/e2e.py [--pages 20] [--workers 1] [--seed 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import bench_settings, generated_batch  # noqa: E402


def _squash(text: str) -> str:
    return "".join(text.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    batch = generated_batch(args.pages, args.seed)
    truth = {t["source_file"]: t for t in map(json.loads, (batch / "truth.jsonl").read_text("utf-8").splitlines())}
    with bench_settings():
        from flows.ingest import run_ingest
        from flows.runtime import runtime_for
        from pipeline.archive import extract_text
        from pipeline.db.queries import archived_objects, export_records
        from pipeline.db.register import import_register_csv
        from pipeline.db.session import session_scope

        rt = runtime_for()
        import_register_csv(rt.engine, batch / "register.csv", hmac_key=rt.keys.hmac, fernet_key=rt.keys.fernet)
        started = time.perf_counter()
        result = run_ingest(str(batch), workers=args.workers)
        seconds = time.perf_counter() - started
        s = result["summary"]
        with session_scope(rt.sessions) as session:
            records = list(export_records(session, s["batch_id"]))
            keys = {a.page_id: a.key for a in archived_objects(session, batch_id=s["batch_id"])}

        right, total = Counter(), Counter()
        found = written = 0
        for r in records:
            t = truth.get(r["source_file"])
            if t is None:
                continue
            for key, value in t["fields"].items():
                total[key] += 1
                right[key] += r["fields"].get(key, {}).get("value") == value
            text = _squash(extract_text(rt.store.get(keys[r["page_id"]]))) if r["page_id"] in keys else ""
            for value in t.get("handwritten_values", []):
                written += 1
                found += _squash(value) in text

    print(f"{len(records)} pages in {seconds:.0f} s = {60.0 * len(records) / seconds:.2f} pages/minute "
          f"(workers {args.workers}); done {s['done']}, failed {s['failed']}, needs re-scan {s['needs_rescan']}")
    print("mean seconds per page: " + ", ".join(f"{k} {v:.2f}" for k, v in s["stage_seconds"].items()))
    all_right, all_total = sum(right.values()), sum(total.values())
    print(f"field accuracy: {all_right}/{all_total} = {all_right / max(1, all_total):.1%}")
    for key in sorted(total, key=lambda k: -total[k]):
        print(f"  {key:<20} {right[key]:>3}/{total[key]:<3} {right[key] / total[key]:.0%}")
    print(f"hand-filled values in the PDF text layers: {found}/{written} = {found / max(1, written):.1%}")
    print(f"links: {s['links']}; damage: {s['damage']}")


if __name__ == "__main__":
    main()
