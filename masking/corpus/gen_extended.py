#!/usr/bin/env python3
"""The extended PI corpus: the shared corpus's records (gen_corpus.py, copied here from
../shared/corpus), plus numbers and names written the way people write them in chats,
forms and letters, plus lookalikes that must not be reported.

What it adds to the shared generator:

  CN_LANDLINE  every common way to write an area code and a local number: separators
               (- space . － — and the ideographic space), the local number grouped 4-4
               or 3-4, the area code in ASCII or full-width brackets, with +86, 0086 or
               86 before it (with or without its 0), full-width digits, an extension
               after it (转801, -801, ext. 801), and written unseparated right after a
               word that says it is a telephone number (电话, 座机, Tel, …).
  PERSON       surnames beyond the hundred most common (the rest of the Hundred Family
               Surnames and the 2020 census ranking, compound ones too), given names
               from a wider set of characters, names after titles (律师, 主任, …), names
               in lists (、 ， / 和 与 及), names that open a chat message or sign a letter.
  decoys       18-digit order and waybill numbers that pass both checks of a credit code
               but cannot be one (the registration authority and category, or the
               division code, say not); dates, times, document numbers and invalid
               numbers that look like landlines; phone-shaped numbers under words that
               say they are not phones; words that start with a surname.

The output format is the shared corpus's (see gen_corpus.py): offsets are code points.

Usage:
  python3 gen_extended.py --n 3000 --seed 20261206 --out ../testdata/corpus-extended.jsonl
  python3 gen_extended.py --check ../testdata/corpus-extended.jsonl   # the file is current
  python3 gen_extended.py --selftest
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from collections import Counter

import gen_corpus as base
from gen_corpus import Gen, org_code_check_char, uscc_check_char

# Area codes and the length of their local numbers, beyond the shared list.
AREA_CODES = base.AREA_CODES + [
    ("0311", 8), ("0371", 8), ("0411", 8), ("0451", 8), ("0551", 8), ("0574", 8),
    ("0592", 7), ("0769", 8), ("0851", 8), ("0771", 7), ("0951", 7), ("0991", 8),
    ("0356", 7), ("0391", 7), ("0516", 8), ("0898", 8),
]
SEPARATORS = ["-", "-", "-", " ", " ", "－", "—", ".", "\u3000"]
# Words that say the number after them is a telephone number.
PHONE_CUES = ["电话", "座机", "固话", "办公电话", "联系电话", "传真", "Tel:", "TEL", "电话号码"]

# Surnames of the Hundred Family Surnames and the census ranking beyond the shared
# generator's hundred, single and compound.
MORE_SURNAMES = list("钱孙褚卫尤施戚柏窦章苏葛奚范彭郎鲁韦昌苗凤俞柳酆鲍费廉岑薛倪滕殷毕邬卞齐"
                     "伍卜穆萧祁贝臧计伏谈茅庞纪舒屈项祝阮闵席季麻贾娄童颜梅盛凌霍虞柯昝管"
                     "卢莫裘缪宗贲郁杭洪诸钮嵇滑裴荀羊惠甄芮羿储靳汲邴糜井富巫乌焦巴弓牧隗"
                     "宓蓬郗班仰仲伊宫栾暴钭厉戎祖符詹束蓟薄印宿怀蒲邰鄂索咸籍赖卓蔺屠蒙"
                     "胥苍莘党翟谭贡劳逄姬申扶堵冉宰郦雍璩桑桂濮牛寿扈燕冀郏浦尚农晏柴瞿"
                     "阎慕茹习宦艾庾暨衡步耿弘匡寇禄阙殳沃蔚夔隆师巩厍聂晁敖融冷訾辛阚简"
                     "饶毋沙乜鞠须丰巢蒯荆游竺权逯桓")
MORE_COMPOUND = ["诸葛", "尉迟", "公孙", "长孙", "宇文", "司徒", "端木", "独孤", "南宫", "呼延",
                 "申屠", "闻人", "澹台", "淳于", "钟离", "赫连", "夏侯", "皇甫"]
# Given-name characters beyond the shared generator's set.
MORE_GIVEN = list("翠花婷颖琳霖瀚煊韬昕曜璟玥瑶菲蕾宸铭睿泓澄禾栩珂芮蓓婉姝妍湛嵘岱骁"
                  "砚钧锴朔筱萦漪沅泺晔炜烨焕钦铎")
# Titles a name follows.
TITLES = ["律师", "医生", "主任", "教授", "会计", "主管", "总监", "专员", "行长", "工程师",
          "客户经理", "老师", "护士", "经理"]
LIST_SEPARATORS = ["、", "、", "，", ",", "/", "和", "与", "及"]
# Words that begin with a surname character and are not names.
NAME_LIKE = ["联系方式", "用户须知", "客户权益", "客户利益", "客户全称", "本人承诺", "联系地址",
             "客户来源", "员工编号", "客户类型", "高新区", "黄金价格", "金额", "周末", "方便", "温馨提示", "常见问题", "林业局", "马上",
             "周转金", "白名单", "钱包", "万元", "高风险", "明细", "石油", "汤圆", "贺卡",
             "江南", "严重逾期", "关于", "安全"]

def fullwidth(s: str) -> str:
    """Digits and the hyphen as a CJK input method types them."""
    return s.translate(base.FULLWIDTH).replace("-", "－")


class ExtGen(Gen):
    """The shared generator, with the wider ways of writing landlines and names."""

    def local_number(self, n: int) -> tuple[str, str]:
        """A local number of n digits (not starting with 0, 1 or 9), in two groups."""
        r = self.r
        local = str(r.randint(2, 8)) + "".join(r.choice("0123456789") for _ in range(n - 1))
        cut = 4 if n == 8 else 3
        return local[:cut], local[cut:]

    def landline(self):
        r = self.r
        code, n = r.choice(AREA_CODES)
        a, b = self.local_number(n)
        sep = r.choice(SEPARATORS)
        grouped = r.choice(["", " ", "-", sep])
        local = f"{a}{grouped}{b}"
        bare = code[1:]
        x = r.random()
        if x < 0.30:
            s = f"{code}{sep}{local}"
        elif x < 0.45:
            s = r.choice([f"({code}){local}", f"({code}) {local}", f"（{code}）{local}",
                          f"（{code}） {local}", f"({code}）{local}"])
        elif x < 0.65:
            s = r.choice([f"+86-{bare}-{local}", f"+86 {bare} {local}", f"+86 ({bare}) {local}",
                          f"0086-{bare}-{local}", f"0086 {bare} {local}", f"86-{bare}-{local}",
                          f"+86-{code}-{local}", f"+86（{bare}）{local}"])
        elif x < 0.75:
            s = fullwidth(f"{code}-{a}{b}")
        elif x < 0.85:
            s = f"{code}-{a}{b}"
        else:
            s = f"{code} {a} {b}"
        return s

    def landline_unseparated(self):
        code, n = self.r.choice(AREA_CODES)
        a, b = self.local_number(n)
        return f"{code}{a}{b}"

    def extension(self):
        r = self.r
        return r.choice(["转", "-", " ext. ", "转分机", "-"]) + str(r.randint(1, 9999))

    def name(self):
        r = self.r
        x = r.random()
        if x < 0.08:
            sur = r.choice(base.COMPOUND_SURNAMES + MORE_COMPOUND)
        elif x < 0.35:
            sur = r.choice(MORE_SURNAMES)
        else:
            sur = r.choice(base.SURNAMES)
        pool = base.GIVEN + MORE_GIVEN
        return sur + "".join(r.choice(pool) for _ in range(1 if r.random() < 0.3 else 2))

    # ---------------- decoys ----------------
    def order_no18(self):
        """An 18-digit order or waybill number, date-led, that passes both checks of a
        credit code: its registration authority and category (2 and 0) cannot be one."""
        r = self.r
        while True:
            head = f"{r.randint(2019, 2026)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
            org8 = "".join(r.choice("0123456789") for _ in range(8))
            body = head[:8] + org8 + org_code_check_char(org8)
            if org_code_check_char(org8) == "X":
                continue
            check = uscc_check_char(body)
            if check.isdigit():
                return body + check

    def uscc_bad_category(self):
        """Passes both checks, but the category does not exist for its authority (9 with
        category 4 to 9, 5 with 4 to 8, …) or its division code names no province."""
        r = self.r
        head = r.choice(["94", "95", "97", "54", "56", "15", "24", "Y2", "Y9"])
        div = self.region() if r.random() < 0.7 else f"{r.choice([0, 90, 99]):02d}0101"
        org8 = "".join(r.choice("0123456789") for _ in range(8))
        body = head + div + org8 + org_code_check_char(org8)
        return body + uscc_check_char(body)

    def landline_like(self):
        r = self.r
        code, n = r.choice(AREA_CODES)
        a, b = self.local_number(n)
        return r.choice([
            f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
            f"{r.randint(6, 9):02d}00-{r.randint(17, 22)}00",
            f"011-{a}{b}",
            f"{code}-0{a[1:]}{b}",
            f"{code}-1{a[1:]}{b}",
            "010-" + str(r.randint(2, 8)) + "".join(r.choice("0123456789") for _ in range(6)),
            f"{r.randint(2019, 2026)}-{code}-{a}-{b}",
            f"No.{r.randint(2019, 2026)}-{code}-{a}{b}",
        ])

    def phone_shaped(self):
        """Digits a landline could be, under a word that says what else they are."""
        return self.landline_unseparated()

    def name_like(self):
        return self.r.choice(NAME_LIKE)


SLOTS = dict(base.SLOTS)
SLOTS.update({
    "LANDLINE_RUN": ("landline_unseparated", "CN_LANDLINE", True),
    "X_ORDER18": ("order_no18", "ORDER_NO_18", False),
    "X_USCC_CATEGORY": ("uscc_bad_category", "USCC_BAD_CATEGORY", False),
    "X_LANDLINE_LIKE": ("landline_like", "LANDLINE_LIKE", False),
    "X_PHONE_SHAPED": ("phone_shaped", "PHONE_SHAPED_NUMBER", False),
    "X_NAME_LIKE": ("name_like", "WORD_LIKE_NAME", False),
})
PLAIN = dict(base.PLAIN)
PLAIN.update({
    "EXT": lambda g: g.extension(),
    "PHONE_CUE": lambda g: g.r.choice(PHONE_CUES),
    "TITLE": lambda g: g.r.choice(TITLES),
    "LSEP": lambda g: g.r.choice(LIST_SEPARATORS),
})

NEW_TEMPLATES = {
    "zh": [
        "我座机是{LANDLINE}，白天都在。",
        "办公电话：{LANDLINE}{EXT}（工作日9:00-17:30）",
        "有事打{LANDLINE}找我，手机{MOBILE}也行。",
        "{PHONE_CUE}{LANDLINE_RUN}，如无人接听请留言。",
        "单位地址{ADDRESS}，{PHONE_CUE}：{LANDLINE}",
        "传真 {LANDLINE}，邮箱 {EMAIL}",
        "本案由{TITLE}{NAME}，联系电话{LANDLINE}。",
        "参会人员：{NAME}{LSEP}{NAME}{LSEP}{NAME}。",
        "共同借款人为{NAME}{LSEP}{NAME}，担保人{NAME}。",
        "{NAME}：您好，您的还款日是本月{N}日。",
        "此致\n敬礼\n{NAME}\n{X_TS}",
        "主治{TITLE}{NAME}，病历号{X_SERIAL}。",
        "姓名 {NAME} 性别 男 电话 {LANDLINE}",
        "请{TITLE}{NAME}于明日上午回电{LANDLINE}。",
        "快递单号{X_ORDER18}已签收，订单号{X_ORDER18}。",
        "运单{X_ORDER18}，订单编号{X_PHONE_SHAPED}，合同号{X_LANDLINE_LIKE}。",
        "代码{X_USCC_CATEGORY}不符合编码规则。",
        "营业时间{X_LANDLINE_LIKE}，{X_NAME_LIKE}请见官网。",
        "{X_NAME_LIKE}：逾期后将产生罚息。",
        "文件编号{X_LANDLINE_LIKE}，{X_NAME_LIKE}。",
        "我叫{NAME}，身份证{ID}，座机{LANDLINE}。",
    ],
    "en": [
        "Office: {LANDLINE}{EXT}, mobile {MOBILE}.",
        "Please call {LANDLINE} during office hours.",
        "Attendees: {NAME_EN}, {NAME_EN} and {NAME_EN}.",
        "Tracking number {X_ORDER18}; order ref {X_PHONE_SHAPED}.",
        "Tel {LANDLINE_RUN}; fax {LANDLINE}.",
    ],
    "mixed": [
        "客户说office phone是{LANDLINE}，fax {LANDLINE}",
        "联系人{NAME}（{TITLE}），tel: {LANDLINE}",
        "单号{X_ORDER18}，tel {LANDLINE}",
    ],
    "struct": [
        '{{"contact":"{NAME}","tel":"{LANDLINE}","fax":"{LANDLINE}","order_no":"{X_ORDER18}"}}',
        "name,title,phone\n{NAME},{TITLE},{LANDLINE}\n{NAME},{TITLE},{LANDLINE}",
        "ts={X_TS} waybill={X_ORDER18} doc={X_LANDLINE_LIKE} phone={LANDLINE}",
    ],
}
# Half of the records from the new templates, half from the shared ones (whose landline
# and name slots now draw the wider forms too).
TEMPLATES = {style: base.TEMPLATES[style] + NEW_TEMPLATES[style] * 2 for style in base.TEMPLATES}

_SLOT_RE = re.compile(r"\{\{|\}\}|\{([A-Z_0-9]+)\}")


def render(g: ExtGen, template: str, text: list, spans: list, decoys: list, pos: int) -> int:
    """Appends the rendered template to text; returns the new position (code points)."""
    i = 0
    for m in _SLOT_RE.finditer(template):
        lit = template[i:m.start()]
        text.append(lit)
        pos += len(lit)
        tok = m.group(0)
        if tok in ("{{", "}}"):
            text.append(tok[0])
            pos += 1
        else:
            key = m.group(1)
            if key in SLOTS:
                meth, label, positive = SLOTS[key]
                val = getattr(g, meth)()
                (spans if positive else decoys).append(
                    {"type": label, "start": pos, "end": pos + len(val), "value": val})
            else:
                val = PLAIN[key](g)
            text.append(val)
            pos += len(val)
        i = m.end()
    lit = template[i:]
    text.append(lit)
    return pos + len(lit)


def make_record(g: ExtGen, rid: int) -> dict:
    r = g.r
    style = r.choices([s for s, _ in base.STYLE_WEIGHTS],
                      weights=[w for _, w in base.STYLE_WEIGHTS])[0]
    parts = [r.choice(TEMPLATES[style]) for _ in range(r.choices([1, 2, 3], weights=[40, 40, 20])[0])]
    sep = {"struct": "\n", "en": " ", "mixed": "；", "zh": ""}[style]
    text, spans, decoys, pos = [], [], [], 0
    for j, t in enumerate(parts):
        if j:
            text.append(sep)
            pos += len(sep)
        pos = render(g, t, text, spans, decoys, pos)
    return {"id": rid, "style": style, "text": "".join(text), "spans": spans, "decoys": decoys}


def generate(n: int, seed: int):
    g = ExtGen(seed)
    for i in range(n):
        yield make_record(g, i)


def landline_digits(value: str) -> str:
    """The area code (with its 0) and local number of a written landline."""
    v = unicodedata.normalize("NFKC", value)
    d = re.sub(r"\D", "", v)
    if v.lstrip().startswith(("+86", "0086", "86")):
        d = d[2:] if d.startswith("86") else d[4:]
        d = d if d.startswith("0") else "0" + d
    return d


def selftest(n: int = 3000, seed: int = 7) -> None:
    checks = Counter()
    for rec in generate(n, seed):
        t = rec["text"]
        for s in rec["spans"] + rec["decoys"]:
            assert t[s["start"]:s["end"]] == s["value"], (rec["id"], s)
            checks[s["type"]] += 1
        for s in rec["spans"]:
            if s["type"] == "CN_LANDLINE":
                d = landline_digits(s["value"])
                assert re.fullmatch(r"0(10|2\d)[2-8]\d{7}|0[3-9]\d\d[2-8]\d{6,7}", d), s["value"]
        for s in rec["decoys"]:
            if s["type"] in ("ORDER_NO_18", "USCC_BAD_CATEGORY"):
                v = s["value"]
                assert base.uscc_valid(v) and org_code_check_char(v[8:16]) == v[16], v
    print("selftest ok:", dict(sorted(checks.items())))


def write(n: int, seed: int) -> str:
    return "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in generate(n, seed))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--out", default="corpus-extended.jsonl")
    ap.add_argument("--check", metavar="FILE", help="exit 1 unless FILE is what --n/--seed write")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args(argv)
    if a.selftest:
        selftest()
        return 0
    out = write(a.n, a.seed)
    if a.check:
        with open(a.check, encoding="utf-8") as f:
            if f.read() != out:
                print(f"{a.check} is not what gen_extended.py --n {a.n} --seed {a.seed} writes",
                      file=sys.stderr)
                return 1
        return 0
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(out)
    stats = Counter()
    for line in out.splitlines():
        rec = json.loads(line)
        stats.update(s["type"] for s in rec["spans"] + rec["decoys"])
    print(json.dumps({"records": a.n, "seed": a.seed,
                      "sha256_jsonl": hashlib.sha256(out.encode()).hexdigest(),
                      "counts": dict(sorted(stats.items()))}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
