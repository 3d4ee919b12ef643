//! The queue of rights requests: approve, complete, reject.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use crate::console::form::Form;
use baomi_consent::RequestStatus;
use maud::html;
use serde::Deserialize;

use super::{CsrfForm, Visit, csrf_refused, service_error, time, viewed};
use crate::app::AppState;
use crate::console::{Lang, page};
use crate::service::{RequestContext, ServiceError, now};

/// `GET /console/requests`: pending (open or approved) requests by deadline, overdue ones
/// marked, then closed ones.
pub async fn requests(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
) -> Response {
    let result = async {
        viewed(&state, &officer, &ctx, "requests").await?;
        let mut all = crate::service::requests::list(&state, &officer.caller, &[], 500).await?;
        all.sort_by_key(|r| (!r.status.is_pending(), r.due_at));
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
                        td.status { (status_text(lang, r.status))
                            @if let (Some(by), Some(at)) = (&r.approved_by, r.approved_at) {
                                br; small.approved { (lang.t("受理：", "approved by ")) (by) " · " (time(lang, at * 1000)) }
                            }
                            @if let Some(res) = &r.resolution { br; small { (res) } } }
                        td {
                            @if r.status == RequestStatus::Open {
                                form.inline method="post" action=(format!("/console/requests/{}/approve", r.id)) {
                                    input type="hidden" name="csrf" value=(officer.csrf);
                                    button type="submit" class="approve" { (lang.t("受理", "Approve")) }
                                }
                            }
                            @if r.status.is_pending() {
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
        p.hint { (lang.t(
            "受理表示平台已接受请求并在处理中（主体可见）；仍须在期限内完成或拒绝。完成删除请求会先擦除该主体的数据（密钥销毁），再关闭请求。",
            "Approving tells the subject the request was accepted and is being handled; it must still be completed or rejected by its deadline. Completing a deletion request erases the subject (their keys are destroyed) before it closes.")) }
    };
    page(
        lang,
        lang.t("权利请求", "Rights requests"),
        Some(&officer),
        body,
    )
}

/// A request's status in the page's language.
fn status_text(lang: Lang, status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Open => lang.t("待受理", "open"),
        RequestStatus::Approved => lang.t("已受理", "approved"),
        RequestStatus::Closing => lang.t("处理中", "closing"),
        RequestStatus::Completed => lang.t("已完成", "completed"),
        RequestStatus::Rejected => lang.t("已拒绝", "rejected"),
    }
}

/// `POST /console/requests/{id}/approve`.
pub async fn approve_request(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !officer.csrf_ok(form.csrf.as_deref().unwrap_or("")) {
        return csrf_refused(lang);
    }
    match crate::service::requests::approve(&state, &officer.caller, &ctx, &id).await {
        Ok(_) => Redirect::to("/console/requests").into_response(),
        Err(e) => service_error(lang, e),
    }
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
