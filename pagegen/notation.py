"""How a clerk wrote a value on the page, given its normalised truth."""

from __future__ import annotations

import random

from pagegen.people import id15_of

CN_DIGITS = "零一二三四五六七八九"
ZERO_FORMS = ("〇", "○", "零")

DATE_STYLES = ("cn", "cn", "dot4", "dot2", "ymd4", "ymd4", "ymd2", "cn_yuan", "hao")
MINGUO_SHARE = 0.08  # dates 1912-1949 sometimes written in 民国 years (民国元年 = 1912)


def cn_number(n: int) -> str:
    """1..99 as written in dates: 十二, 二十一."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else CN_DIGITS[tens]
    return head + "十" + (CN_DIGITS[ones] if ones else "")


def write_date(rng: random.Random, iso: str, style: str | None = None) -> str:
    """One of the date notations seen on pre-1990 pages; the truth stays ``iso``."""
    year, month, day = (int(p) for p in iso.split("-"))
    if style is None and 1912 <= year <= 1949 and rng.random() < MINGUO_SHARE:
        style = "minguo"
    style = style or rng.choice(DATE_STYLES)
    if style in ("dot2", "ymd2") and year < 1920:
        style = "ymd4"
    if style == "minguo":
        n = year - 1911
        return f"民国{'元' if n == 1 else cn_number(n)}年{cn_number(month)}月{cn_number(day)}日"
    if style == "hao":
        return f"{year}年{month}月{day}号"
    if style in ("cn", "cn_yuan"):
        zero = rng.choice(ZERO_FORMS)
        y = "".join(zero if c == "0" else CN_DIGITS[int(c)] for c in str(year))
        m = "元" if (month == 1 and style == "cn_yuan") else cn_number(month)
        return f"{y}年{m}月{cn_number(day)}日"
    if style == "dot4":
        return f"{year}.{month}.{day}"
    if style == "dot2":
        return f"{year % 100:02d}.{month}.{day}"
    if style == "ymd2":
        return f"{year % 100:02d}年{month}月{day}日"
    return f"{year}年{month}月{day}日"


def write_id(rng: random.Random, id18: str, share_15: float = 0.35) -> str:
    """An ID as written: sometimes the 15-digit first-generation form."""
    if id18 and rng.random() < share_15 and id18[6:8] == "19":
        return id15_of(id18)
    return id18


def write_ethnicity(rng: random.Random, ethnicity: str) -> str:
    short = ethnicity.removesuffix("族")
    if rng.random() < 0.35:
        return {"蒙古": rng.choice(("蒙古", "蒙", "蒙族")), "朝鲜": "朝鲜"}.get(short, short)
    return ethnicity

