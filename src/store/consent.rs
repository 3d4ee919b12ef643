//! Purposes, notices, the consent ledger and rights requests (`baomi_consent::ConsentStore`),
//! written once for both backends: the statements are the same words in SQLite and
//! PostgreSQL.

use async_trait::async_trait;
use baomi_consent::{
    Closing, ConsentDay, ConsentEvent, ConsentStore, Notice, NoticeText, PurposeDefinition,
    PurposeRecord, RequestKind, RequestStatus, RightsRequest,
};
use baomi_types::{AccessEvent, StoreFailure};
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::common::{Backend, Pooled, SqlStore, commit_change, finish_change, one_at_a_time};
use super::error::{corrupt, failure};

/// A purposes row: id, version, renewal_from, definition, updated_at.
type PurposeRow = (String, i64, i64, String, i64);

/// A purpose record from its row.
fn purpose_record(
    (id, version, renewal_from, definition, updated_at): PurposeRow,
) -> Result<PurposeRecord, StoreFailure> {
    Ok(PurposeRecord {
        id,
        version: u32::try_from(version).map_err(|_| corrupt("purpose version"))?,
        renewal_from: u32::try_from(renewal_from).map_err(|_| corrupt("purpose version"))?,
        definition: serde_json::from_str(&definition).map_err(|_| corrupt("purpose"))?,
        updated_at,
    })
}

/// A ledger event from its stored text.
fn consent_event(body: &str) -> Result<ConsentEvent, StoreFailure> {
    serde_json::from_str(body).map_err(|_| corrupt("consent event"))
}

/// A notices row (without the text): id, version, language, sha256, purposes, published_at.
type NoticeRow = (String, i64, String, String, String, i64);

/// A notice from its row.
fn notice(
    (id, version, language, text_sha256, purposes, published_at): NoticeRow,
) -> Result<baomi_consent::Notice, StoreFailure> {
    Ok(baomi_consent::Notice {
        id,
        version: u32::try_from(version).map_err(|_| corrupt("notice version"))?,
        language,
        text_sha256,
        purposes: serde_json::from_str(&purposes).map_err(|_| corrupt("notice"))?,
        published_at,
    })
}

/// A rights_requests row.
type RequestRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A rights request from its row.
fn rights_request(row: RequestRow) -> Result<RightsRequest, StoreFailure> {
    let (
        id,
        subject,
        kind,
        status,
        note_ciphertext,
        created_at,
        due_at,
        closed_at,
        resolution,
        closed_by,
        approved_at,
        approved_by,
    ) = row;
    Ok(RightsRequest {
        id,
        subject,
        kind: RequestKind::parse(&kind).ok_or_else(|| corrupt("request kind"))?,
        status: RequestStatus::parse(&status).ok_or_else(|| corrupt("request status"))?,
        note_ciphertext,
        created_at,
        due_at,
        closed_at,
        resolution,
        closed_by,
        approved_at,
        approved_by,
    })
}

const PURPOSE_VERSION_NOW: &str = "SELECT version, renewal_from FROM purposes WHERE id = $1";
const INSERT_PURPOSE_VERSION: &str = "INSERT INTO purpose_versions \
     (id, version, definition, created_at) VALUES ($1, $2, $3, $4)";
const PUT_PURPOSE: &str = "INSERT INTO purposes (id, version, renewal_from, definition, \
     updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
     version = excluded.version, renewal_from = excluded.renewal_from, \
     definition = excluded.definition, updated_at = excluded.updated_at";
const SELECT_PURPOSE: &str = "SELECT id, version, renewal_from, definition, updated_at \
     FROM purposes WHERE id = $1";
const SELECT_PURPOSES: &str = "SELECT id, version, renewal_from, definition, updated_at \
     FROM purposes ORDER BY id";
const SELECT_PURPOSE_VERSION: &str =
    "SELECT definition FROM purpose_versions WHERE id = $1 AND version = $2";
const INSERT_CONSENT: &str =
    "INSERT INTO consent_events (id, subject, purpose, body) VALUES ($1, $2, $3, $4)";
const SELECT_CONSENT: &str = "SELECT body FROM consent_events WHERE id = $1";
const LATEST_NOTICE_VERSION: &str = "SELECT MAX(version) FROM notices WHERE id = $1";
const INSERT_NOTICE: &str = "INSERT INTO notices (id, version, language, text, text_sha256, \
     purposes, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// One pending request per subject and kind: the unique index covers open and approved
/// ones, and a request being closed (claimed) counts too.
const ADD_REQUEST: &str = "INSERT INTO rights_requests (id, subject, kind, status, \
     note_ciphertext, created_at, due_at) SELECT $1, $2, $3, $4, $5, $6, $7 \
     WHERE NOT EXISTS (SELECT 1 FROM rights_requests \
       WHERE subject = $2 AND kind = $3 AND status = 'closing') \
     ON CONFLICT DO NOTHING RETURNING id";
const SELECT_REQUEST: &str = "SELECT id, subject, kind, status, note_ciphertext, created_at, \
     due_at, closed_at, resolution, closed_by, approved_at, approved_by \
     FROM rights_requests WHERE id = $1";
const SELECT_REQUESTS: &str = "SELECT id, subject, kind, status, note_ciphertext, created_at, \
     due_at, closed_at, resolution, closed_by, approved_at, approved_by \
     FROM rights_requests WHERE 1 = 1";
const APPROVE_REQUEST: &str = "UPDATE rights_requests SET status = 'approved', \
     approved_by = $2, approved_at = $3 WHERE id = $1 AND status = 'open' RETURNING id";
const CLAIM_REQUEST: &str = "UPDATE rights_requests SET status = 'closing' \
     WHERE id = $1 AND status IN ('open', 'approved') RETURNING id";
const RELEASE_REQUEST: &str = "UPDATE rights_requests SET status = CASE \
     WHEN approved_at IS NULL THEN 'open' ELSE 'approved' END \
     WHERE id = $1 AND status = 'closing'";
/// Closes a request this caller claimed.
const CLOSE_CLAIMED: &str = "UPDATE rights_requests SET status = $2, resolution = $3, \
     closed_by = $4, closed_at = $5 WHERE id = $1 AND status = 'closing' RETURNING id";
/// Closes a request nobody claimed.
const CLOSE_UNCLAIMED: &str = "UPDATE rights_requests SET status = $2, resolution = $3, \
     closed_by = $4, closed_at = $5 WHERE id = $1 AND status IN ('open', 'approved') \
     RETURNING id";
const CONSENT_DAYS: &str = "SELECT day, granted, withdrawn, net FROM consent_day_counts \
     WHERE purpose = $1 ORDER BY day";

/// (sqlx states what a database can bind and decode as bounds per type, which cannot be
/// bundled into one trait: hence the list.)
#[async_trait]
impl<DB> ConsentStore for SqlStore<DB>
where
    DB: Database,
    SqlStore<DB>: Backend + Pooled<Db = DB>,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB> + Decode<'a, DB>,
    for<'r> (String,): FromRow<'r, <DB as Database>::Row>,
    for<'r> (i64, i64): FromRow<'r, <DB as Database>::Row>,
    for<'r> (Option<i64>,): FromRow<'r, <DB as Database>::Row>,
    for<'r> (i64, i64, i64, i64): FromRow<'r, <DB as Database>::Row>,
    for<'r> PurposeRow: FromRow<'r, <DB as Database>::Row>,
    for<'r> NoticeRow: FromRow<'r, <DB as Database>::Row>,
    for<'r> RequestRow: FromRow<'r, <DB as Database>::Row>,
{
    async fn put_purpose(
        &self,
        id: &str,
        definition: &PurposeDefinition,
        material: bool,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<PurposeRecord, StoreFailure> {
        let mut tx = one_at_a_time(self, &format!("purpose:{id}")).await?;
        let current: Option<(i64, i64)> = sqlx::query_as::<DB, _>(PURPOSE_VERSION_NOW)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        let version = current.map_or(1, |(v, _)| v + 1);
        let renewal_from = match current {
            Some((_, from)) if !material => from,
            _ => version,
        };
        let text = serde_json::to_string(definition).map_err(|_| corrupt("purpose"))?;
        sqlx::query::<DB>(INSERT_PURPOSE_VERSION)
            .bind(id)
            .bind(version)
            .bind(text.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        sqlx::query::<DB>(PUT_PURPOSE)
            .bind(id)
            .bind(version)
            .bind(renewal_from)
            .bind(text.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        commit_change(tx, audit).await?;
        purpose_record((id.to_owned(), version, renewal_from, text, now))
    }

    async fn purpose(&self, id: &str) -> Result<Option<PurposeRecord>, StoreFailure> {
        let row: Option<PurposeRow> = sqlx::query_as::<DB, _>(SELECT_PURPOSE)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(purpose_record).transpose()
    }

    async fn purposes(&self) -> Result<Vec<PurposeRecord>, StoreFailure> {
        let rows: Vec<PurposeRow> = sqlx::query_as::<DB, _>(SELECT_PURPOSES)
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.into_iter().map(purpose_record).collect()
    }

    async fn append_consent(
        &self,
        event: &ConsentEvent,
        audit: &[AccessEvent],
    ) -> Result<(), StoreFailure> {
        let body = serde_json::to_string(event).map_err(|_| corrupt("consent event"))?;
        let mut tx = self.pool().begin().await.map_err(failure)?;
        sqlx::query::<DB>(INSERT_CONSENT)
            .bind(event.id.as_str())
            .bind(event.subject.as_str())
            .bind(event.purpose.as_str())
            .bind(body)
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        Ok(commit_change(tx, audit).await?)
    }

    async fn consent_event(&self, id: &str) -> Result<Option<ConsentEvent>, StoreFailure> {
        let row: Option<(String,)> = sqlx::query_as::<DB, _>(SELECT_CONSENT)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(|(b,)| consent_event(&b)).transpose()
    }

    async fn purpose_version(
        &self,
        id: &str,
        version: u32,
    ) -> Result<Option<PurposeDefinition>, StoreFailure> {
        let row: Option<(String,)> = sqlx::query_as::<DB, _>(SELECT_PURPOSE_VERSION)
            .bind(id)
            .bind(i64::from(version))
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(|(d,)| serde_json::from_str(&d).map_err(|_| corrupt("purpose")))
            .transpose()
    }

    async fn consent_events(
        &self,
        subject: &str,
        purpose: Option<&str>,
    ) -> Result<Vec<ConsentEvent>, StoreFailure> {
        let mut q =
            sqlx::QueryBuilder::<DB>::new("SELECT body FROM consent_events WHERE subject = ");
        q.push_bind(subject);
        if let Some(p) = purpose {
            q.push(" AND purpose = ").push_bind(p);
        }
        q.push(" ORDER BY seq");
        let rows: Vec<(String,)> = q
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.iter().map(|(b,)| consent_event(b)).collect()
    }

    async fn put_notice(
        &self,
        id: &str,
        text: &NoticeText,
        text_sha256: &str,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<Notice, StoreFailure> {
        let mut tx = one_at_a_time(self, &format!("notice:{id}")).await?;
        let (latest,): (Option<i64>,) = sqlx::query_as::<DB, _>(LATEST_NOTICE_VERSION)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(failure)?;
        let version = latest.unwrap_or(0) + 1;
        let purposes = serde_json::to_string(&text.purposes).map_err(|_| corrupt("notice"))?;
        sqlx::query::<DB>(INSERT_NOTICE)
            .bind(id)
            .bind(version)
            .bind(text.language.as_str())
            .bind(text.text.as_str())
            .bind(text_sha256)
            .bind(purposes.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        commit_change(tx, audit).await?;
        notice((
            id.to_owned(),
            version,
            text.language.clone(),
            text_sha256.to_owned(),
            purposes,
            now,
        ))
    }

    async fn notice(&self, id: &str, version: Option<u32>) -> Result<Option<Notice>, StoreFailure> {
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "SELECT id, version, language, text_sha256, purposes, published_at \
             FROM notices WHERE id = ",
        );
        q.push_bind(id);
        if let Some(v) = version {
            q.push(" AND version = ").push_bind(i64::from(v));
        }
        q.push(" ORDER BY version DESC LIMIT 1");
        let row: Option<NoticeRow> = q
            .build_query_as()
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(notice).transpose()
    }

    async fn add_request(
        &self,
        request: &RightsRequest,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure> {
        let mut tx = self.pool().begin().await.map_err(failure)?;
        let added: Option<(String,)> = sqlx::query_as::<DB, _>(ADD_REQUEST)
            .bind(request.id.as_str())
            .bind(request.subject.as_str())
            .bind(request.kind.as_str())
            .bind(request.status.as_str())
            .bind(request.note_ciphertext.as_deref())
            .bind(request.created_at)
            .bind(request.due_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        Ok(finish_change(tx, added, audit).await?)
    }

    async fn request(&self, id: &str) -> Result<Option<RightsRequest>, StoreFailure> {
        let row: Option<RequestRow> = sqlx::query_as::<DB, _>(SELECT_REQUEST)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(rights_request).transpose()
    }

    async fn requests(
        &self,
        subject: Option<&str>,
        statuses: &[RequestStatus],
        limit: u32,
    ) -> Result<Vec<RightsRequest>, StoreFailure> {
        let mut q = sqlx::QueryBuilder::<DB>::new(SELECT_REQUESTS);
        if let Some(s) = subject {
            q.push(" AND subject = ").push_bind(s);
        }
        if !statuses.is_empty() {
            q.push(" AND status IN (");
            let mut list = q.separated(", ");
            for s in statuses {
                list.push_bind(s.as_str());
            }
            q.push(")");
        }
        q.push(" ORDER BY due_at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<RequestRow> = q
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.into_iter().map(rights_request).collect()
    }

    async fn approve_request(
        &self,
        id: &str,
        approved_by: &str,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure> {
        let mut tx = self.pool().begin().await.map_err(failure)?;
        let approved: Option<(String,)> = sqlx::query_as::<DB, _>(APPROVE_REQUEST)
            .bind(id)
            .bind(approved_by)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        Ok(finish_change(tx, approved, audit).await?)
    }

    async fn claim_request(&self, id: &str) -> Result<bool, StoreFailure> {
        let claimed: Option<(String,)> = sqlx::query_as::<DB, _>(CLAIM_REQUEST)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        Ok(claimed.is_some())
    }

    async fn release_request(&self, id: &str) -> Result<(), StoreFailure> {
        sqlx::query::<DB>(RELEASE_REQUEST)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(failure)?;
        Ok(())
    }

    async fn close_request(
        &self,
        id: &str,
        claimed: bool,
        closing: &Closing<'_>,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure> {
        let mut tx = self.pool().begin().await.map_err(failure)?;
        let statement = if claimed {
            CLOSE_CLAIMED
        } else {
            CLOSE_UNCLAIMED
        };
        let closed: Option<(String,)> = sqlx::query_as::<DB, _>(statement)
            .bind(id)
            .bind(closing.status.as_str())
            .bind(closing.resolution)
            .bind(closing.closed_by)
            .bind(closing.at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        Ok(finish_change(tx, closed, audit).await?)
    }

    async fn latest_consents(
        &self,
        purpose: &str,
        subjects: &[&str],
    ) -> Result<Vec<ConsentEvent>, StoreFailure> {
        let mut out: Vec<ConsentEvent> = Vec::new();
        for chunk in subjects.chunks(500) {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT c.body FROM consent_events c WHERE c.purpose = ",
            );
            q.push_bind(purpose);
            q.push(" AND c.subject IN (");
            let mut list = q.separated(", ");
            for s in chunk {
                list.push_bind(*s);
            }
            q.push(
                ") AND c.seq = (SELECT MAX(seq) FROM consent_events l \
                 WHERE l.subject = c.subject AND l.purpose = c.purpose)",
            );
            let rows: Vec<(String,)> = q
                .build_query_as()
                .fetch_all(self.pool())
                .await
                .map_err(failure)?;
            for (body,) in &rows {
                out.push(consent_event(body)?);
            }
        }
        Ok(out)
    }

    async fn consent_days(&self, purpose: &str) -> Result<Vec<ConsentDay>, StoreFailure> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as::<DB, _>(CONSENT_DAYS)
            .bind(purpose)
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        Ok(rows
            .into_iter()
            .map(|(day, granted, withdrawn, net)| ConsentDay {
                day,
                granted,
                withdrawn,
                net,
            })
            .collect())
    }
}
