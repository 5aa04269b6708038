"""Scanner adapters: one source file as received → its page images (Masters).

Each device kind has its own adapter (`flatbed`, `camera`, `pdf`). They only
read the source file; its bytes are never modified, so the SHA-256 taken at
ingest stays the identity of the page. A file that cannot be decoded raises
`UnreadableSource` with a reason a clerk can act on; the page is quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest import SNIFF_BYTES
from pipeline.ingest import sniff_format as sniff_bytes
from pipeline.records import Master, SourceFile


class UnreadableSource(Exception):
    """The source file cannot give a page image (zero-byte, truncated, unsupported, undecodable)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sniff_format(path: Path) -> str:
    """The file's format from its magic bytes, never from its name."""
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read(SNIFF_BYTES))


def _present_format(source: SourceFile) -> str:
    """The format of a file that is there and not empty (else UnreadableSource)."""
    path = Path(source.path)
    if not path.is_file():
        raise UnreadableSource(f"file not found: {source.name}")
    if path.stat().st_size == 0:
        raise UnreadableSource(f"zero-byte file: {source.name}")
    return sniff_format(path)


@dataclass(frozen=True)
class FrameProbe:
    """What a file's header says about one page in it, without decoding the pixels."""

    frame: int
    width: int | None
    height: int | None
    dpi: float | None


def probe_source(source: SourceFile, *, batch_dpi: int | None = None) -> list[FrameProbe]:
    """The pages a file holds, from its header only: registration stays cheap and serial work short.

    Raises `UnreadableSource` for what is plainly not a page file (missing, zero-byte, unknown
    format, no decodable header); damage deeper in the data shows when the page is read.
    """
    from PIL import Image, UnidentifiedImageError

    from scanners.flatbed import _resolution

    path = Path(source.path)
    fmt = _present_format(source)
    if fmt == "pdf":
        import pikepdf

        try:
            with pikepdf.open(path) as pdf:
                count = len(pdf.pages)
        except pikepdf.PasswordError as exc:
            raise UnreadableSource(f"encrypted PDF needs a password: {source.name}") from exc
        except pikepdf.PdfError as exc:
            raise UnreadableSource(f"damaged PDF ({exc}): {source.name}") from exc
        if count == 0:
            raise UnreadableSource(f"PDF has no pages: {source.name}")
        return [FrameProbe(i, None, None, float(batch_dpi) if batch_dpi else None) for i in range(count)]
    if fmt not in ("tiff", "jpeg", "png"):
        raise UnreadableSource(f"unsupported file format (not TIFF, JPEG, PNG or PDF): {source.name}")
    try:
        with Image.open(path) as im:
            probes = []
            for frame in range(getattr(im, "n_frames", 1)):
                im.seek(frame)
                dpi, _ = _resolution(im, im.getexif())
                probes.append(FrameProbe(frame, im.width, im.height, dpi or (float(batch_dpi) if batch_dpi else None)))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableSource(f"truncated or corrupt image data ({exc}): {source.name}") from exc
    return probes


def read_source(
    source: SourceFile,
    *,
    scanner: str = "auto",
    batch_dpi: int | None = None,
    first_page_no: int = 1,
) -> list[Master]:
    """Decode every page of one source file.

    `scanner` is the batch's device kind: "flatbed", "camera" or "auto". With
    "auto" each image decides for itself: a photo without a resolution that shows
    a page lying in perspective on a background is treated as a camera capture,
    everything else as a flatbed scan.
    """
    from scanners import camera, flatbed, pdf

    fmt = _present_format(source)
    if fmt == "pdf":
        masters = pdf.read_pdf(source, batch_dpi=batch_dpi, first_page_no=first_page_no)
    elif fmt in ("tiff", "jpeg", "png"):
        masters = flatbed.read_image(source, batch_dpi=batch_dpi, first_page_no=first_page_no)
    else:
        raise UnreadableSource(f"unsupported file format (not TIFF, JPEG, PNG or PDF): {source.name}")
    if scanner == "flatbed":
        return masters
    if scanner == "camera":
        return [camera.flatten_master(m) for m in masters]
    if scanner != "auto":
        raise ValueError(f"unknown scanner kind {scanner!r}")
    return [camera.flatten_master(m) if camera.looks_like_camera_capture(m) else m for m in masters]
