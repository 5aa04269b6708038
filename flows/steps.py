"""The batch and page steps that flows run, as plain functions over a Runtime.

They compose the stages of `pipeline/` and persist what the stages return. No
image or text logic lives here. A page's failure is recorded on the page and
never raised through the batch, except errors worth retrying (storage,
database), which are raised so the orchestrator retries the page.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from flows.runtime import Runtime
from ocr_models.base import EngineOptions, get_engine
from pipeline import __version__
from pipeline.archive import ArchiveRefused, PdfOptions, make_archival_pdf, object_key
from pipeline.db.models import ArchiveObject, Batch, Derivative, Event, FieldRow, LinkRow, NameKey, OcrLineRow, Page
from pipeline.db.register import link_to_register
from pipeline.db.session import session_scope
from pipeline.extract import ExtractOptions, extract
from pipeline.index import NAME_FIELDS, search_keys
from pipeline.ingest import list_sources
from pipeline.link import LinkOptions, MentionQuery
from pipeline.records import (
    ArchiveMetadata,
    BatchManifest,
    Extraction,
    Field,
    LinkResult,
    Location,
    Master,
    SourceFile,
    StoredObject,
)
from pipeline.repair import RepairOptions, repair
from pipeline.storage import ObjectExists, StorageError
from scanners import FrameProbe, UnreadableSource, probe_source, read_source

log = logging.getLogger(__name__)

RETRYABLE = (StorageError, OperationalError)


def page_id_for(batch_id: str, sha256: str, frame: int) -> str:
    """A page is its master's SHA-256 (and frame) within a batch: stable across re-runs."""
    return hashlib.sha256(f"{batch_id}\x00{sha256}\x00{frame}".encode()).hexdigest()[:20]


def master_key(location: Location, batch_id: str, source: SourceFile) -> str:
    suffix = Path(source.name).suffix.lower() or ".bin"
    fonds = location.fonds or "unfiled"
    return f"masters/{fonds}/{batch_id}/{source.sha256}{suffix}".replace("//", "/")


def processing_version(rt: Runtime) -> str:
    """Software and model identity: a page done under another version is processed again."""
    ocr = rt.settings.ocr
    return f"{__version__}|{ocr.engine}|{rt.model_identity}|{ocr.max_side_len}|{ocr.text_score}"


def add_event(
    session: Session, rt: Runtime, event_type: str, outcome: str, *, batch_id: str | None, page_id: str | None, **detail: Any
) -> None:
    session.add(Event(batch_id=batch_id, page_id=page_id, event_type=event_type, outcome=outcome, agent=rt.agent, detail=detail))


@dataclass
class RegisterReport:
    batch_id: str
    page_ids: list[str] = field(default_factory=list)
    new_pages: int = 0
    known_pages: int = 0
    quarantined: int = 0


def register_batch(rt: Runtime, manifest: BatchManifest) -> RegisterReport:
    """Record the batch and one row per page; keep a byte-identical copy of every master.

    Safe to repeat: a file already registered (same SHA-256) keeps its page row; a
    file replaced by a re-scan supersedes the old row instead of duplicating it.
    """
    report = RegisterReport(batch_id=manifest.batch_id)
    loc = manifest.location
    sources = list_sources(manifest)
    with session_scope(rt.sessions) as session:
        batch = session.get(Batch, manifest.batch_id)
        if batch is None:
            batch = Batch(id=manifest.batch_id)
            session.add(batch)
        batch.root = manifest.root
        batch.scanner = manifest.scanner
        batch.device = manifest.device
        batch.operator = manifest.operator
        batch.dpi = manifest.dpi
        for key, value in loc.as_dict().items():
            setattr(batch, key, value)
        batch.status = "running"
        existing = {(p.sha256, p.frame): p for p in session.scalars(select(Page).where(Page.batch_id == manifest.batch_id))}

    current_shas = {s.sha256 for s in sources}
    current_names = {s.name for s in sources}
    page_no = 0
    for source in sources:
        known = sorted((p for (sha, _), p in existing.items() if sha == source.sha256), key=lambda p: p.frame)
        if known:
            with session_scope(rt.sessions) as session:
                for row in known:
                    page_no += 1
                    page = session.get(Page, row.id)
                    assert page is not None
                    page.page_no = page_no
                    page.source_file = source.name
                    report.page_ids.append(page.id)
                    report.known_pages += 1
            continue
        report_page = _register_source(rt, manifest, source, page_no + 1)
        page_no += len(report_page)
        report.page_ids.extend(pid for pid, _ in report_page)
        report.new_pages += len(report_page)
        report.quarantined += sum(1 for _, quarantined in report_page if quarantined)

    with session_scope(rt.sessions) as session:
        for (sha, _), row in existing.items():
            if sha not in current_shas and row.status != "superseded":
                page = session.get(Page, row.id)
                assert page is not None
                page.status = "superseded"
                reason = "replaced by a re-scan" if row.source_file in current_names else "file no longer in the batch folder"
                page.errors = [*page.errors, reason]
                add_event(session, rt, "deaccession", "success", batch_id=manifest.batch_id, page_id=row.id, reason=reason)
    return report


def _register_source(rt: Runtime, manifest: BatchManifest, source: SourceFile, first_page_no: int) -> list[tuple[str, bool]]:
    """One row per page the file holds, from its header only (the pixels are decoded once, by the page's
    own task, which quarantines what turns out undecodable): the serial part of a run stays short."""
    loc = manifest.location
    try:
        probes: list[FrameProbe | None] = list(probe_source(source, batch_dpi=manifest.dpi))
        problem = None
    except UnreadableSource as exc:
        probes, problem = [None], exc.reason
    master_uri = None
    if rt.settings.storage.store_masters and source.size > 0:
        data = Path(source.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != source.sha256:
            problem = "the file changed while it was being registered"
            probes = [None]
        else:
            stored = rt.store.put(
                master_key(loc, manifest.batch_id, source), data, sha256=source.sha256, content_type="application/octet-stream"
            )
            master_uri = stored.uri
    out = []
    with session_scope(rt.sessions) as session:
        for index, probe in enumerate(probes):
            pid = page_id_for(manifest.batch_id, source.sha256, index)
            page = Page(
                id=pid,
                batch_id=manifest.batch_id,
                source_file=source.name,
                frame=index,
                page_no=first_page_no + index,
                sha256=source.sha256,
                bytes=source.size,
                format=source.format,
                master_uri=master_uri,
                **loc.as_dict(),
            )
            if probe is None:
                page.status = "quarantined"
                page.errors = [f"{source.name}: {problem}"]
            else:
                page.width, page.height, page.dpi = probe.width, probe.height, probe.dpi
            session.add(page)
            add_event(session, rt, "ingestion", "failure" if probe is None else "success", batch_id=manifest.batch_id,
                      page_id=pid, source_file=source.name, frame=index, reason=problem)
            add_event(session, rt, "message digest calculation", "success", batch_id=manifest.batch_id, page_id=pid,
                      algorithm="SHA-256", digest=source.sha256, master_uri=master_uri)
            out.append((pid, probe is None))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass
class PageOutcome:
    page_id: str
    status: str
    needs_rescan: bool = False
    skipped: bool = False
    stage_seconds: dict[str, float] = field(default_factory=dict)


def process_page(rt: Runtime, page_id: str, *, force: bool = False,
                 ocr_slot: Callable[[], AbstractContextManager[Any]] = nullcontext) -> PageOutcome:
    """Repair, read, extract, link and archive one registered page; persist everything.

    `ocr_slot` is held around the OCR stage: the orchestrator's concurrency limit, if it has one.
    """
    version = processing_version(rt)
    with session_scope(rt.sessions) as session:
        page = session.get(Page, page_id)
        if page is None:
            raise KeyError(page_id)
        batch = page.batch
        if page.status in ("quarantined", "superseded") or (page.status == "done" and page.processed_version == version and not force):
            return PageOutcome(page_id, page.status, page.needs_rescan, skipped=True)
        manifest = BatchManifest(
            batch_id=batch.id, root=batch.root, scanner=batch.scanner, device=batch.device,  # type: ignore[arg-type]
            operator=batch.operator, dpi=batch.dpi,
            location=Location(batch.repository, batch.room, batch.shelf, batch.box, batch.fonds, batch.volume),
        )
        source = SourceFile(name=page.source_file, path=str(Path(batch.root) / page.source_file), sha256=page.sha256,
                            size=page.bytes, format=page.format)
        frame, page_no = page.frame, page.page_no

    timings: dict[str, float] = {}
    limit_image_threads(compute_threads(rt))
    stage = "read"
    try:
        t0 = time.perf_counter()
        master = _load_master(source, manifest, frame, page_no)
        timings["read"] = time.perf_counter() - t0

        stage = "repair"
        t0 = time.perf_counter()
        r = rt.settings.repair
        repaired = repair(master, RepairOptions(min_dpi=r.min_dpi, max_residual_skew=r.max_residual_skew, suppress_seals=r.suppress_seals))
        timings["repair"] = time.perf_counter() - t0

        stage = "ocr"
        t0 = time.perf_counter()
        engine = get_engine(rt.settings.ocr.engine, engine_options(rt))
        with ocr_slot():
            ocr = engine.recognise(repaired.ocr_image)
        timings["ocr"] = time.perf_counter() - t0

        stage = "extract"
        t0 = time.perf_counter()
        extraction = extract(ocr, ExtractOptions(low_confidence=rt.settings.ocr.low_confidence))
        timings["extract"] = time.perf_counter() - t0

        stage = "link"
        t0 = time.perf_counter()
        with session_scope(rt.sessions) as session:
            links = link_extraction(rt, session, extraction)
        timings["link"] = time.perf_counter() - t0

        stage = "archive"
        t0 = time.perf_counter()
        meta = ArchiveMetadata(
            title=f"{manifest.location.fonds}-{manifest.location.volume}-{manifest.location.box}-{page_no:04d} {extraction.doc_type}",
            batch_id=manifest.batch_id, page_no=page_no, location=manifest.location, master_sha256=source.sha256,
            software_version=rt.agent, operator=manifest.operator, device=manifest.device,
            capture_date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(Path(source.path).stat().st_mtime)),
            document_date=_field_value(extraction, "registration_date") or _field_value(extraction, "event_date"),
            doc_type=extraction.doc_type,
        )
        pdf = make_archival_pdf(repaired.image, repaired.dpi, ocr.lines, meta, PdfOptions())
        pdf_sha = hashlib.sha256(pdf).hexdigest()
        stored = store_pdf(rt, object_key(meta), pdf, pdf_sha, {"master-sha256": source.sha256, "batch": manifest.batch_id})
        timings["archive"] = time.perf_counter() - t0
    except RETRYABLE:
        raise
    except (UnreadableSource, ArchiveRefused) as exc:
        reasons = getattr(exc, "reasons", None) or [getattr(exc, "reason", None) or str(exc)]
        return _record_failure(rt, page_id, "quarantined" if stage == "read" else "failed", stage, reasons, timings)
    except Exception as exc:  # a page's failure is recorded on the page, never raised through the batch
        log.exception("page %s failed in %s", page_id, stage)
        return _record_failure(rt, page_id, "failed", stage, [f"{type(exc).__name__}: {exc}"], timings)

    with session_scope(rt.sessions) as session:
        page = session.get(Page, page_id)
        assert page is not None
        page.width, page.height = int(master.image.shape[1]), int(master.image.shape[0])
        page.dpi, page.scanner, page.capture = master.dpi, master.scanner, _jsonable(master.capture)
        _save_results(session, rt, page, repaired, ocr, extraction, links, stored, pdf, version, timings)
    return PageOutcome(page_id, "done", repaired.needs_rescan, stage_seconds=timings)


def store_pdf(rt: Runtime, key: str, pdf: bytes, sha256: str, metadata: dict[str, str]) -> StoredObject:
    """Store write-once: the same bytes are a no-op; a re-processing (new software or model) that
    gives other bytes becomes a new revision `<key>.r2.pdf` beside the first, which is never replaced."""
    stem = key.removesuffix(".pdf")
    for revision in range(1, 100):
        candidate = key if revision == 1 else f"{stem}.r{revision}.pdf"
        try:
            return rt.store.put(candidate, pdf, sha256=sha256, content_type="application/pdf", metadata=metadata)
        except ObjectExists:
            continue
    raise StorageError(f"{key}: more than 99 revisions; refusing to write another")


def compute_threads(rt: Runtime) -> int:
    """Threads one page may use: the cores shared out among the workers (workers x threads <= cores)."""
    return rt.settings.ocr.threads or max(1, (cpu_count() // max(1, rt.settings.pipeline.workers)))


def limit_image_threads(threads: int) -> None:
    """OpenCV's own pool would take every core in each worker process (and busy-wait on a loaded
    machine); hold it to the worker's share, as the OCR engine is."""
    import cv2

    if cv2.getNumThreads() != threads:
        cv2.setNumThreads(threads)


def engine_options(rt: Runtime) -> EngineOptions:
    o = rt.settings.ocr
    return EngineOptions(max_side_len=o.max_side_len, text_score=o.text_score, low_confidence=o.low_confidence,
                         threads=compute_threads(rt), page_upright=True, lang=o.tesseract_lang, model_dir=o.paddle_model_dir)


def cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _load_master(source: SourceFile, manifest: BatchManifest, frame: int, page_no: int) -> Master:
    path = Path(source.path)
    if not path.exists():
        raise UnreadableSource(f"{source.name}: the file is gone from the batch folder")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != source.sha256:
        raise UnreadableSource(f"{source.name}: the file changed since it was registered (SHA-256 differs)")
    masters = read_source(source, scanner=manifest.scanner, batch_dpi=manifest.dpi, first_page_no=page_no - frame)
    if frame >= len(masters):
        raise UnreadableSource(f"{source.name}: frame {frame} is missing")
    return masters[frame]


def _field_value(extraction: Extraction, key: str) -> str:
    f = extraction.fields.get(key)
    return f.value if f else ""


def mention_query(fields: dict[str, Field]) -> MentionQuery | None:
    def v(key: str) -> str | None:
        f = fields.get(key)
        return f.value if f and f.value else None

    if not v("name") and not v("id_number"):
        return None
    alts = tuple(fields["name"].alternatives) if "name" in fields else ()
    return MentionQuery(name=v("name"), sex=v("sex"), ethnicity=v("ethnicity"), birth_date=v("birth_date"),
                        id_number=v("id_number"), birthplace=v("birthplace"), native_place=v("native_place"),
                        address=v("address"), name_alternatives=alts)


def link_extraction(rt: Runtime, session: Session, extraction: Extraction) -> list[tuple[int | None, LinkResult]]:
    """Link the principal person and every mention on the page to the register."""
    opts = LinkOptions(linked_threshold=rt.settings.link.linked_threshold, review_threshold=rt.settings.link.review_threshold)
    out: list[tuple[int | None, LinkResult]] = []
    groups: list[tuple[int | None, dict[str, Field]]] = [(None, extraction.fields)]
    groups += [(i, m.fields) for i, m in enumerate(extraction.mentions)]
    for mention_no, fields in groups:
        query = mention_query(fields)
        if query is None:
            continue
        out.append((mention_no, link_to_register(session, query, key=rt.keys.hmac, options=opts)))
    return out


def _record_failure(rt: Runtime, page_id: str, status: str, stage: str, reasons: list[str], timings: dict[str, float]) -> PageOutcome:
    with session_scope(rt.sessions) as session:
        page = session.get(Page, page_id)
        assert page is not None
        page.status = status
        page.errors = [f"{stage}: {r}" for r in reasons]
        page.stage_seconds = timings
        add_event(session, rt, stage, "failure", batch_id=page.batch_id, page_id=page_id, reasons=reasons)
    return PageOutcome(page_id, status, stage_seconds=timings)


def _save_results(session: Session, rt: Runtime, page: Page, repaired: Any, ocr: Any, extraction: Extraction,
                  links: list[tuple[int | None, LinkResult]], stored: Any, pdf: bytes, version: str,
                  timings: dict[str, float]) -> None:
    """Replace the page's derived rows in one transaction, so a re-run never duplicates them."""
    for model in (Derivative, OcrLineRow, FieldRow, LinkRow, NameKey):
        session.execute(delete(model).where(model.page_id == page.id))
    page.status = "done"
    page.errors = []
    page.rotation = repaired.rotation
    page.skew_deg = round(float(repaired.skew_deg), 3)
    page.damage = [{"kind": d.kind, "score": round(float(d.score), 3), "detail": d.detail} for d in repaired.damage]
    page.needs_rescan = repaired.needs_rescan
    page.rescan_reasons = list(repaired.rescan_reasons)
    page.doc_type = extraction.doc_type
    page.doc_type_confidence = extraction.doc_type_confidence
    page.review = list(extraction.review)
    page.ocr_text = ocr.text
    page.processed_version = version
    page.stage_seconds = {k: round(v, 3) for k, v in timings.items()}
    ops = [{"name": o.name, "params": _jsonable(o.params)} for o in repaired.operations]
    for kind, img in (("archival", repaired.image), ("ocr", repaired.ocr_image)):
        session.add(Derivative(page_id=page.id, kind=kind, width=int(img.shape[1]), height=int(img.shape[0]),
                               dpi=float(repaired.dpi), sha256=hashlib.sha256(img.tobytes()).hexdigest(), operations=ops))
    for i, line in enumerate(ocr.lines):
        session.add(OcrLineRow(
            page_id=page.id, line_no=i, text=line.text, quad=[[float(x), float(y)] for x, y in line.quad],
            score=float(line.score), vertical=line.vertical, low_confidence=line.low_confidence,
            alternatives=[[[a.char, round(a.score, 4)] for a in alts] for alts in line.alternatives],
            engine=ocr.engine, engine_version=ocr.engine_version, model=ocr.model,
        ))
    groups: list[tuple[int | None, str | None, dict[str, Field]]] = [(None, None, extraction.fields)]
    groups += [(i, m.role, m.fields) for i, m in enumerate(extraction.mentions)]
    for mention_no, role, fields in groups:
        for f in fields.values():
            session.add(FieldRow(page_id=page.id, mention=mention_no, role=role, key=f.key, value=f.value, raw=f.raw,
                                 confidence=float(f.confidence), flags=list(f.flags), alternatives=list(f.alternatives),
                                 precision=f.precision, calendar=f.calendar))
            if f.key in NAME_FIELDS:
                for kind, key in search_keys(f.value):
                    session.add(NameKey(page_id=page.id, mention=mention_no, field_key=f.key, kind=kind, key=key))
    for mention_no, result in links:
        session.add(LinkRow(page_id=page.id, mention=mention_no, status=result.status, person_id=result.person_id,
                            score=float(result.score), reasons=list(result.reasons),
                            candidates=[[pid, round(float(s), 4)] for pid, s in result.candidates]))
    archive = session.scalar(select(ArchiveObject).where(ArchiveObject.page_id == page.id))
    if archive is None:
        archive = ArchiveObject(page_id=page.id)
        session.add(archive)
    archive.key = stored.key
    archive.uri = stored.uri
    archive.sha256 = stored.sha256
    archive.bytes = stored.size
    archive.pdfa = "2b"
    archive.version_id = stored.version_id
    archive.retention_until = stored.retention_until
    batch_id = page.batch_id
    add_event(session, rt, "repair", "success", batch_id=batch_id, page_id=page.id, operations=ops,
              rotation=repaired.rotation, skew_deg=page.skew_deg)
    add_event(session, rt, "damage assessment", "warning" if repaired.needs_rescan else "success", batch_id=batch_id,
              page_id=page.id, damage=page.damage, needs_rescan=repaired.needs_rescan, reasons=page.rescan_reasons)
    add_event(session, rt, "ocr", "success", batch_id=batch_id, page_id=page.id, engine=ocr.engine,
              engine_version=ocr.engine_version, model=ocr.model, lines=len(ocr.lines))
    add_event(session, rt, "metadata extraction", "warning" if extraction.review else "success", batch_id=batch_id,
              page_id=page.id, doc_type=extraction.doc_type, fields=len(extraction.fields), review=extraction.review)
    add_event(session, rt, "linkage", "success", batch_id=batch_id, page_id=page.id,
              links=[{"mention": m, "status": r.status, "person_id": r.person_id} for m, r in links])
    add_event(session, rt, "validation", "success", batch_id=batch_id, page_id=page.id, format="PDF/A-2b",
              validator="pikepdf.pdfa", text_layer="round-trip equal")
    add_event(session, rt, "replication", "success", batch_id=batch_id, page_id=page.id, uri=stored.uri,
              sha256=stored.sha256, bytes=stored.size)


def finish_batch(rt: Runtime, batch_id: str, seconds: float, processed: int) -> None:
    """Close the run; its speed is kept only when it processed pages (a resume that skips all says nothing)."""
    with session_scope(rt.sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        pages = list(session.scalars(select(Page).where(Page.batch_id == batch_id, Page.status != "superseded")))
        batch.status = "done" if all(p.status == "done" for p in pages) else "incomplete"
        if processed:
            batch.seconds = seconds
            batch.pages_processed = processed
