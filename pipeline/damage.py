"""Physical damage on a page, from general image cues (not from any one generator's look)."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.records import DamageFinding

THRESHOLDS = {"blur": 0.5}


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def blur_score(gray: np.ndarray, dpi: float) -> float:
    """0 sharp … 1 blurred: how soft the steepest ink edges are, at 150 dpi."""
    scale = min(1.0, 150.0 / dpi)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy)
    strong = np.percentile(mag, 99.5)
    # A crisp ink edge at 150 dpi reaches ~4x the ink/paper contrast in a Sobel response.
    contrast = float(np.percentile(small, 95)) - float(np.percentile(small, 2))
    if contrast < 20:
        return 0.0
    sharpness = strong / (4.0 * contrast)
    return float(np.clip(1.0 - sharpness, 0.0, 1.0))


def detect_damage(image: np.ndarray, *, dpi: float) -> list[DamageFinding]:
    """Scores per damage kind; kinds whose score passes its threshold are returned."""
    gray = _gray(image)
    scores = {"blur": blur_score(gray, dpi)}
    return [
        DamageFinding(kind, round(score, 3), f"score {score:.2f} ≥ {THRESHOLDS[kind]:.2f}")
        for kind, score in scores.items()
        if score >= THRESHOLDS[kind]
    ]
