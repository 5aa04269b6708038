"""PP-OCRv6 (small det + rec, wheel-shipped) through rapidocr 3.x, with archival settings.

RapidOCR's own `__call__` shrinks the page to 2000 px, crops the text lines from
the shrunk page and drops lines below `text_score`. For hand-filled archive forms
we want the opposite, so only line detection goes through RapidOCR, on a copy of
the page of at most DETECT_SIDE px (detection at full 300 dpi costs five times as
much and finds the same lines); this module then crops every detected line from the
page at full resolution (up to `max_side_len`), runs the angle classifier, and
decodes the recogniser's CTC output itself:
every line is kept (weak ones flagged), and each character carries its n-best
alternatives for later name matching.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ocr_models.base import EngineOptions, EngineUnavailable, as_bgr, is_low_confidence, reading_order
from pipeline.records import CharAlternative, OcrLine, OcrResult

N_BEST = 3  # alternatives kept per character
MIN_ALTERNATIVE = 0.01  # probabilities below this are noise, not alternatives
VERTICAL_RATIO = 1.5  # RapidOCR rotates crops at least this much taller than wide
DETECT_SIDE = 1024  # px: finds the same lines as 1600 (or full 300 dpi) on forms at a third of the cost
BOX_THRESH = 0.3  # RapidOCR's 0.5 loses a lone character on a stain edge (a 女 in its cell)
REC_MIN_RATIO = 4.0  # recogniser input at least 4 line heights wide; RapidOCR pads every line to 320/48: -28 % rec CPU, same fields
SINGLE_LINE_MAX_HEIGHT = 120  # px: an image this low with nothing detected is one text line


@dataclass(frozen=True)
class _Decoded:
    text: str
    score: float
    alternatives: list[list[CharAlternative]]
    centers: list[float]  # per character, 0..1 along the crop


class RapidEngine:
    name = "rapidocr"

    def __init__(self, options: EngineOptions) -> None:
        try:
            from rapidocr import RapidOCR
            from rapidocr._version import __version__
        except ImportError as exc:  # pragma: no cover - rapidocr is a core dependency
            raise EngineUnavailable("rapidocr is not installed: pip install 'rapidocr>=3.4'") from exc
        self.options = options
        self.version = __version__
        self._ocr = RapidOCR(
            params={
                "Global.max_side_len": options.max_side_len,
                "Global.text_score": 0.0,
                "Global.log_level": "error",
                "Det.box_thresh": BOX_THRESH,
                "EngineConfig.onnxruntime.intra_op_num_threads": options.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                # RapidOCR turns the arena off; reusing buffers between pages and line batches saves ~15 % CPU
                "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,
            }
        )
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        cfg = self._ocr.cfg
        self.model = (
            f"{cfg.Det.ocr_version.value}-det-{cfg.Det.model_type.value}"
            f"+{cfg.Rec.ocr_version.value}-rec-{cfg.Rec.model_type.value}"
            f"+{cfg.Cls.ocr_version.value}-cls-{cfg.Cls.model_type.value}"
        )

    def recognise(self, image: np.ndarray) -> OcrResult:
        from rapidocr.utils.process_img import get_rotate_crop_image

        started = time.perf_counter()
        page = np.ascontiguousarray(as_bgr(image))
        height, width = page.shape[:2]
        if max(height, width) > self.options.max_side_len:
            page = _shrink(page, self.options.max_side_len)
        quads = self._detect(page)
        page_scale = width / page.shape[1]
        lines: list[OcrLine] = []
        if quads:
            crops = self._classify_angle([get_rotate_crop_image(page, quad.copy()) for quad in quads], quads)
            for quad, decoded in zip(quads, self._decode(crops), strict=True):
                if not decoded.text.strip():
                    continue
                lines.append(
                    OcrLine(
                        quad=tuple((float(x) * page_scale, float(y) * page_scale) for x, y in quad),
                        text=decoded.text,
                        score=decoded.score,
                        vertical=_is_vertical(quad, decoded.text),
                        alternatives=decoded.alternatives,
                        char_centers=decoded.centers,
                        low_confidence=is_low_confidence(decoded.score, self.options),
                    )
                )
        return OcrResult(
            lines=reading_order(lines),
            engine=self.name,
            engine_version=self.version,
            model=self.model,
            width=width,
            height=height,
            seconds=time.perf_counter() - started,
        )

    def _detect(self, page: np.ndarray) -> list[np.ndarray]:
        """Text line quads; a small crop with no detection is read as one line (a cell crop)."""
        height, width = page.shape[:2]
        small = _shrink(page, DETECT_SIDE)
        detected = self._ocr(small, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(detected, "boxes", None)
        if boxes is not None and len(boxes):
            scale = width / small.shape[1]
            return [np.asarray(box, dtype=np.float32) * scale for box in boxes]
        if height <= SINGLE_LINE_MAX_HEIGHT and width >= height:
            return [np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)]
        return []

    def _classify_angle(self, crops: list[np.ndarray], quads: list[np.ndarray]) -> list[np.ndarray]:
        """Turn lines the classifier reads as upside down. On a page repair already turned
        upright a horizontal line cannot be, so only columns (turned on their side to be read) are checked."""
        checked = [i for i, quad in enumerate(quads) if not self.options.page_upright or _is_column(quad)]
        if not checked:
            return crops
        turned = self._ocr._load_cls_model()([crops[i] for i in checked]).img_list
        crops = list(crops)
        for i, crop in zip(checked, turned, strict=True):
            crops[i] = crop
        return crops

    def _decode(self, crops: list[np.ndarray]) -> list[_Decoded]:
        """Recognise crops in width-sorted batches and CTC-decode with per-character n-best."""
        rec = self._ocr._load_rec_model()
        charset = rec.postprocess_op.character
        img_h = rec.rec_image_shape[1]
        order = np.argsort([c.shape[1] / float(c.shape[0]) for c in crops])
        results: list[_Decoded | None] = [None] * len(crops)
        for start in range(0, len(crops), rec.rec_batch_num):
            batch_ids = order[start : start + rec.rec_batch_num]
            max_ratio = max([REC_MIN_RATIO] + [crops[i].shape[1] / crops[i].shape[0] for i in batch_ids])
            batch = np.stack([rec.resize_norm_img(crops[i], max_ratio) for i in batch_ids]).astype(np.float32)
            probs = rec.session(batch)
            padded = img_h * max_ratio
            for row, i in enumerate(batch_ids):
                used = min(padded, np.ceil(img_h * crops[i].shape[1] / crops[i].shape[0]))
                results[i] = _ctc_decode(probs[row], charset, padded / used)
        return [r for r in results if r is not None]


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    scale = side / max(image.shape[:2])
    if scale >= 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _ctc_decode(probs: np.ndarray, charset: list[str], stretch: float = 1.0) -> _Decoded:
    """Greedy CTC decoding (blank = 0, repeats merged) keeping the top characters per step.

    A character's position is its time step's centre; `stretch` maps the padded
    recogniser input back onto the crop (the crop fills 1/stretch of it).
    """
    best = probs.argmax(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    chars: list[str] = []
    confs: list[float] = []
    centers: list[float] = []
    steps = probs.shape[0]
    alternatives: list[list[CharAlternative]] = []
    for step in np.flatnonzero(keep):
        row = probs[step]
        chars.append(charset[best[step]])
        confs.append(float(row[best[step]]))
        centers.append(float(min(1.0, (step + 0.5) / steps * stretch)))
        candidates = np.argpartition(row, -(N_BEST + 1))[-(N_BEST + 1) :]  # a full sort of the charset is slow
        top = candidates[np.argsort(row[candidates])[::-1]]
        alternatives.append(
            [CharAlternative(charset[j], float(row[j])) for j in top if j != 0 and row[j] >= MIN_ALTERNATIVE][:N_BEST]
        )
    score = float(np.mean(confs)) if confs else 0.0
    return _Decoded("".join(chars), score, alternatives, centers)


def _is_vertical(quad: np.ndarray, text: str) -> bool:
    return len(text) > 1 and _is_column(quad)


def _is_column(quad: np.ndarray) -> bool:
    width = float(np.linalg.norm(quad[0] - quad[1]))
    height = float(np.linalg.norm(quad[0] - quad[3]))
    return height >= VERTICAL_RATIO * width
