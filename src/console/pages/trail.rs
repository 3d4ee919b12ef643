//! Audit search, exports, and an event with its inclusion proof.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use baomi_audit::EventFilter;
use data_encoding::BASE64;
use maud::{PreEscaped, html};
use serde::Deserialize;

use super::{Visit, non_empty, service_error, time, viewed};
use crate::app::AppState;
use crate::console::page;
use crate::service::{RequestContext, ServiceError, audit};

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
        audit::check_outcome(outcome.as_deref())?;
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
    crate::console::secure(r)
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
        let line = serde_json::to_string(&crate::http::audit::view(e)).unwrap_or_default();
        out.push_str(&line);
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
    let keys = super::ConsoleKeys::of(&state);
    let data = serde_json::json!({
        "body": body,
        "leaf_index": leaf.index,
        "tree_size": size,
        "leaf_hash": BASE64.encode(&leaf.hash),
        "proof": proof.iter().map(|h| BASE64.encode(h)).collect::<Vec<_>>(),
        "note": checkpoint.note,
        "verifier_keys": keys.keys.iter().map(|(alg, key)| serde_json::json!({"algorithm": alg, "key": key})).collect::<Vec<_>>(),
        "pinned": keys.pinned,
        "text": {
            "ok": lang.t("通过", "verified"),
            "fail": lang.t("失败", "FAILED"),
            "unsupported": lang.t("此浏览器不支持", "not supported by this browser"),
            "pending": lang.t("检查中…", "checking…"),
            "pinned": lang.t("配置中固定的密钥", "keys pinned in the configuration"),
            "unpinned": lang.t(
                "未固定：使用本服务器当前的密钥（请设置 console.verifier_keys）",
                "not pinned: the server's own current keys (set console.verifier_keys)"),
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
                li id="check-pinned" data-status="pending" { (lang.t("验证密钥的来源", "Where the verifier key comes from")) ": " span.status { "…" } }
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
