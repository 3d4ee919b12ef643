//! Validators that tell real identifiers from lookalikes, by the rules of their standards.
//! Each takes the identifier's characters with separators already removed (digits and, where
//! the format has them, letters), ASCII.
//!
//! - Resident identity numbers, GB 11643-1999: a province code (GB/T 2260), a real birth
//!   date, and the ISO 7064 MOD 11-2 check character (`X` for 10, either case); the 15-digit
//!   legacy form has no check character and a two-digit year (19xx).
//! - Bank cards: 16 to 19 digits and the Luhn check (ISO/IEC 7812).
//! - Unified social credit codes, GB 32100-2015: the registration department code and a
//!   category it assigns, a province's (or the central level's) division code, the
//!   MOD-31 check character over the code alphabet (no I, O, S, V, Z), and the embedded
//!   organisation code's own MOD-11 check (GB 11714-1997).
//! - Mainland mobile numbers: 11 digits starting with a number block allocated to a
//!   carrier (MIIT numbering plan).

/// Province-level codes of GB/T 2260 (mainland): the first two digits of an ID number.
const PROVINCES: [u8; 31] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65,
];

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The values of the `N` ASCII digits `s` is made of; `None` when it is anything else.
fn digits<const N: usize>(s: &str) -> Option<[u32; N]> {
    let bytes: &[u8; N] = s.as_bytes().try_into().ok()?;
    let mut d = [0; N];
    for (x, &b) in d.iter_mut().zip(bytes) {
        *x = u32::from(b.checked_sub(b'0').filter(|x| *x <= 9)?);
    }
    Some(d)
}

fn real_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn number(d: &[u32]) -> u32 {
    d.iter().fold(0, |n, x| n * 10 + x)
}

/// An 18-digit or 15-digit resident identity number. `latest_year` bounds birth years
/// (the current year: nobody is born in the future).
pub fn cn_id(s: &str, latest_year: u32) -> bool {
    let province_ok =
        |d: &[u32]| u8::try_from(number(&d[..2])).is_ok_and(|p| PROVINCES.contains(&p));
    match s.len() {
        18 => {
            let Some(d) = digits::<17>(&s[..17]) else {
                return false;
            };
            let (year, month, day) = (number(&d[6..10]), number(&d[10..12]), number(&d[12..14]));
            if !province_ok(&d)
                || !(1900..=latest_year).contains(&year)
                || !real_date(year, month, day)
            {
                return false;
            }
            let sum: u32 = d.iter().zip(ID_WEIGHTS).map(|(x, w)| x * w).sum();
            let check = ID_CHECK[(sum % 11) as usize];
            s.as_bytes()[17].to_ascii_uppercase() == check
        }
        15 => {
            let Some(d) = digits::<15>(s) else {
                return false;
            };
            let (year, month, day) = (
                1900 + number(&d[6..8]),
                number(&d[8..10]),
                number(&d[10..12]),
            );
            province_ok(&d) && real_date(year, month, day)
        }
        _ => false,
    }
}

/// A bank card number: 16 to 19 digits passing the Luhn check.
pub fn bank_card(s: &str) -> bool {
    (16..=19).contains(&s.len()) && luhn(s)
}

/// The Luhn check over a string of digits.
pub fn luhn(s: &str) -> bool {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = s
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Each byte's value as a credit code's character (its place in [`USCC_CHARS`]), or
/// [`NOT_USCC`]: one lookup for each of the code's characters instead of a search.
const USCC_VALUES: [u8; 256] = {
    let mut values = [NOT_USCC; 256];
    let mut i = 0;
    while i < USCC_CHARS.len() {
        values[USCC_CHARS[i] as usize] = i as u8;
        i += 1;
    }
    values
};
/// What [`USCC_VALUES`] holds for a byte that is no credit code's character.
const NOT_USCC: u8 = u8::MAX;
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The organisation categories each registration authority assigns (GB 32100-2015, table
/// 1 and its amendments): the first character of a credit code, then the second.
const USCC_AUTHORITIES: [(u8, &[u8]); 12] = [
    (b'1', b"1239"),
    (b'2', b"19"),
    (b'3', b"123459"),
    (b'4', b"19"),
    (b'5', b"1239"),
    (b'6', b"129"),
    (b'7', b"129"),
    (b'8', b"19"),
    (b'9', b"123"),
    (b'A', b"19"),
    (b'N', b"12349"),
    (b'Y', b"1"),
];

/// A unified social credit code (either case): an authority and a category it assigns, a
/// division code of a province (or `10`, the central level), and both check characters.
pub fn cn_uscc(s: &str) -> bool {
    let Ok(upper) = <[u8; 18]>::try_from(s.as_bytes()) else {
        return false;
    };
    let b = upper.map(|c| c.to_ascii_uppercase());
    if !b[2..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let category_known = USCC_AUTHORITIES
        .iter()
        .any(|(authority, categories)| *authority == b[0] && categories.contains(&b[1]));
    let division = (b[2] - b'0') * 10 + (b[3] - b'0');
    if !category_known || !(division == 10 || PROVINCES.contains(&division)) {
        return false;
    }
    let mut values = [0u32; 18];
    for (value, c) in values.iter_mut().zip(b) {
        match USCC_VALUES[usize::from(c)] {
            NOT_USCC => return false,
            p => *value = u32::from(p),
        }
    }
    let sum: u32 = values[..17]
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(v, w)| v * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return false;
    }
    // Characters 9 to 17 are the organisation code (8 characters and its check).
    let org = &b[8..17];
    let value = |c: u8| match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'Z' => u32::from(c - b'A') + 10,
        _ => 99,
    };
    let sum: u32 = org[..8]
        .iter()
        .zip(ORG_WEIGHTS)
        .map(|(c, w)| value(*c) * w)
        .sum();
    let expected = match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        c => b'0' + c as u8,
    };
    org[8] == expected
}

/// The number blocks allocated to mobile carriers (first three digits).
const MOBILE_BLOCKS: [u16; 49] = [
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 146, 147, 148, 149, 150, 151, 152, 153,
    155, 156, 157, 158, 159, 162, 165, 166, 167, 170, 171, 172, 173, 175, 176, 177, 178, 180, 181,
    182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 192,
];
/// More blocks of the 19x range.
const MOBILE_BLOCKS_19: [u16; 6] = [193, 195, 196, 197, 198, 199];

/// The allocated blocks as bits: bit `b - 100` for block `b` (every block is 1xx), so that
/// a number's block is one test, not a search of the lists.
const MOBILE_BLOCK_BITS: u128 = {
    let mut bits = 0u128;
    let mut i = 0;
    while i < MOBILE_BLOCKS.len() {
        bits |= 1 << (MOBILE_BLOCKS[i] - 100);
        i += 1;
    }
    let mut i = 0;
    while i < MOBILE_BLOCKS_19.len() {
        bits |= 1 << (MOBILE_BLOCKS_19[i] - 100);
        i += 1;
    }
    bits
};

/// An 11-digit mainland mobile number in an allocated block.
pub fn cn_mobile(s: &str) -> bool {
    let Some(d) = digits::<11>(s) else {
        return false;
    };
    number(&d[..3])
        .checked_sub(100)
        .is_some_and(|bit| bit < 128 && MOBILE_BLOCK_BITS >> bit & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids() {
        assert!(cn_id("11010519491231002X", 2026));
        assert!(
            cn_id("11010519491231002x", 2026),
            "a lower-case x is the same check"
        );
        for bad in [
            "110105194912310021", // wrong check character
            "99010519491231002X", // no such province
            "11010519491331002X", // month 13
            "11010519490230002X", // 30 February
            "11010530491231002X", // born in 3049
            "1101051949123100",   // too short
            "11010519491231002Y",
        ] {
            assert!(!cn_id(bad, 2026), "{bad}");
        }
        assert!(cn_id("110105491231002", 2026), "legacy 15-digit form");
        assert!(!cn_id("110105491331002", 2026));
    }

    #[test]
    fn bank_cards() {
        assert!(bank_card("4111111111111111"));
        assert!(!bank_card("4111111111111112"));
        assert!(!bank_card("411111111111111"), "15 digits");
        assert!(!bank_card("41111111111111x1"));
    }

    #[test]
    fn social_credit_codes() {
        assert!(cn_uscc("91350100M000100Y43"));
        assert!(cn_uscc("91350100m000100y43"));
        assert!(!cn_uscc("91350100M000100Y44"), "wrong check character");
        assert!(
            !cn_uscc("913501007000100Y43"),
            "wrong organisation code check"
        );
        assert!(
            !cn_uscc("B1350100M000100Y43"),
            "no such registration department"
        );
        assert!(!cn_uscc("91350100I000100Y43"), "I is not in the alphabet");
        assert!(
            cn_uscc("12100000400000624D"),
            "the central level's division"
        );
        // Each passes both check characters and fails only the rule named.
        assert!(
            !cn_uscc("94350100M000100Y4R"),
            "industry and commerce assign no category 4"
        );
        assert!(!cn_uscc("91990100M000100Y4U"), "no province 99");
        assert!(
            !cn_uscc("202110281417776308"),
            "a date-led order number: authority 2 assigns no category 0"
        );
    }

    #[test]
    fn credit_code_characters_have_their_place_in_the_list() {
        for c in 0..=u8::MAX {
            let place = USCC_CHARS.iter().position(|x| *x == c);
            let value = USCC_VALUES[usize::from(c)];
            assert_eq!(place.map(|p| p as u8).unwrap_or(NOT_USCC), value, "{c}");
        }
    }

    #[test]
    fn mobiles() {
        assert!(cn_mobile("13800138000"));
        assert!(cn_mobile("19912345678"));
        assert!(!cn_mobile("12800138000"), "128 is not allocated");
        assert!(!cn_mobile("1380013800"), "ten digits");
        assert!(!cn_mobile("1380013800a"));
        // The bits say what the lists say, for every three-digit prefix.
        for block in 0..1000u16 {
            let listed = MOBILE_BLOCKS.contains(&block) || MOBILE_BLOCKS_19.contains(&block);
            assert_eq!(cn_mobile(&format!("{block:03}12345678")), listed, "{block}");
        }
    }
}

#[cfg(test)]
mod corpus {
    //! Every validated identifier of the shared corpus sample passes its validator, and
    //! every lookalike fails it (`testdata/corpus-2000.jsonl`: the first 2000 records of
    //! `../shared/corpus`, generated with seed 20240601).

    use super::*;

    /// ASCII digits and letters of `value`, full-width digits folded, separators dropped.
    fn compact(value: &str) -> String {
        value
            .chars()
            .filter_map(|c| match c {
                '\u{ff10}'..='\u{ff19}' => char::from_u32(c as u32 - 0xff10 + u32::from(b'0')),
                c if c.is_ascii_alphanumeric() => Some(c),
                _ => None,
            })
            .collect()
    }

    fn mobile(value: &str) -> String {
        let d = compact(value);
        d.strip_prefix("0086")
            .or_else(|| d.strip_prefix("86").filter(|_| d.len() == 13))
            .unwrap_or(&d)
            .to_owned()
    }

    fn check(kind: &str, value: &str) -> Option<bool> {
        Some(match kind {
            "CN_ID" | "ID_BAD_DATE" | "ID_BAD_CHECKSUM" => cn_id(&compact(value), 2026),
            "BANK_CARD" | "CARD_BAD_LUHN" => bank_card(&compact(value)),
            "CN_USCC" | "USCC_BAD_CHECKSUM" => cn_uscc(&compact(value)),
            "CN_MOBILE" | "MOBILE_LIKE" => cn_mobile(&mobile(value)),
            _ => return None,
        })
    }

    #[test]
    fn identifiers_pass_and_lookalikes_fail() {
        let (mut real, mut lookalikes) = (0, 0);
        for line in include_str!("../testdata/corpus-2000.jsonl").lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            for (list, expected) in [("spans", true), ("decoys", false)] {
                for item in record[list].as_array().unwrap() {
                    let (kind, value) = (
                        item["type"].as_str().unwrap(),
                        item["value"].as_str().unwrap(),
                    );
                    if let Some(valid) = check(kind, value) {
                        assert_eq!(valid, expected, "{kind} {value}");
                        if expected {
                            real += 1;
                        } else {
                            lookalikes += 1;
                        }
                    }
                }
            }
        }
        assert!(real > 300 && lookalikes > 80, "{real} {lookalikes}");
    }
}
