//! Consents: per purpose, grants, withdrawals and active grants over the last 14 days
//! (charts); and one subject's whole history under a purpose, for an officer whose account
//! or key carries that purpose (an admin may open any).

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use baomi_consent::{ConsentAction, ConsentDay, ConsentState, PurposeRecord};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Visit, day_label, non_empty, service_error, time, viewed};
use crate::app::AppState;
use crate::console::{Lang, chart, page, session::Officer};
use crate::service::consent::{PurposeConsent, ledger_days, may_open, purposes, subject_history};
use crate::service::{RequestContext, ServiceError, now_ms};
use crate::store::console::day_of;

/// Days the charts cover.
const DAYS: i64 = 14;

/// The page's query: the purpose charted, and a subject to look up under it.
#[derive(Debug, Default, Deserialize)]
pub struct ConsentsQuery {
    purpose: Option<String>,
    subject: Option<String>,
}

/// The series the charts draw: per day, grants, withdrawals, and subjects whose latest event
/// is a grant at the day's end (carried over from every day before the ones shown).
struct Series {
    labels: Vec<String>,
    granted: Vec<i64>,
    withdrawn: Vec<i64>,
    active: Vec<i64>,
}

fn series(days: &[ConsentDay], today: i64) -> Series {
    let from = today - (DAYS - 1);
    let mut active = days
        .iter()
        .filter(|d| d.day < from)
        .map(|d| d.net)
        .sum::<i64>();
    let mut out = Series {
        labels: Vec::new(),
        granted: Vec::new(),
        withdrawn: Vec::new(),
        active: Vec::new(),
    };
    for day in from..=today {
        let that = days.iter().find(|d| d.day == day);
        active += that.map_or(0, |d| d.net);
        out.labels.push(day_label(day));
        out.granted.push(that.map_or(0, |d| d.granted));
        out.withdrawn.push(that.map_or(0, |d| d.withdrawn));
        out.active.push(active);
    }
    out
}

/// `GET /console/consents`.
pub async fn consents(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Visit { lang, officer }: Visit,
    Query(q): Query<ConsentsQuery>,
) -> Response {
    match body(&state, &officer, &ctx, lang, &q).await {
        Ok(body) => page(lang, lang.t("同意", "Consents"), Some(&officer), body),
        Err(e) => service_error(lang, e),
    }
}

async fn body(
    state: &AppState,
    officer: &Officer,
    ctx: &RequestContext,
    lang: Lang,
    q: &ConsentsQuery,
) -> Result<Markup, ServiceError> {
    viewed(state, officer, ctx, "consents").await?;
    let all = purposes(state, &officer.caller).await?;
    let chosen = non_empty(&q.purpose).or_else(|| all.first().map(|p| p.id.clone()));
    let subject = non_empty(&q.subject);
    let charted = match &chosen {
        Some(p) => Some(series(
            &ledger_days(state, &officer.caller, p).await?,
            day_of(now_ms()),
        )),
        None => None,
    };
    let history = match (&subject, &chosen) {
        (Some(s), Some(p)) => Some(subject_history(state, &officer.caller, ctx, s, p).await?),
        _ => None,
    };
    let openable: Vec<&PurposeRecord> = all
        .iter()
        .filter(|p| may_open(&officer.caller, &p.id))
        .collect();
    Ok(html! {
        form.search method="get" action="/console/consents" id="consent-search" {
            label { (lang.t("目的", "Purpose"))
                select name="purpose" id="c-purpose" {
                    @for p in &all {
                        option value=(p.id) selected[chosen.as_deref() == Some(p.id.as_str())] {
                            (p.id) " (v" (p.version) ")"
                        }
                    }
                }
            }
            label { (lang.t("主体 ID（可选）", "Subject id (optional)"))
                input type="text" name="subject" id="c-subject" value=(subject.as_deref().unwrap_or(""));
            }
            button type="submit" id="c-submit" { (lang.t("查看", "Show")) }
        }
        p.hint id="may-open" {
            @if openable.is_empty() {
                (lang.t(
                    "您的账号未被授予任何目的，不能查看单个主体的同意记录；请管理员在“账号”页或用 baomi console add-user --purpose 授予（API 密钥：创建时的 purposes）。",
                    "Your account carries no purposes, so it cannot open a subject's consent history; an admin grants them on the Accounts page or with baomi console add-user --purpose (an API key: its purposes)."))
            } @else {
                (lang.t("您可查看以下目的下单个主体的同意记录：", "You may open a subject's history under: "))
                @for (i, p) in openable.iter().enumerate() { @if i > 0 { ", " } code { (p.id) } }
            }
        }
        @if let Some(h) = &history { (history_table(lang, h)) }
        @if all.is_empty() {
            p { (lang.t("尚未声明任何处理目的。", "No purpose has been declared yet.")) }
        }
        @if let (Some(p), Some(s)) = (&chosen, &charted) {
            section.charts id="consent-charts" data-purpose=(p) {
                (chart::bars(lang.t("有效同意（每日结束时）", "Active grants (at each day's end)"), &s.labels, &s.active, "active"))
                (chart::bars(lang.t("每日授予（含续期）", "Grants per day (renewals included)"), &s.labels, &s.granted, "granted"))
                (chart::bars(lang.t("每日撤回", "Withdrawals per day"), &s.labels, &s.withdrawn, "withdrawn"))
            }
            p.hint { (lang.t(
                "有效同意 = 最近一次记录为授予的主体数（UTC 日）；到期或需重新同意的授予在撤回前仍计入。",
                "Active = subjects whose latest ledger event is a grant (UTC days); grants that lapsed or need renewal count until withdrawn.")) }
        }
    })
}

fn state_text(lang: Lang, state: &ConsentState) -> String {
    match state {
        ConsentState::None => lang.t("从未同意", "never granted").to_owned(),
        ConsentState::Active {
            purpose_version, ..
        } => format!("{} (v{purpose_version})", lang.t("有效", "active")),
        ConsentState::Withdrawn { .. } => lang.t("已撤回", "withdrawn").to_owned(),
        ConsentState::Expired { .. } => lang.t("已到期", "expired").to_owned(),
        ConsentState::RenewalRequired { .. } => lang.t("需重新同意", "renewal required").to_owned(),
    }
}

fn scope_names(s: &baomi_consent::Scopes) -> String {
    [
        (s.sensitive, "sensitive"),
        (s.third_party, "third_party"),
        (s.cross_border, "cross_border"),
    ]
    .into_iter()
    .filter(|(given, _)| *given)
    .map(|(_, name)| name)
    .collect::<Vec<_>>()
    .join(", ")
}

fn history_table(lang: Lang, h: &PurposeConsent) -> Markup {
    html! {
        section.history id="history" {
            h2 { (lang.t("主体同意记录", "Subject's consent history")) }
            p { (lang.t("当前状态：", "State now: ")) strong id="history-state" { (state_text(lang, &h.state)) } }
            table.events id="history-events" {
                thead { tr {
                    th { (lang.t("时间", "Time")) } th { (lang.t("动作", "Action")) }
                    th { (lang.t("目的版本", "Version")) } th { (lang.t("渠道", "Channel")) }
                    th { (lang.t("单独同意", "Separate consents")) } th { (lang.t("监护人", "Guardian")) }
                    th { (lang.t("到期", "Expires")) } th { (lang.t("告知书", "Notice")) }
                    th { (lang.t("证据", "Evidence")) } th { (lang.t("记录 ID", "Event id")) }
                } }
                tbody {
                    @for e in &h.history {
                        tr class=(if e.action == ConsentAction::Withdrawn { "denied" } else { "" }) {
                            td { (time(lang, e.at * 1000)) }
                            td.action { @match e.action {
                                ConsentAction::Granted => (lang.t("授予", "granted")),
                                ConsentAction::Withdrawn => (lang.t("撤回", "withdrawn")),
                            } }
                            td { "v" (e.purpose_version) }
                            td { (e.channel) }
                            td { (scope_names(&e.scopes)) }
                            td { @if let Some(g) = &e.guardian { (g.id) " (" (g.relation) ")" } }
                            td { @if let Some(x) = e.expires_at { (time(lang, x * 1000)) } }
                            td { @if let Some(n) = &e.notice { (n.id) " v" (n.version) } }
                            td { (e.evidence) }
                            td { code { (e.id) } }
                        }
                    }
                    @if h.history.is_empty() {
                        tr { td colspan="10" { (lang.t("该主体在此目的下没有记录。", "No ledger event of this subject under this purpose.")) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_grants_carry_over_from_before_the_charted_days() {
        let today = 20_000;
        let day = |day, granted, withdrawn, net| ConsentDay {
            day,
            granted,
            withdrawn,
            net,
        };
        let s = series(
            &[
                day(today - 100, 5, 0, 5),
                day(today - 3, 2, 1, 1),
                day(today, 0, 3, -3),
            ],
            today,
        );
        assert_eq!(s.active.len(), 14);
        assert_eq!(s.active[0], 5);
        assert_eq!(s.active[10], 6);
        assert_eq!(s.active[13], 3);
        assert_eq!(s.granted[10], 2);
        assert_eq!(s.withdrawn[13], 3);
    }
}
