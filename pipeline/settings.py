"""Settings: one typed object built once and passed down.

Order (later wins): `config/default.toml` < the TOML file named by `HUKOU_CONFIG`
< `HUKOU_*` environment variables. An environment variable names a section and a
key: `HUKOU_DATABASE_URL` sets `[database] url`, `HUKOU_STORAGE_S3_ENDPOINT` sets
`[storage] s3_endpoint`. `HUKOU_HOME` holds all state of the embedded defaults.

Stages never read this module's globals: flows and the CLI build a `Settings`
and hand the parts a stage needs to it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"


class ConfigError(ValueError):
    """A setting is missing, unknown or of the wrong type."""


@dataclass
class DatabaseSettings:
    url: str = ""  # empty: SQLite file under HUKOU_HOME
    echo: bool = False


@dataclass
class StorageSettings:
    backend: str = "local"  # "local" | "s3"
    local_root: str = ""  # empty: HUKOU_HOME/archive
    bucket: str = "hukou-archive"
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    object_lock_mode: str = ""  # "" | "GOVERNANCE" | "COMPLIANCE"
    retention_days: int = 0
    versioning: bool = True
    store_masters: bool = True  # keep a byte-identical copy of every master beside the PDF/A


@dataclass
class OcrSettings:
    engine: str = "rapidocr"  # "rapidocr" | "tesseract" | "paddleocr"
    threads: int = 0  # 0: cores // workers
    max_side_len: int = 4000  # RapidOCR shrinks pages to 2000 px by default: too small for hand-filled cells
    text_score: float = 0.3  # lines below this are kept but flagged low_confidence
    low_confidence: float = 0.6
    tesseract_lang: str = "chi_sim"
    paddle_model_dir: str = ""


@dataclass
class RepairSettings:
    min_dpi: int = 200
    max_residual_skew: float = 3.0
    suppress_seals: bool = True


@dataclass
class PipelineSettings:
    workers: int = 1  # 1: pages in the flow's process (OCR on every core); >1: a Dask LocalCluster; 0: one per core
    dask_address: str = ""  # an existing Dask scheduler, e.g. tcp://10.0.0.5:8786
    recycle_after: int = 200  # pages a worker process handles before it is replaced
    retries: int = 2
    retry_delay_seconds: float = 2.0


@dataclass
class LinkSettings:
    linked_threshold: float = 0.97  # see pipeline.link.LinkOptions
    review_threshold: float = 0.5


@dataclass
class SecuritySettings:
    hmac_key: str = ""  # empty: generated once into HUKOU_HOME/keys
    encryption_key: str = ""  # Fernet key; empty: generated once into HUKOU_HOME/keys
    unmask: bool = False


@dataclass
class Settings:
    home: str = ""
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    ocr: OcrSettings = field(default_factory=OcrSettings)
    repair: RepairSettings = field(default_factory=RepairSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.home_path / 'hukou.sqlite3'}"

    @property
    def archive_root(self) -> Path:
        return Path(self.storage.local_root).expanduser().resolve() if self.storage.local_root else self.home_path / "archive"


def _coerce(value: Any, typ: Any, where: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if typ is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if typ is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    return str(value)


def _apply(target: Any, data: dict[str, Any], where: str) -> None:
    hints = get_type_hints(type(target))
    names = {f.name for f in fields(target)}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        current = getattr(target, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table")
            _apply(current, value, f"{where}.{key}")
        else:
            setattr(target, key, _coerce(value, hints[key], f"{where}.{key}"))


def _env_overrides(env: dict[str, str], settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sections = {f.name for f in fields(settings) if is_dataclass(getattr(settings, f.name))}
    for name, value in env.items():
        if not name.startswith("HUKOU_") or name == "HUKOU_CONFIG":
            continue
        rest = name[len("HUKOU_"):].lower()
        if rest == "home":
            out["home"] = value
            continue
        section, _, key = rest.partition("_")
        if section in sections and key:
            out.setdefault(section, {})[key] = value
    return out


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the settings: defaults < HUKOU_CONFIG file < HUKOU_* environment."""
    env = dict(os.environ) if env is None else env
    settings = Settings()
    default_file = CONFIG_DIR / "default.toml"
    if default_file.exists():
        _apply(settings, tomllib.loads(default_file.read_text("utf-8")), str(default_file))
    cfg = env.get("HUKOU_CONFIG")
    if cfg:
        path = Path(cfg)
        if not path.is_file():
            raise ConfigError(f"HUKOU_CONFIG names {cfg}, which is not a file")
        try:
            _apply(settings, tomllib.loads(path.read_text("utf-8")), str(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    _apply(settings, _env_overrides(env, settings), "environment")
    if not settings.home:
        settings.home = str(Path("~/.local/share/hukou").expanduser())
    return settings
