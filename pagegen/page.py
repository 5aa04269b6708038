"""One page: spec → drawn form → degradations → scan geometry, with exact truth."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import cv2
import numpy as np

from pagegen import draw
from pagegen.forms import DOC_TYPES, build_content, default_persons
from pagegen.layout import LAYOUTS_BY_DOC, Context, draw_form
from pipeline.records import DAMAGE_KINDS

PAPER_MM = {"A4": (210, 297), "B5": (176, 250), "16K": (184, 260), "32K": (130, 184)}
PAPER_BY_DOC = {
    "resident_registration": ("A4", "16K", "B5"),
    "household_register": ("A4",),
    "migration_certificate": ("32K", "B5"),
    "move_in_permit": ("32K", "B5"),
    "birth_registration": ("16K", "B5", "A4"),
    "death_deregistration": ("16K", "B5", "A4"),
    "change_correction": ("A4", "16K"),
    "id_card_application": ("16K", "B5", "A4"),
}
LANDSCAPE_LAYOUTS = ("columns",)


@dataclass
class PageSpec:
    """Everything that decides a page; the same spec always renders the same pixels."""

    seed: int
    doc_type: str = "resident_registration"
    layout: str = "grid2"
    label_variant: str = "dev"
    persons: list[dict] = field(default_factory=list)
    degradations: list[str] = field(default_factory=list)
    rotation: int = 0
    skew_deg: float = 0.0
    camera: bool = False
    dpi: int = 300
    paper: str = "A4"
    scan_margin_mm: float = 0.0  # flatbed: scanner background around the paper on every side


@dataclass
class GeneratedPage:
    image: np.ndarray  # BGR uint8, as the scanner or camera delivers it
    dpi: int | None  # None for camera shots
    truth: dict


def random_spec(rng: random.Random, doc_type: str | None = None, label_variant: str = "dev",
                damage: bool = True, camera: bool = False) -> PageSpec:
    """Draw a plausible page: form, layout, people, damage and how it was put on the scanner."""
    doc_type = doc_type or rng.choices(DOC_TYPES, weights=(5, 3, 3, 2, 2, 2, 1, 2))[0]
    dev_layouts, holdout_layouts = LAYOUTS_BY_DOC[doc_type]
    layouts = dev_layouts if label_variant == "dev" or rng.random() < 0.5 or not holdout_layouts else holdout_layouts
    seed = rng.randrange(2**31)
    degradations = []
    if damage:
        weights = {"stain": 0.3, "faded": 0.15, "crease": 0.25, "hole": 0.2, "missing_corner": 0.12, "tear": 0.12,
                   "blur": 0.08}
        degradations = [k for k in DAMAGE_KINDS if rng.random() < weights[k]]
    rotation = rng.choices((0, 180, 90, 270), weights=(80, 12, 4, 4))[0]
    skew = round(rng.uniform(-5, 5), 2) if rng.random() < 0.7 else round(rng.uniform(-0.6, 0.6), 2)
    return PageSpec(seed=seed, doc_type=doc_type, layout=rng.choice(layouts), label_variant=label_variant,
                    persons=default_persons(random.Random(seed ^ 0x5EED), doc_type), degradations=degradations,
                    rotation=rotation, skew_deg=skew, camera=camera,
                    paper=rng.choice(PAPER_BY_DOC[doc_type]),
                    scan_margin_mm=0.0 if rng.random() < 0.6 else round(rng.uniform(2, 20), 1))


def render_page(spec: PageSpec) -> GeneratedPage:
    if spec.doc_type not in PAPER_BY_DOC:
        raise ValueError(f"unknown doc_type {spec.doc_type!r}")
    unknown = set(spec.degradations) - set(DAMAGE_KINDS)
    if unknown or spec.rotation not in (0, 90, 180, 270):
        raise ValueError(f"bad degradations {sorted(unknown)} or rotation {spec.rotation}")
    rng = random.Random(spec.seed)
    persons = spec.persons or default_persons(random.Random(spec.seed ^ 0x5EED), spec.doc_type)
    content = build_content(rng, spec.doc_type, spec.label_variant, persons)
    mm = spec.dpi / 25.4
    w_mm, h_mm = PAPER_MM[spec.paper]
    if spec.layout in LANDSCAPE_LAYOUTS:
        w_mm, h_mm = h_mm, w_mm
    width, height = int(round(w_mm * mm)), int(round(h_mm * mm))
    sheet = draw.Sheet(width, height, rng, rng.choice(draw.PRINT_FONTS), rng.choice(draw.PRINT_INKS),
                       max_char=rng.uniform(7, 10) * mm)
    ctx = Context(sheet, rng, mm)
    draw_form(ctx, content, spec.layout)

    damage_rng = random.Random(spec.seed * 7919 + 17)
    paper = draw.make_paper(damage_rng, width, height)
    # what shows through holes and where paper is missing: scanner lid, or the desk under a camera
    background = (42, 36, 30) if spec.camera else damage_rng.choice(((30, 30, 33), (46, 43, 41), (237, 237, 235)))
    if damage_rng.random() < 0.3:
        paper = draw.show_through(paper, sheet, damage_rng.uniform(0.04, 0.09))
    fade = damage_rng.uniform(0.45, 0.65) if "faded" in spec.degradations else 1.0
    page = draw.compose(paper, sheet, fade)
    regions = {"faded": (0, 0, width, height)} if fade < 1 else {}
    removed = np.zeros((height, width), np.uint8)  # where holes, tears and lost corners took the paper away
    for kind in DAMAGE_KINDS:  # fixed order; each kind has its own random stream
        if kind in spec.degradations and kind != "faded":
            regions[kind] = DAMAGERS[kind](random.Random(f"{spec.seed}:{kind}"), page, mm, background, removed)
    image, matrix, skew = _scan_geometry(damage_rng, page, spec, background)
    boxes = {k: b for k, b in ctx.boxes.items() if k in content.fields}

    truth = {
        "doc_type": spec.doc_type,
        "person_id": content.person_id,
        "fields": content.fields,
        "written": content.written,
        "rotation": spec.rotation,
        "skew_deg": skew,
        "damage": [k for k in DAMAGE_KINDS if k in spec.degradations],
        "damage_regions": {k: _box_through(matrix, regions[k], image.shape) for k in DAMAGE_KINDS if k in regions},
        "camera": spec.camera,
        "layout": spec.layout,
        "label_variant": spec.label_variant,
        "title": content.title,
        "page_size_mm": [w_mm, h_mm],
        "handwritten_values": sheet.handwritten,
        "boxes": {k: _box_through(matrix, b, image.shape) for k, b in boxes.items()},
        "page_corners": _corners_through(matrix, width, height),
        "occluded": sorted(k for k, b in boxes.items() if _lost_share(removed, b) > 0.15),
        "stamps": ["seal"] + ([content.cancel_stamp] if content.cancel_stamp else []),
    }
    struck = {it.key: it.struck for it in content.items if it.struck}
    if struck:
        truth["struck"] = struck  # crossed-out earlier values; ``fields`` hold the current ones
    if content.mentions:
        truth["mentions"] = content.mentions
    return GeneratedPage(image=image, dpi=None if spec.camera else spec.dpi, truth=truth)


# -- degradations (on the upright page, BGR uint8, in place) ----------------------------

def _blob(np_rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Irregular soft-edged blotch mask, 0..1."""
    small = np_rng.random((6, 6)).astype(np.float32)
    noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[-1:1:complex(0, h), -1:1:complex(0, w)].astype(np.float32)
    r = np.sqrt(xx**2 + yy**2)
    return np.clip((1.0 - r) * 2.2 + (noise - 0.5) * 1.6 - 0.3, 0, 1)


def _stain(rng: random.Random, page: np.ndarray, mm: float, background, removed: np.ndarray) -> tuple:
    h, w = page.shape[:2]
    np_rng = np.random.default_rng(rng.randrange(2**32))
    bw, bh = int(rng.uniform(25, 70) * mm), int(rng.uniform(20, 60) * mm)
    x0, y0 = rng.randrange(0, w - bw), rng.randrange(0, h - bh)
    mask = _blob(np_rng, bh, bw)
    soft = (mask > 0.05).astype(np.float32)
    rim = cv2.GaussianBlur(soft - cv2.erode(soft, np.ones((9, 9), np.uint8)), (0, 0), 3)
    tint = np.array(rng.choice(((0.68, 0.80, 0.90), (0.80, 0.86, 0.92), (0.62, 0.72, 0.82))), np.float32)
    strength = (cv2.GaussianBlur(soft, (0, 0), 6) * rng.uniform(0.5, 0.9) + rim * 0.6)[:, :, None]
    region = page[y0:y0 + bh, x0:x0 + bw]
    region[:] = cv2.convertScaleAbs(region * (1 - strength * (1 - tint)))
    return (x0, y0, x0 + bw, y0 + bh)


def _crease(rng: random.Random, page: np.ndarray, mm: float, background, removed: np.ndarray) -> tuple:
    """A fold: shadow on one side, a little light on the other, a dark line along the fold."""
    h, w = page.shape[:2]
    horizontal = rng.random() < 0.7
    length, across = (w, h) if horizontal else (h, w)
    pos = across * rng.uniform(0.35, 0.65)
    tilt = rng.uniform(-0.02, 0.02)
    sigma = rng.uniform(4, 9) * mm
    f = 4  # the shading is smooth: compute it at quarter resolution
    coords = (np.arange(across // f + 1, dtype=np.float32)[:, None] * f
              - (pos + tilt * np.arange(length // f + 1, dtype=np.float32)[None, :] * f))
    shade = np.where(coords > 0, 1 - 0.13 * np.exp(-np.abs(coords) / sigma),
                     1 + 0.05 * np.exp(-np.abs(coords) / (sigma * 0.5))).astype(np.float32)
    shade = shade if horizontal else shade.T
    shade = cv2.resize(shade, (w, h), interpolation=cv2.INTER_LINEAR)
    p0, p1 = (0, pos), (length, pos + tilt * length)
    if not horizontal:
        p0, p1 = p0[::-1], p1[::-1]
    cv2.line(shade, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 0.8, max(2, int(0.25 * mm)), cv2.LINE_AA)
    page[:] = cv2.multiply(page, cv2.merge([shade, shade, shade]), dtype=cv2.CV_8U)
    band = int(3 * sigma)
    lo, hi = min(p0[1 if horizontal else 0], p1[1 if horizontal else 0]), max(p0[1 if horizontal else 0], p1[1 if horizontal else 0])
    if horizontal:
        return (0, max(0, int(lo - band)), w, min(h, int(hi + band)))
    return (max(0, int(lo - band)), 0, min(w, int(hi + band)), h)


def _hole(rng: random.Random, page: np.ndarray, mm: float, background, removed: np.ndarray) -> tuple:
    h, w = page.shape[:2]
    radius = int(rng.uniform(2.5, 3.5) * mm)
    offset = int(rng.uniform(8, 14) * mm)
    gap = int(80 * mm) if h > 150 * mm else int(60 * mm)
    mask = np.zeros((h, w), np.uint8)
    along_left = rng.random() < 0.7
    centres = []
    for k in (-1, 1):
        if along_left:
            centres.append((offset, h // 2 + k * gap // 2))
        else:
            centres.append((w // 2 + k * gap // 2, offset))
    for c in centres:
        cv2.circle(mask, c, radius, 255, -1, lineType=cv2.LINE_AA)
        cv2.circle(page, c, radius + 3, (140, 153, 166), 2, lineType=cv2.LINE_AA)  # crushed fibre rim
    _fill(page, mask, background, removed)
    xs, ys = [c[0] for c in centres], [c[1] for c in centres]
    return (min(xs) - radius - 4, min(ys) - radius - 4, max(xs) + radius + 5, max(ys) + radius + 5)


def _jagged(rng: random.Random, p0, p1, n: int, amp: float) -> list[tuple[int, int]]:
    pts = []
    for i in range(n + 1):
        t = i / n
        x = p0[0] + (p1[0] - p0[0]) * t
        y = p0[1] + (p1[1] - p0[1]) * t
        j = rng.uniform(-amp, amp) if 0 < i < n else 0
        pts.append((int(x + j), int(y + j)))
    return pts


def _missing_corner(rng: random.Random, page: np.ndarray, mm: float, background, removed: np.ndarray) -> tuple:
    h, w = page.shape[:2]
    a, b = int(rng.uniform(0.06, 0.22) * w), int(rng.uniform(0.05, 0.18) * h)
    corner = rng.choice(("tl", "tr", "bl", "br"))
    cx, cy = (0 if corner[1] == "l" else w - 1), (0 if corner[0] == "t" else h - 1)
    sx, sy = (1 if corner[1] == "l" else -1), (1 if corner[0] == "t" else -1)
    edge = _jagged(rng, (cx + sx * a, cy), (cx, cy + sy * b), 14, 1.5 * mm)
    poly = np.array([(cx, cy)] + edge, np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 255)
    _fill(page, mask, background, removed)
    xs, ys = poly[:, 0], poly[:, 1]
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def _tear(rng: random.Random, page: np.ndarray, mm: float, background, removed: np.ndarray) -> tuple:
    """A bite torn out of one edge, with the lighter torn paper core along the rip."""
    h, w = page.shape[:2]
    side = rng.choice(("top", "bottom", "left", "right"))
    length = (w if side in ("top", "bottom") else h) * rng.uniform(0.12, 0.3)
    depth = rng.uniform(6, 30) * mm
    start = rng.uniform(0.1, 0.9 - length / (w if side in ("top", "bottom") else h)) * (w if side in ("top", "bottom") else h)
    n = 18
    pts = [(start, 0.0)]
    for i in range(1, n):
        t = i / n
        d = depth * math.sin(math.pi * t) ** 0.7 * rng.uniform(0.6, 1.1)
        pts.append((start + length * t, d))
    pts.append((start + length, 0.0))
    if side == "top":
        poly = [(x, y) for x, y in pts]
    elif side == "bottom":
        poly = [(x, h - 1 - y) for x, y in pts]
    elif side == "left":
        poly = [(y, x) for x, y in pts]
    else:
        poly = [(w - 1 - y, x) for x, y in pts]
    poly = np.array(poly, np.int32)
    cv2.polylines(page, [poly], False, (237, 242, 245), max(3, int(0.6 * mm)), cv2.LINE_AA)  # torn fibres
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 255)
    _fill(page, mask, background, removed)
    return (int(poly[:, 0].min()) - 3, int(poly[:, 1].min()) - 3, int(poly[:, 0].max()) + 4, int(poly[:, 1].max()) + 4)


def _blur(rng: random.Random, page: np.ndarray, mm: float, background, removed: np.ndarray) -> tuple:
    sigma = rng.uniform(1.6, 2.6)
    page[:] = cv2.GaussianBlur(page, (0, 0), sigma)
    return (0, 0, page.shape[1], page.shape[0])


def _fill(page: np.ndarray, mask: np.ndarray, background, removed: np.ndarray) -> None:
    """Paint the scanner background where the paper is gone (only inside the mask's bounding box)."""
    x, y, bw, bh = cv2.boundingRect(mask)
    roi, m = page[y:y + bh, x:x + bw], mask[y:y + bh, x:x + bw]
    roi[m > 0] = np.array(background, np.uint8)
    np.maximum(removed[y:y + bh, x:x + bw], m, out=removed[y:y + bh, x:x + bw])


DAMAGERS = {"stain": _stain, "crease": _crease, "hole": _hole, "missing_corner": _missing_corner, "tear": _tear,
            "blur": _blur}


# -- scan geometry ------------------------------------------------------------------------------

def _scan_geometry(rng: random.Random, page: np.ndarray, spec: PageSpec, background):
    """Tilt by skew (CCW positive), turn by -rotation, or photograph on a desk; returns the 3x3 map too."""
    if spec.camera:
        return _camera_shot(rng, page, spec)
    matrix = np.eye(3)
    image = page
    if spec.scan_margin_mm:
        pad = int(round(spec.scan_margin_mm * spec.dpi / 25.4))
        image = cv2.copyMakeBorder(page, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=background)
        matrix = np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]], float)
    h, w = image.shape[:2]
    if spec.skew_deg:
        rad = math.radians(abs(spec.skew_deg))
        nw = int(math.ceil(w * math.cos(rad) + h * math.sin(rad))) + 8
        nh = int(math.ceil(h * math.cos(rad) + w * math.sin(rad))) + 8
        m = cv2.getRotationMatrix2D((w / 2, h / 2), spec.skew_deg, 1.0)
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        image = cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=background)
        matrix = np.vstack([m, [0, 0, 1]]) @ matrix
    for _ in range(spec.rotation // 90):
        hh, ww = image.shape[:2]
        image = np.rot90(image)
        matrix = np.array([[0, 1, 0], [-1, 0, ww - 1], [0, 0, 1]], float) @ matrix
    return np.ascontiguousarray(image), matrix, float(spec.skew_deg)


def _camera_shot(rng: random.Random, page: np.ndarray, spec: PageSpec):
    """Page on a dark desk under uneven light, seen in perspective by a document camera; no DPI."""
    h, w = page.shape[:2]
    np_rng = np.random.default_rng(rng.randrange(2**32))
    turned = spec.rotation in (90, 270)
    page_landscape = (w > h) != turned
    fw, fh = (3264, 2448) if page_landscape else (2448, 3264)
    desk_color = np.array(rng.choice(((0.10, 0.13, 0.18), (0.16, 0.15, 0.14), (0.08, 0.10, 0.09))), np.float32)
    desk = np_rng.normal(1, 0.15, (fh // 16, fw // 16)).astype(np.float32)[:, :, None] * desk_color * 255
    desk = cv2.GaussianBlur(desk, (0, 0), 1.5)
    frame = cv2.resize(np.clip(desk, 0, 255).astype(np.uint8), (fw, fh), interpolation=cv2.INTER_LINEAR)
    angle = math.radians(spec.rotation + spec.skew_deg)  # counter-clockwise in the image
    pw, ph = (h, w) if turned else (w, h)
    scale = min(fw / pw, fh / ph) * rng.uniform(0.78, 0.88)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) - [w / 2, h / 2]
    rot = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    dst = corners @ rot.T * scale + [fw / 2 + rng.uniform(-0.04, 0.04) * fw, fh / 2 + rng.uniform(-0.04, 0.04) * fh]
    dst += np.array([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(4)]) * 0.02 * min(fw, fh)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    image = cv2.warpPerspective(page, matrix, (fw, fh), dst=frame, flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_TRANSPARENT)
    # uneven light: a tilted plane times a vignette, computed small and scaled up
    yy, xx = np.mgrid[0:1:complex(0, 48), 0:1:complex(0, 64)].astype(np.float32)
    gx, gy = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)
    light = (1.0 + gx * (xx - 0.5) + gy * (yy - 0.5)) * (1 - 0.5 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2))
    light = cv2.resize(light * rng.uniform(0.9, 1.05), (fw, fh), interpolation=cv2.INTER_LINEAR)
    image = cv2.multiply(image, cv2.merge([light, light, light]), dtype=cv2.CV_8U)
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    noise = np.empty(image.shape, np.int16)
    cv2.setRNGSeed(rng.randrange(2**31))
    cv2.randn(noise, 0, 3)
    image = cv2.add(image, noise, dtype=cv2.CV_8U)
    # the measurable skew: direction of the page's top edge relative to the intended turn
    top = dst[1] - dst[0]
    measured = -math.degrees(math.atan2(top[1], top[0])) - spec.rotation
    measured = (measured + 180) % 360 - 180
    return image, matrix, round(measured, 2)


def _lost_share(removed: np.ndarray, box) -> float:
    """Share of a value's box where the paper is gone."""
    x0, y0, x1, y1 = (max(0, v) for v in box)
    area = removed[y0:y1, x0:x1]
    return float(area.mean() / 255) if area.size else 0.0


def _corners_through(matrix: np.ndarray, width: int, height: int) -> list[list[float]]:
    """The paper's top-left, top-right, bottom-right and bottom-left corners in the delivered image."""
    pts = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float) @ matrix.T
    return [[round(x, 1), round(y, 1)] for x, y in pts[:, :2] / pts[:, 2:3]]


def _box_through(matrix: np.ndarray, box: tuple, shape) -> list[int]:
    """Axis-aligned box in the delivered image covering ``box`` (x0, y0, x1, y1) of the upright page."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], float) @ matrix.T
    pts = pts[:, :2] / pts[:, 2:3]
    h, w = shape[:2]
    return [int(max(0, math.floor(pts[:, 0].min()))), int(max(0, math.floor(pts[:, 1].min()))),
            int(min(w, math.ceil(pts[:, 0].max()))), int(min(h, math.ceil(pts[:, 1].max())))]
