//! The privacy officer's console, served by `baomi serve` at `/console`: server-rendered
//! pages (maud) in Chinese (the default) or English, a stylesheet and one script (the
//! in-browser check of inclusion proofs and checkpoint signatures), under a strict Content
//! Security Policy. Officers sign in with a console account or an officer API key
//! ([`session`]); every sign-in and every page that shows the trail, alerts or requests is
//! itself an audit event.

mod chart;
mod form;
pub mod guard;
mod pages;
pub mod second_factor;
pub mod session;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use maud::{DOCTYPE, Markup, html};

use crate::app::AppState;

/// Every console route: its path, the methods it answers, and its handlers. The router is
/// built from this table and the authorisation matrix reads it (through [`route_list`]), so
/// a route cannot be added to one and not the other.
fn routes() -> Vec<(
    &'static str,
    &'static [&'static str],
    MethodRouter<AppState>,
)> {
    use pages::{accounts, alerts, consents, dashboard, enrolment, requests, signin, trail};
    vec![
        ("/console", &["get"], get(dashboard::dashboard)),
        (
            "/console/signin",
            &["get", "post"],
            get(signin::signin_form).post(signin::signin),
        ),
        ("/console/signout", &["post"], post(signin::signout)),
        ("/console/audit", &["get"], get(trail::audit_search)),
        (
            "/console/audit/export.csv",
            &["get"],
            get(trail::export_csv),
        ),
        (
            "/console/audit/export.jsonl",
            &["get"],
            get(trail::export_jsonl),
        ),
        ("/console/audit/events/{seq}", &["get"], get(trail::event)),
        ("/console/alerts", &["get"], get(alerts::alerts)),
        ("/console/alerts/{id}", &["get"], get(alerts::alert)),
        (
            "/console/alerts/{id}/ack",
            &["post"],
            post(alerts::ack_alert),
        ),
        ("/console/consents", &["get"], get(consents::consents)),
        (
            "/console/accounts",
            &["get", "post"],
            get(accounts::accounts).post(accounts::put_account),
        ),
        (
            "/console/accounts/{name}/remove",
            &["post"],
            post(accounts::remove_account),
        ),
        (
            "/console/second-factor",
            &["get", "post"],
            get(enrolment::enrol_page).post(enrolment::confirm),
        ),
        ("/console/requests", &["get"], get(requests::requests)),
        (
            "/console/requests/{id}/approve",
            &["post"],
            post(requests::approve_request),
        ),
        (
            "/console/requests/{id}/close",
            &["post"],
            post(requests::close_request),
        ),
        ("/console/assets/console.css", &["get"], get(css)),
        ("/console/assets/verify.js", &["get"], get(verify_js)),
    ]
}

/// The console's routes, under `/console`.
pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |r, (path, _, handlers)| {
            r.route(path, handlers)
        })
}

/// Every (method, path) the console serves, for the authorisation matrix.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    routes()
        .into_iter()
        .flat_map(|(path, methods, _)| methods.iter().map(move |m| (*m, path)))
        .collect()
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
                            @if officer.account().is_some() {
                                a href="/console/second-factor" { (lang.t("双重验证", "Second factor")) }
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
