"""The OCR engine interface: one protocol, typed options, one cached instance per process.

Engines only read text: they return lines with quads and scores and never decide
fields or layout (that is `pipeline.extract`). Heavy sessions are built once per
worker process and reused, because loading ONNX models costs more than a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.records import OcrLine, OcrResult


@dataclass(frozen=True)
class EngineOptions:
    max_side_len: int = 4000  # RapidOCR's default 2000 is too small for hand-filled cells
    text_score: float = 0.3  # lines below this are still returned, flagged low_confidence
    low_confidence: float = 0.6
    threads: int = 1  # intra-op threads: workers x threads must not exceed the cores
    page_upright: bool = False  # repair turned the page upright: horizontal lines skip the 180° line check
    lang: str = "chi_sim"  # Tesseract language(s), e.g. "chi_sim+chi_tra"
    model_dir: str = ""  # PaddleOCR: folder holding local det/rec model folders


class OcrEngine(Protocol):
    name: str
    version: str
    model: str

    def recognise(self, image: np.ndarray) -> OcrResult: ...


class EngineUnavailable(Exception):
    """The engine's package, binary or model files are not installed."""


_ENGINES: dict[tuple[str, EngineOptions], OcrEngine] = {}


def get_engine(name: str, options: EngineOptions) -> OcrEngine:
    """Return this process's engine for (name, options), building it on first use."""
    key = (name, options)
    if key not in _ENGINES:
        _ENGINES[key] = _build(name, options)
    return _ENGINES[key]


def _build(name: str, options: EngineOptions) -> OcrEngine:
    if name == "rapidocr":
        from ocr_models.rapid import RapidEngine

        return RapidEngine(options)
    if name == "tesseract":
        from ocr_models.tesseract import TesseractEngine

        return TesseractEngine(options)
    if name == "paddleocr":
        from ocr_models.paddle import PaddleEngine

        return PaddleEngine(options)
    raise EngineUnavailable(f"unknown OCR engine {name!r}: expected rapidocr, tesseract or paddleocr")


def is_low_confidence(score: float, options: EngineOptions) -> bool:
    """A line the clerk should check: below either threshold."""
    return score < max(options.text_score, options.low_confidence)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Gray, BGR or BGRA (transparent areas onto white) to 3-channel BGR uint8."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        white = np.full_like(image[:, :, :3], 255, dtype=np.float32)
        return (image[:, :, :3] * alpha + white * (1.0 - alpha)).astype(np.uint8)
    return image


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Vertical columns right to left, then horizontal lines in rows top to bottom, left to right.

    Engines order boxes by their top edge with a fixed pixel tolerance, which splits
    a row of differently sized handwritten boxes; rows here are grown by vertical overlap.
    """
    columns = sorted((ln for ln in lines if ln.vertical), key=lambda ln: (-ln.bbox[2], ln.bbox[1]))
    rows: list[list[OcrLine]] = []
    for line in sorted((ln for ln in lines if not ln.vertical), key=lambda ln: ln.bbox[1]):
        top, bottom = line.bbox[1], line.bbox[3]
        row = rows[-1] if rows else None
        if row is not None:
            row_top = min(ln.bbox[1] for ln in row)
            row_bottom = max(ln.bbox[3] for ln in row)
            overlap = min(bottom, row_bottom) - max(top, row_top)
            if overlap > 0.5 * min(bottom - top, row_bottom - row_top):
                row.append(line)
                continue
        rows.append([line])
    return columns + [ln for row in rows for ln in sorted(row, key=lambda ln: ln.bbox[0])]
