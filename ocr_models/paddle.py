"""Optional PaddleOCR engine, pointed at local model folders (nothing is downloaded).

PaddleOCR is not a dependency: sites that install it (and its models) can compare
server-size PP-OCR models with the wheel-shipped small ones. Paddle inference is not
thread-safe (PaddleOCR#8640), so like every engine it lives once per worker process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ocr_models.base import EngineOptions, EngineUnavailable, as_bgr, is_low_confidence, reading_order
from pipeline.records import OcrLine, OcrResult


class PaddleEngine:
    name = "paddleocr"

    def __init__(self, options: EngineOptions) -> None:
        try:
            import paddleocr
        except ImportError as exc:
            raise EngineUnavailable(
                "paddleocr is not installed (pip install paddleocr paddlepaddle) - use the rapidocr engine instead"
            ) from exc
        model_dir = Path(options.model_dir) if options.model_dir else None
        if model_dir is None or not model_dir.is_dir():
            raise EngineUnavailable(
                "paddleocr needs local models: set [ocr] paddle_model_dir to a folder with det/ and rec/ model folders"
            )
        det_dir, rec_dir = model_dir / "det", model_dir / "rec"
        for folder in (det_dir, rec_dir):
            if not folder.is_dir():
                raise EngineUnavailable(f"paddleocr model folder missing: {folder}")
        self.options = options
        self.version = getattr(paddleocr, "__version__", "unknown")
        self.model = f"{det_dir.resolve().name}+{rec_dir.resolve().name}"
        self._ocr = paddleocr.PaddleOCR(
            text_detection_model_dir=str(det_dir),
            text_recognition_model_dir=str(rec_dir),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            text_rec_score_thresh=0.0,
            text_det_limit_side_len=options.max_side_len,
            text_det_limit_type="max",
            cpu_threads=options.threads,
        )

    def recognise(self, image: np.ndarray) -> OcrResult:
        started = time.perf_counter()
        page = as_bgr(image)
        lines: list[OcrLine] = []
        for result in self._ocr.predict(page):
            for poly, text, score in zip(result["rec_polys"], result["rec_texts"], result["rec_scores"], strict=True):
                if not text.strip():
                    continue
                quad = tuple((float(x), float(y)) for x, y in np.asarray(poly)[:4])
                width = abs(quad[1][0] - quad[0][0])
                height = abs(quad[3][1] - quad[0][1])
                lines.append(
                    OcrLine(
                        quad=quad,
                        text=text,
                        score=float(score),
                        vertical=len(text) > 1 and height >= 1.5 * width,
                        low_confidence=is_low_confidence(float(score), self.options),
                    )
                )
        height, width = page.shape[:2]
        return OcrResult(
            lines=reading_order(lines),
            engine=self.name,
            engine_version=self.version,
            model=self.model,
            width=width,
            height=height,
            seconds=time.perf_counter() - started,
        )
