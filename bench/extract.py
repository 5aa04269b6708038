"""Benchmark OCR + field extraction: generated degraded pages, and the shared third-party images.

Run from the repository root:

    python -m bench.extract --pages 20            # dev and holdout generated pages + test images
    python -m bench.extract --pages 0             # test images only

Generated pages come upright (rotation and skew are the repair stage's job, benchmarked
there) but keep their paper damage, seals and handwriting; the engine reads the repair
stage's OCR image, as in the pipeline (`--no-repair`: the generated image itself). Figures:
- field accuracy: a truth field counts when the extracted value equals it exactly (both
  normalised), overall and per field; name and birth date separately; extra fields the
  page does not have; people on multi-person pages (mentions) matched by name;
- doc type accuracy; CER of the extracted raw text against what the page says;
- RapidOCR and CnOCR images against their expected text (CnOCR's rule: line-level
  1 - CER >= 0.8), the OpenVINO handwritten line's CER, the vertical book page's left column;
- seconds per page for OCR + extraction with one inference thread.
Targets: fields >= 97 %, name >= 98 %, birth date >= 98 %, doc type >= 99 %.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import random
import re
import tempfile
import time
from collections.abc import Iterator
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ocr_models.base import EngineOptions, OcrEngine, get_engine
from pipeline.extract import Extraction, extract, levenshtein

TESTDATA = Path("/work/shared/testdata")
LABELS_TOML = Path(__file__).resolve().parents[1] / "config" / "labels.toml"


@dataclasses.dataclass
class Tally:
    right: Counter = dataclasses.field(default_factory=Counter)
    total: Counter = dataclasses.field(default_factory=Counter)
    extra: Counter = dataclasses.field(default_factory=Counter)
    doc_right: int = 0
    pages: int = 0
    edits: int = 0
    chars: int = 0
    mention_right: int = 0
    mention_total: int = 0
    seconds: list[float] = dataclasses.field(default_factory=list)
    misses: list[str] = dataclasses.field(default_factory=list)
    verbose: bool = False  # every miss, with the field's raw text, flags and alternatives

    def score(self, truth: dict, result: Extraction, seconds: float) -> None:
        self.pages += 1
        self.seconds.append(seconds)
        self.doc_right += result.doc_type == truth["doc_type"]
        if result.doc_type != truth["doc_type"]:
            self.misses.append(f"doc_type {truth['doc_type']} read as {result.doc_type}")
        written = truth.get("written", {})
        for key, value in truth["fields"].items():
            got = result.fields.get(key)
            self.total[key] += 1
            if got is not None and got.value == value:
                self.right[key] += 1
            else:
                miss = f"{truth['doc_type']}/{truth['layout']} {key}: {value!r} read {got.value if got else None!r}"
                if self.verbose and got is not None:
                    miss += f"  raw {got.raw!r} flags {got.flags} alts {got.alternatives} conf {got.confidence:.2f}"
                if self.verbose and key in written:
                    miss += f"  written {written[key]!r}"
                self.misses.append(miss)
            if key in written:
                self.edits += levenshtein(str(written[key]), got.raw if got else "")
                self.chars += len(str(written[key]))
        for key in result.fields:
            if key not in truth["fields"]:
                self.extra[key] += 1
        self._mentions(truth.get("mentions", []), result, f"{truth['doc_type']}/{truth['layout']}")

    def _mentions(self, truths: list[dict], result: Extraction, where: str = "") -> None:
        found = {m.fields["name"].value: m for m in result.mentions if "name" in m.fields}
        for person in truths:
            got = found.get(person["fields"].get("name"))
            for key, value in person["fields"].items():
                self.mention_total += 1
                field = got.fields.get(key) if got is not None else None
                right = field is not None and field.value == value
                self.mention_right += right
                if not right and self.verbose:
                    miss = f"mention {where} {person['fields'].get('name')!r} {key}: {value!r} read "
                    miss += f"{field.value!r}  raw {field.raw!r} flags {field.flags}" if field else "None"
                    if got is None:
                        miss += " (person not found by name)"
                    self.misses.append(miss)

    def report(self, title: str) -> None:
        right, total = sum(self.right.values()), sum(self.total.values())
        print(f"\n== {title}: {self.pages} pages")
        if not self.pages:
            return
        print(f"fields      {pct(right, total)}  ({right}/{total})")
        print(f"name        {pct(self.right['name'], self.total['name'])}")
        print(f"birth_date  {pct(self.right['birth_date'], self.total['birth_date'])}")
        print(f"doc_type    {pct(self.doc_right, self.pages)}")
        print(f"mentions    {pct(self.mention_right, self.mention_total)}  (fields of listed people)")
        print(f"CER (raw)   {self.edits / max(1, self.chars):.4f}")
        print(f"extra       {dict(self.extra)}")
        print(f"seconds     {np.mean(self.seconds):.2f} per page (OCR + extraction, 1 thread)")
        print("per field   " + ", ".join(f"{k} {pct(self.right[k], n)}" for k, n in sorted(self.total.items())))
        for miss in self.misses if self.verbose else self.misses[:25]:
            print("  miss", miss)


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:6.2f} %" if b else "   n/a"


def recognise_cached(engine: OcrEngine, image: np.ndarray, cache: Path | None):
    """The engine's reading of `image`, kept under `cache` by the image's bytes so that
    extraction work can be re-scored in seconds; the stored reading is the engine's own."""
    if cache is None:
        return engine.recognise(image)
    import hashlib
    import pickle

    key = hashlib.sha256(image.tobytes() + repr((image.shape, type(engine).__name__, engine.options)).encode()).hexdigest()
    path = cache / f"{key}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    result = engine.recognise(image)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(result))
    tmp.replace(path)
    return result


def ocr_input(page, repaired: bool) -> np.ndarray:
    """What the pipeline's OCR reads: the repair stage's OCR image (seal ink lifted out,
    background flattened), or with `repaired` False the generated image as it is."""
    if not repaired:
        return page.image
    from pipeline.records import Master, SourceFile
    from pipeline.repair import repair

    source = SourceFile("generated.png", "", "0" * 64, 0, "png")
    return repair(Master(source, 0, 1, page.image, page.dpi, "flatbed", {})).ocr_image


def generated_pages(engine: OcrEngine, variant: str, pages: int, seed: int,
                    unseen_labels: str | None = None, ocr_cache: Path | None = None,
                    verbose: bool = False, repaired: bool = True) -> tuple[Tally, Tally | None]:
    """Score the pages; with `unseen_labels` (a label table path) also score the same OCR against that table."""
    from pagegen import random_spec, render_page

    rng = random.Random(seed)
    tally, unseen = Tally(verbose=verbose), (Tally(verbose=verbose) if unseen_labels else None)
    for _ in range(pages):
        spec = dataclasses.replace(random_spec(rng, label_variant=variant), rotation=0, skew_deg=0.0, camera=False)
        page = render_page(spec)
        image = ocr_input(page, repaired)
        started = time.perf_counter()
        ocr = recognise_cached(engine, image, ocr_cache)
        result = extract(ocr)
        tally.score(page.truth, result, time.perf_counter() - started)
        if unseen is not None and unseen_labels:
            with label_table(unseen_labels):
                unseen.score(page.truth, extract(ocr), 0.0)
    return tally, unseen


@contextlib.contextmanager
def label_table(path: str) -> Iterator[None]:
    """Extraction reads its labels from `path` for a while (the stage itself always reads config/)."""
    import pipeline.extract as stage

    original = stage.load_labels
    stage.load_labels = functools.partial(original, path)  # type: ignore[assignment]
    try:
        yield
    finally:
        stage.load_labels = original  # type: ignore[assignment]


def labels_without_generator_wordings(variant: str) -> tuple[str, int]:
    """config/labels.toml without any label or title wording the generator prints for `variant`.

    Some real wordings the holdout generator uses are also in config/ (they are common on real
    forms), so the plain holdout figure measures unseen layouts more than unseen wordings; scoring
    the same OCR against this table measures how the extractor reads wordings it has no entry for.
    """
    from pagegen.forms import DOC_LABELS, LABELS, TITLES

    index = 0 if variant == "dev" else 1
    words = {w for pair in LABELS.values() for w in pair[index]}
    words |= {w for doc in DOC_LABELS.values() for pair in doc.values() for w in pair[index]}
    words |= {w for pair in TITLES.values() for w in pair[index]}
    removed = 0

    def drop(match: re.Match[str]) -> str:
        nonlocal removed
        if match.group(1) in words:
            removed += 1
            return ""
        return match.group(0)

    lines = []
    in_list = False
    for line in LABELS_TOML.read_text(encoding="utf-8").splitlines(keepends=True):
        starts = re.match(r"\s*(words|titles)\s*=\s*\[", line)
        if starts or in_list:
            line = re.sub(r'"([^"]+)"\s*,?\s*', drop, line)
            line = re.sub(r",\s*\]", "]", line)
            in_list = "]" not in line
        lines.append(line)
    out = Path(tempfile.mkdtemp(prefix="hukou-labels-")) / "labels.toml"
    out.write_text("".join(lines), encoding="utf-8")
    return str(out), removed


def load_bgr(path: Path) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in ("RGBA", "LA", "P"):
        return np.array(image.convert("RGBA"))[:, :, [2, 1, 0, 3]]
    return np.array(image.convert("RGB"))[:, :, ::-1]


def cer(truth: str, read: str) -> float:
    return levenshtein(truth, read) / max(1, len(truth))


def test_images(engine: OcrEngine) -> None:
    print("\n== RapidOCR test images")
    for item in json.loads((TESTDATA / "rapidocr" / "ground_truth.json").read_text())["items"]:
        result = engine.recognise(load_bgr(TESTDATA / "rapidocr" / item["file"]))
        lines = [line.text for line in result.lines]
        if "expected_text" in item:
            read, want = "".join(lines), item["expected_text"]
        elif "expected_first_line" in item:
            read, want = (lines[0] if lines else ""), item["expected_first_line"]
        elif "expected_first_line_chars" in item:
            want = "".join(item["expected_first_line_chars"])
            columns = [line.text for line in result.lines if line.vertical]
            # columns come right to left; RapidOCR's own test asserts the left-most one
            read = columns[-1] if columns else "".join(lines)
        else:
            print(f"  {item['file']:36s} {len(lines)} lines (no text truth)")
            continue
        print(f"  {item['file']:36s} CER {cer(want, read):.3f}  {'ok' if read == want else 'differs'}: {read[:40]!r}")

    print("\n== CnOCR images (pass: line-level 1 - CER >= 0.8)")
    passed = 0
    items = json.loads((TESTDATA / "cnocr" / "ground_truth.json").read_text())["items"]
    for item in items:
        lines = [line.text for line in engine.recognise(load_bgr(TESTDATA / "cnocr" / item["file"])).lines]
        want = item["lines"]
        edits = sum(levenshtein(w, r) for w, r in zip(want, lines)) + sum(len(w) for w in want[len(lines) :])
        score = 1 - edits / sum(len(w) for w in want)
        ok = score >= 0.8 and len(lines) == len(want)
        passed += ok
        print(f"  {item['file']:28s} 1-CER {score:.3f}  lines {len(lines)}/{len(want)}  {'pass' if ok else 'FAIL'}")
    print(f"  passed {passed}/{len(items)}")

    print("\n== OpenVINO handwritten line")
    for item in json.loads((TESTDATA / "openvino-omz" / "ground_truth.json").read_text())["items"]:
        read = "".join(line.text for line in engine.recognise(load_bgr(TESTDATA / "openvino-omz" / item["file"])).lines)
        want = "".join(item["lines"])
        print(f"  CER {cer(want, read):.3f}: {read!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="generated pages per label variant")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--variants", default="dev,holdout")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-images", action="store_true", help="skip the shared test images")
    parser.add_argument("--no-repair", action="store_true",
                        help="OCR the generated image itself, not the repair stage's OCR image as the pipeline does")
    parser.add_argument("--ocr-cache", type=Path, default=None,
                        help="keep the engine's readings of generated pages here (re-runs score extraction only; "
                             "the seconds printed then leave out OCR)")
    parser.add_argument("--all-misses", action="store_true",
                        help="print every miss (not the first 25) with the field's raw text, flags and alternatives")
    args = parser.parse_args()
    if args.pages:
        # generated pages are upright, as the pipeline's repaired pages are
        engine = get_engine("rapidocr", EngineOptions(threads=args.threads, page_upright=True))
        for variant in args.variants.split(","):
            stripped, removed = labels_without_generator_wordings(variant) if variant == "holdout" else (None, 0)
            tally, unseen = generated_pages(engine, variant, args.pages, args.seed, stripped, args.ocr_cache,
                                            args.all_misses, repaired=not args.no_repair)
            tally.report(f"generated pages, {variant} labels")
            if unseen is not None:
                unseen.report(f"the same pages, the {removed} {variant} wordings config/labels.toml shares with the "
                              f"generator taken out (wordings the extractor has no entry for)")
    if not args.no_images:
        test_images(get_engine("rapidocr", EngineOptions(threads=args.threads)))


if __name__ == "__main__":
    main()
