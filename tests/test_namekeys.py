from __future__ import annotations

from pipeline.namekeys import (
    blocking_keys,
    four_corner,
    inner_masked_key,
    lookalike_names,
    masked_keys,
    name_keys,
    normalize_name,
    pinyin_canonical,
    pinyin_keys,
    skeleton,
    split_surname,
    surname_class,
)


def test_normalize_name_converts_traditional_but_keeps_name_safe_characters():
    assert normalize_name("張 建國") == "张建国"
    assert normalize_name("陳乾") == "陈乾"  # OpenCC alone gives 陈干
    assert normalize_name("於梨華") == "於梨华"
    assert normalize_name("王·桂兰（") == "王桂兰"


def test_normalize_name_leaves_the_raw_value_alone():
    raw = "蕭建國"
    keys = name_keys(raw)
    assert raw == "蕭建國" and keys.norm == "萧建国"


def test_compound_surnames_stay_whole():
    assert split_surname("欧阳建国") == ("欧阳", "建国")
    assert split_surname("司马光") == ("司马", "光")
    assert split_surname("王伟") == ("王", "伟")
    assert split_surname("欧阳") == ("欧", "阳")  # two characters: a plain surname + given name


def test_surname_variant_classes_fold_for_matching_only():
    assert surname_class("肖") == surname_class("萧")
    assert surname_class("闫") == surname_class("阎")
    assert surname_class("付") == surname_class("傅")
    assert surname_class("王") == "王"
    assert name_keys("肖建国").variant == name_keys("萧建国").variant
    assert name_keys("肖建国").norm != name_keys("萧建国").norm


def test_skeleton_folds_visual_confusions():
    assert skeleton("李己明") == skeleton("李已明") == skeleton("李巳明")
    assert skeleton("王未") == skeleton("王末")
    assert skeleton("玉兰") == skeleton("王兰")
    assert skeleton("土生") == skeleton("士生")
    assert skeleton("王伟") != skeleton("王丽")


def test_pinyin_keys_keep_every_heteronym():
    keys = pinyin_keys("单雄")
    assert "shanxiong" in keys and "danxiong" in keys
    assert "zengguofan" in pinyin_keys("曾国藩")
    assert set(pinyin_keys("张伟")) & set(pinyin_keys("章玮"))  # homophones share a key
    assert pinyin_canonical("单雄信") == "shanxiongxin"  # surname reading, not the default dan
    assert pinyin_canonical("曾国藩").startswith("zeng")


def test_pinyin_keys_are_capped():
    assert len(pinyin_keys("重重重重重重")) <= 16


def test_masked_keys_one_per_position():
    assert masked_keys("王桂兰") == ("*桂兰", "王*兰", "王桂*")
    assert masked_keys("王伟") == ("*伟", "王*")
    assert masked_keys("王") == ()


def test_inner_masked_key_masks_the_first_given_character():
    assert inner_masked_key(blocking_keys("王桂兰")) == "王*兰"
    assert inner_masked_key(blocking_keys("肖建国")) == inner_masked_key(blocking_keys("萧德国")) == "萧*国"  # surname class
    assert inner_masked_key(blocking_keys("欧阳光文")) == "欧阳*文"
    assert inner_masked_key(blocking_keys("王伟")) is None  # the surname alone is no key


def test_four_corner_codes_match_for_ocr_twins():
    assert four_corner("己") == four_corner("已")
    assert four_corner("未") == four_corner("末")
    assert four_corner("王") != four_corner("玉")
    assert four_corner("王桂兰").count("-") == 2


def test_lookalike_names_replace_one_character_by_a_shape_neighbour():
    names = lookalike_names("王兰")
    assert "玉兰" in names and "王三" in names and "李兰" not in names  # 王/玉 and 兰/三 are one four-corner digit apart
    assert "王兰" not in names and all(len(n) == 2 for n in names)
    assert sum(a != b for a, b in zip("王兰", names[0])) == 1
