"""Layout families: how a form's labels and values are arranged on the paper.

``grid1``/``grid2`` ruled tables with one or two label/value pairs per row,
``lines`` certificate style "label：value" on ruled lines, ``columns`` a
column-header table with one row per person. Hold-out only: ``vertical``
(vertical-label table), ``card2`` (two-column card without a grid) and ``vertical_rl``
(1950s 竖排 register: one column per field, label and value written top to bottom,
read from right to left).
"""

from __future__ import annotations

import random

from pagegen.draw import HandStyle, Sheet, advance
from pagegen.forms import FormContent, Item

HOLDOUT_LAYOUTS = ("vertical", "card2", "vertical_rl")

LAYOUTS_BY_DOC = {
    "resident_registration": (("grid1", "grid2"), ("vertical", "card2", "vertical_rl")),
    "household_register": (("columns",), ()),
    "migration_certificate": (("lines", "grid2"), ("card2",)),
    "move_in_permit": (("lines", "grid1"), ("card2",)),
    "birth_registration": (("grid2", "lines"), ("vertical", "vertical_rl")),
    "death_deregistration": (("grid2", "grid1"), ("vertical", "vertical_rl")),
    "change_correction": (("grid1", "grid2"), ("vertical",)),
    "id_card_application": (("grid2", "grid1"), ("card2",)),
}


class Context:
    """The sheet plus the writers of this page."""

    def __init__(self, sheet: Sheet, rng: random.Random, mm: float):
        self.sheet, self.rng, self.mm = sheet, rng, mm
        self.main = HandStyle(rng, "main")
        self.later = HandStyle(rng, "later", ink="blue" if self.main.ink != "blue" else "black")
        self.rule = max(2, int(mm * rng.uniform(0.2, 0.35)))
        self.boxes: dict[str, tuple[int, int, int, int]] = {}  # field key -> where its value was written

    def style(self, item: Item) -> HandStyle:
        return self.later if item.hand == "later" else self.main

    def value(self, item: Item, x0, y0, x1, y1, align="left"):
        if item.hand == "stamp":
            size = min((y1 - y0) * 0.6, (x1 - x0) / max(1, len(item.value) * 0.6))
            box = self.sheet.serial(x0 + 4 * self.mm, (y0 + y1) / 2, item.value, size, red=self.rng.random() < 0.6)
        elif item.struck:
            # old value crossed out, new value after it, a small correction seal on top
            split = x0 + (x1 - x0) * 0.45
            self.sheet.write(item.struck, x0, y0, split, y1, self.style(item), strike=True)
            box = self.sheet.write(item.value, split, y0, x1, y1, self.style(item))
            self.sheet.box_stamp(split, (y0 + y1) / 2, self.rng.choice(("更正", "变更")), 3.2 * self.mm)
        else:
            box = self.sheet.write(item.value, x0, y0, x1, y1, self.style(item), align)
        self.record(item.key, box)

    def record(self, key: str | None, box) -> None:
        if key and box and key not in self.boxes:
            self.boxes[key] = box


def header(ctx: Context, content: FormContent, top: float) -> float:
    """Office line, title, serial number; returns the y where the body starts."""
    s, mm, rng = ctx.sheet, ctx.mm, ctx.rng
    margin = s.w * 0.08
    title_size = min(9.5 * mm, (s.w - 2 * margin) / (len(content.title) * 1.5))
    right = s.w - margin - 45 * mm  # the serial number's corner
    s.label_fit(margin, top + 3 * mm, content.office, 3.6 * mm, right - margin - 3 * mm)
    y = top + 8 * mm + title_size / 2
    s.text(s.w / 2, y, content.title, title_size, anchor="mm", bold=True,
           spacing=title_size * rng.uniform(0.15, 0.6))
    serial = next((it for it in content.items if it.key == "serial_no"), None)
    if serial is not None:
        text = serial.label if serial.label.endswith(".") else serial.label + "："
        s.text(right, top + 3 * mm, text, 3.6 * mm)
        x = right + sum(advance(c) for c in text) * 3.6 * mm
        ctx.value(serial, x, top - 1 * mm, s.w - margin, top + 7 * mm)
    else:
        s.text(s.w - margin, top + 3 * mm, "第　　　号", 3.6 * mm, anchor="rm")
    return y + title_size / 2 + 6 * mm


def footer(ctx: Context, content: FormContent, y: float):
    """Officer, office seal line and date; the round seal is placed over it."""
    s, mm = ctx.sheet, ctx.mm
    margin = s.w * 0.08
    size = 3.8 * mm
    officer, date = content.footer
    s.text(margin, y, officer.label + "：", size)
    s.write(officer.value, margin + (len(officer.label) + 1) * size, y - 4 * mm, s.w * 0.45, y + 4 * mm, ctx.main)
    s.text(s.w * 0.55, y, "（盖章）", size)
    s.write(date.value, s.w * 0.6, y + 3 * mm, s.w - margin, y + 12 * mm, ctx.main)
    radius = ctx.rng.uniform(17, 21) * mm
    arc = content.office[: content.office.index("局") + 1] if "局" in content.office else content.office
    s.seal(s.w - margin - 35 * mm + ctx.rng.uniform(-8, 8) * mm, y + ctx.rng.uniform(-10, 2) * mm, radius,
           arc, ctx.rng.choice(("户口专用章", "", "户籍专用章")))


def _body_items(content: FormContent) -> list[Item]:
    return [it for it in content.items if it.key != "serial_no"]


def _rows_pairs(items: list[Item], per_row: int) -> list[list[Item]]:
    rows, current = [], []
    for it in items:
        if it.wide or per_row == 1:
            if current:
                rows.append(current)
                current = []
            rows.append([it])
            continue
        current.append(it)
        if len(current) == per_row:
            rows.append(current)
            current = []
    if current:
        rows.append(current)
    return rows


def layout_grid(ctx: Context, content: FormContent, top: float, bottom: float, per_row: int,
                vertical_labels: bool = False):
    s, mm = ctx.sheet, ctx.mm
    margin = s.w * 0.08
    x0, x1 = margin, s.w - margin
    rows = _rows_pairs(_body_items(content), per_row)
    row_h = min((bottom - top) / len(rows), (28 if vertical_labels else 20) * mm)
    label_size = min(4.2 * mm, row_h * 0.42)
    longest = max(len(it.label) for row in rows for it in row)
    label_w = (row_h * 0.5 if vertical_labels else min(longest * label_size + 4 * mm, (x1 - x0) * 0.22))
    pair_w = (x1 - x0) / per_row
    y = top
    s.rect(x0, y, x1, y + row_h * len(rows), ctx.rule + 1)
    for row in rows:
        cells = [(x0, x1)] if len(row) == 1 else [(x0 + i * pair_w, x0 + (i + 1) * pair_w) for i in range(len(row))]
        for it, (cx0, cx1) in zip(row, cells):
            lx1 = cx0 + label_w
            if vertical_labels:
                s.vtext((cx0 + lx1) / 2, y + row_h * 0.08, y + row_h * 0.92, it.label, label_size)
            else:
                s.label_fit(cx0 + 1.5 * mm, y + row_h / 2, it.label, label_size, label_w - 3 * mm)
            s.line(lx1, y, lx1, y + row_h, ctx.rule)
            if cx0 > x0:
                s.line(cx0, y, cx0, y + row_h, ctx.rule)
            ctx.value(it, lx1 + 1 * mm, y + row_h * 0.12, cx1 - 1 * mm, y + row_h * 0.92)
        y += row_h
        s.line(x0, y, x1, y, ctx.rule)
    return y


def layout_lines(ctx: Context, content: FormContent, top: float, bottom: float):
    s, mm, rng = ctx.sheet, ctx.mm, ctx.rng
    margin = s.w * 0.09
    x0, x1 = margin, s.w - margin
    rows = _rows_pairs(_body_items(content), 2)
    row_h = min((bottom - top) / len(rows), 19 * mm)
    size = min(4.2 * mm, row_h * 0.38)
    colon = rng.choice(("：", "", "："))
    y = top
    for row in rows:
        base = y + row_h * 0.78
        width = (x1 - x0) / len(row)
        for i, it in enumerate(row):
            cx0 = x0 + i * width
            text = it.label + colon
            lw = sum(advance(c) for c in text) * size
            s.text(cx0, base - size * 0.55, text, size)
            vx0 = cx0 + lw + 1 * mm
            s.line(vx0, base, cx0 + width - 4 * mm, base, max(1, ctx.rule - 1))
            ctx.value(it, vx0 + 1 * mm, max(y, base - 11 * mm), cx0 + width - 4 * mm, base + 0.5 * mm)
        y += row_h
    s.rect(x0 - 4 * mm, top - 4 * mm, x1 + 2 * mm, y + 4 * mm, ctx.rule)
    return y + 4 * mm


def layout_card2(ctx: Context, content: FormContent, top: float, bottom: float):
    """Two independent columns of label：value, double frame, dotted leaders; no grid."""
    s, mm = ctx.sheet, ctx.mm
    margin = s.w * 0.08
    x0, x1 = margin, s.w - margin
    items = _body_items(content)
    wide = [it for it in items if it.wide]
    narrow = [it for it in items if not it.wide]
    half = (len(narrow) + 1) // 2
    columns = [narrow[:half], narrow[half:]]
    n_rows = half + len(wide)
    row_h = min((bottom - top - 6 * mm) / max(1, n_rows), 17 * mm)
    size = min(4.0 * mm, row_h * 0.38)
    col_w = (x1 - x0) / 2
    s.rect(x0 - 3 * mm, top - 3 * mm, x1 + 3 * mm, top + n_rows * row_h + 3 * mm, ctx.rule + 2)
    s.rect(x0 - 1.5 * mm, top - 1.5 * mm, x1 + 1.5 * mm, top + n_rows * row_h + 1.5 * mm, 1)
    for ci, col in enumerate(columns):
        for ri, it in enumerate(col):
            y = top + ri * row_h
            cx0 = x0 + ci * col_w + 2 * mm
            text = it.label + "："
            lw = sum(advance(c) for c in text) * size
            s.text(cx0, y + row_h * 0.6, text, size)
            for dx in range(int(cx0 + lw), int(cx0 + col_w - 6 * mm), int(2 * mm)):
                s.line(dx, y + row_h * 0.86, dx + 2, y + row_h * 0.86, 2)
            ctx.value(it, cx0 + lw + 1 * mm, y + row_h * 0.15, cx0 + col_w - 6 * mm, y + row_h * 0.84)
    for wi, it in enumerate(wide):
        y = top + (half + wi) * row_h
        text = it.label + "："
        lw = sum(advance(c) for c in text) * size
        s.text(x0 + 2 * mm, y + row_h * 0.6, text, size)
        s.line(x0 + 2 * mm + lw, y + row_h * 0.86, x1 - 4 * mm, y + row_h * 0.86, 1)
        ctx.value(it, x0 + 3 * mm + lw, y + row_h * 0.15, x1 - 4 * mm, y + row_h * 0.84)
    return top + n_rows * row_h + 4 * mm


COLUMN_WEIGHTS = {"name": 3.0, "relation_to_head": 2.2, "sex": 1.2, "ethnicity": 1.7, "birth_date": 4.0,
                  "native_place": 3.4, "education": 2.0, "occupation": 2.2, "id_number": 5.6}


def layout_columns(ctx: Context, content: FormContent, top: float, bottom: float):
    """Household register page: head and address on top, then one row per member."""
    s, mm, rng = ctx.sheet, ctx.mm, ctx.rng
    margin = s.w * 0.06
    x0, x1 = margin, s.w - margin
    size = 4.2 * mm
    y = top
    for it in _body_items(content):
        if it.key in ("head_name", "address"):
            text = it.label + "："
            lw = sum(advance(c) for c in text) * size
            s.text(x0, y + 5 * mm, text, size)
            s.line(x0 + lw, y + 9 * mm, x1 if it.wide else x0 + lw + 60 * mm, y + 9 * mm, 1)
            ctx.value(it, x0 + lw + 1 * mm, y, x1 if it.wide else x0 + lw + 60 * mm, y + 8.5 * mm)
            y += 11 * mm
    y += 3 * mm
    table = content.table
    weights = [COLUMN_WEIGHTS[k] for k, _ in table.header]
    total = sum(weights)
    xs = [x0]
    for wgt in weights:
        xs.append(xs[-1] + (x1 - x0) * wgt / total)
    head_h = (26 if table.vertical_header else 14) * mm
    n_rows = max(len(table.rows) + rng.randint(0, 2), 4)
    row_h = min((bottom - y - head_h - 16 * mm) / n_rows, 16 * mm)
    s.rect(x0, y, x1, y + head_h + n_rows * row_h, ctx.rule + 1)
    for i, (_, lab) in enumerate(table.header):
        if table.vertical_header:
            s.vtext((xs[i] + xs[i + 1]) / 2, y + 1.5 * mm, y + head_h - 1.5 * mm, lab, 4.2 * mm)
        else:
            s.label_fit((xs[i] + xs[i + 1]) / 2, y + head_h / 2, lab, min(3.8 * mm, head_h * 0.4),
                        xs[i + 1] - xs[i] - 2 * mm, anchor="mm")
        if i:
            s.line(xs[i], y, xs[i], y + head_h + n_rows * row_h, ctx.rule)
    y += head_h
    s.line(x0, y, x1, y, ctx.rule)
    for r in range(n_rows):
        if r < len(table.rows):
            for i, value in enumerate(table.rows[r]):
                key = table.header[i][0]
                hand = ctx.later if key == "id_number" else ctx.main
                box = s.write(value, xs[i] + 1 * mm, y + row_h * 0.1, xs[i + 1] - 1 * mm, y + row_h * 0.92, hand,
                              align="center")
                if r == 0:  # the principal person's values
                    ctx.record(key, box)
            if table.cancelled[r]:
                s.strike_red(x0 + 2 * mm, y + row_h * 0.8, x1 - 2 * mm, y + row_h * 0.2)
                s.box_stamp(x0 + (x1 - x0) * rng.uniform(0.55, 0.8), y + row_h / 2, table.cancelled[r], 7 * mm)
        y += row_h
        s.line(x0, y, x1, y, max(1, ctx.rule - 1))
    registration = next((it for it in content.items if it.key == "registration_date"), None)
    if registration is not None:
        y += 4 * mm
        text = registration.label + "："
        s.text(x0, y + 4 * mm, text, size)
        lw = sum(advance(c) for c in text) * size
        ctx.value(registration, x0 + lw + 1 * mm, y, x0 + lw + 70 * mm, y + 9 * mm)
        y += 10 * mm
    return y


def layout_vertical_rl(ctx: Context, content: FormContent, top: float, bottom: float):
    """竖排: columns right to left, a vertical label cell on top of a vertical value cell."""
    s, mm = ctx.sheet, ctx.mm
    margin = s.w * 0.07
    x0, x1 = margin, s.w - margin
    items = _body_items(content)
    col_w = (x1 - x0) / len(items)
    label_h = min(40 * mm, max(len(it.label) for it in items) * min(col_w * 0.6, 5 * mm) * 1.15 + 4 * mm)
    label_size = min(col_w * 0.6, 5 * mm)
    y_mid = top + label_h
    s.rect(x0, top, x1, bottom, ctx.rule + 1)
    s.line(x0, y_mid, x1, y_mid, ctx.rule)
    for i, it in enumerate(items):
        right = x1 - i * col_w
        left = right - col_w
        if i:
            s.line(right, top, right, bottom, ctx.rule)
        s.vtext((left + right) / 2, top + 2 * mm, y_mid - 2 * mm, it.label, label_size)
        box = s.write_vertical(it.value, left + 0.8 * mm, y_mid + 2 * mm, right - 0.8 * mm, bottom - 2 * mm,
                               ctx.style(it))
        ctx.record(it.key, box)
    return bottom


def draw_form(ctx: Context, content: FormContent, layout: str) -> None:
    s, mm = ctx.sheet, ctx.mm
    top = s.h * 0.05
    body_top = header(ctx, content, top)
    bottom = s.h - 34 * mm if s.h > 240 * mm else s.h - 26 * mm
    if layout == "columns":
        end = layout_columns(ctx, content, body_top, bottom)
    elif layout == "grid1":
        end = layout_grid(ctx, content, body_top, bottom, 1)
    elif layout == "grid2":
        end = layout_grid(ctx, content, body_top, bottom, 2)
    elif layout == "vertical":
        end = layout_grid(ctx, content, body_top, bottom, 3, vertical_labels=True)
    elif layout == "lines":
        end = layout_lines(ctx, content, body_top, bottom)
    elif layout == "card2":
        end = layout_card2(ctx, content, body_top, bottom)
    elif layout == "vertical_rl":
        end = layout_vertical_rl(ctx, content, body_top, bottom - 20 * mm)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    footer_y = min(end + 12 * mm, s.h - 22 * mm)
    footer(ctx, content, footer_y)
    if content.notes and s.h - footer_y > 45 * mm:
        notes_size = 3.0 * mm
        y = footer_y + 24 * mm
        for line in content.notes:
            s.text(s.w * 0.08, y, line, notes_size)
            y += notes_size * 1.6
    if content.cancel_stamp:
        s.box_stamp(s.w * ctx.rng.uniform(0.35, 0.65), (body_top + end) / 2, content.cancel_stamp, 14 * mm)
