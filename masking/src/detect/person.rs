//! Names of people, by dictionary and context, with a score rather than a validator.
//!
//! Chinese names: a surname from the common-surname dictionary (single and compound, after
//! the Hundred Family Surnames and the 2020 census ranking) followed by one or two characters
//! of the common given-name set, standing alone (no Chinese character on either side), or
//! right after a context word (客户, 借款人, 姓名, …), or right before a word that commonly
//! follows a name (于, 的, 先生, …). Pinyin names: a capitalised pinyin surname and a
//! capitalised word made of pinyin syllables.

use regex::Regex;

use super::scan::{Text, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// Common single-character surnames. Characters that are far more often function words
/// (和, 由, 但, …) are left out.
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁\
潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史\
陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦\
俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解\
牟艾尤阳穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾\
隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储栗燕楚鄢劳谌奚皮粟冼蔺\
闻厉伊仝郜阚帅屠豆朴盖廉禹祖漆卿狄宣晋容敬扈晁芮阙戈伏鹿薄邸雍邰赫杭逯嵇湛檀昝智";

/// Compound surnames.
const COMPOUND_SURNAMES: [&str; 30] = [
    "欧阳", "司马", "诸葛", "上官", "东方", "慕容", "皇甫", "令狐", "夏侯", "尉迟", "公孙", "长孙",
    "宇文", "司徒", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "太史", "申屠", "闻人", "澹台",
    "公冶", "宗政", "濮阳", "淳于", "钟离", "赫连",
];

/// Characters common in given names (both sexes), without the function words that follow
/// names in running text.
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚英文华建国志红梅玉海燕晓东子涵\
浩然欣怡梓轩雨萱宇思远嘉俊佳琪雅婷博昊天一诺若曦梦瑶锦程振秀桂凤琳晨阳鑫淑慧巧美惠珠翠芝萍娥玲芬\
彩春菊洁素云莲真环雪荣爱妹香月莺媛瑞凡琼勤珍贞莉娣叶璐娅琦晶妍茜秋珊莎黛青倩姣婉娴瑾颖露婵雁蓓仪\
荷丹蓉眉君琴蕊薇菁岚苑婕馨琰韵园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁飘育滢馥筠柔竹凝欢霄枫芸菲寒伊\
亚宜舒影荔毅俊峰保辉力永健世广义兴良山仁波贵福生龙元全胜学祥才发武新利清飞彬富顺信昌成康星光达\
安岩茂进林坚彪诚先敬震壮群豪心邦承乐绍功松善厚庆民友裕河哲江亮政谦亨奇固翰朗伯宏言鸣朋斌梁栋维\
启克伦翔旭鹏泽辰士家致树炎德泰盛雄琛钧冠策腾楠榕风航弘桐铭皓轩睿涵宸煜晗逸钰彤瑜琪璇妤溪沐晴曼\
菡蕾婧翊湘沁靖淼淳熙骏驰凯铮锋钢铁柱根旺财喜寿年春夏冬梓彦萌蔚潇小少雯";

/// Words that, right before a name, say a person is meant.
const CUES: [&str; 40] = [
    "客户",
    "用户",
    "借款人",
    "持有人",
    "收件人",
    "联系人",
    "代表人",
    "姓名",
    "户名",
    "申请人",
    "担保人",
    "本人",
    "员工",
    "经办人",
    "收款人",
    "付款人",
    "开户人",
    "投保人",
    "被保险人",
    "受益人",
    "患者",
    "联系",
    "尊敬的",
    "亲爱的",
    "配偶",
    "法人",
    "经理",
    "老师",
    "同学",
    "同事",
    "客户经理",
    "催收员",
    "坐席",
    "业务员",
    "致",
    "通知",
    "委托人",
    "债务人",
    "学生",
    "收货人",
];

/// Words that commonly follow a name in running text.
const FOLLOWERS: [&str; 27] = [
    "于", "的", "在", "已", "与", "和", "及", "向", "为", "称", "说", "是", "等", "将", "被",
    "先生", "女士", "小姐", "您好", "你好", "表示", "通过", "申请", "来电", "致电", "反馈", "名下",
];

/// Pinyin surnames (Hanyu Pinyin of the most common surnames).
const PINYIN_SURNAMES: [&str; 64] = [
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang", "Han",
    "Feng", "Deng", "Cao", "Peng", "Zeng", "Xiao", "Tian", "Dong", "Yuan", "Pan", "Yu", "Jiang",
    "Cai", "Du", "Ye", "Cheng", "Su", "Wei", "Lu", "Ding", "Ren", "Shen", "Yao", "Cui", "Zhong",
    "Tan", "Fan", "Jin", "Shi", "Liao", "Jia", "Xia", "Fu", "Fang", "Bai", "Zou", "Meng", "Ouyang",
];

/// English words that, before a name, say a person is meant.
const PINYIN_CUES: [&str; 12] = [
    "customer",
    "borrower",
    "contact",
    "name",
    "mr",
    "ms",
    "mrs",
    "dear",
    "to",
    "applicant",
    "holder",
    "client",
];

/// How many characters of a Chinese name are its surname: 2 for a compound surname, else 1.
pub fn surname_len(name: &str) -> usize {
    if COMPOUND_SURNAMES.iter().any(|c| name.starts_with(c)) {
        2
    } else {
        1
    }
}

/// Whether `c` is a CJK unified ideograph (the basic block or extension A).
pub fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// A set of CJK ideographs as a bitmap over U+3400..U+A000, for lookups in O(1).
struct HanSet(Vec<u64>);

impl HanSet {
    const FIRST: u32 = 0x3400;
    const LAST: u32 = 0xa000;

    fn of(chars: &str) -> HanSet {
        let mut bits = vec![0u64; ((HanSet::LAST - HanSet::FIRST) / 64 + 1) as usize];
        for c in chars.chars() {
            if let Some(i) = HanSet::index(c) {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        HanSet(bits)
    }

    fn index(c: char) -> Option<usize> {
        let u = u32::from(c);
        (HanSet::FIRST..HanSet::LAST)
            .contains(&u)
            .then(|| (u - HanSet::FIRST) as usize)
    }

    fn contains(&self, c: char) -> bool {
        HanSet::index(c).is_some_and(|i| self.0[i / 64] & (1 << (i % 64)) != 0)
    }
}

/// Finds names of people.
pub struct Person {
    surnames: HanSet,
    compound_first: HanSet,
    given: HanSet,
    pinyin: Regex,
    syllables: Regex,
}

impl Person {
    /// The detector.
    pub fn new() -> Person {
        Person {
            surnames: HanSet::of(SURNAMES),
            compound_first: HanSet::of(&COMPOUND_SURNAMES.concat()),
            given: HanSet::of(GIVEN),
            pinyin: pattern(r"[A-Z][a-z]{1,5} [A-Z][a-z]{1,11}"),
            syllables: pattern(
                "^(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?\
                 (?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ao|an|ei|en|er|ia|ie|in|iu|ou|ua|ui|un|uo|ue|a|e|i|o|u|v))+$",
            ),
        }
    }

    fn find_chinese(&self, text: &str, out: &mut Vec<Candidate>) {
        // Every surname is in U+4E00..U+9FFF, three bytes in UTF-8 led by E4..E9 (bytes that
        // only ever lead a character), so a byte loop finds them without decoding the rest.
        let bytes = text.as_bytes();
        let mut start = 0;
        while start + 3 <= bytes.len() {
            if !(0xE4..=0xE9).contains(&bytes[start]) {
                start += 1;
                continue;
            }
            let code = (u32::from(bytes[start] & 0x0F) << 12)
                | (u32::from(bytes[start + 1] & 0x3F) << 6)
                | u32::from(bytes[start + 2] & 0x3F);
            let Some(c) = char::from_u32(code) else {
                start += 3;
                continue;
            };
            let compound = if self.compound_first.contains(c) {
                COMPOUND_SURNAMES
                    .iter()
                    .find(|s| text[start..].starts_with(*s))
            } else {
                None
            };
            let given_at = match compound {
                Some(s) => start + s.len(),
                None if self.surnames.contains(c) => start + 3,
                None => {
                    start += 3;
                    continue;
                }
            };
            match self.chinese_at(text, start, given_at) {
                Some(found) => {
                    start = found.end;
                    out.push(found);
                }
                None => start += 3,
            }
        }
    }

    fn chinese_at(&self, text: &str, start: usize, given_at: usize) -> Option<Candidate> {
        let mut ends = [0usize; 2];
        let mut found = 0;
        let mut at = given_at;
        for c in text[given_at..].chars().take(2) {
            if !self.given.contains(c) {
                break;
            }
            at += c.len_utf8();
            ends[found] = at;
            found += 1;
        }
        let end = ends[..found].iter().rev().copied().find(|&e| {
            let rest = &text[e..];
            !rest.chars().next().is_some_and(is_han)
                || FOLLOWERS.iter().any(|f| rest.starts_with(f))
        })?;
        let before = &text[..start];
        // A name touching `*` is the rest of a masked name (`张*`), not a name of its own.
        if text[end..].starts_with('*') || before.ends_with('*') {
            return None;
        }
        let free_left = !before.chars().next_back().is_some_and(is_han);
        let before = before.strip_suffix([':', '：']).unwrap_or(before);
        let cued = CUES.iter().any(|w| before.ends_with(w));
        if !cued && !free_left {
            return None;
        }
        let score = if cued { 0.85 } else { 0.65 };
        Some(Candidate {
            pi_type: PiType::Person,
            start,
            end,
            score,
            validator: if cued {
                "dictionary+context"
            } else {
                "dictionary"
            },
        })
    }

    fn find_pinyin(&self, text: &str, out: &mut Vec<Candidate>) {
        for m in self.pinyin.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if text[..s]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphabetic())
                || text[e..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
            {
                continue;
            }
            let Some((surname, given)) = m.as_str().split_once(' ') else {
                continue;
            };
            if !PINYIN_SURNAMES.contains(&surname)
                || !self.syllables.is_match(&given.to_ascii_lowercase())
            {
                continue;
            }
            let before = text[..s].trim_end().to_ascii_lowercase();
            let cued = PINYIN_CUES.iter().any(|w| {
                before
                    .trim_end_matches([':', '=', '.'])
                    .rsplit(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .is_some_and(|last| last == *w)
            });
            out.push(Candidate {
                pi_type: PiType::Person,
                start: s,
                end: e,
                score: if cued { 0.85 } else { 0.7 },
                validator: if cued { "pinyin+context" } else { "pinyin" },
            });
        }
    }
}

impl Detector for Person {
    fn pi_type(&self) -> PiType {
        PiType::Person
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if text.non_ascii {
            self.find_chinese(text, out);
        }
        if text.upper {
            self.find_pinyin(text, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Person::new().find(&Text::new(text), &mut out);
        out.sort_by_key(|c| c.start);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn chinese_names_in_context() {
        assert_eq!(found("客户王伟，身份证号"), ["王伟"]);
        assert_eq!(found("借款人欧阳娜娜的ID"), ["欧阳娜娜"]);
        assert_eq!(found("收件人：张子涵，电话"), ["张子涵"]);
        assert_eq!(found("。李娜于2021年还款"), ["李娜"]);
        assert_eq!(found("name,id\n刘洋,1101"), ["刘洋"]);
        assert_eq!(found("{\"name\":\"司马光\"}"), ["司马光"]);
    }

    #[test]
    fn chinese_lookalikes() {
        assert!(
            found("，金额¥100").is_empty(),
            "额 is no given-name character"
        );
        assert!(found("出生地江苏省").is_empty(), "inside a word");
        assert!(found("审批意见：同意放款。").is_empty());
        assert!(
            found("客户王伟明天来").is_empty(),
            "no clear end of the name"
        );
    }

    #[test]
    fn pinyin_names() {
        assert_eq!(found("Customer Huang Yong (ID"), ["Huang Yong"]);
        assert_eq!(
            found("shipped to Ouyang Xiaodong, tel"),
            ["Ouyang Xiaodong"]
        );
        assert!(found("Login from Beijing").is_empty());
        assert!(found("Risk level: medium.").is_empty());
    }
}
