"""Index stage: the keys under which a page is found by a person's name, and what each kind of match is worth.

The same keys serve the indexing side (every name on a page) and the query side (what
the clerk typed), so a match means the same thing in both directions.
"""

from __future__ import annotations

from pipeline.namekeys import name_keys

# Fields that hold a person's name: a clerk's name search looks in all of them.
NAME_FIELDS = ("name", "former_name", "head_name", "father_name", "mother_name")

# What a match on each key says about the two names, best first.
KEY_WEIGHTS = {"norm": 1.0, "variant": 0.95, "skeleton": 0.9, "pinyin": 0.75, "masked": 0.7}


def search_keys(name: str) -> list[tuple[str, str]]:
    """(kind, key) pairs for a name; empty for text that holds no name characters."""
    k = name_keys(name)
    if not k.norm:
        return []
    keys = {("norm", k.norm), ("variant", k.variant), ("skeleton", k.skeleton)}
    keys.update(("pinyin", p) for p in k.pinyin)
    keys.update(("masked", m) for m in k.masked if len(k.norm) >= 3)  # a 2-char name with one char masked says little
    return sorted(keys)
