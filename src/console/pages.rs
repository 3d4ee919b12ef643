//! The console's pages and forms. Every handler of a page with trail, alert or request
//! data appends an `audit_read` event (target `console:<page>`) before it answers; every
//! form checks the session's CSRF token first.

use axum::Extension;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use baomi_audit::{Action, EventFilter};
use baomi_consent::{RequestStatus, RightsRequest};
use data_encoding::BASE64;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::session::{self, Officer, SigninRefusal};
use super::{Lang, chart, page};
use crate::app::AppState;
use crate::service::{RequestContext, ServiceError, audit, now, now_ms};
use crate::store::console::{AlertAck, day_of};

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
/// a live session it is a redirect to the sign-in page.
pub struct Visit {
    lang: Lang,
    officer: Officer,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Ok(lang) = Lang::from_request_parts(parts, state).await;
        match session::officer(state, &parts.headers).await {
            Ok(Some(officer)) => Ok(Visit { lang, officer }),
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

// ---------------------------------------------------------------- sign-in and sign-out

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
    password: String,
    #[serde(default)]
    api_key: String,
}

/// `POST /console/signin`.
pub async fn signin(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    lang: Lang,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    let double_submit = match (form.csrf.as_deref(), super::cookie(&headers, PRE_COOKIE)) {
        (Some(sent), Some(cookie)) => {
            subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), cookie.as_bytes()).into()
        }
        _ => false,
    };
    if !double_submit {
        return csrf_refused(lang);
    }
    let (username, secret) = if form.username.trim().is_empty() {
        ("", form.api_key.as_str())
    } else {
        (form.username.as_str(), form.password.as_str())
    };
    match session::sign_in(&state, &ctx, username, secret).await {
        Ok(Ok(secret)) => {
            let mut r = Redirect::to("/console").into_response();
            if let Ok(v) = HeaderValue::from_str(&session::session_cookie(&secret, &headers)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Err(refusal)) => {
            let message = match refusal {
                SigninRefusal::Wrong => lang
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
            *r.status_mut() = match refusal {
                SigninRefusal::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
                SigninRefusal::NotAnOfficer => StatusCode::FORBIDDEN,
                SigninRefusal::Wrong => StatusCode::UNAUTHORIZED,
            };
            r
        }
        Err(e) => service_error(lang, e),
    }
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /console/signout`.
pub async fn signout(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
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

// ---------------------------------------------------------------- dashboard

/// `GET /console`.
pub async fn dashboard(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
) -> Response {
    match dashboard_body(&state, &officer, &ctx, lang).await {
        Ok(body) => page(lang, lang.t("仪表盘", "Dashboard"), Some(&officer), body),
        Err(e) => service_error(lang, e),
    }
}

async fn dashboard_body(
    state: &AppState,
    officer: &Officer,
    ctx: &RequestContext,
    lang: Lang,
) -> Result<Markup, ServiceError> {
    viewed(state, officer, ctx, "dashboard").await?;
    let today = day_of(now_ms());
    let from = today - 13;
    let counts = state.store.day_counts(from).await?;
    let days: Vec<i64> = (from..=today).collect();
    let labels: Vec<String> = days.iter().map(|d| day_label(*d)).collect();
    let of = |day: i64, pick: fn(&crate::store::console::DayCount) -> i64| {
        counts.iter().find(|c| c.day == day).map_or(0, pick)
    };
    let events: Vec<i64> = days.iter().map(|d| of(*d, |c| c.events)).collect();
    let denied: Vec<i64> = days.iter().map(|d| of(*d, |c| c.denied)).collect();
    let open_alerts = open_alert_count(state).await?;
    let at = now();
    let overdue: Vec<RightsRequest> = state
        .store
        .requests(None, Some(RequestStatus::Open), 1000)
        .await?
        .into_iter()
        .filter(|r| r.is_overdue(at))
        .collect();
    let checkpoint = state.audit_reads.checkpoint().await?;
    let verifies = checkpoint.as_ref().map(|c| {
        state
            .audit_reads
            .verifier_keys()
            .iter()
            .all(|(_, key)| baomi_audit::checkpoint::verify(&c.note, key).is_ok())
    });
    Ok(html! {
        section.tiles {
            a.tile href="/console/alerts" id="open-alerts" {
                strong { (open_alerts) } span { (lang.t("未处理告警", "open alerts")) }
            }
            a.tile href="/console/requests" id="overdue-requests" {
                strong { (overdue.len()) } span { (lang.t("逾期权利请求", "overdue rights requests")) }
            }
            div.tile id="checkpoint" {
                @match (&checkpoint, verifies) {
                    (Some(c), Some(true)) => {
                        strong.ok { "✓ " (c.tree_size) }
                        span { (lang.t("条事件已签名检查点，签名有效", "events under the latest signed checkpoint; its signatures verify")) }
                    }
                    (Some(c), _) => {
                        strong.bad { "✗ " (c.tree_size) }
                        span { (lang.t("最新检查点签名无效！", "the latest checkpoint does NOT verify!")) }
                    }
                    (None, _) => { strong { "—" } span { (lang.t("尚无签名检查点", "no signed checkpoint yet")) } }
                }
            }
        }
        section.charts {
            (chart::bars(lang.t("每日事件（近 14 天，UTC）", "Events per day (14 days, UTC)"), &labels, &events, "events"))
            (chart::bars(lang.t("每日拒绝（近 14 天，UTC）", "Denials per day (14 days, UTC)"), &labels, &denied, "denied"))
        }
    })
}

async fn open_alert_count(state: &AppState) -> Result<usize, ServiceError> {
    let alerts = state.audit_log.store().alerts(None, 1000).await?;
    let ids: Vec<i64> = alerts.iter().filter_map(|a| a.id).collect();
    let acked = state.store.alert_acks(&ids).await?.len();
    Ok(ids.len().saturating_sub(acked))
}

// ---------------------------------------------------------------- the trail

/// The audit search form, as a query.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    subject: Option<String>,
    actor: Option<String>,
    operator: Option<String>,
    purpose: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    /// `YYYY-MM-DD` (UTC, inclusive).
    from: Option<String>,
    /// `YYYY-MM-DD` (UTC, inclusive).
    to: Option<String>,
    cursor: Option<i64>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn day_ms(
    field: &'static str,
    raw: Option<String>,
    end: bool,
) -> Result<Option<i64>, ServiceError> {
    let Some(raw) = raw else { return Ok(None) };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(&raw, &format)
        .map_err(|_| ServiceError::invalid(field, "a date as YYYY-MM-DD"))?;
    let date = if end {
        date.next_day().unwrap_or(date)
    } else {
        date
    };
    Ok(Some(date.midnight().assume_utc().unix_timestamp() * 1000))
}

impl SearchQuery {
    fn filter(&self) -> Result<EventFilter, ServiceError> {
        let outcome = non_empty(&self.outcome);
        if outcome
            .as_deref()
            .is_some_and(|o| o != "allowed" && o != "denied")
        {
            return Err(ServiceError::invalid("outcome", "allowed or denied"));
        }
        Ok(EventFilter {
            from_ms: day_ms("from", non_empty(&self.from), false)?,
            to_ms: day_ms("to", non_empty(&self.to), true)?,
            subject: non_empty(&self.subject),
            actor: non_empty(&self.actor),
            operator: non_empty(&self.operator),
            purpose: non_empty(&self.purpose),
            action: non_empty(&self.action),
            outcome,
            before: self.cursor,
        })
    }

    /// The filter as a query string (for paging and exports), without the cursor.
    fn query_string(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("subject", &self.subject),
            ("actor", &self.actor),
            ("operator", &self.operator),
            ("purpose", &self.purpose),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = non_empty(value) {
                out.append_pair(name, &v);
            }
        }
        out.finish()
    }
}

const PAGE: u32 = 50;

/// `GET /console/audit`.
pub async fn audit_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Query(q): Query<SearchQuery>,
) -> Response {
    let result = async {
        let filter = q.filter()?;
        viewed(&state, &officer, &ctx, "events").await?;
        let found = state.audit_reads.events(&filter, PAGE).await?;
        Ok::<_, ServiceError>(found)
    }
    .await;
    let found = match result {
        Ok(f) => f,
        Err(e) => return service_error(lang, e),
    };
    let qs = q.query_string();
    let older = (found.len() == PAGE as usize)
        .then(|| found.last().map(|e| e.seq))
        .flatten();
    let body = html! {
        form.search method="get" action="/console/audit" id="search" {
            @for (name, zh, en, value) in [
                ("subject", "主体 ID", "Subject id", &q.subject),
                ("actor", "调用方（密钥 ID）", "Actor (key id)", &q.actor),
                ("operator", "操作员", "Operator", &q.operator),
                ("purpose", "目的", "Purpose", &q.purpose),
                ("action", "动作", "Action", &q.action),
            ] {
                label { (lang.t(zh, en)) input type="text" name=(name) id=(format!("f-{name}")) value=(value.as_deref().unwrap_or("")); }
            }
            label { (lang.t("结果", "Outcome"))
                select name="outcome" id="f-outcome" {
                    option value="" { (lang.t("全部", "any")) }
                    option value="allowed" selected[q.outcome.as_deref() == Some("allowed")] { (lang.t("允许", "allowed")) }
                    option value="denied" selected[q.outcome.as_deref() == Some("denied")] { (lang.t("拒绝", "denied")) }
                }
            }
            label { (lang.t("起始日期", "From")) input type="date" name="from" value=(q.from.as_deref().unwrap_or("")); }
            label { (lang.t("截止日期", "To")) input type="date" name="to" value=(q.to.as_deref().unwrap_or("")); }
            button type="submit" id="search-submit" { (lang.t("检索", "Search")) }
        }
        p.exports {
            a href=(format!("/console/audit/export.csv?{qs}")) id="export-csv" { (lang.t("导出 CSV", "Export CSV")) }
            " · "
            a href=(format!("/console/audit/export.jsonl?{qs}")) id="export-jsonl" { (lang.t("导出 JSONL", "Export JSONL")) }
        }
        table.events id="results" {
            thead { tr {
                th { "#" } th { (lang.t("时间", "Time")) } th { (lang.t("动作", "Action")) }
                th { (lang.t("调用方", "Actor")) } th { (lang.t("操作员", "Operator")) }
                th { (lang.t("主体", "Subject")) } th { (lang.t("目的", "Purpose")) } th { (lang.t("结果", "Outcome")) }
            } }
            tbody {
                @for e in &found {
                    @let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
                    tr class=(if body["outcome"]["result"] == "denied" { "denied" } else { "" }) {
                        td { a href=(format!("/console/audit/events/{}", e.seq)) class="event-link" { (e.seq) } }
                        td { (time(lang, body["at_ms"].as_i64().unwrap_or(0))) }
                        td { (body["action"].as_str().unwrap_or("")) }
                        td { (body["actor"]["id"].as_str().unwrap_or("")) " (" (body["actor"]["role"].as_str().unwrap_or("")) ")" }
                        td { (body["operator"].as_str().unwrap_or("")) }
                        td { (body["subject"].as_str().unwrap_or("")) }
                        td { (body["purpose"].as_str().unwrap_or("")) }
                        td { (body["outcome"]["result"].as_str().unwrap_or("")) " " (body["outcome"]["code"].as_str().unwrap_or("")) }
                    }
                }
                @if found.is_empty() { tr { td colspan="8" { (lang.t("没有符合条件的事件。", "No events match.")) } } }
            }
        }
        @if let Some(cursor) = older {
            p { a href=(format!("/console/audit?{qs}&cursor={cursor}")) id="older" { (lang.t("更早的事件 →", "Older events →")) } }
        }
    };
    page(
        lang,
        lang.t("审计检索", "Audit trail"),
        Some(&officer),
        body,
    )
}

/// Most events in one export from the console (the API's `/v1/audit/export` has the whole
/// trail).
const EXPORT_MAX: usize = 10_000;

async fn export_events(
    state: &AppState,
    Visit { lang, officer }: &Visit,
    ctx: &RequestContext,
    q: &SearchQuery,
    what: &str,
) -> Result<Vec<baomi_audit::StoredEvent>, Response> {
    let result = async {
        let mut filter = q.filter()?;
        viewed(state, officer, ctx, what).await?;
        let mut out = Vec::new();
        loop {
            let page = state.audit_reads.events(&filter, 500).await?;
            let last = page.last().map(|e| e.seq);
            let full = page.len() == 500;
            out.extend(page);
            match last {
                Some(seq) if full && out.len() < EXPORT_MAX => filter.before = Some(seq),
                _ => break,
            }
        }
        out.truncate(EXPORT_MAX);
        Ok::<_, ServiceError>(out)
    }
    .await;
    result.map_err(|e| service_error(*lang, e))
}

fn download(content_type: &'static str, name: &str, body: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    super::secure(r)
}

/// A CSV field, quoted when it must be.
fn csv_field(value: &str) -> String {
    // A leading = + - @ would be a formula in a spreadsheet.
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// `GET /console/audit/export.csv`: the events of the current filter (at most 10,000).
pub async fn export_csv(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    visit: Visit,
    Query(q): Query<SearchQuery>,
) -> Response {
    let events = match export_events(&state, &visit, &ctx, &q, "export.csv").await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut out =
        String::from("seq,at_ms,action,actor,actor_role,operator,subject,purpose,outcome,code\n");
    for e in events {
        let b: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
        let s = |v: &serde_json::Value| csv_field(v.as_str().unwrap_or(""));
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            e.seq,
            b["at_ms"].as_i64().unwrap_or(0),
            s(&b["action"]),
            s(&b["actor"]["id"]),
            s(&b["actor"]["role"]),
            s(&b["operator"]),
            s(&b["subject"]),
            s(&b["purpose"]),
            s(&b["outcome"]["result"]),
            s(&b["outcome"]["code"]),
        ));
    }
    download("text/csv; charset=utf-8", "baomi-audit.csv", out)
}

/// `GET /console/audit/export.jsonl`: the events of the current filter, one JSON object per
/// line with its sequence number (at most 10,000).
pub async fn export_jsonl(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    visit: Visit,
    Query(q): Query<SearchQuery>,
) -> Response {
    let events = match export_events(&state, &visit, &ctx, &q, "export.jsonl").await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut out = String::new();
    for e in events {
        let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
        out.push_str(&serde_json::json!({"seq": e.seq, "event": body}).to_string());
        out.push('\n');
    }
    download("application/jsonl", "baomi-audit.jsonl", out)
}

/// `GET /console/audit/events/{seq}`: the event, its inclusion proof and the checkpoint,
/// which `verify.js` checks in the browser.
pub async fn event(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Path(seq): Path<i64>,
) -> Response {
    let result = async {
        viewed(&state, &officer, &ctx, &format!("event:{seq}")).await?;
        let (leaf, body, size, proof) = state.audit_reads.inclusion(seq, None).await?;
        let checkpoint = state.audit_reads.signed_checkpoint().await?;
        Ok::<_, ServiceError>((leaf, body, size, proof, checkpoint))
    }
    .await;
    let (leaf, body, size, proof, checkpoint) = match result {
        Ok(r) => r,
        Err(e) => return service_error(lang, e),
    };
    let keys = state.audit_reads.verifier_keys();
    let data = serde_json::json!({
        "body": body,
        "leaf_index": leaf.index,
        "tree_size": size,
        "leaf_hash": BASE64.encode(&leaf.hash),
        "proof": proof.iter().map(|h| BASE64.encode(h)).collect::<Vec<_>>(),
        "note": checkpoint.note,
        "verifier_keys": keys.iter().map(|(alg, key)| serde_json::json!({"algorithm": alg.as_str(), "key": key})).collect::<Vec<_>>(),
        "text": {
            "ok": lang.t("通过", "verified"),
            "fail": lang.t("失败", "FAILED"),
            "unsupported": lang.t("此浏览器不支持", "not supported by this browser"),
            "pending": lang.t("检查中…", "checking…"),
        },
    });
    // `<` cannot end the script element from inside a JSON string once escaped.
    let data = data.to_string().replace('<', "\\u003c");
    let pretty = body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let body = html! {
        section.event {
            h2 { (lang.t("事件", "Event")) " #" (seq) }
            @match &pretty {
                Some(p) => pre id="event-json" { (p) },
                None => p { (lang.t("该事件正文已按保留期删除，仅保留叶哈希。", "This event's body was pruned by retention; its leaf hash remains.")) },
            }
        }
        section.proof {
            h2 { (lang.t("包含证明", "Inclusion proof")) }
            p { (lang.t("叶序号", "Leaf index")) " " (leaf.index) " / " (lang.t("树大小", "tree size")) " " (size) }
            ol id="checks" {
                li id="check-leaf" data-status="pending" { (lang.t("叶哈希 = SHA-256(0x00 ‖ 事件正文)", "Leaf hash = SHA-256(0x00 ‖ event body)")) ": " span.status { "…" } }
                li id="check-root" data-status="pending" { (lang.t("由证明路径算得的根 = 检查点中的根（RFC 9162）", "Root computed from the proof = the checkpoint's root (RFC 9162)")) ": " span.status { "…" } }
                li id="check-signature" data-status="pending" { (lang.t("检查点签名（Ed25519，WebCrypto）", "Checkpoint signature (Ed25519, WebCrypto)")) ": " span.status { "…" } }
            }
            p id="verdict" data-status="pending" { (lang.t("浏览器正在验证……", "The browser is checking…")) }
            p.hint { (lang.t(
                "这些检查在您的浏览器中用 WebCrypto 完成，不依赖服务器的结论；SM2 签名可用 baomi audit verify 离线检查。",
                "These checks run in your browser with WebCrypto and do not take the server's word for it; SM2 signatures are checked offline with baomi audit verify.")) }
            h3 { (lang.t("签名检查点", "Signed checkpoint")) }
            pre id="checkpoint-note" { (checkpoint.note) }
        }
        script type="application/json" id="proof-data" { (PreEscaped(data)) }
        script src="/console/assets/verify.js" {}
    };
    page(lang, lang.t("事件详情", "Event"), Some(&officer), body)
}

// ---------------------------------------------------------------- alerts

/// `GET /console/alerts`.
pub async fn alerts(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
) -> Response {
    let result = async {
        viewed(&state, &officer, &ctx, "alerts").await?;
        let alerts = state.audit_log.store().alerts(None, 200).await?;
        let ids: Vec<i64> = alerts.iter().filter_map(|a| a.id).collect();
        let acks = state.store.alert_acks(&ids).await?;
        Ok::<_, ServiceError>((alerts, acks))
    }
    .await;
    let (alerts, acks) = match result {
        Ok(r) => r,
        Err(e) => return service_error(lang, e),
    };
    let body = html! {
        table.alerts id="alerts" {
            thead { tr {
                th { "#" } th { (lang.t("规则", "Rule")) } th { (lang.t("对象", "About")) }
                th { (lang.t("时间", "When")) } th { (lang.t("状态", "Status")) }
            } }
            tbody {
                @for a in &alerts {
                    @let id = a.id.unwrap_or(0);
                    @let ack = acks.iter().find(|k| k.alert_id == id);
                    tr {
                        td { a href=(format!("/console/alerts/{id}")) class="alert-link" { (id) } }
                        td { (a.rule) } td { (a.key) } td { (time(lang, a.at_ms)) }
                        td { @match ack {
                            Some(k) => span.ok { (lang.t("已确认", "acknowledged")) " · " (k.acked_by) },
                            None => strong.bad { (lang.t("未处理", "open")) },
                        } }
                    }
                }
                @if alerts.is_empty() { tr { td colspan="5" { (lang.t("没有告警。", "No alerts.")) } } }
            }
        }
    };
    page(lang, lang.t("告警", "Alerts"), Some(&officer), body)
}

/// `GET /console/alerts/{id}`: the alert, the events behind it, and the acknowledgement.
pub async fn alert(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Path(id): Path<i64>,
) -> Response {
    let result = async {
        viewed(&state, &officer, &ctx, &format!("alert:{id}")).await?;
        let alerts = state.audit_log.store().alerts(Some(id + 1), 1).await?;
        let alert =
            alerts
                .into_iter()
                .find(|a| a.id == Some(id))
                .ok_or(ServiceError::NotFound {
                    code: "audit.no_alert",
                })?;
        // The events behind it: the same actor or operator, up to the one that raised it.
        let mut filter = EventFilter {
            before: Some(alert.trigger_seq + 1),
            ..EventFilter::default()
        };
        match alert.key.split_once(':') {
            Some(("actor", who)) => filter.actor = Some(who.to_owned()),
            Some(("operator", who)) => filter.operator = Some(who.to_owned()),
            _ => {}
        }
        let events = state.audit_reads.events(&filter, 50).await?;
        let ack = state.store.alert_acks(&[id]).await?.into_iter().next();
        Ok::<_, ServiceError>((alert, events, ack))
    }
    .await;
    let (alert, events, ack) = match result {
        Ok(r) => r,
        Err(e) => return service_error(lang, e),
    };
    let body = html! {
        dl.alert {
            dt { (lang.t("规则", "Rule")) } dd id="alert-rule" { (alert.rule) }
            dt { (lang.t("对象", "About")) } dd { (alert.key) }
            dt { (lang.t("触发事件", "Raised by event")) } dd { a href=(format!("/console/audit/events/{}", alert.trigger_seq)) { "#" (alert.trigger_seq) } }
            dt { (lang.t("统计", "Figures")) } dd { code { (alert.detail.to_string()) } }
        }
        h2 { (lang.t("相关事件（最近 50 条）", "Events behind it (latest 50)")) }
        ul.events {
            @for e in &events {
                @let b: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
                li { a href=(format!("/console/audit/events/{}", e.seq)) { "#" (e.seq) } " "
                    (time(lang, b["at_ms"].as_i64().unwrap_or(0))) " " (b["action"].as_str().unwrap_or(""))
                    " " (b["subject"].as_str().unwrap_or("")) " " (b["outcome"]["result"].as_str().unwrap_or("")) }
            }
        }
        @match &ack {
            Some(k) => p.ok id="ack-status" { (lang.t("已确认：", "Acknowledged by ")) (k.acked_by) " · " (time(lang, k.acked_at * 1000)) " · " (k.comment) },
            None => form.card method="post" action=(format!("/console/alerts/{id}/ack")) id="ack" {
                input type="hidden" name="csrf" value=(officer.csrf);
                label { (lang.t("处理意见（必填）", "Comment (required)")) textarea name="comment" id="ack-comment" required {} }
                button type="submit" id="ack-submit" { (lang.t("确认告警", "Acknowledge")) }
            },
        }
    };
    page(
        lang,
        &format!("{} #{id}", lang.t("告警", "Alert")),
        Some(&officer),
        body,
    )
}

/// The acknowledgement form.
#[derive(Deserialize)]
pub struct AckForm {
    csrf: Option<String>,
    #[serde(default)]
    comment: String,
}

/// `POST /console/alerts/{id}/ack`.
pub async fn ack_alert(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Path(id): Path<i64>,
    Form(form): Form<AckForm>,
) -> Response {
    if !officer.csrf_ok(form.csrf.as_deref().unwrap_or("")) {
        return csrf_refused(lang);
    }
    let comment = form.comment.trim();
    if comment.is_empty() || comment.len() > 2000 {
        return service_error(lang, ServiceError::invalid("comment", "1 to 2000 bytes"));
    }
    let mut event = audit::about(
        &officer.caller,
        &ctx,
        Action::AlertAck,
        &format!("alert:{id}"),
    );
    event.fields = vec!["comment".to_owned()];
    let ack = AlertAck {
        alert_id: id,
        acked_by: officer.principal.clone(),
        comment: comment.to_owned(),
        acked_at: now(),
    };
    match state.store.ack_alert(&ack, &[event]).await {
        Ok(true) => {
            audit::settle(state.audit.as_ref()).await;
            Redirect::to(&format!("/console/alerts/{id}")).into_response()
        }
        Ok(false) => service_error(
            lang,
            ServiceError::Conflict {
                code: "audit.alert_acknowledged",
                detail: lang
                    .t(
                        "该告警不存在或已被确认。",
                        "No such alert, or acknowledged already.",
                    )
                    .to_owned(),
            },
        ),
        Err(e) => service_error(lang, e.into()),
    }
}

// ---------------------------------------------------------------- rights requests

/// `GET /console/requests`: open requests by deadline (overdue first), then closed ones.
pub async fn requests(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
) -> Response {
    let result = async {
        viewed(&state, &officer, &ctx, "requests").await?;
        let mut all = crate::service::requests::list(&state, &officer.caller, None, 500).await?;
        all.sort_by_key(|r| (r.status != RequestStatus::Open, r.due_at));
        Ok::<_, ServiceError>(all)
    }
    .await;
    let all = match result {
        Ok(r) => r,
        Err(e) => return service_error(lang, e),
    };
    let at = now();
    let body = html! {
        table.requests id="requests" {
            thead { tr {
                th { (lang.t("编号", "Id")) } th { (lang.t("主体", "Subject")) } th { (lang.t("类型", "Kind")) }
                th { (lang.t("期限", "Due")) } th { (lang.t("状态", "Status")) } th { (lang.t("处理", "Act")) }
            } }
            tbody {
                @for r in &all {
                    tr id=(format!("request-{}", r.id)) class=(if r.is_overdue(at) { "overdue" } else { "" }) {
                        td { (r.id) } td { (r.subject) } td { (r.kind.as_str()) }
                        td { (time(lang, r.due_at * 1000))
                            @if r.is_overdue(at) { " " strong.bad { (lang.t("已逾期", "OVERDUE")) } } }
                        td.status { (r.status.as_str()) @if let Some(res) = &r.resolution { br; small { (res) } } }
                        td {
                            @if r.status == RequestStatus::Open {
                                form.inline method="post" action=(format!("/console/requests/{}/close", r.id)) {
                                    input type="hidden" name="csrf" value=(officer.csrf);
                                    input type="text" name="resolution" required
                                        placeholder=(lang.t("答复主体的说明", "Answer to the subject"));
                                    button type="submit" name="status" value="completed" class="complete" { (lang.t("完成", "Complete")) }
                                    button type="submit" name="status" value="rejected" class="reject" { (lang.t("拒绝", "Reject")) }
                                }
                            }
                        }
                    }
                }
                @if all.is_empty() { tr { td colspan="6" { (lang.t("没有权利请求。", "No rights requests.")) } } }
            }
        }
        p.hint { (lang.t("完成删除请求会先擦除该主体的数据（密钥销毁），再关闭请求。", "Completing a deletion request erases the subject (their keys are destroyed) before it closes.")) }
    };
    page(
        lang,
        lang.t("权利请求", "Rights requests"),
        Some(&officer),
        body,
    )
}

/// The closing form.
#[derive(Deserialize)]
pub struct CloseForm {
    csrf: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    resolution: String,
}

/// `POST /console/requests/{id}/close`.
pub async fn close_request(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Path(id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Response {
    if !officer.csrf_ok(form.csrf.as_deref().unwrap_or("")) {
        return csrf_refused(lang);
    }
    let status = match form.status.as_str() {
        "completed" => RequestStatus::Completed,
        "rejected" => RequestStatus::Rejected,
        _ => {
            return service_error(
                lang,
                ServiceError::invalid("status", "completed or rejected"),
            );
        }
    };
    match crate::service::requests::close(
        &state,
        &officer.caller,
        &ctx,
        &id,
        status,
        &form.resolution,
    )
    .await
    {
        Ok(_) => Redirect::to("/console/requests").into_response(),
        Err(e) => service_error(lang, e),
    }
}
