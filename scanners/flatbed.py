"""Flatbed scans: TIFF (also multi-page, 8/16-bit, gray/RGB/palette), JPEG and PNG.

The decoded page is BGR (or gray) uint8 with EXIF orientation applied. What the
file says about its capture — resolution and where it came from, bit depth,
embedded ICC profile, EXIF orientation, compression — goes into `Master.capture`
so the archive copy can carry it on.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from pipeline.records import Master, SourceFile
from scanners import UnreadableSource

Image.MAX_IMAGE_PIXELS = 400_000_000  # a 1200-dpi A3 colour scan is ~ 280 Mpx; refuse only absurd files

_EXIF_ORIENTATION = 0x0112
_EXIF_X_RESOLUTION = 0x011A
_EXIF_RESOLUTION_UNIT = 0x0128

# Below this a stated resolution is a camera's or an editor's default (72/96), not a scan's.
MIN_PLAUSIBLE_SCAN_DPI = 100


def read_image(source: SourceFile, *, batch_dpi: int | None = None, first_page_no: int = 1) -> list[Master]:
    """Decode every frame of a raster file into Masters."""
    path = Path(source.path)
    try:
        with Image.open(path) as im:
            fmt = (im.format or "").lower()
            n_frames = getattr(im, "n_frames", 1)
            masters = []
            for frame in range(n_frames):
                im.seek(frame)
                masters.append(_frame_master(source, im, frame, first_page_no + frame, fmt, batch_dpi))
    except UnreadableSource:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableSource(f"truncated or corrupt image data ({exc}): {source.name}") from exc
    return masters


def _frame_master(
    source: SourceFile, im: Image.Image, frame: int, page_no: int, fmt: str, batch_dpi: int | None
) -> Master:
    im.load()  # raises on truncated data (PIL default: LOAD_TRUNCATED_IMAGES=False)
    exif = im.getexif()
    orientation = int(exif.get(_EXIF_ORIENTATION, 1) or 1)
    dpi, dpi_source = _resolution(im, exif)
    if dpi is None and batch_dpi:
        dpi, dpi_source = float(batch_dpi), "batch"
    icc = im.info.get("icc_profile")
    capture: dict[str, object] = {
        "format": fmt,
        "mode": im.mode,
        "bits_per_sample": _bits_per_sample(im),
        "width": im.width,
        "height": im.height,
        "dpi_source": dpi_source,
        "exif_orientation": orientation,
    }
    if fmt == "tiff":
        capture["compression"] = im.info.get("compression", "")
        capture["frames"] = getattr(im, "n_frames", 1)
    if icc:
        capture["icc_profile"] = icc
        capture["icc_sha256"] = hashlib.sha256(icc).hexdigest()
        capture["icc_description"] = _icc_description(icc)
    upright = ImageOps.exif_transpose(im) if orientation != 1 else im
    image = to_uint8_array(upright)
    return Master(
        source=source,
        frame=frame,
        page_no=page_no,
        image=image,
        dpi=dpi,
        scanner="flatbed",
        capture=capture,
    )


def _resolution(im: Image.Image, exif: Image.Exif) -> tuple[float | None, str | None]:
    """Resolution from the TIFF tags / JFIF density / PNG pHYs, else EXIF XResolution."""
    dpi = im.info.get("dpi")
    if dpi and float(dpi[0]) > 1:
        return round(float(dpi[0]), 2), "file"
    x_res = exif.get(_EXIF_X_RESOLUTION)
    if x_res:
        unit = int(exif.get(_EXIF_RESOLUTION_UNIT, 2) or 2)
        value = float(x_res) * (2.54 if unit == 3 else 1.0)
        if value > 1:
            return round(value, 2), "exif"
    return None, None


def _bits_per_sample(im: Image.Image) -> int:
    tags = getattr(im, "tag_v2", None)
    if tags is not None and 258 in tags:  # TIFF BitsPerSample, before Pillow's reduction
        bits = tags[258]
        return int(bits[0] if isinstance(bits, tuple) else bits)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return 16
    if im.mode == "1":
        return 1
    if im.mode == "F":
        return 32
    return 8


def _icc_description(icc: bytes) -> str:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.getProfileDescription(profile).strip()
    except (OSError, ImageCms.PyCMSError):
        return ""


def to_uint8_array(im: Image.Image) -> np.ndarray:
    """A PIL image as gray or BGR uint8; 16-bit samples are scaled, not clipped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im)
        if im.mode == "F":
            arr = np.clip(arr, 0.0, 1.0) * 255.0 if arr.max() <= 1.0 else np.clip(arr, 0, 255)
            return arr.astype(np.uint8)
        arr = arr.astype(np.uint32)
        top = 65535 if arr.max() > 255 else 255
        return ((arr * 255 + top // 2) // top).astype(np.uint8)
    if im.mode == "1":
        return np.asarray(im.convert("L"))
    if im.mode == "L":
        return np.asarray(im).copy()
    if im.mode == "LA":
        return np.asarray(_flatten_alpha(im.convert("RGBA")).convert("L"))
    if im.mode in ("RGBA", "PA", "P") and ("transparency" in im.info or im.mode != "P"):
        im = _flatten_alpha(im.convert("RGBA"))
    if im.mode in ("CMYK", "YCbCr", "LAB", "HSV", "P"):
        im = im.convert("RGB")
    # Pillow already reduces 48-bit RGB TIFF to 8 bits per sample (high byte).
    rgb = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # one pass, no intermediate copies


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    """Transparent pixels become white paper, not black."""
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
