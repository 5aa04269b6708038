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
import operator
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline.namekeys import name_keys, normalize_name
from pipeline.records import LinkResult

MODEL_PATH = Path(__file__).resolve().parent.parent / "config" / "linkage" / "model.json"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


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


@dataclass(frozen=True)
class LinkOptions:
    linked_threshold: float = 0.95
    review_threshold: float = 0.5
    model: LinkModel | None = None  # None: config/linkage/model.json


@dataclass(frozen=True)
class RegisterContext:
    """What the register knows beyond the candidates: its size and how common a name is
    (term-frequency adjustment: an exact 王伟 proves less than an exact 欧阳翠萼)."""

    register_size: int
    name_share: float | None = None  # share of register persons with the query's exact name


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


def _check_char(body17: str) -> str:
    return _ID_CHECK[sum(map(operator.mul, map(int, body17), _ID_WEIGHTS)) % 11]


def upgrade_id(number: str) -> str:
    """The 18-digit form of a resident ID number (GB 11643: 15 → 18 with MOD 11-2)."""
    text = number.strip().upper()
    if len(text) == 15 and text.isdigit():
        century = "18" if int(text[12:15]) >= 996 else "19"
        body = text[:6] + century + text[6:15]
        return body + _check_char(body)
    if len(text) == 18 and text[:17].isdigit() and text[17] in "0123456789X":
        if _check_char(text[:17]) != text[17]:
            raise InvalidIdNumber(f"check digit wrong in {mask_id(text)}")
        return text
    raise InvalidIdNumber(f"not a resident ID number: {mask_id(text)}")


def id_hmac(id_number: str, key: bytes) -> str:
    """Keyed hash of the normalised 18-digit number (a 15-digit number is upgraded first,
    so both forms of one number hash alike): equality search without plaintext."""
    return hmac.new(key, upgrade_id(id_number).encode("ascii"), hashlib.sha256).hexdigest()


def mask_id(number: str) -> str:
    """First 6 and last 4 characters kept: the only form that appears in any output."""
    text = (number or "").strip()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


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
    ka, kb = name_keys(a), name_keys(b)
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
    if Levenshtein.distance(ka.variant, kb.variant) == 1:
        return "edit1"
    return "else"


_NAME_ORDER = ("exact", "variant", "skeleton", "four_corner", "pinyin", "edit1", "else", "null")


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


def date_level(a: str | None, b: str | None) -> str:
    """exact; typo (one digit, or month/day swapped); near (≤ 60 days: lunar vs solar);
    partial (an imprecise date, e.g. a year only, that agrees as far as it goes); year
    (full dates in the same year); else."""
    pa, pb = _parse_date(a), _parse_date(b)
    if pa is None or pb is None:
        return "null"
    if None in pa or None in pb:
        precise = min(sum(x is not None for x in pa), sum(x is not None for x in pb))
        return "partial" if pa[:precise] == pb[:precise] else "else"
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
        return "near"
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


def place_level(a: str | None, b: str | None) -> str:
    """exact; part (one contains the other, or the same first 4 characters: the same
    place written more or less fully); else."""
    na, nb = place_key(a), place_key(b)
    if not na or not nb:
        return "null"
    if na == nb:
        return "exact"
    if (min(len(na), len(nb)) >= 2 and (na in nb or nb in na)) or (len(na) >= 4 and na[:4] == nb[:4]):
        return "part"
    return "else"


def compare(
    query: MentionQuery,
    query_id_hmac: str | None,
    person: PersonRecord,
    model: LinkModel,
    name_share: float | None = None,
) -> PairScore:
    names = [n for n in (query.name, *query.name_alternatives) if n]
    name_lv = min((name_level(n, person.name) for n in names), key=_NAME_ORDER.index, default="null")
    levels = {
        "name": name_lv,
        "birth_date": date_level(query.birth_date, person.birth_date),
        "sex": exact_level(query.sex, person.sex),
        "ethnicity": exact_level(ethnicity_key(query.ethnicity), ethnicity_key(person.ethnicity)),
        "birthplace": place_level(query.birthplace, person.birthplace),
        "native_place": place_level(query.native_place, person.native_place),
        "address": place_level(query.address, person.address),
        "id": exact_level(query_id_hmac, person.id_hmac),
    }
    weight = 0.0
    for comparison, level in levels.items():
        if level == "null":
            continue
        params = model.comparisons[comparison][level]
        u = params.u
        if comparison == "name" and level == "exact" and name_share:
            u = max(name_share, 1e-9)
        weight += math.log2(params.m / u)
    id_agrees = levels["id"] == "exact"
    return PairScore(levels, weight, id_agrees, id_agrees and levels["name"] in ("else", "null"))


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
    prior = math.log2(model.registered_share / max(size, 1))
    query_hmac = _query_hmac(query.id_number, key)
    share = context.name_share if context else None
    scored = []
    for person in {p.person_id: p for p in candidates}.values():
        pair = compare(query, query_hmac, person, model, share)
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


def _query_hmac(id_number: str | None, key: bytes) -> str | None:
    if not id_number:
        return None
    try:
        return id_hmac(id_number, key)
    except InvalidIdNumber:
        return None


# --- duplicates in the register -------------------------------------------------------


def duplicate_blocks(person: PersonRecord) -> list[tuple[str, ...]]:
    """Blocking keys for pairs of register persons: same ID hash; same birth date and
    surname class; same birth date and given name; same name skeleton and birth year."""
    keys = name_keys(person.name)
    out: list[tuple[str, ...]] = []
    if person.id_hmac:
        out.append(("id", person.id_hmac))
    if person.birth_date:
        out.append(("dob_sur", person.birth_date, keys.variant[: len(keys.surname)]))
        if keys.given:
            out.append(("dob_given", person.birth_date, keys.given))
        out.append(("skel_year", keys.skeleton, person.birth_date[:4]))
    return out


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
    people = list(persons)
    blocks: dict[tuple[str, ...], list[PersonRecord]] = defaultdict(list)
    name_counts: dict[str, int] = defaultdict(int)
    for person in people:
        name_counts[name_keys(person.name).norm] += 1
        for block in duplicate_blocks(person):
            blocks[block].append(person)
    size = register_size or len(people)
    return judge_blocks(blocks.values(), model, size, threshold, max_block, lambda n: name_counts[n] / size)


def judge_blocks(blocks, model: LinkModel, register_size: int, threshold: float, max_block: int, name_share) -> list[DuplicateFinding]:
    seen: dict[tuple[str, ...], DuplicateFinding] = {}
    for members in blocks:
        if len(members) < 2 or len(members) > max_block:
            continue
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a.person_id == b.person_id:
                    continue
                pair_key = tuple(sorted((a.person_id, b.person_id)))
                if pair_key in seen:
                    continue
                finding = judge_pair(a, b, model, register_size, name_share(name_keys(a.name).norm))
                if finding.score >= threshold:
                    seen[pair_key] = finding
    return sorted(seen.values(), key=lambda f: (-f.score, f.person_ids))
