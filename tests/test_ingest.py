from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline.errors import BatchError
from pipeline.ingest import list_sources, natural_key, read_manifest

MANIFEST = """
[batch]
id = "box-0417"
scanner = "flatbed"
device = "Fujitsu fi-7460"
operator = "李桂芳"
dpi = 300

[location]
repository = "呼和浩特市公安局户籍档案室"
room = "2"
shelf = "14"
box = "0417"
fonds = "J041"
volume = "1986-户-07"
"""


def test_manifest_is_read_and_options_override_it(tmp_path: Path) -> None:
    (tmp_path / "batch.toml").write_text(MANIFEST, encoding="utf-8")
    m = read_manifest(tmp_path)
    assert (m.batch_id, m.scanner, m.operator, m.dpi) == ("box-0417", "flatbed", "李桂芳", 300)
    assert m.location.volume == "1986-户-07" and m.location.fonds == "J041"
    m2 = read_manifest(tmp_path, scanner="camera", location={"box": "0418"})
    assert m2.scanner == "camera" and m2.location.box == "0418" and m2.location.room == "2"


def test_folder_without_manifest_takes_its_name(tmp_path: Path) -> None:
    batch = tmp_path / "box-9"
    batch.mkdir()
    m = read_manifest(batch)
    assert m.batch_id == "box-9" and m.scanner == "auto" and m.dpi is None


@pytest.mark.parametrize(
    ("text", "message"),
    [("[batch\nid=1", "not valid TOML"), ('[batch]\nscanner = "phone"', "scanner must be"), ("[batch]\ndpi = 'high'", "dpi")],
)
def test_bad_manifest_is_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "batch.toml").write_text(text)
    with pytest.raises(BatchError, match=message):
        read_manifest(tmp_path)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="does not exist"):
        read_manifest(tmp_path / "nope")


def test_pages_in_natural_order_hashed_as_received(tmp_path: Path) -> None:
    (tmp_path / "10.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8\xff\xe0yy")
    (tmp_path / "1.tif").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a page")
    (tmp_path / "batch.toml").write_text(MANIFEST, encoding="utf-8")
    sources = list_sources(read_manifest(tmp_path))
    assert [s.name for s in sources] == ["1.tif", "2.jpg", "10.png"]
    assert [s.format for s in sources] == ["unknown", "jpeg", "png"]  # empty file: sniffed as unknown, still listed
    assert sources[1].sha256 == hashlib.sha256(b"\xff\xd8\xff\xe0yy").hexdigest() and sources[1].size == 6
    assert natural_key("0002.tif") < natural_key("0010.tif")
