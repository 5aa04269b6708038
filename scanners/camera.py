"""Document-camera (高拍仪) and phone photos of a page lying on a desk.

The page is found as the largest bright quadrilateral on a darker background,
its perspective is corrected to a flat rectangle, and — since a photo carries no
true resolution — the effective DPI is estimated from the page's physical size
class, chosen by the rectified aspect ratio. All the common archive paper sizes
are close to √2, so the class is a best guess; `capture` records the measured
ratio and the class so a clerk can see how the DPI was reached.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline.records import Master
from scanners.flatbed import MIN_PLAUSIBLE_SCAN_DPI

# name → (short side, long side) in millimetres
PAGE_SIZE_CLASSES: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "B5": (176.0, 250.0),
    "16开": (184.0, 260.0),
    "32开": (130.0, 184.0),
}

_DETECT_SIDE = 800  # px: page finding works on a preview this size
_MIN_PAGE_FRACTION = 0.12  # of the frame: smaller bright shapes are not the page
_MAX_PAGE_FRACTION = 0.97  # above this the page fills the frame: nothing to flatten
_MIN_CONTRAST = 25.0  # grey levels between paper and desk


def find_page_quad(image: np.ndarray) -> np.ndarray | None:
    """The page's four corners (float32, clockwise from the top-left-most) in image pixels, or None."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = _DETECT_SIDE / max(gray.shape)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    scale = min(scale, 1.0)
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    _, mask = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)  # text and rules inside the page
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)  # thin bright clutter on the desk
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    frame_area = small.shape[0] * small.shape[1]
    fraction = cv2.contourArea(contour) / frame_area
    if not (_MIN_PAGE_FRACTION <= fraction <= _MAX_PAGE_FRACTION):
        return None
    page_mask = np.zeros_like(mask)
    cv2.drawContours(page_mask, [contour], -1, 255, cv2.FILLED)
    inside = float(np.median(small[page_mask > 0]))
    outside = float(np.median(small[page_mask == 0]))
    if inside - outside < _MIN_CONTRAST:
        return None
    quad = _quadrilateral(contour)
    h, w = small.shape
    margin = 0.01 * max(h, w)
    touching = (quad[:, 0] < margin) | (quad[:, 0] > w - 1 - margin) | (quad[:, 1] < margin) | (quad[:, 1] > h - 1 - margin)
    if touching.sum() >= 2:
        return None  # the page runs out of the frame: no whole page to flatten
    return _order_corners(quad / scale)


def _quadrilateral(contour: np.ndarray) -> np.ndarray:
    """Four corners of the page outline: the crossings of its four longest straight sides.

    Intersecting the sides, rather than keeping outline vertices, puts a torn or
    missing corner back where the sheet's rectangle had it.
    """
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    approx = cv2.approxPolyDP(hull, 0.01 * perimeter, True).reshape(-1, 2).astype(np.float64)
    if len(approx) == 4:
        return approx.astype(np.float32)
    if len(approx) > 4:
        n = len(approx)
        lengths = [np.linalg.norm(approx[(i + 1) % n] - approx[i]) for i in range(n)]
        sides = sorted(sorted(range(n), key=lambda i: lengths[i])[-4:])
        corners = [_crossing(approx[a], approx[(a + 1) % n], approx[b], approx[(b + 1) % n]) for a, b in zip(sides, sides[1:] + sides[:1])]
        if all(c is not None for c in corners):
            quad = np.array(corners, np.float32)
            area = cv2.contourArea(quad)
            if cv2.isContourConvex(quad.reshape(-1, 1, 2)) and cv2.contourArea(hull) * 0.97 <= area <= cv2.contourArea(hull) * 1.25:
                return quad
    # Rounded or ragged outline: the minimal rectangle is the honest fallback.
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)


def _crossing(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray | None:
    d1, d2 = p2 - p1, q2 - q1
    denom = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(denom) < 1e-9:
        return None
    t = ((q1[0] - p1[0]) * d2[1] - (q1[1] - p1[1]) * d2[0]) / denom
    return p1 + t * d1


def _order_corners(quad: np.ndarray) -> np.ndarray:
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    ordered = quad[np.argsort(angles)]  # clockwise in image coordinates (y down)
    start = int(np.argmin(ordered.sum(axis=1)))
    return np.roll(ordered, -start, axis=0).astype(np.float32)


def has_perspective(quad: np.ndarray, tolerance: float = 0.02) -> bool:
    """Opposite sides of unequal length: seen at an angle, not lying flat on glass."""
    tl, tr, br, bl = quad
    top, bottom = np.linalg.norm(tr - tl), np.linalg.norm(br - bl)
    left, right = np.linalg.norm(bl - tl), np.linalg.norm(br - tr)
    return bool(abs(top - bottom) > tolerance * max(top, bottom) or abs(left - right) > tolerance * max(left, right))


def looks_like_camera_capture(master: Master) -> bool:
    """No scanner resolution in the file, and a page lying on a visible background.

    A page seen in perspective is a photo. One seen square-on (an overhead document
    camera) is a photo too, unless the batch declares a scan resolution: then it is
    more likely a flatbed scan whose file lacks the tag.
    """
    has_scan_dpi = master.capture.get("dpi_source") in ("file", "exif") and (master.dpi or 0) >= MIN_PLAUSIBLE_SCAN_DPI
    if has_scan_dpi:
        return False
    quad = find_page_quad(master.image)
    if quad is None:
        return False
    return has_perspective(quad) or master.capture.get("dpi_source") != "batch"


def size_class(aspect: float) -> str:
    """The paper size class whose long/short ratio is nearest to the measured one."""
    return min(PAGE_SIZE_CLASSES, key=lambda k: abs(PAGE_SIZE_CLASSES[k][1] / PAGE_SIZE_CLASSES[k][0] - aspect))


def edge_tilts(quad: np.ndarray) -> list[float]:
    """Tilt of each page edge (tl→tr, tr→br, br→bl, bl→tl) from square to the frame, ccw positive.

    Under perspective the edges disagree; the edge that is the page's top once it is
    upright is the one a reader sees as the page's tilt, so repair picks it.
    """
    tilts = []
    for i in range(4):
        dx, dy = quad[(i + 1) % 4] - quad[i]
        angle = -np.degrees(np.arctan2(dy, dx)) + 90.0 * i  # edge i runs at -90°·i when the page is square
        tilts.append(round(float((angle + 45.0) % 90.0 - 45.0), 3))
    return tilts


def flatten_master(master: Master) -> Master:
    """The page cut out of the photo and made a flat rectangle, with an estimated DPI."""
    quad = find_page_quad(master.image)
    capture = dict(master.capture)
    if quad is None:
        capture["camera_page_found"] = False
        return replace(master, scanner="camera", capture=capture)
    tl, tr, br, bl = quad
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    out_w, out_h = int(round(width)), int(round(height))
    target = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    flat = cv2.warpPerspective(master.image, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    aspect = max(out_w, out_h) / min(out_w, out_h)
    cls = size_class(aspect)
    short_mm, long_mm = PAGE_SIZE_CLASSES[cls]
    dpi = round(max(out_w, out_h) / (long_mm / 25.4), 1)
    capture.update(
        camera_page_found=True,
        page_quad=[[round(float(x), 1), round(float(y), 1)] for x, y in quad],
        page_aspect=round(aspect, 4),
        page_edge_tilts_deg=edge_tilts(quad),
        page_size_class=cls,
        page_size_mm=[short_mm, long_mm],
        dpi_source="page_size_class",
        photo_dpi=master.dpi,
    )
    return replace(master, image=flat, dpi=dpi, scanner="camera", capture=capture)
