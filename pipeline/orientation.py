"""Which way up is the page: text-line direction, then PP-OCR's 0°/180° text classifier.

A deskewed page can stand in four ways. PP-OCR's text detector (DB) finds the
text lines; if most of them run top-to-bottom the page lies on its side. Crops of
the longest lines, turned horizontal, then go to PP-OCR's direction classifier
(`ch_ppocr_mobile_v2.0_cls`), which tells upright from upside-down text. Ruled
tables, stamps and handwriting do not mislead it the way stroke statistics can,
because both models were trained on printed and handwritten Chinese lines.

The models ship inside the rapidocr wheel; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

DET_MODEL = "PP-OCRv6_det_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
DET_SIDE = 512  # px: long side fed to the detector; text lines stay ~8 px tall on A4 (640 finds the same lines, +60 % CPU)
MAX_CROPS = 24
FLIP_MARGIN = 0.1  # most scans are upright: turn only when the classifier clearly says so
_CLS_SHAPE = (48, 192)


class OrientationModelMissing(RuntimeError):
    """The PP-OCR models are not where the rapidocr package keeps them."""


@dataclass(frozen=True)
class Orientation:
    rotation: int  # degrees clockwise to turn the page upright
    confidence: float  # 0..1
    lines: int  # text lines the decision rests on
    vertical_lines: int


def models_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise OrientationModelMissing("rapidocr is not installed; its bundled PP-OCR models decide page orientation")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@lru_cache(maxsize=None)
def _session(name: str):
    import onnxruntime as ort

    path = models_dir() / name
    if not path.exists():
        raise OrientationModelMissing(f"model file missing: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def detect_text_lines(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Axis-aligned boxes (x, y, w, h) of text lines in a deskewed gray page, in its pixels."""
    h, w = gray.shape
    scale = DET_SIDE / max(h, w)
    dh, dw = max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32)
    small = cv2.resize(gray, (dw, dh), interpolation=cv2.INTER_AREA)
    x = (small.astype(np.float32) / 255.0 - 0.5) / 0.5
    x = np.repeat(x[None, None], 3, axis=1)
    prob = _session(DET_MODEL).run(None, {"x": x})[0][0, 0]
    mask = (prob > 0.3).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    sx, sy = w / dw, h / dh
    boxes = []
    for i in range(1, n):
        bx, by, bw, bh, area = stats[i]
        if area < 12:
            continue
        # DB shrinks text regions; grow back by roughly the detector's unclip ratio.
        pad = 0.4 * min(bw, bh) + 1
        x0, y0 = max(0.0, (bx - pad) * sx), max(0.0, (by - pad) * sy)
        x1, y1 = min(w, (bx + bw + pad) * sx), min(h, (by + bh + pad) * sy)
        boxes.append((int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
    return boxes


def _classify_upright(crops: list[np.ndarray]) -> np.ndarray:
    """P(upright) per horizontal text crop."""
    th, tw = _CLS_SHAPE
    batch = np.zeros((len(crops), 3, th, tw), dtype=np.float32)
    for i, crop in enumerate(crops):
        ratio = crop.shape[1] / max(1, crop.shape[0])
        rw = int(min(tw, max(8, np.ceil(th * ratio))))
        resized = cv2.resize(crop, (rw, th), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        batch[i, :, :, :rw] = ((resized / 255.0 - 0.5) / 0.5)[None]
    probs = _session(CLS_MODEL).run(None, {"x": batch})[0]
    return probs[:, 0]


def estimate_orientation(gray: np.ndarray) -> Orientation:
    """Clockwise quarter-turn that makes a deskewed gray page upright."""
    boxes = [b for b in detect_text_lines(gray) if max(b[2], b[3]) >= 2.5 * min(b[2], b[3])]
    if not boxes:
        return Orientation(0, 0.0, 0, 0)
    horizontal = sum(b[2] for b in boxes if b[2] > b[3])
    vertical = sum(b[3] for b in boxes if b[3] >= b[2])
    sideways = vertical > horizontal
    chosen = [b for b in boxes if (b[3] >= b[2]) == sideways]
    thickness = np.median([min(b[2], b[3]) for b in chosen])
    chosen = [b for b in chosen if min(b[2], b[3]) <= 1.5 * thickness]  # merged multi-line blobs confuse the classifier
    chosen.sort(key=lambda b: max(b[2], b[3]), reverse=True)
    crops = []
    for x, y, w, h in chosen[:MAX_CROPS]:
        crop = gray[y : y + h, x : x + w]
        if sideways:
            crop = cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE)
        crops.append(crop)
    p_upright = _classify_upright(crops)
    weights = np.array([max(c.shape[1] / c.shape[0], 1.0) for c in crops])
    vote = float(np.sum(weights * (p_upright - 0.5)) / np.sum(weights))  # -0.5 .. 0.5
    upright = vote >= -FLIP_MARGIN
    if sideways:
        rotation = 90 if upright else 270
    else:
        rotation = 0 if upright else 180
    direction = abs(horizontal - vertical) / (horizontal + vertical)
    confidence = float(min(1.0, 2 * abs(vote)) * direction)
    return Orientation(rotation, round(confidence, 3), len(boxes), sum(1 for b in boxes if b[3] >= b[2]))
