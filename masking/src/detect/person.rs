//! Names of people, by dictionary and context, with a score rather than a validator.
//!
//! Chinese names: a surname from the common-surname dictionary (single and compound, after
//! the Hundred Family Surnames and the 2020 census ranking) followed by one or two characters
//! of the common given-name set, standing alone (no Chinese character on either side), or
//! right before a word that commonly follows a name (于, 的, 先生, …). After a context word
//! (客户, 借款人, 姓名, a title such as 律师, a field name such as `"name":`), or after
//! another name and a list separator (`、`, `和`, …), the evidence is stronger: a rarer
//! surname (one that is also a common word) counts, and so does any given-name character
//! that is not a function word. Common words that begin with a surname (余额, 单位, …) are
//! never names. Pinyin names: a capitalised pinyin surname and a capitalised word made of
//! pinyin syllables.

use regex::Regex;

use super::scan::{self, Text, pattern};
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

/// The further surnames of the Hundred Family Surnames, many of them also common words or
/// parts of them (文, 安, 明, …): a name only after a context word or in a list.
const RARE_SURNAMES: &str = "钱孙褚卫尤施戚柏窦章葛奚昌苗凤俞酆鲍费廉岑倪滕殷毕邬卞伍卜穆萧贝臧计\
伏谈茅庞纪舒屈项祝阮闵席季麻娄凌虞柯昝裘缪宗贲郁洪诸钮嵇滑荀羊甄芮羿储靳汲邴糜井富巫乌焦巴\
弓牧隗宓蓬郗仰仲伊宫栾暴钭厉戎祖符詹束蓟印宿怀蒲邰鄂索咸籍赖卓蔺屠蒙胥苍莘党翟贡劳逄姬扶堵\
宰郦雍璩桑濮牛寿扈冀郏浦尚农晏柴瞿阎慕茹习宦艾庾暨衡步耿弘匡寇禄阙殳沃蔚夔隆师巩厍聂晁敖融\
冷訾辛阚简饶毋沙乜鞠须丰巢蒯荆游竺权逯桓文安明平元成国全山水云花时家双通利东";

/// Characters outside the given-name set that do not make a given name even after a context
/// word: function words that follow names, and characters that end the common nouns a
/// context word precedes (联系方式, 用户须知, 客户权益, …).
const NOT_GIVEN: &str = "的于在已与和及向为称说是等将被先女小您你表通申来致反名也了不就都而或但把让给\
从对到请由式知益址码额位系期理息件部围本序括装级户号型类源求务料则容态况录单项量费率款诺书章签\
全体质";

/// Common words that begin with a surname and a given-name character; never names.
const NOT_NAMES: [&str; 40] = [
    "余额", "单位", "关系", "周期", "管理", "万元", "万人", "安全", "方便", "明细", "高新", "黄金",
    "金额", "周末", "马上", "江南", "石油", "关于", "严重", "温馨", "常见", "林业", "钱包", "程序",
    "包括", "范围", "成本", "时间", "应用", "全部", "文件", "利息", "平台", "安装", "信息", "高级",
    "华为", "高速", "东方", "常用",
];

/// Characters common in given names (both sexes), without the function words that follow
/// names in running text; the last line holds characters popular in names given since
/// the 2000s.
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚英文华建国志红梅玉海燕晓东子涵\
浩然欣怡梓轩雨萱宇思远嘉俊佳琪雅婷博昊天一诺若曦梦瑶锦程振秀桂凤琳晨阳鑫淑慧巧美惠珠翠芝萍娥玲芬\
彩春菊洁素云莲真环雪荣爱妹香月莺媛瑞凡琼勤珍贞莉娣叶璐娅琦晶妍茜秋珊莎黛青倩姣婉娴瑾颖露婵雁蓓仪\
荷丹蓉眉君琴蕊薇菁岚苑婕馨琰韵园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁飘育滢馥筠柔竹凝欢霄枫芸菲寒伊\
亚宜舒影荔毅俊峰保辉力永健世广义兴良山仁波贵福生龙元全胜学祥才发武新利清飞彬富顺信昌成康星光达\
安岩茂进林坚彪诚先敬震壮群豪心邦承乐绍功松善厚庆民友裕河哲江亮政谦亨奇固翰朗伯宏言鸣朋斌梁栋维\
启克伦翔旭鹏泽辰士家致树炎德泰盛雄琛钧冠策腾楠榕风航弘桐铭皓轩睿涵宸煜晗逸钰彤瑜琪璇妤溪沐晴曼\
菡蕾婧翊湘沁靖淼淳熙骏驰凯铮锋钢铁柱根旺财喜寿年春夏冬梓彦萌蔚潇小少雯\
霖瀚煊韬昕曜璟玥泓澄栩珂芮姝嵘骁砚锴朔筱萦漪沅泺晔炜烨焕钦铎花禾湛岱奕珩昱晟暄祺祎歆霏珈瑄苒沫芷苡汐熠焱炫翀宥屹峻澈湉灏霆骞骐麟尧珏琨瑛璋瑭";

/// Words that, right before a name, say a person is meant: roles, titles, salutations and
/// field names (lower-case for the ASCII ones).
const CUES: &[&str] = &[
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
    "律师",
    "医生",
    "主任",
    "教授",
    "会计",
    "主管",
    "总监",
    "专员",
    "行长",
    "工程师",
    "护士",
    "董事长",
    "总经理",
    "我叫",
    "名叫",
    "人员",
    "名单",
    "成员",
    "签字",
    "签名",
    "name",
    "contact",
    "legal_rep",
];

/// Words that commonly follow a name in running text.
const FOLLOWERS: &[&str] = &[
    "于", "的", "在", "已", "与", "和", "及", "向", "为", "称", "说", "是", "等", "将", "被",
    "先生", "女士", "小姐", "您好", "你好", "表示", "通过", "申请", "来电", "致电", "反馈", "名下",
    "经理", "律师", "医生", "主任", "教授", "老师", "总监", "同志", "负责", "签收", "确认", "办理",
];

/// Titles and greetings that, after a name and at most one separator, say a person is meant.
const TITLES: &[&str] = &[
    "律师",
    "医生",
    "主任",
    "教授",
    "会计",
    "主管",
    "总监",
    "专员",
    "行长",
    "工程师",
    "护士",
    "经理",
    "客户经理",
    "老师",
    "先生",
    "女士",
    "您好",
    "你好",
];

/// What may stand between a name and the previous name of a list.
const LIST_SEPARATORS: &[&str] = &["、", "，", ",", "/", "和", "与", "及", "或"];

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

/// Every character a surname of any kind (common, rarer, compound) begins with, for the
/// marks a text's preparation sets.
pub(crate) fn surname_starts() -> String {
    let compound = COMPOUND_SURNAMES.iter().filter_map(|s| s.chars().next());
    SURNAMES
        .chars()
        .chain(RARE_SURNAMES.chars())
        .chain(compound)
        .collect()
}

/// How many characters of a Chinese name are its surname: 2 for a compound surname, else 1.
pub fn surname_len(name: &str) -> usize {
    if COMPOUND_SURNAMES.iter().any(|c| name.starts_with(c)) {
        2
    } else {
        1
    }
}

/// Up to four characters of the Basic Multilingual Plane as one number, sixteen bits each
/// (texts that do not start with U+0000, as no word and no name does, differ in number as
/// they differ in text); `None` for anything longer or beyond that plane.
fn short_key(s: &str) -> Option<u64> {
    let mut key = 0u64;
    for (i, c) in s.chars().enumerate() {
        if i == 4 {
            return None;
        }
        key = key << 16 | u64::from(u16::try_from(u32::from(c)).ok()?);
    }
    Some(key)
}

/// What the pinyin pattern (`[A-Z][a-z]{1,5} [A-Z][a-z]{1,11}`) matches in `text`, left to
/// right and not overlapping, read around `spaces`: the spaces between a small letter and a
/// capital, in order. Every match holds one such space after its first word, and the space
/// decides the match: the small letters before it must number one to five (the pattern has
/// no room for more) with a capital before them, and the capital after it is followed by up
/// to eleven small letters of however many follow. A match that would start inside the
/// last one is no match.
fn two_capitalised_words(text: &str, spaces: &[usize]) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let small = |from: &mut dyn Iterator<Item = &u8>, most: usize| {
        from.take(most)
            .take_while(|b| b.is_ascii_lowercase())
            .count()
    };
    let mut found = Vec::new();
    let mut after = 0;
    for &space in spaces {
        let first = small(&mut bytes[..space].iter().rev(), 6);
        if !(1..=5).contains(&first) || space < first + 1 {
            continue;
        }
        let start = space - 1 - first;
        let second = small(&mut bytes.get(space + 2..).unwrap_or_default().iter(), 11);
        if start < after
            || !bytes[start].is_ascii_uppercase()
            || !bytes.get(space + 1).is_some_and(u8::is_ascii_uppercase)
            || second == 0
        {
            continue;
        }
        after = space + 2 + second;
        found.push((start, after));
    }
    found
}

/// Whether `c` is a CJK unified ideograph (the basic block or extension A).
pub fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// The CJK unified ideograph (see [`is_han`]) whose UTF-8 starts at byte `at`, if one
/// does: every one is three bytes, led by E3..E9.
fn han_at(bytes: &[u8], at: usize) -> Option<char> {
    let &[lead @ 0xE3..=0xE9, b1, b2] = bytes.get(at..at + 3)? else {
        return None;
    };
    char::from_u32(scan::three_byte_code(lead, b1, b2)).filter(|&c| is_han(c))
}

/// Whether the character that ends at byte `end` (a character boundary) is a CJK unified
/// ideograph: a three-byte character, whose lead is then three bytes back.
fn han_before(bytes: &[u8], end: usize) -> bool {
    end.checked_sub(3)
        .is_some_and(|at| han_at(bytes, at).is_some())
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

/// Words indexed by the character at one of their edges, so that the words a character
/// can begin (or end) are found without comparing the others; a character of the Basic
/// Multilingual Plane at no word's edge (most) is answered from a bitmap.
struct ByEdge {
    index: Vec<(char, &'static str)>,
    /// One bit per character of the Basic Multilingual Plane: set for the edges.
    edges: Box<[u64; 1024]>,
}

impl ByEdge {
    /// `words` by their first character.
    fn first(words: &[&'static str]) -> ByEdge {
        ByEdge::by(words, |w| w.chars().next())
    }

    /// `words` (lower-case) by their last character.
    fn last(words: &[&'static str]) -> ByEdge {
        ByEdge::by(words, |w| w.chars().next_back())
    }

    fn by(words: &[&'static str], edge: impl Fn(&str) -> Option<char>) -> ByEdge {
        let mut index: Vec<_> = words.iter().filter_map(|w| Some((edge(w)?, *w))).collect();
        index.sort_unstable();
        let mut edges = Box::new([0u64; 1024]);
        for &(c, _) in &index {
            let i = u32::from(c) as usize;
            if let Some(bits) = edges.get_mut(i / 64) {
                *bits |= 1 << (i % 64);
            }
        }
        ByEdge { edges, index }
    }

    /// The words with `c` at the edge.
    fn at(&self, c: char) -> impl Iterator<Item = &'static str> + '_ {
        let i = u32::from(c) as usize;
        let none = (self.edges.get(i / 64)).is_some_and(|bits| bits & (1 << (i % 64)) == 0);
        let from = if none {
            self.index.len()
        } else {
            self.index.partition_point(|(edge, _)| *edge < c)
        };
        self.index[from..]
            .iter()
            .take_while(move |(edge, _)| *edge == c)
            .map(|(_, w)| *w)
    }
}

/// Finds names of people.
pub struct Person {
    surnames: HanSet,
    rare_surnames: HanSet,
    /// [`COMPOUND_SURNAMES`] by their first character.
    compound: ByEdge,
    given: HanSet,
    not_given: HanSet,
    /// [`FOLLOWERS`] and [`TITLES`] by their first character, [`CUES`] by their last: a
    /// character no word has there (most) costs one lookup, and no comparison.
    followers: ByEdge,
    titles: ByEdge,
    cues: ByEdge,
    /// [`NOT_NAMES`] and the provinces of at most four characters (a name has no more), as
    /// [`short_key`]s, sorted.
    never_names: Vec<u64>,
    pinyin: Regex,
    syllables: Regex,
}

impl Person {
    /// The detector.
    pub fn new() -> Person {
        Person {
            surnames: HanSet::of(SURNAMES),
            rare_surnames: HanSet::of(RARE_SURNAMES),
            compound: ByEdge::first(&COMPOUND_SURNAMES),
            given: HanSet::of(GIVEN),
            not_given: HanSet::of(NOT_GIVEN),
            followers: ByEdge::first(FOLLOWERS),
            never_names: {
                let mut words: Vec<_> = (NOT_NAMES.into_iter())
                    .chain(super::address::provinces())
                    .filter_map(short_key)
                    .collect();
                words.sort_unstable();
                words
            },
            titles: ByEdge::first(TITLES),
            cues: ByEdge::last(CUES),
            pinyin: pattern(r"[A-Z][a-z]{1,5} [A-Z][a-z]{1,11}"),
            syllables: pattern(
                "^(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?\
                 (?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ao|an|ei|en|er|ia|ie|in|iu|ou|ua|ui|un|uo|ue|a|e|i|o|u|v))+$",
            ),
        }
    }

    /// Chinese names, tried at each ideograph that can begin a surname (those the text's
    /// preparation marked).
    fn find_chinese(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        // Where the next name may start: after the last one found.
        let mut next = 0;
        // The end of the last name found: a name right after it and a list separator is cued.
        let mut last_end = None;
        for (start, c) in text.marked(scan::SURNAME) {
            if start < next {
                continue;
            }
            let compound = (self.compound.at(c)).find(|s| text[start..].starts_with(*s));
            let (given_at, common) = match compound {
                Some(s) => (start + s.len(), true),
                None if self.surnames.contains(c) => (start + 3, true),
                None if self.rare_surnames.contains(c) => (start + 3, false),
                None => continue,
            };
            if let Some(found) = self.chinese_at(text, start, given_at, common, last_end) {
                next = found.end;
                last_end = Some(found.end);
                out.push(found);
            }
        }
    }

    /// Whether the text before `start` names the person to come: a context word, possibly
    /// followed by a colon, quotes, a space, 为 or 是 (`借款人为`, `"name":"`), or the
    /// previous name and a list separator.
    fn cued(&self, text: &str, start: usize, last_end: Option<usize>) -> bool {
        let before = text[..start].trim_end_matches(|c: char| {
            matches!(
                c,
                ' ' | '\t' | '\u{3000}' | ':' | '：' | '"' | '“' | '为' | '是' | '='
            )
        });
        // Only the cues that end with the character before can end there.
        let cue = before.chars().next_back().is_some_and(|c| {
            self.cues.at(c.to_ascii_lowercase()).any(|w| {
                before
                    .get(before.len().saturating_sub(w.len())..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(w))
            })
        });
        // After a list separator, when no cue comes before.
        cue || last_end.is_some_and(|end| {
            text.get(end..start)
                .is_some_and(|between| LIST_SEPARATORS.contains(&between.trim()))
        })
    }

    /// Whether what follows a name says a person was meant: a title or a greeting, after at
    /// most one separator (`张三,总监`, `李四（律师）`, `王五：您好`).
    fn titled_after(&self, rest: &str) -> bool {
        let rest = rest
            .strip_prefix([',', '，', ':', '：', '(', '（', ' '])
            .unwrap_or(rest);
        rest.chars()
            .next()
            .is_some_and(|c| self.titles.at(c).any(|t| rest.starts_with(t)))
    }

    fn chinese_at(
        &self,
        text: &str,
        start: usize,
        given_at: usize,
        common_surname: bool,
        last_end: Option<usize>,
    ) -> Option<Candidate> {
        // Up to two given-name characters: the end after each, and whether every character
        // up to it is in the given-name set (or only passes as a non-function word).
        let bytes = text.as_bytes();
        let mut ends = [(0usize, false); 2];
        let mut found = 0;
        let mut at = given_at;
        let mut in_set = true;
        while let Some(c) = han_at(bytes, at).filter(|_| found < 2) {
            let known = self.given.contains(c);
            // Beyond the given-name set, only after a common surname, and never a function
            // word or a character that ends common nouns.
            if !known && (!common_surname || self.not_given.contains(c)) {
                break;
            }
            in_set &= known;
            at += c.len_utf8();
            ends[found] = (at, in_set);
            found += 1;
        }
        // Most surname characters in running text stop here: no end a name could have.
        let clear = |e: usize| {
            han_at(bytes, e).is_none_or(|c| self.followers.at(c).any(|f| text[e..].starts_with(f)))
        };
        let clear_at = [found > 0 && clear(ends[0].0), found > 1 && clear(ends[1].0)];
        if !clear_at.contains(&true) {
            return None;
        }
        // A rarer surname, or a given name beyond the set, needs a context word, a list or
        // a title to count.
        let cued = self.cued(text, start, last_end);
        let free_left = !han_before(bytes, start);
        let (end, titled) = (0..found).rev().find_map(|i| {
            let (e, in_set) = ends[i];
            if !clear_at[i] {
                return None;
            }
            let titled = !cued && self.titled_after(&text[e..]);
            // A province (`宁夏`) is no name: masking an address down to its province must
            // not leave a name behind that the next pass masks again. (The dictionaries are
            // consulted last: most candidates have been refused by then.)
            let accepted = cued || titled || in_set && common_surname && free_left;
            let never = short_key(&text[start..e])
                .is_some_and(|key| self.never_names.binary_search(&key).is_ok());
            (accepted && !never).then_some((e, titled))
        })?;
        let before = &text[..start];
        // A name touching `*` is the rest of a masked name (`张*`), not a name of its own.
        if text[end..].starts_with('*') || before.ends_with('*') {
            return None;
        }
        let cued = cued || titled;
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

    fn find_pinyin(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        // Read by hand; by the pattern only to test the reading (see `Text::whole`).
        let matches = if text.whole() {
            (self.pinyin.find_iter(text))
                .map(|m| (m.start(), m.end()))
                .collect()
        } else {
            two_capitalised_words(text, text.word_spaces())
        };
        for (s, e) in matches {
            // A word of its own: no letter or digit touches it (`He Ha171…` is one token,
            // and masking its name part would free the number behind it).
            if text[..s]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                || text[e..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
            {
                continue;
            }
            let Some((surname, given)) = text[s..e].split_once(' ') else {
                continue;
            };
            if !PINYIN_SURNAMES.contains(&surname)
                || !self.syllables.is_match(&given.to_ascii_lowercase())
            {
                continue;
            }
            // The word before the name (its letters only; lower-cased by the comparison).
            let last_word = text[..s]
                .trim_end()
                .trim_end_matches([':', '=', '.'])
                .rsplit(|c: char| !c.is_ascii_alphabetic())
                .next();
            let cued = last_word
                .is_some_and(|last| PINYIN_CUES.iter().any(|w| last.eq_ignore_ascii_case(w)));
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

    proptest::proptest! {
        #[test]
        fn capitalised_words_are_read_as_the_pinyin_pattern_matches(
            text in "([A-Z]?[a-z]{0,13}[ 王]?){0,6}|[A-Zab 王]{0,40}",
        ) {
            let pattern = Person::new().pinyin;
            let matched: Vec<_> = pattern.find_iter(&text).map(|m| (m.start(), m.end())).collect();
            let spaces = Text::new(&text).word_spaces().to_vec();
            proptest::prop_assert_eq!(two_capitalised_words(&text, &spaces), matched);
        }
    }

    proptest::proptest! {
        #[test]
        fn ideographs_are_read_from_the_bytes_as_the_characters_are(
            text in "[a王㐀\u{4dbf}\u{4dc0}\u{9fff}\u{a000}\u{3000}\u{3400}\u{33ff}é𠀀]{0,8}",
        ) {
            for (at, _) in text.char_indices().chain([(text.len(), ' ')]) {
                let after = text[at..].chars().next().filter(|&c| is_han(c));
                proptest::prop_assert_eq!(han_at(text.as_bytes(), at), after);
                let before = text[..at].chars().next_back().is_some_and(is_han);
                proptest::prop_assert_eq!(han_before(text.as_bytes(), at), before);
            }
        }
    }

    #[test]
    fn short_keys_tell_short_texts_apart() {
        let keys = ["余", "余额", "余额宝", "额余", "新疆维吾"].map(short_key);
        assert!(keys.iter().all(Option::is_some));
        for (i, a) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|b| a != b));
        }
        assert_eq!(short_key("新疆维吾尔"), None, "five characters");
        assert_eq!(short_key("王\u{20000}"), None, "beyond the plane");
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
        assert!(
            found("J0宁夏3宁*").is_empty(),
            "a province left by a generalised address is no name"
        );
        assert!(found("审批意见：同意放款。").is_empty());
        assert!(
            found("客户王伟明天来").is_empty(),
            "no clear end of the name"
        );
    }

    #[test]
    fn names_after_titles_in_lists_and_fields() {
        assert_eq!(
            found("本案由律师胡斐然代理"),
            Vec::<&str>::new(),
            "no clear end"
        );
        assert_eq!(found("主办律师胡斐然，电话"), ["胡斐然"]);
        assert_eq!(found("参会：王伟、李娜和赵雷。"), ["王伟", "李娜", "赵雷"]);
        assert_eq!(
            found("借款人为宓晓东，"),
            ["宓晓东"],
            "a rarer surname, cued"
        );
        assert_eq!(found("{\"contact\":\"阮小五\"}"), ["阮小五"]);
        assert_eq!(found("柏杨,经理,"), ["柏杨"], "a title after it");
        assert_eq!(found("姓名 公孙玉砚 性别"), ["公孙玉砚"]);
        assert_eq!(found("胡雅澄：您好，"), ["胡雅澄"]);
    }

    #[test]
    fn words_after_context_words_are_not_names() {
        for text in [
            "客户余额：100",
            "借款5万元，",
            "此致\n敬礼\n",
            "联系方式：138",
            "用户须知：",
            "客户权益：",
            "客户全称：",
            "用户文件：",
            "同事明细，",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
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
