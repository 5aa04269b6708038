from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.records import Master, SourceFile
from pipeline.repair import (
    RepairOptions,
    estimate_skew,
    ink_mask,
    repair,
    rotation_matrix,
    suppress_red_ink,
    then_turn_clockwise,
    to_gray,
    turn_clockwise,
    warp,
)
from scanners import read_source, sniff_format
from tests.synthetic import form_page, on_desk, tilt

TESTDATA = Path("/work/shared/testdata")


def master_of(image: np.ndarray, dpi: float | None = 200) -> Master:
    source = SourceFile("p.png", "/nonexistent/p.png", "0" * 64, 0, "png")
    return Master(source, 0, 1, image, dpi, "flatbed", {})


def source_of(path: Path) -> SourceFile:
    data = path.read_bytes()
    return SourceFile(path.name, str(path), hashlib.sha256(data).hexdigest(), len(data), sniff_format(path))


@pytest.fixture(scope="module")
def page200() -> np.ndarray:
    return form_page(200)


def _ink_box(image: np.ndarray) -> np.ndarray:
    ink = 255 - to_gray(image)
    ys, xs = np.nonzero(ink > 100)
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def upright_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two pages' ink, each cut to its ink's extent, at a common small size."""
    size = (200, 280)
    ia = cv2.resize(_ink_box(a), size, interpolation=cv2.INTER_AREA).astype(np.float32)
    ib = cv2.resize(_ink_box(b), size, interpolation=cv2.INTER_AREA).astype(np.float32)
    ia -= ia.mean()
    ib -= ib.mean()
    return float((ia * ib).sum() / np.sqrt((ia * ia).sum() * (ib * ib).sum()))


@pytest.mark.parametrize("angle", [2.3, -0.7, -8.4])
def test_skew_measured_and_removed(page200, angle):
    result = repair(master_of(tilt(page200, angle)))
    assert result.skew_deg == pytest.approx(angle, abs=0.15)
    assert result.rotation == 0
    left = estimate_skew(ink_mask(to_gray(result.image)), search=3.0)
    assert abs(left.angle) < 0.15
    assert any(op.name == "deskew" and op.params["angle_deg"] == result.skew_deg for op in result.operations)


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_quarter_turned_page_comes_out_upright(page200, turn):
    # The scan lies turned counter-clockwise by `turn`; it must be turned clockwise by `turn` back.
    codes = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    scan = cv2.rotate(tilt(page200, 1.2), codes[turn])
    result = repair(master_of(scan))
    assert result.rotation == turn
    assert result.skew_deg == pytest.approx(1.2, abs=0.15)
    reference = repair(master_of(page200)).image
    assert upright_similarity(result.image, reference) > 0.8


def test_real_scans_skew_within_two_tenths():
    (skew,) = read_source(source_of(TESTDATA / "ocrmypdf" / "skew.pdf"), scanner="flatbed")
    result = repair(skew)
    assert result.skew_deg == pytest.approx(-1.865, abs=0.2)
    assert result.rotation == 0
    (rotated,) = read_source(source_of(TESTDATA / "ocrmypdf" / "rotated_skew.pdf"), scanner="flatbed")
    result = repair(rotated)
    assert result.skew_deg == pytest.approx(2.79, abs=0.2)
    assert result.rotation == 0


def test_cardinal_pages_all_come_out_upright():
    pages = read_source(source_of(TESTDATA / "ocrmypdf" / "cardinal.pdf"), scanner="flatbed")
    repaired = [repair(p) for p in pages]
    assert sorted(r.rotation for r in repaired) == [0, 90, 180, 270]
    for r in repaired[1:]:
        assert upright_similarity(r.image, repaired[0].image) > 0.9


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_quarter_turn_folded_into_the_warp_equals_turning_after_it(page200, turn):
    colour = page200[:301, :433].copy()
    colour[40:90, 60:200] = (30, 60, 200)  # channels must not be mixed up
    matrix, size = rotation_matrix(colour.shape, 3.7)
    turned_after = turn_clockwise(warp(colour, matrix, size, (20.0, 40.0, 60.0)), turn)
    folded = warp(colour, *then_turn_clockwise(matrix, size, turn), (20.0, 40.0, 60.0))
    assert folded.shape == turned_after.shape
    assert np.abs(folded.astype(int) - turned_after).max() <= 1


def test_red_ink_reads_as_paper_and_other_colours_keep_their_gray():
    image = np.full((40, 60, 3), 230, np.uint8)
    image[5:15, 5:25] = (40, 50, 210)  # seal red
    image[20:30, 5:25] = (20, 20, 20)  # black ink
    image[20:30, 30:50] = (160, 60, 60)  # blue ink
    gray, fraction = suppress_red_ink(image)
    assert fraction == pytest.approx(200 / image[..., 0].size)
    assert gray[10, 10] == 210
    plain = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert (gray[20:, :] == plain[20:, :]).all()


def test_only_seal_shaped_red_ink_is_lifted_out():
    dpi = 300.0
    mm = dpi / 25.4
    image = np.full((int(120 * mm), int(100 * mm), 3), 235, np.uint8)
    centre, radius = (int(50 * mm), int(40 * mm)), int(20 * mm)
    cv2.circle(image, centre, radius, (40, 50, 210), int(1.2 * mm))  # a 40 mm seal ring
    cv2.putText(image, "SEAL", (int(35 * mm), int(43 * mm)), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (40, 50, 210), 12)
    row = slice(int(95 * mm), int(100 * mm))
    for k in range(6):  # a red printed serial number: 5 mm digits in a line
        x = int((20 + 7 * k) * mm)
        image[row, x : x + int(1.2 * mm)] = (40, 50, 210)
    gray, fraction = suppress_red_ink(image, dpi)
    ring = (centre[0] + radius, centre[1])
    assert gray[ring[1], ring[0]] > 200  # the seal reads as paper
    assert gray[int(97 * mm), int(20.5 * mm)] < 120  # the serial number stays ink
    assert 0 < fraction < 0.2
    everything, _ = suppress_red_ink(image)  # without dpi: every red mark, as before
    assert everything[int(97 * mm), int(20.5 * mm)] > 200


def test_seal_suppressed_for_ocr_only(page200):
    result = repair(master_of(page200))
    red = (result.image[:, :, 2].astype(int) - result.image[:, :, 1] > 80)
    assert red.sum() > 500  # the archival image keeps the seal in colour
    assert np.percentile(result.ocr_image[red], 10) > 200  # the OCR image reads it as paper
    ops = [op.name for op in result.operations]
    assert {"orient", "suppress_seals", "flatten_background", "despeckle"} <= set(ops)


def test_seal_kept_when_not_asked_to_suppress(page200):
    result = repair(master_of(page200), RepairOptions(suppress_seals=False))
    red = (result.image[:, :, 2].astype(int) - result.image[:, :, 1] > 80)
    assert np.median(result.ocr_image[red]) < 160


def test_yellowed_unevenly_lit_paper_becomes_white_for_ocr(page200):
    h, w = page200.shape[:2]
    light = np.linspace(1.0, 0.6, w, dtype=np.float32)[None, :, None]
    yellow = np.array([0.70, 0.88, 1.0], np.float32)[None, None, :]
    aged = (page200.astype(np.float32) * light * yellow).astype(np.uint8)
    result = repair(master_of(aged))
    gray = result.ocr_image
    paper = gray > np.percentile(gray, 30)
    right = gray[:, -w // 6 :][paper[:, -w // 6 :]]
    assert np.median(right) > 235
    ink = to_gray(aged) < 90
    assert ink.sum() > 0
    assert np.median(result.image[:, :, 0]) < 200  # the archival image keeps its yellow tone


def test_master_is_never_modified(tmp_path, page200):
    path = tmp_path / "scan.png"
    Image.fromarray(tilt(page200, 3.0)[:, :, ::-1]).save(path, dpi=(200, 200))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    (master,) = read_source(source_of(path), scanner="flatbed")
    pixels = hashlib.sha256(master.image.tobytes()).hexdigest()
    repair(master)
    assert hashlib.sha256(master.image.tobytes()).hexdigest() == pixels
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_low_resolution_needs_rescan(page200):
    small = cv2.resize(page200, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    result = repair(master_of(small, dpi=120))
    assert result.needs_rescan
    assert any("120 dpi" in reason for reason in result.rescan_reasons)
    assert not repair(master_of(page200)).needs_rescan


def test_blurred_scan_needs_rescan(page200):
    blurred = cv2.GaussianBlur(page200, (0, 0), 4)
    result = repair(master_of(blurred))
    assert result.needs_rescan
    assert any("blur" in reason for reason in result.rescan_reasons)


def test_dark_scanner_bed_is_cropped_away(page200):
    h, w = page200.shape[:2]
    bed = np.full((h + 240, w + 300, 3), 25, np.uint8)
    bed[100 : 100 + h, 140 : 140 + w] = page200
    result = repair(master_of(bed))
    rh, rw = result.image.shape[:2]
    assert abs(rh - h) < 12 and abs(rw - w) < 12
    assert any(op.name == "crop_to_page" for op in result.operations)


def test_camera_photo_comes_out_flat_and_upright(tmp_path):
    page = form_page(150)
    photo, corners = on_desk(page, size=(2000, 1500))
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo[:, :, ::-1]).save(path, quality=92)
    (master,) = read_source(source_of(path), scanner="camera")
    result = repair(master)
    assert result.rotation == 0
    (dx, dy) = corners[1] - corners[0]
    assert result.skew_deg == pytest.approx(-np.degrees(np.arctan2(dy, dx)), abs=0.5)  # as it lay in the photo
    assert abs(estimate_skew(ink_mask(to_gray(result.image)), search=3.0).angle) < 0.3  # and now flat
    assert upright_similarity(result.image, page) > 0.8


def test_page_running_off_the_scan_needs_rescan(page200):
    h, w = page200.shape[:2]
    clipped = np.full((h + 20, w + 60, 3), 25, np.uint8)
    clipped[: h - 100, 30 : 30 + w] = page200[100:]  # the page's top 100 px lie beyond the glass
    result = repair(master_of(clipped))
    assert result.needs_rescan
    assert any("top" in reason for reason in result.rescan_reasons)
    whole = np.full((h + 120, w + 60, 3), 25, np.uint8)
    whole[60 : 60 + h, 30 : 30 + w] = page200
    assert not repair(master_of(whole)).needs_rescan


def test_generated_hukou_page_matches_its_truth():
    import random

    import pagegen

    spec = pagegen.random_spec(random.Random(5), damage=False)
    spec.rotation, spec.skew_deg = 180, -2.4
    page = pagegen.render_page(spec)
    result = repair(master_of(page.image, page.dpi))
    assert result.rotation == page.truth["rotation"] == 180
    assert result.skew_deg == pytest.approx(page.truth["skew_deg"], abs=0.15)
    assert result.damage == []


def test_speckle_is_removed_for_ocr(page200):
    speckled = page200.copy()
    rng = np.random.default_rng(1)
    ys = rng.integers(0, speckled.shape[0], 3000)
    xs = rng.integers(0, speckled.shape[1], 3000)
    speckled[ys, xs] = 0
    result = repair(master_of(speckled))
    assert result.rotation == 0 and abs(result.skew_deg) < 0.1  # same geometry: pixels line up
    dark = result.ocr_image < 128
    isolated = dark & (cv2.blur(dark.astype(np.float32), (3, 3)) < 2 / 9)
    assert isolated.sum() < 30
    assert (result.image.min(axis=2) == 0).sum() >= 2500  # the archival image keeps what was scanned


def _vertical_writing_spec(seed: int):
    """A generated 竖排 register page (columns right to left), undamaged."""
    import random

    import pagegen

    rng = random.Random(seed)
    while True:
        spec = pagegen.random_spec(rng, doc_type="resident_registration", label_variant="holdout", damage=False)
        if spec.layout == "vertical_rl":
            return spec


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_vertical_writing_page_comes_out_upright(turn):
    # Columns of stacked characters look like a sideways page's lines; the characters tell them apart.
    import pagegen

    spec = _vertical_writing_spec(31 + turn)
    spec.rotation, spec.skew_deg = turn, 1.3
    page = pagegen.render_page(spec)
    result = repair(master_of(page.image, page.dpi))
    assert result.rotation == page.truth["rotation"] == turn


def test_camera_photo_and_flatbed_scan_of_one_page_give_the_same_fields(tmp_path):
    # The same generated page, once on a flatbed (tilted, turned, on the bed) and once
    # photographed on a desk, goes through scanner, repair, OCR and extraction.
    import random

    import pagegen
    from ocr_models.base import EngineOptions, get_engine
    from pipeline.extract import extract

    spec = pagegen.random_spec(random.Random(12), doc_type="resident_registration", damage=False)
    spec.rotation, spec.skew_deg, spec.scan_margin_mm = 180, 1.7, 8.0
    engine = get_engine("rapidocr", EngineOptions(page_upright=True))
    fields = {}
    truth = None
    for scanner, camera in (("flatbed", False), ("camera", True)):
        spec.camera = camera
        page = pagegen.render_page(spec)
        truth = page.truth
        path = tmp_path / f"{scanner}.png"
        Image.fromarray(page.image[:, :, ::-1]).save(path, dpi=(page.dpi, page.dpi) if page.dpi else None)
        (master,) = read_source(source_of(path), scanner=scanner)
        result = repair(master)
        assert result.rotation == 180
        extraction = extract(engine.recognise(result.ocr_image))
        fields[scanner] = {k: f.value for k, f in extraction.fields.items() if k in truth["fields"]}
    right = {k for k, v in fields["flatbed"].items() if v == truth["fields"][k]}
    assert len(right) >= 0.8 * len(truth["fields"])  # a page actually read, not two equal failures
    assert fields["camera"] == fields["flatbed"]
