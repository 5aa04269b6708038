"""Record linkage: tie a person named on a page to a register person, and find persons
registered twice.

Two passes, after hukou-domain.md §3: a deterministic pass on the ID number (confirmed
by name, birth date and sex: a number alone never links), then a Fellegi–Sunter
comparison whose m/u parameters were estimated without labels (Splink EM and random
sampling, see bench/link_model.py) and are read from config/linkage/model.json. Scoring
one page needs no database engine: candidates come in as plain `PersonRecord`s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline.namekeys import NameKeys, blocking_keys, name_keys, normalize_name
from pipeline.normalize import id_check_char, mask_id, normalize_id, upgrade_id15
from pipeline.records import LinkResult

MODEL_PATH = Path(__file__).resolve().parent.parent / "config" / "linkage" / "model.json"

class InvalidIdNumber(ValueError):
    """Not a 15-digit or a checksum-valid 18-digit resident ID number."""


@dataclass(frozen=True)
class PersonRecord:
    person_id: str
    name: str
    sex: str | None
    ethnicity: str | None
    birth_date: str | None
    id_hmac: str | None
    birthplace: str | None
    native_place: str | None
    address: str | None


@dataclass(frozen=True)
class MentionQuery:
    name: str | None
    sex: str | None
    ethnicity: str | None
    birth_date: str | None
    id_number: str | None  # 18-digit normalised plaintext; hashed here with the register's key
    birthplace: str | None = None
    native_place: str | None = None
    address: str | None = None
    name_alternatives: tuple[str, ...] = ()  # OCR n-best readings, former names


@dataclass(frozen=True)
class Level:
    m: float
    u: float


@dataclass(frozen=True)
class LinkModel:
    """Fellegi–Sunter parameters: per comparison, per agreement level, m and u."""

    comparisons: dict[str, dict[str, Level]]
    registered_share: float  # prior: how often a page's person is in the register at all
    register_size: int  # used when the caller does not give the real size
    duplicate_share: float  # prior: how often a register person has a second registration
    source: str = ""

    @cached_property
    def weights(self) -> dict[str, dict[str, float]]:
        """log2(m/u) of every level: the evidence each outcome adds."""
        return {c: {lv: math.log2(p.m / p.u) for lv, p in levels.items()} for c, levels in self.comparisons.items()}

    @cached_property
    def best_weights(self) -> dict[str, float]:
        return {c: max(0.0, *w.values()) for c, w in self.weights.items()}

    @cached_property
    def best_rest_weight(self) -> float:
        """The most the comparisons after name, birth date and ID can add."""
        return sum(w for c, w in self.best_weights.items() if c not in _SCREEN_FIRST)


@dataclass(frozen=True)
class LinkOptions:
    # The score is the candidate's posterior (calibrated: on bench/link.py pages scored 0.90–0.97
    # are right 94–96 % of the time, 0.97–0.99 95–97 %, ≥ 0.99 all). Link when a wrong link is
    # at most 3 % likely: undoing a page hung on the wrong person costs far more than one
    # clerk's confirmation (link iff (1 - p)·cost_wrong ≤ cost_review, cost_wrong ≈ 30 reviews).
    linked_threshold: float = 0.97
    review_threshold: float = 0.5  # below it the page's person is more likely someone else or unregistered
    model: LinkModel | None = None  # None: config/linkage/model.json


@dataclass(frozen=True)
class RegisterContext:
    """What the register knows beyond the candidates: its size and how common a name is
    (term-frequency adjustment: an exact 王伟 proves less than an exact 欧阳翠萼)."""

    register_size: int
    name_share: float | None = None  # share of register persons with the query's exact name
    # Share of register persons with the query's exact name and the query's sex. Given names
    # are strongly gendered (秀英, 建国), so name and sex are not independent evidence: an
    # exact name and sex together are weighed by how common that pair is, once.
    name_sex_share: float | None = None
    # Share of register persons born on the query's exact birth date (heaped dates such as
    # 1 January are common), and the share born in its year relative to two random persons
    # sharing a birth year: a birth year at the register's peak proves less than a rare one.
    date_share: float | None = None
    year_density: float | None = None  # share born in the query's year / Σ_years share²
    # Share of register persons whose name differs from the query's in exactly one character
    # in place (王桂英: 王桂X, 王X英, X桂英): u of the one-substitution name levels for this
    # very name; a common pattern proves less than a rare one, as for the exact name.
    one_off_share: float | None = None
    # Share of register names of the query name's length class (2 characters, or 3 and more):
    # the one-substitution levels' m is P(level | same person) over all names, so for one
    # name of that class it is m / this share (two_of_three only exists for 3+ characters).
    length_share: float | None = None
    # Share of register persons whose native place (籍贯) is written as their birthplace: the
    # two agree far more often than chance, so a stranger who shares the page's birthplace
    # shares its native place too with about this probability, not with its own u.
    origin_same_share: float | None = None
    # Where the page gives only a province for a place (birthplace, native_place): that
    # province's share of the register's values over Σ share² (1 on average): a city's
    # register holds mostly its own province, whose agreement then proves little.
    province_density: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DuplicateFinding:
    person_ids: list[str]
    score: float
    reasons: list[str] = field(default_factory=list)

    def export(self) -> dict[str, object]:
        return {"person_ids": list(self.person_ids), "score": round(self.score, 4), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class PairScore:
    levels: dict[str, str]  # comparison -> level name
    weight: float  # log2 Bayes factor, without the prior
    id_agrees: bool
    id_name_mismatch: bool  # same ID number but the names share nothing


# --- ID numbers ------------------------------------------------------------------------


_PLAIN_ID = re.compile(r"\d{17}[\dX]|\d{15}")


def upgrade_id(number: str) -> str:
    """The normalised 18-digit form of a resident ID number (15 → 18 with MOD 11-2, by
    pipeline.normalize); raises InvalidIdNumber for anything that is not a valid number.

    Register files hold millions of plain numbers: those take a fast path with the same
    outcome as pipeline.normalize.normalize_id (tests/test_link.py checks both agree)."""
    if _PLAIN_ID.fullmatch(number):
        full = upgrade_id15(number) if len(number) == 15 else number
        if id_check_char(full[:17]) == full[17] and _plausible_birth(full[6:14]):
            return full
    parsed = normalize_id(number)
    if parsed is None or not parsed.valid:
        flags = ", ".join(parsed.flags) if parsed else "no digits"
        raise InvalidIdNumber(f"not a valid resident ID number ({flags}): {mask_id((parsed.value if parsed else number) or '')}")
    return parsed.value


@lru_cache(maxsize=65536)  # a register holds some 40,000 distinct birth dates
def _plausible_birth(yyyymmdd: str) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return 1850 <= born.year <= date.today().year


def id_hmac(id_number: str, key: bytes) -> str:
    """Keyed hash of the normalised 18-digit number (a 15-digit number is upgraded first,
    so both forms of one number hash alike): equality search without plaintext."""
    return hmac_of_upgraded(upgrade_id(id_number), key)


def hmac_of_upgraded(id18: str, key: bytes) -> str:
    """id_hmac for a number `upgrade_id` has already normalised."""
    return hmac.new(key, id18.encode("ascii"), hashlib.sha256).hexdigest()


def with_id_evidence(query: MentionQuery) -> MentionQuery:
    """The page person with the birth date and sex its ID number carries (GB 11643: the
    birth segment and the sequence's parity) where the page itself gives none, or only the
    year the number agrees with. The number's digits are evidence even when one misread
    digit, or a register row without the number, keeps the number itself from matching."""
    full_date = query.birth_date is not None and len(query.birth_date) == 10
    if not query.id_number or (full_date and query.sex):
        return query
    parsed = normalize_id(query.id_number)
    if parsed is None or parsed.birth_date is None:
        return query
    birth_date = query.birth_date
    if not full_date and (not birth_date or parsed.birth_date.startswith(birth_date)):
        birth_date = parsed.birth_date
    return replace(query, birth_date=birth_date, sex=query.sex or parsed.sex)


# --- model -----------------------------------------------------------------------------


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> LinkModel:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    comparisons = {
        name: {level: Level(float(v["m"]), float(v["u"])) for level, v in spec["levels"].items()}
        for name, spec in raw["comparisons"].items()
    }
    return LinkModel(
        comparisons=comparisons,
        registered_share=float(raw["registered_share"]),
        register_size=int(raw["register_size"]),
        duplicate_share=float(raw["duplicate_share"]),
        source=str(raw.get("source", "")),
    )


# --- comparison levels (mirrored in SQL by bench/link_model.py) -------------------------


def name_level(a: str | None, b: str | None) -> str:
    if not a or not b:
        return "null"
    return _name_level_of_keys(name_keys(a), name_keys(b))


def _name_level_of_keys(ka: NameKeys, kb: NameKeys) -> str:
    if not ka.norm or not kb.norm:
        return "null"
    if ka.norm == kb.norm:
        return "exact"
    if ka.variant == kb.variant:
        return "variant"
    if ka.skeleton == kb.skeleton:
        return "skeleton"
    if ka.four_corner == kb.four_corner:
        return "four_corner"
    if set(ka.pinyin) & set(kb.pinyin):
        return "pinyin"
    if _one_lookalike_apart(ka.norm, kb.norm, ka.four_corner, kb.four_corner):
        return "shape1"
    if Levenshtein.distance(ka.variant, kb.variant) == 1:
        return "two_of_three" if _one_substitution_in_long_name(ka.variant, kb.variant) else "edit1"
    return "else"


_NAME_ORDER = ("exact", "variant", "skeleton", "four_corner", "pinyin", "shape1", "two_of_three", "edit1", "else", "null")


def _one_substitution_in_long_name(a: str, b: str) -> bool:
    """Names of 3+ characters, one character swapped for another (王桂兰/王桂英): two
    characters in place agree, far stronger evidence than one of two (王兰/王英)."""
    return len(a) == len(b) >= 3


def _one_lookalike_apart(a: str, b: str, fc_a: str, fc_b: str) -> bool:
    """Exactly one character differs and the two look alike: four-corner codes at most one
    digit apart (王/玉, 桂/柱, 国/图) — the shape signal hukou-domain.md §3.2 seeds with."""
    if len(a) != len(b):
        return False
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(differ) != 1:
        return False
    code_a, code_b = fc_a.split("-")[differ[0]], fc_b.split("-")[differ[0]]
    return "?" not in code_a + code_b and sum(x != y for x, y in zip(code_a, code_b)) <= 1


@lru_cache(maxsize=65536)  # a register has some 40,000 distinct birth dates
def _parse_date(text: str | None) -> tuple[int, int | None, int | None] | None:
    if not text:
        return None
    parts = text.strip().split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else None
        day = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        return None
    return year, month, day


@lru_cache(maxsize=256)
def _lunar_months(year: int) -> dict[int, tuple[int, int]]:
    """Lunar year's months (a leap month as -n) -> (ordinal of its first solar day, days)."""
    from lunar_python import LunarYear  # MIT

    return {m.getMonth(): (int(m.getFirstJulianDay()) - 1721425, m.getDayCount())
            for m in LunarYear.fromYear(year).getMonths() if m.getYear() == year}


def lunar_as_solar(year: int, month: int, day: int) -> tuple[date, ...]:
    """The solar dates a date means if its numbers were lunar (a leap month gives two):
    old pages and registers wrote birthdays in the lunar calendar without saying so."""
    if not 1850 <= year <= 2100:
        return ()
    months = _lunar_months(year)
    out = []
    for key in (month, -month):
        if key in months and day <= months[key][1]:
            out.append(date.fromordinal(months[key][0] + day - 1))
    return tuple(out)


def _lunar_mixup(pa: tuple[int, int, int], pb: tuple[int, int, int]) -> bool:
    """One date is the other's lunar reading: the same birthday in the other calendar."""
    try:
        da, db = date(*pa), date(*pb)
    except ValueError:
        return False
    return db in lunar_as_solar(*pa) or da in lunar_as_solar(*pb)


def date_level(a: str | None, b: str | None) -> str:
    """exact; typo (one digit, or month/day swapped); lunar (one is the other written in
    the lunar calendar); near (≤ 60 days); partial (an imprecise date, e.g. a year only,
    that agrees as far as it goes); adjacent_year (a year only, one year off: the year of
    the lunar calendar, which starts in January or February, or a birth year worked back
    from a nominal age, 虚岁); year (full dates in the same year); else."""
    return _date_level_of_parsed(_parse_date(a), _parse_date(b))


def _date_level_of_parsed(pa: tuple | None, pb: tuple | None) -> str:
    if pa is None or pb is None:
        return "null"
    if None in pa or None in pb:
        precise = min(sum(x is not None for x in pa), sum(x is not None for x in pb))
        if pa[:precise] == pb[:precise]:
            return "partial"
        return "adjacent_year" if precise == 1 and abs(pa[0] - pb[0]) == 1 else "else"
    if pa == pb:
        return "exact"
    da, db = "%04d%02d%02d" % pa, "%04d%02d%02d" % pb
    if Levenshtein.distance(da, db) == 1 or (pa[0] == pb[0] and pa[1] == pb[2] and pa[2] == pb[1]):
        return "typo"
    try:
        gap = abs((date(*pa) - date(*pb)).days)
    except ValueError:
        gap = 10**6
    if gap <= 60:
        return "lunar" if _lunar_mixup(pa, pb) else "near"
    if pa[0] == pb[0]:
        return "year"
    return "else"


@lru_cache(maxsize=131072)
def _norm_text(text: str | None) -> str:
    return normalize_name(text) if text else ""


def ethnicity_key(text: str | None) -> str:
    key = _norm_text(text)
    return key[:-1] if len(key) > 1 and key.endswith("族") else key


def exact_level(a: str | None, b: str | None) -> str:
    if not a or not b:
        return "null"
    return "exact" if a == b else "else"


_ADMIN_WORDS = re.compile(r"(壮族|回族|维吾尔)?自治(区|州|县|旗)|特别行政区|地区|省|市|县|区|盟|旗")


@lru_cache(maxsize=131072)
def place_key(text: str | None) -> str:
    """A place without its administrative words (省 市 县 区 自治区 …), which pages
    write or omit at will: 河北省保定市 and 河北保定 get one key."""
    return _ADMIN_WORDS.sub("", _norm_text(text)) if text else ""


PROVINCES_PATH = Path(__file__).resolve().parent.parent / "config" / "codes" / "province.toml"


@lru_cache(maxsize=1)
def province_keys() -> frozenset[str]:
    """The place keys of the province-level units (GB/T 2260): 河北, 内蒙古, 北京 …"""
    import tomllib

    codes = tomllib.loads(PROVINCES_PATH.read_text(encoding="utf-8"))["codes"]
    return frozenset(place_key(name) for name in codes.values())


@lru_cache(maxsize=131072)
def province_of(key: str) -> str | None:
    """The province a place key starts with, if it names one."""
    provinces = province_keys()
    return next((key[:n] for n in (3, 2) if key[:n] in provinces), None)


def place_level(a: str | None, b: str | None) -> str:
    """exact; part (one contains the other, or the same first 4 characters: the same
    place written more or less fully, below the province); province (one gives only a
    province, 河北, and the other lies in it: old forms often wrote no more); else."""
    return _place_level_of_keys(place_key(a), place_key(b))


def _place_level_of_keys(na: str, nb: str) -> str:
    if not na or not nb:
        return "null"
    if na == nb:
        return "exact"
    short, long_ = (na, nb) if len(na) <= len(nb) else (nb, na)
    if short in province_keys() and long_.startswith(short):
        return "province"
    if (min(len(na), len(nb)) >= 2 and (na in nb or nb in na)) or (len(na) >= 4 and na[:4] == nb[:4]):
        return "part"
    return "else"


_SCREEN_FIRST = ("name", "birth_date", "id")


class _PairScorer:
    """Scores register persons against one page person. The page's keys and the weight of
    every level (the name's term-frequency adjustment included) are worked out once, and
    each candidate value's level is remembered: a page's candidates share names, birth
    dates and places, and one page has dozens of them."""

    def __init__(self, query: MentionQuery, query_id_hmac: str | None, model: LinkModel, name_share: float | None,
                 context: RegisterContext | None = None):
        self.names = tuple(name_keys(n) for n in (query.name, *query.name_alternatives) if n)
        self.birth_date = _parse_date(query.birth_date)
        self.id_hmac = query_id_hmac
        self.sex = query.sex
        self.ethnicity = ethnicity_key(query.ethnicity)
        self.places = {"birthplace": place_key(query.birthplace), "native_place": place_key(query.native_place),
                       "address": place_key(query.address)}
        self.weights = {c: {**w, "null": 0.0} for c, w in model.weights.items()}
        if name_share:  # term-frequency adjustment
            self.weights["name"]["exact"] = math.log2(model.comparisons["name"]["exact"].m / max(name_share, 1e-9))
        # Name and sex as one piece of evidence where both agree or the sex alone differs:
        # log2 m_name·m_sex / P(a random register person has this name and this / the other sex).
        self.name_sex: dict[str, float] = {}
        if context is not None and name_share and context.name_sex_share is not None and query.sex:
            cmp_name, cmp_sex = model.comparisons["name"]["exact"], model.comparisons["sex"]
            same = max(context.name_sex_share, 0.5 / context.register_size)
            other = max(name_share - context.name_sex_share, 0.5 / context.register_size)
            self.name_sex = {"exact": math.log2(cmp_name.m * cmp_sex["exact"].m / same),
                             "else": math.log2(cmp_name.m * cmp_sex["else"].m / other)}
        if context is not None and context.one_off_share is not None and context.length_share:
            floor = 0.5 / context.register_size
            for level in ("two_of_three", "edit1"):
                if level in model.comparisons["name"]:
                    m = min(model.comparisons["name"][level].m / context.length_share, 1.0)
                    self.weights["name"][level] = math.log2(m / max(context.one_off_share, floor))
        if context is not None:
            for comparison, density in context.province_density.items():
                level = model.comparisons[comparison].get("province")
                if level is not None:
                    self.weights[comparison]["province"] = math.log2(
                        level.m / min(level.u * min(max(density, 0.05), 20.0), 0.5))
        # A name one character off (a look-alike, a homophone, one substitution) mostly keeps
        # the given name, and with it the sex: the sex agreeing then proves no more than the
        # page name's own sex ratio leaves to chance, u = P(page's sex | page's name) (≥ u).
        self.near_name_sex_fix = 0.0
        if context is not None and name_share and context.name_sex_share is not None and query.sex:
            namesakes = name_share * context.register_size
            p_sex = (context.name_sex_share * context.register_size + 0.5) / (namesakes + 1.0)
            u_sex = model.comparisons["sex"]["exact"].u
            self.near_name_sex_fix = math.log2(u_sex / max(p_sex, u_sex))
        if context is not None and self.birth_date is not None:
            self._date_frequency(model, context)
        # native place given birthplace (see RegisterContext.origin_same_share): where the page's
        # two places are one place, the second agreement weighs m / (ρ + (1 - ρ)·u)
        self.native_given_birthplace: dict[str, float] = {}
        rho = context.origin_same_share if context is not None else None
        if rho is not None and _place_level_of_keys(self.places["birthplace"], self.places["native_place"]) in ("exact", "part"):
            levels = model.comparisons["native_place"]
            self.native_given_birthplace = {lv: math.log2(levels[lv].m / (rho + (1 - rho) * levels[lv].u))
                                            for lv in ("exact", "part") if lv in levels}
        # an upper bound of what the comparisons after name, birth date and ID can add
        self.best_rest = model.best_rest_weight + max(
            [0.0] + [self.name_sex[lv] - self.weights["name"]["exact"] - self.weights["sex"][lv] for lv in self.name_sex])
        self.seen: dict[str, dict[str | None, str]] = {c: {} for c in ("name", "birth_date", "ethnicity", *self.places)}

    def _date_frequency(self, model: LinkModel, context: RegisterContext) -> None:
        """Term-frequency adjustment of the birth date: u of `exact` is the share of the
        register born on that very date; u of the other levels, which all keep to the
        date's neighbourhood (the same year or days around it), scales with how dense the
        register is in that year against the average (year_density = 1 on average)."""
        levels, weights = model.comparisons["birth_date"], self.weights["birth_date"]
        if context.year_density:
            density = min(max(context.year_density, 0.05), 20.0)
            for level in ("typo", "lunar", "near", "partial", "adjacent_year", "year"):
                if level in levels:
                    weights[level] = math.log2(levels[level].m / min(levels[level].u * density, 0.5))
        if context.date_share is not None and None not in self.birth_date and "exact" in levels:
            weights["exact"] = math.log2(levels["exact"].m / max(context.date_share, 0.5 / context.register_size))

    def _name(self, name: str | None) -> str:
        if not name or not self.names:
            return "null"
        theirs = name_keys(name)
        return min((_name_level_of_keys(k, theirs) for k in self.names), key=_NAME_ORDER.index)

    def _date(self, value: str | None) -> str:
        return _date_level_of_parsed(self.birth_date, _parse_date(value))

    def _ethnicity(self, value: str | None) -> str:
        return exact_level(self.ethnicity, ethnicity_key(value))

    def _place(self, comparison: str, value: str | None) -> str:
        return _place_level_of_keys(self.places[comparison], place_key(value))

    def score(self, person: PersonRecord, floor: float | None = None) -> PairScore:
        w, seen = self.weights, self.seen
        if (name := seen["name"].get(person.name)) is None:
            name = seen["name"][person.name] = self._name(person.name)
        if (born := seen["birth_date"].get(person.birth_date)) is None:
            born = seen["birth_date"][person.birth_date] = self._date(person.birth_date)
        id_level = exact_level(self.id_hmac, person.id_hmac)
        head = w["name"][name] + w["birth_date"][born] + w["id"][id_level]
        if floor is not None and head + self.best_rest < floor:
            return PairScore({"name": name, "birth_date": born, "id": id_level}, head + self.best_rest, False, False)
        sex = exact_level(self.sex, person.sex)
        if (ethnicity := seen["ethnicity"].get(person.ethnicity)) is None:
            ethnicity = seen["ethnicity"][person.ethnicity] = self._ethnicity(person.ethnicity)
        places = []
        for comparison, value in (("birthplace", person.birthplace), ("native_place", person.native_place), ("address", person.address)):
            if (level := seen[comparison].get(value)) is None:
                level = seen[comparison][value] = self._place(comparison, value)
            places.append(level)
        levels = {"name": name, "birth_date": born, "id": id_level, "sex": sex, "ethnicity": ethnicity,
                  "birthplace": places[0], "native_place": places[1], "address": places[2]}
        weight = (head + w["sex"][sex] + w["ethnicity"][ethnicity] + w["birthplace"][places[0]]
                  + w["native_place"][places[1]] + w["address"][places[2]])
        if name == "exact" and sex in self.name_sex:  # name and sex weighed together (see __init__)
            weight += self.name_sex[sex] - w["name"]["exact"] - w["sex"][sex]
        elif sex == "exact" and name not in ("else", "null"):
            weight += self.near_name_sex_fix
        if places[1] in self.native_given_birthplace and places[0] in ("exact", "part"):
            weight += self.native_given_birthplace[places[1]] - w["native_place"][places[1]]
        id_agrees = id_level == "exact"
        return PairScore(levels, weight, id_agrees, id_agrees and name in ("else", "null"))


def compare(
    query: MentionQuery,
    query_id_hmac: str | None,
    person: PersonRecord,
    model: LinkModel,
    name_share: float | None = None,
    floor: float | None = None,
) -> PairScore:
    """Comparison levels and the summed match weight of one page person and one register
    person. With `floor`, a pair whose name, birth date and ID already rule it out (even
    perfect agreement on the rest could not lift it to `floor`) is not compared further:
    its weight is then that upper bound."""
    return _PairScorer(query, query_id_hmac, model, name_share).score(person, floor)


def _probability(log2_odds: float) -> float:
    if log2_odds > 60:
        return 1.0
    odds = 2.0**log2_odds
    return odds / (1.0 + odds)


def _reasons(score: PairScore) -> list[str]:
    out = [f"{c}={lv}" for c, lv in score.levels.items() if lv != "null"]
    if score.id_name_mismatch:
        out.append("same ID number but the name differs")
    return out


_SCREEN_LOG2_ODDS = -20.0  # candidates that cannot reach odds of 1 : 10^6 are not compared in full


def link_mention(
    query: MentionQuery,
    candidates: list[PersonRecord],
    *,
    key: bytes,
    options: LinkOptions,
    context: RegisterContext | None = None,
) -> LinkResult:
    """Decide who the page's person is among the candidates the register's blocking found.

    Each candidate's odds come from the Fellegi–Sunter weights and a prior of one person
    among the register's size; the score is the candidate's posterior when the page's
    person is at most one of them. linked: one candidate is confidently the person;
    conflict: two or more candidates are each plausibly the person and look like one
    person registered twice; review: plausible but not certain, or the ID number
    matches someone with another name; new: nobody matches."""
    model = options.model or load_model()
    size = context.register_size if context else model.register_size
    prior = candidate_prior(model, size)
    query_hmac = _query_hmac(query.id_number, key)
    share = context.name_share if context else None
    floor = _SCREEN_LOG2_ODDS - prior
    scorer = _PairScorer(query, query_hmac, model, share, context)
    scored = []
    for person in {p.person_id: p for p in candidates}.values():
        pair = scorer.score(person, floor)
        scored.append((prior + pair.weight, person, pair))
    if not scored:
        return LinkResult("new", None, 0.0, ["no register candidate"], [])
    scored.sort(key=lambda item: item[0], reverse=True)
    top = scored[0][0]  # posterior_i = odds_i / (1 + Σ odds), computed relative to the top odds
    denominator = 2.0 ** min(-top, 1000.0) + sum(2.0 ** (w - top) for w, _, _ in scored)
    posterior = [2.0 ** (w - top) / denominator for w, _, _ in scored]
    ranked = [(p.person_id, round(post, 6)) for post, (_, p, _) in zip(posterior[:10], scored)]
    best_post, (_, best, best_pair) = posterior[0], scored[0]
    plausible = [(p, pair) for (w, p, pair) in scored if _probability(w) >= options.review_threshold and not pair.id_name_mismatch]
    if len(plausible) >= 2:
        twins = [p for p, _ in plausible[1:] if judge_pair(plausible[0][0], p, model, size).score >= options.review_threshold]
        if twins:
            ids = [plausible[0][0].person_id] + [p.person_id for p in twins]
            reasons = [f"{len(ids)} register persons match and look like one person registered twice"]
            return LinkResult("conflict", None, _probability(scored[0][0]), reasons + _reasons(best_pair), [(i, s) for i, s in ranked if i in ids])
    if best_pair.id_name_mismatch:
        return LinkResult("review", best.person_id, best_post, _reasons(best_pair), ranked)
    if best_post >= options.linked_threshold:
        return LinkResult("linked", best.person_id, best_post, _reasons(best_pair), ranked)
    if best_post >= options.review_threshold:
        reasons = _reasons(best_pair)
        if len(plausible) > 1:
            reasons.append(f"{len(plausible)} plausible register persons")
        return LinkResult("review", best.person_id, best_post, reasons, ranked)
    return LinkResult("new", None, best_post, ["no register person matches well enough", *_reasons(best_pair)], ranked)


def candidate_prior(model: LinkModel, register_size: int) -> float:
    """log2 prior odds of one register person being the page's person, against the page's
    person not being in the register at all. The page's person is one of the register's
    persons (each alike a priori) with probability r = registered_share, and nobody in it
    with 1 - r, so P(candidate i | page) = (r/N)·BF_i / ((1 - r) + Σ_j (r/N)·BF_j): the
    prior odds that enter odds_i / (1 + Σ odds) are r / ((1 - r)·N), not r / N."""
    share = min(max(model.registered_share, 1e-6), 1 - 1e-6)
    return math.log2(share / ((1.0 - share) * max(register_size, 1)))


def _query_hmac(id_number: str | None, key: bytes) -> str | None:
    if not id_number:
        return None
    try:
        return id_hmac(id_number, key)
    except InvalidIdNumber:
        return None


# --- duplicates in the register -------------------------------------------------------


@dataclass(frozen=True)
class BlockMember:
    """A register person with the name keys its blocks were formed by."""

    person: PersonRecord
    variant: str
    skeleton: str
    pinyin: str  # the canonical reading

    @classmethod
    def of(cls, person: PersonRecord) -> BlockMember:
        keys = blocking_keys(person.name)
        return cls(person, keys.variant, keys.skeleton, keys.pinyin_canonical)


def duplicate_blocks(person: PersonRecord) -> dict[str, tuple[str, ...]]:
    """Blocking keys for pairs of register persons: the same ID hash; birth date and
    surname class; given name and birth date (surname misread); skeleton and birth year
    (date misread); skeleton, month and day (year misread)."""
    keys = blocking_keys(person.name)
    out: dict[str, tuple[str, ...]] = {}
    if person.id_hmac:
        out["id"] = (person.id_hmac,)
    dob = person.birth_date
    if dob:
        out["dob_surname"] = (dob, keys.variant[: len(keys.surname)])
        if keys.given:
            out["given_dob"] = (keys.given, dob)
        out["skeleton_year"] = (keys.skeleton, dob[:4])
        if len(dob) == 10:
            out["skeleton_md"] = (keys.skeleton, dob[5:])
    return out


def _worth_comparing(a: BlockMember, b: BlockMember) -> bool:
    """Cheap filter before the full comparison: a shared ID number, or names that are
    alike in shape or sound or at most one character apart."""
    if a.person.id_hmac and a.person.id_hmac == b.person.id_hmac:
        return True
    return a.skeleton == b.skeleton or a.pinyin == b.pinyin or Levenshtein.distance(a.variant, b.variant) <= 1


def judge_pair(a: PersonRecord, b: PersonRecord, model: LinkModel, register_size: int, name_share: float | None = None) -> DuplicateFinding:
    """Score two register persons as one person registered twice, or flag one ID on two people."""
    query = MentionQuery(a.name, a.sex, a.ethnicity, a.birth_date, None, a.birthplace, a.native_place, a.address)
    pair = compare(query, a.id_hmac, b, model, name_share)
    prior = math.log2(model.duplicate_share / max(register_size, 1))
    prob = _probability(prior + pair.weight)
    reasons = _reasons(pair)
    if pair.id_agrees:
        if pair.id_name_mismatch or pair.levels["birth_date"] == "else" or pair.levels["sex"] == "else":
            reasons.insert(0, "重号: one ID number on two different people")
            prob = max(prob, 0.99)
        else:
            reasons.insert(0, "one ID number registered twice")
    elif pair.levels["address"] == "else":
        reasons.append("registered at different addresses")
    return DuplicateFinding(sorted([a.person_id, b.person_id]), prob, reasons)


def find_duplicates(
    persons: Iterable[PersonRecord],
    *,
    threshold: float = 0.9,
    model: LinkModel | None = None,
    register_size: int | None = None,
    max_block: int = 200,
) -> list[DuplicateFinding]:
    """Suspected double registrations and shared ID numbers among register persons.

    Holds every person in memory: for the whole register use
    pipeline.db.register.registry_duplicates, which streams block by block."""
    model = model or load_model()
    people = [BlockMember.of(p) for p in persons]
    blocks: dict[tuple[str, ...], list[BlockMember]] = defaultdict(list)
    name_counts: dict[str, int] = defaultdict(int)
    for member in people:
        name_counts[blocking_keys(member.person.name).norm] += 1
        for kind, key in duplicate_blocks(member.person).items():
            blocks[(kind, *key)].append(member)
    size = register_size or len(people)
    return judge_blocks(blocks.values(), model, size, threshold, max_block, lambda n: name_counts[n] / size)


def judge_blocks(
    blocks: Iterable[list[BlockMember]],
    model: LinkModel,
    register_size: int,
    threshold: float,
    max_block: int,
    name_share: Callable[[str], float],
) -> list[DuplicateFinding]:
    """Every pair inside each block that scores at least `threshold`; a block larger than
    `max_block` is skipped (a blocking key that common says nothing)."""
    found: dict[tuple[str, ...], DuplicateFinding] = {}
    for members in blocks:
        if len(members) < 2 or len(members) > max_block:
            continue
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a.person.person_id == b.person.person_id or not _worth_comparing(a, b):
                    continue
                pair_key = tuple(sorted((a.person.person_id, b.person.person_id)))
                if pair_key in found:
                    continue
                finding = judge_pair(a.person, b.person, model, register_size, name_share(blocking_keys(a.person.name).norm))
                if finding.score >= threshold:
                    found[pair_key] = finding
    return sorted(found.values(), key=lambda f: (-f.score, f.person_ids))
