//! Signing in and out.

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;

use crate::console::form::Form;
use maud::html;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{AnyVisit, CsrfForm, csrf_refused, service_error};
use crate::app::AppState;
use crate::auth::client_certificate::VerifiedCertificate;
use crate::console::session::{self, SigninRefusal};
use crate::console::{Lang, page};
use crate::service::RequestContext;

/// The pre-session cookie that makes the sign-in form's CSRF token a double submit.
const PRE_COOKIE: &str = "baomi_console_pre";

fn signin_page(lang: Lang, message: Option<&str>) -> Response {
    let token = session::random_token();
    let mut r = page(
        lang,
        lang.t("登录", "Sign in"),
        None,
        html! {
            @if let Some(m) = message { p.error id="signin-error" { (m) } }
            form.card method="post" action="/console/signin" id="signin" {
                input type="hidden" name="csrf" value=(token.as_str());
                label { (lang.t("用户名", "Username")) input type="text" name="username" id="username" autocomplete="username"; }
                label { (lang.t("密码", "Password")) input type="password" name="password" id="password" autocomplete="current-password"; }
                label { (lang.t("动态验证码或恢复码（已启用时）", "Authentication code or recovery code (once enrolled)")) input type="text" name="code" id="code" inputmode="numeric" autocomplete="one-time-code"; }
                p.hint { (lang.t("或使用隐私官 API 密钥（用户名留空）：", "Or an officer API key (leave the username empty):")) }
                label { (lang.t("API 密钥", "API key")) input type="password" name="api_key" id="api_key" autocomplete="off"; }
                button type="submit" id="signin-submit" { (lang.t("登录", "Sign in")) }
            }
        },
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{PRE_COOKIE}={}; Path=/console/signin; HttpOnly; SameSite=Strict; Max-Age=3600",
        token.as_str()
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `GET /console/signin`.
pub async fn signin_form(lang: Lang) -> Response {
    signin_page(lang, None)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SigninForm {
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    api_key: Zeroizing<String>,
    #[serde(default)]
    code: Zeroizing<String>,
}

/// `POST /console/signin`.
pub async fn signin(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    lang: Lang,
    headers: HeaderMap,
    certificate: Option<Extension<VerifiedCertificate>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<SigninForm>,
) -> Response {
    let double_submit = match (
        form.csrf.as_deref(),
        crate::console::cookie(&headers, PRE_COOKIE),
    ) {
        (Some(sent), Some(cookie)) => {
            subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), cookie.as_bytes()).into()
        }
        _ => false,
    };
    if !double_submit {
        return csrf_refused(lang);
    }
    // Before anything else is looked at: a flood is refused at the cost of a counter.
    let address = client.map(|Extension(ConnectInfo(peer))| peer.ip());
    if let Err(wait) = state.signin_guard.admit(address) {
        let message = match lang {
            Lang::Zh => format!("登录尝试过于频繁，请 {wait} 秒后再试。"),
            Lang::En => format!("Too many sign-in attempts; try again in {wait} s."),
        };
        return too_many(signin_page(lang, Some(&message)), wait);
    }
    let (username, secret) = if form.username.trim().is_empty() {
        ("", form.api_key.as_str())
    } else {
        (form.username.as_str(), form.password.as_str())
    };
    let certificate = certificate.map(|Extension(c)| c.0);
    let attempt = session::Attempt {
        username,
        secret,
        certificate: certificate.as_ref(),
        address,
        code: form.code.as_str(),
    };
    match session::sign_in(&state, &ctx, attempt).await {
        Ok(Ok(secret)) => {
            let mut r = Redirect::to("/console").into_response();
            if let Ok(v) = HeaderValue::from_str(&session::session_cookie(&secret, &headers)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Err(refusal)) => {
            let message = match refusal {
                // An account that missed its enrolment window is told what a wrong
                // password is told: anything else would confirm the password to whoever
                // typed it. The trail says `console.enrolment_expired`.
                SigninRefusal::Wrong | SigninRefusal::EnrolmentExpired => lang
                    .t(
                        "用户名、密码或密钥不正确。",
                        "Wrong username, password or key.",
                    )
                    .to_owned(),
                SigninRefusal::Wait(secs) => match lang {
                    Lang::Zh => format!("失败次数过多，请 {secs} 秒后再试。"),
                    Lang::En => format!("Too many failed attempts; try again in {secs} s."),
                },
                SigninRefusal::NotAnOfficer => lang
                    .t(
                        "服务密钥不能登录控制台：控制台只供隐私官和管理员使用。",
                        "A service key cannot open the console: it is for officers and admins.",
                    )
                    .to_owned(),
            };
            let mut r = signin_page(lang, Some(&message));
            match refusal {
                SigninRefusal::Wait(secs) => {
                    r = too_many(r, u64::try_from(secs).unwrap_or(1));
                }
                SigninRefusal::NotAnOfficer => *r.status_mut() = StatusCode::FORBIDDEN,
                SigninRefusal::Wrong | SigninRefusal::EnrolmentExpired => {
                    *r.status_mut() = StatusCode::UNAUTHORIZED;
                }
            }
            r
        }
        Err(e) => service_error(lang, e),
    }
}

/// `response` as a 429 that says when to try again.
fn too_many(mut response: Response, retry_after_secs: u64) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// `POST /console/signout`.
pub async fn signout(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    AnyVisit { lang, officer }: AnyVisit,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !officer.csrf_ok(form.csrf.as_deref().unwrap_or("")) {
        return csrf_refused(lang);
    }
    if let Err(e) = officer.sign_out(&state, &ctx).await {
        return service_error(lang, e);
    }
    let mut r = Redirect::to("/console/signin").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::cleared_cookie()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
