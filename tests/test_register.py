from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from pipeline.db.base import Base
from pipeline.db.register import (
    RegisterPerson,
    candidates_for,
    import_register_csv,
    link_to_register,
    registry_duplicates,
)
from pipeline.errors import RegisterError
from pipeline.link import LinkOptions, MentionQuery, id_hmac

HMAC_KEY = b"register-test-key"
FERNET_KEY = Fernet.generate_key()
HEADER = ["person_id", "name", "sex", "ethnicity", "birth_date", "id_number", "birthplace", "native_place", "address", "household_no"]
ROWS = [
    ["P1", "王桂兰", "女", "汉族", "1958-04-12", "110105580412002", "河北省保定市", "河北省保定市", "北京市东城区交道口北三条12号", "H7"],
    ["P2", "王桂兰", "女", "汉族", "1958-04-12", "110105195804120020", "河北省保定市", "河北省保定市", "北京市西城区新街口外大街3号", ""],
    ["P3", "李己明", "男", "汉族", "1949-12-31", "11010519491231002X", "山东省济南市", "山东省", "北京市朝阳区团结湖路8号", ""],
    ["P4", "赵刚", "男", "蒙古族", "1950-01-01", "440524188001010014", "内蒙古呼和浩特", "内蒙古", "呼和浩特市新城区", ""],
    ["P5", "孙秀珍", "女", "汉族", "1962-08-08", "440524188001010014", "辽宁省沈阳市", "辽宁省", "沈阳市和平区", ""],
    ["P6", "萧建国", "男", "汉族", "1955-03-03", "", "湖南省长沙市", "湖南省", "长沙市芙蓉区", ""],
    ["P7", "张伟", "男", "汉族", "1970-07-07", "110105197007070015", "北京市", "北京市", "北京市海淀区", ""],
    ["", "无编号", "男", "汉族", "1970-07-07", "", "", "", "", ""],
    ["P8", "错日期", "男", "汉族", "1970-13-45", "", "", "", "", ""],
    ["P9", "坏号码", "女", "汉族", "1966-06-06", "110105196606060000", "", "", "", ""],
]


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'register.sqlite3'}")
    else:
        eng = create_engine(request.getfixturevalue("pg_url"))
    Base.metadata.drop_all(eng, tables=[RegisterPerson.__table__])
    Base.metadata.create_all(eng, tables=[RegisterPerson.__table__])
    yield eng
    Base.metadata.drop_all(eng, tables=[RegisterPerson.__table__])
    eng.dispose()


def test_import_stores_hashed_encrypted_masked_ids_and_rejects_bad_rows(engine, tmp_path):
    seen = []
    report = import_register_csv(engine, write_csv(tmp_path / "r.csv", ROWS), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY, progress=seen.append, batch_size=3)
    assert report.rows == 10 and report.inserted == 8 and report.updated == 0
    assert [line for line, _ in report.rejected] == [9, 10]
    assert [line for line, _ in report.warnings] == [11]
    assert seen and seen[-1] == 10
    with Session(engine) as session:
        p1 = session.get(RegisterPerson, "P1")
        assert p1.id_hmac == id_hmac("110105195804120020", HMAC_KEY)  # 15 digits upgraded before hashing
        assert p1.id_masked == "110105********0020"
        assert Fernet(FERNET_KEY).decrypt(p1.id_encrypted.encode()).decode() == "110105580412002"
        assert json.loads(p1.extra) == {"household_no": "H7"}
        assert p1.birth_year == 1958 and p1.name_norm == "王桂兰"
        p9 = session.get(RegisterPerson, "P9")
        assert p9.id_hmac is None and p9.id_encrypted
        stored = [r for row in session.execute(select(RegisterPerson.__table__)) for r in row]
        assert not any(isinstance(v, str) and "110105195804120020" in v for v in stored)


def test_import_upserts_by_person_id(engine, tmp_path):
    import_register_csv(engine, write_csv(tmp_path / "a.csv", ROWS[:3]), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    changed = [["P3", "李己明", "男", "汉族", "1949-12-31", "11010519491231002X", "山东省济南市", "山东省", "北京市朝阳区新地址1号", ""], ROWS[3]]
    report = import_register_csv(engine, write_csv(tmp_path / "b.csv", changed), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    assert (report.inserted, report.updated) == (1, 1)
    with Session(engine) as session:
        assert session.get(RegisterPerson, "P3").address == "北京市朝阳区新地址1号"
        assert len(session.scalars(select(RegisterPerson.person_id)).all()) == 4


def _index_names(engine) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes("register_person")}


def test_import_refuses_a_file_without_the_key_columns_and_keeps_the_indexes(engine, tmp_path):
    expected = {ix.name for ix in RegisterPerson.__table__.indexes}
    path = tmp_path / "bad.csv"
    path.write_text("id,xingming\n1,王\n", encoding="utf-8")
    with pytest.raises(RegisterError):
        import_register_csv(engine, path, hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    assert _index_names(engine) >= expected
    path.write_bytes("person_id,name\nP1,王\n".encode("gbk"))
    with pytest.raises(RegisterError):
        import_register_csv(engine, path, hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with pytest.raises(RegisterError):
        import_register_csv(engine, tmp_path / "missing.csv", hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    assert _index_names(engine) >= expected


def test_first_load_rebuilds_the_blocking_indexes(engine, tmp_path):
    import_register_csv(engine, write_csv(tmp_path / "r.csv", ROWS), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY, batch_size=2)
    assert _index_names(engine) >= {ix.name for ix in RegisterPerson.__table__.indexes}


def test_candidates_and_linkage_on_the_register(engine, tmp_path):
    import_register_csv(engine, write_csv(tmp_path / "r.csv", ROWS), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    options = LinkOptions()
    with Session(engine) as session:
        # OCR confusion 己→已 and the ID written in its 15-digit form
        q = MentionQuery("李已明", "男", "汉族", "1949-12-31", "110105491231002")
        assert "P3" in {p.person_id for p in candidates_for(session, q, key=HMAC_KEY)}
        result = link_to_register(session, q, key=HMAC_KEY, options=options)
        assert (result.status, result.person_id) == ("linked", "P3")
        # surname variant (萧 → 肖) and birth date off by a digit: only the wide rules find it
        q = MentionQuery("肖建国", "男", None, "1955-03-08", None)
        assert "P6" not in {p.person_id for p in candidates_for(session, q, key=HMAC_KEY, reach="exact_date")}
        assert "P6" in {p.person_id for p in candidates_for(session, q, key=HMAC_KEY)}
        result = link_to_register(session, q, key=HMAC_KEY, options=options)
        assert (result.status, result.person_id) == ("linked", "P6")
        assert "birth_date=typo" in result.reasons and "name=variant" in result.reasons
        # one look-alike character (珍 → 玲) outside the skeleton classes and no birth date:
        # only the look-alike reach finds her
        q = MentionQuery("孙秀玲", "女", "汉族", None, None, "辽宁省沈阳市", "辽宁省")
        assert "P5" not in {p.person_id for p in candidates_for(session, q, key=HMAC_KEY)}
        assert "P5" in {p.person_id for p in candidates_for(session, q, key=HMAC_KEY, reach="lookalike")}
        result = link_to_register(session, q, key=HMAC_KEY, options=options)
        assert result.person_id == "P5" and "name=shape1" in result.reasons
        # no birth date on the page, and its ID number misread in one digit: the number no
        # longer matches, but its birth segment still places him
        q = MentionQuery("李己明", "男", "汉族", None, "110105194912310021", "山东省济南市")
        result = link_to_register(session, q, key=HMAC_KEY, options=options)
        assert (result.status, result.person_id) == ("linked", "P3") and "birth_date=exact" in result.reasons
        assert "birth date 1949-12-31 read from the page's ID number" in result.reasons
        # the same person registered twice
        result = link_to_register(session, MentionQuery("王桂兰", "女", "汉族", "1958-04-12", None), key=HMAC_KEY, options=options)
        assert result.status == "conflict" and {p for p, _ in result.candidates} == {"P1", "P2"}
        # nobody
        result = link_to_register(session, MentionQuery("钱玉芬", "女", None, "1940-02-02", None), key=HMAC_KEY, options=options)
        assert result.status == "new"
        # an ID number that belongs to someone with another name
        result = link_to_register(session, MentionQuery("周国强", "男", None, "1971-01-01", "110105197007070015"), key=HMAC_KEY, options=options)
        assert result.status in ("review", "conflict") and result.person_id in (None, "P7")


def test_register_context_counts_what_the_page_carries(engine, tmp_path):
    """Term frequencies come from the register: the name by sex, the exact birth date, the
    birth year's density and the names one character in place away."""
    from pipeline.db.register import register_context

    rows = ROWS[:7] + [
        ["Q1", "王桂英", "女", "汉族", "1958-04-12", "", "", "", "", ""],
        ["Q2", "王桂英", "男", "汉族", "1960-01-01", "", "", "", "", ""],
        ["Q3", "刘桂兰", "女", "汉族", "1958-05-05", "", "", "", "", ""],
        ["Q4", "王玉兰", "女", "汉族", "1958-05-05", "", "", "", "", ""],
        ["Q5", "王桂", "女", "汉族", "1958-05-05", "", "", "", "", ""],
    ]
    import_register_csv(engine, write_csv(tmp_path / "r.csv", rows), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with Session(engine) as session:
        ctx = register_context(session, MentionQuery("王桂兰", "女", None, "1958-04-12", None))
        size = ctx.register_size
        assert size == 12
        assert ctx.name_share == pytest.approx(2 / size) and ctx.name_sex_share == pytest.approx(2 / size)
        assert ctx.date_share == pytest.approx(3 / size)  # P1, P2, Q1
        # 1958 holds 6 of 12 birth years; Σ share² over the years present
        shares = {1958: 6, 1949: 1, 1950: 1, 1962: 1, 1955: 1, 1970: 1, 1960: 1}
        same_year = sum((n / size) ** 2 for n in shares.values())
        assert ctx.year_density == pytest.approx((6 / size) / same_year)
        # 王桂英 ×2 (last character), 刘桂兰 (surname), 王玉兰 (first given character); not 王桂
        assert ctx.one_off_share == pytest.approx(4 / size)
        assert ctx.length_share == pytest.approx(9 / size)  # all but 赵刚, 张伟, 王桂 have 3+ characters
        assert ctx.origin_same_share is None  # the page gives no places
        ctx = register_context(session, MentionQuery("王桂兰", "女", None, "1958-04-12", None, "河北省保定市", "河北省保定市"))
        assert ctx.origin_same_share == pytest.approx(3 / 7)  # P1, P2, P7 of the 7 rows with both places
        # native places naming a province: 河北 ×2, 山东, 内蒙古, 辽宁, 湖南, 北京 (7 values)
        ctx = register_context(session, MentionQuery("王桂兰", "女", None, None, None, None, "河北"))
        same_province = (2 / 7) ** 2 + 5 * (1 / 7) ** 2
        assert ctx.province_density == {"native_place": pytest.approx((2 / 7) / same_province)}
        ctx = register_context(session, MentionQuery("王桂英", "男", None, "1958", None))
        assert ctx.name_sex_share == pytest.approx(1 / size) and ctx.name_share == pytest.approx(2 / size)
        assert register_context(session, MentionQuery("无此人", "男", None, None, None)).name_sex_share is None
        assert ctx.date_share is None and ctx.year_density > 1


def test_namesakes_without_a_recorded_sex_take_the_recorded_ones_ratio(engine, tmp_path):
    from pipeline.db.register import register_context

    rows = [["S1", "王建国", "男", "汉族", "1950-01-01", "", "", "", "", ""],
            ["S2", "王建国", "", "汉族", "1951-01-01", "", "", "", "", ""],
            ["S3", "王建国", "", "汉族", "1952-01-01", "", "", "", "", ""],
            ["S4", "李秀英", "女", "汉族", "1953-01-01", "", "", "", "", ""]]
    import_register_csv(engine, write_csv(tmp_path / "r.csv", rows), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with Session(engine) as session:
        ctx = register_context(session, MentionQuery("王建国", "男", None, None, None))
        # the one 王建国 with a recorded sex is a man: all three count as men, not one in three
        assert ctx.name_share == pytest.approx(3 / 4) and ctx.name_sex_share == pytest.approx(3 / 4)


def test_masked_reach_finds_one_wrong_character_with_the_date_off(engine, tmp_path):
    import_register_csv(engine, write_csv(tmp_path / "r.csv", ROWS), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with Session(engine) as session:
        def found(q, reach):
            return {p.person_id for p in candidates_for(session, q, key=HMAC_KEY, reach=reach)}

        # any character of 孙秀珍 (born 1962-08-08) misread, not a look-alike, and the date
        # her lunar birthday (七月初九, 1962-07-09) or the year alone: only the masked reach finds her
        for name, dob in (("李秀珍", "1962-07-09"), ("孙德珍", "1962"), ("孙秀英", "1962-07-09")):
            q = MentionQuery(name, "女", None, dob, None)
            assert "P5" not in found(q, "lookalike"), name
            assert "P5" in found(q, "masked"), name
        # the date too far off, or none at all: the masked rules stay out of it
        assert "P5" not in found(MentionQuery("孙德珍", "女", None, "1970-01-01", None), "masked")
        assert "P5" not in found(MentionQuery("孙德珍", "女", None, None, None), "masked")
        # a two-character name has no inner mask: a wrong surname is found by the given name
        assert "P4" in found(MentionQuery("钱刚", "男", None, "1949-12-01", None), "masked")
        result = link_to_register(session, MentionQuery("李秀珍", "女", "汉族", "1962-07-09", None, "辽宁省沈阳市", "辽宁省", "沈阳市和平区"),
                                  key=HMAC_KEY, options=LinkOptions())
        assert result.person_id == "P5" and "name=two_of_three" in result.reasons and "birth_date=lunar" in result.reasons


def test_a_page_without_a_birth_year_is_compared_with_every_namesake(engine, tmp_path, monkeypatch):
    import pipeline.db.register as register

    # twelve 张秀英 at different addresses; the page gives only her name, sex and address
    namesakes = [[f"Z{i:02d}", "张秀英", "女", "汉族", f"19{40 + i}-05-0{1 + i % 9}", "", "", "", f"天津市和平区解放路{i + 1}号", ""]
                 for i in range(12)]
    import_register_csv(engine, write_csv(tmp_path / "r.csv", ROWS + namesakes), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    q = MentionQuery("张秀英", "女", None, None, None, address="天津市和平区解放路12号")
    with Session(engine) as session:
        capped = {p.person_id for p in candidates_for(session, q, key=HMAC_KEY, limit=4)}
        every = {p.person_id for p in candidates_for(session, q, key=HMAC_KEY, limit=4, same_name_limit=20)}
        ids = {r[0] for r in namesakes}
        assert len(capped & ids) < len(ids) and every >= ids  # each rule capped at 4 leaves some out
        # the blocking cap (4) is below the namesakes (12): all of them are still compared
        result = link_to_register(session, q, key=HMAC_KEY, options=LinkOptions(), limit=4)
        assert (result.status, result.person_id) == ("linked", "Z11")
        assert "address=exact" in result.reasons
        # more namesakes than may be compared: an unseen one could be her, so no link (review
        # if she was among the six compared, else new)
        monkeypatch.setattr(register, "MAX_NAMESAKES", 6)
        result = link_to_register(session, q, key=HMAC_KEY, options=LinkOptions(), limit=4)
        assert result.status == "new" or (result.status == "review" and "not all compared" in result.reasons[0])
        assert result.status == "review" or result.person_id is None
        # a page with a birth date is not concerned
        dated = MentionQuery("张秀英", "女", None, "1951-05-03", None, address="天津市和平区解放路12号")
        assert link_to_register(session, dated, key=HMAC_KEY, options=LinkOptions(), limit=4).person_id == "Z11"


def test_import_keeps_awkward_text_exactly(engine, tmp_path):
    awkward = "北京市\t东城区\\3号\n二楼 \\N"
    row = ["P1", "王桂兰", "女", "汉族", "1958-04-12", "", "", "", awkward, 'say "hi"\t\\']
    import_register_csv(engine, write_csv(tmp_path / "r.csv", [row]), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with Session(engine) as session:
        person = session.get(RegisterPerson, "P1")
        assert person.address == awkward.strip()
        assert json.loads(person.extra) == {"household_no": 'say "hi"\t\\'}
        assert person.given_norm == "桂兰" and person.name_mask == "王*兰" and person.birthplace is None


def test_migration_fills_the_masked_key_like_the_import(tmp_path):
    from sqlalchemy import text

    from pipeline.db.session import migrate
    from pipeline.namekeys import blocking_keys, inner_masked_key

    eng = create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(eng)
    import_register_csv(eng, write_csv(tmp_path / "r.csv", ROWS), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with eng.begin() as connection:  # a register imported before the column existed
        connection.execute(text("UPDATE register_person SET name_mask = NULL"))
        connection.execute(text("UPDATE alembic_version SET version_num = 'e09e515a7d25'"))
        connection.execute(text("DROP INDEX ix_register_person_mask_dob"))
        connection.execute(text("ALTER TABLE register_person DROP COLUMN name_mask"))
    migrate(eng)
    with Session(eng) as session:
        people = session.scalars(select(RegisterPerson)).all()
    assert people and all(p.name_mask == inner_masked_key(blocking_keys(p.name)) for p in people)
    assert {p.name_mask for p in people} >= {"王*兰", "孙*珍", None}


def test_registry_duplicates(engine, tmp_path):
    import_register_csv(engine, write_csv(tmp_path / "r.csv", ROWS), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    with Session(engine) as session:
        findings = {tuple(f.person_ids): f for f in registry_duplicates(session)}
    assert ("P1", "P2") in findings
    assert ("P4", "P5") in findings and findings[("P4", "P5")].reasons[0].startswith("重号")
    assert all(f.score >= 0.9 for f in findings.values())
    assert not any("P7" in key or "P6" in key for key in findings)


def test_events_after_a_recorded_death(engine, tmp_path):
    from pipeline.db.models import Batch, FieldRow, LinkRow, Page
    from pipeline.db.register import events_after_death

    Base.metadata.create_all(engine)
    rows = [r + [""] for r in ROWS]  # a register export with a date-of-death column
    rows[2][-1] = "1980-02-02"  # P3 李己明 died 1980-02-02
    write = lambda path: write_csv(path, rows)  # noqa: E731
    HEADER.append("death_date")
    try:
        import_register_csv(engine, write(tmp_path / "r.csv"), hmac_key=HMAC_KEY, fernet_key=FERNET_KEY)
    finally:
        HEADER.pop()
    place = dict(repository="档案馆", room="1", shelf="1", box="1", fonds="J1", volume="v")

    def page(session, page_no, doc_type, person_id, dates, status="linked", mention=None):
        page_id = f"pg{page_no}"
        session.add(Page(id=page_id, batch_id="b1", source_file=f"{page_no}.tif", frame=0, page_no=page_no, sha256=f"{page_no:064d}",
                         bytes=1, format="tiff", status="done", doc_type=doc_type, **place))
        session.flush()
        for key, value in dates.items():
            session.add(FieldRow(page_id=page_id, mention=None, key=key, value=value, raw=value, confidence=0.9))
        session.add(LinkRow(page_id=page_id, mention=mention, status=status, person_id=person_id, score=0.97))

    with Session(engine) as session:
        session.add(Batch(id="b1", root="/scans/b1", scanner="flatbed", device="", operator="李四", status="done", **place))
        page(session, 1, "migration_certificate", "P3", {"event_date": "1985-06-01"})  # after his death: flagged
        page(session, 2, "resident_registration", "P3", {"registration_date": "1979-05-01"})  # before: fine
        page(session, 3, "migration_certificate", "P3", {"event_date": "1986-01-01"}, status="review")  # not a link
        page(session, 4, "death_deregistration", "P7", {"event_date": "1990-03-01"})  # 张伟's death, from a page
        page(session, 5, "id_card_application", "P7", {"event_date": "1989-12-01", "registration_date": "1991-01-01"})  # the event date counts: before
        page(session, 6, "change_correction", "P7", {"registration_date": "1992"})  # a later year: flagged
        page(session, 7, "birth_registration", "P7", {"event_date": "1995-01-01"}, mention=1)  # named as the father: not his event
        page(session, 8, "migration_certificate", "P6", {"event_date": "2001-01-01"})  # no recorded death
        session.commit()
        findings = events_after_death(session)
    Base.metadata.drop_all(engine, tables=[t for t in Base.metadata.sorted_tables if t.name != "register_person"])
    assert [(f.person_ids, f.reasons[0].split(":")[1].split()[1]) for f in findings] == [(["P3"], "pg1"), (["P7"], "pg6")]
    assert "death 1980-02-02 (register death_date)" in findings[0].reasons[0]
    assert "death 1990-03-01 (death deregistration page pg4)" in findings[1].reasons[0]
    assert all(f.score == pytest.approx(0.97) for f in findings)
