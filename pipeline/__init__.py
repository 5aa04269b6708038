"""Hukou Archive: the stages as a library (ingest, repair, OCR, extract, link, archive, index)."""

from __future__ import annotations

__version__ = "0.1.0"
