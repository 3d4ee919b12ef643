//! Enrolling a console account's second factor: a QR code (and the secret in base32) for an
//! authenticator app, a first code to confirm it, and ten recovery codes shown once. An
//! account that must have one (admins always, officers when configured) sees no other page
//! until it has; it then signs in again, with a code.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{PreEscaped, html};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{AnyVisit, csrf_refused, error_page, service_error, time, viewed};
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::second_factor as factor;
use crate::console::session::{self, Officer};
use crate::console::{Lang, page};
use crate::service::{ErrorCode, RequestContext, ServiceError, audit, now};

fn title(lang: Lang) -> &'static str {
    lang.t("双重验证", "Second factor")
}

/// The page that says API keys have no second factor.
fn keys_have_none(lang: Lang) -> Response {
    error_page(
        lang,
        StatusCode::NOT_FOUND,
        lang.t(
            "API 密钥没有双重验证：请将密钥绑定到客户端证书。",
            "API keys have no second factor: bind the key to a client certificate instead.",
        ),
    )
}

/// `GET /console/second-factor`: the account's second factor, or a new enrolment (each
/// visit before confirmation starts a new secret).
pub async fn enrol_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    AnyVisit { lang, officer }: AnyVisit,
) -> Response {
    let Some(name) = officer.account().map(str::to_owned) else {
        return keys_have_none(lang);
    };
    match enrol_body(&state, &officer, &ctx, lang, &name).await {
        Ok(body) => page(lang, title(lang), Some(&officer), body),
        Err(e) => service_error(lang, e),
    }
}

async fn enrol_body(
    state: &AppState,
    officer: &Officer,
    ctx: &RequestContext,
    lang: Lang,
    name: &str,
) -> Result<maud::Markup, ServiceError> {
    viewed(state, officer, ctx, "second_factor").await?;
    let existing = state.store.second_factor(name).await?;
    if let Some(enrolled) = existing.filter(|f| f.confirmed_at.is_some()) {
        return Ok(html! {
            p id="second-factor-on" {
                (lang.t("双重验证已启用，启用时间：", "The second factor is on, since "))
                (time(lang, enrolled.confirmed_at.unwrap_or(0) * 1000))
            }
            p id="recovery-left" {
                (lang.t("剩余恢复码：", "Recovery codes left: ")) (enrolled.recovery_hashes.len())
            }
        });
    }
    let secret = factor::new_secret()?;
    let sealed = state.second_factor.seal(name, &secret)?;
    if !state.store.begin_second_factor(name, &sealed).await? {
        return Err(ServiceError::Conflict {
            code: ErrorCode::ConsoleSecondFactorExists,
            detail: "this account's second factor was enrolled meanwhile".to_owned(),
        });
    }
    let enrolment = factor::enrolment(&secret, name)?;
    let qr = factor::qr_svg(&enrolment.uri)?;
    Ok(html! {
        @if officer.must_enrol() {
            p.error id="enrolment-required" {
                (lang.t("您的账号必须启用双重验证后才能使用控制台。",
                        "Your account needs a second factor before the console opens."))
            }
        }
        ol {
            li { (lang.t("用身份验证器应用（如 Google Authenticator、Microsoft Authenticator、FreeOTP）扫描二维码：",
                         "Scan the QR code with an authenticator app (Google Authenticator, Microsoft Authenticator, FreeOTP, …):")) }
        }
        figure id="totp-qr" { (PreEscaped(qr)) }
        p { (lang.t("或手动输入密钥：", "Or type in the key: ")) code id="totp-secret" { (enrolment.secret_base32.as_str()) } }
        form.card method="post" action="/console/second-factor" id="confirm-second-factor" {
            input type="hidden" name="csrf" value=(officer.csrf);
            label { (lang.t("应用显示的 6 位验证码", "The 6-digit code the app shows")) input type="text" name="code" id="code" inputmode="numeric" autocomplete="one-time-code"; }
            button type="submit" id="confirm-submit" { (lang.t("启用", "Turn on")) }
        }
    })
}

/// The confirmation form.
#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: Option<String>,
    #[serde(default)]
    code: Zeroizing<String>,
}

/// `POST /console/second-factor`: a first code confirms the enrolment; the recovery codes
/// are shown this once. A session that had to enrol ends here: its account signs in again,
/// with a code.
pub async fn confirm(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    AnyVisit { lang, officer }: AnyVisit,
    Form(form): Form<ConfirmForm>,
) -> Response {
    if !officer.csrf_ok(form.csrf.as_deref().unwrap_or("")) {
        return csrf_refused(lang);
    }
    let Some(name) = officer.account().map(str::to_owned) else {
        return keys_have_none(lang);
    };
    let codes = match confirm_enrolment(&state, &officer, &ctx, &name, &form.code).await {
        Ok(Some(codes)) => codes,
        Ok(None) => {
            return error_page(
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                lang.t(
                    "验证码不正确或已过期：请重新打开双重验证页面，扫描新的二维码。",
                    "Wrong or expired code: open the second-factor page again and scan the new QR code.",
                ),
            );
        }
        Err(e) => return service_error(lang, e),
    };
    // The enrolment ended the account's sessions opened to enrol, this one among them.
    let ended = officer.must_enrol();
    let body = html! {
        p id="second-factor-on" { (lang.t("双重验证已启用。", "The second factor is on.")) }
        p { (lang.t("请将以下恢复码保存在安全的地方。每个恢复码只能使用一次，且只显示这一次：",
                    "Keep these recovery codes somewhere safe. Each opens one sign-in, and they are shown only this once:")) }
        ul id="recovery-codes" { @for c in &codes { li { code { (c.as_str()) } } } }
        @if ended {
            p { a href="/console/signin" id="signin-again" { (lang.t("请使用验证码重新登录", "Sign in again, with a code")) } }
        } @else {
            p { a href="/console" { (lang.t("返回", "Back")) } }
        }
    };
    let mut r = page(lang, title(lang), (!ended).then_some(&officer), body);
    if ended && let Ok(v) = HeaderValue::from_str(&session::cleared_cookie()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Confirms `name`'s pending enrolment with `code`; the recovery codes, or `None` when the
/// code is not right for the pending secret (or none is pending).
async fn confirm_enrolment(
    state: &AppState,
    officer: &Officer,
    ctx: &RequestContext,
    name: &str,
    code: &str,
) -> Result<Option<Vec<Zeroizing<String>>>, ServiceError> {
    let Some(pending) = state
        .store
        .second_factor(name)
        .await?
        .filter(|f| f.confirmed_at.is_none())
    else {
        return Ok(None);
    };
    let secret = state.second_factor.open(name, &pending.secret_sealed)?;
    let at = now();
    let Some(step) = factor::code_step(&secret, name, code, at) else {
        return Ok(None);
    };
    let (codes, hashes) = factor::new_recovery_codes()?;
    let mut event = session::account_event(&officer.caller, ctx, name);
    event.fields = vec!["second_factor:enrolled".to_owned()];
    if !state
        .store
        .confirm_second_factor(name, step, &hashes, at, &[event])
        .await?
    {
        return Ok(None);
    }
    audit::settle(state.audit.as_ref()).await;
    Ok(Some(codes))
}
