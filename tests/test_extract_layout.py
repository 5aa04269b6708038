"""Finding printed labels on layouts the extractor was not written for: hand-built OCR lines.

Each fixture is drawn as a scanner's OCR reads such a form (boxes, reading order, one box
per printed character where labels are set with wide spacing), not taken from pagegen.
"""

from __future__ import annotations

import functools
import re

import pytest

import pipeline.extract as stage
from pipeline.extract import LABELS_PATH, extract
from pipeline.records import OcrLine
from tests.test_extract import line, page, values


@pytest.fixture
def without(monkeypatch, tmp_path):
    """Extraction reads a copy of config/labels.toml without the given wordings: they are unseen."""
    def drop(*words: str) -> None:
        out, in_list, dropped = [], False, set()
        for row in LABELS_PATH.read_text(encoding="utf-8").splitlines(keepends=True):
            if re.match(r"\s*(words|titles)\s*=\s*\[", row) or in_list:  # wordings, not the words rules read
                for word in words:
                    row, n = re.subn(rf'"{re.escape(word)}",?\s*', "", row)
                    dropped |= {word} if n else set()
                row = re.sub(r",\s*\]", "]", row)
                in_list = "]" not in row
            out.append(row)
        assert dropped == set(words), set(words) - dropped
        path = tmp_path / "labels.toml"
        path.write_text("".join(out), encoding="utf-8")
        monkeypatch.setattr(stage, "load_labels", functools.partial(stage.load_labels.__wrapped__, str(path)))
    return drop

PITCH = 100  # a printed label character every 100 px down its cell
BOX = 80  # each one read as a box of its own


def column(text: str, x: float, y: float, size: float) -> OcrLine:
    """One OCR box down a column: characters `size` wide and one `size` apart."""
    quad = ((x, y), (x + size, y), (x + size, y + size * len(text)), (x, y + size * len(text)))
    return OcrLine(quad=quad, text=text, score=0.95, vertical=True)


def downwards(text: str, x: float, y: float) -> list:
    """A label printed downwards with one box per character, as OCR returns a widely spaced label."""
    return [line(ch, x, y + PITCH * k, h=BOX) for k, ch in enumerate(text)]


def test_card_of_labels_printed_downwards_one_character_per_box():
    """A card with tall narrow label cells: labels set downwards, characters widely spaced (each its
    own OCR box), values written across beside them. Two wordings are not in the table (婚嫁, a
    qualified 居民身份证 label), and the boxes come in the engine's order, not reading order."""
    left, right = 200, 1200
    lines = [line("常住人口登记表", 700, 120, h=70)]
    lines += downwards("姓名", left, 300) + [line("刘玉珍", left + 160, 320, h=60)]
    # 别 read before 性: its nearest piece down the column is 原, not 籍 further down
    lines += [line("别", left, 600 + PITCH, h=BOX), line("性", left, 600, h=BOX), line("女", left + 160, 630, h=60)]
    lines += downwards("原籍", left, 900) + [line("山东掖县", left + 160, 930, h=60)]
    lines += [line("居民身份证", left, 1200, h=BOX, vertical=True), line("370625195304120025", left + 160, 1400, h=50)]
    # 职 under 居民身份证 reads like 居民身份证号 with one error, but brings none of its characters
    lines += downwards("职业", left, 1800) + [line("教师", left + 160, 1830, h=60)]
    lines += downwards("婚嫁", right, 300) + [line("已婚", right + 160, 320, h=60)]
    lines += [line("民族", right, 600, h=BOX, vertical=True), line("回", right + 160, 630, h=60)]
    lines += [line("出生日期", right, 900, h=BOX, vertical=True), line("1953年4月12日", right + 160, 1000, h=60)]
    result = extract(page(*lines))
    assert result.doc_type == "resident_registration"
    assert values(result) == {
        "name": "刘玉珍",
        "sex": "女",
        "native_place": "山东掖县",
        "id_number": "370625195304120025",
        "occupation": "教师",
        "marital_status": "已婚",
        "ethnicity": "回族",
        "birth_date": "1953-04-12",
    }


def test_date_qualified_by_the_event_the_title_names():
    """死亡 is the table's word for the event; a form may say 病故 (a word its death titles are read by):
    a date label qualified so is the event's date, not the page's registration date."""
    ocr = page(
        line("死亡人口登记表", 800, 100, h=60),
        line("姓名", 200, 300), line("马凤英", 500, 300),
        line("病故日期", 200, 400), line("1977年4月28日", 500, 400),
        line("填表日期", 200, 500), line("1977年5月7日", 500, 500),
    )
    result = extract(ocr)
    assert result.doc_type == "death_deregistration"
    assert values(result) == {"name": "马凤英", "event_date": "1977-04-28", "registration_date": "1977-05-07"}


def test_lone_characters_down_a_column_split_into_labels_by_their_pitch():
    """Six lone characters down one column of cells: 性 別 | 族 别 | 户 主. Within a label they stand one
    pitch apart, between labels further; each label gets the value beside it (户主 is the head's name
    here, a label set in the column, not the relation written as a value)."""
    x = 200
    lines = [line("出生登记表", 700, 100, h=70), line("婴儿姓名", x, 200), line("马小军", x + 220, 200, h=60)]
    for text, y in (("性别", 400), ("族别", 630), ("户主", 860)):
        lines += downwards(text, x, y)
    lines += [line("男", x + 160, 430, h=60), line("汉族", x + 160, 660, h=60), line("马德明", x + 160, 890, h=60)]
    result = extract(page(*lines))
    assert result.doc_type == "birth_registration"
    assert values(result) == {"name": "马小军", "sex": "男", "ethnicity": "汉族", "head_name": "马德明"}


def test_header_row_set_downwards_with_a_detached_first_character_and_a_stamp():
    """Labels printed downwards along the top of a right-to-left form, values written downwards under
    them. OCR reads the first character of 出生时间 (a wording not in the table) as a box of its own,
    and a large 注销 stamp is struck across the writing: it is no one's value."""
    lines = [line("死亡人口登记", 800, 120, h=70)]
    columns = [("姓名", "王二小"), ("性别", "男"), ("出生时间", "1931年5月2日"), ("民族", "汉"), ("住址", "城关镇北街4号")]
    for k, (label, value) in enumerate(columns):
        x = 1800 - 150 * k
        if label == "出生时间":
            lines += [line("出", x, 300, h=80), column("生时间", x, 385, 80)]
        else:
            lines.append(column(label, x, 300, 80))
        lines.append(column(value, x - 10, 760, 100))
    # struck across the 住址, 民族 and 出生时间 columns, its characters square and large
    lines.append(OcrLine(quad=((1200, 900), (1720, 900), (1720, 1160), (1200, 1160)), text="注销", score=0.9))
    result = extract(page(*lines))
    assert result.doc_type == "death_deregistration"
    assert values(result) == {
        "name": "王二小",
        "sex": "男",
        "birth_date": "1931-05-02",
        "ethnicity": "汉族",
        "address": "城关镇北街4号",
    }


def test_household_table_under_a_header_the_table_does_not_know_and_an_unknown_title(without):
    """A register page: a title the table has no wording for (read by its word 底册, and not a label for
    the 籍 in it), a header row with one wording the table does not know (祖籍, which begins like the
    relation 祖父) between known ones."""
    without("户籍底册", "祖籍")
    headers = [("姓名", 200), ("与户主关系", 450), ("性别", 750), ("祖籍", 950), ("出生日期", 1250), ("文化程度", 1600)]
    rows = [
        ["赵长生", "户主", "男", "河北献县", "1921.3.8", "小学"],
        ["钱凤兰", "妻", "女", "河北沧县", "1925.10.2", "文盲"],
        ["赵国庆", "长子", "男", "河北献县", "1949.10.1", "高中"],
    ]
    lines = [line("户籍底册", 1080, 120, h=80), line("住址", 200, 220), line("东风街道九号院", 420, 220)]
    lines += [line(text, x, 320) for text, x in headers]
    for r, row in enumerate(rows):
        lines += [line(text, x, 420 + 100 * r, h=44) for text, (_h, x) in zip(row, headers)]
    result = extract(page(*lines))
    assert result.doc_type == "household_register"
    people = [{k: f.value for k, f in m.fields.items()} for m in result.mentions]
    assert [p["name"] for p in people] == ["赵长生", "钱凤兰", "赵国庆"]
    assert [p["native_place"] for p in people] == ["河北献县", "河北沧县", "河北献县"]
    assert [p["birth_date"] for p in people] == ["1921-03-08", "1925-10-02", "1949-10-01"]
    assert [p["education"] for p in people] == ["小学", "文盲", "高中"]
    assert values(result)["address"] == "东风街道九号院"


def test_header_row_set_downwards_of_wordings_read_by_their_words(without):
    """Column headers printed downwards, only one of them (姓名) in the table: the others are read by
    their words, and line up the one whose words alone do not make it a label where it stands (祖籍)."""
    without("祖籍")
    lines = [line("常住人口登记表", 900, 100, h=80)]
    columns = [("姓名", "孙玉梅"), ("族属", "满族"), ("祖籍", "辽宁锦州"), ("学识程度", "初中")]
    for k, (label, value) in enumerate(columns):
        x = 400 + 300 * k
        lines += [column(label, x, 300, 60), column(value, x, 620, 90)]
    result = extract(page(*lines))
    assert values(result) == {"name": "孙玉梅", "ethnicity": "满族", "native_place": "辽宁锦州", "education": "初中"}


def test_written_names_that_begin_with_a_label_word_stay_values():
    """民族路, 文化馆, 文化站, 民族村: a plain label word running on into a place's or workplace's ending
    is the start of a written name, in a box of its own or after a colon; 民族 + 回 is still a label."""
    beside = page(
        line("常住人口登记表", 900, 100, h=60),
        line("姓名", 200, 300), line("王桂兰", 500, 300),
        line("住址", 200, 400), line("民族路12号", 500, 400),
        line("工作单位", 200, 500), line("文化馆", 500, 500),
        line("职业", 200, 600), line("文化站干部", 500, 600),
        line("出生地", 200, 700), line("民族村", 500, 700),
        line("曾用名", 200, 800), line("民族回", 900, 800),  # a blank cell, then a label and value in one box
    )
    assert values(extract(beside)) == {
        "name": "王桂兰", "address": "民族路12号", "employer": "文化馆", "occupation": "文化站干部",
        "birthplace": "民族村", "ethnicity": "回族",
    }
    ruled = page(line("住址：民族路12号", 200, 300), line("工作单位：文化馆", 200, 400), line("出生地民族村", 200, 500))
    assert values(extract(ruled)) == {"address": "民族路12号", "employer": "文化馆", "birthplace": "民族村"}


def test_unknown_label_closing_a_line_of_writing(without):
    """OCR read a written reason and the next printed label as one box ("随夫迁移迁出时间"), the date
    in the boxes after it: the label is the shortest ending of the line that begins with a word labels
    are read by and ends in a head noun (迁出时间, not 移迁出时间); a reason that merely ends in a label
    word (退休回原籍) stays whole."""
    without("迁出时间")
    ocr = page(
        line("户口迁移证", 900, 100, h=60),
        line("姓名", 200, 300), line("高建设", 500, 300),
        line("迁移原因", 200, 400), line("随夫迁移迁出时间", 500, 400), line("一九六一年三月二十六日", 900, 400),
        line("迁往地址", 200, 500), line("集宁市新华街7号", 500, 500),
    )
    assert values(extract(ocr)) == {
        "name": "高建设", "move_reason": "随夫迁移", "event_date": "1961-03-26", "move_to": "集宁市新华街7号",
    }
    kept = page(line("迁移原因", 200, 300), line("退休回原籍", 500, 300), line("姓名", 200, 400), line("吴德", 500, 400))
    assert values(extract(kept)) == {"move_reason": "退休回原籍", "name": "吴德"}


def test_header_row_of_lone_characters_right_to_left(without):
    """A right-to-left card: every header printed downwards one box per character along the top, none
    of the wordings in the table; values written downwards under them. The header row is seen from the
    labels read by their words (称谓, 性别 …), so 婚 + 否 joins though 否 is no label character."""
    without("称谓", "性别", "祖籍", "婚否", "职务")
    lines = [line("常住人口登记卡", 900, 100, h=80)]
    columns = [("称谓", "户主"), ("性别", "女"), ("祖籍", "山西代县"), ("婚否", "未婚"), ("职务", "学生")]
    for k, (label, value) in enumerate(columns):
        x = 1800 - 130 * k
        lines += downwards(label, x, 300)
        lines.append(column(value, x - 10, 560, 90))
    result = extract(page(*lines))
    assert values(result) == {
        "relation_to_head": "户主", "sex": "女", "native_place": "山西代县", "marital_status": "未婚", "occupation": "学生",
    }


def test_label_in_a_column_of_labels_that_begins_like_a_value(without):
    """祖籍 (unseen) begins like the relation 祖父, so it is not read as a label in its own box; standing
    in a column of printed labels, it is one, read by its words, not an unreadable remnant."""
    without("祖籍")
    lines = [line("常住人口登记表", 700, 100, h=70)]
    for k, (label, value) in enumerate([("姓名", "韩玉"), ("祖籍", "山西代县"), ("性别", "男"), ("民族", "汉")]):
        y = 300 + 300 * k
        lines += [column(label, 200, y, 80), line(value, 360, y + 40, h=70)]
    assert values(extract(page(*lines))) == {"name": "韩玉", "native_place": "山西代县", "sex": "男", "ethnicity": "汉族"}


def test_change_form_gives_the_changed_field_its_value_after():
    """A correction form names the field it changes and writes the value before and after: the person's
    field is the value after (the labels told by their last words: 更改前 / 更改后 are not in the table,
    and read as wordings near them); a name changed leaves the name before as the former name."""
    ethnicity = page(
        line("户口项目更正申请书", 700, 100, h=70),
        line("姓名", 200, 300), line("谢辉", 500, 300),
        line("变更项目", 200, 400), line("民族", 500, 400),
        line("更改前", 200, 500), line("满族", 500, 500),
        line("更改后", 200, 600), line("汉族", 500, 600),
    )
    result = extract(ethnicity)
    assert result.doc_type == "change_correction"
    assert values(result) == {"name": "谢辉", "ethnicity": "汉族"}
    name = page(
        line("户口项目更正申请书", 700, 100, h=70),
        line("姓名", 200, 300), line("吴亚丽", 500, 300),
        line("变更项目", 200, 400), line("姓名", 500, 400),
        line("更改前", 200, 500), line("吴小丽", 500, 500),
        line("更改后", 200, 600), line("吴亚丽", 500, 600),
    )
    assert values(extract(name)) == {"name": "吴亚丽", "former_name": "吴小丽"}


def test_a_label_word_struck_across_a_row_of_a_household_table_is_a_cell():
    """A 迁出 stamp struck over the last member's row reads as a label by its words; in a row of writing
    under the header row it is a cell, and the member it covers is still listed."""
    headers = [("姓名", 200), ("与户主关系", 450), ("性别", 750), ("出生日期", 950), ("文化程度", 1400)]
    rows = [["周军", "户主", "男", "1946.4.14", "文盲"], ["王云", "四女", "女", "1971.2.14", "初中"]]
    lines = [line("户口登记簿", 900, 100, h=60)]
    lines += [line(text, x, 300) for text, x in headers]
    for r, row in enumerate(rows):
        lines += [line(text, x, 400 + 100 * r, h=44) for text, (_h, x) in zip(row, headers)]
    lines.append(line("迁出", 1230, 480, h=70))
    result = extract(page(*lines))
    people = [{k: f.value for k, f in m.fields.items()} for m in result.mentions]
    assert [p["name"] for p in people] == ["周军", "王云"]
    assert people[1]["birth_date"] == "1971-02-14" and people[1]["education"] == "初中"


def test_a_seal_character_over_writing_is_no_label():
    """A character of a seal's ring (公) read where a column of labels runs, but lying over a line of
    writing, is not an unreadable label: the writing under it stays the value of its own label."""
    ocr = page(
        line("包头市公安局昆都仑区分局", 120, 40, h=50), line("户口迁出证明", 500, 100, h=70),
        line("姓名：赵抗美", 130, 300), line("何种职业：", 780, 300), line("工人", 1000, 300),
        line("迁出原因：", 780, 500), line("随迁", 1000, 500),
        line("迁去地址：", 130, 700), line("河北省张家口市解放路169号", 412, 690, h=60),
        line("公", 830, 670, h=50),
    )
    assert values(extract(ocr))["move_to"] == "河北省张家口市解放路169号"


def test_writing_beside_a_label_that_reads_like_a_label_is_its_value(without):
    """A misread struck-out value (末婚它婚: 未婚 struck, 已婚 written, both misread) reads as a marital
    label by its word 婚; standing where 婚否's value goes, lined up with no other label, it is that value."""
    without("婚否")
    ocr = page(
        line("常住人口登记表", 700, 100, h=70),
        line("姓名", 170, 300), line("马满仓", 600, 290, h=60), line("性别", 1085, 300), line("男", 1500, 290, h=60),
        line("学历", 170, 500), line("初中", 600, 490, h=60), line("婚否", 1085, 500), line("末婚它婚", 1490, 490, h=60),
        line("职业", 170, 700), line("工人", 600, 690, h=60), line("民族", 1085, 700), line("汉", 1500, 690, h=60),
    )
    result = extract(ocr)
    assert result.fields["marital_status"].raw == "末婚它婚"
    assert values(result)["education"] == "初中" and values(result)["ethnicity"] == "汉族"


def test_two_label_value_pairs_on_one_ruled_line_with_unseen_wordings(without):
    """"被登记人姓名：李金锁学历：大专" in one box: the second label (学历, not in the table) is the shortest
    wording before its colon that reads as a label, the name before it; a label after a space in a
    letterhead line ("…派出所 证号：176223") starts where the space is."""
    without("学历", "证号")
    ocr = page(
        OcrLine(quad=((100, 100), (1200, 100), (1200, 160), (100, 160)), text="大召派出所 证号：176223", score=0.95),
        line("迁移户口证明书", 300, 200, h=70),
        line("被登记人姓名：李金锁学历：大专", 120, 400),
        line("性别：", 130, 600), line("男", 260, 600),
    )
    assert values(extract(ocr)) == {"serial_no": "176223", "name": "李金锁", "education": "大专", "sex": "男"}


def test_unknown_short_title_in_large_print_names_the_paper_though_it_starts_like_a_label(without):
    # 准迁证 unseen as a title wording; 准迁… also begins the label 准迁地址
    without("准迁证", "户口准迁证")
    lines = [
        line("呼和浩特市公安局海拉尔路派出所 No. 339818", 100, 110),
        line("准迁证", 900, 200, h=140),
        line("姓名", 200, 450), line("胡建军", 600, 445, h=60),
        line("性别", 200, 600), line("男", 600, 600),
        line("迁出地址", 200, 750), line("河北张家口", 600, 750),
        line("准迁地址", 200, 900), line("呼和浩特市新城区", 600, 900),
    ]
    result = extract(page(*lines))
    assert result.doc_type == "move_in_permit"
    assert values(result)["move_to"] == "呼和浩特市新城区"
