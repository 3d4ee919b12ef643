//! Signing in to the console and staying signed in: officer accounts (argon2id passwords)
//! or officer and admin API keys; a session secret in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` behind TLS) of which only a hash is stored; a CSRF token per session that
//! every form carries back; idle and absolute expiry; failed sign-ins slowed down per name.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use axum::http::HeaderMap;
use baomi_types::Action;
use data_encoding::BASE64URL_NOPAD;
use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::console::guard::Unexamined;
use crate::service::{RequestContext, ServiceError, audit, now};
use crate::store::console::{ConsoleSession, ConsoleUser};

/// The session cookie.
pub const COOKIE: &str = "baomi_console";
/// A session ends after this long without a request.
pub const IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after sign-in, whatever happens.
pub const MAX_SECS: i64 = 12 * 60 * 60;
/// How often a session's last request is recorded (the idle limit is this much coarse).
const TOUCH_EVERY_SECS: i64 = 60;
/// Failed sign-ins of one name allowed before each further attempt must wait.
const FREE_FAILURES: i64 = 3;
/// The first wait imposed, doubled with each further failure.
const FIRST_WAIT_SECS: i64 = 5;
/// The longest wait imposed after failures.
const MAX_WAIT_SECS: i64 = 300;

/// A signed-in officer or admin.
#[derive(Debug, Clone)]
pub struct Officer {
    /// As the trail names them: `console:<username>`, or the API key's id.
    pub caller: Caller,
    /// `user:<name>` or `key:<id>`; `enrol:<name>` for an account that must enrol a second
    /// factor before any other page opens.
    pub principal: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The hash of the session secret.
    id_hash: Vec<u8>,
}

/// Why a sign-in was refused (said in the page, without telling which part was wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigninRefusal {
    /// Wrong name, password or key.
    Wrong,
    /// Too many failures: try again after this many seconds.
    Wait(i64),
    /// A service key: the console is for officers.
    NotAnOfficer,
    /// The account needs a second factor and has none, and the window to enrol one with
    /// the password alone (`console.enrolment_window_hours` since it was set) has passed.
    /// Shown as [`SigninRefusal::Wrong`] is; recorded as `console.enrolment_expired`.
    EnrolmentExpired,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

/// 256 random bits from the OS, base64url (session secrets, CSRF tokens).
pub fn random_token() -> Zeroizing<String> {
    use ring::rand::SecureRandom;
    let mut bytes = Zeroizing::new([0u8; 32]);
    // The OS generator does not fail on a working system; should it, the sign-in fails on
    // the all-zero secret's duplicate rather than handing out a guessable one twice.
    if ring::rand::SystemRandom::new()
        .fill(bytes.as_mut_slice())
        .is_err()
    {
        return Zeroizing::new(String::new());
    }
    Zeroizing::new(BASE64URL_NOPAD.encode(bytes.as_slice()))
}

/// An argon2id PHC string of `password` (OWASP parameters: 19 MiB, two passes).
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Whether `password` matches a PHC string (in constant time, inside argon2).
fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A PHC string no password matches, verified against when the name is unknown so that a
/// wrong name costs the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// How long `principal` must still wait before another attempt, at `now`.
async fn wait_secs(state: &AppState, principal: &str, now: i64) -> Result<i64, ServiceError> {
    let (failures, last_at) = state.store.signin_failures(principal).await?;
    if failures < FREE_FAILURES {
        return Ok(0);
    }
    let exponent = u32::try_from((failures - FREE_FAILURES).min(16)).unwrap_or(16);
    let wait = FIRST_WAIT_SECS
        .saturating_mul(2i64.saturating_pow(exponent))
        .min(MAX_WAIT_SECS);
    Ok((last_at + wait - now).max(0))
}

/// Longest password looked at, in bytes (argon2 reads all of it).
const MAX_PASSWORD_BYTES: usize = 1024;

/// Whether `username` is one an account may have: 1 to 64 of ASCII letters, digits, `.`,
/// `_`, `-`, not dots alone.
pub fn valid_username(username: &str) -> bool {
    !username.is_empty()
        && !username.bytes().all(|b| b == b'.')
        && username.len() <= 64
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether an attempt could possibly succeed: an account's name with a password of
/// bounded length, or (no name) an API key of the right shape. Checked before any work.
fn plausible(username: &str, secret: &str) -> bool {
    let username = username.trim();
    if username.is_empty() {
        crate::auth::api_key::PresentedKey::parse(secret.trim()).is_some()
    } else {
        valid_username(username) && secret.len() <= MAX_PASSWORD_BYTES
    }
}

/// One sign-in attempt, as the form sent it.
pub struct Attempt<'a> {
    /// The account's name; empty to sign in with an API key.
    pub username: &'a str,
    /// The password, or the API key.
    pub secret: &'a str,
    /// The verified client certificate the connection came with, if any (a key bound to a
    /// certificate needs it here too).
    pub certificate: Option<&'a std::sync::Arc<baomi_types::ClientCertificate>>,
    /// The client's address, if known.
    pub address: Option<std::net::IpAddr>,
    /// A code of the account's second factor (TOTP or recovery code), if it has one.
    pub code: &'a str,
}

/// How an account's sign-in met its second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondFactor {
    /// A TOTP code, accepted once.
    Totp,
    /// A recovery code, used up.
    RecoveryCode,
    /// None is enrolled and none is required.
    NotEnrolled,
    /// None is enrolled but one is required: the session opens the enrolment page only.
    EnrolmentRequired,
}

impl SecondFactor {
    fn label(self) -> &'static str {
        match self {
            SecondFactor::Totp => "second_factor:totp",
            SecondFactor::RecoveryCode => "second_factor:recovery_code",
            SecondFactor::NotEnrolled => "second_factor:none",
            SecondFactor::EnrolmentRequired => "second_factor:enrolment_required",
        }
    }
}

/// Checks an account's second factor at sign-in, its password being right: `Err(Wrong)`
/// when it has one and `code` does not open it (a TOTP code of a step not used yet, or a
/// recovery code not used yet), `Err(EnrolmentExpired)` when it needs one, has none, and
/// its password is older than the enrolment window.
async fn check_second_factor(
    state: &AppState,
    user: &ConsoleUser,
    code: &str,
    at: i64,
) -> Result<Result<SecondFactor, SigninRefusal>, ServiceError> {
    use crate::console::second_factor as factor;
    let name = user.username.as_str();
    let enrolled = state
        .store
        .second_factor(name)
        .await?
        .filter(|f| f.confirmed_at.is_some());
    let Some(enrolled) = enrolled else {
        let required = match Role::parse(&user.role) {
            Some(Role::Officer) => state.limits.officers_need_second_factor,
            _ => true,
        };
        if !required {
            return Ok(Ok(SecondFactor::NotEnrolled));
        }
        let window = i64::from(state.limits.enrolment_window_hours) * 3600;
        return Ok(if at.saturating_sub(user.password_set_at) > window {
            Err(SigninRefusal::EnrolmentExpired)
        } else {
            Ok(SecondFactor::EnrolmentRequired)
        });
    };
    if factor::is_recovery_code(code) {
        let Some(left) = factor::use_recovery_code(&enrolled.recovery_hashes, code) else {
            return Ok(Err(SigninRefusal::Wrong));
        };
        let used = state
            .store
            .use_recovery_code(name, &enrolled.recovery_hashes, &left)
            .await?;
        return Ok(if used {
            Ok(SecondFactor::RecoveryCode)
        } else {
            Err(SigninRefusal::Wrong)
        });
    }
    let secret = state.second_factor.open(name, &enrolled.secret_sealed)?;
    match factor::code_step(&secret, name, code, at) {
        Some(step) if state.store.use_totp_step(name, step).await? => Ok(Ok(SecondFactor::Totp)),
        _ => Ok(Err(SigninRefusal::Wrong)),
    }
}

/// Signs in with a username and password, or (when `username` is empty) with an API key in
/// `secret`. An attempt that cannot succeed (malformed, or a name still waiting out its
/// failures) is refused without being looked at and counted by the sign-in guard; every
/// other attempt is an audit event. On success returns the new session's secret (for the
/// cookie).
pub async fn sign_in(
    state: &AppState,
    ctx: &RequestContext,
    attempt: Attempt<'_>,
) -> Result<Result<Zeroizing<String>, SigninRefusal>, ServiceError> {
    let Attempt {
        username,
        secret,
        certificate,
        address,
        code,
    } = attempt;
    if !plausible(username, secret) {
        state.signin_guard.count(address, Unexamined::Malformed);
        return Ok(Err(SigninRefusal::Wrong));
    }
    let at = now();
    let by_key = username.trim().is_empty();
    let claimed = if by_key {
        // The key's id, so that guessing one key's secret is slowed without naming it.
        let id = secret.trim().split('_').nth(1).unwrap_or("?");
        format!("key:{id}")
    } else {
        format!("user:{}", username.trim())
    };
    let refused = |reason: SigninRefusal, code: &str| {
        let caller = Caller::Key {
            id: claimed.clone(),
            role: Role::Officer,
            grants: Default::default(),
            certificate: certificate.cloned(),
        };
        let event = audit::denied(
            audit::about(&caller, ctx, Action::ConsoleSignin, &claimed),
            code,
        );
        (reason, event)
    };
    let wait = wait_secs(state, &claimed, at).await?;
    if wait > 0 {
        state.signin_guard.count(address, Unexamined::NameWaiting);
        return Ok(Err(SigninRefusal::Wait(wait)));
    }
    let outcome = if by_key {
        match crate::service::authenticate::authenticate(
            state,
            Some(&format!("Bearer {}", secret.trim())),
            certificate,
            crate::service::authenticate::Channel::Console,
        )
        .await
        {
            Ok(
                caller @ Caller::Key {
                    role: Role::Officer | Role::Admin,
                    ..
                },
            ) => Ok((caller, None)),
            Ok(_) => Err(SigninRefusal::NotAnOfficer),
            Err(ServiceError::Unauthenticated(_)) => Err(SigninRefusal::Wrong),
            Err(e) => return Err(e),
        }
    } else {
        let user = state.store.console_user(username.trim()).await?;
        let phc = user
            .as_ref()
            .map_or(decoy_hash(), |u| u.password_hash.as_str())
            .to_owned();
        let password = Zeroizing::new(secret.to_owned());
        let matches = state
            .signin_guard
            .password_check(move || password_matches(&password, &phc))
            .await?;
        match user {
            // A right password without the second factor it needs is as wrong as a wrong
            // password: the page does not tell a guesser which part was right.
            Some(user) if matches => match check_second_factor(state, &user, code, at).await? {
                Ok(factor) => Ok((
                    user_caller(&user.username, &user.role, &user.purposes),
                    Some(factor),
                )),
                Err(refusal) => Err(refusal),
            },
            _ => Err(SigninRefusal::Wrong),
        }
    };
    let (caller, factor) = match outcome {
        Ok(signed_in) => signed_in,
        Err(reason) => {
            // An expired enrolment counts as a failure too: it is refused only once the
            // password is right, so it must not become a free way to test passwords.
            if matches!(
                reason,
                SigninRefusal::Wrong | SigninRefusal::EnrolmentExpired
            ) {
                state.store.record_signin_failure(&claimed, at).await?;
            }
            let code = match reason {
                SigninRefusal::NotAnOfficer => "console.not_an_officer",
                SigninRefusal::EnrolmentExpired => "console.enrolment_expired",
                _ => "console.wrong_credentials",
            };
            let (reason, event) = refused(reason, code);
            audit::append(state.audit.as_ref(), &[event]).await?;
            return Ok(Err(reason));
        }
    };
    state.store.clear_signin_failures(&claimed).await?;
    let Caller::Key { role, grants, .. } = &caller else {
        return Err(ServiceError::Internal("an officer is a key".to_owned()));
    };
    let session_secret = random_token();
    if session_secret.is_empty() {
        return Err(ServiceError::Internal(
            "the system random number generator failed".into(),
        ));
    }
    let principal = match (factor, claimed.strip_prefix("user:")) {
        (Some(SecondFactor::EnrolmentRequired), Some(name)) => format!("enrol:{name}"),
        _ => claimed.clone(),
    };
    let session = ConsoleSession {
        id_hash: sha256(session_secret.as_bytes()),
        principal,
        role: role.as_str().to_owned(),
        purposes: grants
            .purpose_ids()
            .map(|p| p.as_str().to_owned())
            .collect(),
        csrf: random_token().to_string(),
        created_at: at,
        seen_at: at,
        expires_at: at + MAX_SECS,
    };
    state.store.create_session(&session).await?;
    let mut event = audit::about(&caller, ctx, Action::ConsoleSignin, &claimed);
    event.fields = factor.map(|f| f.label().to_owned()).into_iter().collect();
    audit::append(state.audit.as_ref(), &[event]).await?;
    Ok(Ok(session_secret))
}

/// A console account as the caller it acts as: `console:<name>`, its role and purposes,
/// granted the way an officer key's are: the masked view only, no permission, its role as
/// its masking role (a purpose stored by an earlier release that no longer parses is
/// dropped, not widened).
fn user_caller(username: &str, role: &str, purposes: &[String]) -> Caller {
    let role = Role::parse(role).unwrap_or(Role::Officer);
    let purposes: Vec<baomi_consent::PurposeId> = purposes
        .iter()
        .filter_map(|p| baomi_consent::PurposeId::parse(p).ok())
        .collect();
    Caller::Key {
        id: format!("console:{username}"),
        role,
        grants: std::sync::Arc::new(crate::auth::grant::Grants::legacy(role, &purposes)),
        certificate: None,
    }
}

/// The caller a session acts as now, or `None` if its key was revoked since sign-in. A
/// console account's session carries the account's role and purposes: saving or removing
/// the account deletes its sessions in the same transaction, so they are never stale.
async fn current_caller(
    state: &AppState,
    session: &ConsoleSession,
) -> Result<Option<Caller>, ServiceError> {
    match session.principal.split_once(':') {
        Some(("user" | "enrol", name)) => {
            Ok(Some(user_caller(name, &session.role, &session.purposes)))
        }
        Some(("key", id)) => {
            let key = state.key_records.get(id, state.store.key(id)).await?;
            Ok(key
                .filter(|k| k.revoked_at.is_none() && matches!(k.role, Role::Officer | Role::Admin))
                .map(|k| Caller::Key {
                    id: k.id,
                    role: k.role,
                    grants: std::sync::Arc::new(k.grants),
                    certificate: None,
                }))
        }
        _ => Ok(None),
    }
}

/// The officer whose live session the request's cookie names, if any (and records the
/// request, which keeps the session alive). A session ends early when its account is
/// removed or its key revoked.
pub async fn officer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Officer>, ServiceError> {
    let Some(secret) = super::cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let id_hash = sha256(secret.as_bytes());
    let Some(session) = state.store.session(&id_hash).await? else {
        return Ok(None);
    };
    let at = now();
    let expired = at >= session.expires_at || at - session.seen_at >= IDLE_SECS;
    let caller = if expired {
        None
    } else {
        current_caller(state, &session).await?
    };
    let Some(caller) = caller else {
        state.store.delete_session(&id_hash, at).await?;
        return Ok(None);
    };
    // One write a minute at most keeps the session alive: a page is not a write.
    if at - session.seen_at >= TOUCH_EVERY_SECS {
        state.store.touch_session(&id_hash, at).await?;
    }
    Ok(Some(Officer {
        caller,
        principal: session.principal,
        csrf: session.csrf,
        id_hash,
    }))
}

impl Officer {
    /// The console account signed in, if the session is an account's (not a key's).
    pub fn account(&self) -> Option<&str> {
        self.principal
            .strip_prefix("user:")
            .or_else(|| self.principal.strip_prefix("enrol:"))
    }

    /// Whether the account must enrol a second factor before any other page opens.
    pub fn must_enrol(&self) -> bool {
        self.principal.starts_with("enrol:")
    }

    /// Whether this is an admin (who manages console accounts).
    pub fn is_admin(&self) -> bool {
        matches!(
            self.caller,
            Caller::Key {
                role: Role::Admin,
                ..
            }
        )
    }

    /// Whether a form's CSRF token is this session's (in constant time).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// Ends the session (an audit event).
    pub async fn sign_out(
        &self,
        state: &AppState,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        state.store.delete_session(&self.id_hash, now()).await?;
        let event = audit::about(&self.caller, ctx, Action::ConsoleSignout, &self.principal);
        audit::append(state.audit.as_ref(), &[event]).await
    }
}

/// The `Set-Cookie` value of a new session: `Secure` when the request came over TLS (a
/// proxy in front says so with `X-Forwarded-Proto: https`).
pub fn session_cookie(secret: &str, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!(
        "{COOKIE}={secret}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={MAX_SECS}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Creates or updates a console account (`baomi console add-user`, or an admin in the
/// console), recorded in the trail by `event`; the account's open sessions end. An officer's
/// `purposes` are those whose subjects' consent histories it may open; an admin opens any and
/// carries none.
pub async fn put_user(
    store: &dyn crate::store::Store,
    username: &str,
    password: &str,
    role: Role,
    purposes: &[String],
    mut event: baomi_types::AccessEvent,
) -> Result<(), ServiceError> {
    if !valid_username(username) {
        return Err(ServiceError::invalid(
            "username",
            "1 to 64 of ASCII letters, digits, . _ - (not dots alone)",
        ));
    }
    if password.chars().count() < 12 {
        return Err(ServiceError::invalid("password", "at least 12 characters"));
    }
    if !matches!(role, Role::Officer | Role::Admin) {
        return Err(ServiceError::invalid("role", "officer or admin"));
    }
    let mut purposes = purposes
        .iter()
        .map(|p| baomi_consent::PurposeId::parse(p).map(|p| p.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::invalid("purposes", e))?;
    purposes.sort();
    purposes.dedup();
    if role == Role::Admin && !purposes.is_empty() {
        return Err(ServiceError::invalid(
            "purposes",
            "an admin opens every purpose and carries none",
        ));
    }
    let password = Zeroizing::new(password.to_owned());
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))??;
    let user = ConsoleUser {
        username: username.to_owned(),
        password_hash,
        role: role.as_str().to_owned(),
        purposes,
        created_at: now(),
        password_set_at: now(),
    };
    // What changed, never the password.
    event.fields = vec![
        "op:put".to_owned(),
        format!("role:{}", user.role),
        format!("purposes:{}", user.purposes.join(",")),
    ];
    store.put_console_user(&user, &[event]).await?;
    Ok(())
}

/// The audit event of a change to the account `username`, by `caller`.
pub fn account_event(
    caller: &Caller,
    ctx: &RequestContext,
    username: &str,
) -> baomi_types::AccessEvent {
    audit::about(
        caller,
        ctx,
        Action::ConsoleUserChange,
        &format!("user:{username}"),
    )
}
