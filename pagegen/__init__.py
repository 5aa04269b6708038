"""Synthetic pre-1990 hukou pages with exact ground truth.

Used by the tests, the benches and the shipped sample batch. Public API:

- ``make_person(rng, **overrides) -> dict``: a register-like person.
- ``PageSpec`` / ``random_spec(rng, doc_type=None, label_variant="dev", damage=True, camera=False)``.
- ``render_page(spec) -> GeneratedPage`` (``image`` BGR uint8, ``dpi`` or None for camera shots, ``truth``).
- ``make_batch(out_dir, pages=6, seed=0, ...)``: page files, ``batch.toml``, ``truth.jsonl``, ``register.csv``.
- CLI: ``python -m pagegen OUT_DIR --pages N --seed S``.

Truth conventions (interfaces.md §4): ``fields`` hold normalised values as the export must give them
(ISO dates, 18-digit IDs, 男/女, ethnicity with 族), ``written`` the exact text on the page;
``rotation`` is the clockwise turn that makes the scan upright, ``skew_deg`` the content tilt
(counter-clockwise positive); ``damage_regions`` give, per damage kind, the box [x0, y0, x1, y1]
of the delivered image it touched. Label and title wordings come in two disjoint sets
(``label_variant`` "dev" / "holdout"); hold-out pages may also use the ``vertical`` and ``card2``
layout families that dev pages never use.
"""

from __future__ import annotations

from pagegen.batch import make_batch
from pagegen.page import DAMAGE_KINDS, GeneratedPage, PageSpec, random_spec, render_page
from pagegen.people import make_household, make_person

__all__ = ["DAMAGE_KINDS", "GeneratedPage", "PageSpec", "make_batch", "make_household", "make_person",
           "random_spec", "render_page"]
