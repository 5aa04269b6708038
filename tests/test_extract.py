"""Field extraction on hand-built OCR results: one fixture per layout the extractor must read."""

from __future__ import annotations

import pytest

from pipeline.extract import ExtractOptions, classify, extract
from pipeline.records import DOC_TYPES, CharAlternative, OcrLine, OcrResult

CHAR = 40  # px per Han character at the fixtures' scale


def line(text: str, x: float, y: float, *, score: float = 0.95, h: float = CHAR, vertical: bool = False) -> OcrLine:
    """An OCR line whose box fits its text: Han characters CHAR wide, Latin and digits about half."""
    size = sum(CHAR if ord(c) >= 0x2E80 else CHAR * 0.55 for c in text)
    w, hh = (h, size) if vertical else (size, h)
    quad = ((x, y), (x + w, y), (x + w, y + hh), (x, y + hh))
    return OcrLine(quad=quad, text=text, score=score, vertical=vertical)


def page(*lines: OcrLine) -> OcrResult:
    return OcrResult(lines=list(lines), engine="fixture", engine_version="0", model="hand", width=2480, height=3508)


def values(extraction) -> dict[str, str]:
    return {k: f.value for k, f in extraction.fields.items()}


def test_ruled_table_one_pair_per_row():
    ocr = page(
        line("常住人口登记表", 900, 100, h=60),
        line("姓名", 200, 300), line("王桂兰", 600, 295, h=48),
        line("性别", 200, 400), line("女", 600, 398),
        line("民族", 200, 500), line("汉", 600, 505),
        line("出生日期", 200, 600), line("一九五八年四月十二日", 600, 596, h=46),
        line("住址", 200, 700), line("北京市东城区东四十条12号", 600, 700),
        line("登记日期", 200, 800), line("1980.5.6", 600, 800),
    )
    result = extract(ocr)
    assert result.doc_type == "resident_registration"
    assert values(result) == {
        "name": "王桂兰",
        "sex": "女",
        "ethnicity": "汉族",
        "birth_date": "1958-04-12",
        "address": "北京市东城区东四十条12号",
        "registration_date": "1980-05-06",
    }
    birth = result.fields["birth_date"]
    assert birth.raw == "一九五八年四月十二日" and birth.precision == "YMD"
    assert result.fields["ethnicity"].raw == "汉"


def test_two_pairs_per_row_with_a_blank_cell():
    ocr = page(
        line("姓名", 200, 300), line("李建国", 420, 300), line("性别", 900, 300), line("男", 1100, 302),
        line("曾用名", 200, 400), line("民族", 900, 400), line("回", 1100, 400),
        line("出生日期", 200, 500), line("1949年10月1日", 420, 500), line("籍贯", 900, 500), line("河北保定", 1100, 500),
        line("文化程度", 200, 600), line("高中", 420, 600), line("职业", 900, 600), line("工人", 1100, 600),
    )
    assert values(extract(ocr)) == {
        "name": "李建国",
        "sex": "男",
        "ethnicity": "回族",
        "birth_date": "1949-10-01",
        "native_place": "河北保定",
        "education": "高中",
        "occupation": "工人",
    }


def test_label_colon_value_on_ruled_lines():
    ocr = page(
        line("户口迁移证", 900, 100, h=60),
        line("编号：0031", 1700, 200),
        line("姓名：张秀英", 200, 300),
        line("性别：", 900, 300), line("女", 1030, 296),
        line("迁往地址：", 200, 400), line("天津市河西区友谊路5号", 420, 398),
        line("迁移原因：投亲", 200, 500),
        line("签发日期：一九七九年三月二日", 200, 600),
    )
    result = extract(ocr)
    assert result.doc_type == "migration_certificate"
    assert values(result) == {
        "name": "张秀英",
        "sex": "女",
        "move_to": "天津市河西区友谊路5号",
        "move_reason": "投亲",
        "event_date": "1979-03-02",
        "serial_no": "0031",
    }


def test_household_table_with_column_headers_and_ditto_marks():
    headers = ["姓名", "与户主关系", "性别", "出生日期", "民族"]
    xs = [200, 450, 750, 950, 1350]
    rows = [
        ["王大山", "户主", "男", "1930.2.3", "汉"],
        ["李秀珍", "妻", "女", "1932.7.15", "〃"],
        ["王小明", "长子", "男", "1955.11.20", "同上"],
    ]
    lines = [line("户口登记簿", 900, 100, h=60), line("住址", 200, 200), line("红旗公社三大队", 420, 200)]
    lines += [line(text, x, 300) for text, x in zip(headers, xs)]
    for r, row in enumerate(rows):
        lines += [line(text, x, 400 + 100 * r, h=44) for text, x in zip(row, xs)]
    result = extract(page(*lines))
    assert result.doc_type == "household_register"
    people = [{k: f.value for k, f in m.fields.items()} for m in result.mentions]
    assert [m.role for m in result.mentions] == ["head", "household_member", "household_member"]
    assert [p["name"] for p in people] == ["王大山", "李秀珍", "王小明"]
    assert [p["relation_to_head"] for p in people] == ["户主", "妻", "长子"]
    assert [p["birth_date"] for p in people] == ["1930-02-03", "1932-07-15", "1955-11-20"]
    assert [p["ethnicity"] for p in people] == ["汉族", "汉族", "汉族"]
    ditto = result.mentions[2].fields["ethnicity"]
    assert "from_ditto" in ditto.flags and ditto.raw == "同上"
    assert "from_ditto" not in result.mentions[0].fields["ethnicity"].flags
    # the principal person is the first member, plus the page's address
    assert values(result)["name"] == "王大山" and values(result)["address"] == "红旗公社三大队"


def test_label_and_value_in_one_box():
    ocr = page(
        line("姓名王桂兰性别女", 200, 300),
        line("出生日期：1958年4月12日", 200, 400),
        line("公民身份号码110101580412002", 200, 500),
    )
    result = values(extract(ocr))
    assert result["name"] == "王桂兰"
    assert result["sex"] == "女"
    assert result["birth_date"] == "1958-04-12"
    assert result["id_number"].startswith("11010119580412002")


def test_address_is_not_cut_at_a_label_word_inside_it():
    ocr = page(line("住址：新华街民族路5号", 200, 300), line("姓名", 200, 400), line("赵一", 400, 400))
    assert values(extract(ocr)) == {"address": "新华街民族路5号", "name": "赵一"}


def test_unseen_label_wording_and_ocr_errors_in_labels():
    ocr = page(
        line("死者姓名", 200, 300), line("孙德胜", 500, 300),  # wording from the synonym table
        line("死亡目期", 200, 400), line("1975年8月3日", 500, 400),  # 日 misread as 目
        line("原住址", 200, 500), line("城关镇西街3号", 500, 500),
        line("性", 200, 600), line("别", 260, 600), line("男", 500, 600),  # a label split over two boxes
    )
    result = extract(ocr)
    assert values(result) == {
        "name": "孙德胜",
        "event_date": "1975-08-03",
        "address": "城关镇西街3号",
        "sex": "男",
    }
    assert result.doc_type == "death_deregistration"


def test_values_written_under_labels_in_vertical_columns():
    ocr = page(
        line("姓名", 1800, 300, vertical=True), line("陈阿毛", 1800, 420, vertical=True),
        line("性别", 1700, 300, vertical=True), line("男", 1700, 420),
        line("籍贯", 1600, 300, vertical=True), line("浙江绍兴", 1600, 420, vertical=True),
    )
    assert values(extract(ocr)) == {"name": "陈阿毛", "sex": "男", "native_place": "浙江绍兴"}


def test_birth_registration_names_parents_as_mentions():
    ocr = page(
        line("出生登记表", 900, 100, h=60),
        line("婴儿姓名", 200, 300), line("周小红", 500, 300), line("性别", 900, 300), line("女", 1100, 300),
        line("出生日期", 200, 400), line("1983年6月1日", 500, 400),
        line("父亲姓名", 200, 500), line("周建华", 500, 500), line("母亲姓名", 900, 500), line("刘芳", 1100, 500),
        line("父亲民族", 200, 600), line("汉", 500, 600),
    )
    result = extract(ocr)
    assert result.doc_type == "birth_registration"
    assert values(result)["father_name"] == "周建华" and values(result)["mother_name"] == "刘芳"
    roles = {m.role: {k: f.value for k, f in m.fields.items()} for m in result.mentions}
    assert roles["subject"]["name"] == "周小红"
    assert roles["father"] == {"name": "周建华", "ethnicity": "汉族"}
    assert roles["mother"] == {"name": "刘芳"}


def test_low_confidence_and_invalid_values_go_to_review():
    ocr = page(
        line("姓名", 200, 300), line("王柱兰", 500, 300, score=0.41),
        line("公民身份号码", 200, 400), line("110101195804120024", 600, 400),
    )
    ocr.lines[1].alternatives = [
        [CharAlternative("王", 0.5)],
        [CharAlternative("柱", 0.3), CharAlternative("桂", 0.28)],
        [CharAlternative("兰", 0.43)],
    ]
    result = extract(ocr, ExtractOptions(low_confidence=0.6))
    name = result.fields["name"]
    assert "low_confidence" in name.flags and name.confidence < 0.6
    assert "王桂兰" in name.alternatives
    assert any(r.startswith("name: low OCR confidence") for r in result.review)
    assert any("id_invalid" in r for r in result.review)


TITLES = {
    "resident_registration": "常住人口登记表",
    "household_register": "户口登记簿",
    "migration_certificate": "户口迁移证",
    "move_in_permit": "准予迁入证明",
    "birth_registration": "出生登记表",
    "death_deregistration": "死亡注销登记表",
    "change_correction": "户口变更更正申请表",
    "id_card_application": "居民身份证申领登记表",
}


@pytest.mark.parametrize("doc_type", sorted(TITLES))
def test_doc_type_from_title(doc_type):
    ocr = page(line(TITLES[doc_type], 800, 100, h=60), line("姓名", 200, 300), line("王桂兰", 500, 300))
    assert classify(ocr)[0] == doc_type


def test_doc_type_from_labels_when_the_title_is_lost():
    death = page(line("姓名", 200, 300), line("孙德胜", 500, 300), line("死亡日期", 200, 400), line("1975.8.3", 500, 400))
    move = page(line("姓名", 200, 300), line("张三", 500, 300), line("迁往地址", 200, 400), line("天津", 500, 400),
                line("迁移原因", 200, 500), line("工作", 500, 500))
    assert classify(death)[0] == "death_deregistration"
    assert classify(move)[0] == "migration_certificate"
    assert classify(page(line("一二三", 200, 300)))[0] == "other"
    assert set(TITLES) | {"other"} == set(DOC_TYPES)


def test_unknown_label_read_by_its_words_where_labels_stand():
    ocr = page(
        line("姓名", 200, 300), line("马玉兰", 500, 300),
        line("拟去往详细住处", 200, 400), line("包头市东河区南门外大街8号", 560, 400),  # not in the table
        line("何年何月迁出", 200, 500), line("1972年5月25日", 500, 500),
        line("民族", 200, 600), line("汉族", 500, 600),
    )
    result = values(extract(ocr))
    assert result["move_to"] == "包头市东河区南门外大街8号"
    assert result["event_date"] == "1972-05-25"
    assert result["ethnicity"] == "汉族"  # a value left-aligned with labels stays a value


def test_label_recognised_through_the_engines_runner_up_character():
    label = line("娃名", 200, 300)
    label.alternatives = [[CharAlternative("娃", 0.6), CharAlternative("姓", 0.3)], [CharAlternative("名", 0.99)]]
    assert values(extract(page(label, line("王桂兰", 500, 300)))) == {"name": "王桂兰"}


def test_card_values_below_and_indented_from_their_labels():
    ocr = page(
        line("姓名", 150, 400), line("性别", 1250, 400),
        line("吴杰", 340, 510, h=90), line("男", 1440, 495, h=80),
        line("民族", 150, 630), line("出生日期", 1250, 630),
        line("汉", 330, 730, h=75), line("一九六六年十一月十四日", 1450, 725, h=78),
    )
    assert values(extract(ocr)) == {"name": "吴杰", "sex": "男", "ethnicity": "汉族", "birth_date": "1966-11-14"}


def test_labels_printed_downwards_with_values_beside_them():
    ocr = page(
        line("姓名", 150, 410, h=70, vertical=True), line("吴杰", 300, 515, h=90),
        line("民族", 150, 715, h=70, vertical=True), line("汉", 290, 830, h=75),
    )
    assert values(extract(ocr)) == {"name": "吴杰", "ethnicity": "汉族"}


def test_vertical_form_with_each_value_in_the_column_left_of_its_label():
    cols = [("姓名", "吴杰"), ("民族", "回"), ("籍贯", "山西忻县"), ("职业", "退休")]
    lines = [line("常住人口登记表", 2200, 200, h=100, vertical=True)]
    x = 1900
    for label, value in cols:
        lines.append(line(label, x, 280, h=85, vertical=True))
        lines.append(line(value, x - 120, 300, h=85, vertical=len(value) > 1))
        x -= 240
    assert values(extract(page(*lines))) == {"name": "吴杰", "ethnicity": "回族", "native_place": "山西忻县", "occupation": "退休"}


def test_part_of_a_value_written_above_the_printed_line():
    ocr = page(
        line("姓名：", 200, 565), line("陈桂英", 414, 521, h=95),
        line("出生年月日：十二月四日", 209, 775, h=69), line("一九二五年", 540, 713, h=58),
    )
    assert values(extract(ocr)) == {"name": "陈桂英", "birth_date": "1925-12-04"}


def test_vertical_running_text_wrapping_from_column_to_column():
    columns = ["姓名吴杰性别男民", "族汉出生日期一九", "六六年十一月十四日", "籍贯山西忻县与户主", "关系户主文化程度", "初中住址新城区东风路"]
    lines = [line("常住人口登记表", 2221, 214, h=100, vertical=True)]
    for k, text in enumerate(columns):
        lines.append(line(text, 2021 - 130 * k, 306, h=80, vertical=True))
    assert values(extract(page(*lines))) == {
        "name": "吴杰", "sex": "男", "ethnicity": "汉族", "birth_date": "1966-11-14", "native_place": "山西忻县",
        "relation_to_head": "户主", "education": "初中", "address": "新城区东风路",
    }


def test_labels_printed_in_traditional_characters():
    ocr = page(line("與戶主關係", 200, 300), line("戶主", 500, 300), line("籍貫", 200, 400), line("河北", 500, 400),
               line("職業", 200, 500), line("農民", 500, 500))
    assert values(extract(ocr)) == {"relation_to_head": "户主", "native_place": "河北", "occupation": "农民"}


def test_label_cells_printed_downwards_one_box_per_character():
    ocr = page(
        line("姓名", 220, 455, h=60, vertical=True), line("张拴柱", 385, 545, h=120),
        line("性", 226, 806, h=65), line("別", 222, 942, h=65), line("男", 397, 873, h=110),
        line("籍贯", 220, 1130, h=65, vertical=True), line("河北张", 378, 1103, h=120), line("家口", 377, 1236, h=120),
        line("所", 222, 2209, h=70),  # what is left of 住所: it closes the cell above and names its own
        line("呼和浩特市郊区大学西街129号", 382, 2134, h=130),
        line("公安局", 1679, 2641, h=130, vertical=True),  # seal text below the address
    )
    assert values(extract(ocr)) == {
        "name": "张拴柱", "sex": "男", "native_place": "河北张家口", "address": "呼和浩特市郊区大学西街129号",
    }


def test_question_labels_corrections_and_id_check_repair():
    id_line = line("公民身份号码110101195804120024", 200, 600)
    digits = "公民身份号码110101195804120024"
    id_line.alternatives = [[CharAlternative(c, 0.99)] for c in digits]
    id_line.alternatives[-2] = [CharAlternative("2", 0.55), CharAlternative("8", 0.40)]  # …120024 fails, …120084 holds
    ocr = page(
        line("何种职业", 200, 300), line("工人", 500, 300),
        line("婚姻状况", 200, 400), line("未婚更正已婚", 500, 400),
        id_line,
    )
    result = extract(ocr)
    assert result.fields["occupation"].value == "工人"
    assert result.fields["marital_status"].value == "已婚"
    assert "corrected_on_page" in result.fields["marital_status"].flags
    ident = result.fields["id_number"]
    assert ident.value == "110101195804120084" and "checksum_repaired" in ident.flags


@pytest.mark.parametrize(
    ("wording", "value", "key", "expected"),
    [
        ("户籍人姓名", "王桂兰", "name", "王桂兰"),  # ends in 姓名: a name, though 籍 is in it
        ("死亡者名字", "王桂兰", "name", "王桂兰"),  # 名字 after a known wording read with an error
        ("户籍住址", "新华街5号", "address", "新华街5号"),  # a qualifier before a known label
        ("迁往详址", "新华街5号", "move_to", "新华街5号"),  # a head noun after a known label
        ("出生年月日期", "1958年4月12日", "birth_date", "1958-04-12"),
        ("出生所在地", "山西大同", "birthplace", "山西大同"),
    ],
)
@pytest.mark.parametrize("layout", ["cell", "colon", "one_box"])
def test_unseen_wording_read_by_head_noun_and_qualifier(wording, value, key, expected, layout):
    lines = [line("户口迁移证", 900, 50, h=60)] if key.startswith("move") else []
    lines += [line("性别", 200, 200), line("男", 600, 200)]
    if layout == "cell":
        lines += [line(wording, 200, 300), line(value, 600, 300)]
    else:
        lines.append(line(wording + ("：" if layout == "colon" else "") + value, 200, 300))
    lines += [line("民族", 200, 400), line("汉", 600, 400)]
    assert values(extract(page(*lines))) == {"sex": "男", key: expected, "ethnicity": "汉族"}


def test_qualifier_and_value_set_apart_stay_apart():
    # the value of the cell before, read in one box with the next label: it is not a qualifier
    value_and_label = line("工人文化程度", 200, 300)
    value_and_label.char_centers = [0.06, 0.2, 0.5, 0.64, 0.78, 0.92]  # a wide gap after 工人
    ocr = page(line("职业", 40, 300), value_and_label, line("初中", 700, 300))
    assert values(extract(ocr)) == {"occupation": "工人", "education": "初中"}


def test_header_row_printed_downwards_with_a_row_per_person():
    headers = ["登记人姓名", "与户长关系", "性别", "生年月日"]
    xs = [200, 500, 800, 1100]
    lines = [line("居民户口簿", 700, 60, h=70), line("户主：", 200, 160), line("张健", 330, 160)]
    lines += [line(text, x + 40, 260, vertical=True) for text, x in zip(headers, xs)]
    rows = [["张健", "户主", "男", "1946.9.6"], ["郭素珍", "妻", "女", "1951.10.16"], ["张红", "长女", "女", "1974.6.26"]]
    for r, row in enumerate(rows):
        lines += [line(text, x, 520 + 110 * r, h=60) for text, x in zip(row, xs)]
    result = extract(page(*lines))
    people = [{k: f.value for k, f in m.fields.items()} for m in result.mentions]
    assert [p.get("name") for p in people] == ["张健", "郭素珍", "张红"]
    assert [p.get("relation_to_head") for p in people] == ["户主", "妻", "长女"]
    assert [p.get("birth_date") for p in people] == ["1946-09-06", "1951-10-16", "1974-06-26"]
    assert result.doc_type == "household_register"


def test_spaced_label_characters_in_a_header_row_join_down_their_column():
    # one box per character; each stands nearer the next header's character than its own second one
    chars = [("原", "籍", 200), ("生", "地", 300), ("族", "别", 400), ("性", "别", 500)]
    lines = []
    for top, bottom, x in chars:
        lines += [line(top, x, 200), line(bottom, x, 350)]
    lines += [line("山西代县", 200, 500, vertical=True), line("内蒙古", 300, 500, vertical=True),
              line("汉", 400, 500), line("女", 500, 500)]
    assert values(extract(page(*lines))) == {
        "native_place": "山西代县", "birthplace": "内蒙古", "ethnicity": "汉族", "sex": "女",
    }


def test_seal_ring_text_below_and_beside_values_is_not_read_into_them():
    ocr = page(
        line("土默特左旗公安局", 100, 40),
        line("姓名", 200, 300), line("王军", 500, 300),
        line("籍贯", 200, 400), line("内蒙古呼", 500, 400), line("和浩特", 505, 450),  # wrapped: kept
        line("迁移原因", 200, 600), line("招工", 500, 600), line("左旗公", 900, 625),  # the seal's ring
        line("迁出日期", 1100, 600, h=40), line("特市", 1150, 570, h=50),  # the seal over a label
        line("1976年5月9日", 1300, 600),
    )
    result = values(extract(ocr))
    assert result["native_place"] == "内蒙古呼和浩特"
    assert result["move_reason"] == "招工"
    assert result["event_date"] == "1976-05-09"


def test_doc_type_from_an_unknown_title_by_its_words():
    for title, doc_type in [("身份证申领表", "id_card_application"), ("死亡人口销户登记", "death_deregistration"),
                            ("户籍变更申报表", "change_correction"), ("迁移户口证明书", "migration_certificate")]:
        ocr = page(line(title, 700, 100, h=70), line("姓名", 200, 300), line("王军", 500, 300))
        assert extract(ocr).doc_type == doc_type, title


def test_value_read_in_one_box_with_the_next_label_and_its_colon():
    ocr = page(line("籍贯：", 200, 300), line("河北蔚县文化：", 420, 300), line("小学", 800, 300))
    assert values(extract(ocr)) == {"native_place": "河北蔚县", "education": "小学"}


def test_seal_characters_inside_a_written_date_are_dropped_only_when_a_whole_date_remains():
    ocr = page(
        line("出生日期", 200, 300), line("一九五八年公四月十二日", 500, 300),  # the seal stamped over the date
        line("登记日期", 200, 400), line("特八六年三月二五", 500, 400),  # 日 lost too: not a whole date
    )
    result = extract(ocr)
    birth = result.fields["birth_date"]
    assert birth.value == "1958-04-12" and "date_repaired" in birth.flags
    assert result.fields["registration_date"].value != "1986-03-25"


def test_struck_value_and_its_replacement_in_one_cell():
    ocr = page(line("婚姻状况", 200, 300), line("未婚已婚", 500, 300),
               line("文化程度", 200, 400), line("初小初中", 500, 400))
    result = extract(ocr)
    assert result.fields["marital_status"].value == "已婚"
    assert "corrected_on_page" in result.fields["marital_status"].flags
    assert result.fields["education"].value == "初中"


def test_printed_instructions_hold_no_labels():
    ocr = page(line("准迁证", 700, 80, h=70), line("姓名", 200, 300), line("王军", 500, 300),
               line("二、迁往地址须写明街道门牌号码。", 200, 900), line("三、本证逾期作废。", 200, 960))
    result = extract(ocr)
    assert values(result) == {"name": "王军"}


def test_a_row_read_in_one_box_under_headers_printed_downwards_stays_a_row_of_cells():
    headers = ["姓名", "与户主关系", "性别", "籍贯"]
    xs = [200, 500, 800, 1100]
    lines = [line("户口登记簿", 700, 60, h=70), line("户主：", 200, 140), line("顾华", 330, 140),
             line("住所：", 200, 200), line("红旗公社三大队", 330, 200)]  # labels the row's left edge lines up with
    lines += [line(text, x + 40, 260, vertical=True) for text, x in zip(headers, xs)]
    joined = line("顾华户主男", 200, 520, h=60)  # detection joined three cells: the box spans their columns
    joined.quad = ((200, 520), (900, 520), (900, 580), (200, 580))
    joined.char_centers = [30 / 700, 90 / 700, 340 / 700, 400 / 700, 640 / 700]
    lines += [joined, line("河北阳原", 1100, 520, h=60)]
    lines += [line("吕丽华", 200, 630, h=60), line("妻", 500, 630, h=60), line("女", 800, 630, h=60),
              line("山西忻县", 1100, 630, h=60)]
    people = [{k: f.value for k, f in m.fields.items()} for m in extract(page(*lines)).mentions]
    assert [p.get("name") for p in people] == ["顾华", "吕丽华"]
    assert [p.get("relation_to_head") for p in people] == ["户主", "妻"]
    assert [p.get("native_place") for p in people] == ["河北阳原", "山西忻县"]


def test_unseen_wordings_on_lines_of_their_own_with_no_known_label_to_line_up_with():
    # none of these wordings is in config/labels.toml: each is read by the words in it
    ocr = page(
        line("婚配", 200, 300), line("已婚", 500, 300),
        line("学识", 200, 400), line("初中", 500, 400),
        line("族属", 200, 500), line("蒙古", 500, 500),
    )
    assert values(extract(ocr)) == {"marital_status": "已婚", "education": "初中", "ethnicity": "蒙古族"}


def test_header_row_of_unseen_wordings_read_in_one_box():
    # 族属, 婚配, 学识 are not in the table; the header came back as one OCR box
    ocr = page(
        line("户口登记簿", 900, 100, h=60), line("姓名族属婚配学识", 200, 300),
        line("王山", 200, 400), line("汉", 300, 400), line("已婚", 362, 400), line("高中", 442, 400),
        line("李珍", 200, 500), line("回", 300, 500), line("未婚", 362, 500), line("初中", 442, 500),
    )
    people = [{k: f.value for k, f in m.fields.items()} for m in extract(ocr).mentions]
    assert people == [
        {"name": "王山", "ethnicity": "汉族", "marital_status": "已婚", "education": "高中"},
        {"name": "李珍", "ethnicity": "回族", "marital_status": "未婚", "education": "初中"},
    ]


def test_value_lines_holding_label_words_stay_values():
    # a value on a line of its own that holds a field's words (原籍, 居住) is not an unknown label
    ocr = page(
        line("迁移原因", 200, 300), line("退休回原籍", 500, 300),
        line("住址", 200, 400), line("居住区3号", 500, 400),
        line("与户主关系", 200, 500), line("妻", 500, 500),
    )
    assert values(extract(ocr)) == {"move_reason": "退休回原籍", "address": "居住区3号", "relation_to_head": "妻"}
