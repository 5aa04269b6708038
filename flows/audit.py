"""Fixity audit: re-read archived objects, re-hash, re-validate PDF/A and the text layer.

Each object checked gets a PREMIS-style `fixity check` event; any finding makes the
audit fail (the CLI exits non-zero), so a supervisor's cron job notices.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from sqlalchemy import select

from flows.runtime import Runtime
from flows.steps import add_event
from pipeline.archive import check_text_layer, validate_pdfa
from pipeline.db.models import ArchiveObject, Batch, OcrLineRow, Page, utcnow
from pipeline.db.queries import archived_objects
from pipeline.db.session import session_scope
from pipeline.errors import NotFound
from pipeline.records import OcrLine
from pipeline.storage import ChecksumMismatch, ObjectMissing, StorageError


@dataclass
class AuditFinding:
    page_id: str
    uri: str
    problem: str


@dataclass
class AuditReport:
    objects: int = 0
    checked: int = 0
    findings: list[AuditFinding] = field(default_factory=list)


def sample_size(total: int, percent: float) -> int:
    """At least one object, and at least `percent` of them (DA/T 31 acceptance samples ≥ 5%)."""
    if total == 0:
        return 0
    return min(total, max(1, math.ceil(total * percent / 100.0)))


def check_object(rt: Runtime, obj: ArchiveObject, lines: list[OcrLine]) -> list[str]:
    """What is wrong with one stored object; empty when it is intact."""
    try:
        data = rt.store.get(obj.key)
    except ObjectMissing:
        return ["object is missing from storage"]
    except ChecksumMismatch:
        # The store refuses bytes that no longer match the checksum it stored with them.
        return [f"SHA-256 differs: stored bytes no longer match their checksum (recorded {obj.sha256[:16]}…)"]
    except StorageError as exc:
        return [f"object cannot be read: {exc}"]
    problems = []
    digest = hashlib.sha256(data).hexdigest()
    if digest != obj.sha256:
        problems.append(f"SHA-256 differs: recorded {obj.sha256[:16]}…, stored bytes {digest[:16]}…")
    if len(data) != obj.bytes:
        problems.append(f"size differs: recorded {obj.bytes} bytes, stored {len(data)}")
    report = validate_pdfa(data)
    if not report.valid:
        problems.append("not valid PDF/A-2b: " + "; ".join(report.problems[:3]))
    else:
        problems += [f"text layer: {p}" for p in check_text_layer(data, lines)[:3]]
    return problems


def run_audit(rt: Runtime, *, sample_percent: float = 100.0, batch_id: str | None = None, seed: int | None = None) -> AuditReport:
    with session_scope(rt.sessions) as session:
        if batch_id and session.get(Batch, batch_id) is None:
            # a mistyped id would otherwise "pass" an audit of nothing
            raise NotFound(f"no batch {batch_id!r}: run `hukou status` to list batches")
        objects = archived_objects(session, batch_id=batch_id)
    report = AuditReport(objects=len(objects))
    chosen = random.Random(seed).sample(objects, sample_size(len(objects), sample_percent))
    for obj in sorted(chosen, key=lambda o: o.id):
        with session_scope(rt.sessions) as session:
            rows = session.scalars(select(OcrLineRow).where(OcrLineRow.page_id == obj.page_id).order_by(OcrLineRow.line_no))
            lines = [OcrLine(quad=tuple(tuple(p) for p in r.quad), text=r.text, score=r.score, vertical=r.vertical) for r in rows]
        problems = check_object(rt, obj, lines)
        report.checked += 1
        report.findings += [AuditFinding(obj.page_id, obj.uri, p) for p in problems]
        with session_scope(rt.sessions) as session:
            row = session.get(ArchiveObject, obj.id)
            page = session.get(Page, obj.page_id)
            assert row is not None and page is not None
            row.last_audit_at = utcnow()
            row.last_audit_outcome = "failure" if problems else "success"
            add_event(session, rt, "fixity check", row.last_audit_outcome, batch_id=page.batch_id, page_id=obj.page_id,
                      uri=obj.uri, algorithm="SHA-256", problems=problems)
    return report
