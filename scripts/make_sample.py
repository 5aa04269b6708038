"""Regenerate the demo batch that ships in samples/: `python scripts/make_sample.py`.

Six generated, degraded pages (one a document-camera photo) with their truth, a
register export naming their people, and a manifest. Deterministic: the same
generator version gives the same files.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pagegen  # noqa: E402

BATCH = ROOT / "samples" / "box-demo"
LIMIT = 8 * 1024 * 1024


def main() -> None:
    if BATCH.exists():
        shutil.rmtree(BATCH)
    pagegen.make_batch(BATCH, pages=6, seed=2026, camera_share=0.2, register_extra=40)
    manifest = tomllib.loads((BATCH / "batch.toml").read_text("utf-8"))
    loc = manifest["location"]
    (BATCH / "batch.toml").write_text(
        "[batch]\n"
        'id = "box-demo"\n'
        'scanner = "auto"            # flatbed scans and one document-camera photo\n'
        f'device = "{manifest["batch"].get("device", "")}"\n'
        f'operator = "{manifest["batch"].get("operator", "")}"\n'
        "\n[location]\n" + "".join(f'{k} = "{v}"\n' for k, v in loc.items()),
        encoding="utf-8",
    )
    shutil.move(BATCH / "register.csv", ROOT / "samples" / "register-demo.csv")
    size = sum(p.stat().st_size for p in BATCH.iterdir())
    print(f"{BATCH}: {size / 1e6:.1f} MB")
    if size > LIMIT:
        raise SystemExit(f"sample batch is {size} bytes, over the 8 MB the repo allows")


if __name__ == "__main__":
    main()
