"""The per-process runtime: database, store, keys and stage options built from Settings.

Heavy objects (database engines, the OCR engine) live once per worker process and
are never passed through Prefect task results: tasks pass page ids only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline import __version__
from pipeline.db.session import make_engine, migrate, session_factory
from pipeline.records import SOFTWARE
from pipeline.settings import Settings, load_settings
from pipeline.storage import Store, open_store


@dataclass(frozen=True)
class Keys:
    hmac: bytes
    fernet: bytes


def _key_file(path: Path, make: callable) -> bytes:  # type: ignore[valid-type]
    """Read a key, creating it once (0600) so the embedded default needs no set-up."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


class Runtime:
    """Everything a flow step needs, built lazily from one Settings object."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.home = self.settings.home_path
        self.home.mkdir(parents=True, exist_ok=True)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url, echo=self.settings.database.echo)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def store(self) -> Store:
        s = self.settings.storage
        return open_store(
            s.backend,
            local_root=self.settings.archive_root,
            endpoint=s.s3_endpoint,
            bucket=s.bucket,
            access_key=s.s3_access_key,
            secret_key=s.s3_secret_key,
            region=s.s3_region,
            object_lock_mode=s.object_lock_mode,
            retention_days=s.retention_days,
            versioning=s.versioning,
        )

    @property
    def storage_location(self) -> str:
        """Where the archive copies go, for people to read."""
        s = self.settings.storage
        return f"s3://{s.bucket} at {s.s3_endpoint}" if s.backend == "s3" else str(self.settings.archive_root)

    @cached_property
    def keys(self) -> Keys:
        sec = self.settings.security
        key_dir = self.home / "keys"
        hmac_key = sec.hmac_key.encode() if sec.hmac_key else _key_file(
            key_dir / "hmac.key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32))
        )
        fernet_key = sec.encryption_key.encode() if sec.encryption_key else _key_file(key_dir / "fernet.key", Fernet.generate_key)
        return Keys(hmac=hmac_key, fernet=fernet_key)

    @cached_property
    def model_identity(self) -> str:
        """The OCR engine's version and model-file digests: pages done under other models are processed again."""
        from ocr_models.registry import list_models

        engine = self.settings.ocr.engine
        parts = sorted(f"{m.name}:{m.version}:{','.join(sorted(m.sha256.values()))}"
                       for m in list_models() if m.engine == engine and m.installed)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    @property
    def agent(self) -> str:
        """The software that acts, for PREMIS events."""
        return f"{SOFTWARE} {__version__}"

    def init(self) -> dict[str, object]:
        """Create or migrate the database and make the store ready; safe to repeat."""
        migrate(self.engine)
        return self.store.ensure_ready()


_RUNTIMES: dict[tuple[str, ...], Runtime] = {}


def runtime_for(env_items: tuple[tuple[str, str], ...] | None = None) -> Runtime:
    """One Runtime per process and settings: flows and workers call this, never build their own."""
    env = dict(env_items) if env_items is not None else dict(os.environ)
    key = tuple(sorted((k, v) for k, v in env.items() if k.startswith("HUKOU_")))
    if key not in _RUNTIMES:
        _RUNTIMES[key] = Runtime(load_settings(env))
    return _RUNTIMES[key]
