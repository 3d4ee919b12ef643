//! The stable error codes a client can receive, in a problem response or per item of a
//! batch answer: declared once here and listed in the docs (`docs/api.md`; the witness
//! server's, `witness.*`, in `docs/audit.md`), which a test keeps the same. The HTTP status is not the code's: it comes from the kind of error
//! ([`crate::service::ServiceError`]), so one code may answer with two (a read refused by
//! consent is 403, a grant missing a separate consent is 422, both
//! `consent.separate_consent_missing`).

/// Declares [`ErrorCode`] from `Variant => "code"` lines, with [`ErrorCode::ALL`] and
/// [`ErrorCode::as_str`].
macro_rules! error_codes {
    ($($variant:ident => $code:literal,)+) => {
        /// A stable error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as clients see it, e.g. `auth.missing`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    RequestHeadersTooLarge => "request.headers_too_large",
    RequestInvalidBody => "request.invalid_body",
    RequestInvalidField => "request.invalid_field",
    RequestInvalidOperator => "request.invalid_operator",
    RequestInvalidOperatorRole => "request.invalid_operator_role",
    RequestInvalidPath => "request.invalid_path",
    RequestInvalidQuery => "request.invalid_query",
    RequestInvalidRequestId => "request.invalid_request_id",
    RequestMalformedJson => "request.malformed_json",
    RequestMethodNotAllowed => "request.method_not_allowed",
    RequestNotFound => "request.not_found",
    RequestTimeout => "request.timeout",
    RequestTooLarge => "request.too_large",
    RequestUnreadableBody => "request.unreadable_body",
    RequestUnsupportedMediaType => "request.unsupported_media_type",
    RequestUriTooLong => "request.uri_too_long",
    AuthClientCertificateRequired => "auth.client_certificate_required",
    AuthFieldNotGranted => "auth.field_not_granted",
    AuthForbidden => "auth.forbidden",
    AuthInvalidKey => "auth.invalid_key",
    AuthInvalidToken => "auth.invalid_token",
    AuthIssuerPurposeNotAllowed => "auth.issuer_purpose_not_allowed",
    AuthMalformed => "auth.malformed",
    AuthMaskingRoleNotGranted => "auth.masking_role_not_granted",
    AuthMissing => "auth.missing",
    AuthPermissionNotGranted => "auth.permission_not_granted",
    AuthPurposeNotAllowed => "auth.purpose_not_allowed",
    AuthPurposeNotDeclared => "auth.purpose_not_declared",
    AuthTokenExpired => "auth.token_expired",
    AuthViewNotGranted => "auth.view_not_granted",
    KeysLastAdmin => "keys.last_admin",
    KeysNoQuotaRaise => "keys.no_quota_raise",
    KeysNotFound => "keys.not_found",
    KeysPurposeNotHeld => "keys.purpose_not_held",
    KeysUndeclaredPurpose => "keys.undeclared_purpose",
    VaultDecryptFailed => "vault.decrypt_failed",
    VaultHsmUnavailable => "vault.hsm_unavailable",
    VaultInvalidField => "vault.invalid_field",
    VaultInvalidKeyring => "vault.invalid_keyring",
    VaultInvalidSubject => "vault.invalid_subject",
    VaultInvalidValue => "vault.invalid_value",
    VaultKeyringExists => "vault.keyring_exists",
    VaultMalformedCiphertext => "vault.malformed_ciphertext",
    VaultNotErased => "vault.not_erased",
    VaultReencryptionPending => "vault.reencryption_pending",
    VaultRotationConflict => "vault.rotation_conflict",
    VaultSubjectErased => "vault.subject_erased",
    VaultUnknownKeyring => "vault.unknown_keyring",
    VaultUnknownSubject => "vault.unknown_subject",
    VaultUnknownToken => "vault.unknown_token",
    VaultUnknownVersion => "vault.unknown_version",
    VaultValueTooLong => "vault.value_too_long",
    VaultVersionRetired => "vault.version_retired",
    ConsentExpired => "consent.expired",
    ConsentGuardianRequired => "consent.guardian_required",
    ConsentInvalidGrant => "consent.invalid_grant",
    ConsentInvalidNotice => "consent.invalid_notice",
    ConsentInvalidPurpose => "consent.invalid_purpose",
    ConsentNotActive => "consent.not_active",
    ConsentNotGiven => "consent.not_given",
    ConsentRenewalRequired => "consent.renewal_required",
    ConsentSeparateConsentMissing => "consent.separate_consent_missing",
    ConsentUnboundCiphertext => "consent.unbound_ciphertext",
    ConsentUnknownNotice => "consent.unknown_notice",
    ConsentUnknownPurpose => "consent.unknown_purpose",
    ConsentUnknownReceipt => "consent.unknown_receipt",
    ConsentWithdrawn => "consent.withdrawn",
    RequestsClosed => "requests.closed",
    RequestsDuplicate => "requests.duplicate",
    RequestsNotFound => "requests.not_found",
    RequestsNotOpen => "requests.not_open",
    AuditAlertAcknowledged => "audit.alert_acknowledged",
    AuditEventPruned => "audit.event_pruned",
    AuditNoAlert => "audit.no_alert",
    AuditNoCheckpoint => "audit.no_checkpoint",
    AuditNotExtended => "audit.not_extended",
    AuditNotInTree => "audit.not_in_tree",
    AuditNotYetSigned => "audit.not_yet_signed",
    AuditRotationInProgress => "audit.rotation_in_progress",
    AuditSigningKeysFromFiles => "audit.signing_keys_from_files",
    QuotaExceeded => "quota.exceeded",
    QuotaRateLimited => "quota.rate_limited",
    MaskingInvalidPolicy => "masking.invalid_policy",
    MaskingInvalidPolicyName => "masking.invalid_policy_name",
    MaskingNotApplicable => "masking.not_applicable",
    MaskingOperatorUnavailable => "masking.operator_unavailable",
    MaskingSubjectRequired => "masking.subject_required",
    MaskingTooDeep => "masking.too_deep",
    MaskingUnknownPolicy => "masking.unknown_policy",
    MaskingVaultRefused => "masking.vault_refused",
    ServiceDatabaseUnavailable => "service.database_unavailable",
    ServiceNotReady => "service.not_ready",
    ConsoleBusy => "console.busy",
    ConsoleNoAccount => "console.no_account",
    ConsoleSecondFactorExists => "console.second_factor_exists",
    WitnessFork => "witness.fork",
    WitnessInconsistent => "witness.inconsistent",
    WitnessMalformedRequest => "witness.malformed_request",
    WitnessNotSignedByTheLog => "witness.not_signed_by_the_log",
    WitnessOldSizeTooLarge => "witness.old_size_too_large",
    WitnessStaleOldSize => "witness.stale_old_size",
    WitnessStateUnavailable => "witness.state_unavailable",
    WitnessUnknownLog => "witness.unknown_log",
    Internal => "internal",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{text}"
            );
        }
    }
}

#[cfg(test)]
mod documented {
    use std::collections::BTreeSet;

    use super::ErrorCode;

    const API: &str = include_str!("../../docs/api.md");
    const AUDIT: &str = include_str!("../../docs/audit.md");

    /// The `namespace.name` codes quoted in `text`.
    fn quoted_codes(text: &str) -> BTreeSet<&str> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| {
                let mut parts = t.split('.');
                matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
                    if !a.is_empty() && !b.is_empty()
                        && t.bytes().all(|c| c.is_ascii_lowercase() || c == b'.' || c == b'_'))
            })
            .collect()
    }

    /// The table of error codes in `docs/api.md`: the rows after its `| status | code | when |`
    /// heading.
    fn table() -> &'static str {
        let start = API.find("| status | code | when |").unwrap();
        let rest = &API[start..];
        let end = rest.find("\n\n").unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn every_code_is_documented() {
        for code in ErrorCode::ALL {
            let text = code.as_str();
            let page = if text.starts_with("witness.") {
                AUDIT
            } else {
                table()
            };
            assert!(
                page.contains(&format!("`{text}`")),
                "{text} is not in the table of docs/api.md (or, for witness codes, docs/audit.md)"
            );
        }
    }

    #[test]
    fn every_documented_code_is_declared() {
        let declared: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for quoted in quoted_codes(table()) {
            assert!(
                declared.contains(quoted),
                "docs/api.md lists {quoted}, which no error has"
            );
        }
    }
}
