"""Each damage kind on a drawn form page: found when present, silent when not.

The damage here is drawn from its physical effect (paper gone, paper darkened,
ink lightened, a fold's shading, defocus), independently of pagegen's drawing.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.damage import damage_scores, detect_damage, scanner_background
from pipeline.records import DAMAGE_KINDS, Master, SourceFile
from pipeline.repair import repair
from tests.synthetic import form_page

DPI = 150
BED = (28, 30, 32)
MM = DPI / 25.4


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return form_page(DPI)


def on_bed(page: np.ndarray, bed=BED, margin: int = 60) -> np.ndarray:
    h, w = page.shape[:2]
    scan = np.empty((h + 2 * margin, w + 2 * margin, 3), np.uint8)
    scan[:] = bed
    scan[margin : margin + h, margin : margin + w] = page
    return scan


def kinds(image: np.ndarray) -> set[str]:
    return {f.kind for f in detect_damage(image, dpi=DPI)}


def test_clean_page_has_no_damage(page):
    assert kinds(on_bed(page)) == set()
    assert kinds(page) == set()  # no bed in view at all


def test_every_kind_is_scored(page):
    scores = damage_scores(on_bed(page), dpi=DPI)
    assert set(scores) == set(DAMAGE_KINDS)
    assert all(0.0 <= score <= 1.0 for score, _ in scores.values())


def test_hole_shows_the_bed(page):
    holed = page.copy()
    cv2.circle(holed, (int(12 * MM), int(100 * MM)), int(3 * MM), BED, -1)
    found = kinds(on_bed(holed))
    assert "hole" in found
    assert found.isdisjoint({"missing_corner", "tear"})


def test_hole_on_a_white_lid(page):
    holed = page.copy()
    cv2.circle(holed, (int(12 * MM), int(100 * MM)), int(3 * MM), (250, 250, 250), -1)
    assert "hole" in kinds(on_bed(holed, bed=(250, 250, 250)))


def test_missing_corner(page):
    h, w = page.shape[:2]
    cut = page.copy()
    leg = int(18 * MM)
    cv2.fillPoly(cut, [np.array([[w - leg, 0], [w, 0], [w, leg]], np.int32)], BED)
    found = kinds(on_bed(cut))
    assert "missing_corner" in found
    assert "tear" not in found


def test_tear_from_an_edge(page):
    h, w = page.shape[:2]
    torn = page.copy()
    rng = np.random.default_rng(3)
    xs = np.linspace(w * 0.4, w * 0.55, 9)
    depth = np.array([0, 6, 10, 17, 22, 15, 9, 4, 0]) * MM + rng.uniform(-1, 1, 9) * MM
    points = np.stack([xs, h - 1 - np.clip(depth, 0, None)], axis=1).astype(np.int32)
    cv2.fillPoly(torn, [np.vstack([points, [[int(xs[-1]), h], [int(xs[0]), h]]])], BED)
    found = kinds(on_bed(torn))
    assert "tear" in found
    assert "missing_corner" not in found


def test_stain(page):
    h, w = page.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (int(w * 0.55), int(h * 0.6)), (int(22 * MM), int(15 * MM)), 30, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 3 * MM)[:, :, None]
    tea = np.array([0.55, 0.75, 0.92], np.float32)  # brown: blue absorbed most
    stained = (page.astype(np.float32) * (1 - mask + mask * tea)).astype(np.uint8)
    found = kinds(on_bed(stained))
    assert "stain" in found
    assert "crease" not in found


def test_faded(page):
    paper = np.array([222, 232, 236], np.float32)
    faded = (paper + (page.astype(np.float32) - paper) * 0.3).astype(np.uint8)
    found = kinds(on_bed(faded))
    assert "faded" in found
    assert "blur" not in found


def test_crease(page):
    h, w = page.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # A fold across the sheet, slightly off the horizontal: one side catches less light.
    distance = (yy - h * 0.47) - (xx - w / 2) * np.tan(np.radians(4))
    shade = 1.0 - 0.08 * (distance > 0) * np.exp(-np.abs(distance) / (6 * MM)) - 0.12 * np.exp(-(distance / (0.6 * MM)) ** 2)
    creased = (page.astype(np.float32) * shade[:, :, None]).astype(np.uint8)
    found = kinds(on_bed(creased))
    assert "crease" in found
    assert "stain" not in found


def test_blur(page):
    blurred = cv2.GaussianBlur(page, (0, 0), 2.0)
    found = kinds(on_bed(blurred))
    assert "blur" in found
    assert "faded" not in found


def test_table_rules_are_not_creases(page):
    ruled = page.copy()
    h, w = ruled.shape[:2]
    for y in range(int(0.1 * h), int(0.9 * h), int(9 * MM)):
        cv2.line(ruled, (int(5 * MM), y), (w - int(5 * MM), y), (40, 40, 40), 2)
    assert "crease" not in kinds(on_bed(ruled))


def test_bed_is_told_from_browned_paper_edges(page):
    h, w = page.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = np.minimum.reduce([xx, yy, w - 1 - xx, h - 1 - yy]) / MM
    browned = (page.astype(np.float32) * (1 - 0.25 * np.exp(-edge / 4))[:, :, None]).astype(np.uint8)
    assert scanner_background(browned) is None
    assert scanner_background(on_bed(page)) == pytest.approx(BED, abs=1)
    assert kinds(browned).isdisjoint({"hole", "missing_corner", "tear"})


def test_repair_reports_damage_on_the_repaired_page(page):
    holed = page.copy()
    cv2.circle(holed, (int(12 * MM), int(100 * MM)), int(3 * MM), BED, -1)
    source = SourceFile("p.png", "/nonexistent/p.png", "0" * 64, 0, "png")
    result = repair(Master(source, 0, 1, on_bed(holed), float(DPI), "flatbed", {}))
    assert [f.kind for f in result.damage] == ["hole"]
    assert result.damage[0].detail


def test_faded_and_blurred_page_is_both(page):
    paper = np.array([222, 232, 236], np.float32)
    faded = (paper + (page.astype(np.float32) - paper) * 0.4).astype(np.uint8)
    found = kinds(on_bed(cv2.GaussianBlur(faded, (0, 0), 2.0)))
    assert {"faded", "blur"} <= found


def test_jpeg_artefacts_are_not_blur(page):
    _, data = cv2.imencode(".jpg", on_bed(page), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert "blur" not in kinds(cv2.imdecode(data, cv2.IMREAD_COLOR))
