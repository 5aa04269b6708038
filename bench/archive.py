"""Benchmark of the archival PDF/A-2b writer on synthetic 300-dpi A4 pages.

Pages: yellowed paper with a fine grain (scanner-like noise), printed labels, handwritten-like
values with occasional rare and non-BMP characters, a rotated note, a vertical column;
every other page carries a red seal.

Prints: share of pages pikepdf.pdfa approves, text-layer recall (characters read back
from the final bytes over characters written, per line, and as a layout reader sees
them), share of pages make_archival_pdf accepts, bytes per page (colour and gray), and
seconds per page to write + validate + read back.

With --real, pages from pagegen go through the real stages instead (scanners.read_source,
pipeline.repair.repair, RapidOCR, make_archival_pdf) and it prints: seconds per page to
write + validate, bytes per page at 300 dpi next to OCRmyPDF's PDF/A of the same repaired
images, how many hand-filled values (pagegen truth) the archived text layer holds against
the raw OCR text (and OCRmyPDF's Tesseract layer), and upload / read-back throughput of
the S3 store to a SeaweedFS server started for the run.

    /work/main/.venv/bin/python bench/archive.py [--pages N]
    /work/main/.venv/bin/python bench/archive.py --real [--pages N] [--no-ocrmypdf] [--no-s3]
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.archive import (  # noqa: E402
    ArchiveRefused,
    build_pdfa,
    extract_lines,
    has_colour_ink,
    make_archival_pdf,
    validate_pdfa,
)
from pipeline.records import ArchiveMetadata, Location, OcrLine  # noqa: E402

FONT = "/usr/share/fonts/truetype/arphic/ukai.ttc"
DPI = 300
A4_PX = (2480, 3508)
LABELS = ["姓名", "曾用名", "性别", "民族", "出生日期", "籍贯", "出生地", "户主或与户主关系", "文化程度", "婚姻状况", "服务处所", "职业", "何时由何地迁来本市", "住址"]
RARE = ["䶮", "𠀀", "𪚥", "㐀", "𡒄", "喆", "堃", "淼"]


def _random_text(rng: np.random.Generator, n: int) -> str:
    chars = [chr(int(c)) for c in rng.integers(0x4E00, 0x9FA6, n)]
    if rng.random() < 0.5:
        chars[int(rng.integers(0, n))] = RARE[int(rng.integers(0, len(RARE)))]
    return "".join(chars)


def _quad(x: float, y: float, w: float, h: float, deg: float = 0.0) -> tuple[tuple[float, float], ...]:
    a = np.deg2rad(deg)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    o = np.array([x, y], float)
    return tuple((float(p[0]), float(p[1])) for p in (o, o + u * w, o + u * w + v * h, o + v * h))


def synthetic_page(rng: np.random.Generator, colour: bool) -> tuple[np.ndarray, list[OcrLine]]:
    """A yellowed A4 form page: labels and values, one rotated line, one vertical column, maybe a seal."""
    w, h = A4_PX
    paper = np.array([155, 205, 228], np.int16) + rng.integers(-8, 8, 3)
    grain = cv2.GaussianBlur(rng.normal(0, 5, (h, w)).astype(np.float32), (3, 3), 0)  # paper texture, shared by channels
    page = np.clip(paper + grain[..., None] + rng.normal(0, 1.5, (h, w, 3)), 0, 255).astype(np.uint8)
    pil = Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    font = ImageFont.truetype(FONT, 64)
    lines: list[OcrLine] = []
    y = 250
    for label in LABELS:
        value = _random_text(rng, int(rng.integers(2, 9)))
        for x, text in ((200, label), (1100, value)):
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.text((x, y), text, font=font, fill=(25, 25, 25))
            lines.append(OcrLine(quad=_quad(left, top, right - left, bottom - top), text=text, score=0.95))
        y += 200
    # a rotated annotation, drawn on its own layer
    note = _random_text(rng, 10)
    layer = Image.new("L", (1000, 120), 0)
    ImageDraw.Draw(layer).text((10, 20), note, font=font, fill=255)
    angle = float(rng.uniform(-15, 15))
    rotated = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
    pil.paste((40, 40, 40), (1200, 3100), rotated)
    cx, cy = 1200 + rotated.width / 2, 3100 + rotated.height / 2
    a = np.deg2rad(-angle)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    tw = ImageDraw.Draw(layer).textlength(note, font=font)
    origin = np.array([cx, cy]) - u * tw / 2 - v * 35
    lines.append(OcrLine(quad=_quad(*origin, tw, 70, float(np.rad2deg(a))), text=note, score=0.9))
    # a vertical column in the margin
    column = _random_text(rng, 8)
    for k, char in enumerate(column):
        draw.text((2250, 300 + 80 * k), char, font=font, fill=(25, 25, 25))
    lines.append(OcrLine(quad=_quad(2245, 295, 75, 80 * len(column)), text=column, score=0.9, vertical=True))
    page = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    if colour:
        cv2.circle(page, (1800, 3000), 190, (45, 35, 200), 14)
        cv2.putText(page, "*", (1740, 3060), cv2.FONT_HERSHEY_SIMPLEX, 5, (45, 35, 200), 12)
    return page, lines


def _recall(expected: list[str], found: list[str]) -> tuple[int, int]:
    matched = sum(
        sum(block.size for block in difflib.SequenceMatcher(None, want, got, autojunk=False).get_matching_blocks())
        for want, got in zip(expected, found)
    )
    return matched, sum(len(t) for t in expected)


def _layout_recall(data: bytes, expected: list[str]) -> tuple[int, int]:
    from pdfminer.high_level import extract_text

    got = Counter(c for c in extract_text(io.BytesIO(data)) if not c.isspace())
    want = Counter(c for text in expected for c in text if not c.isspace())
    return sum((got & want).values()), sum(want.values())


def _pdftotext_recall(data: bytes, expected: list[str]) -> tuple[int, int] | None:
    if shutil.which("pdftotext") is None:
        return None
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True).stdout
    got = Counter(c for c in text.decode("utf-8") if not c.isspace())
    want = Counter(c for line in expected for c in line if not c.isspace())
    return sum((got & want).values()), sum(want.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--real", action="store_true", help="pagegen pages through the real stages (slow: OCR)")
    parser.add_argument("--seed", type=int, default=31, help="pagegen seed (--real)")
    parser.add_argument("--no-ocrmypdf", action="store_true", help="skip the OCRmyPDF comparison (--real)")
    parser.add_argument("--no-s3", action="store_true", help="skip the SeaweedFS throughput (--real)")
    args = parser.parse_args()
    if args.real:
        real_pages(args.pages, args.seed, ocrmypdf=not args.no_ocrmypdf, s3=not args.no_s3)
        return
    rng = np.random.default_rng(20261127)
    approved = accepted = colour_right = 0
    poppler = [0, 0]
    matched = total = layout_matched = layout_total = 0
    sizes: dict[bool, list[int]] = {True: [], False: []}
    seconds = []
    for i in range(args.pages):
        colour = i % 2 == 0
        image, lines = synthetic_page(rng, colour)
        meta = ArchiveMetadata(
            title=f"bench page {i + 1}", batch_id="bench", page_no=i + 1,
            location=Location(fonds="J041", volume="1986-户-07", box="0417"),
            master_sha256=f"{i:064x}", software_version="bench", capture_date="2026-11-27T08:00:00+08:00",
        )
        colour_right += has_colour_ink(image) == colour
        start = time.perf_counter()
        try:
            make_archival_pdf(image, DPI, lines, meta)
            accepted += 1
        except ArchiveRefused as refused:
            print(f"page {i + 1} refused: {refused.reasons[:3]}")
        seconds.append(time.perf_counter() - start)
        data = build_pdfa(image, DPI, lines, meta)
        approved += validate_pdfa(data).valid
        m, t = _recall([line.text for line in lines], extract_lines(data))
        matched, total = matched + m, total + t
        m, t = _layout_recall(data, [line.text for line in lines])
        layout_matched, layout_total = layout_matched + m, layout_total + t
        sizes[colour].append(len(data))
        found = _pdftotext_recall(data, [line.text for line in lines])
        if found is not None:
            poppler = [poppler[0] + found[0], poppler[1] + found[1]]
    n = args.pages
    print(f"pages: {n} synthetic A4 at {DPI} dpi ({A4_PX[0]}x{A4_PX[1]} px), half with a red seal")
    print(f"pikepdf.pdfa 2b approved: {approved}/{n} = {approved / n:.1%}")
    print(f"make_archival_pdf accepted: {accepted}/{n} = {accepted / n:.1%}")
    print(f"text-layer recall (per line, exact reader decode): {matched}/{total} = {matched / total:.4f}")
    print(f"text-layer recall (pdfminer layout, char multiset): {layout_matched}/{layout_total} = {layout_matched / layout_total:.4f}")
    if poppler[1]:
        print(f"text-layer recall (poppler pdftotext, char multiset): {poppler[0]}/{poppler[1]} = {poppler[0] / poppler[1]:.4f}")
    print(f"colour decision right (seal -> colour, yellowed paper -> gray): {colour_right}/{n}")
    for colour, label in ((True, "colour (seal kept)"), (False, "gray (yellowed paper only)")):
        if sizes[colour]:
            print(f"bytes per page, {label}: {statistics.mean(sizes[colour]) / 1e6:.2f} MB")
    print(f"seconds per page, write+validate+read back: {statistics.mean(seconds):.2f} s (max {max(seconds):.2f})")



# --- real pages: pagegen -> read -> repair -> OCR -> PDF/A, next to OCRmyPDF, into SeaweedFS ---


def _squeeze(text: str) -> str:
    """Text without whitespace: Tesseract puts spaces between Han characters (OCRmyPDF #715)."""
    return "".join(text.split())


def _values_found(values: list[str], text: str) -> int:
    flat = _squeeze(text)
    return sum(1 for value in values if _squeeze(value) and _squeeze(value) in flat)


def _pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def _ocrmypdf(image: np.ndarray, dpi: float, workdir: Path, name: str) -> tuple[bytes | None, float, str]:
    """OCRmyPDF's PDF/A of the same repaired image (lossless PNG in), its seconds, or why it could not run."""
    exe = shutil.which("ocrmypdf")
    if exe is None:
        return None, 0.0, "ocrmypdf is not installed (apt-get install ocrmypdf, or pip install ocrmypdf)"
    source, target = workdir / f"{name}.png", workdir / f"{name}.ocrmypdf.pdf"
    rgb = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    Image.fromarray(rgb).save(source, dpi=(dpi, dpi))
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    start = time.perf_counter()
    run = subprocess.run([exe, "-q", "-l", "chi_sim", "--output-type", "pdfa", "--jobs", "1", "--image-dpi", str(round(dpi)),
                          str(source), str(target)], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        return None, seconds, f"ocrmypdf exited {run.returncode}: {(run.stderr.strip().splitlines() or ['?'])[-1]}"
    return target.read_bytes(), seconds, ""


# IJG standard luminance quantisation table (ITU-T T.81 K.1): a JPEG's quality is estimated
# from how far its own luminance table is scaled from this one.
_IJG_LUMA_SUM = sum([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
_SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def _page_image_note(data: bytes) -> str:
    """Pixels, encoding, estimated JPEG quality and chroma subsampling of the page's largest image:
    what the bytes buy (a smaller file may simply be a lossier picture)."""
    import pikepdf  # noqa: PLC0415
    from PIL import JpegImagePlugin  # noqa: PLC0415

    with pikepdf.open(io.BytesIO(data)) as pdf:
        image = max(pdf.pages[0].get_images().values(), key=lambda i: int(i.Width) * int(i.Height))
        filters = image.get("/Filter")
        filters = [str(f) for f in filters] if isinstance(filters, pikepdf.Array) else [str(filters)]
        note = f"{int(image.Width)}x{int(image.Height)} {'+'.join(f.lstrip('/') for f in filters)}"
        if filters[-1] == "/DCTDecode" and set(filters[:-1]) <= {"/FlateDecode"}:
            raw = image.read_raw_bytes()
            for _ in filters[:-1]:  # Ghostscript (OCRmyPDF's PDF/A step) deflates its JPEGs once more
                raw = zlib.decompress(raw)
            jpeg = Image.open(io.BytesIO(raw))
            scale = 100 * sum(jpeg.quantization[0]) / _IJG_LUMA_SUM
            quality = round((200 - scale) / 2 if scale <= 100 else 5000 / scale)
            note += f" q~{quality} {_SAMPLING.get(JpegImagePlugin.get_sampling(jpeg), '?')} {jpeg.mode}"
        return note


def _s3_throughput(pdfs: list[bytes], rounds: int = 4) -> None:
    """Upload every PDF `rounds` times under fresh keys through S3Store.put (HEAD, PUT with SHA-256, HEAD),
    then read each back through S3Store.get (GET, re-hash): what a batch and an audit cost on the wire."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from seaweedfs import start_seaweedfs, stop_seaweedfs  # noqa: PLC0415

    from pipeline.storage import S3Store  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="bench-weed-") as tmp:
        started = time.perf_counter()
        server = start_seaweedfs(Path(tmp))
        print(f"SeaweedFS started in {time.perf_counter() - started:.1f} s at {server.endpoint}")
        try:
            store = S3Store(endpoint=server.endpoint, bucket="bench-archive", access_key=server.access_key,
                            secret_key=server.secret_key)
            print(f"bucket: {store.ensure_ready()}")
            items = [(f"r{r}/{i:04d}.pdf", data, hashlib.sha256(data).hexdigest()) for r in range(rounds)
                     for i, data in enumerate(pdfs)]
            start = time.perf_counter()
            for key, data, sha in items:
                store.put(key, data, sha256=sha)
            put_seconds = time.perf_counter() - start
            start = time.perf_counter()
            for key, data, _ in items:
                assert store.get(key) == data
            get_seconds = time.perf_counter() - start
        finally:
            stop_seaweedfs(server, grace=1.0)
    total = sum(len(data) for _, data, _ in items)
    print(f"S3 upload (S3Store.put, {len(items)} objects, {total / 1e6:.1f} MB): "
          f"{len(items) / put_seconds:.1f} objects/s, {total / 1e6 / put_seconds:.1f} MB/s, "
          f"{1000 * put_seconds / len(items):.0f} ms/object")
    print(f"S3 read-back (S3Store.get + re-hash): {len(items) / get_seconds:.1f} objects/s, "
          f"{total / 1e6 / get_seconds:.1f} MB/s")


def real_pages(pages: int, seed: int, *, ocrmypdf: bool, s3: bool) -> None:
    import json  # noqa: PLC0415

    import pagegen  # noqa: PLC0415
    from ocr_models.base import EngineOptions, get_engine  # noqa: PLC0415
    from pipeline.archive import PdfOptions, extract_text  # noqa: PLC0415
    from pipeline.ingest import list_sources, read_manifest  # noqa: PLC0415
    from pipeline.repair import RepairOptions, repair  # noqa: PLC0415
    from scanners import read_source  # noqa: PLC0415

    engine = get_engine("rapidocr", EngineOptions(threads=1))
    rows = []
    ocrmypdf_note = "skipped (--no-ocrmypdf)" if not ocrmypdf else ""
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        batch = Path(tmp) / "batch"
        pagegen.make_batch(batch, pages=pages, seed=seed, register_extra=0)
        truth = {t["source_file"]: t for t in map(json.loads, (batch / "truth.jsonl").read_text("utf-8").splitlines())}
        manifest = read_manifest(batch)
        for source in list_sources(manifest):
            master = read_source(source, scanner=manifest.scanner, batch_dpi=manifest.dpi)[0]
            repaired = repair(master, RepairOptions())
            start = time.perf_counter()
            ocr = engine.recognise(repaired.ocr_image)
            ocr_seconds = time.perf_counter() - start
            meta = ArchiveMetadata(
                title=source.name, batch_id=manifest.batch_id, page_no=master.page_no, location=manifest.location,
                master_sha256=source.sha256, software_version="bench", capture_date="2026-11-27T08:00:00+08:00",
            )
            start = time.perf_counter()
            pdf = make_archival_pdf(repaired.image, repaired.dpi, ocr.lines, meta, PdfOptions())
            write_seconds = time.perf_counter() - start
            start = time.perf_counter()
            assert validate_pdfa(pdf).valid
            validate_seconds = time.perf_counter() - start
            colour_pdf = make_archival_pdf(repaired.image, repaired.dpi, ocr.lines, meta, PdfOptions(colour="color"))
            values = list(dict.fromkeys(truth[source.name]["handwritten_values"]))
            row = {
                "name": source.name, "px": repaired.image.shape[1::-1], "dpi": repaired.dpi, "ocr_s": ocr_seconds,
                "write_s": write_seconds, "validate_s": validate_seconds, "bytes": len(pdf), "colour_bytes": len(colour_pdf),
                "auto_colour": has_colour_ink(repaired.image), "values": len(values),
                "in_ocr": _values_found(values, "\n".join(line.text for line in ocr.lines)),
                "in_layer": _values_found(values, extract_text(pdf)),
                "in_layer_poppler": _values_found(values, _pdftotext(pdf)),
                "pdf": pdf,
            }
            if ocrmypdf and not ocrmypdf_note:
                data, seconds, why = _ocrmypdf(repaired.image, repaired.dpi, Path(tmp), Path(source.name).stem)
                if data is None:
                    ocrmypdf_note = why
                else:
                    row.update(omp_bytes=len(data), omp_s=seconds, omp_valid=validate_pdfa(data).valid,
                               omp_found=_values_found(values, _pdftotext(data)), omp_image=_page_image_note(data))
            rows.append(row)
            line = (f"  {source.name}: {row['px'][0]}x{row['px'][1]} px at {row['dpi']:.0f} dpi, OCR {ocr_seconds:.1f} s, "
                    f"PDF/A {len(pdf) / 1e6:.2f} MB [{_page_image_note(pdf)}], values in layer {row['in_layer']}/{len(values)}")
            if "omp_bytes" in row:
                line += (f"; OCRmyPDF {row['omp_bytes'] / 1e6:.2f} MB [{row['omp_image']}] in {row['omp_s']:.0f} s, "
                         f"values {row['omp_found']}/{len(values)}")
            print(line, flush=True)

    n = len(rows)
    mb = lambda key: statistics.mean(r[key] for r in rows) / 1e6  # noqa: E731
    values = sum(r["values"] for r in rows)
    print(f"\npages: {n} from pagegen.make_batch(seed={seed}), real read -> repair -> RapidOCR -> make_archival_pdf")
    print(f"OCR seconds per page (context, machine loaded): {statistics.mean(r['ocr_s'] for r in rows):.1f}")
    print(f"seconds per page, make_archival_pdf (write + validate + text read-back): "
          f"{statistics.mean(r['write_s'] for r in rows):.2f} s (max {max(r['write_s'] for r in rows):.2f}); "
          f"validate_pdfa alone {statistics.mean(r['validate_s'] for r in rows):.2f} s")
    print(f"bytes per page, as archived (auto colour: {sum(r['auto_colour'] for r in rows)}/{n} pages kept colour): "
          f"{mb('bytes'):.2f} MB")
    print(f"bytes per page, forced 300 dpi colour (JPEG q92 4:4:4): {mb('colour_bytes'):.2f} MB")
    if ocrmypdf_note:
        print(f"OCRmyPDF: {ocrmypdf_note}")
    elif any("omp_bytes" in r for r in rows):
        omp = [r for r in rows if "omp_bytes" in r]
        print(f"bytes per page, OCRmyPDF 14 --output-type pdfa -l chi_sim (same repaired image as lossless PNG): "
              f"{statistics.mean(r['omp_bytes'] for r in omp) / 1e6:.2f} MB, {statistics.mean(r['omp_s'] for r in omp):.0f} s/page; "
              f"pikepdf.pdfa approves {sum(r['omp_valid'] for r in omp)}/{len(omp)}")
        omp_values = sum(r["values"] for r in omp)
        print(f"hand-filled values in OCRmyPDF's Tesseract text layer (pdftotext): "
              f"{sum(r['omp_found'] for r in omp)}/{omp_values} = {sum(r['omp_found'] for r in omp) / omp_values:.3f}")
    print(f"hand-filled values (pagegen truth) in the raw OCR text: {sum(r['in_ocr'] for r in rows)}/{values} "
          f"= {sum(r['in_ocr'] for r in rows) / values:.3f}")
    print(f"hand-filled values in the archived text layer (pdfminer): {sum(r['in_layer'] for r in rows)}/{values}; "
          f"(poppler pdftotext): {sum(r['in_layer_poppler'] for r in rows)}/{values}; "
          f"layer recall vs OCR: {sum(r['in_layer'] for r in rows)}/{sum(r['in_ocr'] for r in rows)}")
    if s3:
        _s3_throughput([r["pdf"] for r in rows])


if __name__ == "__main__":
    main()
