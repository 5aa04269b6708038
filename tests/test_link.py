from __future__ import annotations

import math
import random

import pytest

from pipeline.link import (
    InvalidIdNumber,
    LinkOptions,
    candidate_prior,
    load_model,
    MentionQuery,
    PersonRecord,
    RegisterContext,
    date_level,
    find_duplicates,
    id_hmac,
    link_mention,
    name_level,
    upgrade_id,
    with_id_evidence,
)
from pipeline.normalize import id_check_char, mask_id, normalize_id

KEY = b"test-hmac-key"
OPTIONS = LinkOptions()
CONTEXT = RegisterContext(register_size=100_000)


def person(pid, name, sex="女", dob="1958-04-12", id_number=None, birthplace="河北省保定市", native_place="河北省保定市", address="北京市东城区交道口北三条12号", ethnicity="汉族"):
    return PersonRecord(pid, name, sex, ethnicity, dob, id_hmac(id_number, KEY) if id_number else None, birthplace, native_place, address)


def query(name, sex="女", dob="1958-04-12", id_number=None, **kw):
    return MentionQuery(name=name, sex=sex, ethnicity=kw.pop("ethnicity", "汉"), birth_date=dob, id_number=id_number, **kw)


def test_upgrade_15_digit_id_with_mod_11_2_check():
    assert upgrade_id("110105491231002") == "11010519491231002X"
    assert upgrade_id("440524188001010014") == "440524188001010014"
    assert upgrade_id("11010519491231002x") == "11010519491231002X"
    assert upgrade_id("110105801231996")[6:8] == "18"  # centenarian sequence codes
    assert upgrade_id(" 11010519491231002X ") == "11010519491231002X"


def test_fast_id_path_agrees_with_normalize_id():
    rng = random.Random(5)
    numbers = []
    for _ in range(3000):
        body = f"{rng.choice(['110105', '150102', '510202'])}{rng.randrange(1840, 2030)}{rng.randrange(0, 14):02d}{rng.randrange(0, 33):02d}{rng.randrange(1000):03d}"
        good = body + id_check_char(body)
        numbers += [good, body + rng.choice("0123456789X"), good[:6] + good[8:17]]
    for number in numbers:
        parsed = normalize_id(number)
        expected = parsed.value if parsed and parsed.valid else None
        try:
            got = upgrade_id(number)
        except InvalidIdNumber:
            got = None
        assert got == expected, number


def test_invalid_id_numbers_are_refused():
    with pytest.raises(InvalidIdNumber):
        upgrade_id("110105194912310021")  # wrong check digit
    with pytest.raises(InvalidIdNumber):
        upgrade_id("1101051949")


def test_hmac_is_keyed_and_equal_for_15_and_18_digit_forms():
    assert id_hmac("110105491231002", KEY) == id_hmac("11010519491231002X", KEY)
    assert id_hmac("11010519491231002X", KEY) != id_hmac("11010519491231002X", b"other key")
    assert "11010519491231002X" not in id_hmac("11010519491231002X", KEY)
    assert len(id_hmac("440524188001010014", KEY)) == 64


def test_mask_keeps_first_six_and_last_four():
    assert mask_id("15010219800101123X") == "150102********123X"
    assert mask_id("110105491231002") == "110105*****1002"
    assert mask_id("123") == "***"


def test_name_levels():
    assert name_level("王桂兰", "王桂兰") == "exact"
    assert name_level("肖建国", "萧建国") == "variant"
    assert name_level("李己明", "李已明") == "skeleton"
    assert name_level("张伟", "章玮") == "pinyin"
    assert name_level("陈文革", "陈田革") == "shape1"
    assert name_level("王桂兰", "王桂英") == "two_of_three"
    assert name_level("王兰", "王英") == "edit1"  # one of two characters proves far less
    assert name_level("王桂兰", "王兰") == "edit1"
    assert name_level("王桂兰", "刘德华") == "else"
    assert name_level(None, "刘德华") == "null"


def test_date_levels():
    assert date_level("1958-04-12", "1958-04-12") == "exact"
    assert date_level("1958-04-12", "1958-04-13") == "typo"
    assert date_level("1958-04-12", "1958-12-04") == "typo"
    assert date_level("1958-04-12", "1958-05-29") == "near"
    assert date_level("1958-02-23", "1958-04-11") == "lunar"  # 农历 1958-02-23 is 1958-04-11
    assert date_level("1958-04-11", "1958-02-23") == "lunar"
    assert date_level("1958-02-23", "1958-04-12") == "near"
    assert date_level("1957-08-20", "1957-10-13") == "lunar"  # 1957 has a leap 8th month: 闰八月二十
    assert date_level("1957-08-20", "1957-09-13") == "lunar"  # and the ordinary 八月二十
    assert date_level("1958-04-12", "1958-10-30") == "year"
    assert date_level("1958", "1958-10-30") == "partial"
    assert date_level("1957", "1958-01-30") == "adjacent_year"  # the lunar year, or a year from 虚岁
    assert date_level("1959", "1958-10-30") == "adjacent_year"
    assert date_level("1960", "1958-10-30") == "else"
    assert date_level("1957-12", "1958-01-30") == "else"  # a month given: no longer a year's vagueness
    assert date_level("1958-10", "1958-11-30") == "else"
    assert date_level("1958-04-12", "1970-01-01") == "else"
    assert date_level(None, "1970-01-01") == "null"


def test_linked_when_one_person_matches():
    register = [person("P1", "王桂兰"), person("P2", "王桂英", dob="1960-03-01"), person("P3", "刘德华", sex="男")]
    result = link_mention(query("王桂兰", birthplace="河北保定"), register, key=KEY, options=OPTIONS, context=CONTEXT)
    assert result.status == "linked" and result.person_id == "P1"
    assert result.score >= OPTIONS.linked_threshold
    assert "name=exact" in result.reasons and "birth_date=exact" in result.reasons


def test_ocr_confusion_and_matching_id_still_link():
    register = [person("P1", "李己明", sex="男", id_number="11010519491231002X", dob="1949-12-31")]
    result = link_mention(query("李已明", sex="男", dob="1949-12-31", id_number="110105491231002"), register, key=KEY, options=OPTIONS, context=CONTEXT)
    assert result.status == "linked" and result.person_id == "P1"
    assert "id=exact" in result.reasons


def test_review_when_evidence_is_weak():
    register = [person("P1", "王桂兰", dob="1958-04-12")]
    # 王桂英/王桂兰: one character apart in a common pattern (0.4% of a million-person register
    # share two of its three characters in place), nothing on the page but the birth date
    context = RegisterContext(1_000_000, one_off_share=0.004, length_share=0.4)
    result = link_mention(query("王桂英", ethnicity=None), register, key=KEY, options=OPTIONS, context=context)
    assert result.status == "review" and result.person_id == "P1"
    assert OPTIONS.review_threshold <= result.score < OPTIONS.linked_threshold


def test_new_when_nobody_matches():
    register = [person("P1", "王桂兰"), person("P2", "赵刚", sex="男", dob="1950-01-01")]
    result = link_mention(query("孙秀珍", dob="1962-08-08"), register, key=KEY, options=OPTIONS, context=CONTEXT)
    assert result.status == "new" and result.person_id is None
    assert link_mention(query("孙秀珍"), [], key=KEY, options=OPTIONS).status == "new"


def test_conflict_when_one_person_is_registered_twice():
    register = [
        person("P1", "王桂兰", address="北京市东城区交道口北三条12号"),
        person("P2", "王桂兰", address="北京市西城区新街口外大街3号"),
    ]
    result = link_mention(query("王桂兰", address="交道口北三条12号"), register, key=KEY, options=OPTIONS, context=RegisterContext(100_000, name_share=2e-5))
    assert result.status == "conflict" and result.person_id is None
    assert {pid for pid, _ in result.candidates} == {"P1", "P2"}
    assert result.export()["candidates"]


def test_id_match_with_a_different_name_is_never_linked():
    register = [person("P1", "刘德华", sex="男", dob="1961-09-27", id_number="11010519491231002X")]
    result = link_mention(query("王桂兰", id_number="11010519491231002X"), register, key=KEY, options=OPTIONS, context=CONTEXT)
    assert result.status in ("review", "conflict")
    assert "same ID number but the name differs" in result.reasons


def test_common_name_proves_less_than_a_rare_one():
    register = [person("P1", "王伟", sex="男", dob="1958-04-12", birthplace=None, native_place=None, address=None)]
    q = query("王伟", sex="男", ethnicity=None)
    common = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(3_500_000, name_share=0.003))
    rare = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(3_500_000, name_share=3e-7))
    assert common.score < rare.score


def test_find_duplicates_same_person_twice_and_shared_id():
    register = [
        person("P1", "王桂兰", id_number="110105491231002", address="北京市东城区交道口北三条12号"),
        person("P2", "王桂兰", id_number="11010519491231002X", address="北京市西城区新街口外大街3号"),
        person("P3", "赵刚", sex="男", dob="1950-01-01", id_number="440524188001010014"),
        person("P4", "孙秀珍", dob="1962-08-08", id_number="440524188001010014"),
        person("P5", "刘德华", sex="男", dob="1961-09-27"),
        person("P6", "刘德华", sex="男", dob="1961-09-27", birthplace="广东省", native_place="广东省", address="香港"),
    ]
    findings = {tuple(f.person_ids): f for f in find_duplicates(register, register_size=100_000)}
    assert ("P1", "P2") in findings
    assert "one ID number registered twice" in findings[("P1", "P2")].reasons
    assert ("P3", "P4") in findings
    assert any(r.startswith("重号") for r in findings[("P3", "P4")].reasons)
    exported = findings[("P1", "P2")].export()
    assert exported["person_ids"] == ["P1", "P2"] and 0.9 <= exported["score"] <= 1


def test_a_page_without_a_birth_date_takes_it_and_the_sex_from_its_id_number():
    misread = "110105194912310021"  # 11010519491231002X with its last character misread: no longer valid
    with pytest.raises(InvalidIdNumber):
        upgrade_id(misread)
    filled = with_id_evidence(query("李己明", sex=None, dob=None, id_number=misread))
    assert (filled.birth_date, filled.sex) == ("1949-12-31", "女")  # 17th digit 2: even, a woman
    assert with_id_evidence(query("李己明", sex=None, dob="1949", id_number=misread)).birth_date == "1949-12-31"
    disagrees = with_id_evidence(query("李己明", sex=None, dob="1950", id_number=misread))
    assert (disagrees.birth_date, disagrees.sex) == ("1950", "女")  # the page's year stands
    assert with_id_evidence(query("李己明", sex="男", dob=None, id_number="110105491231003")).birth_date == "1949-12-31"
    dated = query("李己明", sex="男", dob="1949-12-30", id_number=misread)
    assert with_id_evidence(dated) is dated  # the page says it all already
    assert with_id_evidence(query("李己明", dob=None, id_number="110105194913310021")).birth_date is None  # no 13th month


def test_candidate_prior_weighs_candidates_against_an_unregistered_person():
    """P(i | page) = (r/N)·BF_i / ((1 - r) + Σ (r/N)·BF_j): with r = 0.9 the null hypothesis
    weighs 0.1, so a lone candidate with (r/N)·BF = 1 - r is an even bet."""
    model = load_model()
    r, n = model.registered_share, 200_000
    assert candidate_prior(model, n) == pytest.approx(math.log2(r / ((1 - r) * n)))


def test_a_lone_candidates_score_is_its_posterior_against_the_unregistered():
    """score = odds / (1 + odds), odds = r / ((1 - r)·N) · Bayes factor."""
    model = load_model()
    register = [person("P1", "王桂兰", dob="1958-04-12", birthplace=None, native_place=None, address=None)]
    q = query("王桂兰", ethnicity=None, sex=None)
    size = 1_000_000
    ctx = RegisterContext(size)
    result = link_mention(q, register, key=KEY, options=OPTIONS, context=ctx)
    weight = model.weights["name"]["exact"] + model.weights["birth_date"]["exact"]
    expected_odds = 2.0 ** (candidate_prior(model, size) + weight)
    assert result.score == pytest.approx(expected_odds / (1 + expected_odds), rel=1e-4)


def test_a_gendered_name_and_its_sex_count_once():
    """All 王建国 in the register are men: a man's page named 王建国 gains nothing more from
    the sex agreeing; for a name half the register's bearers of which are women it does."""
    register = [person("P1", "王建国", sex="男", dob="1958-04-12", birthplace=None, native_place=None, address=None)]
    q = query("王建国", sex="男", ethnicity=None)
    all_men = link_mention(q, register, key=KEY, options=OPTIONS,
                           context=RegisterContext(1_000_000, name_share=4e-4, name_sex_share=4e-4))
    unisex = link_mention(q, register, key=KEY, options=OPTIONS,
                          context=RegisterContext(1_000_000, name_share=4e-4, name_sex_share=2e-4))
    no_sex_counts = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=4e-4))
    assert all_men.score < unisex.score
    assert unisex.score == pytest.approx(no_sex_counts.score, rel=0.02)  # P(男 | name) = ½: independence holds


def test_a_common_birth_date_or_year_proves_less():
    register = [person("P1", "王桂兰", dob="1958-01-01", birthplace=None, native_place=None, address=None)]
    q = query("王桂兰", dob="1958-01-01", ethnicity=None)
    heaped = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4, date_share=5e-4))
    plain = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4, date_share=3e-5))
    assert heaped.score < plain.score
    q = query("王桂兰", dob="1958", ethnicity=None)  # a year only: the partial level
    peak = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4, year_density=2.0))
    rare = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4, year_density=0.3))
    assert peak.score < rare.score


def test_a_common_one_character_pattern_proves_less():
    register = [person("P1", "王桂兰", dob="1958-04-12", birthplace=None, native_place=None, address=None)]
    q = query("王桂英", ethnicity=None)
    common = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, one_off_share=5e-3, length_share=0.4))
    rare = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, one_off_share=5e-6, length_share=0.4))
    assert "name=two_of_three" in common.reasons
    assert common.score < rare.score
    assert rare.status == "linked" and common.status in ("review", "new")


def test_native_place_written_as_the_birthplace_is_not_counted_twice():
    """Most people's 籍贯 is their birthplace: a stranger who shares the page's birthplace
    shares such a native place with probability ρ, so the second agreement adds little."""
    register = [person("P1", "王桂兰", dob="1958-04-12", birthplace="河北省保定市", native_place="河北省保定市", address=None)]
    q = query("王桂兰", ethnicity=None, birthplace="河北省保定市", native_place="河北省保定市")
    independent = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4))
    correlated = link_mention(q, register, key=KEY, options=OPTIONS,
                              context=RegisterContext(1_000_000, name_share=1e-4, origin_same_share=0.6))
    assert correlated.score < independent.score
    # a page whose two places differ keeps both as independent evidence
    q = query("王桂兰", ethnicity=None, birthplace="河北省保定市", native_place="山东省济南市")
    register = [person("P1", "王桂兰", dob="1958-04-12", birthplace="河北省保定市", native_place="山东省济南市", address=None)]
    a = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4))
    b = link_mention(q, register, key=KEY, options=OPTIONS, context=RegisterContext(1_000_000, name_share=1e-4, origin_same_share=0.6))
    assert a.score == pytest.approx(b.score)


def test_a_near_names_sex_agreement_proves_no_more_than_the_names_sex_ratio():
    register = [person("P1", "王桂兰", dob="1958-04-12", birthplace=None, native_place=None, address=None)]
    q = query("王桂英", ethnicity=None)  # 女; every 王桂英 in the register is a woman, or half are
    common = dict(one_off_share=1e-3, length_share=0.4)
    all_women = link_mention(q, register, key=KEY, options=OPTIONS,
                             context=RegisterContext(1_000_000, name_share=3e-4, name_sex_share=3e-4, **common))
    half = link_mention(q, register, key=KEY, options=OPTIONS,
                        context=RegisterContext(1_000_000, name_share=3e-4, name_sex_share=1.5e-4, **common))
    assert "name=two_of_three" in all_women.reasons
    assert all_women.score < half.score


def test_a_year_only_page_one_year_off_is_weak_evidence_not_a_veto():
    """A page giving only the lunar year, or a year worked back from 虚岁, is one year off
    for many people born early in the year: less than the same year, far more than else."""
    register = [person("P1", "欧阳翠萼", dob="1958-01-20")]
    ctx = RegisterContext(1_000_000, name_share=1e-6)
    same = link_mention(query("欧阳翠萼", dob="1958", birthplace="河北省保定市"), register, key=KEY, options=OPTIONS, context=ctx)
    off_one = link_mention(query("欧阳翠萼", dob="1957", birthplace="河北省保定市"), register, key=KEY, options=OPTIONS, context=ctx)
    off_three = link_mention(query("欧阳翠萼", dob="1955", birthplace="河北省保定市"), register, key=KEY, options=OPTIONS, context=ctx)
    assert "birth_date=adjacent_year" in off_one.reasons
    assert same.score > off_one.score > off_three.score
    assert off_one.status in ("linked", "review") and off_three.status in ("review", "new")


def test_place_levels_grade_how_much_of_the_place_agrees():
    from pipeline.link import place_level

    assert place_level("河北省保定市", "河北保定") == "exact"  # administrative words dropped
    assert place_level("河北省", "河北省保定市新市区") == "province"  # the page names the province only
    assert place_level("内蒙古自治区呼和浩特市", "内蒙古") == "province"
    assert place_level("北京市", "北京市东城区") == "province"  # a municipality is a province-level unit
    assert place_level("沈阳市和平区", "辽宁省沈阳市和平区") == "part"  # below the province
    assert place_level("河北省保定市", "河北省石家庄市") == "else"
    assert place_level(None, "河北省") == "null"


def test_a_province_that_fills_the_register_proves_little():
    register = [person("P1", "王桂兰", dob="1958-04-12", birthplace=None, native_place="内蒙古自治区呼和浩特市", address=None)]
    q = query("王桂兰", ethnicity=None, native_place="内蒙古")
    home = link_mention(q, register, key=KEY, options=OPTIONS,
                        context=RegisterContext(1_000_000, name_share=1e-4, province_density={"native_place": 4.0}))
    rare = link_mention(q, register, key=KEY, options=OPTIONS,
                        context=RegisterContext(1_000_000, name_share=1e-4, province_density={"native_place": 0.2}))
    assert "native_place=province" in home.reasons
    assert home.score < rare.score
