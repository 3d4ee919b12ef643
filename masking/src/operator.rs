//! Masking operators: what replaces a piece of PI, and the display defaults per type.
//!
//! The defaults follow what Chinese payment apps show and what JR/T 0171-2020 (§6.1.3.2,
//! display of personal financial information: "屏蔽展示") asks for, keeping only the
//! characters a customer needs to recognise their own data:
//!
//! | type | default | example |
//! |---|---|---|
//! | `BANK_CARD`, `CREDIT_CARD` | first 6 (the issuer) and last 4, separators kept | `622202*********1234` |
//! | `CN_MOBILE` | first 3 and last 4 (a `+86` prefix kept) | `138****8000` |
//! | `CN_ID` | first 1 and last 2 | `5***************1X` |
//! | `PERSON` | the surname, compound surnames whole | `张*`, `欧阳**` |
//! | `EMAIL` | first character and the domain | `z********@example.cn` |
//! | `ADDRESS` | province, city and district only | `四川省成都市锦江区` |
//! | `CN_LANDLINE` | area code and last 4 | `0531-****0974` |
//! | passports, permits | first 1 and last 3 | `E*****982` |
//! | `CN_USCC` | first 2 and last 4 | `91************421X` |
//! | `CN_PLATE` | province and authority, last 2 | `粤B·***45` |
//! | `IBAN` | first 4 and last 4 | `GB82**************5432` |
//! | `IPV4`, `IPV6` | the network (/24, /48) | `192.168.1.*`, `2001:db8:85a3:*` |
//! | `BIRTH_DATE`, `DATE` | the year | `1990` |
//! | `AMOUNT` | a bucket of its order of magnitude | `10000-19999` |
//! | C3 types (`PASSWORD`, `CARD_CVV`, …) | a label, never any character | `[密码]` |
//!
//! However many characters a default keeps, a short value never shows more than half of
//! its characters.

use std::borrow::Cow;

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::detect::scan::compact;
use crate::detect::{address, person};
use crate::error::{Error, Result};
use crate::pi_type::{Level, PiType};

/// What to do with a piece of PI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Every variant has braces, even with no fields: serde checks unknown fields only in
// struct variants, and `{"op": "keep", "with": "*"}` must be refused, not read as `keep`.
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operator {
    /// Leave it in the clear.
    Keep {},
    /// The type's display default (see the module documentation).
    Default {},
    /// Replace every letter and digit with `with`, but the first `first` and the last
    /// `last`; separators stay.
    Mask {
        /// Characters kept at the start.
        #[serde(default)]
        first: usize,
        /// Characters kept at the end.
        #[serde(default)]
        last: usize,
        /// The masking character.
        #[serde(default = "star")]
        with: char,
    },
    /// Remove it.
    Redact {},
    /// Replace it with a label (by default the type's, such as `[身份证号]`).
    Replace {
        /// The label.
        #[serde(default)]
        label: Option<String>,
    },
    /// A keyed hash (HMAC-SHA256 of the normalised value): the same value always gives the
    /// same pseudonym under the same key, so joins still work.
    Hash {},
    /// Encrypt through the vault, for those allowed to decrypt.
    Encrypt {},
    /// Replace with a vault token, for those allowed to detokenize.
    Tokenize {},
    /// Keep a coarser form.
    Generalize {
        /// How coarse.
        to: Generalization,
        /// For `bucket`: the bucket's width (default: the amount's order of magnitude).
        #[serde(default)]
        width: Option<u64>,
    },
    /// Move a date by a number of days that is the same for every date of one subject
    /// (derived from the key and the subject), at least 1 and at most `max_days` either way.
    DateShift {
        /// The largest shift, in days.
        max_days: u32,
    },
    /// Keep the first `keep` characters.
    Truncate {
        /// Characters kept.
        keep: usize,
    },
}

fn star() -> char {
    '*'
}

/// The coarser forms of [`Operator::Generalize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generalization {
    /// A date (or the birth date in an ID number) to its year.
    Year,
    /// A date (or the birth date in an ID number) to a ten-year age band, such as `30-39`.
    AgeBand,
    /// An address to its province.
    Province,
    /// An address to its province and city.
    City,
    /// An address to its province, city and district.
    District,
    /// An amount to a bucket, such as `10000-19999`.
    Bucket,
    /// An IP address to its network: /24 for IPv4 (`192.168.1.*`), /48 for IPv6
    /// (`2001:db8:85a3:*`).
    Network,
}

impl Operator {
    /// The operator's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Keep {} => "keep",
            Operator::Default {} => "default",
            Operator::Mask { .. } => "mask",
            Operator::Redact {} => "redact",
            Operator::Replace { .. } => "replace",
            Operator::Hash {} => "hash",
            Operator::Encrypt {} => "encrypt",
            Operator::Tokenize {} => "tokenize",
            Operator::Generalize { .. } => "generalize",
            Operator::DateShift { .. } => "date_shift",
            Operator::Truncate { .. } => "truncate",
        }
    }

    /// Whether the operator shows the value in the clear.
    pub fn reveals(&self) -> bool {
        matches!(self, Operator::Keep {})
    }

    /// Whether the operator can apply to `pi_type` at all.
    pub fn applies_to(&self, pi_type: PiType) -> bool {
        use Generalization as G;
        use PiType as T;
        match self {
            Operator::Generalize { to, .. } => match to {
                G::Year | G::AgeBand => matches!(pi_type, T::BirthDate | T::Date | T::CnId),
                G::Province | G::City | G::District => pi_type == T::Address,
                G::Bucket => pi_type == T::Amount,
                G::Network => matches!(pi_type, T::Ipv4 | T::Ipv6),
            },
            Operator::DateShift { .. } => matches!(pi_type, T::BirthDate | T::Date),
            _ => true,
        }
    }
}

/// The display default for `pi_type`.
pub fn default_for(pi_type: PiType) -> Operator {
    use PiType as T;
    let mask = |first, last| Operator::Mask {
        first,
        last,
        with: '*',
    };
    match pi_type {
        T::BankCard | T::CreditCard => mask(6, 4),
        T::CnMobile => mask(3, 4),
        T::CnId => mask(1, 2),
        T::CnPassport | T::CnHkmoPermit | T::CnTwPermit => mask(1, 3),
        T::CnUscc => mask(2, 4),
        T::CnPlate => mask(2, 2),
        T::Iban => mask(4, 4),
        T::Text => mask(0, 0),
        // Person, e-mail and landline masks depend on the value; see `apply`.
        T::Person | T::Email | T::CnLandline => Operator::Default {},
        T::Address => Operator::Generalize {
            to: Generalization::District,
            width: None,
        },
        T::Ipv4 | T::Ipv6 => Operator::Generalize {
            to: Generalization::Network,
            width: None,
        },
        T::BirthDate | T::Date => Operator::Generalize {
            to: Generalization::Year,
            width: None,
        },
        T::Amount => Operator::Generalize {
            to: Generalization::Bucket,
            width: None,
        },
        T::Password | T::CardCvv | T::CardExpiry | T::Biometric => {
            Operator::Replace { label: None }
        }
    }
}

/// The key of the keyed hash and of date shifting. It never leaves the process.
pub struct PseudonymKey(hmac::Key);

impl PseudonymKey {
    /// A key from secret bytes (32 of them: an HKDF output or a random key).
    pub fn new(secret: &[u8]) -> PseudonymKey {
        PseudonymKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The least a key file (or any caller's secret) must hold for [`Self::derived`].
    pub const MIN_SECRET: usize = 32;

    /// The key of consistent pseudonyms, derived from a secret the caller keeps (a key
    /// file): HKDF-SHA256, so every tool that masks with the same secret (`baomi mask
    /// --consistent`, the Python package on Spark) gives the same value the same pseudonym.
    pub fn derived(secret: &[u8]) -> Result<PseudonymKey> {
        if secret.len() < Self::MIN_SECRET {
            return Err(Error::KeyTooShort {
                len: secret.len(),
                min: Self::MIN_SECRET,
            });
        }
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"baomi mask");
        salt.extract(secret)
            .expand(&[b"pseudonym key v1"], ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(key.as_mut_slice()))
            .map(|()| PseudonymKey::new(key.as_slice()))
            .map_err(|_| Error::OperatorUnavailable { op: "hash" })
    }

    /// A fresh random key: pseudonyms no other run reproduces.
    pub fn random() -> Result<PseudonymKey> {
        use ring::rand::SecureRandom;
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new()
            .fill(key.as_mut_slice())
            .map_err(|_| Error::OperatorUnavailable { op: "hash" })?;
        Ok(PseudonymKey::new(key.as_slice()))
    }

    fn tag(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        ctx.sign()
    }
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

/// The vault, as the `encrypt` and `tokenize` operators see it. The server implements it;
/// the masking crate knows nothing of keys or storage.
pub trait Reversible: Send + Sync {
    /// A ciphertext of `value`, a value of type `pi_type`.
    fn encrypt(&self, pi_type: PiType, value: &str) -> std::result::Result<String, String>;
    /// A token that stands for `value`.
    fn tokenize(&self, pi_type: PiType, value: &str) -> std::result::Result<String, String>;
}

/// What operators may need besides the value.
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    /// The key of `hash` and `date_shift`.
    pub key: Option<&'a PseudonymKey>,
    /// The subject the data is about (for `date_shift`).
    pub subject: Option<&'a str>,
    /// The vault (for `encrypt` and `tokenize`).
    pub vault: Option<&'a dyn Reversible>,
    /// Today's year, for age bands.
    pub year: i32,
}

/// Applies `op` to `value`, a value of type `pi_type`.
pub fn apply(op: &Operator, pi_type: PiType, value: &str, ctx: &Context<'_>) -> Result<String> {
    let mut out = String::new();
    apply_to(op, pi_type, value, ctx, &mut out)?;
    Ok(out)
}

/// Applies `op` to `value`, a value of type `pi_type`, appending the result to `out` (what
/// [`apply`] returns, without a string of its own). On an error `out` is as it was.
pub fn apply_to(
    op: &Operator,
    pi_type: PiType,
    value: &str,
    ctx: &Context<'_>,
    out: &mut String,
) -> Result<()> {
    let not_applicable = || Error::NotApplicable {
        op: op.name(),
        pi_type,
    };
    match op {
        Operator::Keep {} => out.push_str(value),
        Operator::Default {} => match default_for(pi_type) {
            Operator::Default {} => value_default(pi_type, value, out),
            other => apply_to(&other, pi_type, value, ctx, out)?,
        },
        Operator::Mask { first, last, with } => {
            if pi_type == PiType::CnMobile {
                let (prefix, rest) = split_country_code(value);
                out.push_str(prefix);
                mask_to(rest, *first, *last, *with, out);
            } else {
                mask_to(value, *first, *last, *with, out);
            }
        }
        Operator::Redact {} => {}
        Operator::Replace { label } => out.push_str(label.as_deref().unwrap_or(pi_type.label())),
        Operator::Hash {} => {
            let key = ctx.key.ok_or(Error::OperatorUnavailable { op: "hash" })?;
            let tag = key.tag(&[
                pi_type.as_str().as_bytes(),
                normalise(pi_type, value).as_bytes(),
            ]);
            data_encoding::HEXLOWER.encode_append(&tag.as_ref()[..8], out);
        }
        Operator::Encrypt {} | Operator::Tokenize {} => {
            let vault = ctx
                .vault
                .ok_or(Error::OperatorUnavailable { op: op.name() })?;
            let done = if matches!(op, Operator::Encrypt {}) {
                vault.encrypt(pi_type, value)
            } else {
                vault.tokenize(pi_type, value)
            };
            out.push_str(&done.map_err(|reason| Error::Vault { reason })?);
        }
        Operator::Generalize { to, width } => {
            out.push_str(&generalize(*to, *width, pi_type, value, ctx).ok_or_else(not_applicable)?)
        }
        Operator::DateShift { max_days } => {
            let key = ctx
                .key
                .ok_or(Error::OperatorUnavailable { op: "date_shift" })?;
            let subject = ctx.subject.ok_or(Error::SubjectRequired)?;
            out.push_str(&shift_date(value, key, subject, *max_days).ok_or_else(not_applicable)?);
        }
        Operator::Truncate { keep } => out.extend(value.chars().take(*keep)),
    }
    Ok(())
}

/// The value-dependent defaults: names keep the surname, e-mail the first character and
/// the domain, landlines the area code and the last 4.
fn value_default(pi_type: PiType, value: &str, out: &mut String) {
    match pi_type {
        PiType::Person => {
            if let Some((surname, given)) = value.split_once(' ') {
                out.push_str(surname);
                out.push(' ');
                mask_to(given, 0, 0, '*', out);
                return;
            }
            let surname = person::surname_len(value);
            let chars = value.chars().count();
            if chars <= surname {
                return mask_to(value, 0, 0, '*', out);
            }
            out.extend((value.chars().enumerate()).map(|(i, c)| if i < surname { c } else { '*' }));
        }
        PiType::Email => match value.rsplit_once('@') {
            Some((local, domain)) => {
                out.extend(local.chars().take(1));
                out.extend(local.chars().skip(1).map(|_| '*'));
                out.push('@');
                out.push_str(domain);
            }
            None => mask_to(value, 1, 0, '*', out),
        },
        PiType::CnLandline => {
            let area = value
                .trim_start_matches(['(', '（'])
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            mask_to(value, area, 4, '*', out);
        }
        _ => mask_to(value, 0, 0, '*', out),
    }
}

/// Splits a `+86`/`0086` prefix (and the separator after it) off a mobile number.
fn split_country_code(value: &str) -> (&str, &str) {
    for p in ["+86", "＋86", "0086"] {
        if let Some(rest) = value.strip_prefix(p) {
            let rest_trimmed = rest.trim_start_matches([' ', '-']);
            let cut = value.len() - rest_trimmed.len();
            if rest_trimmed.chars().filter(|c| c.is_alphanumeric()).count() == 11 {
                return value.split_at(cut);
            }
        }
    }
    ("", value)
}

/// Replaces every letter and digit but the first `first` and last `last` with `with`;
/// never shows more than half of the letters and digits.
pub fn mask(value: &str, first: usize, last: usize, with: char) -> String {
    let mut out = String::with_capacity(value.len());
    mask_to(value, first, last, with, &mut out);
    out
}

/// [`mask`], appending to `out`.
fn mask_to(value: &str, first: usize, last: usize, with: char, out: &mut String) {
    let n = value.chars().filter(|c| c.is_alphanumeric()).count();
    let (first, last) = if first + last >= n {
        let half = n / 2;
        (
            first.min(half),
            last.min(half.saturating_sub(first.min(half))),
        )
    } else {
        (first, last)
    };
    let mut seen = 0;
    out.extend(value.chars().map(|c| {
        if !c.is_alphanumeric() {
            return c;
        }
        seen += 1;
        if seen <= first || seen > n - last {
            c
        } else {
            with
        }
    }));
}

/// The form a value is hashed in: identifiers without separators and in one case, e-mail
/// lower-cased, mobile numbers without a country code; so that the same value written two
/// ways gets one pseudonym.
fn normalise(pi_type: PiType, value: &str) -> Cow<'_, str> {
    use PiType as T;
    match pi_type {
        T::Email => Cow::Owned(value.trim().to_lowercase()),
        T::CnMobile => {
            let (_, rest) = split_country_code(value);
            compact(rest)
        }
        T::CnId
        | T::BankCard
        | T::CreditCard
        | T::CnUscc
        | T::CnPassport
        | T::CnHkmoPermit
        | T::CnTwPermit
        | T::Iban
        | T::CnLandline
        | T::CnPlate => compact(value),
        _ => Cow::Borrowed(value.trim()),
    }
}

/// A date in one of the forms `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYYMMDD`, `YYYY年M月D日`,
/// with its separator so it can be written back the same way.
fn parse_date(value: &str) -> Option<(time::Date, DateForm)> {
    let v = value.trim();
    let (y, m, d, form) = if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) {
        (&v[..4], &v[4..6], &v[6..], DateForm::Compact)
    } else if let Some((y, rest)) = v.split_once('年') {
        let (m, rest) = rest.split_once('月')?;
        (y, m, rest.strip_suffix('日')?, DateForm::Chinese)
    } else {
        let sep = v.chars().find(|c| *c == '-' || *c == '/')?;
        let mut it = v.splitn(3, sep);
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        let d = d.get(..2).filter(|_| d.len() >= 2).unwrap_or(d);
        (y, m, d, DateForm::Separated(sep))
    };
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    Some((date, form))
}

#[derive(Clone, Copy)]
enum DateForm {
    Compact,
    Chinese,
    Separated(char),
}

fn write_date(date: time::Date, form: DateForm) -> String {
    let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
    match form {
        DateForm::Compact => format!("{y:04}{m:02}{d:02}"),
        DateForm::Chinese => format!("{y}年{m}月{d}日"),
        DateForm::Separated(sep) => format!("{y:04}{sep}{m:02}{sep}{d:02}"),
    }
}

/// The birth year in a date, or in an ID number.
fn year_of(pi_type: PiType, value: &str) -> Option<i32> {
    if pi_type == PiType::CnId {
        let id = compact(value);
        return match id.len() {
            18 => id[6..10].parse().ok(),
            15 => id[6..8].parse::<i32>().ok().map(|y| 1900 + y),
            _ => None,
        };
    }
    parse_date(value).map(|(d, _)| d.year())
}

fn generalize(
    to: Generalization,
    width: Option<u64>,
    pi_type: PiType,
    value: &str,
    ctx: &Context<'_>,
) -> Option<String> {
    use Generalization as G;
    match to {
        G::Year => year_of(pi_type, value).map(|y| y.to_string()),
        G::AgeBand => {
            let age = ctx.year - year_of(pi_type, value)?;
            (age >= 0).then(|| {
                let low = age / 10 * 10;
                format!("{low}-{}", low + 9)
            })
        }
        G::Province | G::City | G::District => Some(
            address::admin_prefix(value, to).unwrap_or_else(|| PiType::Address.label().to_owned()),
        ),
        G::Bucket => {
            let cleaned: String = value
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            let amount: f64 = cleaned.parse().ok()?;
            if !amount.is_finite() || amount < 0.0 {
                return None;
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = amount.floor() as u64;
            let width = width
                .filter(|w| *w > 0)
                .unwrap_or_else(|| 10u64.pow(whole.checked_ilog10().unwrap_or(0)));
            let low = whole / width * width;
            Some(format!("{low}-{}", low + width - 1))
        }
        G::Network => {
            if let Ok(ip) = value.trim().parse::<std::net::Ipv4Addr>() {
                let [a, b, c, _] = ip.octets();
                return Some(format!("{a}.{b}.{c}.*"));
            }
            let ip = value.trim().parse::<std::net::Ipv6Addr>().ok()?;
            let s = ip.segments();
            // Written with `*` (as IPv4's is) rather than as `…::/48`, which would itself
            // read as an address and be generalised again.
            Some(format!("{:x}:{:x}:{:x}:*", s[0], s[1], s[2]))
        }
    }
}

fn shift_date(value: &str, key: &PseudonymKey, subject: &str, max_days: u32) -> Option<String> {
    let (date, form) = parse_date(value)?;
    let tag = key.tag(&[b"date-shift", subject.as_bytes()]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&tag.as_ref()[..8]);
    // 1 to `max_days` days either way, never 0: a date left in place would be the real one.
    let max = u64::from(max_days.max(1));
    let pick = u64::from_be_bytes(first) % (2 * max);
    let offset = if pick < max {
        -i64::try_from(pick + 1).ok()?
    } else {
        i64::try_from(pick - max + 1).ok()?
    };
    let shifted = date.checked_add(time::Duration::days(offset))?;
    Some(write_date(shifted, form))
}

/// Whether an operator would leave a C3 value readable.
pub fn leaves_c3_readable(op: &Operator, pi_type: PiType) -> bool {
    pi_type.level() == Level::C3
        && matches!(
            op,
            Operator::Keep {} | Operator::Truncate { .. } | Operator::DateShift { .. }
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_without_settings_refuses_unknown_ones() {
        let keep: Operator = serde_json::from_str(r#"{"op":"keep"}"#).unwrap();
        assert_eq!(keep, Operator::Keep {});
        assert_eq!(serde_json::to_string(&keep).unwrap(), r#"{"op":"keep"}"#);
        for op in ["keep", "default", "redact", "hash", "encrypt", "tokenize"] {
            let with_extra = format!(r#"{{"op":"{op}","with":"*"}}"#);
            assert!(
                serde_json::from_str::<Operator>(&with_extra).is_err(),
                "{op}"
            );
        }
    }

    fn ctx() -> Context<'static> {
        Context {
            year: 2026,
            ..Context::default()
        }
    }

    fn show(pi_type: PiType, value: &str) -> String {
        apply(&Operator::Default {}, pi_type, value, &ctx()).unwrap()
    }

    #[test]
    fn display_defaults() {
        assert_eq!(
            show(PiType::BankCard, "6222021234567891234"),
            "622202*********1234"
        );
        assert_eq!(
            show(PiType::BankCard, "6222 0212 3456 7891 234"),
            "6222 02** **** ***1 234"
        );
        assert_eq!(show(PiType::CnMobile, "13800138000"), "138****8000");
        assert_eq!(
            show(PiType::CnMobile, "+86 138 0013 8000"),
            "+86 138 **** 8000"
        );
        assert_eq!(
            show(PiType::CnId, "51010419900307111X"),
            "5***************1X"
        );
        assert_eq!(show(PiType::Person, "张三"), "张*");
        assert_eq!(show(PiType::Person, "欧阳娜娜"), "欧阳**");
        assert_eq!(show(PiType::Person, "Huang Yong"), "Huang ****");
        assert_eq!(
            show(PiType::Email, "zhang.san@example.cn"),
            "z********@example.cn"
        );
        assert_eq!(
            show(
                PiType::Address,
                "四川省成都市锦江区科技园路602号锦绣小区24号楼901室"
            ),
            "四川省成都市锦江区"
        );
        assert_eq!(show(PiType::CnLandline, "0531-69370974"), "0531-****0974");
        assert_eq!(show(PiType::CnLandline, "(021)86383496"), "(021)****3496");
        assert_eq!(show(PiType::CnPassport, "E84236982"), "E*****982");
        assert_eq!(show(PiType::Ipv4, "192.168.1.20"), "192.168.1.*");
        assert_eq!(show(PiType::BirthDate, "1990-03-07"), "1990");
        assert_eq!(show(PiType::Amount, "12,345.67"), "10000-19999");
        assert_eq!(show(PiType::CardCvv, "123"), "[卡验证码]");
        assert_eq!(show(PiType::CnPlate, "粤B·12345"), "粤B·***45");
    }

    #[test]
    fn short_values_never_show_more_than_half() {
        assert_eq!(mask("1234", 6, 4, '*'), "12**");
        assert_eq!(mask("张", 1, 0, '*'), "*");
        assert_eq!(mask("", 3, 4, '*'), "");
    }

    #[test]
    fn keyed_hash_is_stable_across_forms_and_keys_differ() {
        let k1 = PseudonymKey::new(&[1u8; 32]);
        let k2 = PseudonymKey::new(&[2u8; 32]);
        let with = |k| Context {
            key: Some(k),
            ..ctx()
        };
        let h = |k, v| apply(&Operator::Hash {}, PiType::CnMobile, v, &with(k)).unwrap();
        assert_eq!(h(&k1, "13800138000"), h(&k1, "+86 138-0013-8000"));
        assert_ne!(h(&k1, "13800138000"), h(&k2, "13800138000"));
        assert_eq!(h(&k1, "13800138000").len(), 16);
        assert!(matches!(
            apply(&Operator::Hash {}, PiType::CnMobile, "1", &ctx()),
            Err(Error::OperatorUnavailable { op: "hash" })
        ));
    }

    #[test]
    fn generalisations() {
        let g = |to, t, v: &str| {
            apply(&Operator::Generalize { to, width: None }, t, v, &ctx()).unwrap()
        };
        assert_eq!(
            g(Generalization::Year, PiType::CnId, "51010419900307111X"),
            "1990"
        );
        assert_eq!(
            g(Generalization::AgeBand, PiType::BirthDate, "1990-03-07"),
            "30-39"
        );
        assert_eq!(
            g(
                Generalization::Province,
                PiType::Address,
                "广东省深圳市南山区深南大道88号"
            ),
            "广东省"
        );
        assert_eq!(
            g(
                Generalization::City,
                PiType::Address,
                "广东省深圳市南山区深南大道88号"
            ),
            "广东省深圳市"
        );
        assert_eq!(
            g(
                Generalization::City,
                PiType::Address,
                "北京市东城区中关村大街12号"
            ),
            "北京市"
        );
        assert_eq!(
            g(
                Generalization::Network,
                PiType::Ipv6,
                "2001:db8:85a3::8a2e:370:7334"
            ),
            "2001:db8:85a3:*"
        );
        let bucket = Operator::Generalize {
            to: Generalization::Bucket,
            width: Some(5000),
        };
        assert_eq!(
            apply(&bucket, PiType::Amount, "¥12,345.67", &ctx()).unwrap(),
            "10000-14999"
        );
        assert!(matches!(
            apply(&bucket, PiType::Amount, "lots", &ctx()),
            Err(Error::NotApplicable { .. })
        ));
    }

    #[test]
    fn derived_keys_agree_and_short_secrets_are_refused() {
        let hash = |key: &PseudonymKey| {
            let ctx = Context {
                key: Some(key),
                subject: None,
                vault: None,
                year: 2026,
            };
            apply(&Operator::Hash {}, PiType::CnMobile, "13800138000", &ctx).unwrap()
        };
        let secret = [7u8; 48];
        let a = PseudonymKey::derived(&secret).unwrap();
        let b = PseudonymKey::derived(&secret).unwrap();
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(hash(&a), hash(&PseudonymKey::random().unwrap()));
        assert!(matches!(
            PseudonymKey::derived(&[7u8; 31]),
            Err(Error::KeyTooShort { len: 31, min: 32 })
        ));
    }

    #[test]
    fn date_shift_is_consistent_per_subject() {
        let key = PseudonymKey::new(&[7u8; 32]);
        let op = Operator::DateShift { max_days: 30 };
        let shift = |subject, v: &str| {
            let c = Context {
                key: Some(&key),
                subject: Some(subject),
                ..ctx()
            };
            apply(&op, PiType::Date, v, &c).unwrap()
        };
        let a = shift("s1", "2024-03-01");
        let b = shift("s1", "2024-03-02");
        let (da, _) = parse_date(&a).unwrap();
        let (db, _) = parse_date(&b).unwrap();
        assert_eq!(
            (db - da).whole_days(),
            1,
            "one subject's dates keep their distance"
        );
        let (orig, _) = parse_date("2024-03-01").unwrap();
        for subject in ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"] {
            let (d, _) = parse_date(&shift(subject, "2024-03-01")).unwrap();
            let moved = (d - orig).whole_days().abs();
            assert!((1..=30).contains(&moved), "{subject}: {moved} days");
        }
        assert_eq!(shift("s1", "20240301").len(), 8, "the form is kept");
        assert!(matches!(
            apply(
                &op,
                PiType::Date,
                "2024-03-01",
                &Context {
                    key: Some(&key),
                    ..ctx()
                }
            ),
            Err(Error::SubjectRequired)
        ));
    }
}
