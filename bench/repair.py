"""Page repair and damage detection, measured.

Generated pages (pagegen, flatbed and camera, dev and hold-out wordings/layouts, each
with one damage kind in turn on top of its random ones):
skew MAE and worst case, rotation accuracy, damage precision/recall per kind.
Vertical-writing (竖排) pages in all four turns: rotation right.
Real scans (../shared/testdata): OCRmyPDF skew.pdf / rotated_skew.pdf within 0.2°,
cardinal.pdf upright, sbrunner/deskew within 1°. Speed: seconds per 300-dpi A4
colour page for all of repair (including damage detection).

OCR gain: on the same degraded pages (random turn, skew, damage; flatbed and camera),
the share of hand-filled values read exactly right from the master as delivered and
from the repaired OCR derivative (RapidOCR + extraction, as the pipeline runs them).

Run from the repository root: python -m bench.repair [PAGES] [CAMERA_PAGES] [OCR_PAGES]
Targets: skew MAE ≤ 0.15°, worst ≤ 0.5°, rotation 100 %, damage P/R ≥ 0.85, ≤ 0.5 s/page.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import cv2
import numpy as np

import pagegen
from pipeline.records import DAMAGE_KINDS, Master, SourceFile
from pipeline.repair import repair
from scanners import camera, read_source, sniff_format

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
if not TESTDATA.exists():
    TESTDATA = Path("/work/shared/testdata")


def _source(path: Path) -> SourceFile:
    data = path.read_bytes()
    return SourceFile(path.name, str(path), hashlib.sha256(data).hexdigest(), len(data), sniff_format(path))


def _master(image: np.ndarray, dpi: int | None) -> Master:
    source = SourceFile("generated.png", "", "0" * 64, 0, "png")
    master = Master(source, 0, 1, image, dpi, "flatbed", {})
    return camera.flatten_master(master) if dpi is None else master


def generated(pages: int, camera_pages: int) -> None:
    rng = random.Random(2026)
    specs = [pagegen.random_spec(rng, label_variant="dev" if i % 2 else "holdout") for i in range(pages)]
    specs += [pagegen.random_spec(rng, camera=True) for _ in range(camera_pages)]
    for i, spec in enumerate(specs):  # every kind on at least one page in seven, so a small sample measures them all
        kind = DAMAGE_KINDS[i % len(DAMAGE_KINDS)]
        spec.degradations = [k for k in DAMAGE_KINDS if k in spec.degradations or k == kind]
    skew_errors: list[float] = []
    camera_errors: list[float] = []
    rotations_ok = 0
    counts = {k: [0, 0, 0] for k in DAMAGE_KINDS}  # tp, fp, fn
    misses: list[str] = []
    for spec in specs:
        page = pagegen.render_page(spec)
        result = repair(_master(page.image, page.dpi))
        error = abs(result.skew_deg - page.truth["skew_deg"])
        (camera_errors if spec.camera else skew_errors).append(error)
        rotations_ok += result.rotation == page.truth["rotation"]
        if result.rotation != page.truth["rotation"]:
            misses.append(f"rotation {result.rotation} ≠ {page.truth['rotation']} ({spec.layout})")
        found = {f.kind for f in result.damage}
        truth = set(page.truth["damage"])
        for kind in DAMAGE_KINDS:
            counts[kind][0] += kind in found and kind in truth
            counts[kind][1] += kind in found and kind not in truth
            counts[kind][2] += kind not in found and kind in truth
    print(f"generated pages: {pages} flatbed (dev + hold-out), {camera_pages} camera")
    print(f"  skew flatbed: MAE {np.mean(skew_errors):.3f}°  worst {np.max(skew_errors):.3f}°")
    if camera_errors:
        print(f"  skew camera:  MAE {np.mean(camera_errors):.3f}°  worst {np.max(camera_errors):.3f}°")
    print(f"  rotation: {rotations_ok}/{len(specs)} = {rotations_ok / len(specs):.1%}")
    for miss in misses:
        print(f"    {miss}")
    for kind, (tp, fp, fn) in counts.items():
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        print(f"  damage {kind:15s} P {precision:.2f}  R {recall:.2f}  (tp {tp}, fp {fp}, fn {fn})")


def vertical_writing(pages: int, seed: int = 5) -> None:
    """Rotation on 竖排 pages (columns of stacked characters), each quarter turn in turn, one in five a camera photo."""
    rng = random.Random(seed)
    right = 0
    done = 0
    while done < pages:
        spec = pagegen.random_spec(rng, doc_type="resident_registration", label_variant="holdout", camera=done % 5 == 4)
        if spec.layout != "vertical_rl":
            continue
        spec.rotation = (0, 90, 180, 270)[done % 4]
        page = pagegen.render_page(spec)
        right += repair(_master(page.image, page.dpi)).rotation == page.truth["rotation"]
        done += 1
    print(f"  vertical-writing (竖排) pages: rotation {right}/{pages} right")


def real_scans() -> None:
    ocrmypdf = TESTDATA / "ocrmypdf"
    for name, expected in (("skew.pdf", -1.865), ("rotated_skew.pdf", 2.79)):
        (master,) = read_source(_source(ocrmypdf / name), scanner="flatbed")
        result = repair(master)
        ok = abs(result.skew_deg - expected) <= 0.2 and result.rotation == 0
        print(f"  {name:18s} skew {result.skew_deg:+.3f}° (truth {expected:+.3f}°) rotation {result.rotation}  {'ok' if ok else 'FAIL'}")
    pages = read_source(_source(ocrmypdf / "cardinal.pdf"), scanner="flatbed")
    results = [repair(p) for p in pages]
    reference = _ink(results[0].image)
    similarity = [_correlation(_ink(r.image), reference) for r in results]
    print(f"  cardinal.pdf       rotations {[r.rotation for r in results]}  similarity to page 1 {[round(s, 3) for s in similarity]}")
    truth = json.loads((TESTDATA / "sbrunner-deskew" / "ground_truth.json").read_text())
    errors = []
    for item in truth["items"]:
        (master,) = read_source(_source(TESTDATA / "sbrunner-deskew" / item["file"]), scanner="flatbed")
        result = repair(master)
        errors.append(abs(result.skew_deg + item["expected_correction_deg"]))
        print(f"  {item['file']:18s} skew {result.skew_deg:+.2f}° (truth {-item['expected_correction_deg']:+.1f}° ±1) rotation {result.rotation}")
    print(f"  sbrunner within 1°: {sum(e <= 1.0 for e in errors)}/{len(errors)}")


def _ink(image: np.ndarray) -> np.ndarray:
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(255 - gray, (200, 260), interpolation=cv2.INTER_AREA).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def speed(pages: int = 5) -> None:
    """Process CPU time, so other work on a shared machine does not count."""
    rng = random.Random(7)
    times = []
    for _ in range(pages):
        spec = pagegen.random_spec(rng)
        spec.paper = "A4"
        page = pagegen.render_page(spec)
        master = _master(page.image, page.dpi)
        start = time.process_time()
        repair(master)
        times.append(time.process_time() - start)
    print(f"speed: {np.mean(times):.2f} s CPU/page (300-dpi A4 colour, all of repair incl. damage), best {np.min(times):.2f} s")


def _hand_filled_right(truth: dict, extraction) -> tuple[int, int]:
    """(right, total) over the page's fields whose value was written by hand."""
    hand = set(truth["handwritten_values"])
    written = truth.get("written", {})
    keys = [k for k, v in truth["fields"].items() if str(written.get(k, v)) in hand]
    right = sum(1 for k in keys if k in extraction.fields and extraction.fields[k].value == truth["fields"][k])
    return right, len(keys)


def ocr_gain(pages: int, seed: int = 31) -> None:
    """Hand-filled values read right without and with repair, on the same degraded pages."""
    from ocr_models.base import EngineOptions, get_engine
    from pipeline.extract import extract

    raw_engine = get_engine("rapidocr", EngineOptions())  # checks every line's direction itself
    repaired_engine = get_engine("rapidocr", EngineOptions(page_upright=True))
    rng = random.Random(seed)
    tally = {"without": [0, 0], "with": [0, 0]}
    for i in range(pages):
        spec = pagegen.random_spec(rng, label_variant="dev" if i % 2 else "holdout", camera=i % 4 == 3)
        page = pagegen.render_page(spec)
        for name, extraction in (
            ("without", extract(raw_engine.recognise(page.image))),
            ("with", extract(repaired_engine.recognise(repair(_master(page.image, page.dpi)).ocr_image))),
        ):
            right, total = _hand_filled_right(page.truth, extraction)
            tally[name][0] += right
            tally[name][1] += total
    (r0, n0), (r1, n1) = tally["without"], tally["with"]
    print(f"OCR gain on {pages} degraded pages ({pages // 4} camera): hand-filled values read right "
          f"without repair {r0}/{n0} = {r0 / max(1, n0):.1%}, with repair {r1}/{n1} = {r1 / max(1, n1):.1%}")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", type=int, nargs="?", default=40, help="generated flatbed pages")
    parser.add_argument("camera_pages", type=int, nargs="?", default=10, help="generated camera shots")
    parser.add_argument("ocr_pages", type=int, nargs="?", default=8, help="degraded pages OCRed with and without repair")
    args = parser.parse_args()
    pages, camera_pages, ocr_pages = args.pages, args.camera_pages, args.ocr_pages
    generated(pages, camera_pages)
    vertical_writing(16)
    print("real scans:")
    real_scans()
    speed()
    if ocr_pages:
        ocr_gain(ocr_pages)


if __name__ == "__main__":
    main()
