"""Field normalisation: one case per notation or rule, negatives included."""

from __future__ import annotations

import pytest

from pipeline.normalize import (
    DateValue,
    age_birth_years,
    check_consistency,
    check_household,
    flag_severity,
    ethnicity_code,
    id_check_char,
    id_province,
    is_ditto,
    mask_id,
    normalize_education,
    normalize_ethnicity,
    normalize_id,
    normalize_marital,
    normalize_name,
    normalize_relation,
    normalize_sex,
    normalize_text,
    numeral_value,
    parse_age,
    parse_date,
    upgrade_id15,
)

# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "iso", "precision"),
    [
        ("一九五八年四月十二日", "1958-04-12", "YMD"),
        ("一九五〇年三月五日", "1950-03-05", "YMD"),  # 〇 U+3007
        ("一九五○年三月五日", "1950-03-05", "YMD"),  # ○ U+25CB
        ("一九五O年三月五日", "1950-03-05", "YMD"),  # Latin O
        ("一九五零年三月五日", "1950-03-05", "YMD"),
        ("一九六二年三月二十五日", "1962-03-25", "YMD"),
        ("一九六二年三月廿五日", "1962-03-25", "YMD"),
        ("一九六二年三月卅一日", "1962-03-31", "YMD"),
        ("一九六二年四月三十日", "1962-04-30", "YMD"),
        ("一九六二年十二月十日", "1962-12-10", "YMD"),
        ("一九六二年元月五日", "1962-01-05", "YMD"),
        ("58.4.12", "1958-04-12", "YMD"),
        ("1958.4.12", "1958-04-12", "YMD"),
        ("1958-4-12", "1958-04-12", "YMD"),
        ("1958/04/12", "1958-04-12", "YMD"),
        ("58年4月12日", "1958-04-12", "YMD"),
        ("1958年4月12号", "1958-04-12", "YMD"),
        ("1958年四月十二日", "1958-04-12", "YMD"),  # mixed Arabic year, Chinese month/day
        ("19580412", "1958-04-12", "YMD"),
        ("1958 4 12", "1958-04-12", "YMD"),
        ("一九五八 年 四月 十二 日", "1958-04-12", "YMD"),  # OCR spaces
        ("１９５８年４月１２日", "1958-04-12", "YMD"),  # full-width digits
        ("195O.4.12", "1950-04-12", "YMD"),  # O read for 0 in Arabic digits
        ("1958年4月12日生", "1958-04-12", "YMD"),
        ("1958年4月", "1958-04", "YM"),
        ("1958.4", "1958-04", "YM"),
        ("62年", "1962", "Y"),
        ("1962", "1962", "Y"),
        ("一九六二年", "1962", "Y"),
        ("公元1962年3月5日", "1962-03-05", "YMD"),
    ],
)
def test_gregorian_notations(raw: str, iso: str, precision: str) -> None:
    value = parse_date(raw)
    assert value is not None
    assert (value.iso, value.precision, value.calendar) == (iso, precision, "gregorian")


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("一九五口年三月五日", "1950-03-05"),  # 口 read for a handwritten 〇
        ("1958年4月12曰", "1958-04-12"),  # 曰 read for 日
        ("一九五八年四月十二目", "1958-04-12"),
        ("l958.4.12", "1958-04-12"),  # l read for 1
        ("1958午4月12日", "1958-04-12"),  # 午 read for 年
        ("19I8.4.12", "1918-04-12"),
    ],
)
def test_date_ocr_confusions_are_fixed_and_flagged(raw: str, iso: str) -> None:
    value = parse_date(raw)
    assert value.iso == iso
    assert "ocr_fixed" in value.flags


@pytest.mark.parametrize(
    ("raw", "iso", "flags"),
    [
        ("出生日期：1958年4月12日", "1958-04-12", ()),
        ("约1958年", "1958", ("approximate",)),
        ("1958年左右", "1958", ("approximate",)),
        ("1958—4—12", "1958-04-12", ()),
        ("62‑3‑5", "1962-03-05", ("two_digit_year",)),  # U+2011 non-breaking hyphen
    ],
)
def test_date_labels_and_qualifiers(raw: str, iso: str, flags: tuple[str, ...]) -> None:
    value = parse_date(raw)
    assert (value.iso, value.flags) == (iso, flags)


@pytest.mark.parametrize(
    ("raw", "iso", "precision", "calendar"),
    [
        ("民国三十八年五月", "1949-05", "YM", "minguo"),
        ("民國三十八年五月十日", "1949-05-10", "YMD", "minguo"),
        ("民国元年", "1912", "Y", "minguo"),
        ("民卅八年五月", "1949-05", "YM", "minguo"),
        ("中华民国38年", "1949", "Y", "minguo"),
        ("康德五年三月", "1938-03", "YM", "era"),
        ("昭和十年", "1935", "Y", "era"),
    ],
)
def test_era_years(raw: str, iso: str, precision: str, calendar: str) -> None:
    assert parse_date(raw) == DateValue(iso, precision, calendar)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("1958年正月初五", "1958-02-22"),  # 1958 Spring Festival was 18 February
        ("农历1958年三月初五", "1958-04-23"),
        ("阴历一九五八年三月十五日", "1958-05-03"),
        ("1958年腊月初八", "1959-01-16"),  # lunar 12th month falls in the next Gregorian year
        ("1958年冬月初一", "1958-12-11"),
        ("1958年3月5日（农历）", "1958-04-23"),
        ("1958.3.5阴", "1958-04-23"),
        ("1957年闰八月初一", "1957-09-24"),
        ("宣统三年八月十九日", "1911-10-10"),  # Qing era dates are lunar: the Wuchang uprising
    ],
)
def test_lunar_dates_are_converted(raw: str, iso: str) -> None:
    value = parse_date(raw)
    assert value is not None
    assert value.iso == iso
    assert "lunar_converted" in value.flags
    assert value.calendar in ("lunar", "era")


def test_lunar_conversion_keeps_the_written_date() -> None:
    value = parse_date("1957年闰八月初一")
    assert value.lunar_iso == "1957-08-01"
    assert "leap_month" in value.flags
    assert parse_date("1958年4月12日").lunar_iso is None


def test_lunar_month_without_day_stays_unconverted() -> None:
    assert parse_date("1958年正月") == DateValue("1958-01", "YM", "lunar", ("lunar_unconverted",))


def test_lunar_without_converter_keeps_the_written_date(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "lunar_python", None)
    assert parse_date("1958年正月初五") == DateValue("1958-01-05", "YMD", "lunar", ("lunar_unconverted",))


@pytest.mark.parametrize(
    "raw",
    [
        "1958年2月30日",  # no such Gregorian day
        "1958年13月1日",
        "1958.4.32",
        "1958年闰八月初一",  # 1958 has no leap 8th month
        "1958年四月初三十一",
        "正月十五",  # no year
        "冬月初一",
        "958年4月",
        "年月日",
        "",
        "王小明",
        "汉族",
    ],
)
def test_not_a_valid_date(raw: str) -> None:
    assert parse_date(raw) is None


def test_two_digit_year_is_flagged_and_pushed_before_the_document_year() -> None:
    assert parse_date("58.4.12") == DateValue("1958-04-12", "YMD", "gregorian", ("two_digit_year",))
    # a 1960 page cannot record a birth in 1925+100
    assert parse_date("25.3.1", doc_year=1960).iso == "1925-03-01"
    assert parse_date("75.3.1", doc_year=1960).iso == "1875-03-01"


def test_four_digit_year_after_document_is_flagged_not_moved() -> None:
    value = parse_date("1975年3月1日", doc_year=1960)
    assert value.iso == "1975-03-01"
    assert "after_doc_year" in value.flags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("35岁", (35, False)), ("年龄35", (35, False)), ("虚岁三十五", (35, True)), ("35", None), ("岁", None)],
)
def test_parse_age(raw: str, expected: tuple[int, bool] | None) -> None:
    assert parse_age(raw) == expected


def test_age_gives_a_year_only_with_a_document_year() -> None:
    assert parse_date("35岁") is None
    assert parse_date("35岁", doc_year=1985) == DateValue("1950", "Y", "gregorian", ("age_only",))
    assert age_birth_years(35, 1985) == (1949, 1950)
    assert age_birth_years(35, 1985, nominal=True) == (1950, 1951)


@pytest.mark.parametrize(
    ("text", "value"),
    [("一九五八", 1958), ("五八", 58), ("十", 10), ("十二", 12), ("二十五", 25), ("廿五", 25), ("卅一", 31),
     ("三十", 30), ("12", 12), ("十十", None), ("廿十", None), ("", None)],
)  # fmt: skip
def test_numeral_value(text: str, value: int | None) -> None:
    assert numeral_value(text) == value


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１９５８年", "1958年"),
        ("ＡＢＣ", "ABC"),
        ("195O", "1950"),
        ("一九六○年", "一九六〇年"),
        ("王 小 明", "王小明"),
        ("hello  world", "hello world"),
        ("BOX", "BOX"),  # O in a word is not a zero
        ("No1", "No1"),
        ("19OO", "1900"),
        ("一百零五", "一百零五"),
        ("（北京），１号", "（北京），1号"),  # Chinese punctuation is not noise
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


# --------------------------------------------------------------------------- IDs


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_check_digit_of_the_standard_examples(number: str) -> None:
    assert id_check_char(number[:17]) == number[17]


def test_upgrade_15_inserts_19_and_check_digit() -> None:
    assert upgrade_id15("110105491231002") == "11010519491231002X"


def test_upgrade_15_centenarian_sequence_means_18yy() -> None:
    upgraded = upgrade_id15("110101850101996")
    assert upgraded[6:10] == "1885"
    assert upgraded[17] == id_check_char(upgraded[:17])


@pytest.mark.parametrize(
    ("raw", "value", "valid", "flags"),
    [
        ("11010519491231002X", "11010519491231002X", True, ()),
        ("11010519491231002x", "11010519491231002X", True, ()),
        ("110105 1949 1231 002X", "11010519491231002X", True, ()),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", True, ()),
        ("1101O519491231002X", "11010519491231002X", True, ("ocr_fixed",)),
        ("11010519491231OO2X", "11010519491231002X", True, ("ocr_fixed",)),
        ("l10105I9491231002X", "11010519491231002X", True, ("ocr_fixed",)),
        ("110105194912310021", "110105194912310021", False, ("bad_check_digit",)),
        ("11010519491331002X", "11010519491331002X", False, ("bad_birth_segment", "bad_check_digit")),
        ("1101051949123", "1101051949123", False, ("wrong_length",)),
        ("11010519491231002Y", "11010519491231002", False, ("bad_characters",)),
        ("110105491231002", "11010519491231002X", True, ()),
        ("身份证号：11010519491231002X", "11010519491231002X", True, ("text_stripped",)),
        ("110105491331002", "110105491331002", False, ("bad_birth_segment",)),
    ],
)
def test_normalize_id(raw: str, value: str, valid: bool, flags: tuple[str, ...]) -> None:
    number = normalize_id(raw)
    assert (number.value, number.valid, number.flags) == (value, valid, flags)


def test_normalize_id_reads_birth_and_sex() -> None:
    female = normalize_id("11010519491231002X")
    assert (female.birth_date, female.sex, female.from15) == ("1949-12-31", "女", False)
    male = normalize_id("440524188001010014")
    assert (male.birth_date, male.sex) == ("1880-01-01", "男")
    old = normalize_id("110105491231002")
    assert (old.birth_date, old.from15) == ("1949-12-31", True)


@pytest.mark.parametrize(
    ("number", "province"), [("11010519491231002X", "北京市"), ("440524188001010014", "广东省"), ("990101", None)]
)
def test_id_province(number: str, province: str | None) -> None:
    assert id_province(number) == province


def test_unknown_province_is_flagged_without_invalidating() -> None:
    number = normalize_id("990105491231002")  # no check digit on 15-digit numbers: the province is a check
    assert number.valid
    assert "unknown_province" in number.flags


def test_normalize_id_without_digits_is_none() -> None:
    assert normalize_id("无") is None
    assert normalize_id("") is None


def test_ocr_fix_is_not_applied_to_text_with_other_letters() -> None:
    number = normalize_id("1101O5A9491231002X")
    assert not number.valid
    assert "ocr_fixed" not in number.flags


@pytest.mark.parametrize(
    ("number", "masked"),
    [("15010219580412123X", "150102********123X"), ("150102580412123", "150102*****2123"), ("123", "***")],
)
def test_mask_id(number: str, masked: str) -> None:
    assert mask_id(number) == masked


# --------------------------------------------------------------------------- sex and codes


@pytest.mark.parametrize(
    ("raw", "sex"),
    [("男", "男"), ("女", "女"), (" 女 ", "女"), ("男性", "男"), ("1", "男"), ("2", "女"), ("F", "女"),
     ("", None), ("妻", None), ("未知", None)],
)  # fmt: skip
def test_normalize_sex(raw: str, sex: str | None) -> None:
    assert normalize_sex(raw) == sex


@pytest.mark.parametrize(
    ("raw", "name", "flags"),
    [
        ("汉族", "汉族", ()),
        ("汉", "汉族", ()),  # missing 族 suffix
        ("漢族", "汉族", ()),
        ("滿", "满族", ()),
        ("满", "满族", ()),
        ("朝鲜", "朝鲜族", ()),
        ("维吾尔", "维吾尔族", ("alias",)),
        ("蒙", "蒙古族", ("alias",)),
        ("蒙族", "蒙古族", ("alias",)),
        ("维族", "维吾尔族", ("alias",)),
        ("回民", "回族", ("alias",)),
        ("僮族", "壮族", ("historical_name",)),
        ("崩龙族", "德昂族", ("historical_name",)),
        ("毛难族", "毛南族", ("historical_name",)),
        ("火星族", None, ("unknown_ethnicity",)),
        ("达翰尔", "达斡尔族", ("near_match",)),  # one misread character in a long name
        ("维吾耳族", "维吾尔族", ("near_match",)),
        ("汉旅", None, ("unknown_ethnicity",)),  # short names are not guessed
        ("内蒙古", None, ("unknown_ethnicity",)),  # a place, two edits from 蒙古族
        ("", None, ()),
    ],
)
def test_normalize_ethnicity(raw: str, name: str | None, flags: tuple[str, ...]) -> None:
    assert normalize_ethnicity(raw) == (name, flags)


@pytest.mark.parametrize(
    ("raw", "doc_date", "later"),
    [
        ("壮族", "1960-05-01", True),  # 壮 before the 1965-10-12 rename
        ("壮族", "1966-01-01", False),
        ("德昂族", "1985-08", True),
        ("德昂族", "1985-09", False),  # the month of the rename: not provably earlier
        ("德昂族", "1985-10-01", False),
        ("基诺族", "1975", True),  # recognised 1979
        ("基诺族", "1980-01-01", False),
        ("僮族", "1960-05-01", False),  # the old name on an old page is right
        ("壮族", None, False),
    ],
)
def test_ethnicity_date_checks(raw: str, doc_date: str | None, later: bool) -> None:
    _, flags = normalize_ethnicity(raw, doc_date=doc_date)
    assert ("later_annotation" in flags) is later


@pytest.mark.parametrize(("doc_date", "outdated"), [("1960-05-01", False), ("1970-01-01", True), (None, False)])
def test_old_ethnicity_name_after_the_rename_is_flagged(doc_date: str | None, outdated: bool) -> None:
    name, flags = normalize_ethnicity("僮族", doc_date=doc_date)
    assert name == "壮族"
    assert ("outdated_name" in flags) is outdated


@pytest.mark.parametrize(("name", "code"), [("汉族", "01"), ("蒙古族", "02"), ("基诺族", "56"), ("汉", None)])
def test_ethnicity_code(name: str, code: str | None) -> None:
    assert ethnicity_code(name) == code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("本人", ("本人", "01", None)),
        ("户主", ("户主", "02", None)),
        ("妻", ("妻", "12", "女")),
        ("夫", ("夫", "11", "男")),
        ("长子", ("长子", "22", "男")),
        ("次女", ("次女", "33", "女")),
        ("子", ("子", "20", "男")),
        ("女", ("女", "30", "女")),
        ("媳", ("儿媳", "38", "女")),
        ("儿媳", ("儿媳", "38", "女")),
        ("婿", ("女婿", "28", "男")),
        ("孙", ("孙子", "41", "男")),
        ("孙子", ("孙子", "41", "男")),
        ("外孙", ("外孙子", "43", "男")),
        ("母", ("母亲", "52", "女")),
        ("父", ("父亲", "51", "男")),
        ("侄", ("侄子", "93", "男")),
        ("弟", ("弟", "73", "男")),
        ("妹", ("妹妹", "77", "女")),
        ("养子", ("养子或继子", "27", "男")),
        ("继女", ("养女或继女", "37", "女")),
        ("户主之妻", ("妻", "12", "女")),
        ("六子", ("其他儿子", "29", "男")),
        ("保姆", ("非亲属", "99", None)),
        ("長子", ("长子", "22", "男")),  # traditional characters
        ("兒媳", ("儿媳", "38", "女")),
        ("戶主", ("户主", "02", None)),
        ("同住", ("非亲属", "99", None)),
        ("爱人", ("配偶", "10", None)),
        ("王小明", (None, None, None)),
        ("", (None, None, None)),
    ],
)
def test_normalize_relation(raw: str, expected: tuple[str | None, str | None, str | None]) -> None:
    assert normalize_relation(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("初中", ("初中", "70")),
        ("初中毕业", ("初中毕业", "70")),
        ("高中肄业", ("高中肄业", "60")),
        ("高小", ("高小", "80")),
        ("初小", ("初小", "80")),
        ("私塾", ("私塾", "80")),
        ("大专", ("大专", "30")),
        ("中专", ("中专", "40")),
        ("技校", ("技校", "50")),
        ("大学", ("大学", "20")),
        ("文盲", ("文盲", "90")),
        ("粗识字", ("粗识字", "90")),
        (" 初 中 ", ("初中", "70")),
        ("小學", ("小學", "80")),  # raw kept in traditional characters
        ("高中畢業", ("高中畢業", "60")),
        ("初二", ("初二", "70")),
        ("高一", ("高一", "60")),
        ("小学四年级", ("小学四年级", "80")),
        ("大学专科毕业", ("大学专科毕业", "30")),
        ("中学", ("中学", None)),  # 初中 or 高中: unknown
        ("在校", ("在校", None)),
        ("学龄前", ("学龄前", None)),
    ],
)
def test_normalize_education(raw: str, expected: tuple[str, str | None]) -> None:
    assert normalize_education(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("未婚", ("未婚", "10")), ("已婚", ("已婚", "20")), ("已", ("已婚", "20")), ("再婚", ("再婚", "22")),
     ("丧偶", ("丧偶", "30")), ("离异", ("离婚", "40")), ("有配偶", ("已婚", "20")), ("男", (None, None)),
     ("己婚", ("已婚", "20")), ("離婚", ("离婚", "40"))],
)  # fmt: skip
def test_normalize_marital(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert normalize_marital(raw) == expected


# --------------------------------------------------------------------------- names and dittos


@pytest.mark.parametrize(
    ("raw", "name", "flags"),
    [
        ("王小明", "王小明", ()),
        ("王 小 明", "王小明", ()),
        ("王小明。", "王小明", ("cleaned",)),
        ("王小明(王明)", "王小明", ("cleaned",)),
        ("阿不都•热合曼", "阿不都·热合曼", ()),
        ("阿不都 · 热合曼", "阿不都·热合曼", ()),
        ("姓名", "姓名", ("not_a_name",)),
        ("户主", "户主", ("not_a_name",)),
        ("汉族", "汉族", ("not_a_name",)),
        ("同上", "同上", ("not_a_name",)),
        ("王小明大明二明三", "王小明大明二明三", ("bad_length",)),
        ("Wang", "Wang", ("non_han", "bad_length")),
        ("〃", "", ("empty",)),
        ("", "", ("empty",)),
    ],
)
def test_normalize_name(raw: str, name: str, flags: tuple[str, ...]) -> None:
    assert normalize_name(raw) == (name, flags)


@pytest.mark.parametrize(
    "raw", ["〃", "″", "々", "同上", "仝上", " 同 上 ", "、、", '"', "''", "＂", "〃〃", "同前", "同右", "〞", "〃。"]
)
def test_is_ditto(raw: str) -> None:
    assert is_ditto(raw)


@pytest.mark.parametrize("raw", ["11", "1", "王", "同", "上", "、", "同上海", "", "汉族"])
def test_is_not_ditto(raw: str) -> None:
    assert not is_ditto(raw)


# --------------------------------------------------------------------------- consistency


PERSON = {
    "name": "王秀兰",
    "sex": "女",
    "birth_date": "一九四九年十二月三十一日",
    "id_number": "110105491231002",
    "relation_to_head": "妻",
    "ethnicity": "汉",
    "marital_status": "已婚",
    "education": "初中",
    "registration_date": "1986年5月1日",
}


def test_consistent_person_has_no_flags() -> None:
    assert check_consistency(PERSON) == []


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"birth_date": "1949年12月30日"}, "id_birth_mismatch"),
        ({"sex": "男"}, "id_sex_mismatch"),
        ({"sex": "男", "id_number": ""}, "relation_sex_mismatch"),
        ({"id_number": "110105194912310021"}, "id_invalid"),
        ({"registration_date": "1980-01-01"}, "id_later_annotation"),
        ({"id_number": "11010519491231002X"}, "id_later_annotation"),
        ({"ethnicity": "基诺", "registration_date": "1970-01-01"}, "ethnicity_later_annotation"),
        ({"birth_date": "1987年1月1日", "id_number": ""}, "birth_after_registration"),
        ({"birth_date": "1870年1月1日", "id_number": ""}, "age_over_115"),
        ({"birth_date": "1970年1月1日", "id_number": ""}, "married_under_legal_age"),
        ({"birth_date": "1970年1月1日", "id_number": "", "marital_status": "未婚", "education": "大学"},
         "education_age_implausible"),
        ({"birth_date": "不详的日子", "id_number": ""}, "birth_date_unparseable"),
    ],
)  # fmt: skip
def test_consistency_flags(change: dict[str, str], flag: str) -> None:
    assert flag in check_consistency(PERSON | change)


def test_partial_birth_date_agrees_with_id() -> None:
    assert "id_birth_mismatch" not in check_consistency(PERSON | {"birth_date": "1949年12月"})


def test_marriage_age_changed_in_1981() -> None:
    # a woman aged 19 was of legal age under the 1950 law, not under the 1980 law
    woman = PERSON | {"id_number": "", "birth_date": "1962年1月1日"}
    assert "married_under_legal_age" not in check_consistency(woman | {"registration_date": "1980-06-01"})
    assert "married_under_legal_age" in check_consistency(woman | {"registration_date": "1981-06-01"})


def test_lunar_birthday_copied_into_the_id_is_not_a_mismatch() -> None:
    body = "11010519580105001"
    person = {"id_number": body + id_check_char(body), "birth_date": "1958年正月初五"}
    assert check_consistency(person) == ["id_birth_is_lunar"]


def test_day_month_swap_is_named() -> None:
    body = "11010519581204001"
    person = {"id_number": body + id_check_char(body), "birth_date": "1958年4月12日"}
    assert check_consistency(person) == ["id_birth_mismatch", "birth_day_month_swapped"]


def test_age_only_birth_agrees_with_id_within_a_year() -> None:
    person = {"id_number": "11010519491231002X", "birth_date": "36岁", "registration_date": "1986-05-01"}
    assert "id_birth_mismatch" not in check_consistency(person)
    assert "id_birth_mismatch" in check_consistency(person | {"birth_date": "20岁"})


HOUSEHOLD = [
    {"relation_to_head": "户主", "birth_date": "1930年1月1日"},
    {"relation_to_head": "妻", "birth_date": "1932年3月1日"},
    {"relation_to_head": "长子", "birth_date": "1955年1月1日"},
    {"relation_to_head": "孙女", "birth_date": "1978年1月1日"},
    {"relation_to_head": "母", "birth_date": "1905年1月1日"},
]


def test_plausible_household_has_no_flags() -> None:
    assert check_household(HOUSEHOLD, doc_date="1980-01-01") == []


@pytest.mark.parametrize(
    ("index", "change", "flag"),
    [
        (2, {"birth_date": "1940年1月1日"}, "parent_age_gap:2"),
        (3, {"birth_date": "1950年1月1日"}, "grandparent_age_gap:3"),
        (4, {"birth_date": "1925年1月1日"}, "parent_age_gap:4"),
        (1, {"relation_to_head": "户主"}, "several_household_heads:1"),
        (0, {"birth_date": "1965年1月1日"}, "head_minor:0"),
    ],
)
def test_household_flags(index: int, change: dict[str, str], flag: str) -> None:
    members = [dict(m) for m in HOUSEHOLD]
    members[index] |= change
    assert flag in check_household(members, doc_date="1980-01-01")


def test_household_head_must_exist_and_come_first() -> None:
    assert check_household(HOUSEHOLD[1:]) == ["no_household_head:0"]
    assert check_household(HOUSEHOLD[1:] + HOUSEHOLD[:1]) == ["head_not_first:4"]
    collective = [{"relation_to_head": "本人"}, {"relation_to_head": "本人"}]
    assert check_household(collective) == []


def test_household_uses_the_id_when_the_birth_date_is_missing() -> None:
    members = [{"relation_to_head": "户主", "id_number": "440524188001010014"},
               {"relation_to_head": "子", "id_number": "11010519491231002X"}]  # fmt: skip
    assert check_household(members) == []
    members[0]["id_number"] = upgrade_id15("110105400101001")  # head born 1940, son 1949
    assert check_household(members) == ["parent_age_gap:1"]


@pytest.mark.parametrize(
    ("flag", "severity"),
    [("id_birth_mismatch", "E"), ("relation_sex_mismatch", "W"), ("id_later_annotation", "I"),
     ("parent_age_gap:2", "W")],
)  # fmt: skip
def test_flag_severity(flag: str, severity: str) -> None:
    assert flag_severity(flag) == severity


def test_every_flag_raised_has_a_severity() -> None:
    raised = check_consistency(PERSON | {"birth_date": "1870年1月1日", "sex": "男", "ethnicity": "基诺",
                                         "registration_date": "1970-01-01", "education": "大学"})
    raised += check_household([{"relation_to_head": "子", "birth_date": "1960年"},
                               {"relation_to_head": "户主", "birth_date": "1965年"},
                               {"relation_to_head": "户主"}], doc_date="1970-01-01")  # fmt: skip
    assert len(raised) >= 8
    assert all(flag_severity(flag) in "EWI" for flag in raised)
