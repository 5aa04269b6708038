"""A synthetic population register and page mentions for the linkage benchmark and for
estimating the linkage model without labels.

Names follow a skewed surname distribution and era-typical given names, so exact
collisions (王秀英, 张伟 …) are as common as in a real city. Page errors are made with
tools independent of the matcher's own confusion table: four-corner neighbours among
common name characters (shape), same-pinyin characters (homophones), random characters,
traditional forms, lunar-calendar, shifted and typo birth dates, old addresses, 15-digit IDs.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from pipeline.normalize import id_check_char, upgrade_id15

# Approximate shares (%) of the commonest surnames; the rest share the remainder.
SURNAMES = (
    "王7.1 李7.0 张6.7 刘5.4 陈4.5 杨3.2 黄2.2 赵2.0 吴1.9 周1.8 徐1.3 孙1.2 马1.1 朱1.1 胡1.0 郭1.0 何0.9 "
    "高0.9 林0.9 罗0.8 郑0.8 梁0.7 谢0.6 宋0.5 唐0.5 许0.5 韩0.5 冯0.4 邓0.4 曹0.4 彭0.4 曾0.4 肖0.4 田0.4 "
    "董0.4 袁0.4 潘0.3 于0.3 蒋0.3 蔡0.3 余0.3 杜0.3 叶0.3 程0.3 苏0.3 魏0.3 吕0.3 丁0.3 任0.3 沈0.3 姚0.2 "
    "卢0.2 姜0.2 崔0.2 钟0.2 谭0.2 陆0.2 汪0.2 范0.2 金0.2 石0.2 廖0.2 贾0.2 夏0.2 韦0.2 付0.2 方0.2 白0.2 "
    "邹0.2 孟0.2 熊0.2 秦0.2 邱0.2 江0.2 尹0.2 薛0.2 闫0.1 段0.1 雷0.1 侯0.1 龙0.1 史0.1 陶0.1 黎0.1 贺0.1 "
    "顾0.1 毛0.1 郝0.1 龚0.1 邵0.1 万0.1 钱0.1 严0.1 覃0.1 武0.1 戴0.1 莫0.1 孔0.1 向0.1 汤0.1 单0.05 "
    "萧0.05 阎0.05 傅0.05 欧阳0.05 司马0.01 诸葛0.01 上官0.01 乌兰0.02 包0.1 巴0.05 那0.05 敖0.05"
)
# Whole given names that each era repeated endlessly, and characters to compose the rest.
GIVEN_MALE = "建国 建华 国强 建军 国庆 志强 永胜 德明 振华 文革 卫东 红卫 建平 志刚 明 伟 勇 军 强 刚 杰 磊 涛 斌 平 峰 华 健 辉 鹏 波 超 海 东 林"
GIVEN_FEMALE = "桂兰 秀英 秀兰 玉兰 淑珍 凤英 桂英 玉珍 桂珍 玉梅 淑兰 秀珍 丽华 红梅 小红 海燕 丽 敏 静 艳 娟 芳 霞 红 英 梅 兰 珍 云 燕 萍 玲"
CHARS_MALE = "国建志明德文永振春庆胜利军伟华平东海福祥荣学兴贵成宝金林山忠义仁智勇刚强俊新光立世延长宏锦维广保钧鸿"
CHARS_FEMALE = "秀桂玉淑凤兰英珍梅芳华丽红云霞琴芬翠花美素彩月娥莲荣萍静艳娟燕敏慧洁雪琳佩惠爱香凤"
ETHNICITIES = ("汉族",) * 90 + ("蒙古族",) * 4 + ("回族",) * 3 + ("满族",) * 2 + ("达斡尔族",)
PLACES = (
    ("150102", "内蒙古自治区呼和浩特市新城区"), ("150103", "内蒙古自治区呼和浩特市回民区"),
    ("150203", "内蒙古自治区包头市昆都仑区"), ("150402", "内蒙古自治区赤峰市红山区"),
    ("110101", "北京市东城区"), ("110102", "北京市西城区"), ("120101", "天津市和平区"),
    ("130102", "河北省石家庄市长安区"), ("130602", "河北省保定市新市区"), ("140105", "山西省太原市小店区"),
    ("210102", "辽宁省沈阳市和平区"), ("220102", "吉林省长春市南关区"), ("230102", "黑龙江省哈尔滨市道里区"),
    ("370102", "山东省济南市历下区"), ("410102", "河南省郑州市中原区"), ("510202", "四川省重庆市市中区"),
    ("320102", "江苏省南京市玄武区"), ("330102", "浙江省杭州市上城区"), ("610102", "陕西省西安市新城区"),
    ("620102", "甘肃省兰州市城关区"), ("640104", "宁夏回族自治区银川市兴庆区"), ("152501", "内蒙古自治区锡林浩特市"),
)
STREETS = "中山路 解放路 人民路 新华街 胜利街 和平路 建设路 东风路 红旗街 团结路 光明巷 大学西路 锡林北路 通道街 五一街".split()
TRAD = str.maketrans("国华兰伟刚军东梅红丽凤庆宝贵荣杨陈刘张赵马孙郑吴萧阎龙叶罗韩冯邓", "國華蘭偉剛軍東梅紅麗鳳慶寶貴榮楊陳劉張趙馬孫鄭吳蕭閻龍葉羅韓馮鄧")
SURNAME_VARIANTS = {"萧": "肖", "肖": "萧", "阎": "闫", "闫": "阎", "傅": "付", "付": "傅"}


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    sex: str
    ethnicity: str
    birth_date: str
    id_number: str  # as the register holds it ("" none, 15 or 18 digits)
    birthplace: str
    native_place: str
    address: str
    truth: str  # the real person behind the row (duplicates share it)


@dataclass(frozen=True)
class Mention:
    name: str | None
    sex: str | None
    ethnicity: str | None
    birth_date: str | None
    id_number: str | None
    birthplace: str | None
    native_place: str | None
    address: str | None
    truth: str  # person truth id, or "" for someone not in the register
    errors: tuple[str, ...]


def _weighted(spec: str) -> tuple[list[str], list[float]]:
    names, weights = [], []
    for token in spec.split():
        i = next(k for k, c in enumerate(token) if c.isdigit())
        names.append(token[:i])
        weights.append(float(token[i:]))
    rest = max(100.0 - sum(weights), 1.0)
    return names, [w / 100 for w in weights] + [rest / 100]


class Synth:
    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.surnames, weights = _weighted(SURNAMES)
        self.surname_cum = list(itertools.accumulate(weights))
        self.rare_surnames = list("尚骆柴翁宫祁苗冉佟芦盛仲蓝柏温甘凌乔牛庞裴樊兰聂晏纪舒屈项祝阮喻柯")
        self.given = {"男": GIVEN_MALE.split(), "女": GIVEN_FEMALE.split()}
        self.chars = {"男": CHARS_MALE, "女": CHARS_FEMALE}
        self._serial = 0
        self._shape = None
        self._sound = None

    # --- register --------------------------------------------------------------------

    def surname(self) -> str:
        i = bisect.bisect_left(self.surname_cum, self.rng.random() * self.surname_cum[-1])
        return self.surnames[i] if i < len(self.surnames) else self.rng.choice(self.rare_surnames)

    def given_name(self, sex: str) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(self.given[sex])
        pool = self.chars[sex]
        if r < 0.70:
            return self.rng.choice(pool)
        return self.rng.choice(pool) + self.rng.choice(pool)

    def birth_date(self) -> date:
        year = int(self.rng.triangular(1900, 1990, 1955))
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365))

    def id_number(self, code: str, born: date, sex: str) -> str:
        seq = self.rng.randrange(1, 497) * 2 + (1 if sex == "男" else 0)  # 996–999 were kept for centenarians
        body = f"{code}{born:%Y%m%d}{seq:03d}"
        return body + id_check_char(body)

    def address(self, district: str) -> str:
        return f"{district}{self.rng.choice(STREETS)}{self.rng.randrange(1, 200)}号"

    def person(self, person_id: str, truth: str) -> Person:
        sex = self.rng.choice("男女")
        born = self.birth_date()
        code, place = self.rng.choice(PLACES)
        home_code, home = self.rng.choice(PLACES[:7]) if self.rng.random() < 0.7 else (code, place)
        native = place if self.rng.random() < 0.6 else self.rng.choice(PLACES)[1]
        idn = self.id_number(code, born, sex) if self.rng.random() < 0.9 else ""
        if idn and self.rng.random() < 0.1:
            idn = idn[:6] + idn[8:17]  # an old row still holding the 15-digit number
        return Person(person_id, self.surname() + self.given_name(sex), sex, self.rng.choice(ETHNICITIES),
                      born.isoformat(), idn, place, native, self.address(home), truth)

    def register(self, n: int, duplicate_rate: float = 0.01, shared_id_rate: float = 0.001):
        """Persons, with planted double registrations and ID numbers shared by two people.
        Returns (rows, planted pairs as frozensets of two person_ids, pair kinds)."""
        rows = [self.person(f"P{i:08d}", f"T{i:08d}") for i in range(n)]
        planted: dict[frozenset[str], str] = {}
        next_id = n
        for original in self.rng.sample(rows, int(n * duplicate_rate)):
            copy = self.reregistered(original, f"P{next_id:08d}")
            next_id += 1
            rows.append(copy)
            planted[frozenset((original.person_id, copy.person_id))] = "duplicate"
        position = {r.person_id: i for i, r in enumerate(rows)}
        with_id = [r for r in rows if r.id_number]
        for a, b in zip(*[iter(self.rng.sample(with_id, 2 * int(n * shared_id_rate)))] * 2):
            if a.truth == b.truth:
                continue
            rows[position[b.person_id]] = replace(b, id_number=a.id_number)
            planted[frozenset((a.person_id, b.person_id))] = "shared_id"
        self.rng.shuffle(rows)
        return rows, planted

    def reregistered(self, p: Person, person_id: str) -> Person:
        """The same person registered a second time elsewhere (重户)."""
        name = p.name
        r = self.rng.random()
        if r < 0.15:
            name = self.shape_error(name)
        elif r < 0.25:
            name = self.sound_error(name)
        elif r < 0.30 and name[0] in SURNAME_VARIANTS:
            name = SURNAME_VARIANTS[name[0]] + name[1:]
        born = p.birth_date
        if self.rng.random() < 0.1:
            born = self.date_typo(born)
        idn = p.id_number
        r = self.rng.random()
        if idn and r < 0.4:
            idn = idn[:6] + idn[8:17] if len(idn) == 18 else idn  # the 15-digit form of the same number
        elif r < 0.7:
            idn = ""
        code, district = self.rng.choice(PLACES)
        return replace(p, person_id=person_id, name=name, birth_date=born, id_number=idn, address=self.address(district))

    # --- page errors -----------------------------------------------------------------

    def _shape_neighbours(self) -> dict[str, list[str]]:
        if self._shape is None:
            import four_corner_method

            table = four_corner_method.FourCornerMethod()
            pool = set(CHARS_MALE + CHARS_FEMALE + "".join(self.given["男"] + self.given["女"]) + "".join(self.surnames))
            pool |= set("己已巳未末王玉土士日曰天夭干千于人入八大太犬田由甲申白自候侯休体准淮桂柱淑叔英荚凤风国图军车春眷珍诊明朋清情晴睛萍苹娟涓贵责祥详永水兵乒小少生牛官宫叶计秀季芬芳莲连梅海")
            codes = {c: table.query(c) for c in sorted(pool) if table.query(c)}  # sorted: the same neighbours whatever the hash seed
            by_code: dict[str, list[str]] = {}
            for c, code in codes.items():
                by_code.setdefault(code, []).append(c)
            out: dict[str, list[str]] = {}
            for c, code in codes.items():
                near = [d for d, dc in codes.items() if d != c and sum(x != y for x, y in zip(code, dc)) <= 1]
                if near:
                    out[c] = near
            self._shape = out
        return self._shape

    def _sound_neighbours(self) -> dict[str, list[str]]:
        if self._sound is None:
            from pypinyin import lazy_pinyin

            pool = set(CHARS_MALE + CHARS_FEMALE + "".join(self.given["男"] + self.given["女"]))
            pool |= set("伟玮炜卫维薇为章彰璋张樟杰洁捷婕节立丽力莉利俐励荔华桦骅画化英瑛莹颖鹰应迎红宏鸿虹洪弘芳方坊舫珍真贞祯桢甄")
            by_sound: dict[str, list[str]] = {}
            for c in sorted(pool):  # sorted: the same neighbours whatever the hash seed
                by_sound.setdefault(lazy_pinyin(c)[0], []).append(c)
            self._sound = {c: [d for d in by_sound[lazy_pinyin(c)[0]] if d != c] for c in pool}
        return self._sound

    def _replace_one(self, name: str, table: dict[str, list[str]]) -> str:
        spots = [i for i, c in enumerate(name) if table.get(c)]
        if not spots:
            return self.random_error(name)
        i = self.rng.choice(spots)
        return name[:i] + self.rng.choice(table[name[i]]) + name[i + 1:]

    def shape_error(self, name: str) -> str:
        return self._replace_one(name, self._shape_neighbours())

    def sound_error(self, name: str) -> str:
        return self._replace_one(name, self._sound_neighbours())

    def random_error(self, name: str) -> str:
        i = self.rng.randrange(len(name))
        return name[:i] + self.rng.choice(CHARS_MALE + CHARS_FEMALE) + name[i + 1:]

    def date_typo(self, iso: str) -> str:
        d = date.fromisoformat(iso)
        for _ in range(10):
            digits = list(d.strftime("%Y%m%d"))
            i = self.rng.choice([3, 5, 7, 6])
            digits[i] = str(self.rng.randrange(10))
            text = "".join(digits)
            try:
                new = date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                continue
            if new != d:
                return new.isoformat()
        return (d + timedelta(days=1)).isoformat()

    def lunar_mixup(self, iso: str) -> str:
        """The birthday in the other calendar, written as if it were solar: either the page
        gives the lunar numbers of the register's solar date, or the register holds lunar
        numbers and the page the solar date."""
        from lunar_python import Lunar, Solar

        y, m, d = (int(x) for x in iso.split("-"))
        if self.rng.random() < 0.5:
            lunar = Solar.fromYmd(y, m, d).getLunar()
            y, m, d = lunar.getYear(), abs(lunar.getMonth()), lunar.getDay()
            d = min(d, 28) if m == 2 else d  # lunar 2/29–30 has no solar reading as written
            return date(y, m, d).isoformat()
        solar = Lunar.fromYmd(y, m, min(d, 29)).getSolar()
        return date(solar.getYear(), solar.getMonth(), solar.getDay()).isoformat()

    def mention(self, p: Person, registered: bool) -> Mention:
        """What an old page says about the person, as OCR and a hurried clerk left it."""
        rng = self.rng
        errors = []
        name = p.name
        r = rng.random()
        if r < 0.10:
            name, errors = self.shape_error(name), ["shape"]
        elif r < 0.15:
            name, errors = self.sound_error(name), ["sound"]
        elif r < 0.18:
            name, errors = self.random_error(name), ["random_char"]
        elif r < 0.22:
            name, errors = name.translate(TRAD), ["traditional"]
        elif r < 0.24 and name[0] in SURNAME_VARIANTS:
            name, errors = SURNAME_VARIANTS[name[0]] + name[1:], ["surname_variant"]
        born: str | None = p.birth_date
        r = rng.random()
        if r < 0.04:
            born, errors = None, errors + ["no_date"]
        elif r < 0.08:
            born, errors = self.date_typo(born), errors + ["date_typo"]
        elif r < 0.12:
            born, errors = self.lunar_mixup(born), errors + ["lunar"]
        elif r < 0.14:  # a date off by weeks for no calendar reason (a misremembered birthday)
            shifted = date.fromisoformat(born) + timedelta(days=rng.choice((-1, 1)) * rng.randrange(18, 50))
            born, errors = shifted.isoformat(), errors + ["date_shift"]
        elif r < 0.17:
            born, errors = born[:4], errors + ["year_only"]
        r = rng.random()
        sex = p.sex if r < 0.97 else (None if r < 0.99 else {"男": "女", "女": "男"}[p.sex])
        r = rng.random()
        eth = p.ethnicity if r < 0.49 else (rng.choice(ETHNICITIES) if r < 0.5 else None)
        birthplace = p.birthplace if rng.random() < 0.6 else None
        if birthplace and rng.random() < 0.5:
            birthplace = birthplace.split("省")[-1].split("自治区")[-1]
        native = p.native_place if rng.random() < 0.5 else None
        if native and rng.random() < 0.2:
            native = re.split(r"(?<=省)|(?<=自治区)|(?<=市)", native)[0]  # only the province, as old forms often have it
        r = rng.random()
        address = None if r < 0.2 else (p.address if r < 0.4 else self.address(rng.choice(PLACES)[1]))
        idn = None
        if p.id_number and len(p.id_number) in (15, 18) and rng.random() < 0.25:
            full = p.id_number if len(p.id_number) == 18 else upgrade_id15(p.id_number)
            idn = full[:6] + full[8:17] if rng.random() < 0.4 else full
            if rng.random() < 0.03:
                i = rng.randrange(len(idn) - 1)
                idn = idn[:i] + str((int(idn[i]) + 1) % 10) + idn[i + 1:]
                errors.append("id_digit")
        return Mention(name, sex, eth, born, idn, birthplace, native, address, p.truth if registered else "", tuple(errors))

    def mentions(self, rows: list[Person], n: int, unregistered_share: float = 0.1) -> list[Mention]:
        out = []
        for k in range(n):
            if self.rng.random() < unregistered_share:
                out.append(self.mention(self.person(f"U{k:08d}", ""), registered=False))
            else:
                out.append(self.mention(self.rng.choice(rows), registered=True))
        return out


def write_register_csv(rows: list[Person], path) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "name", "sex", "ethnicity", "birth_date", "id_number", "birthplace", "native_place", "address"])
        for r in rows:
            writer.writerow([r.person_id, r.name, r.sex, r.ethnicity, r.birth_date, r.id_number, r.birthplace, r.native_place, r.address])
