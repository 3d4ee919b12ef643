//! The kinds of personal information the masking crate knows, with their names on the wire
//! and their JR/T 0171-2020 sensitivity level.

use serde::{Deserialize, Serialize};

/// A kind of personal information. The names on the wire are the shared corpus's where it
/// has the kind (`CN_ID`, `CN_MOBILE`, …); the rest follow the same style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PiType {
    /// Resident identity card number (居民身份证号), 18-digit or 15-digit legacy.
    CnId,
    /// Mainland mobile number.
    CnMobile,
    /// Landline number with its area code.
    CnLandline,
    /// Bank card of 16 to 19 digits (UnionPay and the international brands issued in China).
    BankCard,
    /// International card of 13 to 15 digits (Visa 13, Diners 14, American Express 15).
    CreditCard,
    /// Unified social credit code (统一社会信用代码); personal for sole proprietors.
    CnUscc,
    /// Passport number of the People's Republic of China.
    CnPassport,
    /// Permit for travel to or from Hong Kong and Macao (往来港澳通行证, 回乡证).
    CnHkmoPermit,
    /// Permit for travel to or from Taiwan (往来台湾通行证, 台胞证).
    CnTwPermit,
    /// Vehicle licence plate (车牌号).
    CnPlate,
    /// E-mail address.
    Email,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// International bank account number (ISO 13616).
    Iban,
    /// A person's name, Chinese or pinyin.
    Person,
    /// A postal address.
    Address,
    /// A date of birth (structured fields only; not detected in free text).
    BirthDate,
    /// A date (structured fields only).
    Date,
    /// An amount of money (structured fields only).
    Amount,
    /// A password or PIN (structured fields only).
    Password,
    /// A card verification code, CVN2/CVV2 (structured fields only).
    CardCvv,
    /// A card's expiry date (structured fields only).
    CardExpiry,
    /// Biometric data, such as a face template (structured fields only).
    Biometric,
    /// Any other text (structured fields only).
    Text,
}

/// A sensitivity level of JR/T 0171-2020 (personal financial information).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// C1: internal information of the institution about the account.
    C1,
    /// C2: information that identifies a person or their finances.
    C2,
    /// C3: authentication information (passwords, card verification codes, card expiry,
    /// biometrics); its disclosure lets someone act as the person.
    C3,
}

impl PiType {
    /// Every type, in documentation order.
    pub const ALL: [PiType; 24] = [
        PiType::CnId,
        PiType::CnMobile,
        PiType::CnLandline,
        PiType::BankCard,
        PiType::CreditCard,
        PiType::CnUscc,
        PiType::CnPassport,
        PiType::CnHkmoPermit,
        PiType::CnTwPermit,
        PiType::CnPlate,
        PiType::Email,
        PiType::Ipv4,
        PiType::Ipv6,
        PiType::Iban,
        PiType::Person,
        PiType::Address,
        PiType::BirthDate,
        PiType::Date,
        PiType::Amount,
        PiType::Password,
        PiType::CardCvv,
        PiType::CardExpiry,
        PiType::Biometric,
        PiType::Text,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PiType::CnId => "CN_ID",
            PiType::CnMobile => "CN_MOBILE",
            PiType::CnLandline => "CN_LANDLINE",
            PiType::BankCard => "BANK_CARD",
            PiType::CreditCard => "CREDIT_CARD",
            PiType::CnUscc => "CN_USCC",
            PiType::CnPassport => "CN_PASSPORT",
            PiType::CnHkmoPermit => "CN_HKMO_PERMIT",
            PiType::CnTwPermit => "CN_TW_PERMIT",
            PiType::CnPlate => "CN_PLATE",
            PiType::Email => "EMAIL",
            PiType::Ipv4 => "IPV4",
            PiType::Ipv6 => "IPV6",
            PiType::Iban => "IBAN",
            PiType::Person => "PERSON",
            PiType::Address => "ADDRESS",
            PiType::BirthDate => "BIRTH_DATE",
            PiType::Date => "DATE",
            PiType::Amount => "AMOUNT",
            PiType::Password => "PASSWORD",
            PiType::CardCvv => "CARD_CVV",
            PiType::CardExpiry => "CARD_EXPIRY",
            PiType::Biometric => "BIOMETRIC",
            PiType::Text => "TEXT",
        }
    }

    /// Parses a name on the wire.
    pub fn parse(raw: &str) -> Option<PiType> {
        PiType::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// The JR/T 0171-2020 level: authentication information is C3, everything else that
    /// identifies a person is C2.
    pub fn level(self) -> Level {
        match self {
            PiType::Password | PiType::CardCvv | PiType::CardExpiry | PiType::Biometric => {
                Level::C3
            }
            _ => Level::C2,
        }
    }

    /// Whether free-text detection finds this type (the others are named by JSON path).
    pub fn detected(self) -> bool {
        !matches!(
            self,
            PiType::BirthDate
                | PiType::Date
                | PiType::Amount
                | PiType::Password
                | PiType::CardCvv
                | PiType::CardExpiry
                | PiType::Biometric
                | PiType::Text
        )
    }

    /// The label the `replace` operator writes by default, as a Chinese screen shows it.
    pub fn label(self) -> &'static str {
        match self {
            PiType::CnId => "[身份证号]",
            PiType::CnMobile => "[手机号]",
            PiType::CnLandline => "[固定电话]",
            PiType::BankCard => "[银行卡号]",
            PiType::CreditCard => "[信用卡号]",
            PiType::CnUscc => "[统一社会信用代码]",
            PiType::CnPassport => "[护照号]",
            PiType::CnHkmoPermit => "[港澳通行证号]",
            PiType::CnTwPermit => "[台湾通行证号]",
            PiType::CnPlate => "[车牌号]",
            PiType::Email => "[邮箱]",
            PiType::Ipv4 | PiType::Ipv6 => "[IP地址]",
            PiType::Iban => "[IBAN]",
            PiType::Person => "[姓名]",
            PiType::Address => "[地址]",
            PiType::BirthDate => "[出生日期]",
            PiType::Date => "[日期]",
            PiType::Amount => "[金额]",
            PiType::Password => "[密码]",
            PiType::CardCvv => "[卡验证码]",
            PiType::CardExpiry => "[卡有效期]",
            PiType::Biometric => "[生物识别信息]",
            PiType::Text => "[已隐藏]",
        }
    }
}

impl std::fmt::Display for PiType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in PiType::ALL {
            assert_eq!(PiType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(PiType::parse("SSN"), None);
    }
}
