//! The dashboard: charts of the trail, open alerts, overdue requests, the checkpoint.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use baomi_consent::{RequestStatus, RightsRequest};
use maud::{Markup, html};

use super::{Visit, day_label, service_error, viewed};
use crate::app::AppState;
use crate::auth::api_key::ApiKeyRecord;
use crate::auth::quota::QuotaRaise;
use crate::console::session::Officer;
use crate::console::{Lang, chart, page};
use crate::service::{RequestContext, ServiceError, now, now_ms};
use crate::store::console::day_of;

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
        .requests(None, &[RequestStatus::Open, RequestStatus::Approved], 1000)
        .await?
        .into_iter()
        .filter(|r| r.is_overdue(at))
        .collect();
    let raises = raises_in_force(state, at).await?;
    let checkpoint = state.audit_reads.checkpoint().await?;
    let keys = super::ConsoleKeys::of(state);
    let verifies = checkpoint.as_ref().map(|c| keys.verify(&c.note));
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
        @if !raises.is_empty() {
            section #quota-raises {
                h2 { (lang.t("生效中的临时配额提升（破窗）", "Break-glass quota raises in force")) }
                table {
                    thead { tr {
                        th { (lang.t("密钥", "Key")) }
                        th { (lang.t("目的", "Purpose")) }
                        th { (lang.t("提升后的限额", "Raised limits")) }
                        th { (lang.t("原因", "Reason")) }
                        th { (lang.t("批准人", "Raised by")) }
                        th { (lang.t("到期（UTC）", "Until (UTC)")) }
                    } }
                    tbody {
                        @for (key, raise) in &raises {
                            tr {
                                td { (key.name) " " code { (key.id) } }
                                td { code { (raise.purpose.as_str()) } }
                                td {
                                    @for limit in raise.quota.key.describe() { code { (limit) } " " }
                                    @for limit in raise.quota.operator.describe() {
                                        code { (lang.t("每操作员 ", "per operator ")) (limit) } " "
                                    }
                                }
                                td { (raise.reason) }
                                td { code { (raise.raised_by) } }
                                td { (crate::service::rfc3339(raise.expires_at)) }
                            }
                        }
                    }
                }
            }
        }
        section.charts {
            (chart::bars(lang.t("每日事件（近 14 天，UTC）", "Events per day (14 days, UTC)"), &labels, &events, "events"))
            (chart::bars(lang.t("每日拒绝（近 14 天，UTC）", "Denials per day (14 days, UTC)"), &labels, &denied, "denied"))
        }
    })
}

/// Every active key's break-glass raises in force at `at` (Unix seconds), soonest to end
/// first.
async fn raises_in_force(
    state: &AppState,
    at: i64,
) -> Result<Vec<(ApiKeyRecord, QuotaRaise)>, ServiceError> {
    let mut raises: Vec<(ApiKeyRecord, QuotaRaise)> = Vec::new();
    for key in state.store.list_keys().await? {
        if key.revoked_at.is_some() {
            continue;
        }
        for raise in key.grants.raises.iter().filter(|r| r.in_force(at)) {
            raises.push((key.clone(), raise.clone()));
        }
    }
    raises.sort_by_key(|(_, r)| r.expires_at);
    Ok(raises)
}

async fn open_alert_count(state: &AppState) -> Result<usize, ServiceError> {
    let alerts = state.audit_log.store().alerts(None, 1000).await?;
    let ids: Vec<i64> = alerts.iter().filter_map(|a| a.id).collect();
    let acked = state.store.alert_acks(&ids).await?.len();
    Ok(ids.len().saturating_sub(acked))
}
