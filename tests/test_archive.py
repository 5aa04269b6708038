"""The archival PDF/A-2b copy: validity, colour decision, text-layer round trip, keys."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.archive import (
    ArchiveRefused,
    PdfOptions,
    build_pdfa,
    check_text_layer,
    extract_text,
    has_colour_ink,
    make_archival_pdf,
    object_key,
    read_provenance,
    reference_code,
    validate_pdfa,
)
from pipeline.records import ArchiveMetadata, Location, OcrLine

FONT = "/usr/share/fonts/truetype/arphic/ukai.ttc"
CORPUS = Path(__file__).resolve().parents[2] / "shared/testdata/verapdf-corpus"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/testdata/verapdf-corpus")

PAPER_BGR = (150, 200, 225)  # yellowed paper
DPI = 100


def _meta(**changes: object) -> ArchiveMetadata:
    meta = ArchiveMetadata(
        title="常住人口登记表 张三",
        batch_id="2026-11-27-A",
        page_no=7,
        location=Location(repository="某县档案馆", room="2", shelf="14", box="0417", fonds="J041", volume="1986-户-07"),
        master_sha256="3f" * 32,
        software_version="0.1.0",
        operator="李四",
        device="Epson DS-70000",
        capture_date="2026-11-27T08:00:00+08:00",
        document_date="1986-03-05",
        creator="某县公安局",
        doc_type="resident_registration",
    )
    return replace(meta, **changes)


def _page(seal: bool = False, blue_ink: bool = False) -> np.ndarray:
    """A small yellowed page with black handwriting-like text and optional coloured ink."""
    rng = np.random.default_rng(1)
    page = np.empty((700, 500, 3), np.uint8)
    page[:] = PAPER_BGR
    page = np.clip(page.astype(np.int16) + rng.integers(-12, 12, page.shape), 0, 255).astype(np.uint8)
    cv2.circle(page, (380, 120), 60, (40, 100, 150), -1)  # a brown stain is still paper
    pil = Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    font = ImageFont.truetype(FONT, 28)
    draw.text((40, 40), "常住人口登记表", font=font, fill=(20, 20, 20))
    draw.text((40, 300), "姓名 张三", font=font, fill=(20, 20, 20))
    if blue_ink:
        draw.text((40, 400), "住址北京市东城区", font=font, fill=(30, 40, 160))
    page = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    if seal:
        cv2.circle(page, (380, 560), 55, (40, 30, 200), 5)
        cv2.putText(page, "*", (365, 575), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (40, 30, 200), 3)
    return page


def _rotated_quad(cx: float, cy: float, w: float, h: float, deg: float) -> tuple[tuple[float, float], ...]:
    a = np.deg2rad(deg)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])  # image coords, y down
    c = np.array([cx, cy])
    pts = [c - u * w / 2 - v * h / 2, c + u * w / 2 - v * h / 2, c + u * w / 2 + v * h / 2, c - u * w / 2 + v * h / 2]
    return tuple((float(p[0]), float(p[1])) for p in pts)


LINES = [
    OcrLine(quad=((40, 40), (236, 40), (236, 72), (40, 72)), text="常住人口登记表", score=0.98),
    OcrLine(quad=_rotated_quad(200, 200, 300, 30, 12), text="户主姓名：王𠀀䶮𪚥", score=0.9),  # rotated, non-BMP
    OcrLine(quad=((440, 150), (475, 150), (475, 450), (440, 450)), text="迁入本市日期", score=0.9, vertical=True),
    OcrLine(quad=((20, 500), (50, 500), (50, 680), (20, 680)), text="出生地河北", score=0.9),  # tall quad, no flag
    OcrLine(quad=((40, 300), (180, 300), (180, 330), (40, 330)), text="姓名 张三 1952年", score=0.95),
]


def _image_of(data: bytes) -> pikepdf.Stream:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        page = pdf.pages[0]
        (image,) = page.get_images().values()
        return (
            str(image.ColorSpace),
            str(image.Filter),
            int(image.Width),
            [float(x) for x in page.MediaBox],
        )


def test_colour_decision_keeps_seals_and_ink_not_yellowed_paper():
    assert not has_colour_ink(_page())
    assert has_colour_ink(_page(seal=True))
    assert has_colour_ink(_page(blue_ink=True))
    assert not has_colour_ink(cv2.cvtColor(_page(seal=True), cv2.COLOR_BGR2GRAY))


def test_colour_page_is_valid_pdfa_with_colour_jpeg():
    image = _page(seal=True)
    data = make_archival_pdf(image, DPI, LINES, _meta())
    assert validate_pdfa(data).valid
    space, filt, width, box = _image_of(data)
    assert (space, filt, width) == ("/DeviceRGB", "/DCTDecode", 500)
    assert box == pytest.approx([0, 0, 500 / DPI * 72, 700 / DPI * 72])
    assert read_provenance(data)["image"]["colour"] == "sRGB"


def test_gray_page_is_valid_pdfa_with_gray_jpeg():
    data = make_archival_pdf(_page(), DPI, LINES, _meta())
    report = validate_pdfa(data)
    assert report.valid, report.problems
    assert _image_of(data)[:2] == ("/DeviceGray", "/DCTDecode")
    forced = make_archival_pdf(_page(), DPI, LINES, _meta(), PdfOptions(colour="color"))
    assert _image_of(forced)[0] == "/DeviceRGB"


def test_text_round_trip_is_exact_for_rotated_vertical_and_non_bmp_lines():
    data = make_archival_pdf(_page(), DPI, LINES, _meta())
    assert extract_text(data) == "\n".join(line.text for line in LINES)
    assert check_text_layer(data, LINES) == []


def test_text_sits_on_its_quad():
    """Every character's box centre, as pdfminer places it, lies inside its line's quad."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar

    lines = [replace(LINES[1], text="户主王𠀀䶮𪚥")] + LINES[2:4] + [LINES[0]]  # no character twice
    data = build_pdfa(_page(), DPI, lines, _meta())
    (page,) = extract_pages(io.BytesIO(data))
    centres: dict[str, tuple[float, float]] = {}

    def walk(item: object) -> None:
        if isinstance(item, LTChar):
            centres[item.get_text()] = ((item.x0 + item.x1) / 2 * DPI / 72, (page.height - (item.y0 + item.y1) / 2) * DPI / 72)
        elif hasattr(item, "__iter__"):
            for child in item:
                walk(child)

    walk(page)
    for line in lines:
        quad = np.array(line.quad, np.float32)
        for char in line.text:
            assert cv2.pointPolygonTest(quad, centres[char], True) > -2, (line.text, char, centres[char])
        vertical = line is not lines[-1] and line is not lines[0]
        reading = quad[3] - quad[0] if vertical else quad[1] - quad[0]
        along = [float(np.dot(centres[c], reading)) for c in line.text]
        assert along == sorted(along) and len(set(along)) == len(along), line.text


def test_layout_reader_inserts_no_space_between_han_characters():
    from pdfminer.high_level import extract_text as layout_text

    horizontal = [line for line in LINES if line.quad[0][1] == line.quad[1][1] and not line.vertical]
    data = make_archival_pdf(_page(), DPI, horizontal, _meta())
    text = layout_text(io.BytesIO(data))
    assert "常住人口登记表" in text
    assert "姓名 张三 1952年" in text
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text.replace("姓名 张三", ""))


def test_more_than_100_distinct_characters_round_trip():
    chars = [chr(0x4E00 + 37 * i) for i in range(260)] + ["\U00020000", "\U0002A6A5"]
    lines = [
        OcrLine(quad=((10, 20 + 30 * k), (490, 20 + 30 * k), (490, 45 + 30 * k), (10, 45 + 30 * k)), text="".join(chunk), score=0.9)
        for k, chunk in enumerate(chars[i : i + 20] for i in range(0, len(chars), 20))
    ]
    data = make_archival_pdf(_page(), DPI, lines, _meta())
    assert check_text_layer(data, lines) == []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        cmap = pdf.pages[0].Resources.Font.F1.ToUnicode.read_bytes().decode()
    blocks = [int(n) for n in re.findall(r"(\d+) beginbfchar", cmap)]
    assert sum(blocks) == len(chars) and max(blocks) <= 100
    assert "<D840DC00>" in cmap  # U+20000 as a surrogate pair


def test_check_text_layer_catches_a_broken_tounicode():
    data = build_pdfa(_page(), DPI, LINES, _meta())
    with pikepdf.open(io.BytesIO(data)) as pdf:
        font = pdf.pages[0].Resources.Font.F1
        cmap = font.ToUnicode.read_bytes().decode()
        font.ToUnicode = pdf.make_stream(re.sub(r"<D840DC00>", "<0020>", cmap).encode())
        out = io.BytesIO()
        pdf.save(out)
    problems = check_text_layer(out.getvalue(), LINES)
    assert problems and "𠀀" in problems[0]
    assert check_text_layer(data, [replace(LINES[0], text="常住人口登记")] + LINES[1:])


def test_xmp_carries_reference_code_and_master_sha256():
    meta = _meta()
    data = make_archival_pdf(_page(), DPI, LINES, meta)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        xmp = pdf.open_metadata()
        assert xmp["dc:identifier"] == reference_code(meta) == "J041-1986-户-07-0417-0007"
        assert xmp["dc:source"] == "urn:sha256:" + meta.master_sha256
        assert xmp["dc:title"] == meta.title
        assert xmp["dc:creator"] == [meta.creator]
        assert xmp["pdfaid:part"] == "2" and xmp["pdfaid:conformance"] == "B"
    record = read_provenance(data)
    assert record["master_sha256"] == meta.master_sha256
    assert (record["fonds"], record["volume"], record["box"], record["page"]) == ("J041", "1986-户-07", "0417", 7)
    assert (record["batch"], record["operator"], record["doc_type"]) == (meta.batch_id, "李四", meta.doc_type)
    assert "DCTDecode" in record["image"]["compression"]


@pytest.mark.parametrize(
    "image, dpi, meta",
    [
        (np.zeros((100, 80, 3), np.uint8), float("nan"), _meta()),
        (np.zeros((0, 80, 3), np.uint8), 300, _meta()),
        (np.zeros((100, 80, 3), np.float32), 300, _meta()),
        (np.zeros((100, 80, 3), np.uint8), 0, _meta()),
        (np.zeros((100, 80, 3), np.uint8), 300, _meta(master_sha256="not-a-hash")),
    ],
)
def test_invalid_input_is_refused(image, dpi, meta):
    with pytest.raises(ArchiveRefused) as refused:
        make_archival_pdf(image, dpi, LINES[:1], meta)
    assert refused.value.reasons


@pytest.mark.parametrize(
    "bad",
    [
        OcrLine(quad=((0, 0), (float("nan"), 0), (10, 10), (0, 10)), text="张", score=0.5),
        OcrLine(quad=((0, 0), (10, 0), (10, 10)), text="张", score=0.5),
        OcrLine(quad=((0, 0), (10, 0), (10, 10), (0, 10)), text="张\ud840", score=0.5),
    ],
)
def test_bad_line_is_refused(bad):
    with pytest.raises(ArchiveRefused):
        make_archival_pdf(_page(), DPI, [bad], _meta())


def test_object_key_is_stable_safe_and_distinct_across_batches():
    from pipeline.storage import check_key

    meta = _meta(location=Location(fonds="J041", volume="1986/户 07", box="0417"))
    key = object_key(meta)
    assert key == object_key(replace(meta, operator="someone else"))
    assert key == "J041/1986%2F户%2007/0417/0007-3f3f3f3f.pdf"
    rescan = replace(meta, batch_id="2027-01-02-B", master_sha256="a1" * 32)
    assert object_key(rescan) != key
    assert object_key(_meta(location=Location(fonds="J041", volume="..", box=""))) == "J041/%2E./_/0007-3f3f3f3f.pdf"
    assert object_key(_meta(location=Location(fonds=".J041", volume="户.07", box="1"))) == "%2EJ041/户.07/1/0007-3f3f3f3f.pdf"
    assert object_key(_meta(location=Location(fonds="J041", volume="_", box=""))) != "J041/_/_/0007-3f3f3f3f.pdf"
    for odd in ("..", ".", "./x", "a/../b", " ", "\\"):
        check_key(object_key(_meta(location=Location(fonds=odd, volume=odd, box=odd))))


def _corpus_rows(prefixes: tuple[str, ...]) -> list[dict[str, str]]:
    with open(CORPUS / "manifest.csv", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row["clause"].startswith(prefixes)]


@pytest.mark.skipif(not CORPUS.exists(), reason="veraPDF corpus not available")
def test_validator_usage_against_verapdf_corpus():
    """Fonts, colour and metadata clauses: never approve a file meant to fail; approve some meant to pass.

    pikepdf.pdfa is an allowlist validator, so a refused pass-file is not a defect of ours.
    """
    rows = _corpus_rows(("6.2.11.3", "6.2.11.4", "6.2.11.5", "6.2.11.8", "6.2.4.3", "6.6.4"))
    approved = {row["path"]: validate_pdfa((CORPUS / row["path"]).read_bytes()).valid for row in rows}
    wrongly_approved = [row["path"] for row in rows if row["expected"] == "fail" and approved[row["path"]]]
    assert wrongly_approved == []
    passes = [row["path"] for row in rows if row["expected"] == "pass"]
    assert sum(approved[p] for p in passes) >= len(passes) // 3
    composite = [p for p in passes if "6.2.11.3.3 CMaps" in p]
    assert any(approved[p] for p in composite)


def test_private_xmp_namespace_is_not_approved():
    """Why provenance travels in predefined properties: the validator rejects private namespaces."""
    data = build_pdfa(_page(), DPI, LINES[:1], _meta())
    with pikepdf.open(io.BytesIO(data)) as pdf:
        xmp = pdf.Root.Metadata.read_bytes().decode()
        extra = '<rdf:Description rdf:about="" xmlns:hukou="https://hukou-archive.invalid/ns/1.0/"><hukou:fonds>J041</hukou:fonds></rdf:Description></rdf:RDF>'
        pdf.Root.Metadata = pdf.make_stream(xmp.replace("</rdf:RDF>", extra, 1).encode())
        out = io.BytesIO()
        pdf.save(out)
    assert not validate_pdfa(out.getvalue()).valid


def test_same_page_gives_same_bytes():
    """Re-running a batch reproduces the stored object, so writes to the WORM store stay idempotent."""
    first = make_archival_pdf(_page(seal=True), DPI, LINES, _meta())
    assert make_archival_pdf(_page(seal=True), DPI, LINES, _meta()) == first
    assert make_archival_pdf(_page(seal=True), DPI, LINES, _meta(batch_id="other")) != first


def test_colour_fringes_around_black_strokes_are_not_colour_ink():
    """Scanners misregister R and B by a pixel or so around black strokes; that is not ink."""
    page = _page()
    page[..., 2] = np.roll(page[..., 2], 1, axis=1)
    page[..., 0] = np.roll(page[..., 0], -1, axis=1)
    assert not has_colour_ink(page)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_poppler_reads_a_vertical_column_as_one_line():
    data = make_archival_pdf(_page(), DPI, [LINES[0], LINES[2], LINES[3]], _meta())
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True).stdout
    found = text.decode("utf-8").split()
    assert "迁入本市日期" in found and "出生地河北" in found and "常住人口登记表" in found


@pytest.mark.parametrize(
    "document_date, capture_date, dc_date",
    [
        ("1986-03", "2026-11-27T08:00:00Z", ["1986-03"]),
        ("1986年3月", "2026-11-27T08:00:00Z", ["2026-11-27T08:00:00Z"]),
        ("1950/1951", "", None),
        ("", "2026-11-27T08:00:00", None),  # a date-time without a zone is ambiguous
    ],
)
def test_only_xmp_dates_reach_dc_date(document_date, capture_date, dc_date):
    meta = _meta(document_date=document_date, capture_date=capture_date)
    data = make_archival_pdf(_page(), DPI, LINES[:1], meta)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert pdf.open_metadata().get("dc:date") == dc_date
    assert read_provenance(data)["document_date"] == document_date


def test_noisy_colour_page_is_archived():
    """Pillow's optimised JPEG encoder fails on a page needing more than a byte per pixel; it must still be archived."""
    noisy = np.clip(200 + np.random.default_rng(5).normal(0, 40, (500, 400, 3)), 0, 255).astype(np.uint8)
    data = make_archival_pdf(noisy, DPI, LINES[:1], _meta(), PdfOptions(colour="color"))
    assert validate_pdfa(data).valid
    assert _image_of(data)[:3] == ("/DeviceRGB", "/DCTDecode", 400)
