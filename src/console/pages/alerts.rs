//! Alerts: list, detail with the events behind one, acknowledgement.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use crate::console::form::Form;
use crate::service::{ErrorCode, RequestContext, ServiceError, audit, now};
use baomi_audit::EventFilter;
use baomi_types::Action;
use maud::html;
use serde::Deserialize;

use super::{Visit, csrf_refused, service_error, time, viewed};
use crate::app::AppState;
use crate::console::page;
use crate::store::console::AlertAck;

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
                    code: ErrorCode::AuditNoAlert,
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
    if comment.is_empty() || comment.chars().count() > 2000 {
        return service_error(
            lang,
            ServiceError::invalid("comment", "1 to 2000 characters"),
        );
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
                code: ErrorCode::AuditAlertAcknowledged,
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
