"""The population register mirror: its table, the CSV import, and the blocking queries
that fetch linkage candidates.

ID numbers never sit in plaintext: a keyed HMAC of the normalised 18-digit number for
equality search, a Fernet-encrypted copy for authorised display, and a masked form for
every output (hukou-domain.md §5). Blocking keys are plain indexed columns, so the same
queries serve SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Engine, Index, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from pipeline.db.base import Base
from pipeline.errors import RegisterError
from pipeline.link import (
    BlockMember,
    DuplicateFinding,
    InvalidIdNumber,
    LinkModel,
    LinkOptions,
    MentionQuery,
    PersonRecord,
    RegisterContext,
    hmac_of_upgraded,
    id_hmac,
    judge_blocks,
    link_mention,
    load_model,
    place_key,
    province_of,
    upgrade_id,
    with_id_evidence,
)
from pipeline.normalize import mask_id, normalize_sex
from pipeline.namekeys import blocking_keys, inner_masked_key, lookalike_names, name_keys
from pipeline.records import LinkResult

COLUMNS = ("person_id", "name", "sex", "ethnicity", "birth_date", "id_number", "birthplace", "native_place", "address")


class RegisterPerson(Base):
    __tablename__ = "register_person"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_norm: Mapped[str] = mapped_column(String(64), index=True)
    surname_class: Mapped[str] = mapped_column(String(16))
    given_norm: Mapped[str] = mapped_column(String(48))
    name_skel: Mapped[str] = mapped_column(String(64))
    name_py: Mapped[str] = mapped_column(String(160))
    name_mask: Mapped[str | None] = mapped_column(String(64))  # 王*兰: one misread given-name character
    sex: Mapped[str | None] = mapped_column(String(8))
    ethnicity: Mapped[str | None] = mapped_column(String(32))
    birth_date: Mapped[str | None] = mapped_column(String(10))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    birth_md: Mapped[str | None] = mapped_column(String(5))  # MM-DD: finds a misread birth year
    id_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    id_encrypted: Mapped[str | None] = mapped_column(Text)
    id_masked: Mapped[str | None] = mapped_column(String(24))
    birthplace: Mapped[str | None] = mapped_column(Text)
    native_place: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[str | None] = mapped_column(Text)  # JSON object of the CSV's other columns

    # Blocking indexes: a name key first, then the ISO birth date, so one index serves an
    # exact date and a range of years alike.
    __table_args__ = (
        Index("ix_register_person_dob_surname", "birth_date", "surname_class"),
        Index("ix_register_person_given_dob", "given_norm", "birth_date"),
        Index("ix_register_person_skel_dob", "name_skel", "birth_date"),
        Index("ix_register_person_py_dob", "name_py", "birth_date"),
        Index("ix_register_person_skel_md", "name_skel", "birth_md"),
        Index("ix_register_person_mask_dob", "name_mask", "birth_date"),
    )

    def record(self) -> PersonRecord:
        return PersonRecord(
            self.person_id, self.name, self.sex, self.ethnicity, self.birth_date,
            self.id_hmac, self.birthplace, self.native_place, self.address,
        )


@dataclass
class ImportReport:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason): not imported
    warnings: list[tuple[int, str]] = field(default_factory=list)  # imported, but a value was unusable


def normalize_birth_date(text: str) -> str | None:
    """ISO YYYY-MM-DD (also accepts YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD); YYYY and YYYY-MM kept as
    imprecise dates. Raises ValueError for anything else."""
    value = text.strip().replace("/", "-").replace(".", "-")
    if not value:
        return None
    if len(value) == 10:
        return date.fromisoformat(value).isoformat()
    if len(value) == 8 and value.isdigit():
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    parts = value.split("-")
    if len(parts) == 3:
        return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    if len(parts) == 2 and 1 <= int(parts[1]) <= 12:
        return f"{int(parts[0]):04d}-{int(parts[1]):02d}"
    if len(parts) == 1 and len(value) == 4 and value.isdigit():
        return value
    raise ValueError(f"not a date: {text!r}")


# The table's columns in the order an import row is built: one tuple per row, no dicts.
_ROW_COLUMNS = (
    "person_id", "name", "name_norm", "surname_class", "given_norm", "name_skel", "name_py", "name_mask",
    "sex", "ethnicity", "birth_date", "birth_year", "birth_md", "id_hmac", "id_encrypted", "id_masked",
    "birthplace", "native_place", "address", "extra",
)
assert set(_ROW_COLUMNS) == {c.name for c in RegisterPerson.__table__.columns}, "import row and table disagree"


@lru_cache(maxsize=262144)
def _name_columns(name: str) -> tuple[str, str, str, str, str, str | None]:
    """name_norm, surname_class, given_norm, name_skel, name_py, name_mask (names repeat: cached)."""
    keys = blocking_keys(name)
    return (keys.norm, keys.variant[: len(keys.surname)], keys.given, keys.skeleton, keys.pinyin_canonical,
            inner_masked_key(keys))


_birth_date = lru_cache(maxsize=65536)(normalize_birth_date)  # a register has some 40,000 distinct birth dates
_sex = lru_cache(maxsize=256)(normalize_sex)


@dataclass(frozen=True)
class _Layout:
    """Where each known column sits in the CSV's rows (-1: absent), and the extra columns."""

    width: int
    person_id: int
    name: int
    sex: int
    ethnicity: int
    birth_date: int
    id_number: int
    birthplace: int
    native_place: int
    address: int
    extra: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, header: list[str]) -> _Layout:
        where = {c: i for i, c in enumerate(header)}  # a repeated name: the last one, as csv.DictReader has it
        return cls(len(header), *(where.get(c, -1) for c in COLUMNS),
                   extra=tuple((c, i) for i, c in enumerate(header) if c not in COLUMNS))


def _cell(cells: list[str], index: int) -> str | None:
    return (cells[index].strip() or None) if index >= 0 else None


def _row_values(cells: list[str], layout: _Layout, *, hmac_key: bytes, fernet: Fernet) -> tuple[tuple, str | None]:
    """The table row (in _ROW_COLUMNS order) for one CSV row, and a warning if a value had
    to be dropped. Raises ValueError for a row that cannot be imported."""
    if len(cells) < layout.width:
        cells = cells + [""] * (layout.width - len(cells))
    person_id = _cell(cells, layout.person_id)
    name = _cell(cells, layout.name)
    if not person_id:
        raise ValueError("no person_id")
    if not name:
        raise ValueError("no name")
    birth_date = _birth_date(cells[layout.birth_date]) if layout.birth_date >= 0 else None
    warning = None
    raw_id = _cell(cells, layout.id_number)
    hashed = encrypted = masked = None
    if raw_id:
        encrypted = fernet.encrypt(raw_id.encode("utf-8")).decode("ascii")
        try:
            id18 = upgrade_id(raw_id)
            hashed = hmac_of_upgraded(id18, hmac_key)
            masked = mask_id(id18)
        except InvalidIdNumber as exc:
            masked = mask_id(raw_id)
            warning = f"{exc}: kept encrypted, not matchable"
    extra = {k: cells[i] for k, i in layout.extra if cells[i]}
    return (
        person_id, name, *_name_columns(name),
        _sex(cells[layout.sex]) if layout.sex >= 0 else None,
        _cell(cells, layout.ethnicity),
        birth_date,
        int(birth_date[:4]) if birth_date else None,
        birth_date[5:] if birth_date and len(birth_date) == 10 else None,
        hashed, encrypted, masked,
        _cell(cells, layout.birthplace), _cell(cells, layout.native_place), _cell(cells, layout.address),
        json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
    ), warning


def import_register_csv(
    engine_or_session: Engine | Session,
    path: Path,
    *,
    hmac_key: bytes,
    fernet_key: bytes,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 5000,
) -> ImportReport:
    """Load or update register persons from the CSV (interfaces.md §2), upserting by
    person_id, in batches: memory stays bounded whatever the file size.

    Given an Engine it commits per batch, and a first load into an empty table drops the
    blocking indexes and builds them once at the end (several times faster than keeping
    them up to date row by row); a rerun resumes by upserting. Given a Session it only
    flushes: the caller commits."""
    fernet = Fernet(fernet_key)
    report = ImportReport()
    owned = not isinstance(engine_or_session, Session)
    session = Session(engine_or_session) if owned else engine_or_session
    secondary = [ix for ix in RegisterPerson.__table__.indexes]
    bulk = False
    cache_size = None
    try:
        if owned:
            _ensure_indexes(session, secondary)  # an interrupted bulk load left them dropped
            bulk = session.scalar(select(RegisterPerson.person_id).limit(1)) is None
            if session.get_bind().dialect.name == "sqlite":  # a bigger page cache for this load only
                connection = session.connection()
                cache_size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
                connection.exec_driver_sql("PRAGMA cache_size=-262144")
            if bulk:
                for index in secondary:
                    index.drop(session.connection())
                session.commit()
        try:
            handle = open(path, encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise RegisterError(f"{path}: cannot be read ({exc.strerror})") from exc
        with handle:
            reader = csv.reader(handle)
            try:
                header = next(reader, [])
            except UnicodeDecodeError as exc:
                raise RegisterError(f"{path.name}: not UTF-8 ({exc.reason})") from exc
            missing = [c for c in ("person_id", "name") if c not in header]
            if missing:
                raise RegisterError(f"{path.name}: no column {', '.join(missing)} in the header")
            layout = _Layout.of(header)
            batch: dict[str, tuple] = {}
            try:
                for cells in reader:
                    if not cells:  # a blank line is no row (as csv.DictReader has it)
                        continue
                    report.rows += 1
                    try:
                        values, warning = _row_values(cells, layout, hmac_key=hmac_key, fernet=fernet)
                    except ValueError as exc:
                        report.rejected.append((reader.line_num, str(exc)))
                        continue
                    if warning:
                        report.warnings.append((reader.line_num, warning))
                    batch[values[0]] = values
                    if len(batch) >= batch_size:
                        _upsert(session, list(batch.values()), report)
                        batch.clear()
                        session.commit() if owned else session.flush()
                        if progress:
                            progress(report.rows)
            except UnicodeDecodeError as exc:
                raise RegisterError(f"{path.name}: not UTF-8 near line {reader.line_num + 1} ({exc.reason})") from exc
            if batch:
                _upsert(session, list(batch.values()), report)
            session.commit() if owned else session.flush()
            if progress:
                progress(report.rows)
    except BaseException:
        if owned:
            session.rollback()
        raise
    finally:
        if owned:
            if bulk:
                _ensure_indexes(session, secondary)
            if cache_size is not None:
                session.connection().exec_driver_sql(f"PRAGMA cache_size={int(cache_size)}")
            session.close()
    return report


def _ensure_indexes(session: Session, indexes: list[Index]) -> None:
    for index in indexes:
        index.create(session.connection(), checkfirst=True)
    session.commit()


def _upsert(session: Session, rows: list[tuple], report: ImportReport) -> None:
    ids = [r[0] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start:start + 900]
        existing.update(session.scalars(select(RegisterPerson.person_id).where(RegisterPerson.person_id.in_(chunk))))
    new = [r for r in rows if r[0] not in existing] if existing else rows
    if new:
        connection = session.connection()
        if connection.dialect.name == "sqlite":  # plain executemany: SQLAlchemy's per-row parameter handling costs more than SQLite's insert
            sql = f"INSERT INTO register_person ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' * len(_ROW_COLUMNS))})"
            connection.exec_driver_sql(sql, new)
        else:  # PostgreSQL: COPY, the bulk path (several times faster than multi-row INSERT)
            _copy_rows(connection, new)
    if existing:
        session.execute(update(RegisterPerson), [dict(zip(_ROW_COLUMNS, r)) for r in rows if r[0] in existing])
    report.inserted += len(new)
    report.updated += len(rows) - len(new)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_rows(connection, rows: list[tuple]) -> None:
    """COPY … FROM STDIN in PostgreSQL's text format (\\N for NULL, backslash escapes)."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v).translate(_COPY_ESCAPES) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    with connection.connection.dbapi_connection.cursor() as cursor:
        cursor.copy_expert(f"COPY register_person ({', '.join(_ROW_COLUMNS)}) FROM STDIN", buffer)


# --- candidates ------------------------------------------------------------------------

_RECORD_COLUMNS = "person_id, name, sex, ethnicity, birth_date, id_hmac, birthplace, native_place, address"
# Blocking rules, each an indexed lookup (hukou-domain.md §3.5), in four reaches, each a
# superset of the one before. The exact-date rules are narrow at any register size; the
# wide ones add look-alike and homophone names within a year either side and pages
# without a full birth date; the look-alike reach adds every name one look-alike
# character away (about 40 readings per character); the masked reach adds every name with
# one character masked near the page's birth date. The last two are asked only when
# nothing else matched.
_EXACT_DATE_RULES = (
    "id_hmac = :id_hmac",
    "birth_date = :dob AND surname_class IN :surnames",  # a given-name character misread
    "given_norm IN :givens AND birth_date = :dob",  # the surname misread
    "name_skel IN :skels AND birth_md = :md",  # the year misread
)
_WIDE_RULES = _EXACT_DATE_RULES + (
    "name_skel IN :skels AND birth_date BETWEEN :from_date AND :to_date",  # shape confusions, date misread
    "name_py IN :pys AND birth_date BETWEEN :from_date AND :to_date",  # homophones
    (":no_year = 1 AND name_norm IN :norms", None, "same_name_limit"),  # a page without a birth date: every namesake
    ":no_year = 1 AND name_skel IN :skels",
    ":no_year = 1 AND name_py IN :pys",
)
_LOOKALIKE_RULES = _WIDE_RULES + (  # a shape confusion outside the skeleton classes, and the date missing or misread
    "name_norm IN :lookalikes AND (:no_year = 1 OR birth_date BETWEEN :from_date AND :to_date OR birth_md = :md)",
)
# One character of the name misread (any character, not only a look-alike) and the birth
# date off too (a lunar date, a typo, the year alone): one rule per masked position, each
# bounded by the date as far as the page gives it (no date: not asked, too wide).
_MASKED_RULES = _LOOKALIKE_RULES + (
    "given_norm IN :givens AND birth_date BETWEEN :near_from AND :near_to",  # 王桂兰 as 玉桂兰 / 汪桂兰
    "name_mask IN :inner_masks AND birth_date BETWEEN :near_from AND :near_to",  # 王桂兰 as 王柱兰
    ("name_skel >= :skel_head AND name_skel < :skel_head_end AND birth_date BETWEEN :near_from AND :near_to",  # 王桂兰 as 王桂英
     "ix_register_person_skel_dob", "limit"),  # SQLite without statistics would walk the date range instead
)
REACHES = ("exact_date", "wide", "lookalike", "masked")


def _candidate_sql(rules: tuple[str | tuple[str, str | None, str], ...], sqlite: bool) -> str:
    """The union of the rules' lookups, each capped by itself, as one statement. A rule
    given as (condition, index, cap) names the index SQLite must use (PostgreSQL plans by
    statistics) and the parameter its cap is read from. List parameters stay `IN :name`
    here; _driver_sql expands them."""
    branches = []
    for i, rule in enumerate(rules):
        condition, index, cap = rule if isinstance(rule, tuple) else (rule, None, "limit")
        table = f"register_person INDEXED BY {index}" if index and sqlite else "register_person"
        branches.append(f"SELECT * FROM (SELECT {_RECORD_COLUMNS} FROM {table} WHERE {condition} LIMIT :{cap}) AS b{i}")
    return " UNION ".join(branches)


_OWN_RULES = {  # the rules each reach adds to the ones before it
    "exact_date": _EXACT_DATE_RULES,
    "wide": _WIDE_RULES[len(_EXACT_DATE_RULES):],
    "lookalike": _LOOKALIKE_RULES[len(_WIDE_RULES):],
    "masked": _MASKED_RULES[len(_LOOKALIKE_RULES):],
}


@lru_cache(maxsize=64)
def _reaches_sql(reaches: tuple[str, ...], sqlite: bool) -> str:
    return _candidate_sql(tuple(rule for reach in reaches for rule in _OWN_RULES[reach]), sqlite)


_PARAM = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=4096)
def _driver_sql(sql: str, sizes: tuple[tuple[str, int], ...], sqlite: bool) -> str:
    """The statement in the driver's own parameter style, each list parameter expanded to
    as many placeholders as it has items (an empty list to NULL, which matches nothing).
    Sent straight to the DB-API cursor: linkage asks several queries per mention, and
    SQLAlchemy's compilation of expanding parameters cost more than SQLite's lookups."""
    for name, size in sizes:
        items = ", ".join(f":{name}_{i}" for i in range(size)) or "NULL"
        sql = re.sub(rf"IN :{name}\b", f"IN ({items})", sql)
    return sql if sqlite else _PARAM.sub(r"%(\1)s", sql)


def _fetch(session: Session, sql: str, params: dict[str, object]) -> list[tuple]:
    """Rows of one statement with `IN :list` parameters, through the session's connection."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    lists = {n: v for n, v in params.items() if isinstance(v, list)}
    flat = {n: v for n, v in params.items() if n not in lists}
    for name, values in lists.items():
        flat.update((f"{name}_{i}", v) for i, v in enumerate(values))
    statement = _driver_sql(sql, tuple((n, len(v)) for n, v in lists.items()), sqlite)
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(statement, flat)
        return cursor.fetchall()
    finally:
        cursor.close()


_NEAR_DAYS = 62  # a lunar/solar mix-up moves a date by up to about 50 days
_NAME_COUNT = "SELECT sex, count(*) FROM register_person WHERE name_norm = :norm GROUP BY sex"
_DATE_COUNT = "SELECT count(*) FROM register_person WHERE birth_date = :dob"
_YEAR_COUNTS = "SELECT birth_year, count(*) FROM register_person WHERE birth_year IS NOT NULL GROUP BY birth_year"


def _remembered(session: Session, table: str, key: object, ask: Callable[[], object]):
    """A register count remembered for the session, as its size is (register_size): common
    names and dates come back page after page."""
    memo = session.info.setdefault(table, {})
    if key not in memo:
        if len(memo) >= 200_000:
            memo.clear()
        memo[key] = ask()
    return memo[key]


def _name_sex_counts(session: Session, norm: str) -> dict[str | None, int]:
    """How many register persons bear exactly this (normalised) name, by sex."""
    return _remembered(session, "name_counts", norm, lambda: {sex: n for sex, n in _fetch(session, _NAME_COUNT, {"norm": norm})})


def _name_count(session: Session, norm: str) -> int:
    """How many register persons bear exactly this (normalised) name."""
    return sum(_name_sex_counts(session, norm).values())


def _date_count(session: Session, dob: str) -> int:
    """How many register persons were born on exactly this date."""
    return _remembered(session, "date_counts", dob, lambda: _fetch(session, _DATE_COUNT, {"dob": dob})[0][0] or 0)


_GIVEN_COUNT = "SELECT count(*) FROM register_person WHERE given_norm = :given"
_MASK_COUNT = "SELECT count(*) FROM register_person WHERE name_mask = :mask"
_PREFIX_COUNT = ("SELECT count(*) FROM register_person WHERE name_norm >= :head AND name_norm < :head_end"
                 " AND length(name_norm) = :length")


def _one_off_count(session: Session, norm: str) -> int:
    """How many register persons have a name one character in place away from `norm`: the
    surname replaced (the same given name), a given name's first character replaced (the
    indexed mask 王*兰) or its last character replaced (an indexed prefix range)."""
    keys = name_keys(norm)
    if not keys.norm or len(keys.norm) < 2:
        return 0
    exact = _name_count(session, keys.norm)
    parts = []
    if keys.given:
        parts.append(_remembered(session, "pattern_counts", ("given", keys.given),
                                 lambda: _fetch(session, _GIVEN_COUNT, {"given": keys.given})[0][0] or 0))
    mask = inner_masked_key(keys)
    if mask:
        parts.append(_remembered(session, "pattern_counts", ("mask", mask),
                                 lambda: _fetch(session, _MASK_COUNT, {"mask": mask})[0][0] or 0))
    head = keys.norm[:-1]
    parts.append(_remembered(session, "pattern_counts", ("prefix", head, len(keys.norm)), lambda: _fetch(
        session, _PREFIX_COUNT, {"head": head, "head_end": head + "\U0010ffff", "length": len(keys.norm)})[0][0] or 0))
    return max(sum(parts) - exact * len(parts), 0)


_LENGTH_COUNTS = "SELECT length(name_norm), count(*) FROM register_person GROUP BY length(name_norm)"


def _length_share(session: Session, length: int) -> float:
    """Share of register names of this length class: 2 characters (or fewer), or 3 and more."""
    cached = session.info.get("length_shares")
    if cached is None:
        counts = _fetch(session, _LENGTH_COUNTS, {})
        total = sum(n for _, n in counts) or 1
        short = sum(n for length_, n in counts if (length_ or 0) <= 2)
        cached = session.info["length_shares"] = (short / total, 1 - short / total)
    return cached[0] if length <= 2 else cached[1]


_ORIGIN_SAME = ("SELECT count(*), sum(CASE WHEN native_place = birthplace THEN 1 ELSE 0 END) FROM register_person"
                " WHERE native_place IS NOT NULL AND birthplace IS NOT NULL")


def _origin_same_share(session: Session) -> float | None:
    """Share of register persons (with both written) whose native place is their birthplace."""
    if "origin_same" not in session.info:
        both, same = _fetch(session, _ORIGIN_SAME, {})[0]
        session.info["origin_same"] = (same or 0) / both if both else None
    return session.info["origin_same"]


_PLACE_COUNTS = {column: f"SELECT {column}, count(*) FROM register_person WHERE {column} IS NOT NULL GROUP BY {column}"
                 for column in ("birthplace", "native_place")}


def _province_densities(session: Session, column: str) -> dict[str, float]:
    """Province -> its share of the register's values of `column` (those naming a province)
    over the chance that two such values share a province (Σ share²)."""
    cache = session.info.setdefault("province_densities", {})
    if column not in cache:
        counts: dict[str, int] = {}
        for value, n in _fetch(session, _PLACE_COUNTS[column], {}):
            province = province_of(place_key(value))
            if province:
                counts[province] = counts.get(province, 0) + n
        total = sum(counts.values()) or 1
        same = sum((n / total) ** 2 for n in counts.values()) or 1.0
        cache[column] = {p: n / total / same for p, n in counts.items()}
    return cache[column]


def _year_densities(session: Session) -> dict[int, float]:
    """Birth year -> its share of the register over the chance that two random register
    persons share a birth year (Σ share²): 1 on average, more at the register's peak."""
    cached = session.info.get("year_densities")
    if cached is None:
        counts = dict(_fetch(session, _YEAR_COUNTS, {}))
        total = sum(counts.values()) or 1
        same_year = sum((n / total) ** 2 for n in counts.values()) or 1.0
        cached = session.info["year_densities"] = {int(y): n / total / same_year for y, n in counts.items()}
    return cached


def candidates_for(
    session: Session, query: MentionQuery, *, key: bytes, limit: int = 100, reach: str = "wide", same_name_limit: int | None = None,
) -> list[PersonRecord]:
    """Register persons worth comparing with the mention: the union of the blocking rules
    of `reach` (one of REACHES), each capped at `limit` rows, except the exact-name rule
    for a page without a birth year, capped at `same_name_limit` (default `limit`): there
    the name is all the blocking has, and a common name's namesakes must all be compared.
    "exact_date" keeps to the rules that need the exact birth date (narrow at any register
    size); a page without a full date always gets at least the wide rules. The OCR's
    alternative readings of the name join every name rule."""
    if reach not in REACHES:
        raise ValueError(f"unknown blocking reach {reach!r}, expected one of {REACHES}")
    full_date = query.birth_date is not None and len(query.birth_date) == 10
    upto = REACHES.index("wide" if reach == "exact_date" and not full_date else reach)
    return _candidates(session, query, REACHES[:upto + 1], key=key, limit=limit, same_name_limit=same_name_limit)


def _candidates(
    session: Session, query: MentionQuery, reaches: tuple[str, ...], *, key: bytes, limit: int, same_name_limit: int | None,
) -> list[PersonRecord]:
    """The union of the own rules of `reaches`, in one round trip, ordered by person_id."""
    query_hash = None
    if query.id_number:
        try:
            query_hash = id_hmac(query.id_number, key)
        except InvalidIdNumber:
            pass
    keys = [k for k in (name_keys(n) for n in (query.name, *query.name_alternatives) if n) if k.norm]
    dob = query.birth_date if query.birth_date and len(query.birth_date) == 10 else None
    year = int(query.birth_date[:4]) if query.birth_date and query.birth_date[:4].isdigit() else None
    if query_hash is None and not keys:
        return []
    params = {
        "id_hmac": query_hash,
        "dob": dob,
        "md": dob[5:] if dob else None,
        "surnames": sorted({k.variant[: len(k.surname)] for k in keys}),
        "givens": sorted({k.given for k in keys if k.given}),
        "skels": sorted({k.skeleton for k in keys}),
        "pys": sorted({p for k in keys for p in (k.pinyin_canonical, *k.pinyin)}),
        "norms": sorted({k.norm for k in keys}),
        "lookalikes": sorted({n for k in keys for n in lookalike_names(k.norm)}) if "lookalike" in reaches else [],
        "inner_masks": sorted({m for k in keys if (m := inner_masked_key(k))}),
        "skel_head": keys[0].skeleton[:-1] if keys and len(keys[0].given) >= 2 else None,
        "skel_head_end": keys[0].skeleton[:-1] + "\U0010ffff" if keys and len(keys[0].given) >= 2 else None,
        **_near_window(query.birth_date),
        "from_date": f"{year - 1:04d}" if year is not None else None,  # ISO strings sort by date;
        "to_date": f"{year + 1:04d}-12-31" if year is not None else None,  # "1957" sorts before "1957-…"
        "no_year": 1 if year is None else 0,
        "limit": limit,
        "same_name_limit": same_name_limit or limit,
    }
    sqlite = session.get_bind().dialect.name == "sqlite"
    return sorted((PersonRecord(*row) for row in _fetch(session, _reaches_sql(reaches, sqlite), params)), key=lambda p: p.person_id)


def _near_window(birth_date: str | None) -> dict[str, str | None]:
    """The birth dates the masked rules accept: ±62 days around a full date, the year of
    an imprecise one, none without a year (ISO strings sort by date)."""
    if not birth_date or not birth_date[:4].isdigit():
        return {"near_from": None, "near_to": None}
    if len(birth_date) == 10:
        try:
            day = date.fromisoformat(birth_date)
            return {"near_from": (day - timedelta(days=_NEAR_DAYS)).isoformat(), "near_to": (day + timedelta(days=_NEAR_DAYS)).isoformat()}
        except ValueError:
            pass
    return {"near_from": birth_date[:4], "near_to": f"{birth_date[:4]}-12-31"}


def register_size(session: Session) -> int:
    cached = session.info.get("register_size")
    if cached is None:
        cached = session.scalar(select(func.count()).select_from(RegisterPerson)) or 0
        session.info["register_size"] = cached
    return cached


def register_context(session: Session, query: MentionQuery) -> RegisterContext:
    """What the register says about the page's values: its size, and how common the page's
    name (with its sex), birth date and birth year are in it (term-frequency adjustment)."""
    size = max(register_size(session), 1)
    name_share = name_sex_share = date_share = year_density = None
    norm = name_keys(query.name).norm if query.name else ""
    if norm:
        by_sex = _name_sex_counts(session, norm)
        name_share = max(sum(by_sex.values()), 1) / size
        known = sum(n for sex, n in by_sex.items() if sex)
        if query.sex and known:  # namesakes without a recorded sex take the recorded ones' ratio
            name_sex_share = name_share * by_sex.get(query.sex, 0) / known
    dob = query.birth_date
    if dob and dob[:4].isdigit():
        year_density = _year_densities(session).get(int(dob[:4]), 0.0)
        if len(dob) == 10:
            date_share = _date_count(session, dob) / size
    one_off_share = _one_off_count(session, norm) / size if norm else None
    length_share = _length_share(session, len(norm)) if norm else None
    origin_same = _origin_same_share(session) if query.birthplace and query.native_place else None
    province_density = {}
    for column, value in (("birthplace", query.birthplace), ("native_place", query.native_place)):
        province = province_of(place_key(value)) if value else None
        if province:
            province_density[column] = _province_densities(session, column).get(province, 0.0)
    return RegisterContext(size, name_share, name_sex_share, date_share, year_density, one_off_share, length_share, origin_same,
                           province_density)


MAX_NAMESAKES = 2000  # a page with only a name is compared with at most this many register persons of that name


def link_to_register(session: Session, query: MentionQuery, *, key: bytes, options: LinkOptions, limit: int = 100) -> LinkResult:
    """Link one page person: first against the exact-date candidates; only when that does
    not settle it (or the page has no full birth date) against the wide candidate set;
    only when nobody there matches, against the look-alike and one-character-masked names too.

    A page without a birth year is compared with every register person of its exact name
    (up to MAX_NAMESAKES): the posterior is only right when all of them are in the
    candidate set. Beyond that it may not be linked: one unseen namesake could be the
    person, so the best candidate goes to review."""
    page_date = query.birth_date
    query = with_id_evidence(query)
    namesakes = _name_count(session, name_keys(query.name).norm) if query.name else None
    context = register_context(session, query)
    no_year = not (query.birth_date and query.birth_date[:4].isdigit())
    same_name_limit = min(max(limit, namesakes or 0), MAX_NAMESAKES) if no_year else limit
    found: dict[str, PersonRecord] = {}
    asked = 0  # REACHES[:asked] have been asked; each reach only adds its own rules

    def widen(reach: str) -> list[PersonRecord]:
        nonlocal asked
        upto = REACHES.index(reach) + 1
        found.update((p.person_id, p) for p in _candidates(
            session, query, REACHES[asked:upto], key=key, limit=limit, same_name_limit=same_name_limit))
        asked = upto
        return sorted(found.values(), key=lambda p: p.person_id)

    full_date = query.birth_date is not None and len(query.birth_date) == 10
    result = None
    if full_date:
        first = widen("exact_date")
        if first:
            result = link_mention(query, first, key=key, options=options, context=context)
    if result is None or result.status not in ("linked", "conflict"):
        result = link_mention(query, widen("wide"), key=key, options=options, context=context)
        if result.status == "new":
            result = link_mention(query, widen("masked"), key=key, options=options, context=context)
    if result.status == "linked" and no_year and (namesakes or 0) > same_name_limit:
        reasons = [f"{namesakes} register persons share the name and the page gives no birth year: not all compared", *result.reasons]
        result = replace(result, status="review", reasons=reasons)
    if query.birth_date != page_date:
        result = replace(result, reasons=[*result.reasons, f"birth date {query.birth_date} read from the page's ID number"])
    return result


# --- duplicates ------------------------------------------------------------------------


_DUPLICATE_PASSES = {  # blocking key of pipeline.link.duplicate_blocks -> the index-ordered columns that form it
    "id": ("id_hmac",),
    "dob_surname": ("birth_date", "surname_class"),
    "given_dob": ("given_norm", "birth_date"),
    "skeleton_year": ("name_skel", "birth_date"),  # grouped by skeleton and year
    "skeleton_md": ("name_skel", "birth_md"),
}


def _stream_blocks(session: Session, kind: str, batch: int = 5000) -> Iterator[list[BlockMember]]:
    """Consecutive register persons sharing one blocking key, streamed in index order:
    one block in memory at a time. Block keys come from the stored key columns."""
    order = _DUPLICATE_PASSES[kind]
    P = RegisterPerson
    columns = (P.person_id, P.name, P.sex, P.ethnicity, P.birth_date, P.id_hmac, P.birthplace, P.native_place, P.address,
               P.surname_class, P.given_norm, P.name_skel, P.name_py, P.birth_md)
    first = getattr(P, order[0])
    stmt = select(*columns).where(first.is_not(None)).order_by(*(getattr(P, c) for c in order))
    current: tuple | None = None
    members: list[BlockMember] = []
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        record = PersonRecord(*row[:9])
        surname, given, skeleton, pinyin, md = row[9:]
        key = {
            "id": (record.id_hmac,),
            "dob_surname": (record.birth_date, surname),
            "given_dob": (given, record.birth_date),
            "skeleton_year": (skeleton, (record.birth_date or "")[:4]),
            "skeleton_md": (skeleton, md),
        }[kind]
        if None in key or "" in key:
            continue
        if key != current:
            if len(members) > 1:
                yield members
            current, members = key, []
        members.append(BlockMember(record, surname + given, skeleton, pinyin))
    if len(members) > 1:
        yield members


def registry_duplicates(
    session: Session,
    *,
    threshold: float = 0.9,
    model: LinkModel | None = None,
    max_block: int = 200,
) -> list[DuplicateFinding]:
    """Suspected double registrations (重户) and shared ID numbers (重号) in the whole
    register: one streamed pass per blocking key, one block in memory at a time."""
    model = model or load_model()
    size = max(register_size(session), 1)

    @lru_cache(maxsize=65536)
    def name_share(norm: str) -> float:
        return (_name_count(session, norm) or 1) / size

    findings: dict[tuple[str, ...], DuplicateFinding] = {}
    for kind in _DUPLICATE_PASSES:
        for finding in judge_blocks(_stream_blocks(session, kind), model, size, threshold, max_block, name_share):
            findings.setdefault(tuple(finding.person_ids), finding)
    return sorted(findings.values(), key=lambda f: (-f.score, f.person_ids))


# --- events after a recorded death (假户口: impossible events) ---------------------------

DEATH_COLUMNS = ("death_date", "死亡日期")  # register CSV extra columns read as the date of death


def _register_deaths(session: Session) -> dict[str, tuple[str, str]]:
    """person_id -> (date of death, where it is recorded) from the register's extra columns."""
    P = RegisterPerson
    stmt = select(P.person_id, P.extra).where(P.extra.is_not(None), P.extra.contains("死亡日期") | P.extra.contains("death_date"))
    out: dict[str, tuple[str, str]] = {}
    for person_id, extra in session.execute(stmt.execution_options(yield_per=5000)):
        values = json.loads(extra)
        for column in DEATH_COLUMNS:
            try:
                died = normalize_birth_date(values.get(column) or "")
            except ValueError:
                continue
            if died:
                out[person_id] = (died, f"register {column}")
                break
    return out


def _page_dates(session: Session, page_filter, keys=("event_date", "registration_date")) -> Iterator[tuple[str, str, str | None, str, str, float]]:
    """(person_id, page_id, doc_type, field key, date, link score) of the pages whose principal
    person is linked, one row per date field."""
    from pipeline.db.models import FieldRow, LinkRow, Page

    stmt = (select(LinkRow.person_id, Page.id, Page.doc_type, FieldRow.key, FieldRow.value, LinkRow.score)
            .join(Page, Page.id == LinkRow.page_id)
            .join(FieldRow, (FieldRow.page_id == Page.id) & FieldRow.mention.is_(None) & FieldRow.key.in_(keys))
            .where(LinkRow.mention.is_(None), LinkRow.status == "linked", LinkRow.person_id.is_not(None), page_filter)
            .order_by(LinkRow.person_id, Page.id))
    yield from session.execute(stmt)


def _after(event: str, death: str) -> bool:
    """The event is certainly later than the death, at the precision both dates have."""
    if len(event) == 10 and len(death) == 10:
        return event > death
    return event[:4] > death[:4]


def events_after_death(session: Session) -> list[DuplicateFinding]:
    """Pages recording an event of a person after that person's recorded death (hukou-domain.md
    §3.6, 假户口: impossible events): one finding per person and page, with the reasons.

    The date of death comes from the register (an extra `death_date` / `死亡日期` column) or
    from a linked death deregistration page (its `event_date`); the event is the page's
    `event_date`, else its `registration_date`, and only the page's principal person counts:
    a father named on his child's birth registration may well have died before it."""
    from pipeline.db.models import Page

    deaths = _register_deaths(session)
    for person_id, page_id, _, _, value, _ in _page_dates(session, Page.doc_type == "death_deregistration", ("event_date",)):
        if value and (person_id not in deaths or value < deaths[person_id][0]):
            deaths[person_id] = (value, f"death deregistration page {page_id}")
    if not deaths:
        return []
    findings: list[DuplicateFinding] = []
    events: dict[tuple[str, str], tuple[str | None, dict[str, str], float]] = {}
    for person_id, page_id, doc_type, key, value, score in _page_dates(session, Page.doc_type.is_distinct_from("death_deregistration")):
        if person_id in deaths and value:
            events.setdefault((person_id, page_id), (doc_type, {}, score))[1][key] = value
    for (person_id, page_id), (doc_type, dates, score) in sorted(events.items()):
        key = "event_date" if "event_date" in dates else "registration_date"
        died, source = deaths[person_id]
        if _after(dates[key], died):
            findings.append(DuplicateFinding([person_id], float(score), [
                f"event after recorded death: page {page_id} ({doc_type or 'unknown type'}) {key} {dates[key]}, death {died} ({source})"]))
    return findings
