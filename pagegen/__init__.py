"""Synthetic pre-1990 hukou pages with exact ground truth.

Used by the tests, the benches and the shipped sample batch. Public API:

- ``make_person(rng, **overrides) -> dict``: a register-like person.
- ``PageSpec`` / ``random_spec(rng, doc_type=None, label_variant="dev", damage=True, camera=False)``.
- ``render_page(spec) -> GeneratedPage`` (``image`` BGR uint8, ``dpi`` or None for camera shots, ``truth``).
- ``make_batch(out_dir, pages=6, seed=0, ...)``: page files (tif/jpg/png/pdf), ``batch.toml``, ``truth.jsonl``,
  ``register.csv`` (and ``duplicates.jsonl`` when asked for 重户 rows).
- CLI: ``python -m pagegen OUT_DIR --pages N --seed S``.

Truth (one JSON object per page; interfaces.md §4 conventions):

- ``doc_type``, ``person_id`` (the register key of the principal person), ``title``, ``layout``,
  ``label_variant``, ``page_size_mm``, ``camera``.
- ``fields``: normalised values as the export must give them (ISO dates, 18-digit IDs even where
  the page shows 15 digits, 男/女, ethnicity with 族, ditto marks resolved); ``written``: the exact
  text on the page for the same keys.
- ``mentions`` (household registers, birth registrations): ``{role, person_id, fields, written}``,
  plus ``cancelled`` ("迁出"/"死亡"/"注销") for a household member struck out in red.
- ``rotation``: the clockwise turn that makes the delivered image upright; ``skew_deg``: the
  content tilt, counter-clockwise positive (for camera shots, measured from the page's top edge).
- ``damage``: kinds present; ``damage_regions``: per kind, the box [x0, y0, x1, y1] of the
  delivered image it touched; ``occluded``: field keys whose value lost paper to a hole, tear or
  missing corner.
- ``boxes``: per field key, the box of its written value in the delivered image;
  ``page_corners``: the paper's corners (TL, TR, BR, BL; upright-page sense) in the delivered image.
- ``handwritten_values``: every hand-filled string; ``struck``: crossed-out earlier values by key;
  ``stamps``: "seal" plus any 注销/迁出/死亡 rubber stamp.

Label and title wordings come in two disjoint sets (``label_variant`` "dev" / "holdout");
hold-out pages may also use the ``vertical``, ``card2`` and ``vertical_rl`` (竖排) layout families
and vertical table headers that dev pages never use. ``register.csv`` holds every person on the pages plus
distractors (a third share a name with someone on the pages); 20 % of its IDs are in the
15-digit form and 15 % of its addresses are newer than the page's.
"""

from __future__ import annotations

from pagegen.batch import make_batch
from pagegen.page import DAMAGE_KINDS, GeneratedPage, PageSpec, random_spec, render_page
from pagegen.people import make_household, make_person

__all__ = ["DAMAGE_KINDS", "GeneratedPage", "PageSpec", "make_batch", "make_household", "make_person",
           "random_spec", "render_page"]
