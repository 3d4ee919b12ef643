//! The console's pages and forms. Every handler of a page with trail, alert, consent or
//! request data appends an `audit_read` event (target `console:<page>`) before it answers;
//! every form checks the session's CSRF token first.

pub mod accounts;
pub mod alerts;
pub mod consents;
pub mod dashboard;
pub mod enrolment;
pub mod requests;
pub mod signin;
pub mod trail;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::session::{self, Officer};
use super::{Lang, page};
use crate::app::AppState;
use crate::service::{RequestContext, ServiceError, audit};

/// The checkpoint verifier keys the console checks with: those pinned in the
/// configuration (`console.verifier_keys`), or else the server's current ones.
pub(crate) struct ConsoleKeys {
    /// (algorithm, verifier key).
    pub keys: Vec<(&'static str, String)>,
    /// Whether they are pinned in the configuration.
    pub pinned: bool,
}

impl ConsoleKeys {
    /// The keys of `state`.
    pub(crate) fn of(state: &AppState) -> Self {
        let pinned = &state.limits.console_verifier_keys;
        if pinned.is_empty() {
            Self {
                keys: state
                    .audit_reads
                    .verifier_keys()
                    .into_iter()
                    .map(|(alg, key)| (alg.as_str(), key))
                    .collect(),
                pinned: false,
            }
        } else {
            Self {
                keys: pinned
                    .iter()
                    .filter_map(|key| {
                        let alg = baomi_audit::checkpoint::verifier_key_algorithm(key).ok()?;
                        Some((alg.as_str(), key.clone()))
                    })
                    .collect(),
                pinned: true,
            }
        }
    }

    /// Whether `note` verifies: under one pinned key (several are pinned across a
    /// rotation), or under every current key of the server.
    pub(crate) fn verify(&self, note: &str) -> bool {
        let verifies =
            |(_, key): &(&str, String)| baomi_audit::checkpoint::verify(note, key).is_ok();
        if self.pinned {
            self.keys.iter().any(verifies)
        } else {
            !self.keys.is_empty() && self.keys.iter().all(verifies)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    /// `?lang=` of the URL, else the language cookie, else Chinese.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let asked = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "lang")
            .map(|(_, value)| value.into_owned());
        Ok(Lang::of(&parts.headers, asked.as_deref()))
    }
}

/// A request to a page that needs a session: its language and the signed-in officer. Without
/// a live session it is a redirect to the sign-in page; an account that must enrol a second
/// factor first is sent to the enrolment page.
pub struct Visit {
    lang: Lang,
    officer: Officer,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let AnyVisit { lang, officer } = AnyVisit::from_request_parts(parts, state).await?;
        if officer.must_enrol() {
            return Err(Redirect::to("/console/second-factor").into_response());
        }
        Ok(Visit { lang, officer })
    }
}

/// A request with any live session, one that must enrol a second factor first included
/// (the enrolment page, signing out).
pub struct AnyVisit {
    lang: Lang,
    officer: Officer,
}

impl FromRequestParts<AppState> for AnyVisit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(lang) = Lang::from_request_parts(parts, state).await;
        match session::officer(state, &parts.headers).await {
            Ok(Some(officer)) => Ok(AnyVisit { lang, officer }),
            Ok(None) => Err(Redirect::to("/console/signin").into_response()),
            Err(e) => Err(service_error(lang, e)),
        }
    }
}

/// An error as a page (the console never answers with JSON).
fn error_page(lang: Lang, status: StatusCode, message: &str) -> Response {
    let mut r = page(
        lang,
        lang.t("出错了", "Something went wrong"),
        None,
        html! { p.error id="error" { (message) } p { a href="/console" { (lang.t("返回", "Back")) } } },
    );
    *r.status_mut() = status;
    r
}

fn service_error(lang: Lang, e: ServiceError) -> Response {
    match e {
        ServiceError::Invalid { field, reason } => error_page(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{field}: {reason}"),
        ),
        ServiceError::NotFound { .. } => error_page(
            lang,
            StatusCode::NOT_FOUND,
            lang.t("没有找到。", "Not found."),
        ),
        ServiceError::Conflict { detail, .. } => error_page(lang, StatusCode::CONFLICT, &detail),
        ServiceError::Forbidden(_) => error_page(
            lang,
            StatusCode::FORBIDDEN,
            lang.t("无权访问。", "Not allowed."),
        ),
        ServiceError::PurposeNotAllowed => error_page(
            lang,
            StatusCode::FORBIDDEN,
            lang.t(
                "无权访问：您的账号未被授予该目的。",
                "Not allowed: your account does not carry this purpose.",
            ),
        ),
        ServiceError::Rejected { detail, .. } => {
            error_page(lang, StatusCode::UNPROCESSABLE_ENTITY, &detail)
        }
        ServiceError::Busy { .. } => error_page(
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            lang.t(
                "服务繁忙，请几秒后重试。",
                "The service is busy; retry in a few seconds.",
            ),
        ),
        other => {
            tracing::error!(error = %other, "console request failed");
            error_page(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t(
                    "服务暂时不可用，请稍后重试。",
                    "The service failed; retry later.",
                ),
            )
        }
    }
}

/// Records the view of a page in the trail (fail closed: no record, no page).
async fn viewed(
    state: &AppState,
    officer: &Officer,
    ctx: &RequestContext,
    what: &str,
) -> Result<(), ServiceError> {
    audit::audited_read(state, &officer.caller, ctx, &format!("console:{what}")).await
}

/// Refuses a form whose CSRF token is not the session's.
fn csrf_refused(lang: Lang) -> Response {
    error_page(
        lang,
        StatusCode::FORBIDDEN,
        lang.t(
            "表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。",
            "The form is stale (missing or wrong CSRF token); reload the page and retry.",
        ),
    )
}

fn time(lang: Lang, ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let t = t.to_offset(offset);
    let _ = lang;
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +08",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn day_label(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| format!("{:02}-{:02}", u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// A text field's value, trimmed, if not empty.
fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    /// The session's token.
    csrf: Option<String>,
}
