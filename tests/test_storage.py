"""Storage: the local write-once directory and S3 against a real SeaweedFS server.

S3 tests use the server named by HUKOU_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY when
set (scripts/test.sh starts one for the whole run), else start their own in a temporary
directory for the session and stop it afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pipeline.storage import (
    ChecksumMismatch,
    DeleteForbidden,
    LocalStore,
    ObjectExists,
    ObjectMissing,
    S3Store,
    StorageError,
    open_store,
)
from scripts.seaweedfs import free_ports, process_alive, stop_pid


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
OTHER = PDF + b"% a different revision\n"


# ---------------------------------------------------------------- LocalStore


def test_local_put_get_head_exists_uri(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    store.ensure_ready()
    stored = store.put("J041/0001/0001.pdf", PDF, sha256=sha(PDF), metadata={"batch": "J041"})

    path = tmp_path / "archive" / "J041" / "0001" / "0001.pdf"
    assert stored.uri == path.as_uri() == store.uri("J041/0001/0001.pdf")
    assert stored.uri.startswith("file:///")
    assert (stored.key, stored.sha256, stored.size) == ("J041/0001/0001.pdf", sha(PDF), len(PDF))
    assert path.read_bytes() == PDF
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # stored read-only
    assert [p.name for p in path.parent.iterdir()] == ["0001.pdf"]  # no temp file left behind
    assert store.get("J041/0001/0001.pdf") == PDF
    assert store.head("J041/0001/0001.pdf") == stored
    assert store.exists("J041/0001/0001.pdf")
    assert not store.exists("J041/0001/0002.pdf")
    assert store.head("J041/0001/0002.pdf") is None
    with pytest.raises(ObjectMissing):
        store.get("J041/0001/0002.pdf")


def test_local_identical_reput_is_a_noop(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = store.put("a/b.pdf", PDF, sha256=sha(PDF))
    before = (tmp_path / "a" / "b.pdf").stat()
    second = store.put("a/b.pdf", PDF, sha256=sha(PDF))
    after = (tmp_path / "a" / "b.pdf").stat()
    assert second == first
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_local_refuses_different_bytes_under_a_taken_key(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b.pdf", PDF, sha256=sha(PDF))
    with pytest.raises(ObjectExists, match="never overwrite"):
        store.put("a/b.pdf", OTHER, sha256=sha(OTHER))
    assert issubclass(ObjectExists, StorageError)
    assert store.get("a/b.pdf") == PDF
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.pdf"]


def test_local_concurrent_writers_of_one_key_never_replace_each_other(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    versions = [PDF + str(i).encode() for i in range(8)]

    def write(data: bytes) -> str:
        try:
            store.put("race.pdf", data, sha256=sha(data))
            return "stored"
        except ObjectExists:
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(write, versions))
    assert outcomes.count("stored") == 1
    assert store.get("race.pdf") == versions[outcomes.index("stored")]


def test_local_refuses_bytes_that_do_not_match_the_given_sha256(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(ChecksumMismatch):
        store.put("a/b.pdf", PDF, sha256=sha(OTHER))
    assert not store.exists("a/b.pdf")


def test_local_get_detects_bit_rot(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b.pdf", PDF, sha256=sha(PDF))
    path = tmp_path / "a" / "b.pdf"
    path.chmod(0o644)
    path.write_bytes(PDF[:-1] + b"X")  # same size, one byte flipped
    with pytest.raises(ChecksumMismatch):
        store.get("a/b.pdf")


def test_local_head_recomputes_without_sidecar(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b.pdf", PDF, sha256=sha(PDF))
    store.meta_path("a/b.pdf").unlink()
    assert store.head("a/b.pdf").sha256 == sha(PDF)
    store.put("a/b.pdf", PDF, sha256=sha(PDF))  # an identical re-put restores the sidecar
    assert store.meta_path("a/b.pdf").exists()


def test_local_delete_forbidden(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b.pdf", PDF, sha256=sha(PDF))
    with pytest.raises(DeleteForbidden, match="never deleted"):
        store.delete_forbidden("a/b.pdf")
    assert store.get("a/b.pdf") == PDF


def test_local_io_errors_are_storage_errors(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a file where a directory must go")
    with pytest.raises(StorageError, match="cannot store"):
        LocalStore(tmp_path).put("a/b.pdf", PDF, sha256=sha(PDF))


@pytest.mark.parametrize("key", ["", "/abs.pdf", "../up.pdf", "a/../b.pdf", "a//b.pdf", ".meta/x.json", "a\\b.pdf", "a/"])
def test_keys_must_be_plain_relative_paths(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        LocalStore(tmp_path).put(key, PDF, sha256=sha(PDF))


def test_local_ensure_ready_is_idempotent(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "new" / "root")
    report = store.ensure_ready()
    assert store.ensure_ready() == report
    assert report["backend"] == "local" and report["write_once"] is True
    assert (tmp_path / "new" / "root").is_dir()
    assert list((tmp_path / "new" / "root" / ".meta").iterdir()) == []  # probe files cleaned up


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store("local", local_root=tmp_path), LocalStore)
    s3 = open_store("s3", local_root=tmp_path, endpoint="http://127.0.0.1:1", bucket="b", access_key="k", secret_key="s")
    assert isinstance(s3, S3Store) and s3.uri("x/y.pdf") == "s3://b/x/y.pdf"
    with pytest.raises(StorageError, match="unknown storage backend"):
        open_store("ftp", local_root=tmp_path)


def test_s3_store_settings_are_checked_and_it_pickles() -> None:
    with pytest.raises(StorageError, match="object_lock_mode"):
        S3Store(endpoint="http://x", bucket="b", access_key="k", secret_key="s", object_lock_mode="FOREVER", retention_days=1)
    with pytest.raises(StorageError, match="go together"):
        S3Store(endpoint="http://x", bucket="b", access_key="k", secret_key="s", object_lock_mode="GOVERNANCE")
    store = S3Store(endpoint="http://127.0.0.1:1", bucket="b", access_key="k", secret_key="s")
    store.client  # noqa: B018 - a live client must not stop the store from reaching worker processes
    clone = pickle.loads(pickle.dumps(store))
    assert (clone.endpoint, clone.bucket, clone._client) == ("http://127.0.0.1:1", "b", None)


def test_s3_unreachable_endpoint_is_a_storage_error() -> None:
    (port,) = free_ports(1)
    store = S3Store(endpoint=f"http://127.0.0.1:{port}", bucket="b", access_key="k", secret_key="s")
    with pytest.raises(StorageError, match=f"127.0.0.1:{port}"):
        store.head("a.pdf")


def test_stop_escalates_to_sigkill_for_the_whole_group() -> None:
    """weed 4.48 ignores SIGTERM (its graceful stop hangs): stop must SIGKILL the process group."""
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    stubborn = (
        f"{ignore}import subprocess, sys; "
        f"child = subprocess.Popen([sys.executable, '-c', {ignore + 'time.sleep(60)'!r}]); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    leader = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True, stdout=subprocess.PIPE)
    child_pid = int(leader.stdout.readline())
    started = time.monotonic()
    stop_pid(leader.pid, leader, grace=0.5)
    assert leader.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert not process_alive(child_pid, None)  # the child died with the group (gone, or a zombie)


# ---------------------------------------------------------------- S3 against SeaweedFS


@pytest.fixture(scope="module")
def prefix() -> str:
    """Keys are write-once, so every run writes under its own prefix (a shared server persists)."""
    return f"run-{uuid.uuid4().hex[:12]}"


def raw_client(server: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=server["endpoint"],
        aws_access_key_id=server["access_key"],
        aws_secret_access_key=server["secret_key"],
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def make_store(server: dict[str, str], bucket: str, **options: object) -> S3Store:
    return S3Store(
        endpoint=server["endpoint"], bucket=bucket, access_key=server["access_key"], secret_key=server["secret_key"], **options
    )


@pytest.fixture(scope="module")
def s3_store(s3_server: dict[str, str]) -> S3Store:
    store = make_store(s3_server, "hukou-test")
    store.ensure_ready()
    return store


@pytest.mark.s3
def test_s3_ensure_ready_creates_a_versioned_bucket_once(s3_server: dict[str, str], s3_store: S3Store) -> None:
    report = s3_store.ensure_ready()
    assert report["created"] is False  # the fixture created it; a second call changes nothing
    assert report["versioning"] == "Enabled"
    assert report["object_lock"] is False
    assert raw_client(s3_server).get_bucket_versioning(Bucket="hukou-test")["Status"] == "Enabled"


@pytest.mark.s3
def test_s3_put_reads_back_and_gets(s3_server: dict[str, str], s3_store: S3Store, prefix: str) -> None:
    key = f"{prefix}/J041/0001.pdf"
    stored = s3_store.put(key, PDF, sha256=sha(PDF), metadata={"batch": "J041", "operator": "张三"})
    assert stored.uri == f"s3://hukou-test/{key}"
    assert (stored.key, stored.sha256, stored.size) == (key, sha(PDF), len(PDF))
    assert stored.version_id  # versioned bucket
    assert stored.retention_until is None
    assert s3_store.head(key) == stored
    assert s3_store.exists(key)
    assert s3_store.get(key) == PDF
    raw = raw_client(s3_server).head_object(Bucket="hukou-test", Key=key, ChecksumMode="ENABLED")
    assert raw["Metadata"] == {"batch": "J041", "operator": "%E5%BC%A0%E4%B8%89", "sha256": sha(PDF)}  # S3 metadata is ASCII
    assert raw["ContentType"] == "application/pdf"
    assert raw["ChecksumSHA256"]  # the server kept the checksum it verified


@pytest.mark.s3
def test_s3_server_refuses_a_wrong_checksum(s3_server: dict[str, str], s3_store: S3Store, prefix: str) -> None:
    key = f"{prefix}/wrong.pdf"
    # S3Store does not hash before uploading: the refusal comes from SeaweedFS (400 BadDigest).
    with pytest.raises(ChecksumMismatch, match="BadDigest"):
        s3_store.put(key, PDF, sha256=sha(OTHER))
    assert s3_store.head(key) is None
    assert "Versions" not in raw_client(s3_server).list_object_versions(Bucket="hukou-test", Prefix=key)


@pytest.mark.s3
def test_s3_identical_reput_writes_nothing(s3_server: dict[str, str], s3_store: S3Store, prefix: str) -> None:
    key = f"{prefix}/again.pdf"
    first = s3_store.put(key, PDF, sha256=sha(PDF))
    second = s3_store.put(key, PDF, sha256=sha(PDF))
    assert second == first
    versions = raw_client(s3_server).list_object_versions(Bucket="hukou-test", Prefix=key)["Versions"]
    assert [v["VersionId"] for v in versions] == [first.version_id]


@pytest.mark.s3
def test_s3_refuses_different_bytes_under_a_taken_key(s3_server: dict[str, str], s3_store: S3Store, prefix: str) -> None:
    key = f"{prefix}/taken.pdf"
    s3_store.put(key, PDF, sha256=sha(PDF))
    with pytest.raises(ObjectExists, match="never overwrite"):
        s3_store.put(key, OTHER, sha256=sha(OTHER))
    assert s3_store.get(key) == PDF
    assert len(raw_client(s3_server).list_object_versions(Bucket="hukou-test", Prefix=key)["Versions"]) == 1


@pytest.mark.s3
def test_s3_if_none_match_closes_the_race_between_writers(s3_server: dict[str, str], s3_store: S3Store, prefix: str) -> None:
    # Observed: SeaweedFS honours If-None-Match: * (412), which S3Store.put sends after its HEAD.
    key = f"{prefix}/race.pdf"
    s3_store.put(key, PDF, sha256=sha(PDF))
    with pytest.raises(ClientError) as refused:
        raw_client(s3_server).put_object(Bucket="hukou-test", Key=key, Body=OTHER, IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"


@pytest.mark.s3
def test_s3_unicode_and_space_keys(s3_store: S3Store, prefix: str) -> None:
    key = f"{prefix}/户籍 档案/第1页.pdf"
    stored = s3_store.put(key, PDF, sha256=sha(PDF))
    assert stored.uri == f"s3://hukou-test/{key}"
    assert s3_store.get(key) == PDF
    assert s3_store.head(key) == stored


@pytest.mark.s3
def test_s3_missing_key(s3_store: S3Store, prefix: str) -> None:
    assert s3_store.head(f"{prefix}/nothing.pdf") is None
    assert not s3_store.exists(f"{prefix}/nothing.pdf")
    with pytest.raises(ObjectMissing, match="NoSuchKey"):
        s3_store.get(f"{prefix}/nothing.pdf")


@pytest.mark.s3
def test_s3_delete_forbidden(s3_store: S3Store, prefix: str) -> None:
    key = f"{prefix}/keep.pdf"
    s3_store.put(key, PDF, sha256=sha(PDF))
    with pytest.raises(DeleteForbidden):
        s3_store.delete_forbidden(key)
    assert s3_store.get(key) == PDF


@pytest.mark.s3
def test_s3_wrong_credentials_are_a_clear_storage_error(s3_server: dict[str, str]) -> None:
    store = make_store({**s3_server, "secret_key": "not-the-secret"}, "hukou-test")
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        store.get("anything.pdf")


@pytest.mark.s3
def test_s3_refuses_anonymous_writes(s3_server: dict[str, str], prefix: str) -> None:
    request = urllib.request.Request(f"{s3_server['endpoint']}/hukou-test/{prefix}/anon.pdf", data=PDF, method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


@pytest.mark.s3
def test_s3_object_lock_governance(s3_server: dict[str, str], prefix: str) -> None:
    """Observed SeaweedFS 4.48 behaviour: Object Lock and per-object retention are enforced."""
    store = make_store(s3_server, "hukou-test-locked", object_lock_mode="GOVERNANCE", retention_days=2)
    report = store.ensure_ready()
    assert (report["versioning"], report["object_lock"], report["object_lock_mode"]) == ("Enabled", True, "GOVERNANCE")
    client = raw_client(s3_server)
    assert client.get_object_lock_configuration(Bucket="hukou-test-locked")["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"

    key = f"{prefix}/locked.pdf"
    stored = store.put(key, PDF, sha256=sha(PDF))
    until = dt.datetime.fromisoformat(stored.retention_until)
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert abs((until - expected).total_seconds()) < 120
    retention = client.get_object_retention(Bucket="hukou-test-locked", Key=key)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"

    # A locked version cannot be deleted...
    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket="hukou-test-locked", Key=key, VersionId=stored.version_id)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # ...versioning cannot be suspended on a locked bucket...
    with pytest.raises(ClientError) as suspended:
        client.put_bucket_versioning(Bucket="hukou-test-locked", VersioningConfiguration={"Status": "Suspended"})
    assert suspended.value.response["Error"]["Code"] == "InvalidBucketState"
    # ...and GOVERNANCE (unlike COMPLIANCE) yields to an explicit bypass.
    client.delete_object(Bucket="hukou-test-locked", Key=key, VersionId=stored.version_id, BypassGovernanceRetention=True)
    assert store.head(key) is None


@pytest.mark.s3
def test_s3_object_lock_compliance_survives_bypass(s3_server: dict[str, str], prefix: str) -> None:
    store = make_store(s3_server, "hukou-test-locked", object_lock_mode="COMPLIANCE", retention_days=1)
    store.ensure_ready()
    key = f"{prefix}/compliance.pdf"
    stored = store.put(key, PDF, sha256=sha(PDF))
    with pytest.raises(ClientError) as denied:
        raw_client(s3_server).delete_object(
            Bucket="hukou-test-locked", Key=key, VersionId=stored.version_id, BypassGovernanceRetention=True
        )
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert store.get(key) == PDF


@pytest.mark.s3
def test_s3_object_lock_on_an_existing_bucket_needs_versioning_first(s3_server: dict[str, str], prefix: str) -> None:
    bucket = "hukou-test-late-lock"
    plain = make_store(s3_server, bucket, versioning=False)
    report = plain.ensure_ready()
    if report["created"]:  # a fresh bucket: no versioning until asked for
        assert report["versioning"] == "Off"
        with pytest.raises(ClientError) as refused:
            raw_client(s3_server).put_object_lock_configuration(
                Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
            )
        assert refused.value.response["Error"]["Code"] == "InvalidBucketState"
    locked = make_store(s3_server, bucket, object_lock_mode="GOVERNANCE", retention_days=1)
    report = locked.ensure_ready()  # turns versioning on, then Object Lock
    assert (report["versioning"], report["object_lock"]) == ("Enabled", True)
    stored = locked.put(f"{prefix}/late.pdf", PDF, sha256=sha(PDF))
    assert stored.retention_until is not None
