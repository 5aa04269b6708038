"""Fixity audit and the dual-copy record, on a tiny archive built without OCR.

Real PDF/A-2b objects (make_archival_pdf on a drawn page and a few Chinese OCR lines)
are stored write-once and recorded in the database as the pipeline records them; then
damage is planted behind the archive's back and `run_audit` / `hukou audit` must find
each case, say what is wrong, and leave a PREMIS `fixity check` event per object.

What the S3 backend (SeaweedFS 4.48) does when someone goes around the store with
plain boto3, observed and asserted below:
- PutObject to a taken key is NOT refused (the store's write-once check is client-side:
  If-None-Match is only sent by the store itself). With versioning on (the default) the
  forged bytes become the current version, so `get` returns them and the audit reports a
  SHA-256 and text-layer mismatch; the recorded version (ArchiveObject.version_id) still
  holds the original bytes, whether or not Object Lock is on.
- DeleteObject without a VersionId only adds a delete marker, even under Object Lock:
  `get` then raises ObjectMissing and the audit reports the object missing, while the
  recorded version is still there. Deleting the recorded version itself succeeds
  without Object Lock (the bytes are gone for good) and is refused (AccessDenied) under
  COMPLIANCE retention: that is the WORM property holding.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from flows.audit import run_audit, sample_size
from flows.runtime import Runtime
from pipeline.archive import extract_lines, make_archival_pdf, object_key, validate_pdfa
from pipeline.db.models import ArchiveObject, Batch, Event, OcrLineRow, Page
from pipeline.db.session import session_scope
from pipeline.records import ArchiveMetadata, Location, OcrLine
from pipeline.settings import load_settings

FONT = "/usr/share/fonts/truetype/arphic/uming.ttc"
DPI = 100
LOCATION = Location(repository="某县档案馆", room="3", shelf="12", box="0417", fonds="J041", volume="1986-户-07")
PAGE_TEXTS = [
    ["常住人口登记表", "姓名 张𠀀明", "住址 城关镇北街12号"],
    ["常住人口登记表", "姓名 王淑芬", "出生日期 1952年3月8日"],
    ["户口迁移证", "姓名 李建国", "迁往地址 红旗公社"],
    ["出生登记", "姓名 赵小红", "父亲 赵大山"],
]


def _page(texts: list[str]) -> tuple[np.ndarray, list[OcrLine]]:
    """A small drawn page and its OCR lines (the quads are the drawn text's boxes)."""
    pil = Image.new("RGB", (700, 400), (236, 228, 205))
    draw = ImageDraw.Draw(pil)
    font = ImageFont.truetype(FONT, 32)
    lines = []
    for i, text in enumerate(texts):
        x, y = 40, 40 + 110 * i
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        draw.text((x, y), text, font=font, fill=(30, 30, 30))
        quad = ((left, top), (right, top), (right, bottom), (left, bottom))
        lines.append(OcrLine(quad=tuple((float(a), float(b)) for a, b in quad), text=text, score=0.93))
    return np.asarray(pil)[..., ::-1].copy(), lines


def _meta(batch_id: str, page_no: int) -> ArchiveMetadata:
    return ArchiveMetadata(
        title=f"J041-1986-户-07-0417-{page_no:04d}", batch_id=batch_id, page_no=page_no, location=LOCATION,
        master_sha256=hashlib.sha256(f"{batch_id}/master/{page_no}".encode()).hexdigest(), software_version="test",
    )


@dataclass(frozen=True)
class Built:
    image: np.ndarray
    lines: list[OcrLine]


@pytest.fixture(scope="module")
def pages() -> list[Built]:
    return [Built(*_page(texts)) for texts in PAGE_TEXTS]


@pytest.fixture(scope="module")
def forged(pages: list[Built]) -> bytes:
    """A valid PDF/A-2b of page 3's image whose text layer names someone else."""
    texts = [line.text for line in pages[2].lines]
    texts[1] = "姓名 李建军"
    image, lines = _page(texts)
    data = make_archival_pdf(image, DPI, lines, _meta("any", 1))
    assert validate_pdfa(data).valid
    return data


@dataclass(frozen=True)
class Archived:
    page_id: str
    key: str
    uri: str
    sha256: str
    version_id: str | None


def archive_batch(rt: Runtime, batch_id: str, built: list[Built]) -> list[Archived]:
    """Record a batch and its pages as the pipeline does, storing each page's PDF/A write-once."""
    out = []
    with session_scope(rt.sessions) as session:
        session.add(Batch(id=batch_id, root=f"/scans/{batch_id}", scanner="flatbed", operator="李四", dpi=DPI,
                          status="done", **LOCATION.as_dict()))
        for page_no, page in enumerate(built, start=1):
            meta = _meta(batch_id, page_no)
            pdf = make_archival_pdf(page.image, DPI, page.lines, meta)
            sha = hashlib.sha256(pdf).hexdigest()
            stored = rt.store.put(object_key(meta), pdf, sha256=sha, metadata={"batch": batch_id})
            page_id = hashlib.sha256(f"{batch_id}/{page_no}".encode()).hexdigest()[:20]
            session.add(Page(id=page_id, batch_id=batch_id, source_file=f"{page_no:04d}.tif", frame=0, page_no=page_no,
                             sha256=meta.master_sha256, bytes=1000, format="tiff", status="done",
                             doc_type="resident_registration", width=700, height=400, dpi=DPI, **LOCATION.as_dict()))
            session.flush()
            for i, line in enumerate(page.lines):
                session.add(OcrLineRow(page_id=page_id, line_no=i, text=line.text, quad=[list(p) for p in line.quad],
                                       score=line.score, vertical=line.vertical, engine="test", engine_version="0",
                                       model="drawn"))
            session.add(ArchiveObject(page_id=page_id, key=stored.key, uri=stored.uri, sha256=stored.sha256,
                                      bytes=stored.size, pdfa="2b", version_id=stored.version_id,
                                      retention_until=stored.retention_until))
            out.append(Archived(page_id, stored.key, stored.uri, stored.sha256, stored.version_id))
    return out


def _runtime() -> Runtime:
    rt = Runtime(load_settings())
    rt.init()
    return rt


def _cli(*args: str) -> tuple[int, str, str]:
    from cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _problems(report, page_id: str) -> list[str]:  # noqa: ANN001
    return [f.problem for f in report.findings if f.page_id == page_id]


def _audit_state(rt: Runtime) -> tuple[dict[str, str | None], list[Event]]:
    with session_scope(rt.sessions) as session:
        outcomes = {o.page_id: o.last_audit_outcome for o in session.scalars(select(ArchiveObject))}
        events = list(session.scalars(select(Event).where(Event.event_type == "fixity check").order_by(Event.id)))
    return outcomes, events


def _assert_failure_recorded(rt: Runtime, expected_bad: set[str], all_ids: set[str]) -> None:
    """The last audit's outcome is on every object, and its events are the newest, one per object."""
    outcomes, events = _audit_state(rt)
    events = events[-len(all_ids):]
    assert outcomes == {pid: "failure" if pid in expected_bad else "success" for pid in all_ids}
    assert sorted(e.page_id for e in events) == sorted(all_ids)  # one event per object checked
    for event in events:
        assert event.outcome == ("failure" if event.page_id in expected_bad else "success")
        assert event.detail["algorithm"] == "SHA-256"
        assert bool(event.detail["problems"]) == (event.page_id in expected_bad)
        assert event.agent and event.batch_id


def _assert_cli_fails(objects: int) -> None:
    code, out, err = _cli("audit")
    assert code == 11, (out, err)
    assert f"checked {objects} of {objects} archived objects" in out
    reason = err.strip()
    assert "\n" not in reason and reason.startswith("hukou: ") and "findings" in reason, err


# --- sampling -------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "percent", "expected"), [
    (0, 5, 0), (1, 5, 1), (10, 5, 1), (21, 5, 2), (100, 5, 5), (3, 0.1, 1), (4, 30, 2), (7, 100, 7), (7, 150, 7),
])
def test_sample_size_is_at_least_one_and_at_least_the_percent(total: int, percent: float, expected: int) -> None:
    assert sample_size(total, percent) == expected
    if total:
        assert sample_size(total, percent) >= min(total, total * percent / 100)


# --- local store ----------------------------------------------------------------------


def test_clean_archive_passes_and_sampling_honours_percent_and_batch(hukou_home: Path, pages: list[Built]) -> None:
    rt = _runtime()
    first = archive_batch(rt, "B-clean", pages)
    other = archive_batch(rt, "B-other", pages[:1])

    report = run_audit(rt)
    assert (report.objects, report.checked, report.findings) == (5, 5, [])
    outcomes, events = _audit_state(rt)
    assert set(outcomes.values()) == {"success"} and len(events) == 5

    code, out, err = _cli("audit")
    assert code == 0, err
    assert "checked 5 of 5 archived objects: 0 findings" in out

    code, out, _ = _cli("audit", "--sample", "30")  # ceil(30% of 5) = 2
    assert code == 0 and "checked 2 of 5 archived objects" in out
    code, out, _ = _cli("audit", "--sample", "0.1")  # never fewer than one
    assert code == 0 and "checked 1 of 5 archived objects" in out
    code, out, _ = _cli("audit", "--batch", "B-other")
    assert code == 0 and "checked 1 of 1 archived objects" in out
    code, out, err = _cli("audit", "--batch", "B-typo")  # a mistyped batch must not pass an audit of nothing
    assert code == 1 and "no batch 'B-typo'" in err
    assert len(_audit_state(rt)[1]) == 5 + 5 + 2 + 1 + 1

    seen = {run_audit(rt, sample_percent=25, batch_id="B-clean", seed=s).checked for s in range(3)}
    assert seen == {1}
    assert {a.page_id for a in first} | {other[0].page_id} == set(outcomes)


def test_local_audit_finds_flipped_deleted_and_replaced_objects(hukou_home: Path, pages: list[Built], forged: bytes) -> None:
    rt = _runtime()
    objs = archive_batch(rt, "B-local", pages)
    flipped, deleted, replaced, intact = objs
    store = rt.store

    # a flipped byte (bit rot): the file is read-only, as the store left it
    path = store.path(flipped.key)
    assert path.stat().st_mode & 0o222 == 0
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(0o444)
    # a deleted object
    store.path(deleted.key).unlink()
    # a replaced object, sidecar and all: the store's own checksum agrees, only the database knows better
    path = store.path(replaced.key)
    path.unlink()
    path.write_bytes(forged)
    meta_path = store.meta_path(replaced.key)
    sidecar = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**sidecar, "sha256": hashlib.sha256(forged).hexdigest(), "size": len(forged)}))

    report = run_audit(rt)
    assert report.checked == 4
    flip_problems = _problems(report, flipped.page_id)
    assert len(flip_problems) == 1 and flip_problems[0].startswith("SHA-256 differs"), flip_problems
    assert _problems(report, deleted.page_id) == ["object is missing from storage"]
    repl = _problems(report, replaced.page_id)
    assert any(p.startswith("SHA-256 differs") for p in repl), repl
    assert any(p.startswith("text layer:") and "李建国" in p and "李建军" in p for p in repl), repl
    assert _problems(report, intact.page_id) == []
    assert {f.uri for f in report.findings} == {flipped.uri, deleted.uri, replaced.uri}
    _assert_failure_recorded(rt, {flipped.page_id, deleted.page_id, replaced.page_id}, {o.page_id for o in objs})
    _assert_cli_fails(4)


def test_audit_catches_a_text_layer_that_no_longer_matches_the_database(hukou_home: Path, pages: list[Built]) -> None:
    """The stored bytes are intact, but the OCR lines of record changed: the copy is no longer faithful."""
    rt = _runtime()
    objs = archive_batch(rt, "B-text", pages[:2])
    with session_scope(rt.sessions) as session:
        row = session.scalar(select(OcrLineRow).where(OcrLineRow.page_id == objs[0].page_id, OcrLineRow.line_no == 1))
        row.text = "姓名 张明"
    report = run_audit(rt)
    problems = _problems(report, objs[0].page_id)
    assert problems == ["text layer: line 1: wrote '姓名 张明', read back '姓名 张𠀀明'"]
    assert _problems(report, objs[1].page_id) == []


# --- the dual-copy record -------------------------------------------------------------


def test_show_and_export_carry_both_the_digital_object_and_the_paper(hukou_home: Path, pages: list[Built]) -> None:
    rt = _runtime()
    obj = archive_batch(rt, "B-dual", pages[:2])[1]
    run_audit(rt)

    code, out, err = _cli("show", obj.page_id)
    assert code == 0, err
    text = " ".join(out.split())
    assert obj.uri in text and obj.sha256 in text and "PDF/A-2b" in text
    for part in ("某县档案馆", "库房 3", "架 12", "盒 0417", "全宗 J041", "卷 1986-户-07", "第 2 页"):
        assert part in text, part

    code, out, _ = _cli("show", obj.page_id, "--format", "json")
    detail = json.loads(out)
    assert detail["archive"]["key"] == obj.key and detail["archive"]["last_audit"] == "success"

    code, out, _ = _cli("export", "--batch", "B-dual")
    assert code == 0
    record = next(r for r in map(json.loads, out.splitlines()) if r["page_id"] == obj.page_id)
    assert record["archive"] == {"uri": obj.uri, "sha256": obj.sha256, "pdfa": "2b"}
    assert record["location"] == {**LOCATION.as_dict(), "page": 2}
    stored = rt.store.get(obj.key)
    assert hashlib.sha256(stored).hexdigest() == record["archive"]["sha256"]
    assert extract_lines(stored) == [line.text for line in pages[1].lines]


# --- S3 (SeaweedFS) -------------------------------------------------------------------


def _s3_env(monkeypatch: pytest.MonkeyPatch, server: dict[str, str], **extra: str) -> str:
    bucket = f"hukou-audit-{secrets.token_hex(4)}"
    values = {
        "HUKOU_STORAGE_BACKEND": "s3",
        "HUKOU_STORAGE_S3_ENDPOINT": server["endpoint"],
        "HUKOU_STORAGE_S3_ACCESS_KEY": server["access_key"],
        "HUKOU_STORAGE_S3_SECRET_KEY": server["secret_key"],
        "HUKOU_STORAGE_BUCKET": bucket,
        "HUKOU_STORAGE_STORE_MASTERS": "false",
        **extra,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return bucket


def _raw_s3(server: dict[str, str]):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=server["access_key"],
                        aws_secret_access_key=server["secret_key"], region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


def _version_bytes(s3, bucket: str, obj: Archived) -> bytes:  # noqa: ANN001
    return s3.get_object(Bucket=bucket, Key=obj.key, VersionId=obj.version_id)["Body"].read()


@pytest.mark.s3
def test_s3_audit_finds_overwritten_and_deleted_objects(
    hukou_home: Path, pages: list[Built], forged: bytes, s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _s3_env(monkeypatch, s3_server)
    rt = _runtime()
    objs = archive_batch(rt, "B-s3", pages)
    changed, deleted, intact, _ = objs
    assert all(o.uri.startswith(f"s3://{bucket}/") and o.version_id for o in objs)
    assert run_audit(rt).findings == []
    s3 = _raw_s3(s3_server)

    # Going around the store: plain PutObject to a taken key is accepted by the server
    s3.put_object(Bucket=bucket, Key=changed.key, Body=forged, ContentType="application/pdf")
    assert rt.store.get(changed.key) == forged  # the store now returns the newest version: the forgery
    # Going around the store: DeleteObject without a version adds a delete marker
    assert s3.delete_object(Bucket=bucket, Key=deleted.key).get("DeleteMarker") is True

    report = run_audit(rt)
    repl = _problems(report, changed.page_id)
    assert any(p.startswith("SHA-256 differs") for p in repl), repl
    assert any(p.startswith("text layer:") and "李建军" in p for p in repl), repl
    assert _problems(report, deleted.page_id) == ["object is missing from storage"]
    assert _problems(report, intact.page_id) == []
    _assert_failure_recorded(rt, {changed.page_id, deleted.page_id}, {o.page_id for o in objs})
    _assert_cli_fails(4)

    # Versioning kept the recorded versions: both originals can still be recovered by version id
    assert hashlib.sha256(_version_bytes(s3, bucket, changed)).hexdigest() == changed.sha256
    assert hashlib.sha256(_version_bytes(s3, bucket, deleted)).hexdigest() == deleted.sha256
    # Without Object Lock nothing stops deleting the recorded version itself: the bytes are gone for good
    s3.delete_object(Bucket=bucket, Key=intact.key, VersionId=intact.version_id)
    with pytest.raises(ClientError):
        _version_bytes(s3, bucket, intact)
    assert _problems(run_audit(rt, batch_id="B-s3"), intact.page_id) == ["object is missing from storage"]


@pytest.mark.s3
def test_s3_object_lock_refuses_deleting_the_recorded_version(
    hukou_home: Path, pages: list[Built], s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _s3_env(monkeypatch, s3_server, HUKOU_STORAGE_OBJECT_LOCK_MODE="COMPLIANCE", HUKOU_STORAGE_RETENTION_DAYS="1")
    rt = _runtime()
    locked, hidden = archive_batch(rt, "B-lock", pages[:2])
    s3 = _raw_s3(s3_server)

    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=locked.key, VersionId=locked.version_id)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert hashlib.sha256(_version_bytes(s3, bucket, locked)).hexdigest() == locked.sha256
    assert run_audit(rt).findings == []

    # A delete marker is still allowed (S3 semantics) and the audit notices the key no longer serves the object,
    # while the locked version survives underneath.
    assert s3.delete_object(Bucket=bucket, Key=hidden.key).get("DeleteMarker") is True
    report = run_audit(rt)
    assert _problems(report, hidden.page_id) == ["object is missing from storage"]
    assert _problems(report, locked.page_id) == []
    assert hashlib.sha256(_version_bytes(s3, bucket, hidden)).hexdigest() == hidden.sha256
