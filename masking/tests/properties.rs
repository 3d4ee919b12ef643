//! Properties of detection and masking over generated input: nothing panics, masking is
//! idempotent, and no validated identifier survives masking whatever surrounds it.

use baomi_masking::{Context, Masker, PiType, Scanner};
use proptest::prelude::*;

/// Valid identifiers of the validated types (checked by the unit tests of `validate`).
const VALUES: [&str; 11] = [
    "510104199003071114",
    "13800138000",
    "+86 186 3064 5747",
    "6222021234567891233",
    "6222 0212 3456 7891 233",
    "zhang.wei88@example.cn",
    "192.168.10.20",
    "91350100M000100Y43",
    "0531-69370974",
    "(021)62340574",
    "0931 2340574",
];

/// Separators that keep an identifier standing alone.
const SEPARATORS: [&str; 10] = ["，", "。", " ", "：", "\n", "；", "（", "）", "\"", "|"];

fn ctx() -> Context<'static> {
    Context {
        year: 2026,
        ..Context::default()
    }
}

/// `text` masked with every type's display default, then masked again.
#[allow(
    clippy::unwrap_used,
    reason = "a test helper: masking with the defaults failing should fail the test"
)]
fn masked_twice(text: &str) -> (String, String) {
    let scanner = Scanner::new();
    let masker = Masker::new(&scanner, None);
    let once = masker.text(text, &ctx()).unwrap().text;
    let twice = masker.text(&once, &ctx()).unwrap().text;
    (once, twice)
}

fn composed() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(SEPARATORS.to_vec()),
            "[a-z\u{4e00}-\u{4e20} ]{0,6}",
            prop::sample::select(VALUES.to_vec()),
        ),
        1..6,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(sep, filler, value)| format!("{filler}{sep}{value}{sep}"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scanning_any_text_never_panics(text in any::<String>()) {
        let found = Scanner::new().scan(&text);
        for f in found {
            prop_assert!(text.is_char_boundary(f.byte_start) && text.is_char_boundary(f.byte_end));
            prop_assert_eq!(text[..f.byte_start].chars().count(), f.start);
        }
    }

    #[test]
    fn masking_is_idempotent(text in prop_oneof![any::<String>(), composed()]) {
        let (once, twice) = masked_twice(&text);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn no_identifier_survives(text in composed()) {
        let scanner = Scanner::new();
        let masked = Masker::new(&scanner, None).text(&text, &ctx()).unwrap().text;
        for v in VALUES {
            prop_assert!(!masked.contains(v), "{v} survived in {masked}");
        }
    }
}

/// Found by cargo-fuzz: masking the name `阳阳` as `阳*` took two bytes off the text, which
/// brought the context word `mtp` within a byte-counted window of the later eight digits, so
/// the second pass found a Taiwan permit the first had not. Windows now count characters.
#[test]
fn masking_a_name_does_not_move_a_later_numbers_context() {
    let text = "mtp99F88\u{18}8(\x00阳阳\x00\x0077\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x008\x00\x00\x00\x00\x00\x00\x0088777777";
    let (once, twice) = masked_twice(text);
    assert!(once.contains("阳*"), "the name is masked: {once:?}");
    assert_eq!(once, twice);
}

/// Found by cargo-fuzz: `0086 0862 2222 0862` is a landline (country code, area code, local
/// number), and the `0862 22222222` after it was not, being the tail of a number grouped by
/// the same spaces. Masking left `0086 **** **** 0862 22222222`, whose tail no longer
/// followed a digit, so the second pass found a landline the first had not. A masked digit
/// now continues a number as a digit does.
#[test]
fn masking_a_landline_does_not_free_the_number_after_it() {
    let text = "0086 0862 2222 0862 22222222\x0012222\x001";
    let (once, twice) = masked_twice(text);
    assert!(
        once.starts_with("0086 **** **** 0862 "),
        "the landline is masked: {once:?}"
    );
    assert_eq!(once, twice);
}

/// Found by cargo-fuzz: masking the landline `024 36080824` as `024 ****0824` left its kept
/// digits right before ` 3608084`, and the second pass read `0824 3608084` as a landline. A
/// run of `*` with a space and a digit beyond it is the inside of a masked number.
#[test]
fn the_kept_digits_of_a_masked_landline_are_not_a_landline() {
    let text = "+:86.024 3608084\u{1}&\x00\x00\x00\x00\x00\x00\x003386.004.024 36080824 3608084\u{1}&\x00\x00\x00\x00\x00\x00\x003313\u{3}:SK";
    let (once, twice) = masked_twice(text);
    assert!(
        once.contains("024 ****0824 3608084"),
        "the landline is masked: {once:?}"
    );
    assert_eq!(once, twice);
}

/// Found while looking for more of the kind: a landline whose area code is bracketed masks
/// to `(021)****0574`, and the kept `0574` then read with the ` 2345678` after it as a
/// landline. Four stars are never Markdown's emphasis, and a closing bracket beyond a run
/// ends a masked number's area code.
#[test]
fn the_kept_digits_after_a_bracketed_area_code_are_not_a_landline() {
    for text in ["(021)62340574 2345678", "（0931）2340574 2345678"] {
        let (once, twice) = masked_twice(text);
        assert!(
            once.contains("***0574 2345678"),
            "the landline is masked: {once:?}"
        );
        assert_eq!(once, twice);
    }
}

/// Found by cargo-fuzz: masking the IPv6 address `4::6` leaves `4:0:0:*`, and the landline
/// written after it with spaces (`86 866 86433333`), the tail of `6 86 866 …` before,
/// became one of its own after a single star. One or two stars after a digit or a
/// number's separator are a masked value's tail; after a word or as a list's bullet they
/// are not, and the landline beside them is still found.
#[test]
fn a_landline_after_a_masked_address_is_still_a_tail() {
    let scanner = Scanner::new();
    let masker = Masker::new(&scanner, None);
    let (once, twice) = masked_twice("4::6 86 866 86433333");
    assert_eq!(once, "4:0:0:* 86 866 86433333");
    assert_eq!(once, twice);
    for text in [
        "* 0755 23456789",
        "*Tel* 0755 23456789",
        "**Tel** 0755 23456789",
    ] {
        let masked = masker.text(text, &ctx()).unwrap().text;
        assert!(
            masked.ends_with(" 0755 ****6789"),
            "{text:?} gave {masked:?}"
        );
    }
}

/// Found by cargo-fuzz: a pinyin name glued to the number after it (`He Ha17166666600`)
/// was reported, and masking its given name (`He **`) freed the number, which the second
/// pass found. A name is a word of its own: no letter or digit touches it.
#[test]
fn a_pinyin_name_glued_to_a_number_is_no_name() {
    let scanner = Scanner::new();
    for text in ["He Ha17166666600", "Fu Haa8A::6", "x He He7::0.8"] {
        assert!(scanner.scan(text).is_empty(), "{text:?}");
        let (once, twice) = masked_twice(text);
        assert_eq!(twice, once);
    }
    let found: Vec<_> = (scanner.scan("Wei Zhang, 13800138000").iter())
        .map(|f| f.pi_type)
        .collect();
    assert_eq!(found, [PiType::Person, PiType::CnMobile]);
}

/// Found by cargo-fuzz: masking `4::FFF` leaves `4:0:0:*`, and the mobile number whose
/// country code the `F` had touched (`＋8613334333333`) became one the second pass found.
/// A masked value's inside touching the country code takes it, as a letter does.
#[test]
fn a_country_code_after_a_masked_value_is_taken() {
    let (once, twice) = masked_twice("4::FFF＋8613334333333");
    assert_eq!(once, "4:0:0:*＋8613334333333");
    assert_eq!(twice, once);
    // Markdown's bold around a number still leaves it found.
    let (bold, _) = masked_twice("**＋8613800138000**");
    assert_eq!(bold, "**＋86138****8000**");
}

/// Found by cargo-fuzz: an e-mail address whose domain is a mobile number
/// (`36@18686020255.rr…`) was masked in its local part, and the second pass, no longer
/// reading an address there, found the number after the `@`. A number right after `@` is
/// a domain, for mobiles as for every other number.
#[test]
fn a_mobile_after_an_at_sign_is_a_domain() {
    let (once, twice) = masked_twice("x-36@18686020255.rrrr.rrrr");
    assert_eq!(twice, once);
    let scanner = Scanner::new();
    for text in ["@18686020255", "@186 8602 0255"] {
        assert!(scanner.scan(text).is_empty(), "{text:?}");
    }
}

/// Found by cargo-fuzz: `08::87E` was read as an IPv6 address right after the full-width
/// digit `３`; its generalisation `8:0:0:*` drops the `0`, which left the eleven digits
/// before the `:` a mobile number the second pass found. An address beside a digit of any
/// script is part of something longer, as it already was for IPv4.
#[test]
fn an_address_after_a_full_width_digit_is_no_address() {
    let (once, twice) = masked_twice("(86.(１59404680３08::87E");
    assert_eq!(once, twice);
}
