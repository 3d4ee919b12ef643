//! Postal addresses of the mainland, by dictionary and structure, with a score.
//!
//! An address starts at a provincial-level division (the 34 of GB/T 2260, with or without
//! their suffix) or at a major city followed by 市, and runs on through the parts an address
//! is written in: city, district or county, town, road or street, number, estate or
//! building, unit and room. It counts when it reaches a road or a number; a bare place name
//! ("四川省成都市") locates no one and is not reported.

use std::sync::LazyLock;

use regex::Regex;

use super::scan::{self, Text, pattern};
use super::{Candidate, Detector};
use crate::operator::Generalization;
use crate::pi_type::PiType;

/// Provincial-level divisions, full names first so the longest form wins.
const PROVINCES: &str = "北京市|天津市|上海市|重庆市|河北省|山西省|辽宁省|吉林省|黑龙江省|江苏省|\
浙江省|安徽省|福建省|江西省|山东省|河南省|湖北省|湖南省|广东省|海南省|四川省|贵州省|云南省|陕西省|\
甘肃省|青海省|台湾省|内蒙古自治区|广西壮族自治区|西藏自治区|宁夏回族自治区|新疆维吾尔自治区|\
香港特别行政区|澳门特别行政区|北京|天津|上海|重庆|河北|山西|辽宁|黑龙江|江苏|浙江|安徽|福建|江西|\
山东|河南|湖北|湖南|广东|海南|四川|贵州|云南|陕西|甘肃|青海|内蒙古|广西|西藏|宁夏|新疆";

/// The provincial-level divisions as an address writes them (`宁夏`, `江苏省`): places,
/// never a person's name, though many begin with a surname.
pub(crate) fn provinces() -> impl Iterator<Item = &'static str> {
    PROVINCES.split('|')
}

/// Major cities (provincial capitals, sub-provincial cities and the larger prefecture-level
/// cities), which start an address when followed by 市.
const CITIES: &str = "石家庄|太原|呼和浩特|沈阳|大连|长春|哈尔滨|南京|苏州|无锡|常州|徐州|南通|扬州|\
杭州|宁波|温州|绍兴|嘉兴|金华|台州|湖州|合肥|芜湖|福州|厦门|泉州|漳州|南昌|赣州|济南|青岛|烟台|\
潍坊|淄博|临沂|郑州|洛阳|武汉|宜昌|襄阳|长沙|株洲|广州|深圳|珠海|佛山|东莞|中山|惠州|汕头|江门|\
湛江|南宁|柳州|桂林|海口|三亚|成都|绵阳|贵阳|遵义|昆明|大理|拉萨|西安|咸阳|宝鸡|兰州|西宁|银川|\
乌鲁木齐|唐山|保定|包头|鞍山|大庆";

/// A prefecture-level division other than the major cities, as a pattern.
const CITY: &str = r"\p{Han}{2,4}(?:市|自治州|州|盟|地区)";

/// A county-level division, as a pattern.
const DISTRICT: &str = r"\p{Han}{1,5}(?:区|县|旗|市)";

/// The divisions an address starts with (province, city, district), a pattern each, tried
/// in turn where the one before ended. Every division is optional and nothing follows
/// them, so the first way each matches there is the way the three match together, as one
/// pattern with a group for each would capture them (see the test), without the cost of
/// capturing.
static DIVISIONS: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        pattern(&format!("^(?:{PROVINCES})")),
        pattern(&format!("^(?:(?:{CITIES})市|{CITY})")),
        pattern(&format!("^{DISTRICT}")),
    ]
});

/// Where the province, the city and the district the address starts with end, each `None`
/// when absent.
fn divisions(address: &str) -> [Option<usize>; 3] {
    let mut at = 0;
    DIVISIONS.each_ref().map(|division| {
        let end = division.find(&address[at..]).map(|m| at + m.end());
        at = end.unwrap_or(at);
        end
    })
}

/// The start of an address down to its province, city or district; `None` when the
/// address does not start with a division this crate knows.
pub fn admin_prefix(address: &str, to: Generalization) -> Option<String> {
    let address = address.trim();
    let [province, city, district] = divisions(address);
    let city = city.or(province);
    let district = district.or(city);
    let cut = match to {
        Generalization::Province => province.or(city),
        Generalization::City => city,
        _ => district,
    }?;
    Some(address[..cut].to_owned())
}

/// The first characters of the provinces and cities an address starts with, for the marks
/// a text's preparation sets.
pub(crate) fn place_starts() -> String {
    (anchors().iter())
        .filter_map(|place| place.chars().next())
        .collect()
}

/// The places an address starts with, in the order a pattern would try them: the
/// provinces (full names first), then the cities with 市.
fn anchors() -> Vec<String> {
    (PROVINCES.split('|').map(str::to_owned))
        .chain(CITIES.split('|').map(|city| format!("{city}市")))
        .collect()
}

/// Finds postal addresses.
pub struct Address {
    /// [`anchors`] by their first character, each character's in the order of the list.
    anchors: Vec<(char, String)>,
    body: Regex,
}

impl Address {
    /// The detector.
    pub fn new() -> Address {
        let han = r"\p{Han}";
        let n = "[0-9０-９]";
        Address {
            anchors: {
                let mut anchors: Vec<_> = (anchors().into_iter())
                    .filter_map(|a| Some((a.chars().next()?, a)))
                    .collect();
                // A stable sort: the order of the list stays among the places of one
                // character.
                anchors.sort_by_key(|&(c, _)| c);
                anchors
            },
            body: pattern(&format!(
                "^(?:{PROVINCES})?\
                 (?:(?:{CITIES})市|{CITY})?\
                 (?:{DISTRICT})?\
                 (?:{han}{{1,6}}(?:镇|乡|街道))?\
                 (?:{han}{{1,8}}(?:路|街|大道|巷|弄|胡同|道))?\
                 (?:{n}{{1,5}}(?:号院|号|弄))?\
                 (?:{han}{{1,6}}(?:小区|花园|公寓|大厦|广场|家园|新村|苑|府|城|庭|园))?\
                 (?:[0-9０-９A-Za-z]{{1,4}}(?:号楼|栋|幢|座|期))?\
                 (?:{n}{{1,3}}单元)?\
                 (?:{n}{{1,5}}(?:室|房|号))?"
            )),
        }
    }
}

impl Detector for Address {
    fn pi_type(&self) -> PiType {
        PiType::Address
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.non_ascii {
            return;
        }
        // Where the next address may start: after the last anchor tried, or the last address.
        let mut at = 0;
        // An anchor begins at an ideograph the text's preparation marked: tried there only.
        for (start, c) in text.marked(scan::PLACE) {
            if start < at {
                continue;
            }
            if let Some(len) = self.anchor_at(c, &text[start..]) {
                at = self.address_at(text, start, start + len, out);
            }
        }
    }
}

impl Address {
    /// The length of the province or city `text`, whose first character is `c`, starts
    /// with: the first of [`anchors`] that it starts with, as the alternation of a pattern
    /// would choose.
    fn anchor_at(&self, c: char, text: &str) -> Option<usize> {
        let from = self.anchors.partition_point(|(first, _)| *first < c);
        (self.anchors[from..].iter())
            .take_while(|(first, _)| *first == c)
            .find(|(_, a)| text.starts_with(a.as_str()))
            .map(|(_, a)| a.len())
    }

    /// Reads the address that starts with the anchor at `start..anchor_end`, reports it if
    /// it reaches a road or a number, and returns where the next anchor may start.
    fn address_at(
        &self,
        text: &str,
        start: usize,
        anchor_end: usize,
        out: &mut Vec<Candidate>,
    ) -> usize {
        let Some(body) = self.body.find(&text[start..]) else {
            return anchor_end;
        };
        let found = body.as_str();
        let road = found.contains(['路', '街', '巷', '弄']) || found.contains("胡同");
        let number = found.contains('号');
        if !road && !number {
            return anchor_end;
        }
        let end = start + body.end();
        out.push(Candidate {
            pi_type: PiType::Address,
            start,
            end,
            score: if road && number { 0.9 } else { 0.7 },
            validator: "gb2260+structure",
        });
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Address::new().find(&Text::new(text), &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn addresses() {
        assert_eq!(
            found("经营地址四川省成都市锦江区科技园路602号锦绣小区24号楼901室，联系电话"),
            ["四川省成都市锦江区科技园路602号锦绣小区24号楼901室"]
        );
        assert_eq!(
            found("住址：北京市东城区中关村大街12号3栋2单元1203室。"),
            ["北京市东城区中关村大街12号3栋2单元1203室"]
        );
        assert_eq!(
            found("寄到深圳市南山区深南大道88号万科城小区5号楼1201室"),
            ["深圳市南山区深南大道88号万科城小区5号楼1201室"]
        );
        assert_eq!(
            found("billing address: 广东省广州市天河区金融街7号."),
            ["广东省广州市天河区金融街7号"]
        );
    }

    #[test]
    fn anchors_end_where_the_alternation_of_places_ends() {
        let alternation = pattern(&format!("^(?:(?:{PROVINCES})|(?:{CITIES})市)"));
        let address = Address::new();
        let places = anchors();
        for place in &places {
            for tail in ["", "市", "省", "自治区", "路12号", "X"] {
                let text = format!("{place}{tail}");
                let ours = address.anchor_at(text.chars().next().unwrap_or_default(), &text);
                let theirs = alternation.find(&text).map(|m| m.end());
                assert_eq!(ours, theirs, "{text}");
                assert!(ours.is_some(), "{text}");
            }
        }
        assert_eq!(address.anchor_at('地', "地址北京市"), None);
    }

    /// Pieces of addresses and of what surrounds them: places, the ends of divisions, other
    /// Chinese characters (one beyond the Basic Multilingual Plane), digits, letters.
    const PIECES: [&str; 26] = [
        "四川省",
        "四川",
        "成都市",
        "成都",
        "北京市",
        "北京",
        "广州",
        "宁夏",
        "市",
        "自治州",
        "州",
        "盟",
        "地区",
        "区",
        "县",
        "旗",
        "镇",
        "路",
        "锦",
        "江",
        "科技",
        "1",
        "A",
        " ",
        "々",
        "\u{20000}",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// The divisions found one after the other are those one pattern captures.
        #[test]
        fn divisions_in_turn_are_what_one_pattern_captures(
            pieces in proptest::collection::vec(proptest::sample::select(&PIECES[..]), 0..10),
        ) {
            let text = pieces.concat();
            let whole = pattern(&format!(
                "^(?P<province>{PROVINCES})?(?P<city>(?:{CITIES})市|{CITY})?(?P<district>{DISTRICT})?"
            ));
            let groups = whole.captures(&text);
            let end = |name: &str| groups.as_ref().and_then(|g| g.name(name)).map(|m| m.end());
            let theirs = [end("province"), end("city"), end("district")];
            proptest::prop_assert_eq!(divisions(&text), theirs, "{}", text);
        }
    }

    #[test]
    fn place_names_alone_are_not_addresses() {
        assert!(found("出生地四川省。").is_empty());
        assert!(found("四川省成都市锦江区").is_empty());
        assert!(found("北京市腾达科技有限公司").is_empty());
    }
}
