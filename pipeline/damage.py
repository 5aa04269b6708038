"""Physical damage on a page, from general image cues.

Each kind gets a score in 0..1 from what the damage physically does to a scan,
not from how any one generator draws it:
- hole, missing_corner, tear: the scanner background shows where paper should
  be — enclosed by paper (hole), at a corner of the page's rectangle
  (missing_corner), or entering from one edge (tear);
- stain: a large, smooth patch where the paper itself (ink removed) is darker
  or more coloured than the paper around it;
- crease: a long straight line across the paper along which the paper's shade
  steps or ridges (the fold catches the light), not an inked rule;
- faded: even the boldest ink marks are barely darker than the paper;
- blur: strong ink edges are wide, measured independently of their contrast.
Findings whose score reaches the kind's threshold are returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.records import DamageFinding

THRESHOLDS = {
    "stain": 0.5,
    "faded": 0.5,
    "crease": 0.5,
    "hole": 0.5,
    "missing_corner": 0.5,
    "tear": 0.5,
    "blur": 0.5,
}

REGION_DPI = 50.0  # paper, stains, creases and missing paper are looked at this coarsely
SHARPNESS_DPI = 200.0  # edge sharpness is judged at the lowest resolution the archive accepts
FADING_DPI = 100.0  # ink marks are found this coarsely
# Sharp scans, flatbed or camera, spread an edge over ≤ 0.11 mm; a defocus or a
# shaken hand that OCR notices over ≥ 0.12 mm.
BLUR_SPREAD_MM = 0.116
# Fresh ink, black or brown, reaches ≥ 0.73 of the way from paper to black in its boldest marks.
FADED_CONTRAST = 0.685
BOLD_STROKE_MM = 0.5  # stroke width of a page's boldest marks
SHARPNESS_BAND_MM = 8.0  # blur is judged on every other band of this height: half the page, spread over all of it


@dataclass(frozen=True)
class PaperMap:
    """The page at REGION_DPI: colour, ink-free paper shade, and where paper is missing."""

    colour: np.ndarray  # BGR float32
    paper: np.ndarray  # gray float32 with ink strokes closed over
    missing: np.ndarray  # bool: background shows here
    page_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the page's rectangle (exclusive)
    px_per_mm: float


def _resize(image: np.ndarray, dpi: float, target: float) -> np.ndarray:
    scale = target / dpi
    if abs(scale - 1.0) < 1e-3:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _disk(diameter_px: float) -> np.ndarray:
    d = max(3, int(round(diameter_px)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def _medians(values: np.ndarray) -> np.ndarray:
    """np.median(values, axis=0) of uint8 columns (as float32), by counting: no sort."""
    n = len(values)
    out = np.empty(values.shape[1], np.float32)
    for c in range(values.shape[1]):
        counts = np.cumsum(np.bincount(values[:, c], minlength=256))
        lo, hi = np.searchsorted(counts, [(n - 1) // 2, n // 2], side="right")
        out[c] = (lo + hi) / 2
    return out


def scanner_background(image: np.ndarray) -> tuple[float, float, float] | None:
    """BGR colour of the scanner bed or desk when it shows around the page, else None.

    The outer ring of the frame is the bed when it is uniform and of another colour
    than the paper in the middle of the frame (a dark bed, or a grey lid around
    yellowed paper) — but not when it is merely a darker shade of the same paper,
    which is how browned edges of an old sheet that fills the frame look.
    """
    colour = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = colour.shape[:2]
    band = max(2, int(0.01 * min(h, w)))
    ring = np.concatenate(
        [colour[:band].reshape(-1, 3), colour[-band:].reshape(-1, 3), colour[:, :band].reshape(-1, 3), colour[:, -band:].reshape(-1, 3)]
    )
    ring_colour = _medians(ring)
    if np.mean(np.linalg.norm(ring.astype(np.float32) - ring_colour, axis=1) < 20) < 0.5:
        return None  # a busy ring: content or a page running off the frame, not a bed
    centre = np.ascontiguousarray(colour[h // 4 : 3 * h // 4 : 2, w // 4 : 3 * w // 4 : 2]).reshape(-1, 1, 3)
    centre_gray = cv2.cvtColor(centre, cv2.COLOR_BGR2GRAY).ravel()
    paper = _medians(centre.reshape(-1, 3)[centre_gray >= _medians(centre_gray[:, None])[0]])  # the lighter half: paper, not ink
    if np.linalg.norm(paper - ring_colour) < 18:
        return None
    ratio = float(np.linalg.norm(ring_colour) / max(1e-3, np.linalg.norm(paper)))
    cosine = float(ring_colour @ paper / max(1e-3, np.linalg.norm(ring_colour) * np.linalg.norm(paper)))
    if 0.6 < ratio < 0.97 and cosine > 0.995:
        return None  # the same paper, only darker: browned edges, not a bed
    return tuple(float(v) for v in ring_colour)


def paper_map(image: np.ndarray, dpi: float, background: tuple[float, ...] | None = None) -> PaperMap:
    small = _resize(image, dpi, REGION_DPI)
    colour = small.astype(np.float32) if small.ndim == 3 else cv2.cvtColor(small, cv2.COLOR_GRAY2BGR).astype(np.float32)
    gray = _gray(small)
    px_per_mm = REGION_DPI / 25.4
    paper = cv2.dilate(gray, _disk(2.0 * px_per_mm)).astype(np.float32)  # lighter-of-neighbourhood: ink gone
    level = float(np.percentile(paper, 60))
    missing = _missing_paper(colour, gray, paper, level, background or scanner_background(small), px_per_mm)
    return PaperMap(colour, paper, missing, _page_rectangle(~missing), px_per_mm)


def _page_rectangle(page: np.ndarray) -> tuple[int, int, int, int]:
    """The sheet's rectangle: rows and columns at least half covered by paper.

    Ragged or worn edges then straddle the rectangle's sides, while a lost corner or
    a tear, which takes far less than half a row or column, stays inside it.
    """
    h, w = page.shape
    cols = _longest_run(page.mean(axis=0) >= 0.5)
    rows = _longest_run(page.mean(axis=1) >= 0.5)
    if cols is None or rows is None:
        return (0, 0, w, h)
    return (cols[0], rows[0], cols[1], rows[1])


def _longest_run(flags: np.ndarray) -> tuple[int, int] | None:
    """[start, end) of the longest run of True (a stray edge line of the frame is not the sheet)."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    if len(edges) == 0:
        return None
    starts, ends = edges[::2], edges[1::2]
    i = int(np.argmax(ends - starts))
    return int(starts[i]), int(ends[i])


def _missing_paper(colour, gray, paper, level, background, px_per_mm) -> np.ndarray:
    """Where the scanner background shows instead of paper: much nearer the bed's colour than the paper's."""
    h, w = gray.shape
    near_bg = None
    if background is not None:
        bg = np.array(background[:3], np.float32)
        centre = colour[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)
        centre_gray = centre @ np.array([0.114, 0.587, 0.299], np.float32)
        paper_colour = np.median(centre[centre_gray >= np.percentile(centre_gray, 50)], axis=0)
        separation = float(np.linalg.norm(paper_colour - bg))
        if separation >= 18:
            near_bg = np.linalg.norm(colour - bg, axis=2) < 0.4 * separation
    if near_bg is None:
        # Bed unseen: a black bed shows as near-black, a white or grey lid as a neutral
        # grey at least as light as this (aged, tinted) paper.
        channels = cv2.split(colour)  # OpenCV's per-pixel max/min: numpy's reduction over a length-3 axis is slow
        saturation = cv2.max(cv2.max(channels[0], channels[1]), channels[2]) - cv2.min(cv2.min(channels[0], channels[1]), channels[2])
        paper_saturation = float(np.median(saturation))
        near_bg = gray < 0.35 * level
        if paper_saturation >= 15:  # on untinted paper a white lid cannot be told apart
            near_bg |= (gray >= level - 5) & (saturation < 0.35 * paper_saturation)
    # Ink strokes are thin; background through a hole or a lost corner is thick.
    return _opened(near_bg, 2.0 * px_per_mm)


def _opened(mask: np.ndarray, diameter_px: float) -> np.ndarray:
    """Morphological opening that treats the frame's edge like its neighbours (no border artefacts)."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _disk(diameter_px), borderType=cv2.BORDER_REPLICATE).astype(bool)


def _components(mask: np.ndarray):
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [(labels == i, stats[i]) for i in range(1, n)]


def missing_paper_scores(pm: PaperMap) -> dict[str, tuple[float, str]]:
    """hole / missing_corner / tear from background showing inside the sheet's rectangle."""
    x0, y0, x1, y1 = pm.page_box
    mm = pm.px_per_mm
    inside = np.zeros_like(pm.missing)
    inside[y0:y1, x0:x1] = True
    # Worn, ragged edges leave slivers a few mm deep along the sides: not damage.
    raw = pm.missing & inside
    gaps = _opened(raw, 3 * mm)
    best = {"hole": (0.0, ""), "missing_corner": (0.0, ""), "tear": (0.0, "")}
    tol = max(2, int(round(2 * mm)))
    for mask, stat in _components(gaps):
        bx, by, bw, bh, area = (int(v) for v in stat)
        area_mm2 = area / mm**2
        left, right = bx <= x0 + tol, bx + bw >= x1 - tol
        top, bottom = by <= y0 + tol, by + bh >= y1 - tol
        if not (left or right or top or bottom):
            points = np.argwhere(mask)[:, ::-1].astype(np.int32)
            solidity = area / max(1.0, cv2.contourArea(cv2.convexHull(points)))
            score = float(np.clip(area_mm2 / 12.0, 0, 1) * np.clip(solidity / 0.7, 0, 1))
            if score > best["hole"][0]:
                best["hole"] = (score, f"{area_mm2:.0f} mm² of background showing through at ({bx / mm:.0f}, {by / mm:.0f}) mm")
            continue
        legs = [
            _corner_legs(raw, cx, cy, sx, sy, mm)
            for (cx, cy, sx, sy, hit) in (
                (x0, y0, 1, 1, left and top),
                (x1 - 1, y0, -1, 1, right and top),
                (x0, y1 - 1, 1, -1, left and bottom),
                (x1 - 1, y1 - 1, -1, -1, right and bottom),
            )
            if hit and _distance_to(mask, cx, cy) <= 5 * mm
        ]
        corner_leg = max((min(a, b) for a, b in legs), default=0) / mm
        if corner_leg > 0:
            score = float(np.clip((corner_leg - 3.0) / 8.0, 0, 1))  # 0.5 for a corner lost 7 mm along both edges
            if score > best["missing_corner"][0]:
                best["missing_corner"] = (score, f"corner lost {corner_leg:.0f} mm along both edges")
            continue
        depth = max(bw if (left or right) and not (top or bottom) else 0, bh if (top or bottom) and not (left or right) else 0)
        if (left or right) and (top or bottom):
            depth = min(bw, bh)
        depth_mm = depth / mm
        score = float(np.clip((depth_mm - 2.0) / 8.0, 0, 1))  # 0.5 for paper lost 6 mm in from an edge
        if score > best["tear"][0]:
            best["tear"] = (score, f"paper torn away {depth_mm:.0f} mm in from the edge")
    return best


def _distance_to(mask: np.ndarray, x: int, y: int) -> float:
    ys, xs = np.nonzero(mask)
    return float(np.min(np.hypot(xs - x, ys - y))) if len(xs) else float("inf")


def _corner_legs(mask: np.ndarray, cx: int, cy: int, sx: int, sy: int, mm: float) -> tuple[float, float]:
    """How far (px) the gap runs from a corner along its two sides, read 3 mm in from each side.

    The tip of a lost corner is blunted by the morphology, so the runs are measured a
    little inside the sheet and must start within 3 mm of the side.
    """
    h, w = mask.shape
    inset = int(round(3 * mm))
    row = min(max(cy + sy * inset, 0), h - 1)
    col = min(max(cx + sx * inset, 0), w - 1)
    along_x = mask[row, cx::sx] if sx > 0 else mask[row, cx::-1]
    along_y = mask[cy::sy, col] if sy > 0 else mask[cy::-1, col]
    return (_run_from_side(along_x, inset) + inset, _run_from_side(along_y, inset) + inset)


def _run_from_side(line: np.ndarray, slack: int) -> float:
    hits = np.flatnonzero(line)
    if len(hits) == 0 or hits[0] > slack:
        return -float(slack)  # no gap at this side: legs come out ≤ 0
    start = int(hits[0])
    gaps = np.flatnonzero(~line[start:])
    return float(gaps[0] if len(gaps) else len(line) - start) + start


def _smooth_trend(values: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that ignores invalid pixels (normalised convolution), done coarsely for speed."""
    w = valid.astype(np.float32)
    factor = max(1, int(sigma // 8))
    size = (max(1, values.shape[1] // factor), max(1, values.shape[0] // factor))
    num = cv2.GaussianBlur(cv2.resize(values * w, size, interpolation=cv2.INTER_AREA), (0, 0), sigma / factor)
    den = cv2.GaussianBlur(cv2.resize(w, size, interpolation=cv2.INTER_AREA), (0, 0), sigma / factor)
    trend = num / np.maximum(den, 1e-3)
    return cv2.resize(trend, (values.shape[1], values.shape[0]), interpolation=cv2.INTER_LINEAR)


def stain_score(pm: PaperMap) -> tuple[float, str]:
    """A patch ≥ ~1.5 cm² where the ink-free paper is clearly darker or more coloured than around it."""
    x0, y0, x1, y1 = pm.page_box
    valid = ~cv2.dilate(pm.missing.astype(np.uint8), _disk(4 * pm.px_per_mm)).astype(bool)
    margin = int(round(4 * pm.px_per_mm))
    valid[: y0 + margin] = False
    valid[y1 - margin :] = False
    valid[:, : x0 + margin] = False
    valid[:, x1 - margin :] = False
    if valid.sum() < 100:
        return 0.0, ""
    colour = cv2.dilate(pm.colour, _disk(2.0 * pm.px_per_mm))  # ink closed over, per channel
    sigma = 25 * pm.px_per_mm  # trend: light fall-off and overall ageing, far wider than a stain
    trend = np.dstack([_smooth_trend(colour[:, :, c], valid, sigma) for c in range(3)])
    # Darkening, weighted to blue: stains (water, tea, rust, grease) are brown/yellow.
    diff = trend - colour
    darker = 0.5 * diff[:, :, 0] + 0.3 * diff[:, :, 1] + 0.2 * diff[:, :, 2]
    darker = cv2.GaussianBlur(darker, (0, 0), 1.0)
    darker[~valid] = 0
    mask = darker > 12.0
    mask = _opened(mask, 3 * pm.px_per_mm)
    best = (0.0, "")
    mm2 = pm.px_per_mm**2
    for region, stat in _components(mask):
        area_mm2 = stat[cv2.CC_STAT_AREA] / mm2
        strength = float(np.percentile(darker[region], 75))
        # A stain spreads as a blob; a long thin band is a fold's shadow (see crease).
        points = np.argwhere(region)[:, ::-1].astype(np.float32)
        _, (rw, rh), _ = cv2.minAreaRect(points)
        elongation = max(rw, rh) / max(1.0, min(rw, rh))
        blob = float(np.clip((4.0 - elongation) / 2.0, 0, 1))
        score = float(np.clip(area_mm2 / 300.0, 0, 1) * np.clip((strength - 6) / 14.0, 0, 1) * blob)
        if score > best[0]:
            best = (score, f"{area_mm2 / 100:.1f} cm² of paper {strength:.0f} levels darker than around it")
    return best


def crease_score(pm: PaperMap) -> tuple[float, str]:
    """A long straight line across the sheet where the paper's shade steps or ridges.

    Folds run across most of the sheet and away from its edges; the line must be
    supported along its whole length, so rows of bold characters do not join into one.
    """
    x0, y0, x1, y1 = pm.page_box
    mm = pm.px_per_mm
    paper = cv2.dilate(pm.paper, _disk(1.5 * mm))  # bolder strokes closed over too
    valid = ~cv2.dilate(pm.missing.astype(np.uint8), _disk(3 * mm)).astype(bool)
    margin = int(round(8 * mm))  # a fold is not a sheet's edge
    valid[: y0 + margin] = False
    valid[y1 - margin :] = False
    valid[:, : x0 + margin] = False
    valid[:, x1 - margin :] = False
    if valid.sum() < 100:
        return 0.0, ""
    paper = cv2.GaussianBlur(paper, (0, 0), 0.8)
    gx = cv2.Sobel(paper, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(paper, cv2.CV_32F, 0, 1, ksize=3) / 8
    grad = np.hypot(gx, gy)
    grad[~valid] = 0
    edges = (grad > 2.0).astype(np.uint8) * 255
    width, height = x1 - x0 - 2 * margin, y1 - y0 - 2 * margin
    span = min(width, height)
    if span < 20:
        return 0.0, ""
    lines = cv2.HoughLinesP(edges, 1, np.pi / 360, threshold=int(0.3 * span), minLineLength=int(0.45 * span), maxLineGap=int(0.02 * span))
    if lines is None:
        return 0.0, ""
    best = (0.0, "")
    for xa, ya, xb, yb in lines.reshape(-1, 4):
        length = float(np.hypot(xb - xa, yb - ya))
        n = int(length)
        xs = np.linspace(xa, xb, n).astype(int)
        ys = np.linspace(ya, yb, n).astype(int)
        along = grad[ys, xs]
        support = float(np.mean(along > 2.0))
        strength = float(np.median(along))
        dx, dy = abs(xb - xa) / max(length, 1), abs(yb - ya) / max(length, 1)
        extent = min(width / max(dx, 1e-3), height / max(dy, 1e-3))  # the chord across the sheet this way
        coverage = length / extent
        score = float(np.clip((coverage - 0.4) / 0.3, 0, 1) * np.clip((support - 0.5) / 0.3, 0, 1) * np.clip(strength / 3.0, 0, 1))
        if score > best[0]:
            angle = float(np.degrees(np.arctan2(yb - ya, xb - xa)))
            best = (score, f"straight fold line {length / mm:.0f} mm long ({coverage:.0%} across) at {angle:.0f}°")
    return best


def paper_area(pm: PaperMap, shape: tuple[int, int], margin_mm: float = 3.0) -> np.ndarray:
    """The page's own paper at another resolution: inside its rectangle, away from edges and gaps."""
    x0, y0, x1, y1 = pm.page_box
    m = int(round(margin_mm * pm.px_per_mm))
    valid = np.zeros(pm.missing.shape, np.uint8)
    valid[y0 + m : y1 - m, x0 + m : x1 - m] = 1
    valid[cv2.dilate(pm.missing.astype(np.uint8), _disk(2 * margin_mm * pm.px_per_mm)) > 0] = 0
    return cv2.resize(valid, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def _ink_marks(gray: np.ndarray, dpi: float, pm: PaperMap) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Paper level, and each ink mark's darkest point and area, at FADING_DPI.

    Marks are found on an area-averaged copy; each one's darkest point is read from
    a min-pooled copy, so thin strokes keep the darkness they have at full resolution.
    """
    k = max(1, int(round(dpi / FADING_DPI)))
    if k > 1:
        # Whole k x k blocks, so the block minimum is an erosion read at each block's
        # corner and the area average takes OpenCV's fast integer-ratio path.
        blocks = gray[: gray.shape[0] // k * k, : gray.shape[1] // k * k]
        darkest_map = np.ascontiguousarray(cv2.erode(blocks, np.ones((k, k), np.uint8), anchor=(0, 0))[::k, ::k])
        small = cv2.resize(blocks, (darkest_map.shape[1], darkest_map.shape[0]), interpolation=cv2.INTER_AREA)
    else:
        darkest_map = small = gray
    valid = paper_area(pm, small.shape)
    if valid.sum() < 1000:
        return None
    paper = float(np.percentile(small[valid][::3], 75))
    block = max(15, (min(small.shape) // 30) | 1)
    ink = (cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 10) > 0) & valid
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if n < 20 or paper < 60:
        return None
    inked = np.flatnonzero(labels.ravel())
    ink_labels = labels.ravel()[inked]
    order = np.argsort(ink_labels, kind="stable")
    starts = np.searchsorted(ink_labels[order], np.arange(1, n))
    darkest = np.minimum.reduceat(darkest_map.ravel()[inked[order]], starts)
    return paper, darkest.astype(np.float32), stats[1:, cv2.CC_STAT_AREA]


def faded_score(gray: np.ndarray, dpi: float, pm: PaperMap, edge_spread: float | None = None) -> tuple[float, str]:
    """Ink barely darker than the paper, judged by the darkest few marks.

    Camera softness and thin strokes lighten a mark's darkest point, but hardly that
    of the boldest marks (titles, thick rules, heavy strokes and their crossings):
    the darkest 2 % of the character-sized marks show how dark the ink itself still
    is. Fading lightens every mark, those included. A strong blur (`edge_spread`,
    mm) lightens even bold strokes, by erf(w / (2√2 σ)) for a stroke w wide; that
    loss is given back before judging.
    """
    marks = _ink_marks(gray, dpi, pm)
    if marks is None:
        return 0.0, ""
    paper, darkest, areas = marks
    mark_area = (1.6 * FADING_DPI / 25.4) ** 2  # a character-sized mark, not a speck or a dot
    big = darkest[areas >= mark_area]
    if len(big) < 10:
        return 0.0, ""
    dark = float(np.percentile(big, 2))
    contrast = (paper - dark) / paper  # 1: black ink; 0: no ink
    if edge_spread:
        contrast /= math.erf(BOLD_STROKE_MM / (2 * math.sqrt(2) * edge_spread))
    score = float(np.clip((FADED_CONTRAST + 0.1 - contrast) / 0.2, 0, 1))  # 0.5 at FADED_CONTRAST
    return score, f"darkest ink {dark:.0f} on paper {paper:.0f} (contrast {contrast:.2f})"


def _gradient(image: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return cv2.magnitude(gx, gy)


def edge_spread_mm(gray: np.ndarray, dpi: float, pm: PaperMap) -> float | None:
    """Typical width (Gaussian sigma, mm) of the page's strong ink edges, whatever their contrast.

    A step edge of width s has a peak gradient ∝ 1/s; smoothed by a further sigma t it
    falls to ∝ 1/sqrt(s² + t²). The ratio r of the two peaks gives s = t / sqrt(r² - 1)
    without knowing the edge's contrast, so fading, lighting and ink colour drop out.
    Measured at SHARPNESS_DPI for t = 1 and 2 px over the strongest 2 % of edges in
    the middle of the page, on every other SHARPNESS_BAND_MM band of it (bands are stacked; rows
    near a seam, where the smoothing mixes two bands, are left out).
    """
    h, w = gray.shape
    middle = gray[int(h * 0.1) : int(h * 0.9), int(w * 0.1) : int(w * 0.9)]  # two thirds of the page are plenty
    scale = min(1.0, SHARPNESS_DPI / dpi)
    sh, sw = max(1, round(middle.shape[0] * scale)), max(1, round(middle.shape[1] * scale))
    full = paper_area(pm, (round(sh / 0.8), round(sw / 0.8)))
    fy, fx = int(full.shape[0] * 0.1), int(full.shape[1] * 0.1)
    frame_valid = np.zeros((sh, sw), bool)
    part = full[fy : fy + sh, fx : fx + sw]
    frame_valid[: part.shape[0], : part.shape[1]] = part
    band = max(40, int(round(SHARPNESS_BAND_MM * dpi / 25.4)))  # rows of the page's own resolution
    seam = 10  # px at SHARPNESS_DPI: reach of the t = 2 smoothing, the Sobel and the 3x3 peak search
    pieces, valid_pieces = [], []
    for r0 in range(0, middle.shape[0] - band // 2, 2 * band):
        rows = middle[r0 : r0 + band]
        # fx/fy, not a size: the same sampling in both directions as one resize of the whole page
        piece = cv2.resize(rows, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else rows
        piece = piece[:, :sw]
        y0 = int(round(r0 * scale))
        piece_valid = np.zeros(piece.shape, bool)
        part = frame_valid[y0 : y0 + piece.shape[0], : piece.shape[1]]
        piece_valid[: part.shape[0], : part.shape[1]] = part
        piece_valid[:seam] = False
        piece_valid[-seam:] = False
        pieces.append(piece)
        valid_pieces.append(piece_valid)
    if not pieces:
        return None
    small = np.concatenate(pieces).astype(np.float32)
    valid = np.concatenate(valid_pieces)
    if valid.sum() < 1000:
        return None
    fine = cv2.dilate(_gradient(small), np.ones((3, 3), np.uint8))  # the peak next to each coarse maximum
    widths = []
    for t in (1.0, 2.0):
        coarse = _gradient(cv2.GaussianBlur(small, (0, 0), t))
        strong = valid & (coarse >= np.percentile(coarse[::3, ::3][valid[::3, ::3]], 98))
        if strong.sum() < 100:
            return None
        r = float(np.median(fine[strong] / np.maximum(coarse[strong], 1e-3)))
        widths.append(t / np.sqrt(max(r * r - 1, 1e-3)))
    return float(np.mean(widths)) * 25.4 / min(dpi, SHARPNESS_DPI)


def blur_score(spread: float | None) -> tuple[float, str]:
    """0 sharp … 1 blurred: how wide the strong ink edges are, in millimetres."""
    if spread is None:
        return 0.0, ""
    score = float(np.clip((spread - BLUR_SPREAD_MM) / 0.03 + 0.5, 0, 1))  # 0.5 at BLUR_SPREAD_MM
    return score, f"ink edges spread over {spread:.3f} mm (sigma)"


def damage_scores(
    image: np.ndarray,
    *,
    dpi: float,
    background: tuple[float, ...] | None = None,
    overview: tuple[np.ndarray, float] | None = None,
) -> dict[str, tuple[float, str]]:
    """Every kind's score and a short description of the evidence.

    `overview` is (image, dpi) of the same page, upright and cropped alike, at a lower
    resolution of at least REGION_DPI (a caller's analysis copy): the coarse paper map
    is taken from it rather than from shrinking the full image again.
    """
    gray = _gray(image)
    coarse, coarse_dpi = overview if overview is not None and overview[1] >= REGION_DPI else (image, dpi)
    pm = paper_map(coarse, coarse_dpi, background)
    scores = missing_paper_scores(pm)
    scores["stain"] = stain_score(pm)
    scores["crease"] = crease_score(pm)
    spread = edge_spread_mm(gray, dpi, pm)
    scores["blur"] = blur_score(spread)
    scores["faded"] = faded_score(gray, dpi, pm, spread)
    return scores


def detect_damage(
    image: np.ndarray,
    *,
    dpi: float,
    background: tuple[float, ...] | None = None,
    overview: tuple[np.ndarray, float] | None = None,
) -> list[DamageFinding]:
    """Damage kinds whose score reaches its threshold, with the evidence.

    `background` is the scanner bed's colour (BGR) when the caller saw it around the
    page; without it the border of the image, or failing that a black bed, is assumed.
    `overview`: see damage_scores.
    """
    scores = damage_scores(image, dpi=dpi, background=background, overview=overview)
    return [
        DamageFinding(kind, round(score, 3), detail)
        for kind, (score, detail) in scores.items()
        if score >= THRESHOLDS[kind]
    ]
