"""OCR engines on the shared third-party test images (small crops, seconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from ocr_models.base import EngineOptions, EngineUnavailable, get_engine
from ocr_models.registry import list_models

TESTDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata"
if not TESTDATA.is_dir():
    TESTDATA = Path("/work/shared/testdata")


def load_bgr(path: Path) -> np.ndarray:
    """EXIF-upright image as BGR or BGRA, as the scanners' decoder hands it over."""
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in ("RGBA", "LA", "P"):
        return np.array(image.convert("RGBA"))[:, :, [2, 1, 0, 3]]
    return np.array(image.convert("RGB"))[:, :, ::-1]


def cer(truth: str, read: str) -> float:
    from pipeline.extract import levenshtein

    return levenshtein(truth, read) / max(1, len(truth))


@pytest.fixture(scope="module")
def rapid():
    return get_engine("rapidocr", EngineOptions(threads=1))


@pytest.fixture(scope="module")
def rapid_truth() -> dict[str, dict]:
    items = json.loads((TESTDATA / "rapidocr" / "ground_truth.json").read_text())["items"]
    return {item["file"]: item for item in items}


@pytest.mark.parametrize("name", ["text_rec.jpg", "text_cls.jpg", "test_without_det.jpg"])
def test_rapidocr_reads_single_lines(rapid, rapid_truth, name):
    result = rapid.recognise(load_bgr(TESTDATA / "rapidocr" / name))
    assert result.text == rapid_truth[name]["expected_text"]
    assert result.engine == "rapidocr" and result.model.startswith("PP-OCRv6")
    assert all(not line.low_confidence for line in result.lines)


def test_rapidocr_keeps_character_alternatives(rapid):
    result = rapid.recognise(load_bgr(TESTDATA / "rapidocr" / "test_without_det.jpg"))
    line = result.lines[0]
    assert len(line.alternatives) == len(line.text)
    assert all(alts and alts[0].char == ch for alts, ch in zip(line.alternatives, line.text))


def test_rapidocr_reads_vertical_columns_right_to_left(rapid, rapid_truth):
    result = rapid.recognise(load_bgr(TESTDATA / "rapidocr" / "text_vertical_words.png"))
    columns = [line for line in result.lines if line.vertical]
    assert len(columns) == 3
    assert [c.bbox[0] for c in columns] == sorted((c.bbox[0] for c in columns), reverse=True)
    left = "".join(rapid_truth["text_vertical_words.png"]["expected_first_line_chars"])
    assert cer(left[1:], columns[-1].text[1:]) == 0  # the first glyph is printed 巳/已 ambiguously


def test_rapidocr_transparent_background_in_reading_order(rapid, rapid_truth):
    result = rapid.recognise(load_bgr(TESTDATA / "rapidocr" / "black_font_color_transparent.png"))
    expected = "".join(rapid_truth["black_font_color_transparent.png"]["expected_first_line_chars"])
    read = result.text.replace("\n", "")
    # PP-OCRv6 small det misses the last glyph (RapidOCR itself too); order and the rest must hold.
    assert read.startswith("我是中") and cer(expected, read) <= 0.2


@pytest.mark.parametrize("name", ["helloworld.jpg", "rand_cn2.png", "multi-line_cn1.png"])
def test_rapidocr_on_cnocr_images_passes_cnocr_rule(rapid, name):
    truth = {i["file"]: i["lines"] for i in json.loads((TESTDATA / "cnocr" / "ground_truth.json").read_text())["items"]}
    result = rapid.recognise(load_bgr(TESTDATA / "cnocr" / name))
    lines = [line.text for line in result.lines]
    assert len(lines) == len(truth[name])
    errors = sum(cer(t, r) * len(t) for t, r in zip(truth[name], lines))
    assert 1 - errors / sum(len(t) for t in truth[name]) >= 0.8


def test_engine_is_cached_per_process():
    assert get_engine("rapidocr", EngineOptions(threads=1)) is get_engine("rapidocr", EngineOptions(threads=1))
    with pytest.raises(EngineUnavailable):
        get_engine("nonesuch", EngineOptions())


def test_tesseract_reads_a_printed_line():
    engine = get_engine("tesseract", EngineOptions(lang="chi_sim"))
    result = engine.recognise(load_bgr(TESTDATA / "rapidocr" / "test_without_det.jpg"))
    assert result.engine == "tesseract" and result.lines
    assert "作家协会" in result.text


def test_paddleocr_missing_is_a_clear_error():
    try:
        import paddleocr  # noqa: F401
    except ImportError:
        with pytest.raises(EngineUnavailable, match="paddleocr"):
            get_engine("paddleocr", EngineOptions())
    else:
        pytest.skip("paddleocr is installed")


def test_registry_lists_installed_models_with_checksums():
    models = {(m.engine, m.name): m for m in list_models()}
    rec = models[("rapidocr", "PP-OCRv6_rec_small")]
    assert rec.installed and len(rec.sha256) == 1
    (path, digest), = rec.sha256.items()
    assert Path(path).is_file() and len(digest) == 64
    assert models[("tesseract", "chi_sim")].installed
    assert not models[("paddleocr", "PP-OCR (local model folders)")].installed or models[("paddleocr", "PP-OCR (local model folders)")].version


def test_rapidocr_on_an_upright_page_checks_only_columns_for_upside_down_text(rapid_truth):
    upright = get_engine("rapidocr", EngineOptions(threads=1, page_upright=True))
    assert upright.recognise(load_bgr(TESTDATA / "rapidocr" / "text_rec.jpg")).text == rapid_truth["text_rec.jpg"]["expected_text"]
    # an upside-down line is only turned when the page's orientation is not known
    assert upright.recognise(load_bgr(TESTDATA / "rapidocr" / "text_cls.jpg")).text != rapid_truth["text_cls.jpg"]["expected_text"]
    columns = [line for line in upright.recognise(load_bgr(TESTDATA / "rapidocr" / "text_vertical_words.png")).lines if line.vertical]
    left = "".join(rapid_truth["text_vertical_words.png"]["expected_first_line_chars"])
    assert len(columns) == 3 and cer(left[1:], columns[-1].text[1:]) == 0
