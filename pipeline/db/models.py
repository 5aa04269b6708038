"""The archive's tables (SQLAlchemy 2, typed), portable across SQLite and PostgreSQL.

A batch is a box (or part of one); a page is identified by its master's SHA-256 and
frame within the batch; every step of a page appends a PREMIS-style event.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.db.base import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Batch(Base):
    __tablename__ = "batch"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    root: Mapped[str] = mapped_column(Text)
    scanner: Mapped[str] = mapped_column(String(20))
    device: Mapped[str] = mapped_column(String(200), default="")
    operator: Mapped[str] = mapped_column(String(200), default="")
    dpi: Mapped[int | None] = mapped_column(Integer)
    repository: Mapped[str] = mapped_column(String(300), default="")
    room: Mapped[str] = mapped_column(String(100), default="")
    shelf: Mapped[str] = mapped_column(String(100), default="")
    box: Mapped[str] = mapped_column(String(100), default="")
    fonds: Mapped[str] = mapped_column(String(100), default="")
    volume: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="registered")  # registered | running | done | failed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # wall time of the last run that processed pages
    pages_processed: Mapped[int] = mapped_column(Integer, default=0)  # pages that run processed

    pages: Mapped[list[Page]] = relationship(back_populates="batch", order_by="Page.page_no")


class Page(Base):
    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("batch_id", "sha256", "frame", name="uq_page_identity"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id"), index=True)
    source_file: Mapped[str] = mapped_column(Text)
    frame: Mapped[int] = mapped_column(Integer, default=0)
    page_no: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    dpi: Mapped[float | None] = mapped_column(Float)
    scanner: Mapped[str | None] = mapped_column(String(20))
    capture: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    master_uri: Mapped[str | None] = mapped_column(Text)
    # The paper's place: copied from the batch so a page row alone finds its box.
    repository: Mapped[str] = mapped_column(String(300), default="")
    room: Mapped[str] = mapped_column(String(100), default="")
    shelf: Mapped[str] = mapped_column(String(100), default="")
    box: Mapped[str] = mapped_column(String(100), default="", index=True)
    fonds: Mapped[str] = mapped_column(String(100), default="")
    volume: Mapped[str] = mapped_column(String(200), default="")
    # registered | done | quarantined | failed
    status: Mapped[str] = mapped_column(String(20), default="registered", index=True)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    rotation: Mapped[int | None] = mapped_column(Integer)
    skew_deg: Mapped[float | None] = mapped_column(Float)
    damage: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    needs_rescan: Mapped[bool] = mapped_column(Boolean, default=False)
    rescan_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    doc_type: Mapped[str | None] = mapped_column(String(40))
    doc_type_confidence: Mapped[float | None] = mapped_column(Float)
    review: Mapped[list[str]] = mapped_column(JSON, default=list)
    ocr_text: Mapped[str] = mapped_column(Text, default="")
    processed_version: Mapped[str | None] = mapped_column(String(200))  # software+model; a change re-runs the page
    stage_seconds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    batch: Mapped[Batch] = relationship(back_populates="pages")
    derivatives: Mapped[list[Derivative]] = relationship(cascade="all, delete-orphan")
    lines: Mapped[list[OcrLineRow]] = relationship(cascade="all, delete-orphan", order_by="OcrLineRow.line_no")
    fields: Mapped[list[FieldRow]] = relationship(cascade="all, delete-orphan", order_by="FieldRow.id")
    links: Mapped[list[LinkRow]] = relationship(cascade="all, delete-orphan", order_by="LinkRow.mention")
    name_keys: Mapped[list[NameKey]] = relationship(cascade="all, delete-orphan")
    archive: Mapped[ArchiveObject | None] = relationship(cascade="all, delete-orphan", uselist=False)


class Derivative(Base):
    """An image made from the master (archival image, OCR image) and how it was made."""

    __tablename__ = "derivative"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # archival | ocr
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    dpi: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    operations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class OcrLineRow(Base):
    __tablename__ = "ocr_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    quad: Mapped[list[list[float]]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    vertical: Mapped[bool] = mapped_column(Boolean, default=False)
    low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    alternatives: Mapped[list[Any]] = mapped_column(JSON, default=list)
    engine: Mapped[str] = mapped_column(String(40))
    engine_version: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))


class FieldRow(Base):
    """One extracted value; `mention` None is the page's principal person and page-level fields."""

    __tablename__ = "field"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), index=True)
    mention: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(40), index=True)
    value: Mapped[str] = mapped_column(Text, index=True)
    raw: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    alternatives: Mapped[list[str]] = mapped_column(JSON, default=list)
    precision: Mapped[str | None] = mapped_column(String(4))
    calendar: Mapped[str | None] = mapped_column(String(20))


class NameKey(Base):
    """Match keys of every person name on a page, so a clerk finds a page by a name the OCR or
    the clerk wrote a little differently (variant surname, look-alike or illegible character,
    homophone). Portable: plain indexed strings, no trigram or FTS (they fail on 2-character names)."""

    __tablename__ = "name_key"
    __table_args__ = (Index("ix_name_key_kind_key", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), index=True)
    mention: Mapped[int | None] = mapped_column(Integer)
    field_key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # norm | variant | skeleton | pinyin | masked
    key: Mapped[str] = mapped_column(String(200))


class LinkRow(Base):
    __tablename__ = "link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), index=True)
    mention: Mapped[int | None] = mapped_column(Integer)  # None: the page's principal person
    status: Mapped[str] = mapped_column(String(20), index=True)
    person_id: Mapped[str | None] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ArchiveObject(Base):
    """The digital half of the dual copy; the page row holds the paper's place."""

    __tablename__ = "archive_object"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    page_id: Mapped[str] = mapped_column(ForeignKey("page.id", ondelete="CASCADE"), unique=True)
    key: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    pdfa: Mapped[str] = mapped_column(String(10), default="2b")
    validated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version_id: Mapped[str | None] = mapped_column(String(200))
    retention_until: Mapped[str | None] = mapped_column(String(40))
    last_audit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_audit_outcome: Mapped[str | None] = mapped_column(String(20))


class Event(Base):
    """PREMIS-style event: what was done to which page, when, by which software, with what outcome."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str | None] = mapped_column(String(200), index=True)
    page_id: Mapped[str | None] = mapped_column(String(40), index=True)
    event_type: Mapped[str] = mapped_column(String(40))  # ingestion | message digest calculation | repair | ocr | …
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    agent: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))  # success | failure | warning
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
