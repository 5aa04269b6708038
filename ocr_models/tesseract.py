"""Tesseract 5 (chi_sim / chi_tra traineddata from Debian) through pytesseract, line level.

A second opinion beside PP-OCR: weaker on handwriting, but an independent engine is
useful for comparing printed labels and for sites that cannot run ONNX models.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ocr_models.base import EngineOptions, EngineUnavailable, as_bgr, is_low_confidence, reading_order
from pipeline.records import OcrLine, OcrResult

# Tesseract reads Chinese with a space between every character; keep spaces only between Latin words.
_LATIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class TesseractEngine:
    name = "tesseract"

    def __init__(self, options: EngineOptions) -> None:
        try:
            import pytesseract
        except ImportError as exc:
            raise EngineUnavailable("pytesseract is not installed: pip install pytesseract") from exc
        try:
            self.version = str(pytesseract.get_tesseract_version())
            available = set(pytesseract.get_languages(config=""))
        except pytesseract.TesseractNotFoundError as exc:
            raise EngineUnavailable("the tesseract binary is not installed: apt-get install tesseract-ocr") from exc
        missing = [lang for lang in options.lang.split("+") if lang not in available]
        if missing:
            raise EngineUnavailable(f"tesseract language data missing: {', '.join(missing)} (apt-get install tesseract-ocr-chi-sim)")
        self.options = options
        self.model = options.lang
        self._tesseract = pytesseract

    def recognise(self, image: np.ndarray) -> OcrResult:
        started = time.perf_counter()
        page = as_bgr(image)[:, :, ::-1]  # pytesseract takes RGB arrays
        os.environ["OMP_THREAD_LIMIT"] = str(max(1, self.options.threads))
        data = self._tesseract.image_to_data(
            np.ascontiguousarray(page), lang=self.options.lang, config="--psm 3", output_type=self._tesseract.Output.DICT
        )
        lines = [self._line(words) for words in _group_words(data).values()]
        height, width = page.shape[:2]
        return OcrResult(
            lines=reading_order([ln for ln in lines if ln.text]),
            engine=self.name,
            engine_version=self.version,
            model=self.model,
            width=width,
            height=height,
            seconds=time.perf_counter() - started,
        )

    def _line(self, words: list[tuple[str, float, int, int, int, int]]) -> OcrLine:
        text = ""
        for word, *_ in words:
            if text and text[-1] in _LATIN and word[0] in _LATIN:
                text += " "
            text += word
        score = float(np.mean([conf for _, conf, *_ in words])) / 100.0
        x0 = min(w[2] for w in words)
        y0 = min(w[3] for w in words)
        x1 = max(w[2] + w[4] for w in words)
        y1 = max(w[3] + w[5] for w in words)
        return OcrLine(
            quad=((x0, y0), (x1, y0), (x1, y1), (x0, y1)),
            text=text,
            score=score,
            low_confidence=is_low_confidence(score, self.options),
        )


def _group_words(data: dict[str, list]) -> dict[tuple[int, int, int], list[tuple[str, float, int, int, int, int]]]:
    """Words of image_to_data grouped by (block, paragraph, line)."""
    lines: dict[tuple[int, int, int], list[tuple[str, float, int, int, int, int]]] = {}
    for i, word in enumerate(data["text"]):
        word = word.strip()
        if not word or float(data["conf"][i]) < 0:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(
            (word, float(data["conf"][i]), data["left"][i], data["top"][i], data["width"][i], data["height"][i])
        )
    return lines
