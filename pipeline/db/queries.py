"""Read-side queries: status, export records (interfaces.md §4), page detail and clerk search."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from pipeline.db.models import ArchiveObject, Batch, Event, FieldRow, LinkRow, NameKey, Page
from pipeline.errors import NotFound
from pipeline.index import KEY_WEIGHTS, search_keys
from pipeline.normalize import mask_id, normalize_id, parse_date



def _location(page: Page) -> dict[str, Any]:
    return {"repository": page.repository, "room": page.room, "shelf": page.shelf, "box": page.box,
            "fonds": page.fonds, "volume": page.volume, "page": page.page_no}


def _field_dict(rows: list[FieldRow], *, unmask: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in rows:
        value = r.value if (unmask or r.key != "id_number") else mask_id(r.value)
        item: dict[str, Any] = {"value": value, "confidence": round(r.confidence, 4)}
        if r.raw != r.value:
            item["raw"] = r.raw if (unmask or r.key != "id_number") else mask_id(r.raw)
        if r.flags:
            item["flags"] = list(r.flags)
        out[r.key] = item
    return out


def _link_dict(link: LinkRow | None) -> dict[str, Any] | None:
    if link is None:
        return None
    out: dict[str, Any] = {"status": link.status, "person_id": link.person_id, "score": round(link.score, 4)}
    if link.reasons:
        out["reasons"] = list(link.reasons)
    if link.status == "conflict" and link.candidates:
        out["candidates"] = [c[0] for c in link.candidates]
    return out


def export_record(page: Page, *, unmask: bool = True) -> dict[str, Any]:
    """One page as the export contract gives it. The export is for machines: IDs are whole by default."""
    by_mention: dict[int | None, list[FieldRow]] = defaultdict(list)
    for f in page.fields:
        by_mention[f.mention].append(f)
    links = {link.mention: link for link in page.links}
    record: dict[str, Any] = {
        "batch": page.batch_id,
        "source_file": page.source_file,
        "page_id": page.id,
        "page_no": page.page_no,
        "sha256": page.sha256,
        "doc_type": page.doc_type or "other",
        "fields": _field_dict(by_mention.get(None, []), unmask=unmask),
        "rotation": page.rotation if page.rotation is not None else 0,
        "skew_deg": page.skew_deg if page.skew_deg is not None else 0.0,
        "damage": sorted({d["kind"] for d in page.damage}),
        "needs_rescan": bool(page.needs_rescan),
        "link": _link_dict(links.get(None)) or {"status": "new", "person_id": None, "score": 0.0},
        "archive": None,
        "location": _location(page),
        "errors": list(page.errors),
    }
    if page.frame:
        record["frame"] = page.frame
    if page.status != "done":
        record["status"] = page.status
    if page.rescan_reasons:
        record["rescan_reasons"] = list(page.rescan_reasons)
    if page.review:
        record["review"] = list(page.review)
    if page.archive is not None:
        record["archive"] = {"uri": page.archive.uri, "sha256": page.archive.sha256, "pdfa": page.archive.pdfa}
    mention_nos = sorted(m for m in by_mention if m is not None)
    if mention_nos:
        record["mentions"] = [
            {"role": by_mention[m][0].role or "other", "fields": _field_dict(by_mention[m], unmask=unmask),
             "link": _link_dict(links.get(m)) or {"status": "new", "person_id": None, "score": 0.0}}
            for m in mention_nos
        ]
    return record


def _pages_query(batch_id: str):  # type: ignore[no-untyped-def]
    return (
        select(Page)
        .where(Page.batch_id == batch_id, Page.status != "superseded")
        .options(selectinload(Page.fields), selectinload(Page.links), selectinload(Page.archive))
        .order_by(Page.page_no)
    )


def export_records(session: Session, batch_id: str, *, unmask: bool = True) -> Iterator[dict[str, Any]]:
    if session.get(Batch, batch_id) is None:
        raise NotFound(f"no batch {batch_id!r}: run `hukou status` to list batches")
    for page in session.scalars(_pages_query(batch_id)):
        yield export_record(page, unmask=unmask)


def batch_summary(session: Session, batch_id: str) -> dict[str, Any]:
    """Progress and quality of one batch: what `hukou status` and the Prefect report show."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r}: run `hukou status` to list batches")
    pages = list(session.scalars(_pages_query(batch_id)))
    status = Counter(p.status for p in pages)
    damage: Counter[str] = Counter()
    for p in pages:
        damage.update({d["kind"] for d in p.damage})
    links: Counter[str] = Counter(link.status for p in pages for link in p.links)
    fields: dict[str, list[float]] = defaultdict(list)
    for p in pages:
        for f in p.fields:
            fields[f.key].append(f.confidence)
    stage_totals: dict[str, list[float]] = defaultdict(list)
    for p in pages:
        for stage, secs in (p.stage_seconds or {}).items():
            stage_totals[stage].append(secs)
    attention = [
        {"page_no": p.page_no, "page_id": p.id, "source_file": p.source_file, "box": p.box, "status": p.status,
         "reasons": list(p.rescan_reasons) + list(p.errors)}
        for p in pages if p.needs_rescan or p.status in ("quarantined", "failed")
    ]
    done = status.get("done", 0)
    return {
        "batch_id": batch.id,
        "status": batch.status,
        "location": {"repository": batch.repository, "room": batch.room, "shelf": batch.shelf, "box": batch.box,
                     "fonds": batch.fonds, "volume": batch.volume},
        "operator": batch.operator,
        "pages": len(pages),
        "done": done,
        "registered": status.get("registered", 0),
        "quarantined": status.get("quarantined", 0),
        "failed": status.get("failed", 0),
        "needs_rescan": sum(1 for p in pages if p.needs_rescan),
        "archived": sum(1 for p in pages if p.archive is not None),
        "seconds": batch.seconds,
        "pages_per_minute": (60.0 * batch.pages_processed / batch.seconds) if batch.seconds else 0.0,
        "damage": dict(damage),
        "links": dict(links),
        "fields": {k: {"count": len(v), "mean_confidence": sum(v) / len(v)} for k, v in fields.items()},
        "stage_seconds": {k: sum(v) / len(v) for k, v in stage_totals.items()},
        "attention": attention,
    }


def list_batches(session: Session) -> list[dict[str, Any]]:
    ids = session.scalars(select(Batch.id).order_by(Batch.created_at)).all()
    return [batch_summary(session, i) for i in ids]


def page_detail(session: Session, page_id: str, *, unmask: bool = False) -> dict[str, Any]:
    """Everything about one page for `hukou show`: fields, link, the paper's place, the archived object, events."""
    page = session.get(Page, page_id)
    if page is None:
        matches = session.scalars(select(Page).where(Page.id.startswith(page_id))).all()
        if len(matches) != 1:
            raise NotFound(f"no page {page_id!r}" if not matches else f"page id {page_id!r} is ambiguous")
        page = matches[0]
    record = export_record(page, unmask=unmask)
    record["status"] = page.status
    record["master_uri"] = page.master_uri
    record["dpi"] = page.dpi
    record["size_px"] = [page.width, page.height]
    archive = page.archive
    if archive is not None:
        record["archive"].update({"bytes": archive.bytes, "key": archive.key,
                                  "validated_at": archive.validated_at.isoformat() if archive.validated_at else None,
                                  "last_audit": archive.last_audit_outcome})
    events = session.scalars(select(Event).where(Event.page_id == page.id).order_by(Event.id)).all()
    record["events"] = [{"at": e.at.isoformat(), "type": e.event_type, "outcome": e.outcome, "agent": e.agent} for e in events]
    return record


def search_pages(
    session: Session,
    *,
    name: str | None = None,
    id_number: str | None = None,
    birth_date: str | None = None,
    address: str | None = None,
    text: str | None = None,
    box: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Clerk search. Criteria combine with AND; each hit says which field matched and how well."""
    conditions = []
    name_score: dict[str, float] = {}
    if name:
        name_score = _name_matches(session, name.strip())
        conditions.append(("name", list(name_score)))
    if id_number:
        parsed = normalize_id(id_number)
        wanted = {id_number.strip().upper()}
        if parsed is not None:
            wanted.add(parsed.value)
        conditions.append(("id_number", select(FieldRow.page_id).where(FieldRow.key == "id_number", FieldRow.value.in_(wanted))))
    if birth_date:
        parsed_date = parse_date(birth_date)
        iso = parsed_date.iso if parsed_date else birth_date
        conditions.append(("birth_date", select(FieldRow.page_id).where(FieldRow.key == "birth_date", FieldRow.value.startswith(iso))))
    if address:
        conditions.append(("address", select(FieldRow.page_id).where(
            FieldRow.key.in_(("address", "move_from", "move_to")), FieldRow.value.contains(address.strip()))))
    stmt = select(Page).where(Page.status != "superseded")
    for _, sub in conditions:
        stmt = stmt.where(Page.id.in_(sub))
    if text:
        stmt = stmt.where(Page.ocr_text.contains(text.strip()))
    if box:
        stmt = stmt.where(Page.box == box.strip())
    if not conditions and not text and not box:
        return []
    stmt = stmt.options(selectinload(Page.fields), selectinload(Page.links), selectinload(Page.archive)).order_by(
        Page.batch_id, Page.page_no).limit(limit)
    hits = []
    for page in session.scalars(stmt):
        record = export_record(page, unmask=False)
        record["matched"] = [c for c, _ in conditions] + (["text"] if text else []) + (["box"] if box else [])
        hits.append(record)
    if name:
        for record in hits:
            record["name_score"] = name_score[record["page_id"]]
        hits.sort(key=lambda r: -r["name_score"])
    return hits


def _name_matches(session: Session, name: str) -> dict[str, float]:
    """Pages naming this person, each with the best key-match weight.

    A surname or a partial name (fewer characters than a full name) matches names that
    start with it; otherwise the name's keys are looked up (variants, look-alikes,
    homophones, one illegible character).
    """
    scores: dict[str, float] = {}
    keys = search_keys(name)
    if not keys:
        return scores
    norm = next(k for kind, k in keys if kind == "norm")
    if len(norm) == 1:
        rows = session.execute(select(NameKey.page_id).where(NameKey.kind == "norm", NameKey.key.startswith(norm)))
        return {pid: 0.6 for (pid,) in rows}
    for kind in KEY_WEIGHTS:
        wanted = [k for kk, k in keys if kk == kind]
        if not wanted:
            continue
        rows = session.execute(select(NameKey.page_id).where(NameKey.kind == kind, NameKey.key.in_(wanted)))
        for (pid,) in rows:
            scores[pid] = max(scores.get(pid, 0.0), KEY_WEIGHTS[kind])
    return scores


def count_pages(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Page)) or 0)


def archived_objects(session: Session, *, batch_id: str | None = None) -> list[ArchiveObject]:
    stmt = select(ArchiveObject).join(Page, Page.id == ArchiveObject.page_id)
    if batch_id:
        stmt = stmt.where(Page.batch_id == batch_id)
    return list(session.scalars(stmt.order_by(ArchiveObject.id)))


def review_queue(session: Session, *, batch_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Pages whose fields a person should confirm: the reasons, and each doubtful field's alternatives."""
    stmt = select(Page).where(Page.status == "done").options(selectinload(Page.fields)).order_by(Page.batch_id, Page.page_no)
    if batch_id:
        stmt = stmt.where(Page.batch_id == batch_id)
    out = []
    for page in session.scalars(stmt):
        doubtful = [
            {"mention": f.mention, "key": f.key, "value": mask_id(f.value) if f.key == "id_number" else f.value,
             "confidence": round(f.confidence, 3), "flags": list(f.flags), "alternatives": list(f.alternatives)}
            for f in page.fields if f.flags or f.alternatives
        ]
        if page.review or any("low_confidence" in d["flags"] for d in doubtful):
            out.append({"page_id": page.id, "batch": page.batch_id, "page_no": page.page_no, "box": page.box,
                        "doc_type": page.doc_type, "reasons": list(page.review), "fields": doubtful})
        if len(out) >= limit:
            break
    return out
