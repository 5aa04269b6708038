"""End to end: a generated degraded batch into PostgreSQL and SeaweedFS through the Prefect flow.

Checks what the foundation promises: fields against the generator's truth, every stored
PDF passes pikepdf.pdfa, each PDF's text holds the page's OCR'd name, the S3 checksums
match the bytes, broken files are quarantined with a reason, and a re-run duplicates
nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner
from sqlalchemy import func, select

import pagegen
from pipeline.archive import extract_text, validate_pdfa
from pipeline.ingest import read_manifest

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch") / "box-e2e"
    pagegen.make_batch(root, pages=3, seed=11, register_extra=20)
    (root / "0004.tif").write_bytes(b"")  # zero-byte file: the scanner wrote nothing
    good = (root / "0001.tif").read_bytes()
    (root / "0005.tif").write_bytes(good[: len(good) // 3])  # truncated
    return root


@pytest.fixture()
def env(hukou_home: Path, pg_url: str, s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "HUKOU_DATABASE_URL": pg_url,
        "HUKOU_STORAGE_BACKEND": "s3",
        "HUKOU_STORAGE_S3_ENDPOINT": s3_server["endpoint"],
        "HUKOU_STORAGE_S3_ACCESS_KEY": s3_server["access_key"],
        "HUKOU_STORAGE_S3_SECRET_KEY": s3_server["secret_key"],
        "HUKOU_STORAGE_BUCKET": f"hukou-e2e-{secrets.token_hex(3)}",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _cli(*args: str) -> tuple[int, str, str]:
    from cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_batch_to_postgres_and_seaweedfs(batch: Path, env: dict[str, str], prefect_harness: None) -> None:
    from flows.runtime import runtime_for
    from pipeline.db.models import ArchiveObject, FieldRow, Page

    truth = {t["source_file"]: t for t in map(json.loads, (batch / "truth.jsonl").read_text("utf-8").splitlines())}
    assert _cli("init")[0] == 0
    assert _cli("registry", "import", str(batch / "register.csv"))[0] == 0

    code, _, err = _cli("ingest", str(batch))
    assert code == 4, err  # two broken files: quarantined, the rest archived, exit status says so
    assert "not archived" in err

    batch_id = read_manifest(batch).batch_id
    rt = runtime_for()
    code, out, _ = _cli("export", "--batch", batch_id, "--format", "jsonl")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["page_no"] for r in records] == [1, 2, 3, 4, 5]

    broken = {r["source_file"]: r for r in records if r["source_file"] in ("0004.tif", "0005.tif")}
    assert all(r["errors"] and r["archive"] is None for r in broken.values())
    assert "empty" in broken["0004.tif"]["errors"][0].lower() or "zero" in broken["0004.tif"]["errors"][0].lower()

    s3 = boto3.client("s3", endpoint_url=env["HUKOU_STORAGE_S3_ENDPOINT"],
                      aws_access_key_id=env["HUKOU_STORAGE_S3_ACCESS_KEY"],
                      aws_secret_access_key=env["HUKOU_STORAGE_S3_SECRET_KEY"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required"))
    matched = total = 0
    for r in records:
        if r["source_file"] in broken:
            continue
        t = truth[r["source_file"]]
        assert r["sha256"] == hashlib.sha256((batch / r["source_file"]).read_bytes()).hexdigest()
        assert r["doc_type"] == t["doc_type"]
        assert r["rotation"] == t["rotation"]
        assert r["location"]["box"] and r["location"]["page"] == r["page_no"]
        for key, value in t["fields"].items():
            total += 1
            matched += r["fields"].get(key, {}).get("value") == value
        # the archived copy: in S3 with a SHA-256 the server checked, valid PDF/A-2b, text layer with the name
        uri = r["archive"]["uri"]
        assert uri.startswith(f"s3://{env['HUKOU_STORAGE_BUCKET']}/")
        key = uri.split("/", 3)[3]
        head = s3.head_object(Bucket=env["HUKOU_STORAGE_BUCKET"], Key=key, ChecksumMode="ENABLED")
        data = s3.get_object(Bucket=env["HUKOU_STORAGE_BUCKET"], Key=key)["Body"].read()
        assert hashlib.sha256(data).hexdigest() == r["archive"]["sha256"]
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert validate_pdfa(data).valid
        assert r["fields"]["name"]["value"] in extract_text(data)
    assert matched / total >= 0.85, f"{matched}/{total} fields match the truth"

    # Re-running resumes and duplicates nothing: same pages, rows and objects.
    with rt.sessions() as session:
        before = (session.scalar(select(func.count()).select_from(Page)),
                  session.scalar(select(func.count()).select_from(FieldRow)),
                  session.scalar(select(func.count()).select_from(ArchiveObject)))
    listing_before = s3.list_objects_v2(Bucket=env["HUKOU_STORAGE_BUCKET"])["KeyCount"]
    code, _, _ = _cli("ingest", str(batch))
    assert code == 4
    with rt.sessions() as session:
        after = (session.scalar(select(func.count()).select_from(Page)),
                 session.scalar(select(func.count()).select_from(FieldRow)),
                 session.scalar(select(func.count()).select_from(ArchiveObject)))
    assert after == before
    assert s3.list_objects_v2(Bucket=env["HUKOU_STORAGE_BUCKET"])["KeyCount"] == listing_before

    # Clerk views: search by name and by ID number finds the page; show prints both halves of the dual copy.
    first = next(r for r in records if r["source_file"] not in broken)
    code, out, _ = _cli("search", "--name", first["fields"]["name"]["value"], "--format", "jsonl")
    assert code == 0 and first["page_id"] in out
    code, out, _ = _cli("show", first["page_id"])
    assert code == 0 and "s3://" in out and first["location"]["box"] in out

    # The audit re-reads every object and finds nothing wrong.
    code, out, _ = _cli("audit")
    assert code == 0 and "0 findings" in out
