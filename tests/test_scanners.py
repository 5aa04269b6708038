from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageCms

from pipeline.records import SourceFile
from scanners import UnreadableSource, read_source, sniff_format
from tests.synthetic import form_page, on_desk

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
if not TESTDATA.exists():
    TESTDATA = Path("/work/shared/testdata")


def source_of(path: Path) -> SourceFile:
    data = path.read_bytes()
    return SourceFile(path.name, str(path), hashlib.sha256(data).hexdigest(), len(data), sniff_format(path))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_sniff_by_magic_not_name(tmp_path):
    fake = tmp_path / "scan.jpg"
    Image.new("L", (8, 8), 255).save(fake, format="PNG")
    assert sniff_format(fake) == "png"
    other = tmp_path / "a.tif"
    other.write_bytes(b"hello world")
    assert sniff_format(other) == "unknown"


def test_multipage_tiff_gray_rgb_16bit_keeps_dpi_and_icc(tmp_path):
    page = form_page(100)
    gray = Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY))
    rgb = Image.fromarray(page[:, :, ::-1])
    deep = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    path = tmp_path / "box.tif"
    icc = srgb_icc()
    rgb.save(path, save_all=True, append_images=[gray, deep], dpi=(300, 300), icc_profile=icc, compression="tiff_lzw")
    before = sha(path)

    masters = read_source(source_of(path), scanner="flatbed", first_page_no=7)

    assert [m.page_no for m in masters] == [7, 8, 9]
    assert [m.frame for m in masters] == [0, 1, 2]
    assert masters[0].image.shape == page.shape
    assert np.array_equal(masters[0].image, page)  # BGR, lossless
    assert masters[0].capture["icc_profile"] == icc
    assert masters[1].image.ndim == 2
    assert masters[2].capture["bits_per_sample"] == 16
    assert np.abs(masters[2].image.astype(int) - np.asarray(gray).astype(int)).max() <= 1
    assert all(m.dpi == 300 for m in masters)
    assert sha(path) == before


def test_16bit_rgb_tiff_is_scaled_not_clipped(tmp_path):
    rgb16 = np.zeros((40, 60, 3), np.uint16)
    rgb16[:, :20] = 65535
    rgb16[:, 20:40] = 32768
    path = tmp_path / "deep.tif"
    cv2.imwrite(str(path), rgb16)
    (master,) = read_source(source_of(path), scanner="flatbed")
    assert master.capture["bits_per_sample"] == 16
    assert master.image[0, 0].tolist() == [255, 255, 255]
    assert master.image[0, 30].tolist() == [128, 128, 128]
    assert master.image[0, 50].tolist() == [0, 0, 0]


def test_jpeg_exif_orientation_applied_and_dpi_from_jfif(tmp_path):
    page = form_page(100)
    h, w = page.shape[:2]
    # Stored sideways; EXIF 6 says "turn 90° clockwise to view".
    stored = cv2.rotate(page, cv2.ROTATE_90_COUNTERCLOCKWISE)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "p.jpg"
    Image.fromarray(stored[:, :, ::-1]).save(path, quality=95, dpi=(240, 240), exif=exif)

    (master,) = read_source(source_of(path), scanner="flatbed")

    assert master.image.shape[:2] == (h, w)
    assert master.capture["exif_orientation"] == 6
    assert master.dpi == 240
    diff = np.abs(master.image.astype(int) - page.astype(int)).mean()
    assert diff < 6


def test_png_dpi_from_phys(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(form_page(100)[:, :, ::-1]).save(path, dpi=(400, 400))
    (master,) = read_source(source_of(path), scanner="flatbed")
    assert master.dpi == pytest.approx(400, abs=0.5)
    assert master.capture["dpi_source"] == "file"


def test_batch_dpi_stands_in_when_file_has_none(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(form_page(100)[:, :, ::-1]).save(path)
    (master,) = read_source(source_of(path), scanner="flatbed", batch_dpi=300)
    assert master.dpi == 300
    assert master.capture["dpi_source"] == "batch"


def _jpeg_pdf(tmp_path: Path, jpeg: bytes, size: tuple[int, int], ctm: str) -> Path:
    w, h = size
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, jpeg)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height = w, h
    image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceRGB, 8
    image.Filter = pikepdf.Name.DCTDecode
    pw, ph = (w * 72 / 200, h * 72 / 200)
    if ctm == "upright":
        box, matrix = [0, 0, pw, ph], f"{pw} 0 0 {ph} 0 0"
    else:  # placed turned a quarter: landscape page
        box, matrix = [0, 0, ph, pw], f"0 {-pw} {ph} 0 0 {pw}"
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=box,
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, f"q {matrix} cm /Im0 Do Q".encode()),
    )
    pdf.pages.append(pikepdf.Page(page))
    path = tmp_path / f"{ctm}.pdf"
    pdf.save(path)
    return path


def test_pdf_image_extracted_byte_identical(tmp_path):
    page = form_page(100)
    buf = io.BytesIO()
    Image.fromarray(page[:, :, ::-1]).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    path = _jpeg_pdf(tmp_path, jpeg, (page.shape[1], page.shape[0]), "upright")
    before = sha(path)

    (master,) = read_source(source_of(path), scanner="flatbed")

    assert master.capture["pdf_mode"] == "extracted"
    assert master.capture["jpeg_bytes"] == jpeg
    decoded = np.asarray(Image.open(io.BytesIO(jpeg)))[:, :, ::-1]
    assert np.array_equal(master.image, decoded)
    assert master.dpi == pytest.approx(200, abs=0.5)
    assert sha(path) == before


def test_pdf_quarter_turn_placement_is_applied_losslessly(tmp_path):
    page = form_page(80)
    buf = io.BytesIO()
    Image.fromarray(page[:, :, ::-1]).save(buf, format="JPEG", quality=90)
    path = _jpeg_pdf(tmp_path, buf.getvalue(), (page.shape[1], page.shape[0]), "quarter")
    (master,) = read_source(source_of(path), scanner="flatbed")
    decoded = np.asarray(Image.open(buf))[:, :, ::-1]
    assert master.capture["pdf_mode"] == "extracted"
    assert master.image.shape[:2] == (page.shape[1], page.shape[0])
    turned = [np.array_equal(master.image, cv2.rotate(decoded, code)) for code in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE)]
    assert any(turned)
    # Which way: the placement maps the image's top edge to the page's right edge, i.e. turned cw.
    assert turned[0]


def test_pdf_page_drawn_at_an_angle_is_rendered():
    path = TESTDATA / "ocrmypdf" / "skew.pdf"
    (master,) = read_source(source_of(path), scanner="flatbed")
    assert master.capture["pdf_mode"] == "rendered"
    assert master.dpi == 300
    assert master.image.shape[:2] == (3300, 2550)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "zero-byte"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 10, "truncated"),
        (b"GIF89a" + b"\x00" * 100, "unsupported"),
        (b"%PDF-1.4\n garbage", "damaged PDF"),
    ],
)
def test_bad_files_are_unreadable_with_reason(tmp_path, content, reason):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(UnreadableSource) as info:
        read_source(source_of(path))
    assert reason in info.value.reason


def test_truncated_png_and_tiff_are_unreadable(tmp_path):
    for fmt, name in (("PNG", "t.png"), ("TIFF", "t.tif")):
        buf = io.BytesIO()
        Image.fromarray(form_page(60)[:, :, ::-1]).save(buf, format=fmt)
        path = tmp_path / name
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        with pytest.raises(UnreadableSource):
            read_source(source_of(path))


def test_camera_photo_is_flattened_with_size_class_dpi(tmp_path):
    page = form_page(150)
    photo, corners = on_desk(page)
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo[:, :, ::-1]).save(path, quality=92)

    (master,) = read_source(source_of(path), scanner="auto")

    assert master.scanner == "camera"
    assert master.capture["page_size_class"] in ("A4", "B5", "16开", "32开")
    found = np.array(master.capture["page_quad"])
    assert np.abs(found - corners).max() < 12
    h, w = master.image.shape[:2]
    assert h > w  # portrait, as the page lies
    assert 60 < master.dpi < 300


def test_flatbed_scan_is_not_mistaken_for_a_photo(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(form_page(200)[:, :, ::-1]).save(path, dpi=(200, 200))
    (master,) = read_source(source_of(path), scanner="auto")
    assert master.scanner == "flatbed"


def test_page_flat_on_a_dark_bed_without_dpi_stays_flatbed(tmp_path):
    page = form_page(150)
    h, w = page.shape[:2]
    scan = np.full((h + 120, w + 120, 3), 30, np.uint8)
    scan[60 : 60 + h, 60 : 60 + w] = page
    path = tmp_path / "scan.png"
    Image.fromarray(scan[:, :, ::-1]).save(path)
    (master,) = read_source(source_of(path), scanner="auto", batch_dpi=150)
    assert master.scanner == "flatbed"
    assert master.dpi == 150
