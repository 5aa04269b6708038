"""Normalisation of single OCR'd field values: dates, ID numbers and coded fields.

Pure functions over strings. The only I/O is reading the code tables in
``config/codes/*.toml`` once (cached), so the extractor, the linker and the tests
all see the same tables. Rules follow hukou-domain.md §1.9 (dates), §2.1 (IDs),
§2.3–2.5 (code tables) and the single-field / cross-field rules of §7.

Every function keeps the question "what did the paper say" apart from "what does
it mean": values that cannot be read with confidence come back as ``None`` or with
flags, never silently guessed.
"""

from __future__ import annotations

import datetime as dt
import re
import calendar
import unicodedata
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CODES_DIR = Path(__file__).resolve().parent.parent / "config" / "codes"


@cache
def load_code_table(name: str) -> dict[str, Any]:
    """Read ``config/codes/NAME.toml`` once; the tables are data, not code."""
    with open(CODES_DIR / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


# ---------------------------------------------------------------------------
# Text


_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_RE = re.compile(f"[{_HAN}]")
_CN_DIGITS = "〇一二三四五六七八九十廿卅"
# Characters a zero is written or misread as (§1.9: cn2an misses ○ U+25CB).
_ZERO_LOOKALIKES = "○〇OoΟо◯零"


def _is_cjk(ch: str) -> bool:
    return bool(_HAN_RE.match(ch)) or ch in "〇○〃々"


def _is_latin_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha() and ch not in _ZERO_LOOKALIKES


def _to_halfwidth(text: str) -> str:
    """Full-width digits, Latin letters and number punctuation (．－／＃) to ASCII.

    Chinese punctuation such as ，（）： is left alone: it is not OCR noise.
    """
    out = []
    for ch in text:
        if ch.isalnum() and 0xFF10 <= ord(ch) <= 0xFF5A or ch in "．－／＃＂":
            out.append(chr(ord(ch) - 0xFEE0))
        elif ch == "\u3000":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _unify_zeros(text: str) -> str:
    """Zero look-alikes become "0" between Arabic digits and "〇" between Chinese numerals.

    Only inside numbers: an "O" in a Latin word or a "零" in 一百零五 stays as written.
    """
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch not in _ZERO_LOOKALIKES:
            continue
        left = chars[i - 1] if i > 0 else ""
        right = chars[i + 1] if i + 1 < len(chars) else ""
        if _is_latin_letter(left) or _is_latin_letter(right):
            continue  # part of a word: "No1", "BOX"
        if (left.isascii() and left.isdigit()) or (right.isascii() and right.isdigit()):
            chars[i] = "0"
        elif ch not in "零〇" and (left in _CN_DIGITS or right in _CN_DIGITS):
            chars[i] = "〇"
    # A second pass resolves runs like "19OO" whose inner O had no digit neighbour yet.
    joined = "".join(chars)
    return joined if joined == text else _unify_zeros(joined)


def normalize_text(raw: str) -> str:
    """Full-width → half-width, zero look-alikes unified inside numbers, stray spaces dropped.

    Spaces next to a Han character are OCR noise (一九五八 年 四月); spaces between
    Latin words or digit groups are kept, collapsed to one.
    """
    text = _unify_zeros(_to_halfwidth(raw))
    text = re.sub(r"\s+", " ", text).strip()
    out = []
    for i, ch in enumerate(text):
        if ch == " " and (_is_cjk(text[i - 1]) or _is_cjk(text[i + 1])):
            continue
        out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------
# Dates (§1.9, V9, V10)


@dataclass(frozen=True)
class DateValue:
    iso: str  # "1958-04-12"; partial: "1958-04" or "1958"
    precision: str  # "YMD" | "YM" | "Y"
    calendar: str  # "gregorian" | "lunar" | "minguo" | "era"
    flags: tuple[str, ...] = ()  # e.g. "lunar_unconverted", "two_digit_year", "age_only"
    lunar_iso: str | None = None  # the lunar date as written, when ``iso`` is its Gregorian conversion


_NUMERAL_VALUES = {
    "0": 0, "〇": 0, "零": 0,
    "1": 1, "一": 1, "壹": 1, "弌": 1,
    "2": 2, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2,
    "3": 3, "三": 3, "叁": 3, "參": 3, "叄": 3,
    "4": 4, "四": 4, "肆": 4,
    "5": 5, "五": 5, "伍": 5,
    "6": 6, "六": 6, "陆": 6, "陸": 6,
    "7": 7, "七": 7, "柒": 7,
    "8": 8, "八": 8, "捌": 8,
    "9": 9, "九": 9, "玖": 9,
}  # fmt: skip
_TENS = {"十": 10, "拾": 10, "廿": 20, "卄": 20, "念": 20, "卅": 30}
_NUM = "[" + re.escape("".join(_NUMERAL_VALUES) + "".join(_TENS)) + "]"

# Month words that are not numerals. 元月 is Gregorian January; the others are lunar.
_MONTH_WORDS = {"元": (1, False), "正": (1, True), "冬": (11, True), "腊": (12, True), "臘": (12, True)}

# Era name -> (offset so that year = offset + N, calendar, months are lunar).
_ERAS = {
    "民国": (1911, "minguo", False),
    "民國": (1911, "minguo", False),
    "中华民国": (1911, "minguo", False),
    "中華民國": (1911, "minguo", False),
    "民": (1911, "minguo", False),  # 民卅八年
    "康德": (1933, "era", False),
    "大同": (1931, "era", False),
    "昭和": (1925, "era", False),
    "光绪": (1874, "era", True),
    "光緒": (1874, "era", True),
    "宣统": (1908, "era", True),
    "宣統": (1908, "era", True),
}
_ERA_NAMES = sorted(_ERAS, key=len, reverse=True)  # longest first: 中华民国 before 民国
_LUNAR_WORDS = "农历|農曆|阴历|陰曆|旧历|舊曆|夏历|夏曆"
# Before the date, or after it, bracketed or not: 农历三月初五, 1958年3月5日(阴历), 1958.3.5阴
_LUNAR_MARK = re.compile(rf"^(?:{_LUNAR_WORDS})|[(（]?(?:{_LUNAR_WORDS}|农|農|阴|陰)[)）]?$")
_GREGORIAN_MARKERS = ("公元", "公历", "公曆", "阳历", "陽曆", "新历", "西历")
_MIN_YEAR = 1850
_MAX_YEAR = 2100  # a four-digit "year" beyond this is a misread number ("7412" for 74.12.28), not a date
# A dot written as a middle dot, a full stop or a comma between the digits of a date.
_DOT_LIKE = re.compile(r"(?<=\d)[·•・‧∙◦。，,、](?=\d)")

_DATE_CN = re.compile(
    rf"^(?P<y>{_NUM}{{1,4}}|元)年"
    rf"(?:(?P<leap>闰|閏)?(?P<m>{_NUM}{{1,3}}|[元正冬腊臘])月"
    rf"(?:(?P<d>初?{_NUM}{{1,3}})[日号號]?)?)?$"
)
_DATE_SEP = re.compile(r"^(?P<y>\d{4}|\d{2})(?P<s>[./\-])(?P<m>\d{1,2})(?:(?P=s)(?P<d>\d{1,2}))?[日号.]?$")
_DATE_COMPACT = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$")
_DATE_YEAR = re.compile(r"^(?P<y>\d{4})$")
_MONTH_DAY_ONLY = re.compile(rf"^(?:{_NUM}{{1,3}}|[元正冬腊臘])月")
_AGE = re.compile(rf"^(?:年龄|年齡)?(?P<kind>虚岁|虛歲|周岁|週歲|实岁)?(?P<n>{_NUM}{{1,3}})(?:岁|歲|周岁|週歲)?$")


def numeral_value(text: str) -> int | None:
    """Value of a small number in Arabic or Chinese notation.

    Digit-by-digit forms (一九五八, 五八) and positional forms up to 39
    (十二, 二十五, 廿五, 卅一, 初五 without 初) are both common on hukou pages.
    """
    if not text:
        return None
    if all(ch in _NUMERAL_VALUES for ch in text):
        return int("".join(str(_NUMERAL_VALUES[ch]) for ch in text))
    m = re.fullmatch(rf"({_NUM})?([十拾廿卄念卅])({_NUM})?", text)
    if not m or (m.group(1) and m.group(2) not in "十拾"):
        return None
    lead, tens, unit = m.groups()
    if lead is not None and lead not in _NUMERAL_VALUES:
        return None
    if unit is not None and unit not in _NUMERAL_VALUES:
        return None
    value = _TENS[tens] * (_NUMERAL_VALUES[lead] if lead else 1)
    return value + (_NUMERAL_VALUES[unit] if unit else 0)


def _clean_date_text(raw: str) -> tuple[str, tuple[str, ...]]:
    """Date text without labels, noise and spacing, plus flags for the OCR fixes applied."""
    text = normalize_text(raw)
    text = re.sub(r"^[^:：]{1,8}[:：]", "", text)  # a label the extractor left in: 出生日期：
    text = re.sub(r"[—–‐‑‒−－~]", "-", text)
    text = re.sub(r"(?<=\d) (?=\d)", ".", text)  # "1958 4 12"
    text = _DOT_LIKE.sub(".", text)  # "1903·6·16", "58・4・12", "1958。4。12"
    text = re.sub(r"\s+", "", text)
    text = text.strip("。，,;；:：()（）[]【】")
    text = re.sub(r"^(?:出生于|生于|出生|生)", "", text)
    text = re.sub(r"(?:出生|生人|生)$", "", text)
    flags: list[str] = []
    fixed = _fix_date_ocr(text)
    if fixed != text:
        text = fixed
        flags.append("ocr_fixed")
    return text, tuple(flags)


def _fix_date_ocr(text: str) -> str:
    """Undo confusions that only make sense one way inside a date.

    曰/目 for a final 日, 午/牛 for 年 before a month, 口 for 〇 between Chinese
    numerals, l/I/| for 1 between Arabic digits, a speck read as "." inside a four-digit year
    that 年 closes. Everything else is left for the caller to see.
    """
    text = re.sub(r"(?<=[\d" + _CN_DIGITS + r"])[曰目]$", "日", text)
    text = re.sub(r"(?<=\d{2})[午牛](?=\d{1,2}月)", "年", text)
    text = re.sub(f"(?<=[{_CN_DIGITS}])口|口(?=[{_CN_DIGITS}年])", "〇", text)
    text = re.sub(r"^(\d)\.(\d{3})(?=年)", r"\1\2", text)  # "1.975年": a speck in a year 年 closes
    return re.sub(r"(?<=\d)[lI|](?=[\d年.\-/])|(?<![\w])[lI|](?=\d{2})", "1", text)


class _NoLunarConverter(Exception):
    """lunar-python is not installed: lunar dates stay as written."""


def _lunar_to_solar(year: int, month: int, day: int, leap: bool) -> str | None:
    """Gregorian ISO date of a lunar date; None when that lunar day does not exist."""
    try:
        from lunar_python import Lunar, LunarYear
    except ImportError as exc:
        raise _NoLunarConverter from exc
    lunar_month = LunarYear.fromYear(year).getMonth(-month if leap else month)
    if lunar_month is None or day > lunar_month.getDayCount():
        return None
    return Lunar.fromYmd(year, -month if leap else month, day).getSolar().toYmd()


def _iso(year: int, month: int | None, day: int | None) -> str | None:
    """ISO text of a Gregorian date; None when it does not exist (2月30日)."""
    if month is None:
        return f"{year:04d}"
    if not 1 <= month <= 12:
        return None
    if day is None:
        return f"{year:04d}-{month:02d}"
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _resolve_two_digit_year(yy: int, doc_year: int | None) -> int:
    """19YY on pre-1990 pages, 18YY if 19YY would lie after the document (§1.9)."""
    year = 1900 + yy
    if doc_year is not None and year > doc_year:
        year -= 100
    return year


def parse_age(raw: str) -> tuple[int, bool] | None:
    """(age, nominal) for an age written instead of a date: 35岁, 年龄35, 虚岁三十五."""
    text, _ = _clean_date_text(raw)
    m = _AGE.match(text)
    if not m or not (m.group("kind") or text.endswith(("岁", "歲")) or text.startswith(("年龄", "年齡"))):
        return None
    age = numeral_value(m.group("n"))
    if age is None or age > 130:
        return None
    return age, m.group("kind") in ("虚岁", "虛歲")


def age_birth_years(age: int, reference_year: int, *, nominal: bool = False) -> tuple[int, int]:
    """Range of birth years for an age at a reference year (V9: store a range, 虚岁 shifts by one)."""
    latest = reference_year - age + (1 if nominal else 0)
    return latest - 1, latest


def split_run_of_date_digits(raw: str) -> str | None:
    """A date whose separators the recogniser lost, read as one run of digits (54.1.31 -> "54131"):
    the dotted reading when exactly one split into year (2 or 4 digits), month and day (1 or 2 digits
    each, together 3) names a real day, else None. Six or eight digits (YYMMDD) are left to the parser."""
    text = re.sub(r"\s+", "", raw or "")
    if not text.isascii() or not text.isdigit() or len(text) not in (5, 7):
        return None
    year = text[: len(text) - 3]
    found: list[str] = []
    for cut in (1, 2):
        month, day = int(text[len(year) : len(year) + cut]), int(text[len(year) + cut :])
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]:
            found.append(f"{year}.{month}.{day}")
    return found[0] if len(found) == 1 else None


def parse_date(raw: str, *, doc_year: int | None = None) -> DateValue | None:
    """Parse one handwritten or printed date into ISO text with precision and calendar.

    Returns None for text that is not a date or names a day that does not exist.
    An age (35岁) gives a year-precision value flagged ``age_only`` when
    ``doc_year`` is known, else None. Lunar dates are converted when ``lunar-python``
    is installed (flag ``lunar_converted``), otherwise kept as written
    (``lunar_unconverted``).
    """
    if not raw:
        return None
    text, cleaning_flags = _clean_date_text(raw)
    if not text:
        return None
    flags = list(cleaning_flags)
    unqualified = re.sub(r"^(?:约|大约|大概)|(?:左右|前后)$", "", text)
    if unqualified != text:
        text = unqualified
        flags.append("approximate")
    calendar = "gregorian"
    lunar = False
    unmarked = _LUNAR_MARK.sub("", text)
    if unmarked != text:
        text, lunar = unmarked, True
    for marker in _GREGORIAN_MARKERS:
        if text.startswith(marker):
            text = text[len(marker) :]

    age = parse_age(text)
    if age is not None:
        if doc_year is None:
            return None
        years = age_birth_years(age[0], doc_year, nominal=age[1])
        return DateValue(str(years[1]), "Y", "gregorian", ("age_only",) + (("nominal_age",) if age[1] else ()))

    era = next((name for name in _ERA_NAMES if text.startswith(name)), None)
    if era:
        text = text[len(era) :]
    if _MONTH_DAY_ONLY.match(text):
        return None  # month and day without a year cannot identify a person's birth date

    parsed = _split_date(text, era is not None)
    if parsed is None:
        return None
    year_text, month_text, day_text, leap = parsed

    if era:
        offset, calendar, era_lunar = _ERAS[era]
        lunar = lunar or era_lunar
        number = 1 if year_text == "元" else numeral_value(year_text)
        if number is None or number == 0:
            return None
        year = offset + number
    else:
        number = numeral_value(year_text)
        if number is None:
            return None
        if len(year_text) == 2 or (number < 100 and any(ch in _TENS for ch in year_text)):
            year = _resolve_two_digit_year(number, doc_year)
            flags.append("two_digit_year")
        elif len(year_text) == 4 or (number >= 1000 and len(year_text) == 3):
            year = number
        elif len(year_text) == 3 and year_text[0] in "八九" and all(ch in _NUMERAL_VALUES for ch in year_text):
            # 九七六年: the leading 一, a single stroke, lost by the recogniser (no year 976 here); Arabic
            # 958年 stays unread: a digit is as likely lost from its end or middle
            year = 1000 + number
            flags.append("year_digit_restored")
        else:
            return None
        if year > _MAX_YEAR:
            return None

    month: int | None = None
    if month_text is not None:
        if month_text in _MONTH_WORDS:
            month, word_is_lunar = _MONTH_WORDS[month_text]
            lunar = lunar or word_is_lunar
        else:
            month = numeral_value(month_text)
            if month is None:
                return None
    day: int | None = None
    if day_text is not None:
        if day_text.startswith("初"):
            lunar = True
            day_text = day_text[1:]
        day = numeral_value(day_text)
        if day is None:
            return None
    lunar = lunar or leap

    precision = "Y" if month is None else "YM" if day is None else "YMD"
    lunar_iso: str | None = None
    if lunar and calendar == "gregorian":
        calendar = "lunar"
    if lunar and day is not None and month is not None:
        if not (1 <= month <= 12 and 1 <= day <= 30):
            return None
        written = f"{year:04d}-{month:02d}-{day:02d}"
        if leap:
            flags.append("leap_month")
        try:
            iso: str | None = _lunar_to_solar(year, month, day, leap)
        except _NoLunarConverter:
            iso = written
            flags.append("lunar_unconverted")
        else:
            if iso is None:
                return None
            flags.append("lunar_converted")
            lunar_iso = written
    else:
        iso = _iso(year, month, day)
        if iso is None:
            return None
        if lunar:
            flags.append("lunar_unconverted")
    if year < _MIN_YEAR:
        flags.append("year_before_1850")
    if doc_year is not None and int(iso[:4]) > doc_year:
        flags.append("after_doc_year")
    return DateValue(iso, precision, calendar, tuple(flags), lunar_iso)


_CN_DIGIT_CHARS = "〇一二三四五六七八九"


def _cn_number(n: int) -> str:
    """1..39 in positional Chinese numerals: 十二, 二十三, 三十."""
    tens, unit = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGIT_CHARS[tens] + "十")
    return head + (_CN_DIGIT_CHARS[unit] if unit else "")


def date_renderings(iso: str) -> tuple[str, ...]:
    """Ways a clerk writes a full ISO date: 一九八三年一月十三日, 一九八三年元月十三日,
    1983年1月13日, 1983.1.13, 83.1.13, 83年1月13日 (号 for 日 too); used to check a partly read date
    against another date on the page."""
    year, month, day = (int(part) for part in iso.split("-"))
    cn_year = "".join(_CN_DIGIT_CHARS[int(d)] for d in f"{year:04d}")
    months = [_cn_number(month)] + (["元"] if month == 1 else [])
    forms = [f"{cn_year}年{m}月{_cn_number(day)}{end}" for m in months for end in "日号"]
    for y in (str(year), f"{year % 100:02d}"):
        forms += [f"{y}年{month}月{day}日", f"{y}年{month}月{day}号", f"{y}.{month}.{day}"]
    return tuple(forms)


def _split_date(text: str, era: bool) -> tuple[str, str | None, str | None, bool] | None:
    """(year, month, day, leap) texts of a date in any of the accepted layouts."""
    m = _DATE_CN.match(text)
    if m:
        return m.group("y"), m.group("m"), m.group("d"), bool(m.group("leap"))
    if era:
        return None
    for pattern in (_DATE_SEP, _DATE_COMPACT, _DATE_YEAR):
        m = pattern.match(text)
        if m:
            groups = m.groupdict()
            if pattern is _DATE_YEAR and int(groups["y"]) < _MIN_YEAR:
                return None  # a bare number ("1228", what is left of 74.12.28) is no year
            return groups["y"], groups.get("m"), groups.get("d"), False
    return None


# ---------------------------------------------------------------------------
# ID numbers (§2.1, V1, V2, V7)


@dataclass(frozen=True)
class IdNumber:
    value: str  # 18 digits (a valid 15-digit input is upgraded); else the cleaned raw digits
    valid: bool
    from15: bool
    birth_date: str | None  # ISO from the ID
    sex: str | None  # 男/女 from the sequence parity
    flags: tuple[str, ...] = ()


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Unambiguous single-character OCR confusions inside an otherwise digit string.
_ID_OCR_FIXES = {"O": "0", "o": "0", "〇": "0", "○": "0", "l": "1", "I": "1", "|": "1"}
_ID_X_FORMS = {"x": "X", "×": "X", "Ⅹ": "X"}


def id_check_char(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits (GB 11643-1999)."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


def _century15(id15: str) -> str:
    """Sequence 996–999 was reserved for centenarians in GB 11643-1989."""
    return "18" if int(id15[12:15]) >= 996 else "19"


def upgrade_id15(id15: str) -> str:
    """15 → 18 digits: insert the century, add the check digit, keep the old address code (V7)."""
    body = id15[:6] + _century15(id15) + id15[6:12] + id15[12:15]
    return body + id_check_char(body)


def _id_birth(yyyymmdd: str) -> str | None:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    return born.isoformat() if _MIN_YEAR <= born.year <= dt.date.today().year else None


def normalize_id(raw: str) -> IdNumber | None:
    """Clean, check and upgrade one resident ID number; None when the text holds no digits."""
    text = re.sub(r"[\s\-–—‐‑−_.·]", "", _to_halfwidth(raw or ""))
    if not any(ch.isdigit() for ch in text):
        return None
    flags: list[str] = []
    unlabelled = re.sub(f"^[{_HAN}:：()（）]+|[{_HAN}()（）]+$", "", text)  # 身份证号：…, …(补)
    if unlabelled != text:
        text = unlabelled
        flags.append("text_stripped")
    if text and text[-1] in _ID_X_FORMS:
        text = text[:-1] + "X"
    fixed = "".join(_ID_OCR_FIXES.get(ch, ch) for ch in text)
    if fixed != text and re.fullmatch(r"\d+X?", fixed):
        text = fixed
        flags.append("ocr_fixed")
    if not re.fullmatch(r"\d+X?", text):
        cleaned = "".join(ch for ch in text if ch.isdigit() or ch == "X")
        return IdNumber(cleaned, False, False, None, None, tuple(flags) + ("bad_characters",))
    if len(text) in (15, 18) and id_province(text) is None:
        flags.append("unknown_province")  # V3 at province level: likely a misread first digit
    if len(text) == 15 and text.isdigit():
        birth = _id_birth(_century15(text) + text[6:12])
        sex = "男" if int(text[14]) % 2 else "女"
        if birth is None:
            return IdNumber(text, False, True, None, sex, tuple(flags) + ("bad_birth_segment",))
        return IdNumber(upgrade_id15(text), True, True, birth, sex, tuple(flags))
    if len(text) != 18:
        return IdNumber(text, False, False, None, None, tuple(flags) + ("wrong_length",))
    birth = _id_birth(text[6:14])
    sex = "男" if int(text[16]) % 2 else "女"
    if birth is None:
        flags.append("bad_birth_segment")
    if id_check_char(text[:17]) != text[17]:
        flags.append("bad_check_digit")
    return IdNumber(text, birth is not None and "bad_check_digit" not in flags, False, birth, sex, tuple(flags))


def id_province(id_number: str) -> str | None:
    """Province of an ID's address code (GB/T 2260), None when the code names none."""
    province: str | None = load_code_table("province")["codes"].get(id_number[:2])
    return province


def mask_id(id_number: str) -> str:
    """Keep the first 6 and last 4 characters (address code and sequence) for display."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


# ---------------------------------------------------------------------------
# Sex and coded fields (§2.3–2.5, V18–V23)


_SEX_VALUES = {"男": "男", "男性": "男", "m": "男", "male": "男", "1": "男",
               "女": "女", "女性": "女", "f": "女", "female": "女", "2": "女"}  # fmt: skip


def _compact(raw: str) -> str:
    """Field value without spaces and edge punctuation."""
    text = re.sub(r"\s+", "", normalize_text(raw or ""))
    text = text.strip("。，,.;；:：、()（）[]【】\"'“”")
    # a tick, box or stray mark beside the value ("☑汉"): no code starts or ends with a symbol
    start, end = 0, len(text)
    while start < end and _edge_mark(text[start]):
        start += 1
    while end > start and _edge_mark(text[end - 1]):
        end -= 1
    return text[start:end]


def _edge_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "SP" and ch not in "〃々"


@cache
def _simplify_table() -> dict[int, str]:
    return str.maketrans(load_code_table("traditional")["chars"])


def _lookup_key(raw: str) -> str:
    """Compact value in simplified characters: the form code tables are keyed by.

    Only for coded fields; names are never converted (§1.10).
    """
    return _compact(raw).translate(_simplify_table())


def normalize_sex(raw: str) -> str | None:
    """男/女 (GB/T 2261.1 codes 1/2 accepted too); anything else is unknown."""
    return _SEX_VALUES.get(_lookup_key(raw).lower())


def sex_code(sex: str | None) -> str:
    """GB/T 2261.1-2003 code: 1 男, 2 女, 0 unknown."""
    return {"男": "1", "女": "2"}.get(sex or "", "0")


@cache
def _ethnicity_names() -> dict[str, str]:
    table = load_code_table("ethnicity")
    return {name: code for code, name in table["codes"].items()}


def ethnicity_code(name: str) -> str | None:
    """GB/T 3304-1991 code of an official ethnicity name (蒙古族 → "02")."""
    return _ethnicity_names().get(name)


def _before(doc_date: str | None, since: str) -> bool:
    """True when a (possibly partial) ISO document date lies wholly before ``since``."""
    if not doc_date:
        return False
    n = min(len(doc_date), len(since))
    return doc_date[:n] < since[:n]


def normalize_ethnicity(raw: str, *, doc_date: str | None = None) -> tuple[str | None, tuple[str, ...]]:
    """Official GB/T 3304 name with flags.

    Flags: ``alias`` (abbreviation or colloquial form), ``historical_name`` (僮族,
    崩龙族 ...), ``outdated_name`` (the old name on a page dated after the rename),
    ``later_annotation`` (current name on a page dated before the rename or
    recognition, V19), ``unknown_ethnicity``.
    """
    text = _lookup_key(raw)
    if not text:
        return None, ()
    table = load_code_table("ethnicity")
    names = _ethnicity_names()
    flags: list[str] = []
    name: str | None = None
    for candidate in (text, text + "族"):
        if candidate in names:
            name = candidate
        elif candidate in table["aliases"]:
            name = table["aliases"][candidate]
            flags.append("alias")
        elif candidate in table["renamed"]:
            renamed = table["renamed"][candidate]
            name = renamed["name"]
            flags.append("historical_name")
            if doc_date and not _before(doc_date, renamed["since"]):
                flags.append("outdated_name")
        if name:
            break
    if name is None:
        name = _near_ethnicity(text, names)
        if name is None:
            return None, ("unknown_ethnicity",)
        flags.append("near_match")
    if "historical_name" not in flags:
        renames = [old["since"] for old in table["renamed"].values() if old["name"] == name]
        if renames and _before(doc_date, renames[0]):
            flags.append("later_annotation")
    since = table["recognised"].get(name)
    if since and _before(doc_date, since):
        flags.append("later_annotation")
    return name, tuple(flags)


def _near_ethnicity(text: str, names) -> str | None:  # type: ignore[no-untyped-def]
    """The one official name of four or more characters that the text misses by one character
    (达翰尔 for 达斡尔族): long names leave no other reading; short ones (回族, 汉族) are not guessed."""
    if len(text) < 3:
        return None
    found = {
        name
        for name in names
        if len(name) >= 4 and any(_one_edit(candidate, name) for candidate in (text, text + "族"))
    }
    return found.pop() if len(found) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by exactly one substituted, inserted or deleted character."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


_ORDINAL_CHILD = re.compile(r"^[六七八九]([子女])$")  # 六子, 七女: past the coded 五子/五女


def normalize_relation(raw: str) -> tuple[str | None, str | None, str | None]:
    """(GB/T 4761 term, code, implied sex) of a 与户主关系 value; Nones if unknown."""
    text = _lookup_key(raw)
    text = re.sub(r"^(?:系|是)?户主(?:之|的)(?=.)", "", text)
    text = re.sub(r"^(?:之|的)", "", text)
    if not text:
        return None, None, None
    table = load_code_table("relation")
    terms, aliases = table["terms"], table["aliases"]
    term = text if text in terms else aliases.get(text)
    if term is None:
        m = _ORDINAL_CHILD.match(text)
        term = ("其他儿子" if m.group(1) == "子" else "其他女儿") if m else None
    if term is None:
        return None, None, None
    entry = terms[term]
    return term, entry["code"], entry["sex"] or None


_EDUCATION_SUFFIXES = re.compile(r"(?:毕业|肄业|结业|在读|在校|文化|程度|水平|学历)+$")
_SCHOOL_GRADE = re.compile(r"^(初|高)[一二三]$")  # 初二 = second year of 初中


def normalize_education(raw: str, *, whole: bool = False) -> tuple[str, str | None]:
    """(cleaned raw value, GB 4658-84 top-level code). The raw value is what the paper says.

    Look-up order: the whole value, the value without 毕业/肄业/文化…, a school
    year (初二, 高一), then (unless `whole`) the longest known wording it starts with (小学四年级).
    """
    text = _compact(raw)
    key = _lookup_key(raw)
    aliases = load_code_table("education")["aliases"]
    stem = _EDUCATION_SUFFIXES.sub("", key)
    for candidate in (key, stem):
        if candidate in aliases:
            return text, aliases[candidate]
    grade = _SCHOOL_GRADE.match(stem)
    if grade:
        return text, aliases["初中" if grade.group(1) == "初" else "高中"]
    if whole:
        return text, None
    prefixes = [alias for alias in aliases if len(alias) >= 2 and stem.startswith(alias)]
    return text, aliases[max(prefixes, key=len)] if prefixes else None


def normalize_marital(raw: str) -> tuple[str | None, str | None]:
    """(GB/T 2261.2 term, code) of a 婚姻状况 value."""
    text = _lookup_key(raw)
    table = load_code_table("marital")
    names = {name: code for code, name in table["codes"].items()}
    term = text if text in names else table["aliases"].get(text)
    if term is None:
        return None, None
    return term, names[term]


# ---------------------------------------------------------------------------
# Names and ditto marks (V14, V15)

# Label words that OCR sometimes returns as the value of a name cell.
_LABEL_WORDS = frozenset(
    "姓名 名字 户主 户主姓名 本人 男 女 性别 民族 汉族 汉 出生 出生日期 出生地 籍贯 住址 职业 文化程度 "
    "婚姻状况 与户主关系 关系 曾用名 别名 服务处所 身份证 何时何地迁来 何时何地迁往 同上 签章 承办人 "
    "妻 夫 子 长子 次子 长女 次女 父 母 父亲 母亲 无 不详 空白".split()
)
_NAME_DOTS = "·•・‧∙．.・"


def normalize_name(raw: str) -> tuple[str, tuple[str, ...]]:
    """Person name with spaces, punctuation and OCR noise removed, and V14 flags.

    Minority names keep one "·" between parts. Flags: ``empty``, ``cleaned`` (characters
    other than spaces were dropped), ``not_a_name``
    (a label word), ``bad_length`` (outside 1–6 Han characters), ``non_han``.
    """
    text = re.sub(r"\s+", "", normalize_text(raw or ""))
    text = re.sub(f"[{re.escape(_NAME_DOTS)}]+", "·", text)
    bare = re.sub(r"[(（\[【][^)）\]】]*[)）\]】]", "", text)  # (曾用名 …) written beside the name
    kept = "".join(ch for ch in bare if _HAN_RE.match(ch) or ch == "·" or ch.isalpha())
    name = re.sub(r"·{2,}", "·", kept).strip("·")
    if not name:
        return "", ("empty",)
    flags: list[str] = ["cleaned"] if name != text else []
    if name in _LABEL_WORDS or is_ditto(name):
        flags.append("not_a_name")
    if any(not (_HAN_RE.match(ch) or ch == "·") for ch in name):
        flags.append("non_han")
    han_count = sum(1 for ch in name if _HAN_RE.match(ch))
    if not 1 <= han_count <= 6 and "·" not in name:
        flags.append("bad_length")
    return name, tuple(flags)


# Whole-cell ditto forms. Two digits "11" are deliberately absent: they are a real
# number too often (户号, 门牌) to be read as a misrecognised 〃.
_DITTO_FORMS = frozenset(
    ["〃", "″", "々", "\"", "''", "“", "”", "„", "〝", "〞", "ˮ", "〃〃", "\"\"", "、、", "丶丶", "ヽヽ", "ゝ",
     "``", "同上", "仝上", "同前", "同左", "同右"]
)  # fmt: skip


def is_ditto(raw: str) -> bool:
    """True when the whole cell is a ditto mark (〃, 同上, 仝上, "、、" …), V15."""
    text = re.sub(r"\s+", "", _to_halfwidth(raw or ""))
    return text.strip("。.,，") in _DITTO_FORMS


# ---------------------------------------------------------------------------
# Cross-field consistency (V4, V5, V6, V10, V11, V18, V19, V21, V22, V23)


# Severity of each consistency flag (§7): E = force review, W = lower confidence,
# I = informational, never a reason for review on its own.
FLAG_SEVERITY = {
    "birth_date_unparseable": "E",
    "id_invalid": "E",
    "id_birth_mismatch": "E",
    "id_sex_mismatch": "E",
    "birth_after_registration": "E",
    "birth_after_event": "E",
    "birth_day_month_swapped": "W",
    "relation_sex_mismatch": "W",
    "age_over_115": "W",
    "education_age_implausible": "W",
    "several_household_heads": "W",
    "no_household_head": "W",
    "head_minor": "W",
    "parent_age_gap": "W",
    "grandparent_age_gap": "W",
    "id_birth_is_lunar": "I",
    "id_later_annotation": "I",
    "ethnicity_later_annotation": "I",
    "married_under_legal_age": "I",
    "head_not_first": "I",
}


def flag_severity(flag: str) -> str:
    """"E", "W" or "I" for a flag of check_consistency / check_household ("parent_age_gap:2" too)."""
    return FLAG_SEVERITY[flag.split(":", 1)[0]]


def _document_date(fields: dict[str, str]) -> DateValue | None:
    for key in ("doc_date", "registration_date", "event_date"):
        if fields.get(key):
            value = parse_date(fields[key])
            if value is not None:
                return value
    return None


def _years_between(born: DateValue, later: DateValue) -> int:
    """Whole years from birth to a later date, using only the precision both carry."""
    years = int(later.iso[:4]) - int(born.iso[:4])
    if born.precision == "YMD" and later.precision == "YMD" and later.iso[5:] < born.iso[5:]:
        years -= 1
    return years


def _legal_marriage_age(sex: str, on: DateValue) -> int:
    """1950 婚姻法: M 20 / F 18; 1980 婚姻法 from 1981-01-01: M 22 / F 20."""
    if on.iso >= "1981-01-01":
        return 22 if sex == "男" else 20
    return 20 if sex == "男" else 18


def _id_birth_flags(id_birth: str, born: DateValue) -> list[str]:
    """V4: the ID's birth segment against the written birth date, at the precision written.

    A lunar birthday copied digit for digit into the ID and a day/month swap are
    named separately: both are common and neither means another person.
    """
    if "age_only" in born.flags:
        return [] if abs(int(id_birth[:4]) - int(born.iso[:4])) <= 1 else ["id_birth_mismatch"]
    if id_birth.startswith(born.iso):
        return []
    if born.lunar_iso and id_birth == born.lunar_iso:
        return ["id_birth_is_lunar"]
    flags = ["id_birth_mismatch"]
    swapped = born.iso[:5] + born.iso[8:] + "-" + born.iso[5:7]
    if born.precision == "YMD" and id_birth == swapped:
        flags.append("birth_day_month_swapped")
    return flags


def check_consistency(fields: dict[str, str]) -> list[str]:
    """Flags for disagreements between the fields of one person on one page.

    ``fields`` uses the export field keys (interfaces.md), raw or normalised
    values; an optional ``doc_date`` key stands for the page date when
    ``registration_date``/``event_date`` are absent.
    """
    flags: list[str] = []
    doc = _document_date(fields)
    doc_year = int(doc.iso[:4]) if doc else None
    id_number = normalize_id(fields["id_number"]) if fields.get("id_number") else None
    born = parse_date(fields["birth_date"], doc_year=doc_year) if fields.get("birth_date") else None
    sex = normalize_sex(fields.get("sex", ""))

    if fields.get("birth_date") and born is None and not parse_age(fields["birth_date"]):
        flags.append("birth_date_unparseable")
    if id_number is not None:
        if not id_number.valid:
            flags.append("id_invalid")
        if id_number.birth_date and born:
            flags.extend(_id_birth_flags(id_number.birth_date, born))
        if id_number.sex and sex and id_number.sex != sex:
            flags.append("id_sex_mismatch")
        length = 15 if id_number.from15 else len(id_number.value)
        if doc and ((length == 15 and doc.iso < "1984") or (length == 18 and doc.iso < "1999-10-01")):
            flags.append("id_later_annotation")

    if fields.get("relation_to_head"):
        _, _, implied = normalize_relation(fields["relation_to_head"])
        if implied and sex and implied != sex:
            flags.append("relation_sex_mismatch")
    if fields.get("ethnicity"):
        _, eth_flags = normalize_ethnicity(fields["ethnicity"], doc_date=doc.iso if doc else None)
        if "later_annotation" in eth_flags:
            flags.append("ethnicity_later_annotation")

    if born is not None:
        for key, flag in (("registration_date", "birth_after_registration"), ("event_date", "birth_after_event")):
            other = parse_date(fields.get(key, "")) if fields.get(key) else None
            if other is not None and born.iso[: len(other.iso)] > other.iso[: len(born.iso)]:
                flags.append(flag)
    if born is not None and doc is not None and "age_only" not in born.flags:
        age = _years_between(born, doc)
        if age > 115:
            flags.append("age_over_115")
        marital, _ = normalize_marital(fields.get("marital_status", ""))
        if marital in ("已婚", "初婚", "再婚", "复婚") and sex and 0 <= age < _legal_marriage_age(sex, doc):
            flags.append("married_under_legal_age")
        _, edu_code = normalize_education(fields.get("education", ""))
        if edu_code in ("10", "20", "30") and 0 <= age < 18:
            flags.append("education_age_implausible")
    return flags


# Relation codes whose holder is one generation below / above the head, or two (V21).
_CHILD_CODES = frozenset({"20", "21", "22", "23", "24", "25", "26", "27", "29", "30", "31", "32", "33", "34", "35",
                          "36", "37", "39"})  # fmt: skip
_GRANDCHILD_CODES = frozenset({"40", "41", "42", "43", "44", "49"})
_PARENT_CODES = frozenset({"50", "51", "52", "57", "58", "59"})
_GRANDPARENT_CODES = frozenset({"60", "61", "62", "63", "64", "69"})
_MIN_PARENT_GAP = 14
_ADULT_AGE = 18


def _birth_of(member: dict[str, str], doc_year: int | None) -> DateValue | None:
    if member.get("birth_date"):
        born = parse_date(member["birth_date"], doc_year=doc_year)
        if born is not None and "age_only" not in born.flags:
            return born
    number = normalize_id(member["id_number"]) if member.get("id_number") else None
    if number is not None and number.birth_date:
        return DateValue(number.birth_date, "YMD", "gregorian")
    return None


def check_household(members: list[dict[str, str]], *, doc_date: str | None = None) -> list[str]:
    """Flags for one household page (V20, V21), each as "flag:index" of the member concerned.

    ``members`` are field dicts in page order. Exactly one 户主 (several 本人 of a
    collective household are fine), the head listed first and adult, parents at least
    14 and grandparents at least 28 years older than the head's children and grandchildren.
    """
    doc = parse_date(doc_date) if doc_date else None
    doc_year = int(doc.iso[:4]) if doc else None
    codes = [normalize_relation(m.get("relation_to_head", ""))[1] for m in members]
    births = [_birth_of(m, doc_year) for m in members]
    heads = [i for i, code in enumerate(codes) if code == "02"]
    flags: list[str] = []
    if len(heads) > 1:
        flags.extend(f"several_household_heads:{i}" for i in heads[1:])
    if not heads:
        if "01" not in codes:
            flags.append("no_household_head:0")
        return flags
    head = heads[0]
    if head != 0:
        flags.append(f"head_not_first:{head}")
    head_born = births[head]
    if head_born is None:
        return flags
    if doc is not None and _years_between(head_born, doc) < _ADULT_AGE:
        flags.append(f"head_minor:{head}")
    head_year = int(head_born.iso[:4])
    for i, (code, born) in enumerate(zip(codes, births, strict=True)):
        if born is None or code is None:
            continue
        gap = int(born.iso[:4]) - head_year  # positive: younger than the head
        generations = (1 if code in _CHILD_CODES else 2 if code in _GRANDCHILD_CODES
                       else -1 if code in _PARENT_CODES else -2 if code in _GRANDPARENT_CODES else 0)  # fmt: skip
        if generations and gap * (1 if generations > 0 else -1) < _MIN_PARENT_GAP * abs(generations):
            flags.append(f"{'grand' if abs(generations) == 2 else ''}parent_age_gap:{i}")
    return flags
