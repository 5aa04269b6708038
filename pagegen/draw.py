"""Drawing primitives: yellowed paper, printed text and rules, jittered handwriting, seals.

Ink is kept in separate coverage layers (uint8, 255 = full ink) and multiplied
onto the paper at the end, so fading and stamps behave like ink on paper.
"""

from __future__ import annotations

import functools
import math
import random

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

KAI_FONT = ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0)
# A ballpoint hand: plain sans skeletons, thinned and bent harder than the brush/pen kai hand.
BALLPOINT_FONT = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2)
PRINT_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
TITLE_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
)
STAMP_FONT = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2)
SERIAL_FONT = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 5)

# BGR, 0..1 — how much light each ink lets through per channel.
HAND_INKS = {
    "black": (0.16, 0.15, 0.15),
    "blue_black": (0.40, 0.20, 0.13),
    "brush": (0.10, 0.10, 0.11),
    "blue": (0.72, 0.34, 0.18),
}
PRINT_INKS = ((0.12, 0.12, 0.12), (0.20, 0.18, 0.16), (0.35, 0.30, 0.18))
SEAL_RED = (0.35, 0.30, 0.86)


@functools.lru_cache(maxsize=64)
def font(path_index: tuple[str, int], size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path_index[0], max(6, int(size)), index=path_index[1])


def advance(ch: str) -> float:
    """Width of a character in em: CJK full width, digits and Latin about half."""
    return 0.56 if ord(ch) < 0x2E80 else 1.0


@functools.lru_cache(maxsize=4096)
def glyph(path_index: tuple[str, int], ch: str, size: int) -> np.ndarray:
    """Square coverage image (2*size) with the character centred."""
    side = 2 * size
    img = Image.new("L", (side, side), 0)
    ImageDraw.Draw(img).text((size, size), ch, fill=255, font=font(path_index, size), anchor="mm")
    return np.asarray(img)


@functools.lru_cache(maxsize=256)
def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))
    return xs, ys


def _split_point(text: str) -> int:
    """Where a clerk would break a long value: after 年/省/市/区/县 near the middle, else the middle."""
    middle = len(text) / 2
    breaks = [i + 1 for i, c in enumerate(text[:-1]) if c in "年月省市区县旗街路"]
    best = min(breaks, key=lambda i: abs(i - middle), default=None)
    return best if best is not None and abs(best - middle) <= len(text) / 4 + 1 else math.ceil(middle)


class Sheet:
    """One page being drawn: paper size in pixels plus ink layers."""

    def __init__(self, width: int, height: int, rng: random.Random, print_font, print_ink, max_char: float):
        self.w, self.h, self.rng = width, height, rng
        self.max_char = max_char  # pixels: nobody writes bigger than this, however tall the cell
        self.print_img = Image.new("L", (width, height), 0)
        self.print_draw = ImageDraw.Draw(self.print_img)
        self.print_font = print_font
        self.title_font = TITLE_FONTS[1] if "Sans" in print_font[0] else TITLE_FONTS[0]
        self.print_ink = print_ink
        self.hand_layers: dict[str, np.ndarray] = {}
        self.hand_inks: dict[str, tuple[float, float, float]] = {}
        self.red = np.zeros((height, width), np.uint8)
        self.handwritten: list[str] = []
        self.np_rng = np.random.default_rng(rng.randrange(2**32))

    # -- printed matter -------------------------------------------------
    def text(self, x: float, y: float, s: str, size: float, anchor: str = "lm", bold: bool = False,
             spacing: float = 0.0):
        f = font(self.title_font if bold else self.print_font, int(size))
        if spacing <= 0:
            self.print_draw.text((x, y), s, fill=255, font=f, anchor=anchor)
            return
        total = sum(advance(c) for c in s) * size + spacing * (len(s) - 1)
        cx = x - total / 2 if anchor[0] == "m" else (x - total if anchor[0] == "r" else x)
        for c in s:
            self.print_draw.text((cx, y), c, fill=255, font=f, anchor="l" + anchor[1])
            cx += advance(c) * size + spacing

    def vtext(self, cx: float, top: float, bottom: float, s: str, size: float):
        """Vertical label: characters stacked top to bottom, spread over the cell."""
        n = len(s)
        size = min(size, (bottom - top) / (n * 1.05))
        step = (bottom - top) / n
        f = font(self.print_font, int(size))
        for i, c in enumerate(s):
            self.print_draw.text((cx, top + step * (i + 0.5)), c, fill=255, font=f, anchor="mm")

    def label_fit(self, x: float, y: float, s: str, size: float, width: float, anchor: str = "lm"):
        """A label shrunk to fit ``width``; short labels are spread out like on real forms."""
        natural = sum(advance(c) for c in s) * size
        if natural > width:
            size = size * width / natural
            self.text(x, y, s, size, anchor)
        elif len(s) == 2 and self.rng.random() < 0.6 and natural + size * 1.2 < width:
            self.text(x, y, s, size, anchor, spacing=size * 1.0)
        else:
            self.text(x, y, s, size, anchor)

    def line(self, x0: float, y0: float, x1: float, y1: float, width: int):
        self.print_draw.line((x0, y0, x1, y1), fill=255, width=width)

    def rect(self, x0: float, y0: float, x1: float, y1: float, width: int):
        self.print_draw.rectangle((x0, y0, x1, y1), outline=255, width=width)

    def serial(self, x: float, y: float, s: str, size: float, red: bool) -> tuple[int, int, int, int]:
        """A number stamped by a numbering machine (red or black), not handwritten; returns its box."""
        f = font(SERIAL_FONT, int(size))
        if red:
            img = Image.new("L", (self.w, self.h), 0)
            ImageDraw.Draw(img).text((x, y), s, fill=230, font=f, anchor="lm")
            np.maximum(self.red, np.asarray(img), out=self.red)
        else:
            self.print_draw.text((x, y), s, fill=255, font=f, anchor="lm")
        x0, y0, x1, y1 = f.getbbox(s, anchor="lm")
        return int(x + x0), int(y + y0), int(x + x1), int(y + y1)

    # -- handwriting ----------------------------------------------------
    def hand(self, name: str, ink: str):
        if name not in self.hand_layers:
            self.hand_layers[name] = np.zeros((self.h, self.w), np.uint8)
            self.hand_inks[name] = HAND_INKS[ink]
        return self.hand_layers[name]

    def write(self, text: str, x0: float, y0: float, x1: float, y1: float, style: "HandStyle",
              align: str = "left", strike: bool = False):
        """Hand-fill ``text`` into the box, jittering every character; wraps to two lines if needed.

        ``strike`` crosses the text out with a pen stroke, as clerks did when a value changed.
        Returns the box (x0, y0, x1, y1) the characters' cells cover, or None for empty text.
        """
        if not text:
            return None
        self.handwritten.append(text)
        ink_box = [math.inf, math.inf, -math.inf, -math.inf]
        layer = self.hand(style.name, style.ink)
        rng = self.rng
        w, h = x1 - x0, y1 - y0
        ems = sum(advance(c) for c in text) * style.spacing
        size = min(h * style.fill, w * 0.94 / ems, self.max_char)
        lines = [text]
        if size < h * 0.38 and len(text) > 3 and not text.isascii():
            half = _split_point(text)
            lines = [text[:half], text[half:]]
            ems = max(sum(advance(c) for c in ln) for ln in lines) * style.spacing
            size = min(h * 0.42, w * 0.94 / ems, self.max_char)
        for li, ln in enumerate(lines):
            line_w = sum(advance(c) for c in ln) * style.spacing * size
            free = w - line_w
            start = x0 + (free / 2 if align == "center" else min(free * 0.5, rng.uniform(0.02, 0.12) * w + size * 0.1))
            cy = y0 + h * ((li + 0.5) / len(lines)) + size * 0.05
            cx = start
            drift = rng.uniform(-0.04, 0.04) * size  # the line wanders up or down
            for i, ch in enumerate(ln):
                adv = advance(ch) * size * style.spacing
                if ch.strip():
                    s = size * rng.uniform(0.88, 1.1)
                    ccx, ccy = cx + adv / 2, cy + drift * i + rng.gauss(0, 0.035) * size
                    self._char(layer, ch, ccx, ccy, s, style)
                    half_w = s * advance(ch) / 2
                    ink_box = [min(ink_box[0], ccx - half_w), min(ink_box[1], ccy - s / 2),
                               max(ink_box[2], ccx + half_w), max(ink_box[3], ccy + s / 2)]
                cx += adv * rng.uniform(0.93, 1.07)
            if strike:
                y_a, y_b = cy + rng.uniform(-0.15, 0.1) * size, cy + rng.uniform(-0.15, 0.1) * size
                cv2.line(layer, (int(start - 0.1 * size), int(y_a)), (int(cx + 0.1 * size), int(y_b)), 230,
                         max(2, int(size * 0.07)), cv2.LINE_AA)
                cv2.line(layer, (int(start - 0.1 * size), int(y_a + 0.12 * size)),
                         (int(cx + 0.1 * size), int(y_b + 0.12 * size)), 230, max(2, int(size * 0.07)), cv2.LINE_AA)
        return tuple(int(round(v)) for v in ink_box) if ink_box[0] < math.inf else None

    def write_vertical(self, text: str, x0: float, y0: float, x1: float, y1: float, style: "HandStyle"):
        """Hand-fill ``text`` top to bottom (竖排), centred in the column; returns the box it covers."""
        if not text:
            return None
        self.handwritten.append(text)
        layer = self.hand(style.name, style.ink)
        rng = self.rng
        w, h = x1 - x0, y1 - y0
        size = min(w * style.fill * 1.1, h * 0.94 / (len(text) * style.spacing), self.max_char)
        cx = (x0 + x1) / 2 + rng.uniform(-0.05, 0.05) * w
        cy = y0 + rng.uniform(0.02, 0.08) * h + size / 2
        top = cy - size / 2
        for ch in text:
            if ch.strip():
                s = size * rng.uniform(0.88, 1.1)
                self._char(layer, ch, cx + rng.gauss(0, 0.04) * size, cy, s, style)
            cy += size * style.spacing * rng.uniform(0.93, 1.05)
        return (int(cx - size / 2), int(top), int(cx + size / 2), int(cy - size * (style.spacing - 1)))

    def _char(self, layer: np.ndarray, ch: str, cx: float, cy: float, size: float, style: "HandStyle"):
        rng = self.rng
        isize = max(8, int(round(size)))
        g = glyph(style.font, ch, isize)
        side = g.shape[0]
        angle = rng.gauss(0, 2.5) + style.rotation
        m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        m[0, 1] += style.slant  # shear: the writer's slant
        m[0, 2] -= style.slant * side / 2
        g = cv2.warpAffine(g, m, (side, side), flags=cv2.INTER_LINEAR)
        g = self._wobble(g, size * style.wobble)
        weight = style.weight + (rng.choice((1, -1)) if rng.random() < 0.12 else 0)
        k = int(round(abs(weight) * isize / 90))  # stroke change in pixels scales with the glyph
        if k and weight > 0:
            g = cv2.dilate(g, np.ones((k + 1, k + 1), np.uint8))
        elif k and weight < 0:
            g = cv2.erode(g, np.ones((k + 1, k + 1), np.uint8))
        pressure = cv2.resize(self.np_rng.random((3, 3), np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
        g = (g.astype(np.float32) * (rng.uniform(0.8, 1.0) * (0.72 + 0.28 * pressure))).astype(np.uint8)
        x0, y0 = int(cx - side / 2), int(cy - side / 2)
        self._paste_max(layer, g, x0, y0)

    def _wobble(self, g: np.ndarray, amplitude: float) -> np.ndarray:
        """Smooth random displacement so strokes bend like a hand's, not like a font's."""
        side = g.shape[0]
        base_x, base_y = _grid(side)
        dx = cv2.resize(self.np_rng.normal(0, amplitude, (4, 4)).astype(np.float32), (side, side),
                        interpolation=cv2.INTER_CUBIC)
        dy = cv2.resize(self.np_rng.normal(0, amplitude, (4, 4)).astype(np.float32), (side, side),
                        interpolation=cv2.INTER_CUBIC)
        return cv2.remap(g, base_x + dx, base_y + dy, cv2.INTER_LINEAR)

    @staticmethod
    def _paste_max(layer: np.ndarray, g: np.ndarray, x0: int, y0: int):
        h, w = layer.shape
        gx0, gy0 = max(0, -x0), max(0, -y0)
        x0c, y0c = max(0, x0), max(0, y0)
        x1c, y1c = min(w, x0 + g.shape[1]), min(h, y0 + g.shape[0])
        if x1c <= x0c or y1c <= y0c:
            return
        region = layer[y0c:y1c, x0c:x1c]
        np.maximum(region, g[gy0:gy0 + (y1c - y0c), gx0:gx0 + (x1c - x0c)], out=region)

    # -- stamps ---------------------------------------------------------
    def seal(self, cx: float, cy: float, radius: float, arc_text: str, bottom_text: str):
        """Round red seal: ring, five-pointed star, arc text, optional bottom line; unevenly inked."""
        rng = self.rng
        side = int(radius * 2.3)
        img = Image.new("L", (side, side), 0)
        d = ImageDraw.Draw(img)
        c = side / 2
        ring = max(4, int(radius * 0.06))
        d.ellipse((c - radius, c - radius, c + radius, c + radius), outline=255, width=ring)
        star_r = radius * 0.27
        pts = []
        for k in range(10):
            r = star_r if k % 2 == 0 else star_r * 0.38
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((c + r * math.cos(a), c + r * math.sin(a)))
        d.polygon(pts, fill=255)
        n = len(arc_text)
        span = min(250.0, 20.0 * n + 40)
        char_size = min(radius * 0.27, radius * 2 * math.pi * 0.72 * span / 360 / max(1, n))
        text_r = radius - ring - char_size * 0.62
        for i, ch in enumerate(arc_text):
            theta = -90 - span / 2 + span * (i + 0.5) / n  # degrees, 0 = right, clockwise in image coords
            g = Image.fromarray(glyph(STAMP_FONT, ch, int(char_size)))
            g = g.rotate(-(theta + 90), resample=Image.BILINEAR)
            px = c + text_r * math.cos(math.radians(theta)) - g.width / 2
            py = c + text_r * math.sin(math.radians(theta)) - g.height / 2
            img.paste(255, (int(px), int(py)), g)
        if bottom_text:
            d.text((c, c + radius * 0.5), bottom_text, fill=255, font=font(STAMP_FONT, int(radius * 0.17)), anchor="mm")
        self._stamp(np.asarray(img), cx, cy)

    def strike_red(self, x0: float, y0: float, x1: float, y1: float):
        """A red-ink line drawn across a cancelled entry."""
        cv2.line(self.red, (int(x0), int(y0)), (int(x1), int(y1)), 200, max(3, int((x1 - x0) / 600)), cv2.LINE_AA)

    def box_stamp(self, cx: float, cy: float, text: str, size: float):
        """Rectangular rubber stamp such as 注销 / 迁出, often askew."""
        pad = size * 0.35
        w = int(size * len(text) * 1.1 + 2 * pad)
        h = int(size * 1.5 + pad)
        img = Image.new("L", (w + 20, h + 20), 0)
        d = ImageDraw.Draw(img)
        d.rectangle((10, 10, 10 + w, 10 + h), outline=255, width=max(4, int(size * 0.08)))
        d.text((10 + w / 2, 10 + h / 2), text, fill=255, font=font(STAMP_FONT, int(size)), anchor="mm")
        self._stamp(np.asarray(img), cx, cy)

    def _stamp(self, mask: np.ndarray, cx: float, cy: float):
        rng = self.rng
        side = int(max(mask.shape) * 1.45)
        canvas = np.zeros((side, side), np.uint8)
        oy, ox = (side - mask.shape[0]) // 2, (side - mask.shape[1]) // 2
        canvas[oy:oy + mask.shape[0], ox:ox + mask.shape[1]] = mask
        m = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-35, 35), 1.0)
        canvas = cv2.warpAffine(canvas, m, (side, side))
        # uneven inking: low-frequency pressure map, some parts nearly missing
        small = self.np_rng.random((8, 8)).astype(np.float32)
        pressure = cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
        pressure = np.clip(0.45 + pressure * 0.75, 0.15, 1.0)
        grain = self.np_rng.random((side, side)).astype(np.float32)
        ink = canvas.astype(np.float32) * pressure * (0.75 + 0.25 * grain) * rng.uniform(0.7, 0.9)
        ink = cv2.GaussianBlur(ink, (3, 3), 0)
        self._paste_max(self.red, ink.astype(np.uint8), int(cx - side / 2), int(cy - side / 2))


class HandStyle:
    """One writer with one pen: the jitter parameters shared by all values they wrote."""

    def __init__(self, rng: random.Random, name: str, ink: str | None = None):
        self.name = name
        self.ink = ink or rng.choice(("black", "blue_black", "blue_black", "brush", "ballpoint"))
        ballpoint = self.ink == "ballpoint"
        if ballpoint:
            self.ink = rng.choice(("blue", "blue_black"))
        self.font = BALLPOINT_FONT if ballpoint else KAI_FONT
        self.wobble = 0.062 if ballpoint else 0.05
        self.slant = rng.uniform(-0.12, 0.06)
        self.rotation = rng.uniform(-2.0, 2.0)
        self.weight = -1 if ballpoint else (2 if self.ink == "brush" else rng.choice((0, 0, 1, 1, 2)))
        self.spacing = rng.uniform(0.95, 1.15)
        self.fill = rng.uniform(0.55, 0.72)


def make_paper(rng: random.Random, width: int, height: int) -> np.ndarray:
    """Yellowed paper, BGR uint8: tint, mottling, grain, fibres and darker, browner edges."""
    np_rng = np.random.default_rng(rng.randrange(2**32))
    age = rng.uniform(0.3, 1.0)
    base = np.array([0.90 - 0.22 * age, 0.94 - 0.11 * age, 0.97 - 0.04 * age], np.float32)
    hw, hh = width // 2, height // 2  # built at half resolution, then scaled up once
    small = np_rng.normal(0, 1, (height // 160 + 2, width // 160 + 2)).astype(np.float32)
    mottle = cv2.resize(small, (hw, hh), interpolation=cv2.INTER_CUBIC) * 0.010
    yy = np.abs(np.linspace(-1, 1, hh, dtype=np.float32))[:, None]
    xx = np.abs(np.linspace(-1, 1, hw, dtype=np.float32))[None, :]
    edge = np.clip(np.maximum(xx, yy) - 0.82, 0, None) * (0.5 * age)
    grain = np_rng.normal(0, 0.008, (hh, hw)).astype(np.float32)
    shade = 1.0 + mottle + grain - edge
    half = cv2.merge([shade * base[0] - edge * (0.5 * age), shade * base[1], shade * base[2]])
    paper = cv2.resize(cv2.convertScaleAbs(half, alpha=255.0), (width, height), interpolation=cv2.INTER_LINEAR)
    tone = tuple(int(c * 255 * 0.93) for c in base)
    for _ in range(int(40 * age)):
        x, y = rng.randrange(width), rng.randrange(height)
        a, length = rng.uniform(0, math.pi), rng.uniform(10, 60)
        cv2.line(paper, (x, y), (int(x + length * math.cos(a)), int(y + length * math.sin(a))), tone, 1)
    return paper


def show_through(paper: np.ndarray, sheet: Sheet, strength: float) -> np.ndarray:
    """Thin paper: the print on the back shows faintly, mirrored and blurred."""
    back = cv2.GaussianBlur(np.fliplr(np.asarray(sheet.print_img)), (0, 0), 2.5)
    keep = cv2.bitwise_not(cv2.convertScaleAbs(back, alpha=strength))
    return cv2.multiply(paper, cv2.merge([keep, keep, keep]), scale=1 / 255.0)


def compose(paper: np.ndarray, sheet: Sheet, fade: float = 1.0) -> np.ndarray:
    """Multiply every ink layer onto the paper; ``fade`` < 1 lightens the ink (faded pages)."""
    names = list(sheet.hand_layers)[:2]
    masks = [np.asarray(sheet.print_img)] + [sheet.hand_layers[n] for n in names] + [sheet.red]
    inks = [(sheet.print_ink, 1.0)] + [(sheet.hand_inks[n], 1.0) for n in names] + [(SEAL_RED, 0.85)]
    while len(masks) < 4:
        masks.append(np.zeros_like(sheet.red))
        inks.append(((1.0, 1.0, 1.0), 0.0))
    # absorption per channel = sum over layers of coverage * (1 - ink transmission)
    m = np.array([[strength * fade * (1.0 - ink[ch]) for ink, strength in inks] for ch in range(3)], np.float32)
    absorb = cv2.transform(cv2.merge(masks), m)  # uint8, saturates at full absorption
    return cv2.multiply(paper, cv2.bitwise_not(absorb), scale=1 / 255.0)
