"""Batch registration, quarantine, re-scan supersession and the read side, on SQLite and PostgreSQL.

No OCR here: pages are registered (decoded, hashed, master copied) and their results are
written with `_save_results` from hand-made stage outputs, so these tests are fast.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from flows.runtime import Runtime
from flows.steps import _save_results, register_batch, store_pdf
from pipeline.db.models import Event, NameKey, Page
from pipeline.db.queries import batch_summary, export_records, page_detail, search_pages
from pipeline.db.session import session_scope
from pipeline.ingest import read_manifest
from pipeline.records import (
    DamageFinding,
    Extraction,
    Field,
    LinkResult,
    Mention,
    OcrLine,
    OcrResult,
    Operation,
    Repaired,
    StoredObject,
)
from pipeline.settings import load_settings

MANIFEST = """[batch]
id = "box-0417"
scanner = "flatbed"
operator = "李桂芳"
dpi = 300
[location]
repository = "呼和浩特市公安局户籍档案室"
room = "2"
shelf = "14"
box = "0417"
fonds = "J041"
volume = "1986-户-07"
"""


def _page_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((800, 600, 3), 235, np.uint8)
    for y in range(100, 700, 60):
        img[y : y + 3, 50:550] = 30
    img[rng.integers(100, 600), rng.integers(100, 500)] = 0
    return img


@pytest.fixture(params=["sqlite", "postgres"])
def rt(request: pytest.FixtureRequest, hukou_home: Path) -> Runtime:
    env = {"HUKOU_HOME": str(hukou_home)}
    if request.param == "postgres":
        env["HUKOU_DATABASE_URL"] = request.getfixturevalue("pg_url")
    runtime = Runtime(load_settings(env))
    runtime.init()
    if request.param == "postgres":  # the PG database is shared by the session: start clean
        from pipeline.db.base import Base

        with runtime.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    return runtime


@pytest.fixture()
def batch_dir(tmp_path: Path) -> Path:
    d = tmp_path / "box-0417"
    d.mkdir()
    (d / "batch.toml").write_text(MANIFEST, encoding="utf-8")
    for i in (1, 2):
        cv2.imwrite(str(d / f"000{i}.png"), _page_image(i))
    (d / "0003.tif").write_bytes(b"")  # zero bytes
    (d / "0004.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return d


def _pages(rt: Runtime) -> list[Page]:
    with session_scope(rt.sessions) as s:
        return list(s.scalars(select(Page).order_by(Page.page_no, Page.status)))


def test_registration_quarantines_broken_files_and_keeps_masters(rt: Runtime, batch_dir: Path) -> None:
    report = register_batch(rt, read_manifest(batch_dir))
    assert report.new_pages == 4 and report.quarantined == 2
    pages = _pages(rt)
    assert [(p.page_no, p.source_file, p.status) for p in pages] == [
        (1, "0001.png", "registered"), (2, "0002.png", "registered"), (3, "0003.tif", "quarantined"),
        (4, "0004.jpg", "quarantined")]
    assert pages[2].errors and "0003.tif" in pages[2].errors[0]
    assert pages[0].box == "0417" and pages[0].fonds == "J041" and pages[0].dpi == 300
    # the master copy is byte-identical to the file as received
    master = (batch_dir / "0001.png").read_bytes()
    key = pages[0].master_uri.split("/archive/", 1)[1]
    assert rt.store.get(key) == master and pages[0].sha256 == hashlib.sha256(master).hexdigest()


def test_registration_is_idempotent_and_a_rescan_supersedes(rt: Runtime, batch_dir: Path) -> None:
    first = register_batch(rt, read_manifest(batch_dir))
    again = register_batch(rt, read_manifest(batch_dir))
    assert again.page_ids == first.page_ids and again.new_pages == 0
    with session_scope(rt.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 4
    cv2.imwrite(str(batch_dir / "0002.png"), _page_image(99))  # the operator re-scanned page 2
    register_batch(rt, read_manifest(batch_dir))
    pages = _pages(rt)
    by_status = {(p.source_file, p.status) for p in pages}
    assert ("0002.png", "superseded") in by_status and ("0002.png", "registered") in by_status
    with session_scope(rt.sessions) as s:
        assert "0002.png" not in {r["source_file"] for r in export_records(s, "box-0417") if r.get("status") == "superseded"}
        assert s.scalar(select(func.count()).select_from(Event).where(Event.event_type == "deaccession")) == 1


def _results(name: str) -> tuple[Repaired, OcrResult, Extraction, list[tuple[int | None, LinkResult]]]:
    img = _page_image(1)
    repaired = Repaired(image=img, ocr_image=img, dpi=300.0, rotation=180, skew_deg=-1.25,
                        operations=[Operation("deskew", {"angle": -1.25})],
                        damage=[DamageFinding("stain", 0.9), DamageFinding("hole", 0.8)],
                        needs_rescan=True, rescan_reasons=["blur: page too soft to read"])
    ocr = OcrResult(lines=[OcrLine(((10, 10), (200, 10), (200, 40), (10, 40)), f"姓名{name}", 0.97)],
                    engine="rapidocr", engine_version="3", model="m", width=600, height=800)
    fields = {"name": Field("name", name, name, 0.97),
              "birth_date": Field("birth_date", "1958-04-12", "一九五八年四月十二日", 0.93, precision="YMD"),
              "id_number": Field("id_number", "11010519491231002X", "11010519491231002X", 0.9)}
    extraction = Extraction("household_register", 0.99, fields,
                            mentions=[Mention("head", fields), Mention("household_member", {"name": Field("name", "王小明", "王小明", 0.9)})])
    links = [(None, LinkResult("linked", "P0000071", 0.998, ["name=exact"])), (0, LinkResult("linked", "P0000071", 0.998)),
             (1, LinkResult("new", None, 0.02))]
    return repaired, ocr, extraction, links


def _finish_page(rt: Runtime, page_id: str, name: str) -> None:
    repaired, ocr, extraction, links = _results(name)
    stored = StoredObject(uri="s3://b/k.pdf", key="k.pdf", sha256="0" * 64, size=10)
    with session_scope(rt.sessions) as s:
        page = s.get(Page, page_id)
        _save_results(s, rt, page, repaired, ocr, extraction, links, stored, b"%PDF", "v1", {"ocr": 1.0})


def test_export_record_follows_the_contract(rt: Runtime, batch_dir: Path) -> None:
    report = register_batch(rt, read_manifest(batch_dir))
    _finish_page(rt, report.page_ids[0], "王桂兰")
    _finish_page(rt, report.page_ids[0], "王桂兰")  # saving twice replaces, never duplicates
    with session_scope(rt.sessions) as s:
        records = list(export_records(s, "box-0417"))
        assert s.scalar(select(func.count()).select_from(NameKey).where(NameKey.page_id == report.page_ids[0])) > 0
    r = records[0]
    assert set(r) >= {"batch", "source_file", "page_id", "page_no", "sha256", "doc_type", "fields", "rotation", "skew_deg",
                      "damage", "needs_rescan", "link", "archive", "location", "errors"}
    assert r["fields"]["birth_date"] == {"value": "1958-04-12", "raw": "一九五八年四月十二日", "confidence": 0.93}
    assert r["fields"]["id_number"]["value"] == "11010519491231002X"  # the export contract gives whole IDs
    assert (r["rotation"], r["skew_deg"], r["damage"], r["needs_rescan"]) == (180, -1.25, ["hole", "stain"], True)
    assert r["link"] == {"status": "linked", "person_id": "P0000071", "score": 0.998, "reasons": ["name=exact"]}
    assert r["archive"] == {"uri": "s3://b/k.pdf", "sha256": "0" * 64, "pdfa": "2b"}
    assert r["location"] == {"repository": "呼和浩特市公安局户籍档案室", "room": "2", "shelf": "14", "box": "0417",
                             "fonds": "J041", "volume": "1986-户-07", "page": 1}
    assert [m["role"] for m in r["mentions"]] == ["head", "household_member"]
    assert r["mentions"][1]["link"]["status"] == "new"
    assert records[2]["errors"] and records[2]["archive"] is None and records[2]["status"] == "quarantined"


def test_show_masks_id_numbers_and_lists_events(rt: Runtime, batch_dir: Path) -> None:
    report = register_batch(rt, read_manifest(batch_dir))
    _finish_page(rt, report.page_ids[0], "王桂兰")
    with session_scope(rt.sessions) as s:
        d = page_detail(s, report.page_ids[0][:8])  # a unique prefix is enough
    assert d["fields"]["id_number"]["value"] == "110105********002X"
    assert {"ingestion", "message digest calculation", "ocr", "replication"} <= {e["type"] for e in d["events"]}


def test_search_by_name_variants_id_birth_date_and_box(rt: Runtime, batch_dir: Path) -> None:
    report = register_batch(rt, read_manifest(batch_dir))
    _finish_page(rt, report.page_ids[0], "萧桂兰")
    _finish_page(rt, report.page_ids[1], "王建国")
    with session_scope(rt.sessions) as s:
        def ids(**kw: str) -> list[str]:
            return [h["page_id"] for h in search_pages(s, **kw)]

        assert ids(name="萧桂兰") == [report.page_ids[0]]
        assert ids(name="肖桂兰") == [report.page_ids[0]]  # surname variant class
        assert ids(name="萧桂蘭") == [report.page_ids[0]]  # traditional form
        assert ids(name="萧x兰") == [report.page_ids[0]]  # one illegible character
        assert set(ids(name="王")) == set(report.page_ids[:2])  # a surname alone: 王建国, and 王小明 on both pages
        assert set(ids(name="王小明")) == set(report.page_ids[:2])  # a household member is found too
        assert ids(name="李四") == []
        assert set(ids(id_number="110105491231002")) == set(report.page_ids[:2])  # the 15-digit form finds the 18
        assert set(ids(birth_date="一九五八年四月十二日")) == set(report.page_ids[:2])
        assert set(ids(box="0417", name="王建国")) == {report.page_ids[1]}
        assert ids(box="9999") == []
        summary = batch_summary(s, "box-0417")
    assert summary["quarantined"] == 2 and summary["needs_rescan"] == 2 and summary["damage"] == {"stain": 2, "hole": 2}
    assert any("blur" in r for p in summary["attention"] for r in p["reasons"])


def test_store_pdf_writes_a_revision_instead_of_overwriting(rt: Runtime) -> None:
    a = store_pdf(rt, "J041/v/0417/0001-aaaa.pdf", b"%PDF-one", hashlib.sha256(b"%PDF-one").hexdigest(), {})
    same = store_pdf(rt, "J041/v/0417/0001-aaaa.pdf", b"%PDF-one", hashlib.sha256(b"%PDF-one").hexdigest(), {})
    b = store_pdf(rt, "J041/v/0417/0001-aaaa.pdf", b"%PDF-two", hashlib.sha256(b"%PDF-two").hexdigest(), {})
    assert same.key == a.key and b.key == "J041/v/0417/0001-aaaa.r2.pdf"
    assert rt.store.get(a.key) == b"%PDF-one"


def test_review_queue_lists_doubtful_fields_with_alternatives(rt: Runtime, batch_dir: Path) -> None:
    from pipeline.db.queries import review_queue

    report = register_batch(rt, read_manifest(batch_dir))
    repaired, ocr, extraction, links = _results("王桂兰")
    extraction.fields["name"] = Field("name", "王桂兰", "王桂兰", 0.41, flags=["low_confidence"], alternatives=["玉桂兰"])
    extraction.review = ["name: low OCR confidence 0.41 for '王桂兰'"]
    stored = StoredObject(uri="file:///x.pdf", key="x.pdf", sha256="0" * 64, size=10)
    with session_scope(rt.sessions) as s:
        _save_results(s, rt, s.get(Page, report.page_ids[0]), repaired, ocr, extraction, links, stored, b"", "v1", {})
    _finish_page(rt, report.page_ids[1], "王建国")  # nothing doubtful
    with session_scope(rt.sessions) as s:
        queue = review_queue(s, batch_id="box-0417")
    assert [q["page_id"] for q in queue] == [report.page_ids[0]]
    name = next(f for f in queue[0]["fields"] if f["key"] == "name")
    assert name["alternatives"] == ["玉桂兰"] and "low_confidence" in name["flags"]
