"""Image-only PDFs (a scanning station's multi-page output).

Decision: a page that is one raster image drawn axis-aligned over the page (a scan)
gives that image itself, taken out of the PDF without re-encoding (pikepdf's
PdfImage), turned only by the lossless quarter-turns/flips its placement and the
page's /Rotate ask for; the raw JPEG bytes are kept in `capture` so the archive
can reuse them unchanged. Every other page — an image placed at an angle, several
images, visible text or vector drawing, or a codec Python cannot decode here
(JBIG2 without jbig2dec) — is rendered with poppler's `pdftoppm` at the native
resolution of its images (else the batch DPI, else 300), because then the page as
printed *is* the composition, not any single embedded image.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pikepdf
from PIL import Image
from pikepdf import PdfImage

from pipeline.records import Master, SourceFile
from scanners import UnreadableSource
from scanners.flatbed import to_uint8_array

DEFAULT_RENDER_DPI = 300
_PAINT_OPS = {"S", "s", "f", "F", "f*", "B", "B*", "b", "b*", "sh"}
_TEXT_SHOW_OPS = {"Tj", "TJ", "'", '"'}
_INVISIBLE_TEXT = 3  # Tr 3: an OCR text layer, not part of the page's look


@dataclass(frozen=True)
class _ImageDraw:
    name: str
    ctm: tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class _PageContent:
    images: list[_ImageDraw]
    has_vector: bool  # visible text, paths, shadings or nested forms


def read_pdf(source: SourceFile, *, batch_dpi: int | None = None, first_page_no: int = 1) -> list[Master]:
    path = Path(source.path)
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError as exc:
        raise UnreadableSource(f"encrypted PDF needs a password: {source.name}") from exc
    except pikepdf.PdfError as exc:
        raise UnreadableSource(f"damaged PDF ({exc}): {source.name}") from exc
    with pdf:
        if len(pdf.pages) == 0:
            raise UnreadableSource(f"PDF has no pages: {source.name}")
        masters = []
        for index, page in enumerate(pdf.pages):
            try:
                masters.append(_page_master(source, page, index, first_page_no + index, batch_dpi))
            except pikepdf.PdfError as exc:
                raise UnreadableSource(f"damaged PDF page {index + 1} ({exc}): {source.name}") from exc
    return masters


def _page_master(source: SourceFile, page: pikepdf.Page, index: int, page_no: int, batch_dpi: int | None) -> Master:
    content = _scan_content(page)
    rotate = int(page.obj.get("/Rotate", 0)) % 360
    box = [float(v) for v in page.mediabox]
    page_area = abs((box[2] - box[0]) * (box[3] - box[1]))
    xobjects = page.resources.get("/XObject", {})
    native_dpis = []
    for draw in content.images:
        obj = xobjects.get(draw.name)
        if obj is not None and obj.get("/Subtype") == "/Image":
            native_dpis.append(_image_dpi(int(obj.Width), draw.ctm))
    if len(content.images) == 1 and not content.has_vector:
        draw = content.images[0]
        obj = xobjects.get(draw.name)
        covers = obj is not None and _placed_area(draw.ctm) >= 0.9 * page_area
        turns = _quarter_turns(draw.ctm, rotate)
        if covers and turns is not None and obj.get("/Subtype") == "/Image":
            extracted = _extract(obj, turns)
            if extracted is not None:
                image, info = extracted
                dpi = round(native_dpis[0], 2)
                capture = {"format": "pdf", "pdf_page": index, "pdf_mode": "extracted", "dpi_source": "file", **info}
                return Master(source, index, page_no, image, dpi, "flatbed", capture)
    dpi = round(max(native_dpis)) if native_dpis else (batch_dpi or DEFAULT_RENDER_DPI)
    image = _render(Path(source.path), index, dpi, source.name)
    capture = {
        "format": "pdf",
        "pdf_page": index,
        "pdf_mode": "rendered",
        "render_dpi": dpi,
        "dpi_source": "file" if native_dpis else ("batch" if batch_dpi else "default"),
    }
    return Master(source, index, page_no, image, float(dpi), "flatbed", capture)


def _scan_content(page: pikepdf.Page) -> _PageContent:
    """Follow q/Q/cm to know where each image lands; note anything else that paints."""
    ctm = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    stack: list[tuple[float, ...]] = []
    text_mode = 0
    images: list[_ImageDraw] = []
    has_vector = False
    xobjects = page.resources.get("/XObject", {})
    for operands, operator in pikepdf.parse_content_stream(page):
        op = str(operator)
        if op == "q":
            stack.append(ctm)
        elif op == "Q":
            ctm = stack.pop() if stack else ctm
        elif op == "cm":
            ctm = _multiply(tuple(_num(v) for v in operands), ctm)
        elif op == "Tr":
            text_mode = int(operands[0])
        elif op in _TEXT_SHOW_OPS and text_mode != _INVISIBLE_TEXT:
            has_vector = True
        elif op in _PAINT_OPS:
            has_vector = True
        elif op == "BI":
            has_vector = True  # inline image: let the renderer compose it
        elif op == "Do":
            name = str(operands[0])
            obj = xobjects.get(name)
            if obj is not None and obj.get("/Subtype") == "/Image":
                images.append(_ImageDraw(name, ctm))
            else:
                has_vector = True
    return _PageContent(images, has_vector)


def _num(value: object) -> float:
    return float(value) if isinstance(value, (int, float, Decimal)) else float(str(value))


def _multiply(m: tuple[float, ...], n: tuple[float, ...]) -> tuple[float, float, float, float, float, float]:
    """m × n for PDF matrices [a b c d e f] (m applied first)."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _placed_area(ctm: tuple[float, ...]) -> float:
    a, b, c, d, _, _ = ctm
    return abs(a * d - b * c)


def _image_dpi(width_px: int, ctm: tuple[float, ...]) -> float:
    a, b, _, _, _, _ = ctm
    width_pt = math.hypot(a, b)
    return width_px * 72.0 / width_pt if width_pt else float(DEFAULT_RENDER_DPI)


def _quarter_turns(ctm: tuple[float, ...], rotate: int) -> tuple[bool, bool, bool] | None:
    """(transpose, flip_rows, flip_cols) that show the image as the page does, or None if at an angle."""
    a, b, c, d, _, _ = ctm
    u = (a, -b)  # image x axis, in display coordinates (y down)
    v = (-c, d)  # image y axis (rows, downward)
    for _ in range(rotate // 90):
        u, v = (-u[1], u[0]), (-v[1], v[0])  # /Rotate turns the display clockwise
    tol = 1e-3

    def axis(vec: tuple[float, float]) -> str | None:
        x, y = vec
        n = math.hypot(x, y)
        if n == 0:
            return None
        if abs(y) / n < tol:
            return "+x" if x > 0 else "-x"
        if abs(x) / n < tol:
            return "+y" if y > 0 else "-y"
        return None

    ua, va = axis(u), axis(v)
    if ua is None or va is None or ua[1] == va[1]:
        return None
    if ua[1] == "x":
        return (False, va == "-y", ua == "-x")
    return (True, ua == "-y", va == "-x")


def _extract(obj: pikepdf.Object, turns: tuple[bool, bool, bool]) -> tuple[np.ndarray, dict[str, object]] | None:
    image = PdfImage(obj)
    try:
        pil = image.as_pil_image()
    except (pikepdf.DependencyError, NotImplementedError, pikepdf.PdfError, OSError, ValueError):
        return None  # e.g. JBIG2 without jbig2dec: the renderer decodes it
    raw = obj.read_raw_bytes()
    filters = [str(f) for f in image.filters]
    info: dict[str, object] = {
        "pdf_filters": filters,
        "bits_per_sample": image.bits_per_component,
        "mode": pil.mode,
        "embedded_sha256": hashlib.sha256(raw).hexdigest(),
    }
    if filters == ["/DCTDecode"]:
        info["jpeg_bytes"] = raw  # the scanner's JPEG exactly as embedded
    icc = pil.info.get("icc_profile")
    if image.icc is not None:
        icc = image.icc.tobytes()
    if icc:
        info["icc_profile"] = icc
        info["icc_sha256"] = hashlib.sha256(icc).hexdigest()
    arr = to_uint8_array(pil)
    transpose, flip_rows, flip_cols = turns
    if transpose:
        arr = arr.swapaxes(0, 1)
    if flip_rows:
        arr = arr[::-1]
    if flip_cols:
        arr = arr[:, ::-1]
    info["quarter_turns"] = {"transpose": transpose, "flip_rows": flip_rows, "flip_cols": flip_cols}
    return np.ascontiguousarray(arr), info


def _render(path: Path, index: int, dpi: int, name: str) -> np.ndarray:
    if shutil.which("pdftoppm") is None:
        raise UnreadableSource(f"PDF page needs rendering but poppler's pdftoppm is not installed: {name}")
    with tempfile.TemporaryDirectory(prefix="hukou-pdf-") as tmp:
        out = Path(tmp) / "page"
        cmd = ["pdftoppm", "-r", str(dpi), "-f", str(index + 1), "-l", str(index + 1), "-png", "-singlefile"]
        proc = subprocess.run([*cmd, str(path), str(out)], capture_output=True, timeout=300)
        png = out.with_suffix(".png")
        if proc.returncode != 0 or not png.exists():
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UnreadableSource(f"PDF page {index + 1} cannot be rendered ({message[-1] if message else 'no output'}): {name}")
        with Image.open(png) as im:
            arr = to_uint8_array(im)
    if arr.ndim == 3 and np.array_equal(arr[:, :, 0], arr[:, :, 1]) and np.array_equal(arr[:, :, 1], arr[:, :, 2]):
        arr = np.ascontiguousarray(arr[:, :, 0])
    return arr
