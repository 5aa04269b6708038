"""PP-OCRv6 (small det + rec, wheel-shipped) through rapidocr 3.x, with archival settings.

RapidOCR's own `__call__` shrinks the page to 2000 px, crops the text lines from
the shrunk page and drops lines below `text_score`. For hand-filled archive forms
we want the opposite, so only detection goes through RapidOCR (on a page of at most
`max_side_len`), and this module crops every detected line from the full-resolution
page, runs the angle classifier, and decodes the recogniser's CTC output itself:
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
VERTICAL_RATIO = 1.5
SINGLE_LINE_MAX_HEIGHT = 120  # px: an image this low with nothing detected is one text line  # RapidOCR rotates crops at least this much taller than wide


@dataclass(frozen=True)
class _Decoded:
    text: str
    score: float
    alternatives: list[list[CharAlternative]]


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
                "EngineConfig.onnxruntime.intra_op_num_threads": options.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
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
        quads = self._detect(page)
        lines: list[OcrLine] = []
        if quads:
            crops = [get_rotate_crop_image(page, quad.copy()) for quad in quads]
            crops = self._ocr._load_cls_model()(crops).img_list
            for quad, decoded in zip(quads, self._decode(crops), strict=True):
                if not decoded.text.strip():
                    continue
                lines.append(
                    OcrLine(
                        quad=tuple((float(x), float(y)) for x, y in quad),
                        text=decoded.text,
                        score=decoded.score,
                        vertical=_is_vertical(quad, decoded.text),
                        alternatives=decoded.alternatives,
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
        detected = self._ocr(page, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(detected, "boxes", None)
        if boxes is not None and len(boxes):
            return [np.asarray(box, dtype=np.float32) for box in boxes]
        height, width = page.shape[:2]
        if height <= SINGLE_LINE_MAX_HEIGHT and width >= height:
            return [np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)]
        return []

    def _decode(self, crops: list[np.ndarray]) -> list[_Decoded]:
        """Recognise crops in width-sorted batches and CTC-decode with per-character n-best."""
        rec = self._ocr._load_rec_model()
        charset = rec.postprocess_op.character
        _, img_h, img_w = rec.rec_image_shape[:3]
        order = np.argsort([c.shape[1] / float(c.shape[0]) for c in crops])
        results: list[_Decoded | None] = [None] * len(crops)
        for start in range(0, len(crops), rec.rec_batch_num):
            batch_ids = order[start : start + rec.rec_batch_num]
            max_ratio = max([img_w / img_h] + [crops[i].shape[1] / crops[i].shape[0] for i in batch_ids])
            batch = np.stack([rec.resize_norm_img(crops[i], max_ratio) for i in batch_ids]).astype(np.float32)
            probs = rec.session(batch)
            for row, i in enumerate(batch_ids):
                results[i] = _ctc_decode(probs[row], charset)
        return [r for r in results if r is not None]


def _ctc_decode(probs: np.ndarray, charset: list[str]) -> _Decoded:
    """Greedy CTC decoding (blank = 0, repeats merged) keeping the top characters per step."""
    best = probs.argmax(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    chars: list[str] = []
    confs: list[float] = []
    alternatives: list[list[CharAlternative]] = []
    for step in np.flatnonzero(keep):
        row = probs[step]
        chars.append(charset[best[step]])
        confs.append(float(row[best[step]]))
        top = np.argsort(row)[::-1][: N_BEST + 1]
        alternatives.append(
            [CharAlternative(charset[j], float(row[j])) for j in top if j != 0 and row[j] >= MIN_ALTERNATIVE][:N_BEST]
        )
    score = float(np.mean(confs)) if confs else 0.0
    return _Decoded("".join(chars), score, alternatives)


def _is_vertical(quad: np.ndarray, text: str) -> bool:
    width = float(np.linalg.norm(quad[0] - quad[1]))
    height = float(np.linalg.norm(quad[0] - quad[3]))
    return len(text) > 1 and height >= VERTICAL_RATIO * width
