//! Console accounts, for admins: the list, adding an account or resetting one (password,
//! role, purposes), removing one. Each change is a `console_user_change` event and ends the
//! account's open sessions.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use crate::console::form::Form;
use crate::service::{ErrorCode, RequestContext, ServiceError};
use maud::html;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{CsrfForm, Visit, csrf_refused, service_error, time, viewed};
use crate::app::AppState;
use crate::auth::Role;
use crate::console::session::{self, Officer};
use crate::console::{Lang, page};
use crate::service::authenticate::require_role;

/// `GET /console/accounts` (admin).
pub async fn accounts(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
) -> Response {
    let result = async {
        require_role(&officer.caller, &[Role::Admin])?;
        viewed(&state, &officer, &ctx, "accounts").await?;
        Ok::<_, ServiceError>(state.store.console_users().await?)
    }
    .await;
    let users = match result {
        Ok(u) => u,
        Err(e) => return service_error(lang, e),
    };
    let body = html! {
        table id="accounts" {
            thead { tr {
                th { (lang.t("用户名", "Username")) } th { (lang.t("角色", "Role")) }
                th { (lang.t("可查看的目的", "Purposes")) } th { (lang.t("创建时间", "Created")) } th {}
            } }
            tbody {
                @for u in &users {
                    tr id=(format!("account-{}", u.username)) {
                        td { (u.username) } td { (u.role) }
                        td { @if u.role == "admin" { (lang.t("全部", "all")) } @else { (u.purposes.join(", ")) } }
                        td { (time(lang, u.created_at * 1000)) }
                        td { @if officer.principal != format!("user:{}", u.username) {
                            form.inline method="post" action=(format!("/console/accounts/{}/remove", u.username)) {
                                input type="hidden" name="csrf" value=(officer.csrf);
                                button type="submit" class="reject remove" { (lang.t("删除", "Remove")) }
                            }
                        } }
                    }
                }
                @if users.is_empty() { tr { td colspan="5" { (lang.t("还没有控制台账号。", "No console account yet.")) } } }
            }
        }
        h2 { (lang.t("新建或重置账号", "Add or reset an account")) }
        form.card method="post" action="/console/accounts" id="account-form" {
            input type="hidden" name="csrf" value=(officer.csrf);
            label { (lang.t("用户名", "Username")) input type="text" name="username" id="a-username" required; }
            label { (lang.t("角色", "Role"))
                select name="role" id="a-role" {
                    option value="officer" { (lang.t("隐私官", "officer")) }
                    option value="admin" { (lang.t("管理员", "admin")) }
                }
            }
            label { (lang.t("可查看同意记录的目的（逗号分隔；管理员留空）", "Purposes whose consent histories it may open (comma-separated; empty for an admin)"))
                input type="text" name="purposes" id="a-purposes"; }
            label { (lang.t("初始密码（至少 12 个字符）", "Password (at least 12 characters)"))
                input type="password" name="password" id="a-password" autocomplete="new-password" required; }
            button type="submit" id="a-submit" { (lang.t("保存", "Save")) }
            p.hint { (lang.t("保存已有账号会重置其密码、角色和目的，并结束其登录会话。", "Saving an existing account resets its password, role and purposes and ends its sessions.")) }
        }
    };
    page(
        lang,
        lang.t("控制台账号", "Console accounts"),
        Some(&officer),
        body,
    )
}

/// The account form.
#[derive(Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    purposes: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

/// The refusal of a form from anyone but an admin, or without the session's token.
fn refused_form(lang: Lang, officer: &Officer, csrf: Option<&str>) -> Option<Response> {
    if !officer.csrf_ok(csrf.unwrap_or("")) {
        return Some(csrf_refused(lang));
    }
    require_role(&officer.caller, &[Role::Admin])
        .err()
        .map(|e| service_error(lang, e))
}

/// `POST /console/accounts` (admin): adds an account or resets one.
pub async fn put_account(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Form(form): Form<AccountForm>,
) -> Response {
    if let Some(refused) = refused_form(lang, &officer, form.csrf.as_deref()) {
        return refused;
    }
    let Some(role) = Role::parse(form.role.trim()) else {
        return service_error(lang, ServiceError::invalid("role", "officer or admin"));
    };
    let username = form.username.trim();
    if officer.principal == format!("user:{username}") {
        return service_error(
            lang,
            ServiceError::invalid(
                "username",
                "the account you are signed in with: another admin (or baomi console add-user) changes it",
            ),
        );
    }
    let purposes: Vec<String> = form
        .purposes
        .split([',', ' ', '，'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let event = session::account_event(&officer.caller, &ctx, username);
    match session::put_user(
        state.store.as_ref(),
        username,
        &form.password,
        role,
        &purposes,
        event,
    )
    .await
    {
        Ok(()) => {
            crate::service::audit::settle(state.audit.as_ref()).await;
            Redirect::to("/console/accounts").into_response()
        }
        Err(e) => service_error(lang, e),
    }
}

/// `POST /console/accounts/{name}/remove` (admin): removes an account, ending its sessions.
pub async fn remove_account(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = refused_form(lang, &officer, form.csrf.as_deref()) {
        return refused;
    }
    if officer.principal == format!("user:{name}") {
        return service_error(
            lang,
            ServiceError::invalid("username", "the account you are signed in with"),
        );
    }
    let mut event = session::account_event(&officer.caller, &ctx, &name);
    event.fields = vec!["op:remove".to_owned()];
    match state.store.remove_console_user(&name, &[event]).await {
        Ok(true) => {
            crate::service::audit::settle(state.audit.as_ref()).await;
            Redirect::to("/console/accounts").into_response()
        }
        Ok(false) => service_error(
            lang,
            ServiceError::NotFound {
                code: ErrorCode::ConsoleNoAccount,
            },
        ),
        Err(e) => service_error(lang, e.into()),
    }
}
