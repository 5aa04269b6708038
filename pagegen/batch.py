"""A scan batch folder as a scanning station writes it, plus its truth and a population register."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import cv2
from PIL import Image

from pagegen.page import PageSpec, random_spec, render_page
from pagegen.people import id15_of, make_address, make_person

REGISTER_COLUMNS = ("person_id", "name", "sex", "ethnicity", "birth_date", "id_number", "birthplace",
                    "native_place", "address")
DEVICES = ("Fujitsu fi-7460", "Epson DS-50000", "Canon DR-G2110", "汉王 HW-8800")
OPERATORS = ("李桂芳", "王淑珍", "张建华", "刘海燕")
JPEG_QUALITY = 90


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def batch_toml(batch_id: str, scanner: str, dpi: int | None, location: dict, rng: random.Random) -> str:
    lines = ["[batch]", f"id = {_toml_str(batch_id)}", f"scanner = {_toml_str(scanner)}",
             f"device = {_toml_str(rng.choice(DEVICES))}", f"operator = {_toml_str(rng.choice(OPERATORS))}"]
    if dpi:
        lines.append(f"dpi = {dpi}")
    lines += ["", "[location]"] + [f"{k} = {_toml_str(v)}" for k, v in location.items()]
    return "\n".join(lines) + "\n"


def write_image(path: Path, image, dpi: int | None) -> Path:
    """TIFF (YCbCr JPEG-compressed, with DPI), JPEG q90 (with DPI unless a camera shot), PNG, or an
    image-only PDF (one JPEG page sized by the DPI).

    YCbCr in the TIFF keeps a page near 1.3 MB (RGB JPEG-in-TIFF is 2-3x larger); Pillow,
    libtiff and OpenCV all decode it back to RGB.
    """
    rgb = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    extra = {"dpi": (dpi, dpi)} if dpi else {}
    if path.suffix == ".tif":
        rgb.convert("YCbCr").save(path, compression="jpeg", quality=JPEG_QUALITY, **extra)
    elif path.suffix == ".jpg":
        rgb.save(path, quality=JPEG_QUALITY, **extra)
    elif path.suffix == ".pdf":
        rgb.save(path, "PDF", resolution=float(dpi or 300), quality=JPEG_QUALITY)
    else:
        rgb.save(path, compress_level=3, **extra)
    return path


def _distractors(rng: random.Random, persons: list[dict], count: int) -> list[dict]:
    """Register-only people: a third share a name with someone on the pages (同名不同人)."""
    out = []
    for i in range(count):
        if persons and i % 3 == 0:
            twin = rng.choice(persons)
            out.append(make_person(rng, name=twin["name"], sex=twin["sex"]))
        else:
            out.append(make_person(rng))
    return out


ID15_SHARE = 0.2  # register rows still holding the first-generation 15-digit number
MOVED_SHARE = 0.15  # register rows whose current address is no longer the one on the old page


def register_rows(rng: random.Random, persons: list[dict], extra: int) -> list[dict]:
    rows, seen = [], set()
    for p in persons + _distractors(rng, persons, extra):
        if p["person_id"] in seen:
            continue
        seen.add(p["person_id"])
        row = {k: p.get(k, "") for k in REGISTER_COLUMNS}
        if row["id_number"] and rng.random() < ID15_SHARE:
            row["id_number"] = id15_of(row["id_number"])
        if rng.random() < MOVED_SHARE:
            row["address"] = make_address(rng)
        rows.append(row)
    return rows


# forms that may name someone an earlier page of the box named (a death page never does: its dates would clash)
REUSABLE_DOCS = ("resident_registration", "migration_certificate", "move_in_permit", "change_correction",
                 "id_card_application")
REUSE_SHARE = 0.25


def _next_spec(rng: random.Random, label_variant: str, damage: bool, camera: bool, earlier: list[dict],
               used_ids: set[str]) -> PageSpec:
    """A page whose people are new (fresh person_ids), or, sometimes, about someone an earlier page named,
    as when one person's 登记表 and 迁移证 sit in the same box."""
    while True:
        spec = random_spec(rng, label_variant=label_variant, damage=damage, camera=camera)
        if spec.doc_type in REUSABLE_DOCS and earlier and rng.random() < REUSE_SHARE:
            candidate = rng.choice(earlier)
            if candidate["id_number"] or spec.doc_type != "id_card_application":
                spec.persons = [candidate]
                return spec
        if not any(p["person_id"] in used_ids for p in spec.persons):
            return spec


def make_batch(out_dir, pages: int = 6, seed: int = 0, camera_share: float = 0.0, damage: bool = True,
               formats: tuple[str, ...] = ("tif", "jpg"), label_variant: str = "dev",
               register_extra: int = 50, dpi: int = 300, register_duplicates: int = 0) -> list[dict]:
    """Write a batch folder; returns the truth of every page (also written to truth.jsonl).

    ``register_duplicates`` adds that many 重户 rows: people on the pages registered a second time
    under another person_id; they are listed in duplicates.jsonl and in the page truth as
    ``register_duplicates``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    box = f"{rng.randrange(1, 2000):04d}"
    location = {"repository": "呼和浩特市公安局户籍档案室", "room": str(rng.randint(1, 4)),
                "shelf": str(rng.randint(1, 40)), "box": box, "fonds": f"J{rng.randint(1, 99):03d}",
                "volume": f"{rng.randint(1955, 1989)}-户-{rng.randint(1, 30):02d}"}
    batch_id = f"box-{box}"
    n_camera = round(pages * camera_share)
    camera_pages = set(rng.sample(range(pages), n_camera))
    truths, persons, used_ids, dead = [], [], set(), set()
    for i in range(pages):
        alive = [p for p in persons if p["person_id"] not in dead]
        spec = _next_spec(rng, label_variant, damage, i in camera_pages, alive, used_ids)
        if spec.doc_type == "death_deregistration":
            dead.add(spec.persons[0]["person_id"])
        spec.dpi = dpi
        used_ids.update(p["person_id"] for p in spec.persons)
        page = render_page(spec)
        ext = "jpg" if spec.camera else formats[i % len(formats)]
        name = f"{i + 1:04d}.{ext}"
        write_image(out / name, page.image, page.dpi)
        truths.append({"batch": batch_id, "source_file": name, "page_no": i + 1, **page.truth})
        persons.extend(p for p in spec.persons if p not in persons)
    scanner = "flatbed" if n_camera == 0 else ("camera" if n_camera == pages else "auto")
    (out / "batch.toml").write_text(batch_toml(batch_id, scanner, dpi if n_camera == 0 else None, location, rng),
                                    encoding="utf-8")
    rows = register_rows(rng, persons, register_extra)
    duplicates = _duplicate_rows(rng, persons, register_duplicates, used_ids | {r["person_id"] for r in rows})
    rows += [row for row, _ in duplicates]
    rng.shuffle(rows)
    twins: dict[str, list[str]] = {}
    for row, original in duplicates:
        twins.setdefault(original, []).append(row["person_id"])
    for t in truths:
        if t["person_id"] in twins:
            t["register_duplicates"] = twins[t["person_id"]]
    with open(out / "truth.jsonl", "w", encoding="utf-8") as f:
        for t in truths:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    if duplicates:
        with open(out / "duplicates.jsonl", "w", encoding="utf-8") as f:
            for row, original in duplicates:
                f.write(json.dumps({"person_ids": [original, row["person_id"]]}, ensure_ascii=False) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REGISTER_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (out / "register.csv").write_text(buf.getvalue(), encoding="utf-8")
    return truths


SURNAME_VARIANTS = {"萧": "肖", "肖": "萧", "阎": "闫", "闫": "阎", "傅": "付", "付": "傅"}


def _duplicate_rows(rng: random.Random, persons: list[dict], count: int, taken: set[str]) -> list[tuple[dict, str]]:
    """重户: the same person registered again, with the slips such registrations carry."""
    out = []
    for p in rng.sample(persons, min(count, len(persons))):
        row = {k: p.get(k, "") for k in REGISTER_COLUMNS}
        while row["person_id"] in taken:
            row["person_id"] = f"P{rng.randrange(10**7):07d}"
        taken.add(row["person_id"])
        row["name"] = SURNAME_VARIANTS.get(row["name"][0], row["name"][0]) + row["name"][1:]
        if row["id_number"] and rng.random() < 0.5:
            row["id_number"] = id15_of(row["id_number"])
        elif rng.random() < 0.5:
            row["id_number"] = ""
        row["address"] = make_address(rng)
        out.append((row, p["person_id"]))
    return out
