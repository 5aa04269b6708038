"""Benchmark of the archival PDF/A-2b writer on synthetic 300-dpi A4 pages.

Pages: yellowed paper with a fine grain (scanner-like noise), printed labels, handwritten-like
values with occasional rare and non-BMP characters, a rotated note, a vertical column;
every other page carries a red seal.

Prints: share of pages pikepdf.pdfa approves, text-layer recall (characters read back
from the final bytes over characters written, per line, and as a layout reader sees
them), share of pages make_archival_pdf accepts, bytes per page (colour and gray), and
seconds per page to write + validate + read back.

    /work/main/.venv/bin/python bench/archive.py [--pages N]
"""

from __future__ import annotations

import argparse
import difflib
import io
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.archive import (  # noqa: E402
    ArchiveRefused,
    build_pdfa,
    extract_lines,
    has_colour_ink,
    make_archival_pdf,
    validate_pdfa,
)
from pipeline.records import ArchiveMetadata, Location, OcrLine  # noqa: E402

FONT = "/usr/share/fonts/truetype/arphic/ukai.ttc"
DPI = 300
A4_PX = (2480, 3508)
LABELS = ["姓名", "曾用名", "性别", "民族", "出生日期", "籍贯", "出生地", "户主或与户主关系", "文化程度", "婚姻状况", "服务处所", "职业", "何时由何地迁来本市", "住址"]
RARE = ["䶮", "𠀀", "𪚥", "㐀", "𡒄", "喆", "堃", "淼"]


def _random_text(rng: np.random.Generator, n: int) -> str:
    chars = [chr(int(c)) for c in rng.integers(0x4E00, 0x9FA6, n)]
    if rng.random() < 0.5:
        chars[int(rng.integers(0, n))] = RARE[int(rng.integers(0, len(RARE)))]
    return "".join(chars)


def _quad(x: float, y: float, w: float, h: float, deg: float = 0.0) -> tuple[tuple[float, float], ...]:
    a = np.deg2rad(deg)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    o = np.array([x, y], float)
    return tuple((float(p[0]), float(p[1])) for p in (o, o + u * w, o + u * w + v * h, o + v * h))


def synthetic_page(rng: np.random.Generator, colour: bool) -> tuple[np.ndarray, list[OcrLine]]:
    """A yellowed A4 form page: labels and values, one rotated line, one vertical column, maybe a seal."""
    w, h = A4_PX
    paper = np.array([155, 205, 228], np.int16) + rng.integers(-8, 8, 3)
    grain = cv2.GaussianBlur(rng.normal(0, 5, (h, w)).astype(np.float32), (3, 3), 0)  # paper texture, shared by channels
    page = np.clip(paper + grain[..., None] + rng.normal(0, 1.5, (h, w, 3)), 0, 255).astype(np.uint8)
    pil = Image.fromarray(cv2.cvtColor(page, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    font = ImageFont.truetype(FONT, 64)
    lines: list[OcrLine] = []
    y = 250
    for label in LABELS:
        value = _random_text(rng, int(rng.integers(2, 9)))
        for x, text in ((200, label), (1100, value)):
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.text((x, y), text, font=font, fill=(25, 25, 25))
            lines.append(OcrLine(quad=_quad(left, top, right - left, bottom - top), text=text, score=0.95))
        y += 200
    # a rotated annotation, drawn on its own layer
    note = _random_text(rng, 10)
    layer = Image.new("L", (1000, 120), 0)
    ImageDraw.Draw(layer).text((10, 20), note, font=font, fill=255)
    angle = float(rng.uniform(-15, 15))
    rotated = layer.rotate(angle, expand=True, resample=Image.BICUBIC)
    pil.paste((40, 40, 40), (1200, 3100), rotated)
    cx, cy = 1200 + rotated.width / 2, 3100 + rotated.height / 2
    a = np.deg2rad(-angle)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    tw = ImageDraw.Draw(layer).textlength(note, font=font)
    origin = np.array([cx, cy]) - u * tw / 2 - v * 35
    lines.append(OcrLine(quad=_quad(*origin, tw, 70, float(np.rad2deg(a))), text=note, score=0.9))
    # a vertical column in the margin
    column = _random_text(rng, 8)
    for k, char in enumerate(column):
        draw.text((2250, 300 + 80 * k), char, font=font, fill=(25, 25, 25))
    lines.append(OcrLine(quad=_quad(2245, 295, 75, 80 * len(column)), text=column, score=0.9, vertical=True))
    page = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    if colour:
        cv2.circle(page, (1800, 3000), 190, (45, 35, 200), 14)
        cv2.putText(page, "*", (1740, 3060), cv2.FONT_HERSHEY_SIMPLEX, 5, (45, 35, 200), 12)
    return page, lines


def _recall(expected: list[str], found: list[str]) -> tuple[int, int]:
    matched = sum(
        sum(block.size for block in difflib.SequenceMatcher(None, want, got, autojunk=False).get_matching_blocks())
        for want, got in zip(expected, found)
    )
    return matched, sum(len(t) for t in expected)


def _layout_recall(data: bytes, expected: list[str]) -> tuple[int, int]:
    from pdfminer.high_level import extract_text

    got = Counter(c for c in extract_text(io.BytesIO(data)) if not c.isspace())
    want = Counter(c for text in expected for c in text if not c.isspace())
    return sum((got & want).values()), sum(want.values())


def _pdftotext_recall(data: bytes, expected: list[str]) -> tuple[int, int] | None:
    if shutil.which("pdftotext") is None:
        return None
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True).stdout
    got = Counter(c for c in text.decode("utf-8") if not c.isspace())
    want = Counter(c for line in expected for c in line if not c.isspace())
    return sum((got & want).values()), sum(want.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(20261127)
    approved = accepted = colour_right = 0
    poppler = [0, 0]
    matched = total = layout_matched = layout_total = 0
    sizes: dict[bool, list[int]] = {True: [], False: []}
    seconds = []
    for i in range(args.pages):
        colour = i % 2 == 0
        image, lines = synthetic_page(rng, colour)
        meta = ArchiveMetadata(
            title=f"bench page {i + 1}", batch_id="bench", page_no=i + 1,
            location=Location(fonds="J041", volume="1986-户-07", box="0417"),
            master_sha256=f"{i:064x}", software_version="bench", capture_date="2026-11-27T08:00:00+08:00",
        )
        colour_right += has_colour_ink(image) == colour
        start = time.perf_counter()
        try:
            make_archival_pdf(image, DPI, lines, meta)
            accepted += 1
        except ArchiveRefused as refused:
            print(f"page {i + 1} refused: {refused.reasons[:3]}")
        seconds.append(time.perf_counter() - start)
        data = build_pdfa(image, DPI, lines, meta)
        approved += validate_pdfa(data).valid
        m, t = _recall([line.text for line in lines], extract_lines(data))
        matched, total = matched + m, total + t
        m, t = _layout_recall(data, [line.text for line in lines])
        layout_matched, layout_total = layout_matched + m, layout_total + t
        sizes[colour].append(len(data))
        found = _pdftotext_recall(data, [line.text for line in lines])
        if found is not None:
            poppler = [poppler[0] + found[0], poppler[1] + found[1]]
    n = args.pages
    print(f"pages: {n} synthetic A4 at {DPI} dpi ({A4_PX[0]}x{A4_PX[1]} px), half with a red seal")
    print(f"pikepdf.pdfa 2b approved: {approved}/{n} = {approved / n:.1%}")
    print(f"make_archival_pdf accepted: {accepted}/{n} = {accepted / n:.1%}")
    print(f"text-layer recall (per line, exact reader decode): {matched}/{total} = {matched / total:.4f}")
    print(f"text-layer recall (pdfminer layout, char multiset): {layout_matched}/{layout_total} = {layout_matched / layout_total:.4f}")
    if poppler[1]:
        print(f"text-layer recall (poppler pdftotext, char multiset): {poppler[0]}/{poppler[1]} = {poppler[0] / poppler[1]:.4f}")
    print(f"colour decision right (seal -> colour, yellowed paper -> gray): {colour_right}/{n}")
    for colour, label in ((True, "colour (seal kept)"), (False, "gray (yellowed paper only)")):
        if sizes[colour]:
            print(f"bytes per page, {label}: {statistics.mean(sizes[colour]) / 1e6:.2f} MB")
    print(f"seconds per page, write+validate+read back: {statistics.mean(seconds):.2f} s (max {max(seconds):.2f})")


if __name__ == "__main__":
    main()
