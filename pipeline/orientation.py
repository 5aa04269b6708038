"""Which way up is the page: PP-OCR's text detector and direction classifier, on single characters.

A deskewed page can stand in four ways, and its text may run across (横排) or
down (竖排): the direction of the text lines alone cannot tell a sideways page
from an upright page written in columns. Characters can. PP-OCR's text
detector (DB) finds the text lines; each line is cut into characters at the
gaps along it, and for each quarter turn the turned characters are set side by
side and shown to PP-OCR's direction classifier (`ch_ppocr_mobile_v2.0_cls`).
That classifier was trained on lines including vertical ones turned a quarter
counter-clockwise, so it calls characters "upright" both when they are upright
and when they lie a quarter turn counter-clockwise, and "upside down" in the
other two ways. The upright turn is therefore the one that, together with the
turn a quarter further counter-clockwise, scores highest.

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
DET_SIDE = 448  # px: long side fed to the detector; text lines stay ~7 px tall on A4 (640 finds the same lines, at twice the CPU)
MAX_LINES = 6  # longest text lines whose characters are shown to the classifier
CHARS_PER_LINE = 4
UPRIGHT_MARGIN = 0.1  # most scans are upright: turn only when the classifier clearly prefers another way
CHARACTER_PATTERN = 0.4  # least gap between the two upright-looking turns and the other two
MAX_LINE_CROPS = 24
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


def character_cells(line: np.ndarray) -> list[np.ndarray]:
    """Crops of single characters of a line crop, cut at the ink gaps along its long axis.

    Pieces split by an inner gap (二, 三, 六) are joined while the whole stays about
    as long as the line is thick; where no gaps show (joined handwriting) the line is
    cut into squares.
    """
    tall = line.shape[0] > line.shape[1]
    run = line if tall else line.T  # characters stacked top to bottom
    length, thickness = run.shape
    middle = run[:, thickness // 6 : thickness - thickness // 6]  # rules along the line's sides are not characters
    _, ink = cv2.threshold(middle, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    rows = np.concatenate([[0], (ink.sum(axis=1) > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(rows))
    pieces: list[list[int]] = []
    for start, end in zip(edges[::2], edges[1::2]):
        if pieces and end - pieces[-1][0] <= 1.15 * thickness:
            pieces[-1][1] = end
        else:
            pieces.append([int(start), int(end)])
    spans = [(a, b) for a, b in pieces if 0.5 * thickness <= b - a <= 1.15 * thickness]
    if not spans:
        spans = [(a, a + thickness) for a in range(0, length - thickness + 1, thickness)]
    cells = [run[a:b] for a, b in spans]
    return cells if tall else [c.T for c in cells]


_TURN = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _row_of(cells: list[np.ndarray], turn: int) -> np.ndarray:
    """The cells turned clockwise by `turn`, each centred in a square tile, side by side."""
    side = max(max(c.shape) for c in cells)
    tiles = []
    for cell in cells:
        cell = cv2.rotate(cell, _TURN[turn]) if turn else cell
        tile = np.full((side, side + side // 6), 255, np.uint8)
        y, x = (side - cell.shape[0]) // 2, (side - cell.shape[1]) // 2
        tile[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
        tiles.append(tile)
    return np.hstack(tiles)


def _character_turns(gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> dict[int, float] | None:
    """P(upright) of the page's characters after each clockwise quarter turn, or None without characters."""
    lines = []
    for x, y, w, h in boxes[: 2 * MAX_LINES]:
        cells = character_cells(gray[y : y + h, x : x + w])[:CHARS_PER_LINE]
        if len(cells) >= 2:
            lines.append(cells)
        if len(lines) == MAX_LINES:
            break
    if not lines:
        return None
    weights = np.array([len(cells) for cells in lines], np.float32)
    turns = (0, 90, 180, 270)
    p = _classify_upright([_row_of(cells, turn) for turn in turns for cells in lines]).reshape(len(turns), len(lines))
    return {turn: float(p[i] @ weights / weights.sum()) for i, turn in enumerate(turns)}


def estimate_orientation(gray: np.ndarray) -> Orientation:
    """Clockwise quarter-turn that makes a deskewed gray page upright.

    Characters decide when they show the classifier's pattern for Chinese script
    (two neighbouring turns clearly upright, the other two clearly not); otherwise
    (Latin script, too few characters) whole lines decide, by their direction and
    the classifier's upright/upside-down vote.
    """
    boxes = [b for b in detect_text_lines(gray) if max(b[2], b[3]) >= 2.5 * min(b[2], b[3])]
    boxes.sort(key=lambda b: max(b[2], b[3]), reverse=True)
    vertical = sum(1 for b in boxes if b[3] >= b[2])
    upright = _character_turns(gray, boxes)
    if upright is not None:
        pair = {turn: upright[turn] + upright[(turn + 270) % 360] for turn in upright}
        best = max(pair, key=pair.get)
        pattern = min(upright[best], upright[(best + 270) % 360]) - max(upright[(best + 90) % 360], upright[(best + 180) % 360])
        if pattern >= CHARACTER_PATTERN:
            if pair[best] - pair[0] < UPRIGHT_MARGIN:
                best = 0
            return Orientation(best, round(min(1.0, pattern), 3), len(boxes), vertical)
    return _line_orientation(gray, boxes)


def _line_orientation(gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> Orientation:
    """By whole lines: most run across or down; their longest crops, turned horizontal, tell upright from upside down."""
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
    for x, y, w, h in chosen[:MAX_LINE_CROPS]:
        crop = gray[y : y + h, x : x + w]
        if sideways:
            crop = cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE)
        crops.append(crop)
    p_upright = _classify_upright(crops)
    weights = np.array([max(c.shape[1] / c.shape[0], 1.0) for c in crops])
    vote = float(np.sum(weights * (p_upright - 0.5)) / np.sum(weights))  # -0.5 .. 0.5
    upright = vote >= -UPRIGHT_MARGIN
    if sideways:
        rotation = 90 if upright else 270
    else:
        rotation = 0 if upright else 180
    direction = abs(horizontal - vertical) / (horizontal + vertical)
    confidence = float(min(1.0, 2 * abs(vote)) * direction)
    return Orientation(rotation, round(confidence, 3), len(boxes), sum(1 for b in boxes if b[3] >= b[2]))
