"""Match keys for Chinese personal names.

Names are 2–3 characters and collide, and two error sources change them: clerks who
wrote a name from speech (homophones → pinyin key) and OCR or hard-to-read handwriting
(look-alike characters → visual skeleton key, four-corner key, one-character-masked
keys). Every key is derived from the raw name, which is never altered.
"""

from __future__ import annotations

import itertools
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_PATH = Path(__file__).resolve().parent.parent / "config" / "linkage" / "namekeys.toml"
MASK = "*"
MAX_PINYIN_KEYS = 16

# Characters clerks and OCR put inside names that are not part of the name.
_DROP = set(" \t\u3000·•・.．-－_()（）[]【】\"'“”‘’,，、;；:：?？!！")


@dataclass(frozen=True)
class NameKeyData:
    t2s_keep: frozenset[str]
    surname_rep: dict[str, str]  # surname -> representative of its variant class
    compound_surnames: tuple[str, ...]  # longest first
    surname_readings: dict[str, str]
    skeleton_rep: dict[str, str]  # character -> representative of its confusion class


@dataclass(frozen=True)
class BlockingKeys:
    """The keys a register row is indexed by: cheap enough for millions of rows."""

    norm: str  # NFKC, t2s match key, noise removed
    surname: str
    given: str
    variant: str  # surname folded to its variant class
    skeleton: str  # every character folded to its visual-confusion class
    pinyin_canonical: str  # one reading (surname-aware)


@dataclass(frozen=True)
class NameKeys(BlockingKeys):
    """All keys of one name, for comparison levels and clerk search."""

    pinyin: tuple[str, ...]  # every heteronym reading, capped
    four_corner: str
    masked: tuple[str, ...]


@lru_cache(maxsize=1)
def load_data(path: Path = DATA_PATH) -> NameKeyData:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    surname_rep = {s: cls[0] for cls in raw["surname_classes"] for s in cls}
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for group in raw["confusion_groups"]:
        first = find(group[0])
        for ch in group[1:]:
            root = find(ch)
            if root != first:
                parent[root] = first
    return NameKeyData(
        t2s_keep=frozenset(raw["t2s_keep"]),
        surname_rep=surname_rep,
        compound_surnames=tuple(sorted(raw["compound_surnames"], key=len, reverse=True)),
        surname_readings=dict(raw["surname_readings"]),
        skeleton_rep={c: find(c) for c in parent},
    )


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # opencc-python-reimplemented (Apache-2.0)

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _four_corner():
    import four_corner_method  # MIT

    return four_corner_method.FourCornerMethod()


def _t2s_char(ch: str) -> str:
    out = _t2s().convert(ch)
    return out if len(out) == 1 else ch


class _CharFold(dict):
    """str.translate table that learns each character's fold on first sight: the same
    per-character rule at C speed for the long place texts compared millions of times."""

    def __init__(self, keep: frozenset[str]):
        super().__init__()
        self.keep = keep

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = "" if ch in _DROP or ch.isspace() else ch if ch in self.keep else _t2s_char(ch)
        self[code] = out
        return out


@lru_cache(maxsize=1)
def _char_fold() -> _CharFold:
    return _CharFold(load_data().t2s_keep)


def normalize_name(raw: str) -> str:
    """The match key of a name: NFKC, noise dropped, traditional→simplified per character
    except the name-safe exceptions (陳乾 → 陈乾, never 陈干)."""
    return unicodedata.normalize("NFKC", raw or "").translate(_char_fold())


def split_surname(norm: str) -> tuple[str, str]:
    """Surname and given name; compound surnames (欧阳, 司马 …) stay whole."""
    if len(norm) >= 3 and norm[:2] in _compound_heads():
        for compound in load_data().compound_surnames:
            if norm.startswith(compound) and len(norm) > len(compound):
                return compound, norm[len(compound):]
    return norm[:1], norm[1:]


@lru_cache(maxsize=1)
def _compound_heads() -> frozenset[str]:
    return frozenset(c[:2] for c in load_data().compound_surnames)


def surname_class(surname: str) -> str:
    """Representative of the surname's variant class ({萧,肖} → 萧)."""
    return load_data().surname_rep.get(surname, surname)


def skeleton(norm: str) -> str:
    """Every character replaced by its visual-confusion class representative (己/已/巳 → 己)."""
    rep = load_data().skeleton_rep
    return "".join(rep.get(ch, ch) for ch in norm)


@lru_cache(maxsize=65536)
def _readings(ch: str) -> tuple[str, ...]:
    from pypinyin import Style, pinyin  # MIT

    if not _is_han(ch):
        return (ch,)
    return tuple(dict.fromkeys(pinyin(ch, style=Style.NORMAL, heteronym=True)[0]))


def pinyin_keys(norm: str, cap: int = MAX_PINYIN_KEYS) -> tuple[str, ...]:
    """Toneless pinyin of the name, one key per combination of heteronym readings (capped).

    Keeping every reading matters: the default reading of common surnames is wrong
    (单 dan/shan, 曾 ceng/zeng, 解 jie/xie)."""
    if not norm:
        return ()
    per_char = [_readings(ch) for ch in norm]
    return tuple(itertools.islice(("".join(combo) for combo in itertools.product(*per_char)), cap))


def pinyin_canonical(norm: str) -> str:
    """One reading per character, surname-aware: the key a register row is indexed by."""
    if not norm:
        return ""
    surname, given = split_surname(norm)
    readings = load_data().surname_readings
    head = "".join(readings.get(ch) or _readings(ch)[0] for ch in surname)
    return head + "".join(_readings(ch)[0] for ch in given)


def four_corner(norm: str) -> str:
    """Four-corner codes (5 digits each) joined by '-': a coarse shape key; '?????' where a
    character has none."""
    table = _four_corner()
    return "-".join(table.query(ch) or "?????" for ch in norm)


@lru_cache(maxsize=1)
def _common_chars_by_corner_code() -> dict[str, tuple[str, ...]]:
    """The GB 2312 characters (the 6,763 in everyday print, names included) grouped by
    four-corner code: the inventory look-alike readings are drawn from."""
    table = _four_corner()
    by_code: dict[str, list[str]] = {}
    for row in range(0xB0, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                ch = bytes((row, cell)).decode("gb2312")
            except UnicodeDecodeError:
                continue
            code = table.query(ch)
            if code:
                by_code.setdefault(code, []).append(ch)
    return {code: tuple(chars) for code, chars in by_code.items()}


@lru_cache(maxsize=65536)
def lookalike_chars(ch: str) -> tuple[str, ...]:
    """Common characters whose four-corner code is at most one digit from ch's (王/玉/主,
    桂/柱): the shape seed of hukou-domain.md §3.2, the same test as the `shape1` level."""
    code = _four_corner().query(ch)
    if not code:
        return ()
    by_code = _common_chars_by_corner_code()
    near = [c for i in range(len(code)) for d in "0123456789" for c in by_code.get(code[:i] + d + code[i + 1:], ())]
    return tuple(c for c in dict.fromkeys(near) if c != ch)


def lookalike_names(norm: str) -> tuple[str, ...]:
    """Every name one look-alike character away from norm: a blocking key for a page whose
    name has one misread character and whose birth date is missing or misread too."""
    return tuple(dict.fromkeys(norm[:i] + c + norm[i + 1:] for i, ch in enumerate(norm) for c in lookalike_chars(ch)))


def masked_keys(norm: str) -> tuple[str, ...]:
    """One key per position with that character masked (王*兰, *桂兰, 王桂*): catches one
    wrong or illegible character of a name of 2+ characters."""
    if len(norm) < 2:
        return ()
    return tuple(norm[:i] + MASK + norm[i + 1:] for i in range(len(norm)))


def inner_masked_key(keys: BlockingKeys) -> str | None:
    """The surname class and the given name with its first character masked (王*兰): the
    masked key a register row is indexed by. The other positions need no key of their own:
    a masked surname leaves the given name (an indexed column), a masked last character
    leaves a prefix of the skeleton (an indexed range). None for a one-character given name,
    where the key would be the surname alone."""
    if len(keys.given) < 2:
        return None
    return keys.variant[: len(keys.surname)] + MASK + keys.given[1:]


@lru_cache(maxsize=262144)
def blocking_keys(raw: str) -> BlockingKeys:
    norm = normalize_name(raw)
    surname, given = split_surname(norm)
    variant = surname_class(surname) + given
    return BlockingKeys(norm, surname, given, variant, skeleton(variant), pinyin_canonical(variant))


@lru_cache(maxsize=262144)
def name_keys(raw: str) -> NameKeys:
    b = blocking_keys(raw)
    return NameKeys(
        b.norm, b.surname, b.given, b.variant, b.skeleton, b.pinyin_canonical,
        pinyin=pinyin_keys(b.variant),
        four_corner=four_corner(b.norm),
        masked=masked_keys(b.norm),
    )


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f"
