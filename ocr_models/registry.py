"""Which OCR models this installation has, with the checksums that pin them.

The archive records engine, version and model for every page; the registry lets an
operator (and the audit) see exactly which files produced those results.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


@dataclass
class ModelInfo:
    name: str
    engine: str
    version: str
    files: list[str]
    sha256: dict[str, str] = field(default_factory=dict)  # file path -> hex digest
    licence: str = ""
    installed: bool = False


TESSERACT_LANGS = ("chi_sim", "chi_tra")


def list_models() -> list[ModelInfo]:
    """Every model the engines know about; `installed` says whether its files are present."""
    return [*_rapidocr_models(), *_tesseract_models(), _paddle_model()]


def _rapidocr_models() -> list[ModelInfo]:
    try:
        version = importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return [ModelInfo("PP-OCRv6 small (rapidocr wheel)", "rapidocr", "", [], licence="Apache-2.0")]
    import rapidocr

    model_dir = Path(rapidocr.__file__).parent / "models"
    files = sorted(str(p) for p in model_dir.glob("*.onnx"))
    return [
        ModelInfo(
            name=Path(path).stem,
            engine="rapidocr",
            version=version,
            files=[path],
            sha256={path: _sha256(path)},
            licence="Apache-2.0",
            installed=True,
        )
        for path in files
    ]


def _tesseract_models() -> list[ModelInfo]:
    binary = shutil.which("tesseract")
    version = ""
    tessdata: Path | None = None
    if binary:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        version = (out.stdout or out.stderr).split("\n", 1)[0].replace("tesseract", "").strip()
        listing = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, check=False).stdout
        first = listing.split("\n", 1)[0]
        if '"' in first:
            tessdata = Path(first.split('"')[1])
    models = []
    for lang in TESSERACT_LANGS:
        path = tessdata / f"{lang}.traineddata" if tessdata else None
        installed = path is not None and path.is_file()
        models.append(
            ModelInfo(
                name=lang,
                engine="tesseract",
                version=version,
                files=[str(path)] if installed else [],
                sha256={str(path): _sha256(str(path))} if installed else {},
                licence="Apache-2.0",
                installed=installed,
            )
        )
    return models


def _paddle_model() -> ModelInfo:
    try:
        version = importlib.metadata.version("paddleocr")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return ModelInfo("PP-OCR (local model folders)", "paddleocr", version, [], licence="Apache-2.0", installed=bool(version))


@lru_cache(maxsize=None)
def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
