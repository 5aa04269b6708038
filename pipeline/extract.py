"""Structured fields from OCR lines: printed labels found by fuzzy matching, values paired by geometry.

Pre-1990 forms were printed locally, so no fixed template fits the archive. The
extractor therefore reads any form the same way:

1. Every OCR line becomes a run of characters with their own boxes (a line's box
   split by character widths), so a label and its value in one OCR box
   ("姓名王桂兰", "姓名：王桂兰") can be cut apart, and a label split over two boxes
   ("姓" "名") can be joined.
2. Printed labels are found in the runs by matching the synonym table in
   `config/labels.toml` (exact, or with one or two OCR errors for longer wordings).
3. Each remaining piece of text (a value) is given to its label by geometry: the
   label before it in the same box, else the nearest label to its left in the same
   row (ruled tables, "label：value" lines, two pairs per row), else the label or
   value directly above it (column headers, values written under the label,
   vertical columns). A row of three or more labels with values under them is a
   table of people: each row below is one person, ditto marks repeat the value above.
4. Values are normalised with `pipeline.normalize`; every field keeps what the page
   says, the normalised value, a confidence from the OCR scores and the checks, its
   flags and alternative readings; doubtful fields give the clerk a review reason.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from collections import Counter
from functools import cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline import normalize
from pipeline.records import DOC_TYPES, CharAlternative, Extraction, Field, Mention, OcrLine, OcrResult

LABELS_PATH = Path(__file__).resolve().parent.parent / "config" / "labels.toml"

# Keys that describe a person; the rest describe the page or the event it records.
PERSON_KEYS = (
    "name",
    "former_name",
    "sex",
    "ethnicity",
    "birth_date",
    "birthplace",
    "native_place",
    "id_number",
    "relation_to_head",
    "education",
    "marital_status",
    "occupation",
    "employer",
    "address",
)
DATE_KEYS = ("birth_date", "event_date", "registration_date")
NAME_KEYS = ("name", "former_name", "head_name", "father_name", "mother_name")
MIGRATION_TYPES = ("migration_certificate", "move_in_permit")
HOUSEHOLD_KEYS = ("address", "head_name")  # page fields every listed member shares
PERSON_FIELD_FOR_ROLE = {"father": "father_name", "mother": "mother_name", "head": "head_name"}
# the date a form records its event by, for the types whose title names an event
EVENT_DATE_OF_TYPE = {
    "birth_registration": "birth_date",
    "death_deregistration": "event_date",
    "migration_certificate": "event_date",
    "move_in_permit": "event_date",
    "change_correction": "event_date",
}

SEPARATORS = set(":;,，、|｜/\\()[]<>《》「」『』【】.·•_-—~…")
SEAL_SLANT = 12.0  # degrees: pages reach extraction straightened; a seal's ring text leans far more
ASCII_WIDTH = 0.55  # a Latin letter or digit is about half as wide as a Han character
MIN_READING = 0.05  # a runner-up character this likely may complete a label
MAX_LABEL_JOIN = 4  # chars: a piece this short may be the start of a label split over two boxes


@dataclass(frozen=True)
class ExtractOptions:
    low_confidence: float = 0.6  # fields below this go to review
    doc_year: int | None = None  # the page's year when known (two-digit years, code tables)


@dataclass(frozen=True)
class LabelDef:
    word: str  # folded wording as matched against the page
    key: str  # field key, "" for a label whose value is not extracted
    person: str = ""  # "" = the page's subject; else father | mother | head | other
    person_key: str = ""  # key inside that person's mention
    moved_key: str = ""  # key on migration documents
    doc_hint: str = ""
    takes_label: bool = False  # its value is a label's wording (变更项目: 文化程度)
    guesses: tuple[str, ...] = ()  # an unreadable label: the keys its remaining characters fit


@dataclass(frozen=True)
class LabelTable:
    labels: dict[str, LabelDef]  # folded word -> definition
    max_len: int
    by_char: dict[str, tuple[LabelDef, ...]]  # first or second character -> fuzzy candidates
    ditto_marks: tuple[str, ...]
    ditto_lookalikes: str
    titles: dict[str, tuple[str, ...]]  # doc type -> folded title wordings
    title_cues: tuple[tuple[str, str], ...]  # (word, doc type): a title's words when its wording is unknown
    type_fields: dict[str, tuple[str, ...]]
    keywords: tuple[_KeywordRule, ...]  # reading an unknown label by the words in it
    label_chars: frozenset[str]  # every character of the printed wordings
    role_prefixes: tuple[tuple[str, str], ...]  # (prefix, person), longest first
    heads: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (head noun, the keys it may name), longest first
    attributes: frozenset[str] = frozenset()  # words after a label that leave its field as it is (民族 + 成份)


@dataclass(frozen=True)
class _KeywordRule:
    key: str
    any: tuple[str, ...]
    all: tuple[tuple[str, ...], ...] = ()
    none: tuple[str, ...] = ()

    def matches(self, text: str) -> bool:
        return (
            any(w in text for w in self.any)
            and all(any(w in text for w in group) for group in self.all)
            and not any(w in text for w in self.none)
        )


# --------------------------------------------------------------------------- label table


def _fold_char(ch: str) -> str:
    """One character as compared: full-width ASCII to half-width, Latin lower-cased."""
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        ch = chr(code - 0xFEE0)
    elif ch == "\u3000":
        ch = " "
    return ch.lower()


def fold(text: str) -> str:
    return "".join(_fold_char(c) for c in text if not c.isspace())


@cache
def load_labels(path: str = str(LABELS_PATH)) -> LabelTable:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    labels: dict[str, LabelDef] = {}
    for entry in data["label"]:
        for word in entry["words"]:
            folded = _plain(fold(word))
            labels.setdefault(
                folded,
                LabelDef(
                    word=folded,
                    key=entry.get("key", ""),
                    person=entry.get("person", ""),
                    person_key=entry.get("person_key", entry.get("key", "")),
                    moved_key=entry.get("moved_key", ""),
                    doc_hint=entry.get("doc_hint", ""),
                    takes_label=entry.get("takes_label", False),
                ),
            )
    printed = set(labels)  # wordings from the table; role compounds below only match exactly
    # 父亲民族, 户主身份证号 …: role prefix + any label of a person field.
    person_words = [d for d in list(labels.values()) if d.key in PERSON_KEYS and not d.person]
    for role in data.get("role", []):
        for prefix in role["prefixes"]:
            for base in person_words:
                word = fold(prefix) + base.word
                if word in labels:
                    continue
                top_key = PERSON_FIELD_FOR_ROLE.get(role["person"], "") if base.key == "name" else ""
                labels[word] = LabelDef(word=word, key=top_key, person=role["person"], person_key=base.key)
    by_char: dict[str, list[LabelDef]] = {}
    for d in labels.values():
        if len(d.word) >= 3 and d.word in printed:
            for ch in set(d.word[:2]):
                by_char.setdefault(ch, []).append(d)
    doc_types = data.get("doc_types", {})
    roles = sorted(((fold(p), r["person"]) for r in data.get("role", []) for p in r["prefixes"]), key=lambda x: -len(x[0]))
    return LabelTable(
        labels=labels,
        max_len=max(len(w) for w in labels),
        by_char={k: tuple(v) for k, v in by_char.items()},
        ditto_marks=tuple(fold(m) for m in data.get("ditto", {}).get("marks", [])),
        ditto_lookalikes=fold(data.get("ditto", {}).get("lookalikes", "")),
        titles={t: tuple(fold(w) for w in spec.get("titles", [])) for t, spec in doc_types.items()},
        type_fields={t: tuple(spec.get("fields", [])) for t, spec in doc_types.items()},
        title_cues=tuple((fold(w), cue["type"]) for cue in data.get("title_cue", []) for w in cue["words"]),
        keywords=tuple(
            _KeywordRule(
                key=rule["key"],
                any=tuple(rule["any"]),
                all=tuple(tuple(group) for group in rule.get("and", [])),
                none=tuple(rule.get("not", [])),
            )
            for rule in data.get("keyword", [])
        ),
        role_prefixes=tuple(roles),
        attributes=frozenset(fold(w) for w in data.get("attribute", {}).get("words", [])),
        heads=tuple(sorted(((fold(w), tuple(h["keys"])) for h in data.get("head", []) for w in h["words"]),
                           key=lambda x: -len(x[0]))),
        # every character of the printed wordings and of the words labels and titles are read by
        label_chars=frozenset("".join(printed) + "".join(
            w for rule in data.get("keyword", []) for group in [rule["any"], *rule.get("and", [])] for w in group
        ) + "".join(w for h in data.get("head", []) for w in h["words"])
          + "".join(w for cue in data.get("title_cue", []) for w in cue["words"])),
    )


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute: one each); rapidfuzz's C code, as titles try many windows."""
    return int(Levenshtein.distance(a, b))


def _allowed_errors(length: int) -> int:
    """Two-character labels must match exactly: one error would turn 汉族 into 民族."""
    if length < 3:
        return 0
    return 1 if length <= 6 else 2


# --------------------------------------------------------------------------- layout


@dataclass
class _Char:
    ch: str  # folded
    box: tuple[float, float, float, float]
    score: float
    alternatives: list[CharAlternative]
    spaced: bool = False  # a space stands before it in its line: a word may start here


@dataclass
class _Run:
    """A line of characters: one OCR line, or several joined because a label spans them."""

    chars: list[_Char]
    vertical: bool
    printed: bool = False  # pieces joined where printed labels stand: the whole run is one label

    @property
    def text(self) -> str:
        return "".join(c.ch for c in self.chars)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return _union([c.box for c in self.chars])


@dataclass
class _Segment:
    chars: list[_Char]
    vertical: bool
    run: int  # index of its run
    order: int  # position inside the run
    label: LabelDef | None = None
    after_label: bool = False  # the value follows a label in the same run
    title: bool = False  # a form title: neither label nor value

    @property
    def text(self) -> str:
        return "".join(c.ch for c in self.chars)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return _union([c.box for c in self.chars])


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _char_width(ch: str) -> float:
    return ASCII_WIDTH if ord(ch) < 0x2E80 else 1.0


def _line_chars(line: OcrLine) -> list[_Char]:
    """Give each character its own box: around the engine's character centre when it has one,
    else the line's box split proportionally to the characters' widths."""
    x0, y0, x1, y1 = line.bbox
    text = line.text
    aligned = len(line.alternatives) == len(text)
    extent = (y1 - y0) if line.vertical else (x1 - x0)
    start = y0 if line.vertical else x0
    thickness = (x1 - x0) if line.vertical else (y1 - y0)
    weights = [0.0 if c.isspace() else (1.0 if line.vertical else _char_width(c)) for c in text]
    if len(line.char_centers) == len(text):
        spans = _spans_from_centres([start + c * extent for c in line.char_centers], weights, thickness, start, start + extent)
    else:
        spans = _proportional_spans(weights, start, extent)
    chars: list[_Char] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        a, b = spans[i]
        box = (x0, a, x1, b) if line.vertical else (a, y0, b, y1)
        alts = line.alternatives[i] if aligned else []
        score = alts[0].score if alts and alts[0].char == ch else line.score
        chars.append(_Char(_fold_char(ch), box, score, list(alts), spaced=i > 0 and text[i - 1].isspace() and bool(chars)))
    return chars


def _slanted(line: OcrLine, limit: float = SEAL_SLANT) -> bool:
    """The line's long edge leans more than `limit` degrees off both axes.

    A lone handwritten character (a square box) leans as the hand wrote it, and a square's
    edges say little about a line's direction: it must lean twice as far."""
    (x0, y0), (x1, y1), _, (x3, y3) = line.quad[:4]
    top, side = (x1 - x0, y1 - y0), (x3 - x0, y3 - y0)
    long, short = sorted((math.hypot(*top), math.hypot(*side)), reverse=True)
    dx, dy = top if math.hypot(*top) >= math.hypot(*side) else side
    angle = abs(math.degrees(math.atan2(dy, dx))) % 90
    if long < 1.25 * short:
        limit *= 2
    return min(angle, 90 - angle) > limit


def _proportional_spans(weights: list[float], start: float, extent: float) -> list[tuple[float, float]]:
    total = sum(weights) or 1.0
    spans = []
    pos = start
    for w in weights:
        size = extent * w / total
        spans.append((pos, pos + size))
        pos += size
    return spans


def _spans_from_centres(
    centres: list[float], weights: list[float], thickness: float, lo: float, hi: float
) -> list[tuple[float, float]]:
    """A character is about as wide as the line is high (Latin half that), but never past its neighbours."""
    spans = []
    for i, c in enumerate(centres):
        half = 0.5 * thickness * max(weights[i], 0.3)
        left = max(lo, c - half, (centres[i - 1] + c) / 2 if i else lo)
        right = min(hi, c + half, (centres[i + 1] + c) / 2 if i + 1 < len(centres) else hi)
        spans.append((left, max(right, left + 1.0)))
    return spans


def _height(box: tuple[float, float, float, float]) -> float:
    return max(1.0, box[3] - box[1])


def _width(box: tuple[float, float, float, float]) -> float:
    return max(1.0, box[2] - box[0])


def _same_row(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    ha, hb = _height(a), _height(b)
    if max(ha, hb) > 3.0 * min(ha, hb):
        return False
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap >= 0.4 * min(ha, hb)


def _x_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Horizontal overlap as a share of the narrower box."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) / min(_width(a), _width(b))


def _y_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return max(0.0, min(a[3], b[3]) - max(a[1], b[1])) / min(_height(a), _height(b))


# --------------------------------------------------------------------------- label search


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    label: LabelDef
    errors: int


def _exact_at(text: str, i: int, table: LabelTable, readings: list[str] | None = None) -> _Hit | None:
    """Longest label at i; with `readings`, a character may also match through the engine's runner-up."""
    for length in range(min(table.max_len, len(text) - i), 0, -1):
        label = table.labels.get(text[i : i + length])
        if label is not None:
            return _Hit(i, i + length, label, 0)
    if readings is None:
        return None
    best: _Hit | None = None
    for word, label in table.labels.items():
        if len(word) < 2 or i + len(word) > len(text) or (best and len(word) <= best.end - best.start):
            continue
        if all(w in readings[i + k] for k, w in enumerate(word)):
            best = _Hit(i, i + len(word), label, 0)
    return best


def _fuzzy_at(text: str, i: int, table: LabelTable) -> _Hit | None:
    """Best label starting at i with a few OCR errors (labels of three or more characters)."""
    candidates: set[LabelDef] = set()
    for ch in text[i : i + 3]:
        candidates.update(table.by_char.get(ch, ()))
    best: _Hit | None = None
    for label in sorted(candidates, key=lambda d: d.word):
        length = len(label.word)
        allowed = _allowed_errors(length)
        for span in (length, length - 1, length + 1):
            if span < 2 or i + span > len(text):
                continue
            errors = levenshtein(text[i : i + span], label.word)
            if errors > allowed or errors >= span - 1:
                continue
            # A window must start and end on the label's own characters, so a value's
            # first character is not swallowed as an "inserted" error.
            window = text[i : i + span]
            if window[-1] != label.word[-1] and window[0] != label.word[0]:
                continue
            if any(c.isdigit() for c in window) and not any(c.isdigit() for c in label.word):
                continue  # a label misread is not a label running into a written number (生年月1958)
            if label.person and window[-2:] == label.word[-2:] and window[:2] != label.word[:2]:
                continue  # another word for who (申请人姓名 is not 申报人姓名): read by its words instead
            # A three-character wording with an error stands alone ("出生目期" yes, "出生登记表" no).
            if length == 3 and i + span < len(text) and text[i + span] != ":":
                continue
            if _valid_value_start(window):
                continue
            if best is None or (errors, -span) < (best.errors, -(best.end - best.start)):
                best = _Hit(i, i + span, label, errors)
    return best


def _valid_value_start(text: str) -> bool:
    """Text that begins with a coded value ("户主" …): a value, however close to a label it reads."""
    return any(
        _valid_value(key, text[:n])
        for n in (2, 3)
        for key in ("sex", "ethnicity", "relation_to_head", "education", "marital_status")
        if len(text) >= n
    )


_QUESTION = re.compile(r"何[时地种处年月日故因人][\u4e00-\u9fff]{0,8}?(?=[:：]|$)")


def _question_label_at(text: str, i: int, table: LabelTable) -> _Hit | None:
    """Old forms ask instead of naming: 何种职业, 何时由何地迁来. Such a question is a label up to
    the known label word in it (何种 + 职业), else up to a colon or the end of its line; its words
    tell the field."""
    if not text.startswith("何", i) or i + 1 >= len(text) or text[i + 1] not in "时地种处年月日故因人":
        return None
    for j in range(i + 2, min(len(text), i + 5)):
        inner = _exact_at(text, j, table)
        if inner is not None and len(inner.label.word) >= 2:
            return _Hit(i, inner.end, LabelDef(word=text[i : inner.end], key=""), 0)
    match = _QUESTION.match(text, i)
    if match is None:
        return None
    return _Hit(i, match.end(), LabelDef(word=match.group(0), key=""), 0)


def _colon_label_at(text: str, i: int, table: LabelTable | None = None) -> _Hit | None:
    """Short Han text ending in a colon is a label even when the table does not know it (登记人：);
    when it ends in a known label, that label is found where it starts ("河北蔚县" + "文化："), and
    what stands before it is a value or a qualifier (`_whole_label_words`)."""
    colon = text.find(":", i)
    if colon <= i or colon - i > 6 or not all(_is_han(c) for c in text[i:colon]):
        return None
    if table is not None and any(text[j:colon] in table.labels for j in range(i + 1, colon - 1)):
        return None
    return _Hit(i, colon, LabelDef(word=text[i:colon], key=""), 0)


# a written place or workplace ends so (民族路, 文化馆); a printed label does not
VALUE_ENDINGS = tuple("路街巷村镇乡县市省区旗厂校院馆队社局站店场号")


def _header_words(text: str, table: LabelTable, chars: list[_Char] | None = None) -> list[str] | None:
    """`text` cut into unknown label wordings of 2-4 characters, each read by its words (`_guess_label`)
    and none a coded value: a row of printed labels the table has no entry for (族别出生时间原籍).
    Of several cuts, the one with more pieces ending in a head noun (出生时间, not 出生 + 时间) and fewer
    pieces holding two fields' words (婚配 + 学识, not 婚配学识), then the one with fewer pieces."""
    best: dict[int, tuple[tuple[int, int], list[str]]] = {len(text): ((0, 0), [])}
    for i in range(len(text) - 2, -1, -1):
        for size in (2, 3, 4):
            rest = best.get(i + size)
            piece = text[i : i + size]
            if rest is None or len(piece) < size or _label_value(piece, table) or piece.endswith(VALUE_ENDINGS) \
                    or _guess_label(piece, table) is None:
                continue
            if chars is not None and not _evenly_set(chars[i : i + size]):
                continue  # a value and a label read in one box (工人 + 文化程度) stand apart
            headed = any(piece.endswith(suffix) and len(piece) > len(suffix) for suffix, _keys in table.heads)
            # words of two fields in one piece (婚配 + 学识) are two labels, unless a head noun joins them
            mixed = not headed and len({r.key for r in table.keywords if r.matches(piece)}) > 1
            score = (rest[0][0] + headed - mixed, rest[0][1] - 1)
            if i not in best or score > best[i][0]:
                best[i] = (score, [piece, *rest[1]])
    return best[0][1] if 0 in best else None


def _label_value(text: str, table: LabelTable) -> bool:
    """A word that is, begins or ends with a written value of some coded field (已婚, 汉族, 妻女汉族,
    a date): not a printed label. A role word before a label is one (户主 + 姓名)."""
    if any(_valid_value(k, text) for k in CODED_KEYS):
        return True
    ends = [text[:n] for n in range(1, len(text)) if not any(text.startswith(p) for p, _r in table.role_prefixes)]
    ends += [text[n:] for n in range(1, len(text))]
    return any(_valid_value(k, part) for part in ends for k in CODED_KEYS if k not in DATE_KEYS)


def _header_word_at(text: str, i: int, table: LabelTable, chars: list[_Char] | None = None) -> _Hit | None:
    """An unknown label at the start of a line or right after a label, when the Han text from
    there up to a digit, a separator or the end cuts wholly into unknown label wordings."""
    end = i
    while end < len(text) and _is_han(text[end]):
        end += 1
    if end - i < 2 or end - i > 16:
        return None
    if end < len(text) and not (text[end].isdigit() or text[end] in SEPARATORS):
        return None
    whole = text[i:end]
    if i == 0 and end - i <= 4 and not _label_value(whole, table) and not whole.endswith(VALUE_ENDINGS) \
            and (chars is None or _evenly_set(chars[i:end])):
        label = _guess_label(whole, table)
        # a short wording opening its line (婚否); a longer one is read where it stands (`_adopt_unknown_labels`)
        return _Hit(i, end, label, 0) if label is not None else None
    words = _header_words(whole, table, chars[i:end] if chars else None)
    if not words:
        return None
    headed = any(whole.endswith(suffix) for suffix, _keys in table.heads)
    one = _guess_label(whole, table) if end - i <= 8 and headed else None
    last = _guess_label(words[-1], table)
    if one is not None and last is not None and _family(one.key, table) == _family(last.key, table):
        return None  # one qualified wording (拟去往 + 详细住处): read where it stands (`_adopt_unknown_labels`)
    label = _guess_label(words[0], table)
    return _Hit(i, i + len(words[0]), label, 0) if label is not None else None


def _plausible_value(key: str, text: str) -> bool:
    """Could `text` start with a value of `key`? Decides whether a label word in mid-line is a label."""
    head = text[:6]
    if not head:
        return True
    if key == "sex":
        return head[0] in "男女"
    if key in DATE_KEYS:
        return bool(re.match(r"[0-9〇○零一二三四五六七八九十民公农阴康光宣昭元正腊冬]", head))
    if key in ("id_number", "serial_no"):
        return bool(re.match(r"[0-9a-z№#第]", head))
    if key == "ethnicity":
        return any(normalize.normalize_ethnicity(head[:n])[0] for n in range(1, len(head) + 1))
    if key in ("marital_status",):
        return normalize.normalize_marital(head[:2])[0] is not None or head[0] in "未已离丧再"
    if key in NAME_KEYS:
        return bool(re.match(r"[\u3400-\u9fff]", head))
    return False


def _find_labels(
    text: str,
    table: LabelTable,
    readings: list[str] | None = None,
    starts: set[int] = frozenset(),
    chars: list[_Char] | None = None,
) -> list[_Hit]:
    hits: list[_Hit] = []
    i = 0
    closing_tried = False
    while i < len(text):
        at_boundary = i == 0 or i in starts or text[i - 1] in SEPARATORS or (bool(hits) and hits[-1].end == i)
        hit = _exact_at(text, i, table, readings) or _question_label_at(text, i, table)
        if hit is None and at_boundary and not any(_exact_at(text, j, table) for j in (i + 1, i + 2)):
            # (an exact label a character or two on means those characters are a value: "汉出生日期")
            hit = _fuzzy_at(text, i, table) or _colon_label_at(text, i, table)
            if hit is not None and not hit.label.word in table.labels and hits and hits[-1].end == i - 1 \
                    and text[i - 1] == ":":
                # right after "label：" stands its value: "李金锁学历：" is 李金锁 and the label 学历
                inner = _colon_label_before(text, i, hit.end, table)
                if inner is not None and inner.start > i:
                    hit = None
        if hit is None and (i == 0 or bool(hits) and hits[-1].end == i):
            hit = _header_word_at(text, i, table, chars)
        if hit is not None and hits and hits[-1].end == i and _value_before_compound(hit, hits[-1], text):
            hit = None
        if hit is not None and _names_a_place(hit, text, table):
            hit = None
        if hit is None and text[i] == ":" and hits and hits[-1].end < i - 2:
            colon = _colon_label_before(text, hits[-1].end, i, table)
            if colon is not None:  # "姓名：李金锁" + "学历：" in one line
                hits.append(colon)
                i += 1
                continue
        if hit is None and i > 0 and not (hits and hits[-1].end == i) and not closing_tried:
            closing_tried = True  # (what ends the line from a later place was tried from here)
            closing = _closing_label_at(text, i, table, chars)
            if closing is not None:
                hits.append(closing)
                break
        if hit is not None and (
            at_boundary
            or _accept_inside(hit, text, table)
            or _closes_value(hits, text, i)
            or not hits and chars is not None and _qualified_label(hit, text, chars, table, starts)
        ):
            hits.append(hit)
            i = hit.end
            continue
        i += 1
    return hits


def _names_a_place(hit: _Hit, text: str, table: LabelTable) -> bool:
    """A label word that begins a written name (民族路, 文化馆, 民族村, 文化站干部): a plain noun, no head
    noun ending it, that runs on with no colon into the ending of a place or workplace, and what follows
    is no value of that field (民族 + 回 stays a label and its value)."""
    rest = text[hit.end :]
    if not rest or not rest[0] in VALUE_ENDINGS or hit.label.takes_label:
        return False
    if any(text[hit.start : hit.end].endswith(suffix) for suffix, _keys in table.heads):
        return False  # a wording ending in its head noun is whole (批准日期, then writing)
    key = hit.label.person_key or hit.label.key
    return not (key in CODED_KEYS and any(_valid_value(key, rest[:n]) for n in range(1, min(len(rest), 6) + 1)))


def _colon_label_before(text: str, since: int, colon: int, table: LabelTable) -> _Hit | None:
    """A second "label：value" on one line, after the first one's value: the shortest Han wording of two
    to six characters before the colon that is a label or its words read as one, some writing before it."""
    for start in range(colon - 2, max(since, colon - 6) , -1):
        piece = text[start:colon]
        if not all(_is_han(c) for c in piece):
            break
        label = table.labels.get(piece) or _guess_label(piece, table)
        if label is not None and (label.key or label.person):
            return _Hit(start, colon, label, 0)
    return None


def _closing_label_at(text: str, i: int, table: LabelTable, chars: list[_Char] | None) -> _Hit | None:
    """A label the table does not know that ends a line after writing, its value in the next box
    ("随夫迁移" + "迁出时间", then "三月二十六日"): the rest of the line from some point at or after i is
    one wording of three to six characters that begins with a word labels are read by and ends in a
    date or place head noun, evenly set; of several, the shortest. (A value ending in a label word,
    "退休回原籍", ends in no head noun.)"""
    words = {w for r in table.keywords for w in r.any} | {w for w, t in table.title_cues if t in EVENT_DATE_OF_TYPE}
    for start in range(max(i, len(text) - 3), max(i, len(text) - 6) - 1, -1):
        piece = text[start:]
        if start == 0 or not all(_is_han(c) for c in piece) or not _is_han(text[start - 1]):
            continue
        if not any(piece.startswith(w) for w in words):
            continue
        heads = [suffix for suffix, keys in table.heads if piece.endswith(suffix) and len(piece) > len(suffix)
                 and ("birth_date" in keys or "address" in keys)]
        if not heads or piece.endswith(VALUE_ENDINGS) or _label_value(piece, table):
            continue
        if chars is not None and not _evenly_set(chars[start:]):
            continue
        label = _guess_label(piece, table)
        if label is not None:
            return _Hit(start, len(text), label, 0)
    return None


CODED_KEYS = ("sex", "ethnicity", "relation_to_head", "education", "marital_status", "id_number") + DATE_KEYS


def _closes_value(hits: list[_Hit], text: str, i: int) -> bool:
    """A label word mid-line is a label when the text since the previous label is a whole coded
    value of that label ("文化程度初中住址…"); after free text ("住址新华街民族路") it is not."""
    if not hits:
        return False
    key = hits[-1].label.person_key or hits[-1].label.key
    return key in CODED_KEYS and _valid_value(key, text[hits[-1].end : i])


def _merge_qualified(hits: list[_Hit]) -> list[_Hit]:
    """An unknown qualifier right before a field label is part of it ("迁入人" + "姓名")."""
    out: list[_Hit] = []
    for hit in hits:
        previous = out[-1] if out else None
        if previous and previous.end == hit.start and not previous.label.key and not previous.label.person \
                and (hit.label.key or hit.label.person):
            out[-1] = _Hit(previous.start, hit.end, hit.label, previous.errors + hit.errors)
        else:
            out.append(hit)
    return out


def _value_before_compound(hit: _Hit, previous: _Hit, text: str) -> bool:
    """Right after 与户主关系, "户主文化程度" is the value 户主 and the label 文化程度,
    not the head's education: a role word that is a fitting value of the label before."""
    label = hit.label
    if not label.person or label.key:
        return False
    for size in (2, 1):
        prefix = text[hit.start : hit.start + size]
        if _valid_value(previous.label.person_key or previous.label.key, prefix):
            return True
    return False


def _accept_inside(hit: _Hit, text: str, table: LabelTable) -> bool:
    """A label word found inside a value ("民族路") is a label only when the text after it fits."""
    rest = text[hit.end :]
    if rest.startswith(":"):
        return True
    key = hit.label.person_key or hit.label.key
    if len(hit.label.word) >= 3 and key not in ("", "name"):
        return True
    return _plausible_value(key, rest)


# --------------------------------------------------------------------------- reading the page


@dataclass
class _Layout:
    runs: list[_Run]
    segments: list[_Segment]
    width: int
    height: int


def _read_layout(ocr: OcrResult, table: LabelTable) -> _Layout:
    # Text set at a slant on a straightened page is a seal's ring or a stamp, not a label or a value.
    runs = [_Run(_line_chars(line), line.vertical) for line in ocr.lines if line.text.strip() and not _slanted(line)]
    runs = [r for r in runs if r.chars]
    runs = _join_split_labels(runs, table)
    segments: list[_Segment] = []
    sizes = sorted(_width(r.box) if r.vertical else _height(r.box) for r in runs)
    for index, run in enumerate(runs):
        if _is_title(_plain(run.text), table) or _is_sentence(run.text) or _cued_title(run, sizes, ocr, table):
            segments.append(_Segment(run.chars, run.vertical, index, 0, title=True))
        elif run.printed and (guessed := _guess_label(_plain(run.text), table)) is not None:
            segments.append(_Segment(run.chars, run.vertical, index, 0, label=guessed))
        else:
            segments.extend(_cut_run(index, run, table))
    for seg in segments:
        if seg.label is not None and seg.label.takes_label:
            named = _next_in_row(seg, segments)
            if named is not None and named.label is not None:
                named.label = None
    _adopt_unknown_labels(segments, table)
    _unlabel_table_cells(segments, table)
    _unlabel_written_beside(segments, table)
    known = [s for s in segments if s.label is not None and s.label.word in table.labels]
    for seg in segments:
        if seg.label is None and not seg.title and _label_debris(seg, segments, table) and not _in_table(seg, known, segments):
            # a whole wording its words read (祖籍, begun like the relation 祖父), else unreadable, but it
            # still ends its neighbour's cell, and its characters may tell the field
            seg.label = (len(seg.chars) >= 2 and _guess_label(_plain(seg.text), table)) \
                or LabelDef(word=seg.text, key="", guesses=_remnant_keys(_plain(seg.text), table))
    return _Layout(runs, segments, ocr.width, ocr.height)


def _adopt_unknown_labels(segments: list[_Segment], table: LabelTable) -> None:
    """Read labels the table does not know by their words (迁往详址 -> move_to), where the text
    stands as a label: before a colon, or lined up with the page's known labels."""
    known = [s for s in segments if s.label is not None and s.label.word in table.labels]
    # labels set downwards along a header row: those read by their words count too (族别 beside 性别)
    read = [s for s in segments if s.label is not None and s.vertical and (s.label.key or s.label.person)]
    for seg in segments:
        if seg.title:
            continue
        if seg.label is not None:
            if not seg.label.key and not seg.label.person and seg.label.word not in table.labels:
                seg.label = _guess_label(_plain(seg.text), table) or seg.label  # an unknown "text：" label
            continue
        text = _plain(seg.text)
        if not 2 <= len(text) <= 8 or not all(_is_han(c) for c in text) \
                or not _aligned_with(seg, known) and not (seg.vertical and _aligned_with(seg, read)):
            continue
        if _in_table(seg, known, segments):
            continue
        if any(_valid_value(k, text) for k in ("sex", "ethnicity", "relation_to_head", "education", "marital_status")) \
                and not _opens_its_row(seg, segments):
            continue  # (户主 is the value of 与户主关系, or the label of the head's name before it)
        guessed = _guess_label(text, table)
        if guessed is not None:
            seg.label = guessed
    # then the one header of a row of labels not yet read as one (the row's other labels read above)
    for seg in segments:
        text = _plain(seg.text)
        if seg.label is None and not seg.title and 2 <= len(text) <= 8 and all(_is_han(c) for c in text) \
                and _gap_in_label_row(seg, segments):
            seg.label = _guess_label(text, table)


def _unlabel_written_beside(segments: list[_Segment], table: LabelTable) -> None:
    """A box read as a label only by its words (末婚它婚: 未婚 struck out and 已婚 written, misread)
    that stands right after a label in its row, where that label's value goes, lined up with no
    other label, is the value written there: printed labels stand in columns, writing beside them."""
    read = [s for s in segments if s.label is not None and (s.label.key or s.label.person) and not s.vertical]
    for seg in segments:
        if seg.label is None or seg.vertical or seg.label.word in table.labels or seg.title:
            continue
        if any(s.run == seg.run and s is not seg for s in segments):
            continue  # a label and its value in one box
        before = [s for s in segments if s is not seg and not s.title and not s.vertical and _same_row(s.box, seg.box)
                  and s.box[2] <= seg.box[0] + 0.3 * _height(seg.box)]
        nearest = max(before, key=lambda s: s.box[2], default=None)
        if nearest is None or nearest.label is None or not (nearest.label.key or nearest.label.person):
            continue
        row = [s for s in segments if s is not seg and s.label is not None and _same_row(s.box, seg.box)]
        under = [s for s in segments if s.label is None and not s.title and _x_overlap(s.box, seg.box) > 0.3
                 and 0 <= s.box[1] - seg.box[3] <= 1.5 * _height(seg.box)]
        if len(row) > 2 or under:
            continue  # a row of column headers, the writing under them
        if not _aligned_with(seg, [s for s in read if s is not seg and s is not nearest]):
            seg.label = None


def _unlabel_table_cells(segments: list[_Segment], table: LabelTable) -> None:
    """A word read as a label only by its words (迁出, a stamp struck across a row of a household
    table) that stands in a row of writing under a header row is a cell, not a label: the rows under
    headers hold values, and a label of the page's own stands with no row of writing around it."""
    read = [s for s in segments if s.label is not None and (s.label.key or s.label.person)]
    for seg in segments:
        if seg.label is None or seg.label.word in table.labels or seg.title or not _in_table(seg, read, segments):
            continue
        if any(s.run == seg.run and s is not seg for s in segments):
            continue  # a label and its value in one box (族属：汉)
        row = [s for s in segments if s is not seg and s.label is None and not s.title and _same_row(s.box, seg.box)]
        if len(row) >= 3:
            seg.label = None


def _gap_in_label_row(seg: _Segment, segments: list[_Segment]) -> bool:
    """The only text of a row of three or more labels that is not read as one: a header the table
    does not know, between the column headers (出生时间 [祖籍] 文化)."""
    if seg.vertical:
        return False
    row = [s for s in segments if s is not seg and not s.title and not s.vertical and _same_row(s.box, seg.box)]
    labels = [s for s in row if s.label is not None and (s.label.key or s.label.person)]
    return len(labels) >= 3 and len(labels) == len(row) \
        and min(s.box[0] for s in labels) < seg.box[0] < max(s.box[0] for s in labels)


def _opens_its_row(seg: _Segment, segments: list[_Segment]) -> bool:
    """Text that stands where a label stands: no label just before it in its row, and writing
    right after it (a value has its label before it; a label has its value after it)."""
    if seg.vertical:  # printed downwards level with other labels (checked by the caller): a header if writing is below
        return any(s.label is None and not s.title and s.box[1] > seg.box[3] and _x_overlap(s.box, seg.box) > 0.5
                   for s in segments)
    row = [s for s in segments if s is not seg and not s.title and not s.vertical and _same_row(s.box, seg.box)]
    before = max((s for s in row if s.box[2] <= seg.box[0] + 0.3 * _height(seg.box)), key=lambda s: s.box[2], default=None)
    after = min((s for s in row if s.box[0] >= seg.box[2] - 0.3 * _height(seg.box)), key=lambda s: s.box[0], default=None)
    return (before is None or before.label is None) and after is not None and after.label is None


def _in_table(seg: _Segment, known: list[_Segment], segments: list[_Segment]) -> bool:
    """Under a row of three or more labels spanning it: a cell of a table, whatever it says."""
    box = seg.box
    above = [k for k in known if k.box[3] <= box[1] + 0.2 * _height(box)]
    if not above:
        return False
    nearest = max(above, key=lambda k: k.box[3])
    # (headers printed downwards start level, though their lengths differ)
    row = [k for k in above if _same_row(k.box, nearest.box) or _tops_aligned(k, nearest)]
    if any(k.vertical for k in row):  # labels printed downwards head columns only with no writing between them
        band = _union([k.box for k in row])
        if any(s.label is None and not s.title and _y_overlap(s.box, band) >= 0.5 and band[0] < (s.box[0] + s.box[2]) / 2 < band[2]
               for s in segments):
            return False
    return len(row) >= 3 and min(k.box[0] for k in row) - _height(box) <= box[0] and box[2] <= max(k.box[2] for k in row) + 3 * _height(box)


def _guess_label(text: str, table: LabelTable) -> LabelDef | None:
    person = ""
    for prefix, role in table.role_prefixes:
        if text.startswith(prefix) and len(text) > len(prefix):
            person, text = role, text[len(prefix) :]
            break
    rules = [r for r in table.keywords if r.matches(text)]
    # the head noun at the end says what kind of field (…姓名 a name, …日期 a date, …住址 a place);
    # the words before it say which one
    family = next((keys for suffix, keys in table.heads if text.endswith(suffix) and len(text) > len(suffix)), ())
    rules = [r for r in rules if r.key in family] or rules
    if not rules and "birth_date" in family:
        # a date qualified by the word a form's title names its event by (亡故 + 日期 on a death form)
        key = next((EVENT_DATE_OF_TYPE[t] for w, t in table.title_cues if t in EVENT_DATE_OF_TYPE and w in text), "")
        if key:
            return LabelDef(word=text, key=key if not person else "", person=person, person_key=key)
    if person and text in ("名", "名字"):  # 父名, 母名字
        return LabelDef(word=text, key=PERSON_FIELD_FOR_ROLE.get(person, ""), person=person, person_key="name")
    for rule in rules:
        if not person:
            moved = "move_from" if rule.key == "address" else ""
            return LabelDef(word=text, key=rule.key, person_key=rule.key, moved_key=moved)
        if rule.key == "name" or rule.key == PERSON_FIELD_FOR_ROLE.get(person):
            return LabelDef(word=text, key=PERSON_FIELD_FOR_ROLE.get(person, ""), person=person, person_key="name")
        if rule.key in PERSON_KEYS:
            return LabelDef(word=text, key="", person=person, person_key=rule.key)
        return None
    return None


def _aligned_with(seg: _Segment, known: list[_Segment]) -> bool:
    """Lined up with two known labels: left edges or centres in a column, or (printed downwards) tops in a row."""
    box = seg.box
    if seg.vertical:
        tol = 0.6 * _width(box)
        return sum(1 for k in known if k.vertical and abs(k.box[1] - box[1]) <= tol) >= 2
    tol = 0.6 * _height(box)
    centre = (box[0] + box[2]) / 2
    return (
        sum(
            1
            for k in known
            if not k.vertical and (abs(k.box[0] - box[0]) <= tol or abs((k.box[0] + k.box[2]) / 2 - centre) <= tol)
        )
        >= 2
    )


def _written_downwards(layout: _Layout) -> bool:
    """Most labels printed in columns: the page reads top to bottom, columns right to left."""
    labels = [s for s in layout.segments if s.label is not None]
    downwards = sum(1 for s in labels if s.vertical)
    values = [s for s in layout.segments if s.label is None and not s.title and len(s.chars) >= 2]
    written_down = sum(1 for s in values if s.vertical)
    return downwards >= 3 and downwards >= 0.6 * len(labels) and written_down >= 0.5 * len(values)


def _flowed(layout: _Layout, table: LabelTable) -> _Layout:
    """A page written downwards read as one running text, column after column, right to left.

    Vertical forms run "label value label value" down a column and wrap into the next
    one, so a value may begin at the foot of one column and end at the head of the next;
    read in order, every value simply follows its label.
    """
    titles = [s for s in layout.segments if s.title]
    columns: list[list[_Run]] = []
    stamp = _stamp_size(layout.segments)
    runs = [r for r in layout.runs if not _is_title(_plain(r.text), table)
            and not _stamped(_Segment(r.chars, r.vertical, -1, 0), stamp, layout.segments)]
    for run in sorted(runs, key=lambda r: -r.box[2]):
        for column in columns:
            if _x_overlap(_union([r.box for r in column]), run.box) > 0.5:
                column.append(run)
                break
        else:
            columns.append([run])
    chars: list[_Char] = []
    starts: set[int] = set()  # where a box begins: a label may start there
    for run in (run for column in columns for run in sorted(column, key=lambda r: r.box[1])):
        starts.add(len(chars))
        chars.extend(run.chars)
    flow = _Run(chars, vertical=True)
    segments = titles + (_cut_run(len(layout.runs), flow, table, starts) if chars else [])
    return _Layout([*layout.runs, flow], segments, layout.width, layout.height)


def _next_in_row(seg: _Segment, segments: list[_Segment]) -> _Segment | None:
    box = seg.box
    right = [
        s
        for s in segments
        if s is not seg and not s.title and s.box[0] >= box[2] - 0.5 * _height(box) and _same_row(s.box, box)
    ]
    return min(right, key=lambda s: s.box[0], default=None)


def _plain(text: str) -> str:
    """Text as labels and titles are matched: simplified characters, one for one (性別, 籍貫)."""
    return "".join(_t2s_char(c) for c in text)


def _is_sentence(text: str) -> bool:
    """A printed instruction ("二、迁入地户口登记机关凭此证办理落户手续。"): neither labels nor a value."""
    return len(text) >= 12 and text.rstrip()[-1:] in ("。", ".") and ":" not in text and "：" not in text


def _is_title(text: str, table: LabelTable) -> bool:
    """A form title is never cut into labels, though it may hold label words (出生登记表);
    a label that holds a title word (变更更正项目) stays a label."""
    if table.labels.get(text) or (text.endswith(":") and table.labels.get(text[:-1])):
        return False
    return any(t in text and len(text) <= len(t) + 6 for titles in table.titles.values() for t in titles)


def _cued_title(run: _Run, sizes: list[float], ocr: OcrResult, table: LabelTable) -> bool:
    """A title the table does not know (户籍底册): a short line across the middle of the top third,
    printed larger than most text on the page, holding a word form titles are read by, no colon;
    not a label however its words read."""
    text = "".join(c for c in _plain(run.text) if c not in SEPARATORS)
    size = _width(run.box) if run.vertical else _height(run.box)
    if not 4 <= len(text) <= 16 or ":" in run.text or run.box[1] > 0.35 * max(1, ocr.height) \
            or size < 1.4 * sizes[len(sizes) // 2] or run.vertical:
        return False
    if abs((run.box[0] + run.box[2]) / 2 - ocr.width / 2) > 0.12 * max(1, ocr.width):
        return False
    return _exact_at(text, 0, table) is None and any(word in text for word, _type in table.title_cues)


def _label_at_start(text: str, table: LabelTable) -> _Hit | None:
    return _exact_at(text, 0, table) or _fuzzy_at(text, 0, table)


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def _valid_value(key: str, text: str) -> bool:
    """Does `text` read as a value of `key` by the code tables (free text always does)?"""
    if key in DATE_KEYS:
        return normalize.parse_date(text) is not None
    if key == "sex":
        return normalize.normalize_sex(text) is not None
    if key == "ethnicity":
        return normalize.normalize_ethnicity(text)[0] is not None
    if key == "relation_to_head":
        return normalize.normalize_relation(text)[0] is not None
    if key == "education":
        return normalize.normalize_education(text)[1] is not None
    if key == "marital_status":
        return normalize.normalize_marital(text)[0] is not None
    if key in NAME_KEYS:
        return all(_is_han(c) or c == "·" for c in text) and 1 <= len(text) <= 8
    if key == "id_number":
        number = normalize.normalize_id(text)
        return number is not None and number.valid
    return bool(text)


def _join_split_labels(runs: list[_Run], table: LabelTable) -> list[_Run]:
    """Join a short piece with its neighbour when together they start with a longer label ("姓" + "名").

    A piece's neighbour in its own column comes first: labels printed downwards in a row of
    tall cells stand closer to the next label across than to their own second character.
    """
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(runs):
            if len(a.chars) > MAX_LABEL_JOIN or table.labels.get(_plain(a.text)):
                continue
            # a label printed downwards may come back as one box per character ("性" over "別")
            # only the next piece down its column: a column's pieces are read in order, none skipped
            below = sorted((b for b in runs if b is not a and (_stacked(a, b) or _heads_column(a, b))
                            and not _piece_between(a, b, runs) and _keeps_pitch(a, b, runs)),
                           key=lambda b: b.box[1])
            beside = [b for b in runs if b is not a and a.vertical == b.vertical and _next_to(a, b)]
            for b in below + beside:
                downwards = b in below
                joined = _plain(a.text + b.text)
                hit = _label_at_start(joined, table)
                # (a piece read with an error joins only as the exact start of the wording: not "汉" + "生地";
                # and the piece joined must bring some of the wording's own characters: not 出生年月 + 学)
                if hit is not None and hit.end > len(a.chars) and (
                    hit.errors == 0 or hit.label.word.startswith(_plain(a.text))
                    and _brings_wording(joined[len(a.chars) : hit.end], hit.label.word[len(a.chars) :])
                ) or (
                    downwards and (len(b.chars) == 1 and (len(a.chars) == 1 or a.vertical) or _heads_column(a, b))
                    and not all(any(_valid_value(k, _plain(p.text)) for k in CODED_KEYS if k not in DATE_KEYS) for p in (a, b))
                    and _label_pieces(joined, table, coded=(printed := _printed_here(a, b, runs, table)),
                                      loose=_alike(a, b) and printed)
                ):
                    runs[i] = _Run(a.chars + b.chars, a.vertical or downwards,
                                   printed=not (hit is not None and hit.end > len(a.chars)) and printed)
                    runs.remove(b)
                    changed = True
                    break
            if changed:
                break
    return runs


def _brings_wording(part: str, rest: str) -> bool:
    """A piece read after a label's start holds at least one of the characters the wording goes on with."""
    return bool(part) and (not rest or levenshtein(part, rest) < max(len(part), len(rest)))


def _piece_between(a: _Run, b: _Run, runs: list[_Run]) -> bool:
    """Another piece of a's column stands between a and the piece b below it."""
    top, bottom = (a.box[1] + a.box[3]) / 2, (b.box[1] + b.box[3]) / 2
    return any(
        c is not a and c is not b and a.box[0] <= (c.box[0] + c.box[2]) / 2 <= a.box[2]
        and top < (c.box[1] + c.box[3]) / 2 < bottom
        for c in runs
    )


def _label_pieces(text: str, table: LabelTable, coded: bool = False, loose: bool = False) -> bool:
    """Characters of printed label wording that together read as an unknown label by their words (生 + 地);
    with `coded`, also a word that could be a value (户 + 主 in a row of printed labels); with `loose`
    (lone characters set alike where labels stand), only the first need be a label character (婚 + 否)."""
    return (
        len(text) <= 4
        and all(c in table.label_chars for c in (text[:1] if loose else text))
        and (coded or not any(_valid_value(k, text) for k in CODED_KEYS if k not in DATE_KEYS))
        and _guess_label(text, table) is not None
    )


def _in_label_row(a: _Run, runs: list[_Run], table: LabelTable) -> bool:
    """The piece starts level with two or more printed labels set downwards (known, or read by their
    words): a cell of a header row."""
    size = max(_width(a.box), 1.0)
    return sum(
        1 for r in runs
        if r is not a and r.vertical and abs(r.box[1] - a.box[1]) <= size and 2 <= len(r.chars) <= 8
        and (table.labels.get(_plain(r.text)) or _guess_label(_plain(r.text), table) is not None)
    ) >= 2


def _in_label_column(a: _Run, runs: list[_Run], table: LabelTable) -> bool:
    """The piece stands in a column of two or more printed labels set downwards (known, or read by their
    words), and is set as they are: centred on the column, its characters no larger than theirs."""
    size = _width(a.box)
    centre = (a.box[0] + a.box[2]) / 2
    column = [
        r for r in runs
        if r is not a and r.vertical and 2 <= len(r.chars) <= 8
        and (table.labels.get(_plain(r.text)) or _guess_label(_plain(r.text), table) is not None)
        and abs((r.box[0] + r.box[2]) / 2 - centre) <= 0.3 * _width(r.box)
    ]
    return len(column) >= 2 and size <= 1.3 * max(_width(r.box) for r in column)


def _stacked(a: _Run, b: _Run) -> bool:
    """b, a character or two, stands just under a (a character or two, or a column): pieces of one
    column. Boxes of lone characters printed with wide spacing may overlap a little."""
    if len(b.chars) > 2 or a.vertical and b.vertical or not a.vertical and len(a.chars) > 2:
        return False
    ba, bb = a.box, b.box
    size = _width(ba) if a.vertical else max(_width(ba), _height(ba))
    gap = bb[1] - ba[3]
    below = (bb[1] + bb[3]) / 2 > (ba[1] + ba[3]) / 2 + 0.5 * min(size, _height(bb))
    return _x_overlap(ba, bb) > 0.5 and below and -0.5 * min(size, _height(bb)) <= gap <= 3.0 * size


def _printed_here(a: _Run, b: _Run, runs: list[_Run], table: LabelTable) -> bool:
    """The pieces stand where printed labels stand: a cell of a row of labels set downwards, or two lone
    characters set alike in a column of labels. There a word that could be written (户主) is a label."""
    return _in_label_row(a, runs, table) or _alike(a, b) and _in_label_column(a, runs, table)


def _keeps_pitch(a: _Run, b: _Run, runs: list[_Run]) -> bool:
    """b follows a down their column at the pitch of a printed word: no wider a step than the column's
    steps next to it (inside a or b, from the piece above a, to the piece below b). Labels down a
    column of cells stand further apart than the characters of one label (性 別 | 族 别 | 户 主)."""
    def centre(c: _Char) -> float:
        return (c.box[1] + c.box[3]) / 2

    def inner(r: _Run) -> list[float]:
        if not r.vertical or len(r.chars) < 2:
            return []
        return [(centre(r.chars[-1]) - centre(r.chars[0])) / (len(r.chars) - 1)]

    def in_column(r: _Run) -> bool:
        return r is not a and r is not b and a.box[0] <= (r.box[0] + r.box[2]) / 2 <= a.box[2]

    step = centre(b.chars[0]) - centre(a.chars[-1])
    steps = inner(a) + inner(b)
    above = max((r for r in runs if in_column(r) and centre(r.chars[-1]) < centre(a.chars[0])),
                key=lambda r: centre(r.chars[-1]), default=None)
    under = min((r for r in runs if in_column(r) and centre(r.chars[0]) > centre(b.chars[-1])),
                key=lambda r: centre(r.chars[0]), default=None)
    if above is not None:
        steps.append(centre(a.chars[0]) - centre(above.chars[-1]))
    if under is not None:
        steps.append(centre(under.chars[0]) - centre(b.chars[-1]))
    return not steps or step <= 1.3 * min(steps)


def _alike(a: _Run, b: _Run) -> bool:
    """Two lone characters set alike: boxes of about one size, as printed type is."""
    if len(a.chars) != 1 or len(b.chars) != 1:
        return False
    sa, sb = max(_width(a.box), _height(a.box)), max(_width(b.box), _height(b.box))
    return max(sa, sb) <= 1.3 * min(sa, sb)


def _heads_column(a: _Run, b: _Run) -> bool:
    """a, one character, stands at the head of b, a column of characters, one step of b's own pitch
    above it: the first character of a label printed downwards, read as a box of its own (出 + 生时间)."""
    if len(a.chars) != 1 or a.vertical or not b.vertical or len(b.chars) < 2 or _x_overlap(a.box, b.box) <= 0.5:
        return False
    centres = [(c.box[1] + c.box[3]) / 2 for c in b.chars]
    pitch = (centres[-1] - centres[0]) / (len(centres) - 1)
    step = centres[0] - (a.box[1] + a.box[3]) / 2
    return 0.6 * pitch <= step <= 1.5 * pitch


def _next_to(a: _Run, b: _Run) -> bool:
    """b continues a: to its right on the same row, or (vertical text) just below it."""
    ba, bb = a.box, b.box
    if a.vertical:
        gap = bb[1] - ba[3]
        return _x_overlap(ba, bb) > 0.5 and -0.3 * _width(ba) <= gap <= 2.5 * _width(ba)
    gap = bb[0] - ba[2]
    return _same_row(ba, bb) and -0.3 * _height(ba) <= gap <= 3.0 * _height(ba)


def _cut_run(index: int, run: _Run, table: LabelTable, starts: set[int] = frozenset()) -> list[_Segment]:
    """Cut a run into label and value segments, dropping separators and "(公历)"-style remarks."""
    text = _plain(run.text)
    readings = [_plain(c.ch + "".join(_fold_char(a.char) for a in c.alternatives[1:] if a.score >= MIN_READING))
                for c in run.chars]
    if all(len(r) == 1 for r in readings):
        readings = None
    starts = set(starts) | {i for i, c in enumerate(run.chars) if c.spaced}
    hits = _merge_qualified(_find_labels(text, table, readings, starts, run.chars))
    hits = _whole_label_words(hits, text, run.chars, table, starts)
    pieces: list[tuple[int, int, LabelDef | None]] = []
    cursor = 0
    for hit in hits:
        if hit.start > cursor:
            pieces.append((cursor, hit.start, None))
        pieces.append((hit.start, hit.end, hit.label))
        cursor = hit.end
    if cursor < len(text):
        pieces.append((cursor, len(text), None))
    segments: list[_Segment] = []
    previous_label = False
    for start, end, label in pieces:
        if label is None:
            start, end = _trim_value(text, start, end, after_label=previous_label)
            if start >= end:
                continue
        segments.append(
            _Segment(
                chars=run.chars[start:end],
                vertical=run.vertical,
                run=index,
                order=len(segments),
                label=label,
                after_label=previous_label and label is None,
            )
        )
        previous_label = label is not None
    return segments


def _whole_label_words(
    hits: list[_Hit], text: str, chars: list[_Char], table: LabelTable, starts: set[int] = frozenset()
) -> list[_Hit]:
    """Grow a label over the printed words around it that the table does not know: a qualifier
    before it at the start of the line (户籍 + 住址, 落户 + 地址) and a head noun after it
    (迁往 + 详址, 出生年月日 + 期). The grown wording is read by its words (`_guess_label`);
    it must be set like one printed word: label characters, evenly spaced."""
    out: list[_Hit] = []
    skip = -1
    for n, hit in enumerate(hits):
        if n == skip:
            continue
        start, end = hit.start, hit.end
        boundary = max((b for b in starts if b <= start), default=0)
        if n == 0 and 0 < start - boundary <= 4:
            if _qualifies(text[boundary:start], text, chars, boundary, end, table):
                start = boundary
        following = hits[n + 1].start if n + 1 < len(hits) else len(text)
        after = hits[n + 1] if n + 1 < len(hits) else None
        if after is not None and after.start == end and not (after.label.key or after.label.person) \
                and after.label.word not in table.labels:
            following = after.end  # the rest of the wording read as a label of its own ("址：")
        attribute = False
        for grow in (3, 2, 1):
            if end + grow > following or not _qualifies(text[end : end + grow], text, chars, start, end + grow, table):
                continue
            attribute = text[end : end + grow] in table.attributes
            if attribute or any(text[start : end + grow].endswith(suffix) for suffix, _keys in table.heads):
                end += grow
                break
        if (start, end) == (hit.start, hit.end):
            out.append(hit)
            continue
        # 民族 + 成份 is still 民族; a head noun after a label names the field anew (迁往 + 详址)
        guessed = hit.label if attribute and start == hit.start and hit.label.key else _guess_label(text[start:end], table)
        swallowed = after is not None and end > after.start
        if guessed is None or (hit.label.key and _family(guessed.key, table) != _family(hit.label.key, table)) \
                or swallowed and end < after.end:
            out.append(hit)
            continue
        if swallowed:
            skip = n + 1
        out.append(_Hit(start, end, guessed, hit.errors))
    return out


def _qualified_label(hit: _Hit, text: str, chars: list[_Char], table: LabelTable, starts: set[int]) -> bool:
    """A label word a few characters into a line, after words that qualify it (户籍住址)."""
    begin = max((b for b in starts if b <= hit.start), default=0)
    if not 0 < hit.start - begin <= 4 or not _qualifies(text[begin : hit.start], text, chars, begin, hit.end, table):
        return False
    guessed = _guess_label(text[begin : hit.end], table)
    return guessed is not None and (not hit.label.key or _family(guessed.key, table) == _family(hit.label.key, table))


def _qualifies(part: str, text: str, chars: list[_Char], start: int, end: int, table: LabelTable) -> bool:
    """Could `part` be more of the printed label text[start:end]? Han label characters, no coded
    value of its own, and the whole evenly spaced (a value written after a label stands apart)."""
    if not part or not all(_is_han(c) and c in table.label_chars for c in part):
        return False
    if any(_valid_value(k, part) for k in CODED_KEYS if k not in DATE_KEYS):
        return False
    return _evenly_set(chars[start:end])


def _evenly_set(chars: list[_Char]) -> bool:
    """Characters printed as one word: no gap much wider than the others."""
    centres = [((c.box[0] + c.box[2]) / 2, (c.box[1] + c.box[3]) / 2) for c in chars]
    steps = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(centres, centres[1:])]
    return not steps or max(steps) <= 1.6 * sorted(steps)[len(steps) // 2] + 1.0


def _family(key: str, table: LabelTable) -> tuple[str, ...]:
    return next((keys for _suffix, keys in table.heads if key in keys), (key,))


_REMARK = re.compile(r"^\((?:[^()0-9]{1,8})\)")


def _trim_value(text: str, start: int, end: int, after_label: bool) -> tuple[int, int]:
    piece = text[start:end]
    if after_label:
        remark = _REMARK.match(piece)
        if remark:
            start += remark.end()
    while start < end and text[start] in SEPARATORS - {"("} and not text[start:end].startswith("..."):
        start += 1
    while end > start and text[end - 1] in ":;,，、|｜":
        end -= 1
    return start, end


# --------------------------------------------------------------------------- pairing


@dataclass
class _Pair:
    label: _Segment
    right: list[_Segment] = field(default_factory=list)  # values in the same box or row
    below: list[_Segment] = field(default_factory=list)  # values under the label (columns)


def _pair(layout: _Layout) -> dict[int, _Pair]:
    """Give every value segment to at most one label; returns label segment id -> pair."""
    segs = layout.segments
    pairs = {id(s): _Pair(s) for s in segs if s.label is not None}
    owner: dict[int, tuple[_Segment, str]] = {}
    stamp = _stamp_size(segs)
    values = sorted((s for s in segs if s.label is None and not s.title and not _over_a_label(s, segs)
                     and not _stamped(s, stamp, segs)), key=lambda s: (s.box[1], s.box[0]))
    value_side = _vertical_label_side(segs)
    headers = _header_rows(segs)
    for value in values:
        found = (
            _owner_in_run(value, segs)
            or _owner_under_header(value, segs, headers)
            or _owner_in_row(value, segs, vertical_labels=False)
            or (_owner_in_row(value, segs, vertical_labels=True) if value_side == "right" else None)
            or _owner_riding_above(value, segs)
            or _owner_above(value, segs, owner)
            or _owner_above_offset(value, segs)
            or (_owner_column_right(value, segs) if value_side == "left" else None)
            or _owner_row_right(value, segs)
        )
        if found is None:
            continue
        label, mode = found
        owner[id(value)] = (label, mode)
        target = pairs[id(label)]
        (target.right if mode == "right" else target.below).append(value)
    if _rejoin_trailing_words(layout, pairs, owner):
        return _pair(layout)
    return pairs


def _rejoin_trailing_words(layout: _Layout, pairs: dict[int, _Pair], owner: dict[int, tuple[_Segment, str]]) -> bool:
    """A label word that ends a line of writing and gets no value of its own is part of that
    writing ("退休回原籍" is a reason, not a reason and an empty 原籍): join it back."""
    segs = layout.segments
    changed = False
    for seg in list(segs):
        pair = pairs.get(id(seg))
        if pair is None or pair.right or pair.below or seg.order == 0 or not (seg.label.key or seg.label.person):
            continue
        run = [s for s in segs if s.run == seg.run]
        first = min(run, key=lambda s: s.order)
        before = next((s for s in run if s.order == seg.order - 1), None)
        if seg is not max(run, key=lambda s: s.order) or first.label is not None or before is None:
            continue
        if before.label is not None or id(before) not in owner:
            continue
        joined = dataclasses.replace(before, chars=before.chars + seg.chars)
        segs[segs.index(before)] = joined
        segs.remove(seg)
        changed = True
    return changed


def _thickness(seg: _Segment) -> float:
    """The size of a segment's characters across its line."""
    return _width(seg.box) if seg.vertical else _height(seg.box)


def _stamped(seg: _Segment, stamp: float, segs: list[_Segment]) -> bool:
    """A rubber stamp struck across the writing: characters of a stamp's size, large both across the
    line and along it (a box two lines of writing tall is not of large characters), over other text.
    A large hand alone is not a stamp (a name written big in its cell)."""
    along = (_height(seg.box) if seg.vertical else _width(seg.box)) / max(1.0, sum(_char_width(c.ch) for c in seg.chars))
    if _thickness(seg) <= stamp or along <= 0.6 * stamp:
        return False
    box = seg.box
    return any(
        o.run != seg.run and not any(c is o.chars[0] for c in seg.chars) and not o.title and _x_cover(o.box, box) > 0 and min(o.box[3], box[3]) > max(o.box[1], box[1])
        for o in segs
    )


def _stamp_size(segs: list[_Segment]) -> float:
    """Characters this large are a rubber stamp's (注销, 死亡 across the cells), not printed or written:
    far larger than both the printed labels and most of the writing on the page."""
    labels = sorted(_thickness(s) for s in segs if s.label is not None and not s.title)
    written = sorted(_thickness(s) for s in segs if s.label is None and not s.title)
    if len(labels) < 3 or len(written) < 3:
        return float("inf")
    return max(2.5 * labels[len(labels) // 2], 1.8 * written[len(written) // 2])


def _over_a_label(value: _Segment, segs: list[_Segment]) -> bool:
    """Text printed over a label of another line (a seal's ring, a stamp) is no one's value:
    writing goes in the blank beside or under a label, not across it."""
    box = value.box
    area = _width(box) * _height(box)
    for s in segs:
        if s.label is None or s.run == value.run or s.title:
            continue
        lb = s.box
        cover = max(0.0, min(lb[2], box[2]) - max(lb[0], box[0])) * max(0.0, min(lb[3], box[3]) - max(lb[1], box[1]))
        if cover >= 0.3 * min(area, _width(lb) * _height(lb)):
            return True
    return False


def _header_rows(segs: list[_Segment]) -> list[list[_Segment]]:
    """Rows of three or more labels side by side with no writing between them: column headers.

    Their values stand under them, however the headers are printed (across, or downwards
    in tall cells whose band would otherwise reach into the rows below).
    """
    labels = sorted((s for s in segs if s.label is not None and not s.title), key=lambda s: s.box[0])
    rows: list[list[_Segment]] = []
    for label in labels:
        for row in rows:
            if _same_row(row[0].box, label.box) or _tops_aligned(row[0], label):
                row.append(label)
                break
        else:
            rows.append([label])
    headers = []
    for row in rows:
        if len(row) < 3:
            continue
        band = _union([s.box for s in row])
        between = [
            s for s in segs
            if s.label is None and not s.title and _y_overlap(s.box, band) >= 0.5
            and band[0] < (s.box[0] + s.box[2]) / 2 < band[2]
        ]
        if not between:
            headers.append(row)
    return headers


def _tops_aligned(a: _Segment, b: _Segment) -> bool:
    """Two labels printed downwards that start at one height: cells of one header row."""
    if not (a.vertical or b.vertical):
        return False
    size = min(_width(a.box), _width(b.box))
    return abs(a.box[1] - b.box[1]) <= 1.5 * size and _y_overlap(a.box, b.box) >= 0.3


def _owner_under_header(
    value: _Segment, segs: list[_Segment], headers: list[list[_Segment]]
) -> tuple[_Segment, str] | None:
    """Under a header row, down to the next label below it: the header whose column the value is in."""
    box = value.box
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for row in headers:
        band = _union([s.box for s in row])
        if centre_y <= band[3] or not band[0] - _height(box) <= centre_x <= band[2] + _height(box):
            continue
        lower = [s.box[1] for s in segs if s.label is not None and s.box[1] > band[3] and s not in row
                 and s.box[2] > band[0] and s.box[0] < band[2]]
        if centre_y >= min(lower, default=float("inf")):
            continue
        best = max(row, key=lambda s: (_x_cover(s.box, box), -abs((s.box[0] + s.box[2]) / 2 - centre_x)))
        # the writing in a column runs on from its header; text far below the last of it
        # (a seal's ring at the foot of the form) is something else
        size = _width(box) if value.vertical else _height(box)
        above = [s.box[3] for s in segs if s is not value and not s.title and band[1] < s.box[3] <= box[1] + 0.3 * size
                 and _x_overlap(s.box, box) >= 0.3]
        if box[1] - max(above, default=band[3]) > 3.0 * size:
            return None
        return best, "below"
    return None


def _x_cover(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0]))


def _owner_in_run(value: _Segment, segs: list[_Segment]) -> tuple[_Segment, str] | None:
    if not value.after_label:
        return None
    for s in segs:
        if s.run == value.run and s.order == value.order - 1 and s.label is not None:
            return s, "right"
    return None


def _remnant_keys(text: str, table: LabelTable) -> tuple[str, ...]:
    """Field keys of the short printed labels that begin or end with these characters (别: 性别, 族别)."""
    keys = {
        d.key
        for w, d in table.labels.items()
        if d.key and not d.person and len(w) <= len(text) + 2 and w != text and (w.startswith(text) or w.endswith(text))
    }
    return tuple(sorted(keys))


def _label_debris(seg: _Segment, segs: list[_Segment], table: LabelTable) -> bool:
    """A character or two of label wording left in a column of printed labels: a label OCR could
    not read whole."""
    if len(seg.chars) > 2 or any(_valid_value(k, seg.text) for k in CODED_KEYS if k not in DATE_KEYS):
        return False
    if any(c not in table.label_chars for c in _plain(seg.text)):
        return False
    if seg.after_label or any(s.run == seg.run and s is not seg for s in segs):
        return False  # part of a line that holds a label: a value
    box = seg.box
    area = _width(box) * _height(box)
    if any(s.label is None and not s.title and s.run != seg.run
           and _x_cover(s.box, box) * max(0.0, min(s.box[3], box[3]) - max(s.box[1], box[1])) >= 0.3 * area
           for s in segs):
        return False  # over a line of writing: a seal's or a stamp's piece, not a printed label
    column = [s for s in segs if s.label is not None and _x_overlap(s.box, seg.box) > 0.5]
    return len(column) >= 2


def _vertical_label_side(segs: list[_Segment]) -> str:
    """Which side of a label printed downwards its value stands on, by a vote over the page.

    Right-to-left vertical forms put the value in the column left of its label; cards
    with a narrow label cell put it to the right. Only labels with a value close on one
    side and none on the other vote; a tie goes by the writing: vertical values, left.
    """
    votes = Counter()
    vertical_values = 0
    for label in (s for s in segs if s.label is not None and s.vertical):
        lb = label.box
        reach = 2.5 * _width(lb)
        near = {"left": False, "right": False}
        for s in segs:
            if s.label is not None or s.title or _y_overlap(s.box, lb) < 0.3:
                continue
            if 0 <= lb[0] - s.box[2] <= reach:
                near["left"] = True
                vertical_values += s.vertical
            elif 0 <= s.box[0] - lb[2] <= reach:
                near["right"] = True
                vertical_values += s.vertical
        if near["left"] != near["right"]:
            votes["left" if near["left"] else "right"] += 1
    if votes["left"] != votes["right"]:
        return "left" if votes["left"] > votes["right"] else "right"
    return "left" if vertical_values else "right"


def _owner_in_row(value: _Segment, segs: list[_Segment], vertical_labels: bool) -> tuple[_Segment, str] | None:
    """The nearest label to the left whose row the value shares; of labels about as near, the one
    it overlaps most (a value written over two lines may reach into the row below).
    With `vertical_labels`, only labels printed downwards in a tall cell, the value beside them."""
    if value.vertical:
        return None
    box = value.box
    candidates = []
    centre = (box[1] + box[3]) / 2
    if vertical_labels and any(
        s.label is not None
        and max(0.0, min(s.box[2], box[2]) - max(s.box[0], box[0])) >= 0.5 * _width(box)
        and 0 <= box[1] - s.box[3] <= (float("inf") if s.vertical else 3.0 * _height(box))
        for s in segs
    ):
        return None  # its label stands right above it
    for s in segs:
        if s.label is None or s.vertical != vertical_labels or s.run == value.run and s.order > value.order:
            continue
        lb = s.box
        if lb[2] > box[0] + 0.5 * _height(box):
            continue
        if s.vertical:  # a label printed down a tall narrow cell, its value written across beside it
            # the label may sit at the top of its tall cell and the value lower down: its band
            # reaches to the next label down the same column
            below = [o.box[1] for o in segs if o.label is not None and o.vertical and o.box[1] > lb[3] - 1
                     and _x_overlap(o.box, lb) > 0.5]
            reach = min(below, default=lb[3] + 2.0 * _height(lb))
            if lb[1] - 0.5 * _height(box) <= centre < reach:
                closeness = 1.0 / (1.0 + abs(centre - (lb[1] + lb[3]) / 2) / _height(box))
                candidates.append((lb[2], closeness, s))
            continue
        if max(_height(lb), _height(box)) > 3.0 * min(_height(lb), _height(box)):
            continue
        overlap = _y_overlap(lb, box)
        if overlap >= 0.25 and not _label_in_between(s, value, segs):
            candidates.append((lb[2], overlap, s))
    if not candidates:
        return None
    nearest = max(c[0] for c in candidates)
    close = [c for c in candidates if c[0] >= nearest - _height(box)]
    return max(close, key=lambda c: c[1])[2], "right"


def _label_in_between(label: _Segment, value: _Segment, segs: list[_Segment]) -> bool:
    """A label printed downwards stands between a label and a value of its row: the value is its."""
    lb, box = label.box, value.box
    return any(
        s.label is not None and s.vertical and s is not label
        and s.box[0] >= lb[2] - 0.2 * _width(s.box) and s.box[2] <= box[0] + 0.2 * _width(s.box)
        and s.box[1] <= (box[1] + box[3]) / 2 <= s.box[3]
        for s in segs
    )


def _owner_riding_above(value: _Segment, segs: list[_Segment]) -> tuple[_Segment, str] | None:
    """Handwriting rides above the printed line: a piece of a value just over a label's row, right
    of the label, on top of the rest of that value ("一九二五年" over "出生年月日：十二月四日")."""
    if value.vertical:
        return None
    box = value.box
    h = _height(box)
    best: _Segment | None = None
    for s in segs:
        if s.label is None or s.vertical:
            continue
        lb = s.box
        if not -0.3 * h <= lb[1] - box[3] <= 0.5 * h or lb[2] > box[0] + 0.5 * h:
            continue
        if best is None or lb[2] > best.box[2]:
            best = s
    if best is None:
        return None
    # only as the upper part of a value written on the label's own row, below this piece
    lb = best.box
    stacked = any(
        o.label is None and not o.title and o is not value and o.box[0] >= lb[2] - 0.5 * h
        and _same_row(o.box, lb) and _x_overlap(o.box, box) >= 0.3
        for o in segs
    )
    return (best, "right") if stacked else None


def _owner_above(
    value: _Segment, segs: list[_Segment], owner: dict[int, tuple[_Segment, str]]
) -> tuple[_Segment, str] | None:
    box = value.box
    best: _Segment | None = None
    for s in segs:
        if s is value:
            continue
        sb = s.box
        if sb[3] > box[1] + 0.3 * _height(box) or _x_overlap(sb, box) < 0.3:
            continue
        gap = box[1] - sb[3]
        if gap > 3.0 * max(_height(sb), _height(box), 1.0) and not s.vertical:
            continue
        if best is None or sb[3] > best.box[3]:
            best = s
    if best is None:
        return None
    if best.label is not None:
        return best, "below"
    above = owner.get(id(best))
    if above is None or best.vertical != value.vertical or _label_between(best, value, segs):
        return None  # (a column of text under a line of writing does not continue it: a seal, a note)
    if above[1] == "right" and not value.vertical and box[1] - best.box[3] > 0.8 * max(_height(box), _height(best.box)):
        return None  # a second line of a value follows closely; further down is something else
    return above  # the value continues the one above it: same label, same way


def _label_between(upper: _Segment, lower: _Segment, segs: list[_Segment]) -> bool:
    """A label in the rows between two values of one column: they belong to different fields."""
    top, bottom = upper.box[3], lower.box[1]
    thickness = _width(lower.box) if lower.vertical else _height(lower.box)
    left, right = lower.box[0] - (0.0 if lower.vertical else 4.0 * thickness), lower.box[2]
    for s in segs:
        if s.label is None:
            continue
        if top < s.box[1] < bottom and s.box[2] > left and s.box[0] < right:
            return True
    return False


def _owner_above_offset(value: _Segment, segs: list[_Segment]) -> tuple[_Segment, str] | None:
    """A value written under its label but indented past it (a label in the cell's corner)."""
    if value.vertical:
        return None
    box = value.box
    h = _height(box)
    best: tuple[float, _Segment] | None = None
    for s in segs:
        if s.label is None or s.vertical:
            continue
        lb = s.box
        gap = box[1] - lb[3]
        if gap < -0.3 * h or gap > 2.5 * max(h, _height(lb)) or box[0] < lb[0] - h or box[0] - lb[2] > 4.0 * h:
            continue
        distance = max(0.0, gap) + max(0.0, box[0] - lb[2])
        if best is None or distance < best[0]:
            best = (distance, s)
    return (best[1], "below") if best is not None else None


def _owner_row_right(value: _Segment, segs: list[_Segment]) -> tuple[_Segment, str] | None:
    """Right-to-left forms put the label at the end of the row: the nearest label to the right,
    when nothing stands to that label's own right."""
    if value.vertical:
        return None
    box = value.box
    right = [s for s in segs if s.label is not None and not s.vertical and s.box[0] >= box[2] - 0.3 * _height(box)
             and _same_row(s.box, box)]
    if not right:
        return None
    label = min(right, key=lambda s: s.box[0])
    lb = label.box
    if any(o is not label and not o.title and o.box[0] >= lb[2] - 0.3 * _height(lb) and _same_row(o.box, lb) for o in segs):
        return None
    return label, "right"


def _owner_column_right(value: _Segment, segs: list[_Segment]) -> tuple[_Segment, str] | None:
    """Vertical forms read right to left: a label column's value may stand in the next column."""
    box = value.box
    best: _Segment | None = None
    for s in segs:
        if s.label is None or not s.vertical:
            continue
        sb = s.box
        if sb[0] < box[2] - 0.3 * _width(box) or _y_overlap(sb, box) < 0.3:
            continue
        if best is None or sb[0] < best.box[0]:
            best = s
    return (best, "right") if best is not None else None


# --------------------------------------------------------------------------- tables of people


@dataclass
class _Table:
    """A row of column headers and the values written in the rows under it."""

    columns: list[_Pair]  # left to right
    values: list[_Segment]


def _tables(layout: _Layout, pairs: dict[int, _Pair]) -> list[_Table]:
    """Rows of three or more labels with values under them (and none beside): tables of people.

    The table reaches down to the next label below its header; every value in between that
    no label beside it claims is a cell, however far its column's chain of values was broken.
    """
    heads = [p for p in pairs.values() if not p.right]
    rows: list[list[_Pair]] = []
    for pair in sorted(heads, key=lambda p: p.label.box[0]):
        for row in rows:
            if _same_row(row[0].label.box, pair.label.box):
                row.append(pair)
                break
        else:
            rows.append([pair])
    tables = []
    stamp = _stamp_size(layout.segments)
    for row in rows:
        if len(row) < 3 or not any(p.below for p in row):
            continue
        header = _union([p.label.box for p in row])
        in_row = {id(p.label) for p in row}
        below = [s.box[1] for s in layout.segments if s.label is not None and id(s) not in in_row and s.box[1] > header[3]]
        bottom = min(below, default=float("inf"))
        # another person's column (父姓名 on a one-line birth form) keeps its own values
        others = [p for p in row if p.label.label is not None and p.label.label.person]
        claimed = {id(v) for p in pairs.values() if id(p.label) not in in_row for v in p.right}
        claimed |= {id(v) for p in others for v in p.right + p.below}
        first, last = row[0].label.box, row[-1].label.box
        row = [p for p in row if p not in others]
        left, right = first[0] - 0.75 * _width(first), last[2] + 2.0 * _width(last)
        values = [
            s
            for s in layout.segments
            if s.label is None
            and not s.title
            and id(s) not in claimed
            and not _stamped(s, stamp, layout.segments)
            and header[3] - 0.2 * _height(header) < (s.box[1] + s.box[3]) / 2 < bottom
            and left < (s.box[0] + s.box[2]) / 2 < right
        ]
        tables.append(_Table(row, _written_on(header, values)))
    return tables


def _written_on(header: tuple[float, float, float, float], values: list[_Segment]) -> list[_Segment]:
    """The values that run on down their column from the header: writing follows row after row,
    so text far below the last writing above it (a seal's ring at the foot of the form) is not a cell."""
    kept: list[_Segment] = []
    for value in sorted(values, key=lambda s: s.box[1]):
        box = value.box
        size = _width(box) if value.vertical else _height(box)
        bottom = max((k.box[3] for k in kept if _x_overlap(k.box, box) >= 0.3), default=header[3])
        if box[1] - bottom > 3.0 * max(size, min(_height(header), 2.0 * size)):
            continue
        kept.append(value)
    return kept


def _table_people(table: _Table) -> list[dict[str, tuple[LabelDef, list[_Segment]]]]:
    """Split the values under a header row into people: a new person starts at each value in the name column.

    Detection often joins neighbouring cells of a row into one box ("张有才户主男汉"); its
    characters are dealt to the columns by their position under the header labels.
    """
    columns = table.columns
    bounds = _column_bounds(columns, table.values)
    cells: list[tuple[_Pair, _Segment]] = []
    for value in table.values:
        for index, piece in _split_at(value, bounds):
            cells.append((columns[index], piece))
    cells.sort(key=lambda c: (c[1].box[1] + c[1].box[3]) / 2)
    name_pair = next((p for p in columns if _key_of(p.label.label) == "name"), None)
    if name_pair is not None and any(c[0] is name_pair for c in cells):
        bands = _split_bands_at_names(cells, name_pair)
    else:
        bands = []
        for cell in cells:
            if bands and _y_overlap(_union([c[1].box for c in bands[-1]]), cell[1].box) > 0.4:
                bands[-1].append(cell)
            else:
                bands.append([cell])
    people = []
    for band in bands:
        person: dict[str, tuple[LabelDef, list[_Segment]]] = {}
        for pair, seg in sorted(band, key=lambda c: (c[1].box[1], c[1].box[0])):
            assert pair.label.label is not None
            key = _key_of(pair.label.label)
            person.setdefault(key, (pair.label.label, []))[1].append(seg)
        people.append(person)
    return people


def _column_bounds(columns: list[_Pair], values: list[_Segment], steps: int = 40) -> list[float]:
    """Where one column ends: in the widest gap of written characters between two headers.

    Headers are printed centred in their cells, values written from the cell's left edge,
    so the midpoint between two headers can fall inside the next column's values.
    """
    # the ink of a character, narrower than its share of the line: gaps between cells show
    spans = []
    for c in (c for v in values for c in v.chars):
        centre, half = (c.box[0] + c.box[2]) / 2, 0.3 * _height(c.box) * _char_width(c.ch)
        spans.append((centre - half, centre + half))
    bounds = []
    for a, b in zip(columns, columns[1:]):
        lo, hi = a.label.box[2], b.label.box[0]
        if hi - lo < 2:
            bounds.append((lo + hi) / 2)
            continue
        xs = [lo + (hi - lo) * k / steps for k in range(steps + 1)]
        cover = [sum(1 for x0, x1 in spans if x0 <= x <= x1) for x in xs]
        least = min(cover)
        best: tuple[int, int] = (0, 0)  # (length, start index) of the longest run at the least cover
        k = 0
        while k < len(xs):
            if cover[k] != least:
                k += 1
                continue
            start = k
            while k < len(xs) and cover[k] == least:
                k += 1
            best = max(best, (k - start, start))
        length, start = best
        bounds.append((xs[start] + xs[start + length - 1]) / 2)
    return bounds


def _split_at(value: _Segment, bounds: list[float]) -> list[tuple[int, _Segment]]:
    """Cut a value into pieces by column: (column index, piece), in order."""
    pieces: list[tuple[int, _Segment]] = []
    for ch in value.chars:
        index = bisect.bisect(bounds, (ch.box[0] + ch.box[2]) / 2)
        if pieces and pieces[-1][0] == index:
            pieces[-1][1].chars.append(ch)
        else:
            pieces.append((index, _Segment([ch], value.vertical, value.run, value.order)))
    return pieces


def _split_bands_at_names(
    cells: list[tuple[_Pair, _Segment]], name_pair: _Pair
) -> list[list[tuple[_Pair, _Segment]]]:
    names = sorted((c for c in cells if c[0] is name_pair), key=lambda c: c[1].box[1])
    bands: list[list[tuple[_Pair, _Segment]]] = [[] for _ in names]
    for cell in cells:
        box = cell[1].box
        overlaps = [_y_overlap(n[1].box, box) for n in names]
        best = max(range(len(names)), key=lambda k: overlaps[k])
        if overlaps[best] < 0.3:  # a continuation line: the last person whose name is above it
            centre = (box[1] + box[3]) / 2
            best = max([k for k, n in enumerate(names) if (n[1].box[1] + n[1].box[3]) / 2 <= centre], default=0)
        bands[best].append(cell)
    return bands


def _key_of(label: LabelDef | None) -> str:
    if label is None:
        return ""
    return label.person_key if label.person else label.key


# --------------------------------------------------------------------------- classification


def classify(ocr: OcrResult) -> tuple[str, float]:
    """Document type from the title, else from the labels present; with a confidence 0..1."""
    table = load_labels()
    layout = _read_layout(ocr, table)
    pairs = _pair(layout)
    return _classify(layout, pairs, table)


def _classify(layout: _Layout, pairs: dict[int, _Pair], table: LabelTable) -> tuple[str, float]:
    title = _title_type(layout, table)
    if title is not None:
        return title
    votes: dict[str, float] = {}
    keys = set()
    for pair in pairs.values():
        label = pair.label.label
        assert label is not None
        keys.add(label.key)
        if label.doc_hint:
            votes[label.doc_hint] = votes.get(label.doc_hint, 0.0) + 1.0
    for doc_type, fields in table.type_fields.items():
        hits = sum(1 for k in fields if k in keys)
        if hits:
            votes[doc_type] = votes.get(doc_type, 0.0) + 0.5 * hits
    people = sum(len(_table_people(t)) for t in _tables(layout, pairs))
    if people >= 2:
        votes["household_register"] = votes.get("household_register", 0.0) + 0.5 * people
    if not votes:
        if "name" in keys:
            return "resident_registration", 0.4
        return "other", 0.3
    best = max(votes, key=lambda t: votes[t])
    share = votes[best] / sum(votes.values())
    return best, round(0.4 + 0.4 * share, 3)


def _title_type(layout: _Layout, table: LabelTable) -> tuple[str, float] | None:
    """The best title wording among the non-label text, favouring short lines near the top;
    else the words of the largest title-like line near the top (身份证 …申请表, 死亡…销户登记)."""
    best: tuple[float, str] | None = None
    for run in layout.runs:
        text = "".join(c for c in _plain(run.text) if c not in SEPARATORS)
        if len(text) < 2:
            continue
        label_like = _label_at_start(text, table) is not None and len(text) <= 8
        top = run.box[1] / max(1, layout.height)
        for doc_type, titles in table.titles.items():
            for title in titles:
                found = _title_match(text, title)
                if found is None or label_like and found < 1.0:
                    continue  # (a whole title wording may start like a label: 身份证申领表)
                score = found * len(title) / max(len(text), len(title)) + (0.3 if top < 0.3 else 0.0)
                score += 0.02 * len(title)  # the longer wording is the more specific type
                if best is None or score > best[0]:
                    best = (score, doc_type)
    if best is None or best[0] < 0.35:
        return _title_by_cues(layout, table)
    return best[1], round(min(0.99, 0.7 + 0.3 * min(1.0, best[0])), 3)


DOCUMENT_NOUNS = "证表书簿册单卡"  # 证明/登记表/申请书/登记簿/底册/…单/…卡: the last character of a paper's name


def _title_by_cues(layout: _Layout, table: LabelTable) -> tuple[str, float] | None:
    """A title the table does not know, read by its words: the tallest short line in the top third
    that is not a label, tried against the cue words in order."""
    sizes = sorted(_width(run.box) if run.vertical else _height(run.box) for run in layout.runs)
    typical = sizes[len(sizes) // 2] if sizes else 0.0
    lines = []
    for run in layout.runs:
        text = "".join(c for c in _plain(run.text) if c not in SEPARATORS)
        size = _width(run.box) if run.vertical else _height(run.box)
        paper = text[-1:] in DOCUMENT_NOUNS
        shortest = 3 if paper else 4  # 准迁证, 迁移证: a short title ends in what the paper is
        if not shortest <= len(text) <= 16 or run.box[1] > 0.35 * layout.height:
            continue
        # a line starting like a label (准迁… as in 准迁地址) is still the title when it names a paper in large print
        if _label_at_start(text, table) and not (paper and size >= 1.5 * typical):
            continue
        lines.append((size, text))
    for _size, text in sorted(lines, reverse=True)[:2]:
        for word, doc_type in table.title_cues:
            if word in text:
                return doc_type, 0.6
    return None


def _title_match(text: str, title: str) -> float | None:
    """1.0 when the title is in the text; less with OCR errors in titles of four or more characters."""
    if title in text:
        return 1.0
    if len(title) < 4 or len(text) > len(title) + 6:
        return None
    allowed = 1 if len(title) <= 6 else 2
    for start in range(0, max(1, len(text) - len(title) + 2)):
        for span in (len(title) - 1, len(title), len(title) + 1):
            window = text[start : start + span]
            if len(window) < len(title) - 1:
                continue
            errors = levenshtein(window, title)
            if errors <= allowed:
                return 1.0 - 0.25 * errors
    return None


# --------------------------------------------------------------------------- fields


def _is_ditto(text: str, table: LabelTable, key: str = "") -> bool:
    """A ditto mark; with a key, also what OCR makes of a handwritten 〃 where no such value fits."""
    return _is_sure_ditto(text, table) or bool(key) and _is_ditto_lookalike(text, table, key)


def _is_sure_ditto(text: str, table: LabelTable) -> bool:
    return normalize.is_ditto(text) or text in table.ditto_marks


NUMBER_KEYS = ("id_number", "serial_no")  # a lone "1" or "11" may be the value itself


def _is_ditto_lookalike(text: str, table: LabelTable, key: str) -> bool:
    """A short cell of stroke-like glyphs (11, ⅱ, i1, リ, ") in a column that cannot hold it as a value:
    a coded field none of whose codes it reads as, a date, a name, a place or other free text with
    no Han character. Numeric fields never: there "11" may be the value."""
    if key in NUMBER_KEYS:
        return False
    folded = unicodedata.normalize("NFKC", re.sub(r"\s+", "", text))  # ⅱ -> ii
    if not 1 <= len(folded) <= 3 or any(c not in table.ditto_lookalikes for c in folded):
        return False
    if key in CODE_TABLE_KEYS or key in DATE_KEYS or key in NAME_KEYS:
        return not _valid_value(key, folded)
    return not any(_is_han(c) for c in folded)  # free text (places, occupation …) is written in Han


def _raw_and_chars(segments: list[_Segment], dotted: bool = False) -> tuple[str, list[_Char]]:
    """The pieces' text in reading order. `dotted`: digit groups in pieces of their own are
    parts of a date whose separators went with the cut ("74" "·12" ".28" read as 74 12 28);
    digits read one to a piece ("1" "2" down a column) are one number."""
    chars: list[_Char] = []
    previous: _Segment | None = None
    for seg in _in_reading_order(segments):
        if (
            dotted and previous is not None and seg.chars and chars[-1].ch.isdigit() and seg.chars[0].ch.isdigit()
            and not (len(previous.chars) == 1 and len(seg.chars) == 1)
        ):
            chars.append(_Char(".", _union([chars[-1].box, seg.chars[0].box]), 1.0, []))
        chars.extend(seg.chars)
        previous = seg
    return "".join(c.ch for c in chars), chars


def _in_reading_order(segments: list[_Segment]) -> list[_Segment]:
    """Vertical pieces right to left; horizontal ones in rows (grown by overlap), left to right."""
    columns: list[list[_Segment]] = []
    for seg in sorted((s for s in segments if s.vertical), key=lambda s: -s.box[2]):
        if columns and _x_overlap(_union([x.box for x in columns[-1]]), seg.box) > 0.5:
            columns[-1].append(seg)
        else:
            columns.append([seg])
    across: list[_Segment] = []
    for seg in (s for s in segments if not s.vertical):
        # a character or two read as a line of its own inside a column belongs there, in its place
        column = next((c for c in columns if len(seg.chars) <= 2 and _x_overlap(_union([x.box for x in c]), seg.box) > 0.5), None)
        (column if column is not None else across).append(seg)
    rows: list[list[_Segment]] = []
    for seg in sorted(across, key=lambda s: s.box[1]):
        if rows and _y_overlap(_union([x.box for x in rows[-1]]), seg.box) > 0.5:
            rows[-1].append(seg)
        else:
            rows.append([seg])
    return [s for col in columns for s in sorted(col, key=lambda s: s.box[1])] + [
        s for row in rows for s in sorted(row, key=lambda s: s.box[0])
    ]


def _rows(segments: list[_Segment]) -> list[list[_Segment]]:
    rows: list[list[_Segment]] = []
    for seg in _in_reading_order(segments):
        if rows and _y_overlap(_union([x.box for x in rows[-1]]), seg.box) > 0.5:
            rows[-1].append(seg)
        else:
            rows.append([seg])
    return rows


@dataclass(frozen=True)
class _Context:
    doc_type: str
    doc_year: int | None
    doc_date: str | None
    low_confidence: float
    office: tuple[str, ...] = ()  # the issuing office's name as printed: its seal repeats it


def _normalise(key: str, raw: str, ctx: _Context) -> tuple[str | None, list[str], str | None, str | None]:
    """(value or None when it cannot be read, flags, precision, calendar)."""
    if key in DATE_KEYS:
        date = normalize.parse_date(raw, doc_year=ctx.doc_year)
        split = None if date is not None else normalize.split_run_of_date_digits(raw)
        if split is not None:
            date = normalize.parse_date(split, doc_year=ctx.doc_year)
        if date is None:
            return None, ["unparsed_date"], None, None
        return date.iso, list(date.flags) + (["date_digits_split"] if split else []), date.precision, date.calendar
    if key == "id_number":
        number = normalize.normalize_id(raw)
        if number is None:
            return None, ["unparsed_id"], None, None
        flags = list(number.flags) + ([] if number.valid else ["id_invalid"])
        return number.value, flags, None, None
    if key == "sex":
        sex = normalize.normalize_sex(raw)
        return sex, ([] if sex else ["unparsed_sex"]), None, None
    if key == "ethnicity":
        value, flags = normalize.normalize_ethnicity(raw, doc_date=ctx.doc_date)
        return value, list(flags) + ([] if value else ["unknown_ethnicity"]), None, None
    if key == "relation_to_head":
        term, _code, _sex = normalize.normalize_relation(raw)
        return (term or normalize.normalize_text(raw)), ([] if term else ["unknown_relation"]), None, None
    if key == "education":
        value, code = normalize.normalize_education(raw)
        return value, ([] if code else ["unknown_education"]), None, None
    if key == "marital_status":
        value, _code = normalize.normalize_marital(raw)
        return value, ([] if value else ["unknown_marital_status"]), None, None
    if key in NAME_KEYS:
        value, flags = normalize.normalize_name(raw)
        return (value or None), list(flags), None, None
    if key == "serial_no":
        value = _serial(raw)
        return (value or None), [], None, None
    value = _simplified(normalize.normalize_text(raw))
    return (value or None), [], None, None


def _simplified(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Simplified characters, one by one, except those in `keep`.

    The recogniser often reads a handwritten simplified character as its traditional
    form (号 as 號); the page's `raw` keeps what was read.
    """
    return "".join(ch if ch in keep else _t2s_char(ch) for ch in text)


@cache
def _t2s_char(ch: str) -> str:
    if ord(ch) < 0x3400:
        return ch
    out = _opencc().convert(ch)
    return out if len(out) == 1 else ch


@cache
def _opencc():  # type: ignore[no-untyped-def]
    import opencc  # opencc-python-reimplemented (Apache-2.0)

    return opencc.OpenCC("t2s")


@cache
def _name_safe() -> frozenset[str]:
    """Characters a name keeps in traditional form (乾 is not 干, 於 not 于: §1.10)."""
    from pipeline.namekeys import load_data

    return load_data().t2s_keep


_SERIAL = re.compile(r"(?:第|no\.?|№|#)?\s*([0-9a-z][0-9a-z\-]*)\s*号?$", re.IGNORECASE)


def _serial(raw: str) -> str:
    text = normalize.normalize_text(raw)
    match = _SERIAL.search(text)
    return match.group(1).upper() if match else text


OFFICE_WORDS = ("公安", "派出所", "专用章")  # an issuing office's name, on its letterhead and its seal


def _office_lines(layout: _Layout) -> tuple[str, ...]:
    return tuple(_plain(r.text) for r in layout.runs if any(w in _plain(r.text) for w in OFFICE_WORDS))


def _wraps(s: _Segment, first: _Segment) -> bool:
    """Is `s` the next line of the value `first` starts (under its start, or its next column)?"""
    if s.vertical or first.vertical:
        w = _width(first.box)
        same_column = _x_overlap(s.box, first.box) > 0.5 and s.box[1] - first.box[3] <= w
        next_column = s.box[2] <= first.box[0] + 0.3 * w and abs(s.box[1] - first.box[1]) <= w
        return same_column or next_column
    return abs(s.box[0] - first.box[0]) <= _height(first.box) and s.box[1] > first.box[1]


def _without_seal_pieces(segments: list[_Segment], ctx: _Context) -> list[_Segment]:
    """Pieces of a seal's ring caught beside or under a value ("…64号" + "左旗公"): a short piece,
    not the value's first, that only repeats part of the office name the page is issued by."""
    if len(segments) < 2 or not ctx.office:
        return segments
    ordered = _in_reading_order(segments)
    first = ordered[0]
    return [first] + [
        s for s in ordered[1:]
        if _wraps(s, first) or not (len(s.chars) <= 3 and s.run != first.run and any(_plain(s.text) in line for line in ctx.office))
    ]


STRAY_SCORE = 0.6  # a piece the recogniser reads this poorly (the engine's own low-confidence mark) …
STRAY_SIZE = 1.4  # … and this much taller or lower than the value's first piece is not the same hand's writing


def _piece_score(seg: _Segment) -> float:
    return sum(c.score for c in seg.chars) / max(1, len(seg.chars))


_DAY_NUMBER = r"(?:\d{1,2}|[一二三四五六七八九十廿卅]{1,3})"
_MONTH_DAY = re.compile(rf"(?:\d{{1,2}}|[一二三四五六七八九十元正冬腊]{{1,3}})月{_DAY_NUMBER}[日号號]")


def _without_stray_pieces(key: str, segments: list[_Segment], office: tuple[str, ...] = ()) -> list[_Segment]:
    """Pieces caught with a value that are not part of it: a seal's ring or a stamp read as text
    ("…57号" + "海湖浩特市公", a lone "加" under the line) is not the size of the handwriting and is
    read poorly or repeats the issuing office's name; a whole date beside a value of another kind
    is the form's closing date."""
    if len(segments) < 2:
        return segments
    ordered = _in_reading_order(segments)
    first = ordered[0]
    size = _height(first.box) if not first.vertical else _width(first.box)

    def stray(seg: _Segment) -> bool:
        own = _height(seg.box) if not seg.vertical else _width(seg.box)
        ratio = max(own, 1.0) / max(size, 1.0)
        if not 1 / STRAY_SIZE <= ratio <= STRAY_SIZE and (
            _piece_score(seg) < STRAY_SCORE and not _wraps(seg, first) or (len(seg.chars) >= 2 and any(_plain(seg.text) in line for line in office))
        ):
            return True
        if key not in DATE_KEYS and len(seg.chars) >= 6:
            date = normalize.parse_date(seg.text)
            return date is not None and date.precision == "YMD"
        # a date's month and day on a line of their own, its year above them ("6月4号")
        return key not in DATE_KEYS and _MONTH_DAY.fullmatch(_plain(seg.text)) is not None

    kept = [first] + [s for s in ordered[1:] if not stray(s)]
    return kept if len(kept) < len(ordered) else segments


def _make_field(key: str, segments: list[_Segment], ctx: _Context) -> Field | None:
    segments = _without_seal_pieces(segments, ctx)
    whole, _ = _raw_and_chars(segments)
    kept = _without_stray_pieces(key, segments, ctx.office)
    dropped = len(kept) < len(segments)
    segments = kept
    repaired_date: str | None = None
    completed = False
    if key in DATE_KEYS:
        raw, chars = _raw_and_chars(segments, dotted=True)
        repaired_date = _repair_date(raw, chars, ctx)
    if repaired_date is None and (key in DATE_KEYS or key == "id_number"):
        segments, completed = _parsing_span(key, segments, ctx)
    if key in CODE_TABLE_KEYS:
        if not dropped:
            whole, _ = _raw_and_chars(segments)
        kept = _coded_span(key, segments)
        dropped = dropped or len(kept) < len(segments)
        segments = kept
    raw, chars = _raw_and_chars(segments, dotted=key in DATE_KEYS)
    if not raw:
        return None
    reading = _simplified(raw, _name_safe()) if key in NAME_KEYS else raw
    if repaired_date is not None:
        reading = repaired_date
    unstamped, dropped_words = _without_stamp_word(key, reading)
    corrected = _later_of_two(key, _after_correction(unstamped))
    value, flags, precision, calendar = _normalise(key, corrected, ctx)
    if dropped_words:
        flags.append(dropped_words)
    if completed:
        flags.append("cut_date_completed")
    if corrected != unstamped:
        flags.append("corrected_on_page")
    elif unstamped == reading and reading != raw:
        flags.append("date_repaired" if repaired_date is not None else "simplified")
    if key == "id_number" and "id_invalid" in flags:
        repaired = _repair_id(raw, chars, ctx)
        if repaired is not None:
            value, flags = repaired, [f for f in flags if f != "id_invalid"] + ["checksum_repaired"]
    ocr_conf = sum(c.score for c in chars) / len(chars)
    confidence = ocr_conf
    if value is None:
        value = normalize.normalize_text(raw)
        confidence *= 0.5
    elif any(f in ("id_invalid", "invalid_date", "out_of_range") for f in flags):
        confidence *= 0.7
    elif any(f in GUESSED for f in flags):
        confidence *= 0.8
    if ocr_conf < ctx.low_confidence:
        flags.append("low_confidence")
    if dropped:
        flags.append("stray_text_dropped")  # `raw` keeps the whole cell; the value is read from its coded piece
    return Field(
        key=key,
        value=value,
        raw=whole if dropped else raw,
        confidence=round(confidence, 4),
        flags=list(dict.fromkeys(flags)),
        alternatives=_alternatives(key, raw, chars, value, ctx),
        precision=precision,
        calendar=calendar,
    )


# Readings the page does not spell out whole: a lost character restored, a value taken from
# another place on the page. They lower the field's confidence and go to review with the raw text.
GUESSED = ("year_digit_restored", "from_signature_date", "cross_checked", "from_id_number", "cut_date_completed",
           "ditto_guessed", "date_digits_split")


_CORRECTION = re.compile(r"(?:变更为|更正为|改为|变更|更正|→|->)")


FIELD_KEYS_READ = PERSON_KEYS + ("head_name",)  # fields a change record may name
CODE_TABLE_KEYS = ("sex", "ethnicity", "relation_to_head", "education", "marital_status")


def _coded_span(key: str, segments: list[_Segment]) -> list[_Segment]:
    """The pieces of a coded field's cell that read as one code, when the whole cell does not:
    a neighbour's value or a stamp caught in the cell ("汉" + "一九八五年", "籍" "女" "家口").
    The longest such run of pieces; of equal ones the later (a value rewritten after a struck one)."""
    ordered = _in_reading_order(segments)

    def reads(span: list[_Segment]) -> bool:
        text = "".join(s.text for s in span)
        return _valid_value(key, _later_of_two(key, _after_correction(text)))

    if len(ordered) < 2 or reads(ordered):
        return segments
    spans = [ordered[i:j] for i in range(len(ordered)) for j in range(i + 1, len(ordered) + 1) if j - i < len(ordered)]
    found = [(sum(len(s.chars) for s in span), i, span) for i, span in enumerate(spans) if reads(span)]
    if not found:
        return segments
    return max(found, key=lambda item: (item[0], ordered.index(item[2][0])))[2]


def _after_correction(text: str) -> str:
    """A value struck and rewritten on the page ("未婚变更丧偶", "未婚更正为已婚"): the new value."""
    parts = _CORRECTION.split(text)
    return parts[-1] if len(parts) > 1 and parts[-1] else text


def _later_of_two(key: str, text: str) -> str:
    """Two whole coded values in one cell ("未婚已婚"): the old one struck through and the new one
    written after it; the later stands. Only for codes no two of which make one value."""
    if key not in ("marital_status", "education") or key == "marital_status" and _valid_value(key, text):
        return text
    for cut in range(len(text) - 2, 1, -1):
        if _valid_value(key, text[cut:]) and _exact_code(key, text[:cut]):
            # (a level and its kind are one value: 大学本科, 大学专科 read as the later's level anyway)
            if key == "education" and normalize.normalize_education(text)[1] == normalize.normalize_education(text[cut:])[1]:
                return text
            return text[cut:]
    # the struck value, a correction stamp read in part ("未婚正丧偶": 更正 lost its 更), the new value
    if not _exact_code(key, text):
        for cut in range(len(text) - 2, 1, -1):
            for gap in (1, 2):
                if cut - gap >= 2 and _exact_code(key, text[cut:]) and _exact_code(key, text[: cut - gap]) \
                        and not _valid_value(key, text[cut - gap:]):
                    return text[cut:]
    return text


def _exact_code(key: str, text: str) -> bool:
    """A whole code, not one that only starts the text (小学 in 小学四年级 is, in 初小国小学 is not)."""
    if key == "education":
        return normalize.normalize_education(text, whole=True)[1] is not None
    return _valid_value(key, text)


STAMP_WORDS = ("死亡", "注销", "迁出")  # a cancellation stamped across the row (§1.8), or a character of it


def _without_stamp_word(key: str, text: str) -> tuple[str, str]:
    """A coded value with a cancellation stamp's word read after it ("初中死", "小学死亡"), or with the
    next field's code run into it ("文盲已婚"): the value, and the flag naming what was dropped."""
    if key not in CODE_TABLE_KEYS or _exact_code(key, _later_of_two(key, _after_correction(text))):
        return text, ""
    for word in STAMP_WORDS:
        for end in (word, *word):
            rest = text[: -len(end)]
            if text.endswith(end) and rest and _exact_code(key, _later_of_two(key, _after_correction(rest))):
                return rest, "stamp_word_dropped"
    for cut in range(len(text) - 1, 0, -1):
        rest, tail = text[:cut], text[cut:]
        if _exact_code(key, rest) and not _valid_value(key, tail) \
                and any(_exact_code(other, tail) for other in CODE_TABLE_KEYS if other != key):
            return rest, "other_code_dropped"
    return text, ""


def _repair_date(raw: str, chars: list[_Char], ctx: _Context) -> str | None:
    """A whole date that fails to read only for one misread character ("六月二干九日"): the reading
    with the runner-up character that makes a full date, if the raw text itself is not one."""
    date = normalize.parse_date(raw, doc_year=ctx.doc_year)
    if date is not None and date.precision == "YMD":
        return None
    for i, c in enumerate(chars):
        for alt in c.alternatives[1:]:
            candidate = raw[:i] + _fold_char(alt.char) + raw[i + 1 :]
            fixed = normalize.parse_date(candidate, doc_year=ctx.doc_year)
            if fixed is not None and fixed.precision == "YMD":
                return candidate
    # a seal stamped over the date leaves stray characters in it ("八月十浩七日", "公10月1日")
    kept = "".join(
        part if _CALENDAR_WORD.fullmatch(part) else "".join(c for c in part if c in DATE_CHARS or c.isdigit())
        for part in _CALENDAR_WORD.split(raw)
    )
    # (only a date that still reads whole: "三月二五" lost its 日 and may have lost more)
    if kept != raw and len(raw) - len(kept) <= 3 and (kept[-1:] in ("日", "号", "號") or kept[-1:].isdigit()):
        fixed = normalize.parse_date(kept, doc_year=ctx.doc_year)
        if fixed is not None and fixed.precision == "YMD":
            return kept
    return None


DATE_CHARS = frozenset("年月日号號.．·-/〇○零一二三四五六七八九十廿卅元正初腊冬")
_CALENDAR_WORD = re.compile(r"(公历|农历|阴历|旧历|民国|公元)")


def _repair_id(raw: str, chars: list[_Char], ctx: _Context) -> str | None:
    """An ID whose check character fails: the one runner-up digit that makes it valid, if exactly one does."""
    found = set()
    for i, c in enumerate(chars):
        for alt in c.alternatives[1:]:
            candidate = raw[:i] + _fold_char(alt.char) + raw[i + 1 :]
            number = normalize.normalize_id(candidate)
            if number is not None and number.valid:
                found.add(number.value)
    return found.pop() if len(found) == 1 else None


def _parsing_span(key: str, segments: list[_Segment], ctx: _Context) -> tuple[list[_Segment], bool]:
    """The longest run of pieces that reads as a date or a valid ID: a seal or a stray mark
    in the same cell ("公安 1984年…") must not spoil the value. True with it when a date cut off
    in the cell was replaced by a whole one from the same cell that it starts."""
    ordered = _in_reading_order(segments)
    spans = [ordered[i:j] for i in range(len(ordered)) for j in range(len(ordered), i, -1)]
    spans.sort(key=lambda span: -sum(len(s.chars) for s in span))
    for n, span in enumerate(spans):
        raw = _raw_and_chars(span, dotted=key in DATE_KEYS)[0]
        value, flags, _p, _c = _normalise(key, raw, ctx)
        if value is not None and "id_invalid" not in flags:
            whole = _whole_date_of(raw, value, spans[n + 1 :], ctx) if key in DATE_KEYS and _cut_off(raw) else None
            return (whole, True) if whole else (span, False)
    return ordered, False


def _cut_off(text: str) -> bool:
    """A Chinese date that stops at a numeral after its month ("一九八五年八月二十"): its day may be cut."""
    text = _date_text(text)
    return "月" in text and text[-1:] in normalize._CN_DIGITS


def _whole_date_of(cut: str, value: str, spans: list[list[_Segment]], ctx: _Context) -> list[_Segment] | None:
    """Another date in the same cell, written whole, that the cut one is the start of (the form's
    closing date "85年8月24日" caught in the registration cell with "一九八五年八月二十")."""
    text = _date_text(cut)
    for span in spans:
        date = normalize.parse_date(_raw_and_chars(span, dotted=True)[0], doc_year=ctx.doc_year)
        if (
            date is not None and date.precision == "YMD" and date.iso != value and date.iso[:7] == value[:7]
            and any(form.startswith(text) for form in normalize.date_renderings(date.iso))
        ):
            return span
    return None


def _alternatives(key: str, raw: str, chars: list[_Char], value: str, ctx: _Context, limit: int = 3) -> list[str]:
    """Other readings: the least certain characters swapped for the engine's runner-up."""
    options: list[tuple[float, int, str]] = []
    for i, c in enumerate(chars):
        for alt in c.alternatives[1:]:
            options.append((alt.score, i, _fold_char(alt.char)))
    options.sort(reverse=True)
    out: list[str] = []
    for _score, i, ch in options:
        candidate = raw[:i] + ch + raw[i + 1 :]
        alt_value = _normalise(key, candidate, ctx)[0]
        if alt_value and alt_value != value and alt_value not in out:
            out.append(alt_value)
        if len(out) >= limit:
            break
    return out


def _ditto_field(source: Field, raw: str, table: LabelTable | None = None) -> Field:
    """The value above, taken for a ditto mark. A cell read as a mark only by its shape
    (`_is_ditto_lookalike`: "11", "ⅱ" …) is also flagged `ditto_guessed`, with lower confidence."""
    guessed = table is not None and not _is_sure_ditto(raw, table)
    return Field(
        key=source.key,
        value=source.value,
        raw=raw,
        confidence=round(source.confidence * 0.8, 4) if guessed else source.confidence,
        flags=sorted(set(source.flags) - {"ditto_guessed"} | {"from_ditto"} | ({"ditto_guessed"} if guessed else set())),
        alternatives=list(source.alternatives),
        precision=source.precision,
        calendar=source.calendar,
    )


# --------------------------------------------------------------------------- extraction


@dataclass
class _Person:
    role: str
    fields: dict[str, Field] = field(default_factory=dict)


def extract(ocr: OcrResult, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Read a page's OCR lines into the principal person's fields, page fields and every person named."""
    table = load_labels()
    layout = _read_layout(ocr, table)
    pairs = _pair(layout)
    tables = _tables(layout, pairs)
    if not tables and _written_downwards(layout):
        layout = _flowed(layout, table)
        pairs = _pair(layout)
    doc_type, doc_conf = _classify(layout, pairs, table)
    in_table = {id(p) for t in tables for p in t.columns}
    ctx = dataclasses.replace(_context(pairs, options, doc_type), office=_office_lines(layout))

    subject = _Person("subject")
    page: dict[str, Field] = {}
    others: dict[str, _Person] = {}
    labelled: set[str] = set()  # page keys whose label is printed on the page
    printed = {p.label.label.key for p in pairs.values() if p.label.label is not None}
    # a migration paper names two places: with "from" printed and no "to", its address is the destination
    moved_to = "move_to" if "move_from" in printed and "move_to" not in printed else "move_from"
    in_order = sorted(pairs.values(), key=lambda p: (p.label.box[1], p.label.box[0]))
    addresses = [p for p in in_order if p.label.label is not None and p.label.label.moved_key and (p.right or p.below)]
    # with neither place named, two addresses on a migration paper read from -> to, in page order
    destination = addresses[-1] if len(addresses) >= 2 and not {"move_from", "move_to"} & printed else None
    for pair in in_order:
        label = pair.label.label
        assert label is not None
        if label.guesses and not label.key:
            label = _resolve_remnant(pair, label, ctx)
        if id(pair) in in_table or not (label.key or label.person):
            continue
        key = label.key
        if label.moved_key and doc_type in MIGRATION_TYPES:
            key = "move_to" if pair is destination else moved_to
        if key and not label.person:
            labelled.add(key)
        made = _read_pair(pair, pairs, key or label.person_key, table, ctx)
        if made is None:
            continue
        if label.person:
            if label.person != "head":  # 户主姓名 names the head; the head is listed only where the page lists people
                person = others.setdefault(label.person, _Person(label.person))
                person.fields.setdefault(label.person_key, _rekey(made, label.person_key))
            if key:
                page.setdefault(key, _rekey(made, key))
        elif key in PERSON_KEYS:
            subject.fields.setdefault(key, made)
        else:
            page.setdefault(key, made)
    _fill_from_signature_date(layout, pairs, labelled, page, ctx)
    for key, made in _change_record(pairs, table, ctx).items():
        (subject.fields if key in PERSON_KEYS else page).setdefault(key, made)

    # A register page gains members for decades after it was opened: its own date bounds nothing.
    members = _members(tables, table, dataclasses.replace(ctx, doc_year=options.doc_year), subject, page)
    principal = members[0] if members and "name" not in subject.fields else subject
    fields: dict[str, Field] = {**page, **principal.fields}
    for key, value in subject.fields.items():
        fields.setdefault(key, value)
    fields = {k: fields[k] for k in sorted(fields, key=_key_order)}
    _cross_check_id(fields)
    for member in members:
        if member is not principal:
            _cross_check_id(member.fields)

    mentions = [Mention(principal.role, dict(fields))]
    shared = {k: f for k, f in {**subject.fields, **page}.items() if k in HOUSEHOLD_KEYS}
    for member in members:
        if member is not principal:
            mentions.append(Mention(member.role, {**shared, **member.fields}))
    mentions += [Mention(p.role, p.fields) for p in others.values() if p.fields]
    return Extraction(
        doc_type=doc_type,
        doc_type_confidence=doc_conf,
        fields=fields,
        mentions=mentions if fields else mentions[1:],
        review=_review(fields, mentions[1:], ctx),
    )


def _resolve_remnant(pair: _Pair, label: LabelDef, ctx: _Context) -> LabelDef:
    """The one guessed field whose coded value the label's value is (别 + 男: sex)."""
    values = pair.right or pair.below
    if not values:
        return label
    raw, _ = _raw_and_chars(values)
    fits = [k for k in label.guesses if k in CODED_KEYS and _valid_value(k, raw)]
    if len(label.guesses) == 1:
        fits = list(label.guesses)
    if len(fits) != 1:
        return label
    return dataclasses.replace(label, key=fits[0], person_key=fits[0])


def _read_pair(pair: _Pair, pairs: dict[int, _Pair], key: str, table: LabelTable, ctx: _Context) -> Field | None:
    """The label's value; a ditto mark takes the value of the field above it."""
    values = pair.right or pair.below
    if not values:
        return None
    raw, _chars = _raw_and_chars(values)
    if not _is_ditto(raw, table, key):
        return _make_field(key, values, ctx)
    source = _ditto_source(pair, pairs, table)
    made = _make_field(key, source.right or source.below, ctx) if source else None
    return _ditto_field(made, raw, table) if made else None


def _fill_from_signature_date(
    layout: _Layout, pairs: dict[int, _Pair], labelled: set[str], page: dict[str, Field], ctx: _Context
) -> None:
    """A form's closing date ("年 月 日" beside the seal) belongs to no label. When the page's
    registration (else event) date label is printed but its cell is empty or unreadable, take it."""
    for key in ("registration_date", "event_date"):
        if key not in labelled:
            continue
        current = page.get(key)
        if current is not None and "unparsed_date" not in current.flags:
            found = _signature_date(layout, pairs, ctx) if _partly_read(current) else None
            if found is not None and found.value != current.value and _explains(found.value, current):
                page[key] = Field(
                    key=key, value=found.value, raw=current.raw,
                    confidence=round(min(current.confidence, found.confidence) * 0.8, 4),
                    flags=list(dict.fromkeys([f for f in current.flags if f != "date_repaired"] + ["from_signature_date"])),
                    alternatives=[current.value] + [a for a in current.alternatives if a != found.value][:2],
                    precision=found.precision, calendar=found.calendar,
                )
            return
        found = _signature_date(layout, pairs, ctx)
        if found is not None:
            found.key = key
            found.flags.append("from_signature_date")
            page[key] = found
        return


def _cross_check_id(fields: dict[str, Field]) -> None:
    """V4/V26: the ID number's birth segment and the birth date field read apart. Where one of them
    has a reading among its alternatives that agrees with the other, that reading stands (flag
    `cross_checked`, the first reading kept as an alternative); where the birth date cannot be read
    or only in part, the ID's date stands for it if it explains what the cell shows (`from_id_number`).
    Otherwise both stay as read, and the consistency check sends the page to review."""
    born, number = fields.get("birth_date"), fields.get("id_number")
    if born is None or number is None:
        return
    parsed = normalize.normalize_id(number.value)
    id_birth = parsed.birth_date if parsed is not None and parsed.valid else None
    if id_birth == born.value:
        return
    if born.precision == "YMD" and born.calendar == "gregorian":
        for alt in number.alternatives:
            other = normalize.normalize_id(alt)
            if other is not None and other.valid and other.birth_date == born.value:
                fields["id_number"] = _swapped(number, alt, "cross_checked")
                return
    if id_birth is None:
        # an ID misread elsewhere may still show its birth segment whole ("15021971031i37687")
        if born.precision == "YMD" and "unparsed_date" not in born.flags:
            return
        digits = "".join(c for c in number.raw if c.isdigit())
        found = {
            iso for i in range(len(digits) - 7)
            if (iso := normalize._id_birth(digits[i : i + 8])) is not None and _explains(iso, born)
        }
        if len(found) == 1:
            fields["birth_date"] = dataclasses.replace(
                _swapped(born, found.pop(), "from_id_number"), precision="YMD", calendar="gregorian",
                flags=[f for f in born.flags if f != "unparsed_date"] + ["from_id_number"])
        return
    if id_birth in born.alternatives:
        fields["birth_date"] = _swapped(born, id_birth, "cross_checked")
    elif (born.precision != "YMD" or "unparsed_date" in born.flags) and _explains(id_birth, born):
        fields["birth_date"] = dataclasses.replace(
            _swapped(born, id_birth, "from_id_number"), precision="YMD", calendar="gregorian",
            flags=[f for f in born.flags if f != "unparsed_date"] + ["from_id_number"])


def _swapped(f: Field, value: str, flag: str) -> Field:
    return Field(
        key=f.key, value=value, raw=f.raw, confidence=round(f.confidence * 0.8, 4),
        flags=list(dict.fromkeys(f.flags + [flag])),
        alternatives=[f.value] + [a for a in f.alternatives if a != value][:2],
        precision=f.precision, calendar=f.calendar,
    )


def _change_record(pairs: dict[int, _Pair], table: LabelTable, ctx: _Context) -> dict[str, Field]:
    """A change or correction form names the field it changes (变更项目: 民族) and gives its value
    before and after (变更前: 满族, 变更后: 汉族). The value after is the field's value now; a name's
    value before is the former name. Flag `from_change_record`."""
    item: list[_Segment] = []
    before: list[_Segment] = []
    after: list[_Segment] = []
    for pair in pairs.values():
        label = pair.label.label
        values = pair.right or pair.below
        if label is None or label.key or label.person or not values:
            continue
        if label.takes_label:
            item = item or values
        elif label.doc_hint == "change_correction" and label.word.endswith("前"):
            before = before or values
        elif label.doc_hint == "change_correction" and label.word.endswith(("后", "後")):
            after = after or values
    if not item or not (before or after):
        return {}
    named_text = _plain(fold(_raw_and_chars(item)[0]))
    named = table.labels.get(named_text) or _guess_label(named_text, table)
    key = named.key if named is not None and not named.person else ""
    if key not in FIELD_KEYS_READ or key in DATE_KEYS and key != "birth_date":
        return {}
    out: dict[str, Field] = {}
    if after:
        made = _make_field(key, after, ctx)
        if made is not None:
            made.flags.append("from_change_record")
            out[key] = made
    if before and key == "name":
        made = _make_field("former_name", before, ctx)
        if made is not None:
            made.flags.append("from_change_record")
            out["former_name"] = made
    return out


def _partly_read(date: Field) -> bool:
    """A registration date the cell does not give whole: only its year or month, a reading that had
    to drop or replace characters, or a Chinese date cut off before its 日 ("一九七七年八月二")."""
    if date.precision != "YMD" or date.calendar not in (None, "gregorian"):
        return date.precision in ("Y", "YM") and date.calendar in (None, "gregorian")
    if {"date_repaired", "stray_text_dropped"} & set(date.flags):
        return True
    text = _date_text(date.raw)
    return "月" in text and text[-1:] in normalize._CN_DIGITS


def _date_text(raw: str) -> str:
    return "".join(c for c in normalize.normalize_text(raw) if c in DATE_CHARS or c.isdigit())


def _explains(full_iso: str, date: Field) -> bool:
    """Does the form's closing date account for what the cell shows? The cell's partial value is its
    start; the cell's text is the start of one way of writing it (cut off), or it is no further from
    one than from the cell's own reading (a character lost under a seal)."""
    if date.precision in ("Y", "YM"):
        return full_iso.startswith(date.value)
    text = normalize.normalize_text(date.raw)  # stray characters kept: they stand where something was written
    forms = normalize.date_renderings(full_iso)
    if date.precision is None:  # unreadable as a date: one character in five lost or misread at most
        return min(levenshtein(text, form) for form in forms) <= max(1, len(text) // 5)
    if full_iso[:7] != date.value[:7]:
        return False
    if any(form.startswith(text) for form in forms):
        return True
    own = min(levenshtein(text, form) for form in normalize.date_renderings(date.value))
    return min(levenshtein(text, form) for form in forms) <= own


def _signature_date(layout: _Layout, pairs: dict[int, _Pair], ctx: _Context) -> Field | None:
    owned = {
        id(v)
        for p in pairs.values()
        if p.label.label is not None and (p.label.label.key or p.label.label.person)
        for v in (p.right or p.below)
    }
    loose = [s for s in layout.segments if s.label is None and not s.title and id(s) not in owned]
    best: Field | None = None
    for row in _rows(loose):
        made = _make_field("registration_date", row, ctx)
        if made is not None and made.precision == "YMD" and "unparsed_date" not in made.flags:
            best = made  # rows come top to bottom: the last full date is the closing one
    return best


def _key_order(key: str) -> int:
    from pipeline.records import FIELD_KEYS

    return FIELD_KEYS.index(key) if key in FIELD_KEYS else len(FIELD_KEYS)


def _rekey(f: Field, key: str) -> Field:
    return Field(key, f.value, f.raw, f.confidence, list(f.flags), list(f.alternatives), f.precision, f.calendar)


def _context(pairs: dict[int, _Pair], options: ExtractOptions, doc_type: str) -> _Context:
    """The page's own date (registration, else event) sets the year for two-digit years and code tables."""
    doc_date: str | None = None
    doc_year = options.doc_year
    for wanted in ("registration_date", "event_date"):
        for pair in pairs.values():
            label = pair.label.label
            if label is None or label.key != wanted or label.person:
                continue
            raw, _ = _raw_and_chars(pair.right or pair.below)
            date = normalize.parse_date(raw, doc_year=options.doc_year) if raw else None
            if date is not None and date.precision == "YMD" and doc_date is None:
                doc_date = date.iso
        if doc_date:
            break
    if doc_year is None and doc_date:
        doc_year = int(doc_date[:4])
    return _Context(doc_type, doc_year, doc_date, options.low_confidence)


def _ditto_source(pair: _Pair, pairs: dict[int, _Pair], table: LabelTable) -> _Pair | None:
    """The field a "同上" refers to: the nearest labelled value above this label in the same column."""
    box = pair.label.box
    best: _Pair | None = None
    for other in pairs.values():
        ob = other.label.box
        if other is pair or ob[3] > box[1] or _x_overlap(ob, box) < 0.3 or not (other.right or other.below):
            continue
        raw, _ = _raw_and_chars(other.right or other.below)
        if _is_ditto(raw, table):
            continue
        if best is None or ob[3] > best.label.box[3]:
            best = other
    return best


def _members(
    tables: list[_Table], table: LabelTable, ctx: _Context, subject: _Person, page: dict[str, Field]
) -> list[_Person]:
    members: list[_Person] = []
    for found in tables:
        previous: dict[str, Field] = {}
        for cells in _table_people(found):
            person = _Person("household_member")
            for key, (label, segments) in cells.items():
                if not key:
                    continue
                raw, _ = _raw_and_chars(segments)
                if _is_ditto(raw, table, key):
                    source = previous.get(key) or subject.fields.get(key) or page.get(key)
                    if source is not None:
                        person.fields[key] = _ditto_field(source, raw, table)
                    continue
                made = _make_field(key, segments, ctx)
                if made is not None:
                    person.fields[key] = made
            if not person.fields:
                continue
            relation = person.fields.get("relation_to_head")
            if relation is not None and relation.value in ("户主", "户长"):
                person.role = "head"
            previous = {**previous, **person.fields}
            members.append(person)
    return members


def _review(fields: dict[str, Field], mentions: list[Mention], ctx: _Context) -> list[str]:
    reasons: list[str] = []
    if "name" not in fields:
        reasons.append("no name found on the page")
    people = [("", fields)] + [(f"{m.role} ", m.fields) for m in mentions]
    seen: set[tuple[str, str]] = set()
    for who, person_fields in people:
        for key, f in person_fields.items():
            if (key, f.raw) in seen and who:
                continue
            seen.add((key, f.raw))
            if "low_confidence" in f.flags:
                reasons.append(f"{who}{key}: low OCR confidence {f.confidence:.2f} for {f.raw!r}")
            bad = [flag for flag in f.flags if flag.startswith(("unparsed", "unknown", "id_invalid", "invalid"))]
            if bad:
                reasons.append(f"{who}{key}: {', '.join(bad)} in {f.raw!r}")
            guessed = [flag for flag in f.flags if flag in GUESSED]
            if guessed:
                reasons.append(f"{who}{key}: {f.value!r} ({', '.join(guessed)}) where the page reads {f.raw!r}")
        values = {k: f.value for k, f in person_fields.items()}
        if ctx.doc_date and "registration_date" not in values:
            values["registration_date"] = ctx.doc_date
        for issue in normalize.check_consistency(values):
            if normalize.FLAG_SEVERITY.get(issue.split(":", 1)[0], "W") != "I":  # informational: no review
                reasons.append(f"{who}consistency: {issue}")
    return reasons


__all__ = ["DOC_TYPES", "ExtractOptions", "LabelDef", "classify", "extract", "fold", "load_labels"]
