"""The population register mirror: its table, the CSV import, and the blocking queries
that fetch linkage candidates.

ID numbers never sit in plaintext: a keyed HMAC of the normalised 18-digit number for
equality search, a Fernet-encrypted copy for authorised display, and a masked form for
every output (hukou-domain.md §5). Blocking keys are plain indexed columns, so the same
queries serve SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Engine, Index, Integer, String, Text, bindparam, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from pipeline.db.base import Base
from pipeline.link import (
    DuplicateFinding,
    InvalidIdNumber,
    LinkModel,
    LinkOptions,
    MentionQuery,
    PersonRecord,
    RegisterContext,
    duplicate_blocks,
    id_hmac,
    judge_blocks,
    link_mention,
    load_model,
    mask_id,
    upgrade_id,
)
from pipeline.namekeys import MASK, blocking_keys, name_keys
from pipeline.records import LinkResult

COLUMNS = ("person_id", "name", "sex", "ethnicity", "birth_date", "id_number", "birthplace", "native_place", "address")


class RegisterFileError(ValueError):
    """The register CSV cannot be read at all (not UTF-8, no header, no person_id/name column)."""


class RegisterPerson(Base):
    __tablename__ = "register_person"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_norm: Mapped[str] = mapped_column(String(64), index=True)
    surname_class: Mapped[str] = mapped_column(String(16))
    given_norm: Mapped[str] = mapped_column(String(48))
    name_skel: Mapped[str] = mapped_column(String(64))
    name_py: Mapped[str] = mapped_column(String(160))
    mask_mid: Mapped[str | None] = mapped_column(String(64))  # 王*兰: names of 3+ characters
    mask_last: Mapped[str | None] = mapped_column(String(64))  # 王桂*
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
        Index("ix_register_person_mask_mid_dob", "mask_mid", "birth_date"),
        Index("ix_register_person_mask_last_dob", "mask_last", "birth_date"),
        Index("ix_register_person_skel_md", "name_skel", "birth_md"),
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


def normalize_sex(text: str) -> str | None:
    value = text.strip()
    return {"男": "男", "女": "女", "M": "男", "F": "女", "m": "男", "f": "女", "1": "男", "2": "女"}.get(value, value or None)


def _row_values(row: dict[str, str], *, hmac_key: bytes, fernet: Fernet) -> tuple[dict[str, object], str | None]:
    """The table row for one CSV row, and a warning if a value had to be dropped."""
    person_id = (row.get("person_id") or "").strip()
    name = (row.get("name") or "").strip()
    if not person_id:
        raise ValueError("no person_id")
    if not name:
        raise ValueError("no name")
    birth_date = normalize_birth_date(row.get("birth_date") or "")
    keys = blocking_keys(name)
    warning = None
    raw_id = (row.get("id_number") or "").strip()
    hashed = encrypted = masked = None
    if raw_id:
        masked = mask_id(raw_id)
        encrypted = fernet.encrypt(raw_id.encode("utf-8")).decode("ascii")
        try:
            id18 = upgrade_id(raw_id)
            hashed = id_hmac(id18, hmac_key)
            masked = mask_id(id18)
        except InvalidIdNumber as exc:
            warning = f"{exc}: kept encrypted, not matchable"
    extra = {k: v for k, v in row.items() if k not in COLUMNS and k is not None and v not in (None, "")}
    values = {
        "person_id": person_id,
        "name": name,
        "name_norm": keys.norm,
        "surname_class": keys.variant[: len(keys.surname)],
        "given_norm": keys.given,
        "name_skel": keys.skeleton,
        "name_py": keys.pinyin_canonical,
        "mask_mid": _mask(keys.norm, 1),
        "mask_last": _mask(keys.norm, len(keys.norm) - 1),
        "sex": normalize_sex(row.get("sex") or ""),
        "ethnicity": (row.get("ethnicity") or "").strip() or None,
        "birth_date": birth_date,
        "birth_year": int(birth_date[:4]) if birth_date else None,
        "birth_md": birth_date[5:] if birth_date and len(birth_date) == 10 else None,
        "id_hmac": hashed,
        "id_encrypted": encrypted,
        "id_masked": masked,
        "birthplace": (row.get("birthplace") or "").strip() or None,
        "native_place": (row.get("native_place") or "").strip() or None,
        "address": (row.get("address") or "").strip() or None,
        "extra": json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
    }
    return values, warning


def _mask(norm: str, position: int) -> str | None:
    """The name with one character masked, for names of 3+ characters (for 2-character
    names the given name alone, `given_norm`, does this job)."""
    if len(norm) < 3:
        return None
    return norm[:position] + MASK + norm[position + 1:]


def _session_scope(engine_or_session: Engine | Session) -> tuple[Session, bool]:
    if isinstance(engine_or_session, Session):
        return engine_or_session, False
    return Session(engine_or_session), True


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
    person_id, in batches: memory stays bounded whatever the file size. Commits per batch
    when given an Engine; with a Session the caller commits."""
    fernet = Fernet(fernet_key)
    report = ImportReport()
    session, owned = _session_scope(engine_or_session)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in ("person_id", "name") if c not in header]
            if missing:
                raise RegisterFileError(f"{path.name}: no column {', '.join(missing)} in the header")
            batch: dict[str, dict[str, object]] = {}
            try:
                for row in reader:
                    report.rows += 1
                    line_no = reader.line_num
                    try:
                        values, warning = _row_values(row, hmac_key=hmac_key, fernet=fernet)
                    except ValueError as exc:
                        report.rejected.append((line_no, str(exc)))
                        continue
                    if warning:
                        report.warnings.append((line_no, warning))
                    batch[values["person_id"]] = values
                    if len(batch) >= batch_size:
                        _upsert(session, list(batch.values()), report)
                        batch.clear()
                        if owned:
                            session.commit()
                        if progress:
                            progress(report.rows)
            except UnicodeDecodeError as exc:
                raise RegisterFileError(f"{path.name}: not UTF-8 ({exc.reason})") from exc
            if batch:
                _upsert(session, list(batch.values()), report)
            if owned:
                session.commit()
            if progress:
                progress(report.rows)
    finally:
        if owned:
            session.close()
    return report


def _upsert(session: Session, rows: list[dict[str, object]], report: ImportReport) -> None:
    ids = [r["person_id"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start:start + 900]
        existing.update(session.scalars(select(RegisterPerson.person_id).where(RegisterPerson.person_id.in_(chunk))))
    new = [r for r in rows if r["person_id"] not in existing]
    old = [r for r in rows if r["person_id"] in existing]
    if new:
        session.execute(RegisterPerson.__table__.insert(), new)
    if old:
        session.execute(update(RegisterPerson), old)
    report.inserted += len(new)
    report.updated += len(old)


# --- candidates ------------------------------------------------------------------------

_RECORD_COLUMNS = "person_id, name, sex, ethnicity, birth_date, id_hmac, birthplace, native_place, address"
_BLOCKING_RULES = (
    "id_hmac = :id_hmac",
    "birth_date = :dob AND surname_class IN :surnames",  # a given-name character misread
    "given_norm IN :givens AND birth_date BETWEEN :from_date AND :to_date",  # surname misread
    "name_skel IN :skels AND birth_date BETWEEN :from_date AND :to_date",  # shape confusions, date misread
    "name_py IN :pys AND birth_date BETWEEN :from_date AND :to_date",  # homophones
    "mask_mid IN :masks_mid AND birth_date BETWEEN :from_date AND :to_date",  # any one character misread
    "mask_last IN :masks_last AND birth_date BETWEEN :from_date AND :to_date",
    "name_skel IN :skels AND birth_md = :md",  # the year misread
    ":no_year = 1 AND name_norm IN :norms",  # a page without a birth date
    ":no_year = 1 AND name_skel IN :skels",
    ":no_year = 1 AND name_py IN :pys",
)


def _candidate_statement():
    """One round trip: the union of indexed lookups, each capped by itself."""
    branches = [f"SELECT * FROM (SELECT {_RECORD_COLUMNS} FROM register_person WHERE {rule} LIMIT :limit) AS b{i}" for i, rule in enumerate(_BLOCKING_RULES)]
    expanding = [bindparam(n, expanding=True) for n in ("surnames", "givens", "skels", "pys", "norms", "masks_mid", "masks_last")]
    return text(" UNION ".join(branches)).bindparams(*expanding)


_CANDIDATES = _candidate_statement()
_NAME_COUNT = text("SELECT count(*) FROM register_person WHERE name_norm = :norm")


def candidates_for(session: Session, query: MentionQuery, *, key: bytes, limit: int = 100) -> list[PersonRecord]:
    """Register persons worth comparing with the mention: the union of blocking rules
    (hukou-domain.md §3.5), each an indexed lookup capped at `limit` rows: ID hash;
    birth date + surname class; a name key (given name, skeleton, pinyin, one character
    masked) + birth year ±1; skeleton + month and day; without a birth year, the name
    keys alone. The OCR's alternative readings of the name join every name rule."""
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
        "masks_mid": sorted({m for k in keys if (m := _mask(k.norm, 1))}),
        "masks_last": sorted({m for k in keys if (m := _mask(k.norm, len(k.norm) - 1))}),
        "from_date": f"{year - 1:04d}" if year is not None else None,  # ISO strings sort by date;
        "to_date": f"{year + 1:04d}-12-31" if year is not None else None,  # "1957" sorts before "1957-…"
        "no_year": 1 if year is None else 0,
        "limit": limit,
    }
    return [PersonRecord(*row) for row in session.execute(_CANDIDATES, params)]


def register_size(session: Session) -> int:
    cached = session.info.get("register_size")
    if cached is None:
        cached = session.scalar(select(func.count()).select_from(RegisterPerson)) or 0
        session.info["register_size"] = cached
    return cached


def register_context(session: Session, query: MentionQuery) -> RegisterContext:
    size = register_size(session)
    share = None
    if query.name:
        count = session.scalar(_NAME_COUNT, {"norm": name_keys(query.name).norm}) or 0
        share = max(count, 1) / max(size, 1)
    return RegisterContext(register_size=max(size, 1), name_share=share)


def link_to_register(session: Session, query: MentionQuery, *, key: bytes, options: LinkOptions, limit: int = 200) -> LinkResult:
    """Candidates from the register, then the linkage decision."""
    candidates = candidates_for(session, query, key=key, limit=limit)
    return link_mention(query, candidates, key=key, options=options, context=register_context(session, query))


# --- duplicates ------------------------------------------------------------------------


def _stream_blocks(session: Session, order: tuple, kind: str, batch: int = 5000) -> Iterator[list[PersonRecord]]:
    """Consecutive register persons sharing one blocking key, streamed in key order."""
    current: tuple | None = None
    members: list[PersonRecord] = []
    stmt = select(RegisterPerson).order_by(*order, RegisterPerson.person_id).execution_options(yield_per=batch)
    for person in session.scalars(stmt):
        record = person.record()
        block = next((b for b in duplicate_blocks(record) if b[0] == kind), None)
        if block != current:
            if len(members) > 1:
                yield members
            current, members = block, []
        if block is not None:
            members.append(record)
        session.expunge(person)
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
    register, one streamed pass per blocking key: memory holds one block at a time."""
    model = model or load_model()
    size = max(register_size(session), 1)
    shares: dict[str, float] = {}

    def name_share(norm: str) -> float:
        if norm not in shares:
            count = session.scalar(_NAME_COUNT, {"norm": norm}) or 1
            shares[norm] = count / size
        return shares[norm]

    P = RegisterPerson
    passes = {
        "id": (P.id_hmac,),
        "dob_sur": (P.birth_date, P.surname_class),
        "dob_given": (P.birth_date, P.given_norm),
        "skel_year": (P.name_skel, P.birth_date),
    }
    findings: dict[tuple[str, ...], DuplicateFinding] = {}
    for kind, order in passes.items():
        for finding in judge_blocks(_stream_blocks(session, order, kind), model, size, threshold, max_block, name_share):
            key = tuple(finding.person_ids)
            if key not in findings or finding.score > findings[key].score:
                findings[key] = finding
    return sorted(findings.values(), key=lambda f: (-f.score, f.person_ids))
