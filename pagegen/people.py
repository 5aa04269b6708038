"""Register-like synthetic people and households (Hohhot, 1950s-80s).

Names are drawn from small, heavily weighted pools on purpose: real registers
are full of same-name different-person collisions (王秀英, 张桂兰 ...), and the
linkage benches must meet them.
"""

from __future__ import annotations

import datetime as dt
import random

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

# Surnames with rough frequency weights (most common first).
SURNAMES = (
    ("王", 75), ("李", 74), ("张", 70), ("刘", 55), ("陈", 45), ("杨", 32), ("赵", 30), ("黄", 22),
    ("周", 20), ("吴", 20), ("徐", 14), ("孙", 14), ("胡", 12), ("朱", 12), ("高", 12), ("林", 9),
    ("何", 9), ("郭", 12), ("马", 12), ("罗", 7), ("梁", 7), ("宋", 6), ("郑", 6), ("谢", 5),
    ("韩", 6), ("唐", 5), ("冯", 5), ("于", 5), ("董", 5), ("萧", 2), ("肖", 3), ("程", 4), ("曹", 4),
    ("袁", 4), ("邓", 4), ("许", 4), ("傅", 2), ("付", 2), ("沈", 3), ("曾", 3), ("彭", 3), ("吕", 3),
    ("苏", 3), ("卢", 3), ("蒋", 3), ("蔡", 3), ("贾", 3), ("丁", 3), ("魏", 3), ("薛", 3), ("叶", 3),
    ("阎", 2), ("闫", 2), ("余", 2), ("潘", 2), ("杜", 3), ("戴", 2), ("夏", 2), ("钟", 2), ("汪", 2),
    ("田", 3), ("任", 3), ("姜", 2), ("范", 2), ("方", 2), ("石", 2), ("姚", 2), ("谭", 1), ("廖", 1),
    ("邹", 1), ("熊", 1), ("金", 2), ("陆", 1), ("郝", 3), ("孔", 1), ("白", 3), ("崔", 2), ("康", 2),
    ("毛", 1), ("邱", 1), ("秦", 2), ("江", 1), ("史", 2), ("顾", 1), ("侯", 2), ("邵", 1), ("孟", 2),
    ("龙", 1), ("万", 1), ("段", 2), ("雷", 1), ("钱", 1), ("汤", 1), ("尹", 1), ("黎", 1), ("易", 1),
    ("常", 2), ("武", 2), ("乔", 2), ("贺", 2), ("赖", 1), ("龚", 1), ("文", 1), ("单", 1), ("解", 1),
    ("仇", 1), ("查", 1), ("云", 2), ("奇", 1), ("包", 2), ("乌", 1),
)

MALE_GIVEN_1 = "军伟强勇斌杰涛明刚平辉健峰华林成亮忠海山文宝福贵祥生荣发喜全"
MALE_GIVEN_2 = (
    "建国", "建华", "建军", "国庆", "卫东", "卫国", "跃进", "志强", "志刚", "永红", "振华", "建平",
    "国强", "海龙", "文明", "德胜", "玉山", "福山", "宝山", "长青", "树林", "占元", "三虎", "二小",
    "铁柱", "金锁", "拴柱", "满仓", "有才", "富贵", "根深", "永胜", "卫兵", "向东", "红兵", "援朝",
    "抗美", "胜利", "解放", "和平", "新民", "立新", "文革", "四清", "学军", "东升", "秉义", "德明",
)
FEMALE_GIVEN_1 = "英兰芳珍华梅霞红玲丽娟敏燕萍琴凤莲秀云"
FEMALE_GIVEN_2 = (
    "秀英", "桂兰", "玉兰", "秀兰", "淑珍", "凤英", "桂英", "秀珍", "玉珍", "桂芳", "淑兰", "玉梅",
    "丽华", "海燕", "红梅", "秀芳", "桂珍", "金花", "翠花", "凤兰", "淑英", "素珍", "美兰", "玉凤",
    "卫红", "红英", "建英", "爱华", "爱琴", "丽娟", "晓燕", "春梅", "冬梅", "秋菊", "月娥", "改花",
    "俊英", "彩霞", "兰英", "招弟", "来弟", "玉英", "小红", "红霞", "亚丽", "雪梅",
)
MONGOL_MALE = ("巴特尔", "苏和", "额尔敦", "那顺", "巴图", "朝鲁", "孟和", "宝音", "图门", "布和", "哈斯", "阿拉坦")
MONGOL_FEMALE = ("乌云", "其其格", "斯琴", "萨仁", "高娃", "托娅", "娜仁", "乌兰", "塔娜", "图雅", "格日勒", "琪琪格")

ETHNICITIES = (("汉族", 86), ("蒙古族", 8), ("回族", 3), ("满族", 2), ("达斡尔族", 0.5), ("朝鲜族", 0.5))

# GB/T 2260 county codes in use in the 1980s (address part of an ID number).
ID_REGIONS = (
    ("150102", 5), ("150103", 4), ("150104", 3), ("150105", 3), ("150121", 2), ("150202", 1),
    ("150203", 1), ("152601", 1), ("140202", 1), ("130702", 1), ("110102", 0.5), ("370102", 0.5),
)

BIRTHPLACES = (
    ("内蒙古呼和浩特市", 30), ("呼和浩特市", 15), ("归绥市", 4), ("内蒙古包头市", 4), ("内蒙古土默特左旗", 4),
    ("内蒙古托克托县", 2), ("内蒙古武川县", 2), ("内蒙古集宁市", 2), ("山西省大同市", 3), ("山西省忻县", 3),
    ("山西省代县", 2), ("山西省河曲县", 2), ("河北省张家口市", 2), ("河北省蔚县", 2), ("北京市", 1),
    ("山东省济南市", 1), ("陕西省府谷县", 1), ("辽宁省沈阳市", 1),
)
NATIVE_PLACES = (
    ("山西忻县", 8), ("山西代县", 5), ("山西河曲", 5), ("山西大同", 5), ("山西定襄", 3), ("河北蔚县", 4),
    ("河北阳原", 3), ("河北张家口", 3), ("内蒙古呼和浩特", 8), ("内蒙古土默特左旗", 4), ("内蒙古武川", 2),
    ("山东掖县", 2), ("陕西府谷", 2), ("陕西神木", 1), ("北京", 1), ("天津", 1), ("辽宁沈阳", 1),
)

CITY_DISTRICTS = (
    ("呼和浩特市", "新城区", ("新华大街", "锡林南路", "中山东路", "公园东路", "北垣街", "东风路", "车站东街", "兴安北路")),
    ("呼和浩特市", "回民区", ("通道街", "中山西路", "旧城北门", "西龙王庙街", "光明路", "钢铁路")),
    ("呼和浩特市", "玉泉区", ("大召前街", "五塔寺后街", "石羊桥路", "大南街", "小召前街", "南柴火市街")),
    ("呼和浩特市", "郊区", ("大学西街", "昭乌达路", "南二环路")),
    ("包头市", "昆都仑区", ("钢铁大街", "阿尔丁大街", "团结大街")),
    ("包头市", "青山区", ("幸福路", "文化路")),
)
RURAL_PLACES = (
    ("土默特左旗", "察素齐公社", "大队"), ("托克托县", "双河公社", "大队"), ("武川县", "可可以力更公社", "大队"),
    ("和林格尔县", "城关公社", "大队"),
)
VILLAGE_NAMES = ("东营子", "西沟门", "什拉门更", "毕克齐", "口子村", "北什轴", "讨速号", "红旗", "前进", "东风")

EDUCATION = (("文盲", 5), ("半文盲", 3), ("私塾", 1), ("初小", 4), ("高小", 5), ("小学", 10), ("初中", 14),
             ("高中", 10), ("中专", 4), ("中技", 1), ("大专", 2), ("大学", 3))
OCCUPATIONS = (("工人", 30), ("干部", 10), ("教师", 5), ("职员", 6), ("农民", 8), ("家务", 8), ("售货员", 3),
               ("司机", 3), ("医生", 2), ("会计", 2), ("技术员", 3), ("退休", 5), ("无业", 2))
EMPLOYERS = (
    "呼和浩特钢铁厂", "内蒙古第一毛纺织厂", "呼和浩特铁路局", "新城区第二小学", "呼市百货大楼", "内蒙古日报社",
    "内蒙古医院", "呼和浩特卷烟厂", "市第一建筑公司", "呼市糖厂", "内蒙古师范学院", "呼市第五中学",
    "回民区副食品公司", "呼和浩特机床附件厂", "内蒙古农牧学院", "市运输公司", "呼市第二毛纺厂", "红旗人民公社",
)
NO_EMPLOYER = {"农民", "家务", "退休", "无业", "学生", ""}

FORMER_NAME_PREFIX = ("小", "二", "三", "大", "来", "根")
FORMER_NAME_SUFFIX = ("子", "娃", "丫", "妮", "蛋", "锁", "毛", "虎", "喜", "女")


def weighted(rng: random.Random, pairs) -> str:
    """One item of (item, weight) pairs."""
    items, weights = zip(*pairs)
    return rng.choices(items, weights=weights, k=1)[0]


def id_check_char(body17: str) -> str:
    return ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS)) % 11]


def upgrade_id15(id15: str) -> str:
    """18-digit form of a 15-digit number (GB 11643-1999; sequence 996-999 means 18xx)."""
    century = "18" if int(id15[12:15]) >= 996 else "19"
    body = id15[:6] + century + id15[6:15]
    return body + id_check_char(body)


def id15_of(id18: str) -> str:
    return id18[:6] + id18[8:17]


def make_id_number(rng: random.Random, birth_date: str, sex: str) -> str:
    """Valid 18-digit number whose 15-digit ancestor upgrades back to it."""
    region = weighted(rng, ID_REGIONS)
    seq = rng.randrange(1, 995)
    if (seq % 2 == 1) != (sex == "男"):
        seq += 1
    body = region + birth_date.replace("-", "") + f"{seq:03d}"
    return body + id_check_char(body)


def random_date(rng: random.Random, start_year: int, end_year: int) -> str:
    start = dt.date(start_year, 1, 1).toordinal()
    end = dt.date(end_year, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(start, end)).isoformat()


def make_name(rng: random.Random, sex: str, ethnicity: str = "汉族", surname: str | None = None) -> str:
    if ethnicity == "蒙古族" and surname is None and rng.random() < 0.6:
        pool = MONGOL_MALE if sex == "男" else MONGOL_FEMALE
        given = rng.choice(pool)
        return given if len(given) == 3 or rng.random() < 0.5 else rng.choice("包白云奇韩") + given
    surname = surname or weighted(rng, SURNAMES)
    if rng.random() < 0.62:
        given = rng.choice(MALE_GIVEN_2 if sex == "男" else FEMALE_GIVEN_2)
    else:
        given = rng.choice(MALE_GIVEN_1 if sex == "男" else FEMALE_GIVEN_1)
    return surname + given


def make_address(rng: random.Random) -> str:
    if rng.random() < 0.12:
        county, commune, _ = rng.choice(RURAL_PLACES)
        return f"{county}{commune}{rng.choice(VILLAGE_NAMES)}大队{rng.randint(1, 9)}队"
    city, district, streets = rng.choice(CITY_DISTRICTS)
    street = rng.choice(streets)
    number = f"{rng.randint(1, 240)}号"
    extra = rng.choice(("", "", "", f"{rng.randint(1, 12)}排{rng.randint(1, 20)}号", f"{rng.randint(1, 8)}栋",
                        f"院内{rng.randint(1, 30)}号"))
    if extra and extra.endswith("号") and "排" in extra:
        number = ""
    return f"{city}{district}{street}{number}{extra}"


def age_on(birth_date: str, year: int) -> int:
    return year - int(birth_date[:4])


def _education_for(rng: random.Random, birth_date: str) -> str:
    age = age_on(birth_date, 1985)
    if age < 7:
        return "学龄前"
    if age < 13:
        return "小学"
    if age < 16:
        return rng.choice(("小学", "初中"))
    return weighted(rng, EDUCATION)


def _occupation_for(rng: random.Random, birth_date: str) -> str:
    age = age_on(birth_date, 1985)
    if age < 17:
        return "学生" if age >= 7 else ""
    if age > 62:
        return rng.choice(("退休", "家务", "无"))
    return weighted(rng, [(o, w) for o, w in OCCUPATIONS if o != "退休" or age > 50])


def _marital_for(rng: random.Random, birth_date: str) -> str:
    age = age_on(birth_date, 1985)
    if age < 20:
        return "未婚"
    if age < 28:
        return rng.choice(("未婚", "已婚", "已婚"))
    if age > 65:
        return rng.choice(("已婚", "丧偶", "丧偶"))
    return weighted(rng, (("已婚", 20), ("未婚", 1), ("离婚", 1), ("丧偶", 1)))


def make_person(rng: random.Random, **overrides) -> dict:
    """One register-like person; any field may be fixed through ``overrides``."""
    sex = overrides.get("sex") or rng.choice("男女")
    ethnicity = overrides.get("ethnicity") or weighted(rng, ETHNICITIES)
    birth_date = overrides.get("birth_date") or random_date(rng, 1900, 1988)
    name = overrides.get("name") or make_name(rng, sex, ethnicity, overrides.get("surname"))
    has_id = overrides.get("has_id", rng.random() < 0.85)
    occupation = overrides.get("occupation", _occupation_for(rng, birth_date))
    person = {
        "person_id": f"P{rng.randrange(10**7):07d}",
        "name": name,
        "sex": sex,
        "ethnicity": ethnicity,
        "birth_date": birth_date,
        "id_number": make_id_number(rng, birth_date, sex) if has_id else "",
        "birthplace": weighted(rng, BIRTHPLACES),
        "native_place": weighted(rng, NATIVE_PLACES),
        "address": make_address(rng),
        "relation_to_head": "户主",
        "education": _education_for(rng, birth_date),
        "marital_status": _marital_for(rng, birth_date),
        "occupation": occupation,
        "employer": "" if occupation in NO_EMPLOYER or occupation == "无" else rng.choice(EMPLOYERS),
        "former_name": "",
    }
    if rng.random() < 0.12 and len(name) >= 2:
        person["former_name"] = name[0] + rng.choice(FORMER_NAME_PREFIX) + rng.choice(FORMER_NAME_SUFFIX)
    for key, value in overrides.items():
        if key in person and value is not None:
            person[key] = value
    return person


def _shift_years(date: str, years: int, rng: random.Random) -> str:
    year = min(1988, max(1900, int(date[:4]) + years))
    return random_date(rng, year, year)


def make_household(rng: random.Random, size: int) -> list[dict]:
    """A head and up to ``size - 1`` relatives sharing surname, address and plausible ages."""
    head_sex = "男" if rng.random() < 0.85 else "女"
    head = make_person(rng, sex=head_sex, birth_date=random_date(rng, 1905, 1955))
    head["relation_to_head"] = "户主"
    surname = head["name"][0] if len(head["name"]) <= 3 else None
    members = [head]
    if size > 1 and head["marital_status"] != "未婚":
        spouse_sex = "女" if head_sex == "男" else "男"
        spouse = make_person(rng, sex=spouse_sex, birth_date=_shift_years(head["birth_date"], rng.randint(-3, 5), rng),
                             address=head["address"], ethnicity=head["ethnicity"] if rng.random() < 0.9 else None)
        spouse["relation_to_head"] = "妻" if spouse_sex == "女" else "夫"
        spouse["marital_status"] = head["marital_status"] = "已婚"
        members.append(spouse)
    head_year = int(head["birth_date"][:4])
    counts = {"男": 0, "女": 0}
    order = ("长", "次", "三", "四", "五")
    child_year = head_year + rng.randint(20, 28)
    while len(members) < size and child_year <= 1988:
        sex = rng.choice("男女")
        child = make_person(rng, sex=sex, birth_date=random_date(rng, child_year, child_year),
                            surname=surname if head_sex == "男" else None, address=head["address"],
                            ethnicity=head["ethnicity"], native_place=head["native_place"])
        rank = order[min(counts[sex], 4)]
        counts[sex] += 1
        child["relation_to_head"] = rank + ("子" if sex == "男" else "女") if rng.random() < 0.8 else ("子" if sex == "男" else "女")
        members.append(child)
        child_year += rng.randint(1, 4)
    if len(members) < size and head_year > 1925:
        parent = make_person(rng, sex="女", birth_date=_shift_years(head["birth_date"], -rng.randint(20, 30), rng),
                             address=head["address"], ethnicity=head["ethnicity"], native_place=head["native_place"])
        parent["relation_to_head"] = "母"
        parent["marital_status"] = "丧偶"
        members.append(parent)
    return members
