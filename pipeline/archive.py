"""The archival copy: one PDF/A-2b file per repaired page, with an invisible Chinese text layer.

Decisions, and why:

- **One PDF per page.** The page is the unit of identity (its master's SHA-256) and of
  linkage (its archival reference code, 档号: fonds/volume/box/page). A card's front and
  back stay two pages, two files, linked by their reference codes; a volume-level PDF
  would be a derived view, never the archival object.
- **The image is the record.** The repaired page is embedded once, at its own resolution
  (page size = pixels / dpi), as baseline JPEG (DCTDecode, quality 92, no chroma
  subsampling: visually lossless). Colour is kept when the page carries seals or
  coloured ink (DA/T 31); a page whose only colour is yellowed paper is stored gray.
  The compression used is stated in the XMP.
- **The text layer must come back exactly.** Peers lost Chinese text layers silently:
  more than 100 entries in one ToUnicode ``bfchar`` block (OCRmyPDF #1747), non-BMP name
  characters missing from a BMP-only glyphless font, vertical columns dropped as
  implausible boxes, spaces between Han characters (#715). So each page gets its own
  embedded glyphless TrueType font (``CIDFontType2``, ``Identity-H``, CID = GID), made
  with fontTools for exactly the characters on the page, with a format-4 and a
  format-12 cmap; its ToUnicode CMap writes at most 100 entries per block and UTF-16
  surrogate pairs for characters beyond the BMP. Each OCR line is one text object in
  render mode 3, stretched with ``Tz`` over its quadrilateral (so readers see no gaps
  and insert no spaces); a vertical column is one run turned a quarter clockwise down
  the column, so readers keep it as one line. After writing, every file is validated
  with ``pikepdf.pdfa`` (2b) and its text is read back with pdfminer from the final
  bytes; any difference refuses the file (`ArchiveRefused`): an invalid file is never
  stored.
- **Same page, same bytes.** The font's dates are fixed, the wall-clock
  xmp:MetadataDate is left out and the file ID is derived from the content, so a re-run
  reproduces the stored object bit for bit.
- **Metadata within what the validator approves.** ``pikepdf.pdfa`` is an allowlist
  validator: it approves only the XMP namespaces PDF/A predefines and does not read
  PDF/A extension schemas, so a private ``hukou:`` namespace (even described by a
  ``pdfaExtension`` schema) makes the file fail. The project's provenance therefore
  travels in predefined properties: dc:identifier = the reference code, dc:source =
  the master's SHA-256, dc:title, dc:creator (the registering office, when known),
  dc:date (the document's date, else the capture date), dc:type, xmp:CreatorTool = the
  software version, and dc:description = a JSON record (namespace
  ``https://hukou-archive.invalid/ns/1.0/``) with fonds, volume, box, page, batch,
  operator, device, capture date, master SHA-256, software version, doc type and the
  image encoding.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np
import pikepdf
import pikepdf.pdfa
from fontTools.fontBuilder import FontBuilder
from fontTools.misc.timeTools import timestampSinceEpoch
from fontTools.pens.ttGlyphPen import TTGlyphPen
from PIL import Image

from pipeline.records import SOFTWARE, ArchiveMetadata, OcrLine, PdfaReport

FLAVOUR = "2b"
HUKOU_NS = "https://hukou-archive.invalid/ns/1.0/"

# Font geometry of the glyphless font, in 1/1000 em: the glyph box spans
# descent..ascent, so a run sized to the line height covers the line's quad.
_ASCENT = 880
_DESCENT = -120
_FULL_WIDTH = 1000
_HALF_WIDTH = 500
_CMAP_BLOCK = 100  # entries per bfchar block: PDF's implementation limit (OCRmyPDF #1747)
_FONT_NAME = "HukouGlyphless"
_FONT_DATE_UNIX = 1_767_225_600  # 2026-01-01T00:00:00Z

_JPEG_MAX_SIDE = 65500

# Colour decision: thumbnail size, the value below which a pixel is black ink, and the
# share of thumbnail pixels of coloured ink (about 0.3 cm² on A4) that keeps colour.
_COLOUR_SIDE = 1200
_BLACK_V = 100
_COLOUR_SHARE = 0.0005

_W3CDTF = re.compile(
    r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d))?)?)?"
)

# A line is a vertical column if OcrLine.vertical says so, or if its quad is this
# much taller (across the reading direction) than wide and it holds several characters.
_TALL_RATIO = 1.5


@dataclass(frozen=True)
class PdfOptions:
    colour: str = "auto"  # "auto" | "color" | "gray": auto keeps colour where the page has seals/coloured ink (DA/T 31), gray otherwise
    jpeg_quality: int = 92  # visually lossless; stated in the XMP


class ArchiveRefused(Exception):
    """The file would not be a valid, faithful archival copy; nothing may be stored."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


# --- inputs ---------------------------------------------------------------------------


def _input_problems(image: np.ndarray, dpi: float, lines: list[OcrLine], meta: ArchiveMetadata) -> list[str]:
    problems = []
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        problems.append("image must be a uint8 numpy array")
    elif image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        problems.append(f"image must be gray or BGR, got shape {image.shape}")
    elif image.shape[0] == 0 or image.shape[1] == 0:
        problems.append(f"image is empty ({image.shape[1]}x{image.shape[0]} pixels)")
    elif max(image.shape[:2]) > _JPEG_MAX_SIDE:
        problems.append(f"image side {max(image.shape[:2])} px exceeds JPEG's {_JPEG_MAX_SIDE}")
    try:
        dpi_ok = math.isfinite(float(dpi)) and 10 <= float(dpi) <= 10000
    except (TypeError, ValueError):
        dpi_ok = False
    if not dpi_ok:
        problems.append(f"dpi {dpi!r} is not a plausible resolution")
    for i, line in enumerate(lines):
        try:
            quad = np.asarray(line.quad, dtype=float)
            quad_ok = quad.shape == (4, 2) and bool(np.isfinite(quad).all())
        except (TypeError, ValueError):
            quad_ok = False
        if not quad_ok:
            problems.append(f"line {i}: quad {line.quad!r} is not 4 finite (x, y) points")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in line.text):
            problems.append(f"line {i}: text {line.text!r} holds a lone UTF-16 surrogate")
    if not _is_sha256(meta.master_sha256):
        problems.append(f"master_sha256 {meta.master_sha256!r} is not a SHA-256 hex digest")
    if meta.page_no < 1:
        problems.append(f"page_no {meta.page_no} must be 1 or more")
    return problems


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


# --- image ----------------------------------------------------------------------------


def has_colour_ink(image: np.ndarray) -> bool:
    """True if the page shows seals or coloured ink, not merely yellowed or stained paper.

    Paper ages towards yellow-brown (hue about 15–65°); seal ink is red, and carbon,
    ballpoint and stamp inks are blue, violet or green. Counts strongly saturated
    pixels outside the paper hues (red counts sooner, since seals fade to pink) on an
    area-averaged thumbnail, away from black strokes — scanners and cameras fringe
    black strokes with colour — and asks for at least a small seal's worth of them.
    """
    if image.ndim == 2 or image.shape[2] == 1:
        return False
    if min(image.shape[:2]) >= 4 * _COLOUR_SIDE // 3:  # every other pixel is plenty to find strokes and seals
        image = image[::2, ::2]
        reach = 5
    else:
        reach = 9
    blue, green, red_ch = cv2.split(image)
    value = cv2.max(cv2.max(blue, green), red_ch)
    black = cv2.threshold(value, _BLACK_V - 1, 255, cv2.THRESH_BINARY_INV)[1]
    near_black = cv2.dilate(black, np.ones((reach, reach), np.uint8))
    scale = min(1.0, _COLOUR_SIDE / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    thumb = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    near_black = cv2.resize(near_black, size, interpolation=cv2.INTER_AREA) > 0
    hue, sat, val = cv2.split(cv2.cvtColor(thumb, cv2.COLOR_BGR2HSV))
    paper = (hue >= 8) & (hue <= 32)  # OpenCV hue is degrees / 2
    red = (hue < 8) | (hue > 160)
    ink = ((sat >= 90) | (red & (sat >= 60))) & (val >= 60) & ~paper & ~near_black
    ink = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return float(ink.mean()) >= _COLOUR_SHARE


def _encode_jpeg(image: np.ndarray, colour: bool, quality: int) -> tuple[bytes, str]:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if colour and image.ndim == 3:
        pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), "RGB")
        space = "/DeviceRGB"
    else:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        pil = Image.fromarray(gray, "L")
        space = "/DeviceGray"
    out = io.BytesIO()
    try:
        pil.save(out, format="JPEG", quality=quality, subsampling=0, optimize=True)
    except OSError:
        # Pillow gives an optimised JPEG one output byte per pixel; a noisy colour page
        # (a dim camera capture) needs more at this quality and the encoder fails
        # ("Suspension not allowed here"). The unoptimised encoder streams, a few % larger.
        out = io.BytesIO()
        pil.save(out, format="JPEG", quality=quality, subsampling=0)
    return out.getvalue(), space


def _keep_colour(image: np.ndarray, options: PdfOptions) -> bool:
    if options.colour == "color":
        return True
    if options.colour == "gray":
        return False
    return has_colour_ink(image)


# --- font -----------------------------------------------------------------------------


def _advance(char: str) -> int:
    """Wide and fullwidth characters (Han, kana, fullwidth forms) take a full em."""
    return _FULL_WIDTH if unicodedata.east_asian_width(char) in ("W", "F", "A") else _HALF_WIDTH


def _glyphless_font(chars: list[str]) -> bytes:
    """A TrueType font with an empty glyph per character; glyph id i+1 is chars[i].

    Its cmap has a format-12 subtable whenever a character lies beyond the BMP, so
    readers that look the glyph up by code point find it too.
    """
    names = [".notdef"] + [f"u{ord(c):04X}" for c in chars]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(c): name for c, name in zip(chars, names[1:])})
    empty = TTGlyphPen(None).glyph()
    builder.setupGlyf({name: empty for name in names})
    metrics = {".notdef": (_FULL_WIDTH, 0)}
    metrics.update({name: (_advance(c), 0) for c, name in zip(chars, names[1:])})
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=_ASCENT, descent=_DESCENT)
    builder.setupNameTable({"familyName": _FONT_NAME, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=_ASCENT, sTypoDescender=_DESCENT, usWinAscent=_ASCENT, usWinDescent=-_DESCENT)
    builder.setupPost()
    # A fixed date: the same characters give the same font bytes
    fixed = timestampSinceEpoch(_FONT_DATE_UNIX)
    builder.updateHead(created=fixed, modified=fixed)
    builder.font.recalcTimestamp = False
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def _utf16_hex(char: str) -> str:
    return char.encode("utf-16-be").hex().upper()


def _to_unicode_cmap(chars: list[str]) -> bytes:
    """ToUnicode CMap from CID i+1 to chars[i], at most 100 entries per bfchar block."""
    parts = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    entries = [f"<{cid:04X}> <{_utf16_hex(c)}>" for cid, c in enumerate(chars, start=1)]
    for start in range(0, len(entries), _CMAP_BLOCK):
        block = entries[start : start + _CMAP_BLOCK]
        parts.append(f"{len(block)} beginbfchar")
        parts.extend(block)
        parts.append("endbfchar")
    parts += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return ("\n".join(parts) + "\n").encode("ascii")


def _cid_widths(chars: list[str]) -> pikepdf.Array:
    """/W entries for the glyphs narrower than the default full-width /DW."""
    w: list[object] = []
    for cid, char in enumerate(chars, start=1):
        if _advance(char) != _FULL_WIDTH:
            w += [cid, pikepdf.Array([_advance(char)])]
    return pikepdf.Array(w)


def _subset_tag(chars: list[str]) -> str:
    digest = hashlib.sha256("".join(chars).encode("utf-8")).digest()
    return "".join(chr(ord("A") + b % 26) for b in digest[:6])


def _type0_font(pdf: pikepdf.Pdf, chars: list[str]) -> pikepdf.Object:
    base = pikepdf.Name(f"/{_subset_tag(chars)}+{_FONT_NAME}")
    program = _glyphless_font(chars)
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor,
        FontName=base,
        Flags=4,  # symbolic: the glyphs are not in the standard Latin set
        FontBBox=pikepdf.Array([0, _DESCENT, _FULL_WIDTH, _ASCENT]),
        ItalicAngle=0,
        Ascent=_ASCENT,
        Descent=_DESCENT,
        CapHeight=_ASCENT,
        StemV=80,
        FontFile2=pdf.make_stream(program, Length1=len(program)),
    )
    cid_font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.CIDFontType2,
        BaseFont=base,
        CIDSystemInfo=pikepdf.Dictionary(
            Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"), Supplement=0
        ),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=_FULL_WIDTH,
        W=_cid_widths(chars),
        CIDToGIDMap=pikepdf.Name.Identity,
    )
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type0,
            BaseFont=base,
            Encoding=pikepdf.Name("/Identity-H"),
            DescendantFonts=pikepdf.Array([pdf.make_indirect(cid_font)]),
            ToUnicode=pdf.make_stream(_to_unicode_cmap(chars)),
        )
    )


# --- text layer -----------------------------------------------------------------------


def _is_vertical(line: OcrLine) -> bool:
    if line.vertical:
        return True
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in line.quad)
    width = (np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p3)) / 2
    height = (np.linalg.norm(p3 - p0) + np.linalg.norm(p2 - p1)) / 2
    return len(line.text) >= 2 and height > _TALL_RATIO * width


def _num(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") if abs(x) > 5e-5 else "0"


def _show(codes: list[int]) -> str:
    return "<" + "".join(f"{c:04X}" for c in codes) + "> Tj"


def _run(quad: np.ndarray, codes: list[int], advances: list[int]) -> list[str]:
    """One run from the quad's start along its top edge, as tall as the quad, stretched to span it.

    *quad* is in PDF points, in the text's own frame: start-top, end-top, end-bottom,
    start-bottom, where "top" is the side the glyphs' tops face.
    """
    p0, p1, p2, p3 = quad
    u = p1 - p0
    length = (np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p3)) / 2
    height = (np.linalg.norm(p3 - p0) + np.linalg.norm(p2 - p1)) / 2
    norm = np.linalg.norm(u)
    if norm < 1e-6 or height < 1e-6:
        u = np.array([1.0, 0.0])
        height = max(height, 1.0)
    else:
        u = u / norm
    v = np.array([-u[1], u[0]])  # the glyphs' "up"
    origin = p3 + v * height * (-_DESCENT / 1000)
    natural = sum(advances) / 1000 * height
    scale = 100 * length / natural if natural > 0 and length > 0 else 100
    return [
        f"/F1 {_num(height)} Tf",
        f"{_num(scale)} Tz",
        " ".join(_num(x) for x in (u[0], u[1], v[0], v[1], origin[0], origin[1])) + " Tm",
        _show(codes),
    ]


def _text_layer(lines: list[OcrLine], cid_of: dict[str, int], height_px: int, pt_per_px: float) -> list[str]:
    ops: list[str] = []
    for line in lines:
        if not line.text:
            continue
        quad = np.array([(x * pt_per_px, (height_px - y) * pt_per_px) for x, y in line.quad], dtype=float)
        codes = [cid_of[c] for c in line.text]
        advances = [_advance(c) for c in line.text]
        if _is_vertical(line):
            # A column read downwards is written as one run turned a quarter clockwise,
            # its glyphs' tops facing the column's right edge: readers then keep the
            # column as one line (peers dropped such columns or split them per character).
            quad = np.roll(quad, -1, axis=0)
        ops += ["BT", "3 Tr", *_run(quad, codes, advances), "ET"]
    return ops


# --- metadata -------------------------------------------------------------------------


def reference_code(meta: ArchiveMetadata) -> str:
    """The archival reference code (档号) of the page: fonds-volume-box-page."""
    loc = meta.location
    return f"{loc.fonds}-{loc.volume}-{loc.box}-{meta.page_no:04d}"


def _provenance(meta: ArchiveMetadata, image_note: dict[str, object]) -> dict[str, object]:
    loc = meta.location
    return {
        "namespace": HUKOU_NS,
        "reference_code": reference_code(meta),
        "fonds": loc.fonds,
        "volume": loc.volume,
        "box": loc.box,
        "page": meta.page_no,
        "repository": loc.repository,
        "room": loc.room,
        "shelf": loc.shelf,
        "batch": meta.batch_id,
        "operator": meta.operator,
        "device": meta.device,
        "capture_date": meta.capture_date,
        "document_date": meta.document_date,
        "master_sha256": meta.master_sha256.lower(),
        "software": SOFTWARE,
        "software_version": meta.software_version,
        "doc_type": meta.doc_type,
        "image": image_note,
    }


def _write_xmp(pdf: pikepdf.Pdf, meta: ArchiveMetadata, image_note: dict[str, object]) -> None:
    with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
        xmp["dc:title"] = meta.title or reference_code(meta)
        xmp["dc:identifier"] = reference_code(meta)
        xmp["dc:source"] = f"urn:sha256:{meta.master_sha256.lower()}"
        xmp["dc:type"] = [meta.doc_type]
        xmp["dc:format"] = "application/pdf"
        xmp["dc:description"] = json.dumps(_provenance(meta, image_note), ensure_ascii=False, sort_keys=True)
        if meta.creator:
            xmp["dc:creator"] = [meta.creator]
        date = _xmp_date(meta.document_date) or _xmp_date(meta.capture_date)
        if date:
            xmp["dc:date"] = [date]
        xmp["xmp:CreatorTool"] = f"{SOFTWARE} {meta.software_version}"


def _xmp_date(text: str) -> str | None:
    """*text* if it is a date XMP accepts (W3C-DTF: 1986, 1986-03, 1986-03-05, or a
    zoned date-time), else None: a normalised value such as a lunar date or an age
    range stays in the JSON record only, and does not cost the page its archival copy."""
    return text if _W3CDTF.fullmatch(text) else None


def read_provenance(data: bytes) -> dict[str, object]:
    """The project record carried in a file's XMP (dc:description), as written."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        description = pdf.open_metadata().get("dc:description", "")
    return json.loads(description) if description else {}


# --- build, validate, read back -------------------------------------------------------


def build_pdfa(
    image: np.ndarray, dpi: float, lines: list[OcrLine], meta: ArchiveMetadata, options: PdfOptions = PdfOptions()
) -> bytes:
    """Write the page as PDF/A-2b bytes, validated by pikepdf.pdfa as written; raises ArchiveRefused if the
    input or the result is invalid."""
    problems = _input_problems(image, dpi, lines, meta)
    if options.colour not in ("auto", "color", "gray"):
        problems.append(f"colour option {options.colour!r} is not auto, color or gray")
    if not 1 <= options.jpeg_quality <= 100:
        problems.append(f"jpeg_quality {options.jpeg_quality} is outside 1..100")
    if problems:
        raise ArchiveRefused(problems)
    dpi = float(dpi)
    height_px, width_px = image.shape[:2]
    pt_per_px = 72.0 / dpi
    colour = _keep_colour(image, options)
    jpeg, space = _encode_jpeg(image, colour, options.jpeg_quality)

    pdf = pikepdf.new()
    page_w, page_h = width_px * pt_per_px, height_px * pt_per_px
    xobject = pdf.make_stream(
        jpeg,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=width_px,
        Height=height_px,
        ColorSpace=pikepdf.Name(space),
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )
    resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=xobject))
    chars = sorted({c for line in lines for c in line.text})
    ops = ["q", f"{_num(page_w)} 0 0 {_num(page_h)} 0 0 cm", "/Im0 Do", "Q"]
    if chars:
        resources.Font = pikepdf.Dictionary(F1=_type0_font(pdf, chars))
        cid_of = {c: i for i, c in enumerate(chars, start=1)}
        ops += _text_layer(lines, cid_of, height_px, pt_per_px)
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=pikepdf.Array([0, 0, page_w, page_h]),
        Resources=resources,
        Contents=pdf.make_stream(("\n".join(ops) + "\n").encode("ascii")),
    )
    pdf.pages.append(pikepdf.Page(page))

    image_note = {
        "compression": f"DCTDecode (baseline JPEG, quality {options.jpeg_quality}, 4:4:4)",
        "colour": "sRGB" if space == "/DeviceRGB" else "gray",
        "pixels": [width_px, height_px],
        "dpi": round(dpi, 3),
    }
    _write_xmp(pdf, meta, image_note)
    prepared = pikepdf.pdfa.prepare(pdf, FLAVOUR, output_intent="sRGB")
    if prepared.xmp_dropped:
        raise ArchiveRefused([f"XMP properties PDF/A does not permit: {', '.join(prepared.xmp_dropped)}"])
    _drop_metadata_date(pdf)
    out = io.BytesIO()
    try:
        pikepdf.pdfa.save(pdf, out, FLAVOUR, repair=False, deterministic_id=True)
    except pikepdf.pdfa.PdfaError as e:
        raise ArchiveRefused([str(f) for f in e.report.findings]) from e
    return out.getvalue()


def _drop_metadata_date(pdf: pikepdf.Pdf) -> None:
    """Remove the wall-clock xmp:MetadataDate so the same page always gives the same bytes.

    Re-running a batch then reproduces the stored object bit for bit, which keeps writes
    to the write-once store idempotent and lets an audit rebuild and compare.
    """
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
        del xmp["xmp:MetadataDate"]


def validate_pdfa(data: bytes) -> PdfaReport:
    """PDF/A-2b verdict of pikepdf's allowlist validator on the final bytes."""
    report = pikepdf.pdfa.validate_written(io.BytesIO(data), FLAVOUR)
    return PdfaReport(valid=report.passed, flavour=FLAVOUR, problems=tuple(str(f) for f in report.findings))


def extract_lines(data: bytes) -> list[str]:
    """The text of each text object, in content order, as a reader decodes it.

    pdfminer parses the final bytes and decodes every shown string through the
    font's encoding and ToUnicode CMap — the path copy, search and indexing take — so
    a broken CMap, a lost surrogate pair or an inserted space shows up here.
    """
    from pdfminer.pdfdevice import PDFDevice
    from pdfminer.pdffont import PDFUnicodeNotDefined
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    class LineCollector(PDFDevice):
        def __init__(self, rsrcmgr: PDFResourceManager):
            super().__init__(rsrcmgr)
            self.lines: list[str] = []
            self.current: list[str] | None = None

        def render_string(self, textstate, seq, ncs, graphicstate) -> None:  # noqa: ANN001
            font = textstate.font
            target = self.current if self.current is not None else []
            for item in seq:
                if isinstance(item, bytes):
                    for cid in font.decode(item):
                        try:
                            target.append(font.to_unichr(cid))
                        except PDFUnicodeNotDefined:
                            target.append("\ufffd")
            if self.current is None:
                self.lines.append("".join(target))

    class Interpreter(PDFPageInterpreter):
        def do_BT(self) -> None:
            super().do_BT()
            self.device.current = []

        def do_ET(self) -> None:
            super().do_ET()
            if self.device.current is not None:
                self.device.lines.append("".join(self.device.current))
            self.device.current = None

    rsrcmgr = PDFResourceManager()
    device = LineCollector(rsrcmgr)
    interpreter = Interpreter(rsrcmgr, device)
    for page in PDFPage.get_pages(io.BytesIO(data)):
        interpreter.process_page(page)
    return [line for line in device.lines if line]


def extract_text(data: bytes) -> str:
    """The text layer as a reader gets it from the final bytes, one line per OCR line."""
    return "\n".join(extract_lines(data))


def check_text_layer(data: bytes, lines: list[OcrLine]) -> list[str]:
    """Problems with the text layer: every OCR line must come back exactly, in order."""
    expected = [line.text for line in lines if line.text]
    try:
        found = extract_lines(data)
    except Exception as e:  # noqa: BLE001 - any parse failure means the layer is unreadable
        return [f"text layer unreadable: {type(e).__name__}: {e}"]
    problems = []
    if len(found) != len(expected):
        problems.append(f"{len(found)} text lines read back, {len(expected)} written")
    for i, (want, got) in enumerate(zip(expected, found)):
        if want != got:
            problems.append(f"line {i}: wrote {want!r}, read back {got!r}")
    return problems


def make_archival_pdf(
    image: np.ndarray, dpi: float, lines: list[OcrLine], meta: ArchiveMetadata, options: PdfOptions = PdfOptions()
) -> bytes:
    """Build, validate and round-trip the page; the bytes returned are safe to store.

    `build_pdfa` returns only bytes that `pikepdf.pdfa.save` validated after writing them
    (a failed verdict raises there), so they are not parsed for validation a second time.
    """
    data = build_pdfa(image, dpi, lines, meta, options)
    reasons = check_text_layer(data, lines)
    if reasons:
        raise ArchiveRefused(reasons)
    return data


# --- storage key ----------------------------------------------------------------------


def _key_part(text: str) -> str:
    """A path component: letters and digits of any script kept, everything else %-escaped."""
    text = unicodedata.normalize("NFC", text)
    if not text:
        return "_"
    out = []
    for char in text:
        if char.isalnum() or char in "-.":
            out.append(char)
        else:
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8")))
    part = "".join(out)
    return "%2E" + part[1:] if part.startswith(".") else part  # no hidden or ./.. segments


def object_key(meta: ArchiveMetadata) -> str:
    """Storage key from the reference code: fonds/volume/box/<page:04d>-<sha8>.pdf.

    The master's SHA-256 prefix keeps a rescan of the same reference (a new master in
    another batch) from overwriting the earlier copy, while the same master always
    maps to the same key, so storing is idempotent.
    """
    if not _is_sha256(meta.master_sha256):
        raise ValueError(f"master_sha256 {meta.master_sha256!r} is not a SHA-256 hex digest")
    if meta.page_no < 1:
        raise ValueError(f"page_no {meta.page_no} must be 1 or more")
    loc = meta.location
    parts = [_key_part(loc.fonds), _key_part(loc.volume), _key_part(loc.box)]
    return "/".join(parts) + f"/{meta.page_no:04d}-{meta.master_sha256.lower()[:8]}.pdf"
