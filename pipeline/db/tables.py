"""Imports every module that defines tables, so metadata and migrations see them all."""

from __future__ import annotations

import pipeline.db.models  # noqa: F401
import pipeline.db.register  # noqa: F401
