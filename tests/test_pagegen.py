"""The synthetic page generator: determinism, exact truth, batch files, degradations, geometry."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
import tomllib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

import pagegen
from pagegen.forms import DOC_TYPES, LABELS, DOC_LABELS, TITLES
from pagegen.layout import HOLDOUT_LAYOUTS
from pagegen.people import ID_CHECK_CHARS, ID_WEIGHTS, upgrade_id15
from pipeline.records import DAMAGE_KINDS, DOC_TYPES as EXPORT_DOC_TYPES, FIELD_KEYS

LOW_DPI = 100  # everything is laid out in millimetres, so tests can render small pages fast


def _spec(doc_type: str, seed: int = 3, **changes) -> pagegen.PageSpec:
    spec = pagegen.random_spec(random.Random(seed), doc_type=doc_type, damage=False)
    return replace(spec, **{"dpi": LOW_DPI, "rotation": 0, "skew_deg": 0.0, **changes})


def _assert_valid_id(id_number: str, birth_date: str | None, sex: str | None):
    assert len(id_number) == 18 and id_number[:17].isdigit()
    assert ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(id_number[:17], ID_WEIGHTS)) % 11] == id_number[17]
    if birth_date:
        assert id_number[6:14] == birth_date.replace("-", "")
    if sex:
        assert (int(id_number[16]) % 2 == 1) == (sex == "男")


def _assert_fields_normalised(fields: dict):
    assert set(fields) <= set(FIELD_KEYS)
    for key in ("birth_date", "event_date", "registration_date"):
        if key in fields:
            dt.date.fromisoformat(fields[key])
            assert len(fields[key]) == 10
    if "sex" in fields:
        assert fields["sex"] in ("男", "女")
    if "ethnicity" in fields:
        assert fields["ethnicity"].endswith("族")
    if "id_number" in fields:
        _assert_valid_id(fields["id_number"], fields.get("birth_date"), fields.get("sex"))


def test_same_seed_gives_identical_pixels_and_truth():
    spec = _spec("resident_registration", degradations=["stain", "hole"], skew_deg=2.5)
    a, b = pagegen.render_page(spec), pagegen.render_page(spec)
    assert hashlib.sha256(a.image.tobytes()).digest() == hashlib.sha256(b.image.tobytes()).digest()
    assert json.dumps(a.truth, sort_keys=True) == json.dumps(b.truth, sort_keys=True)
    other = pagegen.render_page(replace(spec, seed=spec.seed + 1))
    assert other.image.shape != a.image.shape or not np.array_equal(other.image, a.image)


def test_make_person_ids_match_birth_date_and_sex():
    rng = random.Random(7)
    people = [pagegen.make_person(rng) for _ in range(300)]
    with_id = [p for p in people if p["id_number"]]
    assert 0.6 < len(with_id) / len(people) < 0.98
    for p in with_id:
        _assert_valid_id(p["id_number"], p["birth_date"], p["sex"])
        assert upgrade_id15(p["id_number"][:6] + p["id_number"][8:17]) == p["id_number"]
    assert all(p["person_id"].startswith("P") and len(p["person_id"]) == 8 for p in people)
    names = [p["name"] for p in people]
    assert len(set(names)) < len(names)  # common names collide, as in real registers
    assert pagegen.make_person(rng, name="王秀英", sex="女")["name"] == "王秀英"


@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_truth_is_normalised_and_consistent(doc_type):
    page = pagegen.render_page(_spec(doc_type, seed=11))
    truth = page.truth
    assert truth["doc_type"] == doc_type and doc_type in EXPORT_DOC_TYPES
    assert truth["fields"] and set(truth["written"]) == set(truth["fields"])
    _assert_fields_normalised(truth["fields"])
    for mention in truth.get("mentions", []):
        assert mention["role"] in ("subject", "household_member", "father", "mother", "head", "other")
        _assert_fields_normalised(mention["fields"])
    written_id = truth["written"].get("id_number")
    if written_id and len(written_id) == 15:
        assert upgrade_id15(written_id) == truth["fields"]["id_number"]
    for key in ("birth_date", "event_date", "registration_date"):
        if key in truth["written"]:
            assert truth["written"][key] in truth["handwritten_values"]
    json.dumps(truth)


def test_household_register_resolves_ditto_marks_and_lists_every_member():
    truths = [pagegen.render_page(_spec("household_register", seed=s)).truth for s in range(4)]
    dittos = 0
    for truth in truths:
        mentions = truth["mentions"]
        assert len(mentions) >= 2 and mentions[0]["role"] == "head"
        assert truth["fields"]["name"] == mentions[0]["fields"]["name"] == truth["fields"]["head_name"]
        for m in mentions:
            for key, written in m["written"].items():
                if written in ("〃", "同上"):
                    dittos += 1
                    assert m["fields"][key] not in ("〃", "同上")
    assert dittos > 0
    cancelled = [m["cancelled"] for t in truths for m in t["mentions"] if "cancelled" in m]
    assert set(cancelled) <= {"迁出", "死亡", "注销"}


def test_birth_registration_names_both_parents():
    truth = pagegen.render_page(_spec("birth_registration")).truth
    roles = {m["role"]: m for m in truth["mentions"]}
    assert set(roles) == {"subject", "father", "mother"}
    assert truth["fields"]["father_name"] == roles["father"]["fields"]["name"]
    assert truth["fields"]["mother_name"] == roles["mother"]["fields"]["name"]
    assert truth["fields"]["registration_date"] >= truth["fields"]["birth_date"]


@pytest.mark.parametrize("kind", ["stain", "crease", "hole", "missing_corner", "tear"])
def test_local_damage_changes_pixels_inside_its_region_only(kind):
    clean = pagegen.render_page(_spec("death_deregistration"))
    damaged = pagegen.render_page(_spec("death_deregistration", degradations=[kind]))
    assert damaged.truth["damage"] == [kind]
    x0, y0, x1, y1 = damaged.truth["damage_regions"][kind]
    changed = np.abs(clean.image.astype(int) - damaged.image.astype(int)).max(axis=2) > 6
    inside = changed[y0:y1, x0:x1]
    assert inside.mean() > 0.02
    outside = changed.copy()
    outside[y0:y1, x0:x1] = False
    assert outside.sum() < 0.01 * inside.sum() + 5


def test_fading_lightens_ink_and_blur_softens_edges():
    import cv2

    clean = pagegen.render_page(_spec("resident_registration")).image
    faded = pagegen.render_page(_spec("resident_registration", degradations=["faded"])).image
    ink = cv2.cvtColor(clean, cv2.COLOR_BGR2GRAY) < 100
    assert ink.sum() > 1000
    assert cv2.cvtColor(faded, cv2.COLOR_BGR2GRAY)[ink].mean() > cv2.cvtColor(clean, cv2.COLOR_BGR2GRAY)[ink].mean() + 40
    blurred = pagegen.render_page(_spec("resident_registration", degradations=["blur"])).image
    sharpness = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert sharpness(blurred) < 0.5 * sharpness(clean)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_the_clockwise_turn_that_makes_the_scan_upright(rotation):
    upright = pagegen.render_page(_spec("move_in_permit"))
    turned = pagegen.render_page(_spec("move_in_permit", rotation=rotation))
    assert turned.truth["rotation"] == rotation
    # turning clockwise by `rotation` degrees is np.rot90 with k = -rotation/90
    assert np.array_equal(np.rot90(turned.image, k=-rotation // 90), upright.image)


def test_skew_tilts_content_counter_clockwise():
    import cv2

    spec = _spec("move_in_permit", degradations=["hole"])
    straight = pagegen.render_page(spec)
    tilted = pagegen.render_page(replace(spec, skew_deg=4.0))
    assert tilted.truth["skew_deg"] == 4.0
    # counter-clockwise tilt: the left hole (dark or light background) moves down relative to the right side
    h, w = tilted.image.shape[:2]
    centre = np.array([w / 2, h / 2])
    sh, sw = straight.image.shape[:2]
    box = straight.truth["damage_regions"]["hole"]
    p = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) - [sw / 2, sh / 2]
    a = np.radians(4.0)
    expected = centre + [p[0] * np.cos(a) + p[1] * np.sin(a), -p[0] * np.sin(a) + p[1] * np.cos(a)]
    tb = tilted.truth["damage_regions"]["hole"]
    got = np.array([(tb[0] + tb[2]) / 2, (tb[1] + tb[3]) / 2])
    assert np.abs(got - expected).max() < 4
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -4.0, 1.0)  # undo the tilt
    back = cv2.warpAffine(tilted.image, m, (w, h))
    crop = back[(h - sh) // 2:(h - sh) // 2 + sh, (w - sw) // 2:(w - sw) // 2 + sw]
    diff = np.abs(crop.astype(int) - straight.image.astype(int)).mean()
    assert diff < 12


def test_label_and_title_variants_are_disjoint():
    for table in [LABELS, TITLES, *DOC_LABELS.values()]:
        for key, (dev, holdout) in table.items():
            assert dev and holdout and not set(dev) & set(holdout), key
    rng = random.Random(0)
    dev_layouts = {pagegen.random_spec(rng, damage=False).layout for _ in range(200)}
    assert not dev_layouts & set(HOLDOUT_LAYOUTS)
    holdout_layouts = {pagegen.random_spec(rng, label_variant="holdout").layout for _ in range(200)}
    assert set(HOLDOUT_LAYOUTS) <= holdout_layouts


def test_batch_writes_manifest_truth_register_and_images(tmp_path):
    truths = pagegen.make_batch(tmp_path, pages=3, seed=5, formats=("tif", "jpg", "png"), register_extra=30)
    manifest = tomllib.loads((tmp_path / "batch.toml").read_text(encoding="utf-8"))
    assert manifest["batch"]["scanner"] == "flatbed" and manifest["batch"]["dpi"] == 300
    assert set(manifest["location"]) == {"repository", "room", "shelf", "box", "fonds", "volume"}
    lines = (tmp_path / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["source_file"] for line in lines] == ["0001.tif", "0002.jpg", "0003.png"]
    for truth in truths:
        with Image.open(tmp_path / truth["source_file"]) as im:
            assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
            assert im.convert("RGB").size[0] > 500
        assert set(truth["damage"]) <= set(DAMAGE_KINDS)
    with open(tmp_path / "register.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["person_id", "name", "sex", "ethnicity", "birth_date", "id_number", "birthplace",
                             "native_place", "address"]
    ids = {r["person_id"] for r in rows}
    on_pages = {t["person_id"] for t in truths} | {m["person_id"] for t in truths for m in t.get("mentions", [])}
    assert on_pages <= ids
    assert len(rows) >= len(on_pages) + 30 - 1
    page_names = {t["fields"]["name"] for t in truths}
    assert any(sum(r["name"] == n for r in rows) >= 2 for n in page_names)  # same name, other person
    assert any(len(r["id_number"]) == 15 for r in rows)
    for r in rows:
        if len(r["id_number"]) == 15:
            _assert_valid_id(upgrade_id15(r["id_number"]), r["birth_date"], r["sex"])


def test_pdf_pages_hold_the_image_at_its_resolution(tmp_path):
    truths = pagegen.make_batch(tmp_path, pages=1, seed=3, formats=("pdf",), register_extra=0, dpi=LOW_DPI)
    data = (tmp_path / truths[0]["source_file"]).read_bytes()
    assert truths[0]["source_file"] == "0001.pdf" and data.startswith(b"%PDF")
    assert b"/DCTDecode" in data


def test_camera_shots_are_jpeg_without_dpi(tmp_path):
    truths = pagegen.make_batch(tmp_path, pages=1, seed=2, camera_share=1.0, register_extra=0, dpi=LOW_DPI)
    assert truths[0]["camera"] and truths[0]["source_file"].endswith(".jpg")
    with Image.open(tmp_path / truths[0]["source_file"]) as im:
        assert "dpi" not in im.info
    manifest = tomllib.loads((tmp_path / "batch.toml").read_text(encoding="utf-8"))
    assert manifest["batch"]["scanner"] == "camera" and "dpi" not in manifest["batch"]
    page = pagegen.render_page(_spec("id_card_application", camera=True))
    assert page.dpi is None and page.truth["camera"]


def test_sample_batch_stays_under_eight_megabytes(tmp_path):
    pagegen.make_batch(tmp_path, pages=6, seed=0)
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 8 * 1024 * 1024


def test_crossed_out_values_are_kept_apart_from_the_current_value():
    from pagegen.forms import build_content

    seed = next(s for s in range(200)
                if any(it.struck for it in build_content(random.Random(_spec("resident_registration", seed=s).seed),
                                                         "resident_registration", "dev",
                                                         _spec("resident_registration", seed=s).persons).items))
    truth = pagegen.render_page(_spec("resident_registration", seed=seed)).truth
    (key, old), = truth["struck"].items()
    assert truth["fields"][key] != old
    assert old in truth["handwritten_values"] and truth["written"][key] in truth["handwritten_values"]


def test_batch_people_are_distinct_unless_the_same_person_recurs(tmp_path):
    truths = pagegen.make_batch(tmp_path, pages=8, seed=4, damage=False, register_extra=0, dpi=LOW_DPI)
    by_id: dict[str, set] = {}
    for t in truths:
        for m in t.get("mentions") or [{"person_id": t["person_id"], "fields": t["fields"]}]:
            by_id.setdefault(m["person_id"], set()).add(m["fields"].get("name"))
    assert all(len(names) == 1 for names in by_id.values())


def test_value_boxes_point_at_ink_in_the_delivered_image():
    import cv2

    page = pagegen.render_page(_spec("household_register", rotation=90, skew_deg=-2.0))
    gray = cv2.cvtColor(page.image, cv2.COLOR_BGR2GRAY)
    truth = page.truth
    assert set(truth["boxes"]) == set(truth["fields"]) and truth["occluded"] == []
    for key, (x0, y0, x1, y1) in truth["boxes"].items():
        assert 0 <= x0 < x1 <= gray.shape[1] and 0 <= y0 < y1 <= gray.shape[0], key
        assert (gray[y0:y1, x0:x1] < 140).mean() > 0.02, key


def test_register_duplicates_are_listed_and_point_at_page_people(tmp_path):
    truths = pagegen.make_batch(tmp_path, pages=2, seed=6, damage=False, register_extra=5, dpi=LOW_DPI,
                                register_duplicates=2)
    pairs = [json.loads(line)["person_ids"] for line in (tmp_path / "duplicates.jsonl").read_text().splitlines()]
    assert len(pairs) == 2
    with open(tmp_path / "register.csv", encoding="utf-8", newline="") as f:
        rows = {r["person_id"]: r for r in csv.DictReader(f)}
    for original, twin in pairs:
        assert original != twin and {original, twin} <= set(rows)
        assert rows[original]["birth_date"] == rows[twin]["birth_date"]
        assert rows[original]["name"][1:] == rows[twin]["name"][1:]
    flagged = {d for t in truths for d in t.get("register_duplicates", [])}
    principals = {t["person_id"] for t in truths}
    assert flagged == {twin for original, twin in pairs if original in principals}


def _decode_date(text: str) -> str:
    """Reference reading of the notations the generator writes (independent of the pipeline's parser)."""
    import re

    digits = {c: str(i) for i, c in enumerate("零一二三四五六七八九")} | {"〇": "0", "○": "0"}

    def cn_small(s: str) -> int:  # 1..99 in 十 notation, or 元
        if s == "元":
            return 1
        if "十" in s:
            tens, _, ones = s.partition("十")
            return int(digits[tens] if tens else 1) * 10 + (int(digits[ones]) if ones else 0)
        return int(digits[s])

    if text.startswith("民国"):
        y, m, d = re.fullmatch(r"民国(.+)年(.+)月(.+)日", text).groups()
        return f"{1911 + cn_small(y)}-{cn_small(m):02d}-{cn_small(d):02d}"
    if m := re.fullmatch(r"([一二三四五六七八九〇○零]{4})年(.+)月(.+)日", text):
        y = int("".join(digits[c] for c in m.group(1)))
        return f"{y}-{cn_small(m.group(2)):02d}-{cn_small(m.group(3)):02d}"
    y, mo, d = (int(p) for p in re.fullmatch(r"(\d{2,4})[.年](\d{1,2})[.月](\d{1,2})[日号]?", text).groups())
    return f"{y + 1900 if y < 100 else y}-{mo:02d}-{d:02d}"


def test_every_date_notation_reads_back_to_the_iso_truth():
    from pagegen.notation import DATE_STYLES, write_date

    rng = random.Random(5)
    for iso in ("1958-04-12", "1960-01-31", "1931-10-05", "1912-02-29", "1988-12-01"):
        for style in DATE_STYLES + ("minguo",):
            if style == "minguo" and not 1912 <= int(iso[:4]) <= 1949:
                continue
            written = write_date(rng, iso, style)
            assert _decode_date(written) == iso, (style, written)


def test_command_line_writes_a_batch(tmp_path, capsys):
    from pagegen.__main__ import main

    assert main([str(tmp_path / "box"), "--pages", "2", "--seed", "9", "--dpi", str(LOW_DPI), "--no-damage",
                 "--label-variant", "holdout"]) == 0
    truths = [json.loads(line) for line in (tmp_path / "box" / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(truths) == 2 and all(t["label_variant"] == "holdout" and t["damage"] == [] for t in truths)
    assert "wrote 2 pages" in capsys.readouterr().out


def test_fields_whose_paper_is_gone_are_reported_occluded(monkeypatch):
    from pagegen import page as page_module

    def lose_top_half(rng, page, mm, background, removed):
        h, w = page.shape[:2]
        mask = np.zeros((h, w), np.uint8)
        mask[: h // 2] = 255
        page_module._fill(page, mask, background, removed)
        return (0, 0, w, h // 2)

    monkeypatch.setitem(page_module.DAMAGERS, "missing_corner", lose_top_half)
    truth = pagegen.render_page(_spec("resident_registration", degradations=["missing_corner"])).truth
    half = truth["damage_regions"]["missing_corner"][3]
    expected = sorted(k for k, (x0, y0, x1, y1) in truth["boxes"].items() if y1 <= half)
    assert expected and set(expected) <= set(truth["occluded"])
    assert not any(truth["boxes"][k][1] >= half for k in truth["occluded"])


def test_page_corners_follow_the_turn_and_the_camera():
    turned = pagegen.render_page(_spec("move_in_permit", rotation=90, scan_margin_mm=5.0)).truth
    (tlx, tly), (trx, try_), _, (blx, bly) = turned["page_corners"]
    assert try_ < tly and abs(trx - tlx) < 2  # upright top edge now runs upwards on the left
    assert blx > tlx
    shot = pagegen.render_page(_spec("move_in_permit", camera=True))
    h, w = shot.image.shape[:2]
    corners = np.array(shot.truth["page_corners"])
    assert (corners[:, 0] > 0).all() and (corners[:, 0] < w).all() and (corners[:, 1] > 0).all()
    x, y = corners.mean(axis=0).astype(int)
    assert shot.image[y, x].mean() > shot.image[5, 5].mean() + 60  # paper in the middle, dark desk at the edge
