"""Small synthetic form pages for the scanner and repair tests: a ruled table with
Chinese labels and entries, and a red seal, drawn with PIL at a chosen DPI."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/arphic/ukai.ttc"
LABELS = ["姓名", "性别", "民族", "出生日期", "籍贯", "住址", "户主姓名", "与户主关系", "文化程度", "服务处所"]
VALUES = ["王桂兰", "女", "汉族", "一九五八年四月十二日", "河北省保定市", "呼和浩特市新城区", "王德明", "长女", "初中", "第二毛纺厂"]


def form_page(dpi: int = 150, *, seal: bool = True, paper=(236, 232, 222)) -> np.ndarray:
    """An upright A5-ish form page, BGR uint8."""
    mm = dpi / 25.4
    w, h = int(148 * mm), int(210 * mm)
    img = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(img)
    title = ImageFont.truetype(FONT, int(7 * mm))
    body = ImageFont.truetype(FONT, int(4.2 * mm))
    draw.text((int(30 * mm), int(12 * mm)), "常住人口登记表", font=title, fill=(30, 30, 30))
    left, right, top = int(12 * mm), w - int(12 * mm), int(30 * mm)
    row = int(14 * mm)
    mid = left + int(36 * mm)
    for i, (label, value) in enumerate(zip(LABELS, VALUES)):
        y = top + i * row
        draw.line([(left, y), (right, y)], fill=(40, 40, 40), width=max(1, int(0.4 * mm)))
        draw.text((left + int(2 * mm), y + int(4 * mm)), label, font=body, fill=(25, 25, 25))
        draw.text((mid + int(3 * mm), y + int(4 * mm)), value, font=body, fill=(20, 20, 70))
    bottom = top + len(LABELS) * row
    draw.line([(left, bottom), (right, bottom)], fill=(40, 40, 40), width=max(1, int(0.4 * mm)))
    for x in (left, mid, right):
        draw.line([(x, top), (x, bottom)], fill=(40, 40, 40), width=max(1, int(0.4 * mm)))
    draw.text((left, bottom + int(6 * mm)), "以上情况属实，登记日期一九八六年三月五日", font=body, fill=(25, 25, 25))
    if seal:
        cx, cy, r = right - int(25 * mm), bottom - int(10 * mm), int(16 * mm)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(200, 30, 30), width=int(1.2 * mm))
        draw.text((cx - int(10 * mm), cy - int(3 * mm)), "派出所", font=body, fill=(200, 30, 30))
    return np.asarray(img)[:, :, ::-1].copy()


def tilt(image: np.ndarray, angle_ccw: float, fill=(236, 232, 222)) -> np.ndarray:
    """The page turned counter-clockwise by angle (degrees) on a same-size canvas."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_ccw, 1.0)
    border = tuple(reversed(fill)) if image.ndim == 3 else fill[0]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderValue=border)


def on_desk(page: np.ndarray, *, size=(1600, 1200), desk=(40, 50, 60)) -> tuple[np.ndarray, np.ndarray]:
    """A photo of the page lying in perspective on a dark desk; returns it and the page corners."""
    ph, pw = page.shape[:2]
    fh, fw = size
    corners = np.float32([[fw * 0.22, fh * 0.10], [fw * 0.80, fh * 0.14], [fw * 0.86, fh * 0.90], [fw * 0.16, fh * 0.86]])
    src = np.float32([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]])
    matrix = cv2.getPerspectiveTransform(src, corners)
    photo = np.empty((fh, fw, 3), np.uint8)
    photo[:] = desk
    warped = cv2.warpPerspective(page, matrix, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT, dst=photo)
    shade = np.linspace(1.0, 0.8, fw, dtype=np.float32)[None, :, None]  # light falls off across the desk
    return (warped.astype(np.float32) * shade).astype(np.uint8), corners
