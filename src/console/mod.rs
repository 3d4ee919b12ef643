//! The privacy officer's console, served by `baomi serve` at `/console`: server-rendered
//! pages (maud) in Chinese (the default) or English, a stylesheet and one script (the
//! in-browser check of inclusion proofs and checkpoint signatures), under a strict Content
//! Security Policy. Officers sign in with a console account or an officer API key
//! ([`session`]); every sign-in and every page that shows the trail, alerts or requests is
//! itself an audit event.

mod chart;
mod pages;
pub mod session;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use crate::app::AppState;

/// The console's routes, under `/console`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::dashboard::dashboard))
        .route(
            "/console/signin",
            get(pages::signin::signin_form).post(pages::signin::signin),
        )
        .route("/console/signout", post(pages::signin::signout))
        .route("/console/audit", get(pages::trail::audit_search))
        .route("/console/audit/export.csv", get(pages::trail::export_csv))
        .route(
            "/console/audit/export.jsonl",
            get(pages::trail::export_jsonl),
        )
        .route("/console/audit/events/{seq}", get(pages::trail::event))
        .route("/console/alerts", get(pages::alerts::alerts))
        .route("/console/alerts/{id}", get(pages::alerts::alert))
        .route("/console/alerts/{id}/ack", post(pages::alerts::ack_alert))
        .route("/console/consents", get(pages::consents::consents))
        .route(
            "/console/accounts",
            get(pages::accounts::accounts).post(pages::accounts::put_account),
        )
        .route(
            "/console/accounts/{name}/remove",
            post(pages::accounts::remove_account),
        )
        .route("/console/requests", get(pages::requests::requests))
        .route(
            "/console/requests/{id}/approve",
            post(pages::requests::approve_request),
        )
        .route(
            "/console/requests/{id}/close",
            post(pages::requests::close_request),
        )
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/verify.js", get(verify_js))
}

/// The page's language: Chinese unless `?lang=en` or the `baomi_lang=en` cookie says
/// English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language a request asks for.
    pub fn of(headers: &HeaderMap, query: Option<&str>) -> Lang {
        let cookie_en = cookie(headers, "baomi_lang").as_deref() == Some("en");
        match query {
            Some("en") => Lang::En,
            Some("zh") => Lang::Zh,
            _ if cookie_en => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// `zh` or `en` as written in the page.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Picks the text of this language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// The value of the cookie `name` in a request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// Headers every console page carries: no caching of pages that show the trail, no
/// framing, no script or style from anywhere but here.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    response
}

/// A whole page: navigation when signed in, the language switch, the body.
pub fn page(
    lang: Lang,
    title: &str,
    signed_in: Option<&session::Officer>,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("保密 Baomi 隐私合规控制台", "Baomi privacy console")) }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                header.top {
                    span.brand { "保密 Baomi" }
                    @if let Some(officer) = signed_in {
                        nav {
                            a href="/console" { (lang.t("仪表盘", "Dashboard")) }
                            a href="/console/audit" { (lang.t("审计检索", "Audit trail")) }
                            a href="/console/alerts" { (lang.t("告警", "Alerts")) }
                            a href="/console/consents" { (lang.t("同意", "Consents")) }
                            a href="/console/requests" { (lang.t("权利请求", "Rights requests")) }
                            @if officer.is_admin() {
                                a href="/console/accounts" { (lang.t("账号", "Accounts")) }
                            }
                        }
                        form.signout method="post" action="/console/signout" {
                            input type="hidden" name="csrf" value=(officer.csrf);
                            span.who { (officer.principal) }
                            button type="submit" id="signout" { (lang.t("退出", "Sign out")) }
                        }
                    }
                    span.lang {
                        a href="?lang=zh" { "中文" } " · " a href="?lang=en" { "English" }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    let mut response = (StatusCode::OK, axum::response::Html(markup.into_string())).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "baomi_lang={}; Path=/console; SameSite=Strict; Max-Age=31536000",
        if lang == Lang::En { "en" } else { "zh" }
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    secure(response)
}

async fn css() -> Response {
    secure(
        (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            include_str!("assets/console.css"),
        )
            .into_response(),
    )
}

async fn verify_js() -> Response {
    secure(
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            include_str!("assets/verify.js"),
        )
            .into_response(),
    )
}
