"""Reading values: stray pieces in coded cells, corrections, dates in pieces, cross-checked readings."""

from __future__ import annotations

from pipeline.extract import extract
from pipeline.normalize import upgrade_id15
from pipeline.records import CharAlternative
from tests.test_extract import line, page, values


def test_a_coded_cell_takes_the_piece_that_reads_as_a_code_and_keeps_the_whole_raw():
    ocr = page(
        line("姓名", 200, 300), line("王军", 500, 300),
        line("民族", 200, 400), line("汉", 500, 400), line("一九八五年", 640, 385),  # a neighbour's date reaching in
        line("性别", 200, 500), line("籍", 440, 500), line("女", 500, 500), line("家口", 560, 500),
    )
    result = extract(ocr)
    ethnicity = result.fields["ethnicity"]
    assert ethnicity.value == "汉族" and ethnicity.raw == "汉一九八五年"
    assert "stray_text_dropped" in ethnicity.flags
    assert result.fields["sex"].value == "女"


def test_a_coded_cell_with_two_codes_keeps_the_later():
    ocr = page(line("婚姻状况", 200, 300), line("未婚", 500, 300), line("已婚", 700, 300))
    assert values(extract(ocr))["marital_status"] == "已婚"


def test_a_coded_cell_that_reads_as_no_code_is_left_whole_for_review():
    ocr = page(line("民族", 200, 300), line("天", 500, 300), line("地", 600, 300))
    field = extract(ocr).fields["ethnicity"]
    assert field.raw == "天地" and "unknown_ethnicity" in field.flags and "stray_text_dropped" not in field.flags


def test_struck_value_a_partly_read_correction_stamp_and_the_new_value():
    ocr = page(line("婚否", 200, 300), line("未婚正喪偶", 500, 300),
               line("文化", 200, 400), line("小学更初中", 500, 400))
    result = extract(ocr)
    assert result.fields["marital_status"].value == "丧偶"
    assert "corrected_on_page" in result.fields["marital_status"].flags
    assert result.fields["education"].value == "初中"


def test_date_digit_groups_read_as_pieces_of_their_own():
    ocr = page(
        line("登记日期", 200, 300), line("74", 500, 300), line("12", 600, 300), line("28", 700, 300),
        line("出生日期", 200, 400), line("1985", 500, 400), line("1", 640, 400), line("2", 680, 400),
        line("30", 720, 400),
    )
    result = values(extract(ocr))
    assert result["registration_date"] == "1974-12-28"
    assert result["birth_date"] == "1985-12-30"  # one digit to a box: one number


def test_a_restored_year_digit_lowers_confidence_and_asks_for_review():
    ocr = page(line("姓名", 200, 300), line("王军", 500, 300),
               line("登记日期", 200, 400), line("九七六年六月八日", 500, 400))
    result = extract(ocr)
    field = result.fields["registration_date"]
    assert field.value == "1976-06-08" and field.raw == "九七六年六月八日"
    assert "year_digit_restored" in field.flags and field.confidence < 0.9
    assert any(r.startswith("registration_date:") and "九七六年六月八日" in r for r in result.review)


def test_seal_ring_pieces_read_poorly_and_out_of_size_are_dropped_from_a_value_but_kept_in_raw():
    ocr = page(
        line("姓名", 200, 300), line("王军", 500, 300),
        line("住址", 200, 500), line("呼和浩特市回民区西龙王庙街57号", 500, 500),
        line("海湖浩特市公", 1300, 480, h=70, score=0.45),  # the seal's ring, read as a tall line
        line("加", 1100, 545, h=20, score=0.2),  # a lone ring glyph under the line's end
    )
    field = extract(ocr).fields["address"]
    assert field.value == "呼和浩特市回民区西龙王庙街57号"
    assert "海湖浩特市公" in field.raw and "stray_text_dropped" in field.flags


def test_a_poorly_read_piece_of_the_handwriting_size_stays_in_the_value():
    ocr = page(line("住址", 200, 500), line("呼和浩特市回民区", 500, 500), line("西龙王庙街57号", 850, 500, score=0.4))
    assert extract(ocr).fields["address"].value == "呼和浩特市回民区西龙王庙街57号"


def test_a_whole_date_beside_an_address_is_not_part_of_it():
    ocr = page(line("住址", 200, 500), line("大南街76号", 500, 500), line("一九六四年八月十九日", 1000, 500))
    assert extract(ocr).fields["address"].value == "大南街76号"


def _form_with_closing_date(cell: list, closing: str = "一九七七年八月二十三日"):
    return page(
        line("常住人口登记表", 900, 100, h=60),
        line("姓名", 200, 300), line("王军", 500, 300),
        line("登记日期", 200, 400), *cell,
        line("承办人：李琴", 200, 700), line(closing, 1400, 700),
    )


def test_a_registration_date_cut_off_in_its_cell_is_completed_by_the_forms_closing_date():
    result = extract(_form_with_closing_date([line("一九七七年八月二", 500, 400)]))
    field = result.fields["registration_date"]
    assert field.value == "1977-08-23" and field.raw == "一九七七年八月二"
    assert "from_signature_date" in field.flags and "1977-08-02" in field.alternatives
    assert field.confidence < 0.9 and any(r.startswith("registration_date:") for r in result.review)


def test_a_year_only_registration_date_takes_the_closing_date_of_that_year_only():
    assert values(extract(_form_with_closing_date([line("一九七七年", 500, 400)])))["registration_date"] == "1977-08-23"
    other_year = values(extract(_form_with_closing_date([line("一九七六年", 500, 400)])))
    assert other_year["registration_date"] == "1976"


def test_a_character_lost_under_a_seal_is_read_from_the_closing_date_only_when_it_fits():
    # 十 read as 甚: dropping it gives 八月三日; the closing date 八月十三日 fits the cell as well
    fixed = extract(_form_with_closing_date([line("一九七七年八月甚三日", 500, 400)], "77.8.13"))
    assert fixed.fields["registration_date"].value == "1977-08-13"
    # a whole, cleanly read date differing from the closing date stays as written
    kept = extract(_form_with_closing_date([line("一九七七年八月二十二日", 500, 400)]))
    assert kept.fields["registration_date"].value == "1977-08-22"
    assert "from_signature_date" not in kept.fields["registration_date"].flags


def test_a_cancellation_stamp_read_after_a_coded_value_is_not_part_of_it():
    ocr = page(line("文化程度", 200, 300), line("初中死", 500, 300),
               line("婚姻状况", 200, 400), line("已婚注销", 500, 400),
               line("职业", 200, 500), line("工人", 500, 500))
    result = extract(ocr)
    assert result.fields["education"].value == "初中" and "stamp_word_dropped" in result.fields["education"].flags
    assert result.fields["education"].raw == "初中死"
    assert result.fields["marital_status"].value == "已婚"


def test_struck_level_stamp_and_new_level_where_the_struck_one_only_starts_a_known_wording():
    ocr = page(line("文化程度", 200, 300), line("初小国小学死亡", 500, 300))
    assert values(extract(ocr))["education"] == "小学"
    ocr = page(line("文化程度", 200, 300), line("小学四年级", 500, 300))
    assert values(extract(ocr))["education"] == "小学四年级"  # a level and its year stay one value


def test_a_well_read_piece_of_the_offices_seal_out_of_the_handwritings_size_is_dropped():
    ocr = page(
        line("呼和浩特市公安局新城区分局", 100, 40),
        line("住址", 200, 500), line("西龙王庙街165号", 500, 500),
        line("和浩特市", 1000, 470, h=100, score=0.92),  # the seal's ring: big, read well, the office's name
    )
    field = extract(ocr).fields["address"]
    assert field.value == "西龙王庙街165号" and "stray_text_dropped" in field.flags
    # the same words written at the handwriting's size are a value's continuation
    ocr = page(line("呼和浩特市公安局", 100, 40), line("住址", 200, 500), line("内蒙古", 500, 500),
               line("呼和浩特市", 640, 500))
    assert extract(ocr).fields["address"].value == "内蒙古呼和浩特市"


def _with_alternatives(ocr_line, runner_ups: dict[int, str]):
    """Give each character its own reading and, at the positions given, a runner-up."""
    ocr_line.alternatives = [
        [CharAlternative(c, 0.6)] + ([CharAlternative(runner_ups[i], 0.35)] if i in runner_ups else [])
        for i, c in enumerate(ocr_line.text)
    ]
    return ocr_line


def test_an_id_reading_that_agrees_with_the_birth_date_stands_over_one_that_does_not():
    # 15 digits: the birth segment 580412 read as 580417; the runner-up 2 agrees with the birth date
    ident = _with_alternatives(line("110101580417002", 500, 400), {11: "2"})
    ocr = page(line("姓名", 200, 300), line("王军", 500, 300), line("身份证号", 200, 400), ident,
               line("出生日期", 200, 500), line("1958年4月12日", 500, 500))
    result = extract(ocr)
    field = result.fields["id_number"]
    assert field.value == upgrade_id15("110101580412002") and "cross_checked" in field.flags
    assert field.raw == "110101580417002" and upgrade_id15("110101580417002") in field.alternatives
    assert any(r.startswith("id_number:") for r in result.review)


def test_a_birth_date_reading_that_agrees_with_the_id_stands_over_one_that_does_not():
    born = _with_alternatives(line("1958年4月17日", 500, 500), {8: "2"})
    ocr = page(line("姓名", 200, 300), line("王军", 500, 300), line("身份证号", 200, 400),
               line("110101580412002", 500, 400), line("出生日期", 200, 500), born)
    field = extract(ocr).fields["birth_date"]
    assert field.value == "1958-04-12" and "cross_checked" in field.flags and "1958-04-17" in field.alternatives


def test_an_unreadable_birth_date_takes_the_ids_date_only_when_that_explains_the_cell():
    def birth(cell: str):
        ocr = page(line("姓名", 200, 300), line("王军", 500, 300), line("身份证号", 200, 400),
                   line("110101500412002", 500, 400), line("出生日期", 200, 500), line(cell, 500, 500))
        return extract(ocr).fields["birth_date"]

    lost_zero = birth("一九五年四月十二日")  # the 〇 lost
    assert lost_zero.value == "1950-04-12" and "from_id_number" in lost_zero.flags
    assert lost_zero.raw == "一九五年四月十二日" and lost_zero.precision == "YMD"
    other = birth("一九三七年")  # another year: stays as read, for review
    assert other.value == "1937" and "from_id_number" not in other.flags


def test_id_and_birth_date_that_agree_or_have_no_agreeing_reading_are_left_as_read():
    ocr = page(line("姓名", 200, 300), line("王军", 500, 300), line("身份证号", 200, 400),
               line("110101580417002", 500, 400), line("出生日期", 200, 500), line("1958年4月12日", 500, 500))
    result = extract(ocr)
    assert result.fields["birth_date"].value == "1958-04-12"
    assert result.fields["id_number"].value == upgrade_id15("110101580417002")
    assert not {"cross_checked", "from_id_number"} & set(result.fields["id_number"].flags + result.fields["birth_date"].flags)
    assert any("id_birth_mismatch" in r for r in result.review)


def test_a_date_cut_off_in_its_cell_gives_way_to_a_whole_one_in_the_cell_that_it_starts():
    ocr = page(line("登记日期", 200, 400), line("一九八五年八月二十", 500, 400), line("85年8月24日", 1000, 400))
    field = extract(ocr).fields["registration_date"]
    assert field.value == "1985-08-24" and "cut_date_completed" in field.flags and field.confidence < 0.9
    # a whole date of another month is not this one's completion
    ocr = page(line("登记日期", 200, 400), line("一九八五年八月二十", 500, 400), line("85年9月24日", 1000, 400))
    assert extract(ocr).fields["registration_date"].value == "1985-08-20"


def test_the_next_fields_code_run_into_a_coded_value_is_dropped():
    ocr = page(line("文化程度", 200, 300), line("文盲已婚", 500, 300))
    field = extract(ocr).fields["education"]
    assert field.value == "文盲" and "other_code_dropped" in field.flags and field.raw == "文盲已婚"


def _change_form(item: str, before: str, after: str):
    return page(
        line("户口变更更正登记表", 700, 100, h=60),
        line("本人姓名", 200, 300), line("刘军" if item != "姓名" else after, 500, 300),
        line("变更更正项目", 200, 500), line(item, 600, 500),
        line("变更更正前", 1100, 500), line(before, 1400, 500),
        line("变更更正后", 200, 600), line(after, 600, 600),
        line("更正日期", 1100, 600), line("1983年1月13日", 1400, 600),
    )


def test_a_change_record_gives_the_changed_fields_value_after():
    result = extract(_change_form("民族", "满族", "汉族"))
    assert result.doc_type == "change_correction"
    field = result.fields["ethnicity"]
    assert field.value == "汉族" and "from_change_record" in field.flags
    assert result.fields["event_date"].value == "1983-01-13"
    assert values(extract(_change_form("文化程度", "小学", "初中")))["education"] == "初中"


def test_a_name_change_record_gives_the_former_name():
    result = values(extract(_change_form("姓名", "汪小刚", "汪志刚")))
    assert result["name"] == "汪志刚" and result["former_name"] == "汪小刚"


def test_a_change_record_naming_no_known_field_adds_nothing():
    result = values(extract(_change_form("其他", "甲", "乙")))
    assert set(result) == {"name", "event_date"}


def test_a_misread_id_still_showing_its_birth_segment_fills_an_unreadable_birth_date_it_explains():
    def birth(cell: str, ident: str = "15021971031i37687"):
        ocr = page(line("姓名", 200, 300), line("王军", 500, 300), line("身份证号", 200, 400),
                   line(ident, 500, 400), line("出生日期", 200, 500), line(cell, 500, 500))
        return extract(ocr).fields["birth_date"]

    got = birth("一九七一年月十三日市")  # the month lost, a seal character after the day
    assert got.value == "1971-03-13" and "from_id_number" in got.flags and got.raw == "一九七一年月十三日市"
    assert birth("一九五二年月十日").value != "1971-03-13"  # the ID's date does not explain this cell
    assert birth("1971年3月13日", "15021971031i37687").flags == []  # a readable date is left alone


def test_a_dates_month_and_day_line_caught_in_another_value_is_dropped():
    ocr = page(line("迁移原因", 200, 300), line("随夫迁移", 500, 300), line("6月4号", 800, 300),
               line("籍贯", 200, 500), line("河北", 500, 500), line("保定", 800, 500))
    result = values(extract(ocr))
    assert result["move_reason"] == "随夫迁移" and result["native_place"] == "河北保定"


def test_a_poorly_read_smaller_next_line_under_the_value_stays_in_it():
    ocr = page(line("住址", 200, 500), line("呼和浩特市回民区", 500, 500),
               line("西龙王庙街57号", 505, 545, h=22, score=0.45))  # squeezed under the first line
    assert extract(ocr).fields["address"].value == "呼和浩特市回民区西龙王庙街57号"


def _household(rows: list[list[str]], headers: list[str]):
    xs = [200 + 260 * i for i in range(len(headers))]
    lines = [line("户口登记簿", 900, 100, h=60), line("住址", 200, 200), line("红旗公社三大队", 420, 200)]
    lines += [line(text, x, 300) for text, x in zip(headers, xs)]
    for r, row in enumerate(rows):
        lines += [line(text, x, 400 + 100 * r, h=44) for text, x in zip(row, xs) if text]
    return extract(page(*lines))


def test_a_ditto_mark_read_as_stroke_like_glyphs_takes_the_value_above_flagged_for_review():
    result = _household(
        [["王大山", "户主", "汉", "山西大同"],
         ["李秀珍", "妻", "ⅱ", "11"],
         ["王小明", "长子", "11", "リ"],
         ["王小红", "长女", "〃", "i1"]],
        ["姓名", "与户主关系", "民族", "籍贯"],
    )
    people = {m.fields["name"].value: m.fields for m in result.mentions}
    for name in ("李秀珍", "王小明", "王小红"):
        assert people[name]["ethnicity"].value == "汉族" and people[name]["native_place"].value == "山西大同"
    guessed = people["李秀珍"]["native_place"]
    assert guessed.raw == "11" and {"from_ditto", "ditto_guessed"} <= set(guessed.flags)
    assert guessed.confidence < people["王大山"]["native_place"].confidence
    sure = people["王小红"]["ethnicity"]
    assert "from_ditto" in sure.flags and "ditto_guessed" not in sure.flags
    assert any("native_place" in r and "ditto_guessed" in r and "'11'" in r for r in result.review)


def test_a_stroke_like_reading_that_can_be_a_value_is_not_a_ditto():
    result = _household(
        [["王大山", "户主", "汉", "山西大同", "3"],
         ["李秀珍", "妻", "回", "川", "11"]],  # 川 may be a place (四川); 11 is a number in a numbered column
        ["姓名", "与户主关系", "民族", "籍贯", "编号"],
    )
    people = {m.fields["name"].value: m.fields for m in result.mentions}
    assert people["李秀珍"]["ethnicity"].value == "回族"
    assert people["李秀珍"]["native_place"].value == "川"
    assert "from_ditto" not in people["李秀珍"]["native_place"].flags


def test_a_date_read_without_its_separators_is_split_only_where_one_split_names_a_day():
    ocr = page(line("姓名", 200, 300), line("王军", 500, 300),
               line("出生日期", 200, 400), line("54131", 500, 400),  # 54.1.31: month 13 does not exist
               line("登记日期", 200, 500), line("75123", 500, 500))  # 75.1.23 or 75.12.3: left unread
    result = extract(ocr)
    birth = result.fields["birth_date"]
    assert birth.value == "1954-01-31" and birth.raw == "54131" and "date_digits_split" in birth.flags
    assert birth.confidence < 0.9 and any("birth_date" in r and "'54131'" in r for r in result.review)
    assert "unparsed_date" in result.fields["registration_date"].flags


def test_a_speck_read_as_a_point_inside_a_year_that_nian_closes_is_dropped():
    ocr = page(line("死者姓名", 200, 300), line("王军", 500, 300),
               line("死亡日期", 200, 400), line("1.975年8月21日", 500, 400))
    field = extract(ocr).fields["event_date"]
    assert field.value == "1975-08-21" and field.raw == "1.975年8月21日" and "ocr_fixed" in field.flags
