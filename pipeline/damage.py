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
- faded: the ink is barely darker than the paper;
- blur: the steepest ink edges are soft.
Findings whose score reaches the kind's threshold are returned.
"""

from __future__ import annotations

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


def paper_map(image: np.ndarray, dpi: float, background: tuple[float, ...] | None = None) -> PaperMap:
    small = _resize(image, dpi, REGION_DPI)
    colour = small.astype(np.float32) if small.ndim == 3 else cv2.cvtColor(small, cv2.COLOR_GRAY2BGR).astype(np.float32)
    gray = _gray(small)
    px_per_mm = REGION_DPI / 25.4
    paper = cv2.dilate(gray, _disk(2.0 * px_per_mm)).astype(np.float32)  # lighter-of-neighbourhood: ink gone
    level = float(np.percentile(paper, 60))
    missing = _missing_paper(colour, gray, paper, level, background, px_per_mm)
    page = ~missing
    n, labels, stats, _ = cv2.connectedComponentsWithStats(page.astype(np.uint8), connectivity=4)
    if n > 1:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = stats[biggest, :4]
        box = (int(x), int(y), int(x + w), int(y + h))
    else:
        box = (0, 0, gray.shape[1], gray.shape[0])
    return PaperMap(colour, paper, missing, box, px_per_mm)


def _missing_paper(colour, gray, paper, level, background, px_per_mm) -> np.ndarray:
    """Where the scanner background shows instead of paper: much nearer the bed's colour than the paper's."""
    h, w = gray.shape
    if background is None:
        band = max(2, int(0.01 * min(h, w)))
        ring = np.concatenate([colour[:band].reshape(-1, 3), colour[-band:].reshape(-1, 3), colour[:, :band].reshape(-1, 3), colour[:, -band:].reshape(-1, 3)])
        ring_colour = np.median(ring, axis=0)
        if np.mean(np.linalg.norm(ring - ring_colour, axis=1) < 20) >= 0.6:
            background = tuple(ring_colour)
    near_bg = None
    if background is not None:
        bg = np.array(background[:3], np.float32)
        centre = colour[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)
        centre_gray = centre @ np.array([0.114, 0.587, 0.299], np.float32)
        paper_colour = np.median(centre[centre_gray >= np.percentile(centre_gray, 50)], axis=0)
        separation = float(np.linalg.norm(paper_colour - bg))
        if separation >= 30:
            near_bg = np.linalg.norm(colour - bg, axis=2) < 0.4 * separation
    if near_bg is None:
        near_bg = gray < 0.35 * level  # bed unknown or paper-coloured: only a black bed can be told from paper
    # Ink strokes are thin; background through a hole or a lost corner is thick.
    thick = cv2.morphologyEx(near_bg.astype(np.uint8), cv2.MORPH_OPEN, _disk(2.0 * px_per_mm))
    return thick.astype(bool)


def _components(mask: np.ndarray):
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [(labels == i, stats[i]) for i in range(1, n)]


def missing_paper_scores(pm: PaperMap) -> dict[str, tuple[float, str]]:
    """hole / missing_corner / tear from background showing inside the page's rectangle."""
    x0, y0, x1, y1 = pm.page_box
    inside = np.zeros_like(pm.missing)
    inside[y0:y1, x0:x1] = True
    gaps = pm.missing & inside
    mm2 = pm.px_per_mm**2
    corner = 0.08 * min(x1 - x0, y1 - y0)
    best = {"hole": (0.0, ""), "missing_corner": (0.0, ""), "tear": (0.0, "")}
    edge_tol = max(2, int(round(1.0 * pm.px_per_mm)))
    for mask, stat in _components(gaps):
        bx, by, bw, bh, area = (int(v) for v in stat)
        area_mm2 = area / mm2
        touches = {
            "left": bx <= x0 + edge_tol,
            "right": bx + bw >= x1 - edge_tol,
            "top": by <= y0 + edge_tol,
            "bottom": by + bh >= y1 - edge_tol,
        }
        if not any(touches.values()):
            # A hole: compact, at least a punch-hole's size (~4 mm across).
            solidity = area / max(1.0, cv2.contourArea(cv2.convexHull(np.argwhere(mask)[:, ::-1].astype(np.int32))))
            score = float(np.clip(area_mm2 / 12.0, 0, 1) * np.clip(solidity / 0.7, 0, 1))
            if score > best["hole"][0]:
                best["hole"] = (score, f"{area_mm2:.0f} mm² of background showing through at ({bx}, {by})")
            continue
        at_corner = any(
            touches[a] and touches[b] and _near_corner(mask, cx, cy, corner)
            for a, b, cx, cy in (("left", "top", x0, y0), ("right", "top", x1 - 1, y0), ("left", "bottom", x0, y1 - 1), ("right", "bottom", x1 - 1, y1 - 1))
        )
        if at_corner:
            score = float(np.clip(area_mm2 / 40.0, 0, 1))
            if score > best["missing_corner"][0]:
                best["missing_corner"] = (score, f"{area_mm2:.0f} mm² of a corner missing")
            continue
        # From one edge inward: a tear if it reaches in well beyond a cropping sliver.
        depth = max(
            bw if touches["left"] or touches["right"] else 0,
            bh if touches["top"] or touches["bottom"] else 0,
        )
        along = bh if touches["left"] or touches["right"] else bw
        edge_len = (y1 - y0) if touches["left"] or touches["right"] else (x1 - x0)
        depth_mm = min(bw, bh) / pm.px_per_mm if along > 0.6 * edge_len else depth / pm.px_per_mm
        if along > 0.6 * edge_len:
            continue  # a straight strip along a whole edge is the scan's margin, not damage
        score = float(np.clip(depth_mm / 8.0, 0, 1) * np.clip(area_mm2 / 20.0, 0, 1))
        if score > best["tear"][0]:
            best["tear"] = (score, f"paper torn away {depth_mm:.0f} mm deep from the edge")
    return best


def _near_corner(mask: np.ndarray, cx: int, cy: int, radius: float) -> bool:
    ys, xs = np.nonzero(mask)
    return bool(np.min(np.hypot(xs - cx, ys - cy)) <= radius)


def _smooth_trend(values: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that ignores invalid pixels (normalised convolution)."""
    w = valid.astype(np.float32)
    num = cv2.GaussianBlur(values * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)


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
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _disk(3 * pm.px_per_mm)).astype(bool)
    best = (0.0, "")
    mm2 = pm.px_per_mm**2
    for region, stat in _components(mask):
        area_mm2 = stat[cv2.CC_STAT_AREA] / mm2
        strength = float(np.percentile(darker[region], 75))
        score = float(np.clip(area_mm2 / 300.0, 0, 1) ** 0.5 * np.clip((strength - 8) / 17.0, 0, 1))
        if score > best[0]:
            best = (score, f"{area_mm2 / 100:.1f} cm² of paper {strength:.0f} levels darker than around it")
    return best


def crease_score(pm: PaperMap) -> tuple[float, str]:
    """A long straight line across the paper where its shade steps or ridges."""
    x0, y0, x1, y1 = pm.page_box
    paper = pm.paper.copy()
    valid = ~cv2.dilate(pm.missing.astype(np.uint8), _disk(3 * pm.px_per_mm)).astype(bool)
    margin = int(round(3 * pm.px_per_mm))
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
    span = min(x1 - x0, y1 - y0)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 360, threshold=int(0.3 * span), minLineLength=int(0.45 * span), maxLineGap=int(0.04 * span))
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
        score = float(np.clip(length / (0.6 * span), 0, 1) * np.clip(support / 0.7, 0, 1) * np.clip(strength / 3.0, 0, 1))
        if score > best[0]:
            angle = float(np.degrees(np.arctan2(yb - ya, xb - xa)))
            best = (score, f"straight fold line {length / pm.px_per_mm:.0f} mm long at {angle:.0f}°")
    return best


def paper_area(pm: PaperMap, shape: tuple[int, int], margin_mm: float = 3.0) -> np.ndarray:
    """The page's own paper at another resolution: inside its rectangle, away from edges and gaps."""
    x0, y0, x1, y1 = pm.page_box
    m = int(round(margin_mm * pm.px_per_mm))
    valid = np.zeros(pm.missing.shape, np.uint8)
    valid[y0 + m : y1 - m, x0 + m : x1 - m] = 1
    valid[cv2.dilate(pm.missing.astype(np.uint8), _disk(2 * margin_mm * pm.px_per_mm)) > 0] = 0
    return cv2.resize(valid, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def faded_score(gray: np.ndarray, dpi: float, pm: PaperMap) -> tuple[float, str]:
    """Ink barely darker than the paper: the darkest strokes reach less than half-way to black."""
    small = _resize(gray, dpi, 100.0)
    valid = paper_area(pm, small.shape)
    if valid.sum() < 1000:
        return 0.0, ""
    paper = float(np.percentile(small[valid], 75))
    block = max(15, (min(small.shape) // 30) | 1)
    ink = (cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 10) > 0) & valid
    if ink.sum() < 0.002 * valid.sum() or paper < 60:
        return 0.0, ""
    dark = float(np.percentile(small[ink], 10))
    contrast = (paper - dark) / paper  # 1: black ink; 0: no ink
    score = float(np.clip((0.62 - contrast) / 0.24, 0, 1))  # 0.5 at contrast 0.5
    return score, f"darkest ink {dark:.0f} on paper {paper:.0f} (contrast {contrast:.2f})"


def blur_score(gray: np.ndarray, dpi: float, pm: PaperMap) -> tuple[float, str]:
    """0 sharp … 1 blurred: the steepest ink edges at 200 dpi, against the ink/paper contrast."""
    small = _resize(gray, dpi, SHARPNESS_DPI) if dpi > SHARPNESS_DPI else gray
    valid = paper_area(pm, small.shape)
    if valid.sum() < 1000:
        return 0.0, ""
    values = small[valid]
    contrast = float(np.percentile(values, 90)) - float(np.percentile(values, 1))
    if contrast < 20:
        return 0.0, ""
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3) / 4
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3) / 4
    mag = np.hypot(gx, gy)[valid]
    strong = float(np.percentile(mag, 99.7))
    # A crisp edge crosses nearly all of the contrast within one pixel (Sobel/4 ≈ contrast);
    # a blur spreading it over ~2 px at 200 dpi (0.25 mm) halves that.
    sharpness = strong / contrast
    score = float(np.clip((0.9 - sharpness) / 0.2, 0, 1))
    return score, f"edge sharpness {sharpness:.2f} of contrast per pixel"


def damage_scores(image: np.ndarray, *, dpi: float, background: tuple[float, ...] | None = None) -> dict[str, tuple[float, str]]:
    """Every kind's score and a short description of the evidence."""
    gray = _gray(image)
    pm = paper_map(image, dpi, background)
    scores = missing_paper_scores(pm)
    scores["stain"] = stain_score(pm)
    scores["crease"] = crease_score(pm)
    scores["faded"] = faded_score(gray, dpi, pm)
    scores["blur"] = blur_score(gray, dpi, pm)
    return scores


def detect_damage(image: np.ndarray, *, dpi: float, background: tuple[float, ...] | None = None) -> list[DamageFinding]:
    """Damage kinds whose score reaches its threshold, with the evidence.

    `background` is the scanner bed's colour (BGR) when the caller saw it around the
    page; without it the border of the image, or failing that a black bed, is assumed.
    """
    scores = damage_scores(image, dpi=dpi, background=background)
    return [
        DamageFinding(kind, round(score, 3), detail)
        for kind, (score, detail) in scores.items()
        if score >= THRESHOLDS[kind]
    ]
