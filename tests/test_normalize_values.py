"""Value-side normalisation: notations and OCR losses the date and code readers must survive."""

from __future__ import annotations

import pytest

from pipeline.normalize import date_renderings as normalize_date_renderings
from pipeline.normalize import normalize_ethnicity, normalize_marital, normalize_sex, parse_date


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("1903·6·16", "1903-06-16"),  # middle dot
        ("1958•4•12", "1958-04-12"),  # bullet
        ("58・4・12", "1958-04-12"),  # katakana middle dot
        ("1958。4。12", "1958-04-12"),  # ideographic full stop
        ("1958,4,12", "1958-04-12"),
    ],
)
def test_dot_like_separators_between_date_digits(raw, iso):
    date = parse_date(raw, doc_year=1980)
    assert date is not None and date.iso == iso and date.precision == "YMD"


@pytest.mark.parametrize(
    ("raw", "iso"),
    [("九七六年六月八日", "1976-06-08"), ("八五年三月", "1885-03"), ("九七一年", "1971"), ("八九一年", "1891")],
)
def test_three_digit_year_with_its_leading_one_lost(raw, iso):
    date = parse_date(raw, doc_year=1980)
    assert date is not None and date.iso == iso
    # 八五年 is a two-digit year (18YY before a 1980 page), not a restored one
    assert ("year_digit_restored" in date.flags) == (len(raw.split("年")[0]) == 3)


def test_three_digit_years_that_cannot_be_a_lost_leading_one_stay_unread():
    assert parse_date("一二三年") is None
    assert parse_date("五六七年三月") is None
    assert parse_date("976年5月") is None  # an Arabic digit may be lost anywhere in the number


def test_a_bare_number_out_of_the_year_range_is_no_date():
    assert parse_date("7412") is None  # 74.12.28 with its dots and day lost
    assert parse_date("1228") is None
    assert parse_date("1958").iso == "1958"
    assert parse_date("9999年1月1日") is None


def test_coded_values_ignore_ticks_and_marks_at_their_edges():
    assert normalize_ethnicity("☑汉")[0] == "汉族"
    assert normalize_sex("女✓") == "女"
    assert normalize_marital("※已婚")[0] == "已婚"
    assert normalize_ethnicity("汉※族")[0] is None  # only at the edges


def test_date_renderings_cover_the_usual_notations():
    forms = normalize_date_renderings("1983-01-13")
    for written in ("一九八三年一月十三日", "一九八三年元月十三日", "1983年1月13日", "1983.1.13", "83.1.13", "83年1月13号"):
        assert written in forms
    assert "一九八〇年十二月二十三日" in normalize_date_renderings("1980-12-23")
    assert "一九五八年二月三十日" not in normalize_date_renderings("1958-02-03")
    for form in normalize_date_renderings("1977-08-23"):
        assert parse_date(form, doc_year=1980).iso == "1977-08-23"
