"""Ingest: read a scan batch folder (interfaces.md §1) into a manifest and source files.

Nothing here decodes images (that is `scanners/`) or writes anywhere: the stage
only reads the folder, hashes every file as received and orders the pages.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from pipeline.errors import BatchError
from pipeline.records import BatchManifest, Location, SourceFile

PAGE_SUFFIXES = {".tif", ".tiff", ".jpg", ".jpeg", ".png", ".pdf"}
SCANNER_KINDS = {"flatbed", "camera", "auto"}
_MAGIC = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
SNIFF_BYTES = 1024


def natural_key(name: str) -> list[object]:
    """Sort 2.tif before 10.tif, as the scanning station numbers pages."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def sniff_format(head: bytes) -> str:
    """The format from a file's first bytes (SNIFF_BYTES of them), never from its name."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if b"%PDF-" in head:  # PDF allows junk before the header
        return "pdf"
    return "unknown"


def sha256_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def read_manifest(
    batch_dir: Path,
    *,
    batch_id: str | None = None,
    scanner: str | None = None,
    device: str | None = None,
    operator: str | None = None,
    dpi: int | None = None,
    location: dict[str, str] | None = None,
) -> BatchManifest:
    """Read `batch.toml` when present; command-line options stand in for or override it."""
    batch_dir = batch_dir.resolve()
    if not batch_dir.is_dir():
        raise BatchError(f"batch folder {batch_dir} does not exist or is not a folder")
    data: dict[str, object] = {}
    manifest = batch_dir / "batch.toml"
    if manifest.exists():
        try:
            data = tomllib.loads(manifest.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BatchError(f"{manifest}: not valid TOML ({exc})") from None
    section = data.get("batch", {})
    loc_section = data.get("location", {})
    if not isinstance(section, dict) or not isinstance(loc_section, dict):
        raise BatchError(f"{manifest}: [batch] and [location] must be tables")
    kind = scanner or str(section.get("scanner", "auto"))
    if kind not in SCANNER_KINDS:
        raise BatchError(f"scanner must be one of {sorted(SCANNER_KINDS)}, not {kind!r}")
    raw_dpi = dpi if dpi is not None else section.get("dpi")
    try:
        batch_dpi = int(raw_dpi) if raw_dpi not in (None, "") else None
    except (TypeError, ValueError):
        raise BatchError(f"dpi must be a whole number, not {raw_dpi!r}") from None
    loc = {k: str(v) for k, v in loc_section.items() if k in Location.__dataclass_fields__}
    loc.update({k: v for k, v in (location or {}).items() if v})
    return BatchManifest(
        batch_id=batch_id or str(section.get("id") or batch_dir.name),
        root=str(batch_dir),
        scanner=kind,  # type: ignore[arg-type]
        device=device or str(section.get("device", "")),
        operator=operator or str(section.get("operator", "")),
        dpi=batch_dpi,
        location=Location(**loc),
    )


def page_file_names(root: Path) -> list[str]:
    """The batch folder's page files (by suffix), in page order."""
    return sorted((p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES), key=natural_key)


def list_sources(manifest: BatchManifest) -> list[SourceFile]:
    """Every page file of the batch in page order, hashed as received.

    Files with a page suffix are listed even when broken: the scanners stage
    quarantines them with a reason, so nothing the operator scanned is lost.
    Other files (the manifest, notes, thumbnails) are not pages.
    """
    root = Path(manifest.root)
    sources = []
    for name in page_file_names(root):
        path = root / name
        digest, size = sha256_file(path)
        with path.open("rb") as fh:
            fmt = sniff_format(fh.read(SNIFF_BYTES))
        sources.append(SourceFile(name=name, path=str(path), sha256=digest, size=size, format=fmt))
    return sources
