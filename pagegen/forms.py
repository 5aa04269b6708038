"""What each form says: titles, label wordings, values as written, and the truth.

Label and title wordings come in two disjoint sets, ``dev`` and ``holdout``, so
benches can measure whether the extractor generalises beyond the wordings it was
developed on. A form's content is independent of how it is laid out.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from pagegen import notation
from pagegen.people import make_household, make_person, random_date, upgrade_id15
from pipeline import records

DOC_TYPES = tuple(t for t in records.DOC_TYPES if t != "other")  # every form the generator can draw

# key -> (dev wordings, holdout wordings); both sets are disjoint.
LABELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "name": (("姓名", "本人姓名"), ("被登记人姓名", "登记人姓名")),
    "former_name": (("曾用名",), ("别名", "原名")),
    "sex": (("性别",), ("性別",)),
    "ethnicity": (("民族",), ("族别", "民族成份")),
    "birth_date": (("出生日期", "出生年月日", "生日"), ("出生年月", "出生时间", "生年月日")),
    "birthplace": (("出生地", "出生地点"), ("出生处所", "生地")),
    "native_place": (("籍贯",), ("原籍", "祖籍")),
    "id_number": (("公民身份号码", "身份证号码"), ("身份证号", "居民身份证编号")),
    "relation_to_head": (("与户主关系", "户主或与户主关系"), ("与户长关系", "称谓")),
    "head_name": (("户主姓名",), ("户长姓名", "户主")),
    "education": (("文化程度",), ("文化", "学历")),
    "marital_status": (("婚姻状况",), ("婚否", "婚姻")),
    "occupation": (("职业",), ("职务", "何种职业")),
    "employer": (("服务处所", "工作单位"), ("所在单位", "工作处所")),
    "address": (("住址", "现住址", "家庭住址"), ("住所", "居住地址")),
    "move_from": (("原住址", "迁出地"), ("原户口所在地", "从何处迁来")),
    "move_to": (("迁往地址", "迁往地"), ("迁去地址", "去向")),
    "move_reason": (("迁移原因",), ("迁移理由", "迁出原因")),
    "father_name": (("父亲姓名",), ("父名", "父姓名")),
    "mother_name": (("母亲姓名",), ("母名", "母姓名")),
    "registration_date": (("登记日期", "申报日期"), ("填表日期", "登记时间")),
    "serial_no": (("编号",), ("No.", "证号")),
}
# Field labels that depend on the form.
DOC_LABELS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "birth_registration": {"name": (("婴儿姓名",), ("新生儿姓名", "出生人姓名"))},
    "death_deregistration": {
        "name": (("死者姓名",), ("死亡人姓名", "亡者姓名")),
        "event_date": (("死亡日期",), ("死亡时间", "亡故日期")),
    },
    "migration_certificate": {"event_date": (("签发日期", "迁出日期"), ("填发日期", "迁出时间"))},
    "move_in_permit": {
        "event_date": (("签发日期",), ("批准日期", "填发日期")),
        "move_from": (("现户口所在地", "迁出地"), ("原户口所在地", "从何处迁来")),
        "move_to": (("准迁地址", "迁入地址"), ("迁去地址", "落户地址")),
    },
    "change_correction": {"event_date": (("变更日期", "更正日期"), ("批准日期", "办理日期"))},
    "id_card_application": {
        "name": (("申领人姓名", "姓名"), ("申请人姓名", "被登记人姓名")),
        "registration_date": (("申领日期",), ("申请日期", "填表日期")),
    },
}
TITLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "resident_registration": (("常住人口登记表",), ("常住户口登记卡", "居民户籍登记表")),
    "household_register": (("户口登记簿", "常住人口登记簿"), ("户籍底册", "居民户口簿")),
    "migration_certificate": (("户口迁移证", "户口迁移证存根"), ("户口迁出证明", "迁移户口证明书")),
    "move_in_permit": (("准予迁入证明",), ("准迁证", "户口准迁证")),
    "birth_registration": (("出生登记表", "出生登记"), ("出生申报单", "新生婴儿户口申报表")),
    "death_deregistration": (("死亡注销登记表", "死亡户口注销登记"), ("死亡申报单", "死亡人口销户登记")),
    "change_correction": (("户口变更更正登记表", "变更更正申请表"), ("户口项目更正申请书", "户籍变更申报表")),
    "id_card_application": (("居民身份证申领登记表",), ("居民身份证申请登记表", "身份证申领表")),
}
OFFICES = ("呼和浩特市公安局新城区分局", "呼和浩特市公安局回民区分局", "呼和浩特市公安局玉泉区分局",
           "呼和浩特市公安局", "包头市公安局", "包头市公安局昆都仑区分局", "土默特左旗公安局", "托克托县公安局",
           "武川县公安局", "和林格尔县公安局")
STATIONS = ("中山路派出所", "锡林南路派出所", "通道街派出所", "大召派出所", "海拉尔路派出所", "东风路派出所")
MOVE_REASONS = ("工作调动", "投亲", "结婚", "随迁", "升学", "退休回原籍", "招工", "随夫迁移", "分配工作", "复员安置")
MOVE_PLACES = ("北京市西城区", "包头市青山区", "集宁市", "山西省大同市", "河北省张家口市", "天津市河西区",
               "乌兰浩特市", "临河县", "土默特左旗", "托克托县")
MOVE_STREETS = ("新华街", "解放路", "人民路", "胜利街", "建设路", "文化街", "红旗街", "东风路")
DEATH_CAUSES = ("病故", "心脏病", "年老病故", "肺病", "脑溢血", "意外事故")
CERTIFICATE_NOTES = ("注意事项：", "一、本证只限本人使用，涂改无效。", "二、迁入地户口登记机关凭此证办理落户手续。",
                     "三、本证逾期作废，遗失须向原签发机关声明。")
CLASS_ORIGINS = ("工人", "贫农", "职员", "中农", "城市贫民", "小商", "革命干部")


@dataclass
class Item:
    """One label with its value as written; ``key`` is None for labels outside the export keys."""

    key: str | None
    label: str
    value: str
    wide: bool = False
    hand: str = "main"  # "main", "later" (a later annotation in another ink) or "stamp"
    struck: str = ""  # an earlier value crossed out in front of this one (变更 in place)


@dataclass
class Table:
    """A column-header table: one row per person."""

    header: list[tuple[str | None, str]]
    rows: list[list[str]]
    cancelled: list[str] = field(default_factory=list)  # per row: "" or the stamp that struck it (迁出, 死亡)
    vertical_header: bool = False


@dataclass
class FormContent:
    doc_type: str
    title: str
    office: str
    items: list[Item]
    table: Table | None = None
    footer: list[Item] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    written: dict = field(default_factory=dict)
    mentions: list[dict] = field(default_factory=list)
    person_id: str = ""
    cancel_stamp: str = ""
    notes: tuple[str, ...] = ()  # small printed instructions at the foot of certificates


def label(rng: random.Random, key: str, variant: str, doc_type: str = "") -> str:
    sets = DOC_LABELS.get(doc_type, {}).get(key) or LABELS[key]
    return rng.choice(sets[0] if variant == "dev" else sets[1])


def default_persons(rng: random.Random, doc_type: str) -> list[dict]:
    """The people a page of ``doc_type`` names, in the order the form lists them."""
    if doc_type == "household_register":
        return make_household(rng, rng.randint(3, 6))
    if doc_type == "birth_registration":
        baby_year = rng.randint(1951, 1988)
        father = make_person(rng, sex="男", birth_date=random_date(rng, baby_year - 40, baby_year - 21))
        mother = make_person(rng, sex="女", address=father["address"],
                             birth_date=random_date(rng, baby_year - 36, baby_year - 19))
        baby = make_person(rng, surname=father["name"][0], address=father["address"],
                           ethnicity=father["ethnicity"], native_place=father["native_place"],
                           birth_date=random_date(rng, baby_year, baby_year), has_id=False,
                           marital_status="", education="", occupation="", employer="", former_name="")
        baby["relation_to_head"] = "子" if baby["sex"] == "男" else "女"
        return [baby, father, mother]
    if doc_type == "id_card_application":
        return [make_person(rng, birth_date=random_date(rng, 1910, 1968), has_id=True)]
    return [make_person(rng)]


def _office_for(rng: random.Random, address: str) -> str:
    """The issuing police office: in the city of the address, sometimes down to the station."""
    offices = [o for o in OFFICES if o[:3] == address[:3]] or [o for o in OFFICES if not o.startswith(("呼和", "包头"))]
    return rng.choice(offices) + ("" if rng.random() < 0.5 else rng.choice(STATIONS))


def _later_date(rng: random.Random, after: str, start_year: int = 1955, end_year: int = 1989) -> str:
    year = max(start_year, int(after[:4]) + 1)
    return random_date(rng, min(year, end_year), end_year)


class _Builder:
    """Accumulates items and truth for one form."""

    def __init__(self, rng: random.Random, doc_type: str, variant: str):
        self.rng, self.doc_type, self.variant = rng, doc_type, variant
        self.items: list[Item] = []
        self.fields: dict = {}
        self.written: dict = {}

    def add(self, key: str, truth: str, written: str | None = None, wide: bool = False, hand: str = "main"):
        written = truth if written is None else written
        self.items.append(Item(key, label(self.rng, key, self.variant, self.doc_type), written, wide, hand))
        if written:
            self.fields[key] = truth
            self.written[key] = written

    def extra(self, text: str, value: str, wide: bool = False):
        self.items.append(Item(None, text, value, wide))

    def person(self, p: dict, keys: tuple[str, ...], page_year: int):
        rng = self.rng
        for key in keys:
            value = p.get(key, "")
            if key == "birth_date":
                self.add(key, value, notation.write_date(rng, value))
            elif key == "ethnicity":
                self.add(key, value, notation.write_ethnicity(rng, value))
            elif key == "id_number":
                if not value:
                    continue
                written = notation.write_id(rng, value, 0.6 if page_year < 1992 else 0.1)
                self.add(key, value, written, hand="later" if page_year < 1984 else "main")
            elif key in ("address", "employer"):
                self.add(key, value, wide=True)
            else:
                self.add(key, value)


PERSONS_NEEDED = {"birth_registration": 3}


def build_content(rng: random.Random, doc_type: str, variant: str, persons: list[dict]) -> FormContent:
    """Content and truth of one form of ``doc_type`` about ``persons``."""
    if len(persons) < PERSONS_NEEDED.get(doc_type, 1):
        raise ValueError(f"{doc_type} needs {PERSONS_NEEDED.get(doc_type, 1)} persons, got {len(persons)}")
    b = _Builder(rng, doc_type, variant)
    p = persons[0]
    birth_year = int(p["birth_date"][:4])
    latest_birth = max(q["birth_date"] for q in persons) if doc_type == "household_register" else p["birth_date"]
    reg_date = _later_date(rng, latest_birth, 1956)
    reg_year = int(reg_date[:4])
    title = rng.choice(TITLES[doc_type][0 if variant == "dev" else 1])
    office = _office_for(rng, p["address"])
    content = FormContent(doc_type, title, office, b.items, person_id=p["person_id"])
    mentions = []
    if doc_type == "resident_registration":
        b.person(p, ("name", "relation_to_head", "former_name", "sex", "ethnicity", "birthplace", "native_place",
                     "birth_date"), reg_year)
        if rng.random() < 0.5:
            b.extra("宗教信仰", rng.choice(("无", "无", "伊斯兰教", "")))
        if rng.random() < 0.6:
            b.extra(rng.choice(("家庭出身", "本人成份")), rng.choice(CLASS_ORIGINS))
        b.person(p, ("id_number", "education", "marital_status", "occupation", "employer", "address"), reg_year)
        if rng.random() < 0.5:
            came = random_date(rng, birth_year, int(reg_date[:4]))
            b.extra("何时由何地迁来本市", f"{notation.write_date(rng, came, 'ymd4')}由{p['native_place']}迁来", wide=True)
        b.add("registration_date", reg_date, notation.write_date(rng, reg_date))
        if rng.random() < 0.2:
            content.cancel_stamp = rng.choice(("注销", "迁出", "死亡"))
        changeable = [it for it in b.items if it.key in ("occupation", "marital_status", "education") and it.value]
        if changeable and rng.random() < 0.2:
            item = rng.choice(changeable)
            item.struck = {"occupation": "学生", "marital_status": "未婚", "education": "初小"}[item.key]
            if item.struck == item.value:
                item.struck = ""
    elif doc_type == "household_register":
        head = p
        b.add("head_name", head["name"])
        b.add("address", head["address"], wide=True)
        keys = ["name", "relation_to_head", "sex", "ethnicity", "birth_date", "native_place", "education", "occupation"]
        if rng.random() < 0.4:
            keys.append("id_number")
        header = [(k, label(rng, k, variant, doc_type)) for k in keys]
        ditto_mark = rng.choice(("〃", "同上", "〃"))
        rows, cancelled, prev = [], [], None
        for i, member in enumerate(persons):
            row, mfields, mwritten = [], {}, {}
            for k in keys:
                truth = member.get(k, "")
                if k == "birth_date":
                    written = notation.write_date(rng, truth, rng.choice(("dot4", "ymd4", "dot2", "ymd2")))
                elif k == "ethnicity":
                    written = notation.write_ethnicity(rng, truth)
                elif k == "id_number":
                    written = notation.write_id(rng, truth, 0.7)
                else:
                    written = truth
                if (prev is not None and k in ("ethnicity", "native_place") and prev.get(k) == truth
                        and rng.random() < 0.6):
                    written = ditto_mark
                row.append(written)
                if written:
                    mfields[k], mwritten[k] = truth, written
            mfields["address"], mwritten["address"] = head["address"], b.written["address"]
            mfields["head_name"], mwritten["head_name"] = head["name"], b.written["head_name"]
            rows.append(row)
            mention = {"role": "head" if i == 0 else "household_member", "person_id": member["person_id"],
                       "fields": mfields, "written": mwritten}
            cancelled.append(rng.choice(("迁出", "死亡", "注销")) if i > 0 and rng.random() < 0.15 else "")
            if cancelled[-1]:
                mention["cancelled"] = cancelled[-1]  # struck through in red: no longer in the household
            mentions.append(mention)
            prev = member
        content.table = Table(header, rows, cancelled, vertical_header=variant == "holdout" and rng.random() < 0.6)
        b.fields.update(mentions[0]["fields"])
        b.written.update(mentions[0]["written"])
        b.add("registration_date", reg_date, notation.write_date(rng, reg_date))
    elif doc_type in ("migration_certificate", "move_in_permit"):
        b.add("serial_no", f"{rng.randrange(10**6):06d}" if rng.random() < 0.5 else f"{rng.randrange(10**4):04d}",
              hand="stamp")
        b.person(p, ("name", "sex", "birth_date", "ethnicity", "native_place"), reg_year)
        if doc_type == "migration_certificate":
            b.person(p, ("education", "occupation"), reg_year)
        move_to = f"{rng.choice(MOVE_PLACES)}{rng.choice(MOVE_STREETS)}{rng.randint(1, 180)}号"
        b.add("move_from", p["address"], wide=True)
        b.add("move_to", move_to, wide=True)
        b.add("move_reason", rng.choice(MOVE_REASONS))
        b.add("event_date", reg_date, notation.write_date(rng, reg_date))
        if rng.random() < 0.5:
            b.extra("有效期限", rng.choice(("三十天", "30天", "一个月")))
        if rng.random() < 0.7:
            content.notes = CERTIFICATE_NOTES
    elif doc_type == "birth_registration":
        father, mother = persons[1], persons[2]
        late = rng.randint(5, 40) if rng.random() < 0.8 else rng.randint(60, 1500)  # a few are 补录 years later
        reg_date = min(dt.date(1989, 12, 31), dt.date.fromisoformat(p["birth_date"]) + dt.timedelta(days=late)).isoformat()
        b.person(p, ("name", "sex", "birth_date", "birthplace", "ethnicity"), reg_year)
        b.add("father_name", father["name"])
        b.add("mother_name", mother["name"])
        b.add("head_name", father["name"])
        b.add("relation_to_head", p["relation_to_head"])
        b.add("address", p["address"], wide=True)
        if rng.random() < 0.5:
            b.extra("申报人", father["name"])
        b.add("registration_date", reg_date, notation.write_date(rng, reg_date))
        mentions = [
            {"role": "subject", "person_id": p["person_id"], "fields": dict(b.fields), "written": dict(b.written)},
            {"role": "father", "person_id": father["person_id"], "fields": {"name": father["name"]},
             "written": {"name": father["name"]}},
            {"role": "mother", "person_id": mother["person_id"], "fields": {"name": mother["name"]},
             "written": {"name": mother["name"]}},
        ]
    elif doc_type == "death_deregistration":
        death = _later_date(rng, p["birth_date"], 1955)
        reg_date = (dt.date.fromisoformat(death) + dt.timedelta(days=rng.randint(1, 40))).isoformat()
        b.person(p, ("name", "sex", "birth_date", "ethnicity", "id_number"), int(death[:4]))
        b.add("event_date", death, notation.write_date(rng, death))
        b.extra("死亡原因", rng.choice(DEATH_CAUSES))
        b.person(p, ("address",), int(death[:4]))
        if rng.random() < 0.6:
            b.extra("申报人", make_person(rng, address=p["address"])["name"])
        b.add("registration_date", reg_date, notation.write_date(rng, reg_date))
        content.cancel_stamp = rng.choice(("注销", "死亡", "")) if rng.random() < 0.6 else ""
    elif doc_type == "change_correction":
        b.person(p, ("name", "sex", "birth_date", "id_number", "address"), reg_year)
        item = rng.choice(("出生日期", "民族", "姓名", "文化程度"))
        before = {"出生日期": notation.write_date(rng, random_date(rng, birth_year - 2, birth_year + 2)),
                  "民族": "汉族" if p["ethnicity"] != "汉族" else "满族",
                  "姓名": p["former_name"] or p["name"][0] + "小" + p["name"][-1],
                  "文化程度": "文盲" if p["education"] == "小学" else "小学"}[item]
        after = {"出生日期": b.written["birth_date"], "民族": p["ethnicity"], "姓名": p["name"],
                 "文化程度": p["education"]}[item]
        # the page states the current value of the changed item, and an old name is a former name
        changed_key = {"出生日期": "birth_date", "民族": "ethnicity", "姓名": "name", "文化程度": "education"}[item]
        after_key = changed_key if changed_key not in b.fields and after else None
        before_key = "former_name" if item == "姓名" else None
        b.extra("变更更正项目", item)
        b.items.append(Item(before_key, "变更更正前", before))
        b.items.append(Item(after_key, "变更更正后", after))
        if after_key:
            b.fields[after_key] = {"民族": p["ethnicity"], "文化程度": p["education"]}[item]
            b.written[after_key] = after
        if before_key:
            b.fields[before_key] = b.written[before_key] = before
        b.add("event_date", reg_date, notation.write_date(rng, reg_date))
    elif doc_type == "id_card_application":
        reg_date = random_date(rng, min(1989, max(1984, birth_year + 16)), 1989)
        reg_year = int(reg_date[:4])
        b.person(p, ("name", "sex", "ethnicity", "birth_date", "address", "employer"), reg_year)
        if p["id_number"]:
            id15 = p["id_number"][:6] + p["id_number"][8:17]
            written_id = id15 if rng.random() < 0.8 and upgrade_id15(id15) == p["id_number"] else p["id_number"]
            b.add("id_number", p["id_number"], written_id)
        b.extra("签发机关", content.office[: content.office.index("局") + 1] if "局" in content.office else "")
        if rng.random() < 0.6:
            b.extra("有效期限", rng.choice(("十年", "二十年", "长期")))
        b.extra("相片", "")
        b.add("registration_date", reg_date, notation.write_date(rng, reg_date))
    else:
        raise ValueError(f"unknown doc_type {doc_type!r}")
    content.fields, content.written, content.mentions = b.fields, b.written, mentions
    footer_date = notation.write_date(rng, reg_date)
    content.footer = [Item(None, rng.choice(("承办人", "经办人", "登记人")), make_person(rng)["name"]),
                      Item(None, "", footer_date)]
    return content
