//! Purposes and the consent ledger (`baomi_consent::ConsentStore`), written once for both
//! backends.

use baomi_consent::{
    ConsentEvent, ConsentStoreFailure, PurposeRecord, RequestKind, RequestStatus, RightsRequest,
};

use super::StoreError;

impl From<StoreError> for ConsentStoreFailure {
    fn from(e: StoreError) -> Self {
        ConsentStoreFailure {
            unavailable: matches!(e, StoreError::Unavailable(_)),
            detail: e.to_string(),
        }
    }
}

/// The failure of a write transaction that could not start, as consent sees it.
pub(super) fn from_vault(e: baomi_vault::StoreFailure) -> ConsentStoreFailure {
    ConsentStoreFailure {
        unavailable: e.unavailable,
        detail: e.detail,
    }
}

/// Converts a sqlx error into consent's failure type.
pub(super) fn failure(e: sqlx::Error) -> ConsentStoreFailure {
    StoreError::from(e).into()
}

/// A stored text that does not read back.
pub(super) fn corrupt(what: &'static str) -> ConsentStoreFailure {
    StoreError::Corrupt(what).into()
}

/// A purposes row: id, version, renewal_from, definition, updated_at.
pub(super) type PurposeRow = (String, i64, i64, String, i64);

/// A purpose record from its row.
pub(super) fn purpose_record(
    (id, version, renewal_from, definition, updated_at): PurposeRow,
) -> Result<PurposeRecord, ConsentStoreFailure> {
    Ok(PurposeRecord {
        id,
        version: u32::try_from(version).map_err(|_| corrupt("purpose version"))?,
        renewal_from: u32::try_from(renewal_from).map_err(|_| corrupt("purpose version"))?,
        definition: serde_json::from_str(&definition).map_err(|_| corrupt("purpose"))?,
        updated_at,
    })
}

/// A ledger event from its stored text.
pub(super) fn consent_event(body: &str) -> Result<ConsentEvent, ConsentStoreFailure> {
    serde_json::from_str(body).map_err(|_| corrupt("consent event"))
}

/// A notices row (without the text): id, version, language, sha256, purposes, published_at.
pub(super) type NoticeRow = (String, i64, String, String, String, i64);

/// A notice from its row.
pub(super) fn notice(
    (id, version, language, text_sha256, purposes, published_at): NoticeRow,
) -> Result<baomi_consent::Notice, ConsentStoreFailure> {
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
pub(super) type RequestRow = (
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

/// The columns of a [`RequestRow`], in order.
pub(super) const REQUEST_COLUMNS: &str = "id, subject, kind, status, note_ciphertext, \
     created_at, due_at, closed_at, resolution, closed_by, approved_at, approved_by";

/// A rights request from its row.
pub(super) fn rights_request(row: RequestRow) -> Result<RightsRequest, ConsentStoreFailure> {
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

/// Implements [`baomi_consent::ConsentStore`] for `$store`.
macro_rules! impl_consent_store {
    ($store:ty) => {
        impl $store {
            /// A write transaction serialised with every other one on `key` (versions of
            /// one purpose or notice are numbered one at a time).
            async fn one_at_a_time(
                &self,
                key: &str,
            ) -> Result<
                sqlx::Transaction<'static, <$store as $crate::store::common::Pooled>::Db>,
                baomi_consent::ConsentStoreFailure,
            > {
                self.write_locked(<$store as $crate::store::common::Backend>::LOCK_SUBJECT, key)
                    .await
                    .map_err($crate::store::consent::from_vault)
            }
        }

        #[async_trait::async_trait]
        impl baomi_consent::ConsentStore for $store {
            async fn put_purpose(
                &self,
                id: &str,
                definition: &baomi_consent::PurposeDefinition,
                material: bool,
                now: i64,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<baomi_consent::PurposeRecord, baomi_consent::ConsentStoreFailure> {
                let f = $crate::store::consent::failure;
                let mut tx = self.one_at_a_time(&format!("purpose:{id}")).await?;
                let current: Option<(i64, i64)> =
                    sqlx::query_as("SELECT version, renewal_from FROM purposes WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(f)?;
                let version = current.map_or(1, |(v, _)| v + 1);
                let renewal_from = match current {
                    Some((_, from)) if !material => from,
                    _ => version,
                };
                let text = serde_json::to_string(definition)
                    .map_err(|_| $crate::store::consent::corrupt("purpose"))?;
                sqlx::query(
                    "INSERT INTO purpose_versions (id, version, definition, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(version)
                .bind(&text)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                sqlx::query(
                    "INSERT INTO purposes (id, version, renewal_from, definition, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                     version = excluded.version, renewal_from = excluded.renewal_from, \
                     definition = excluded.definition, updated_at = excluded.updated_at",
                )
                .bind(id)
                .bind(version)
                .bind(renewal_from)
                .bind(&text)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                commit_change(tx, audit).await.map_err(f)?;
                $crate::store::consent::purpose_record((
                    id.to_owned(),
                    version,
                    renewal_from,
                    text,
                    now,
                ))
            }

            async fn purpose(
                &self,
                id: &str,
            ) -> Result<Option<baomi_consent::PurposeRecord>, baomi_consent::ConsentStoreFailure>
            {
                let row: Option<$crate::store::consent::PurposeRow> = sqlx::query_as(
                    "SELECT id, version, renewal_from, definition, updated_at \
                     FROM purposes WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::consent::failure)?;
                row.map($crate::store::consent::purpose_record).transpose()
            }

            async fn purposes(
                &self,
            ) -> Result<Vec<baomi_consent::PurposeRecord>, baomi_consent::ConsentStoreFailure> {
                let rows: Vec<$crate::store::consent::PurposeRow> = sqlx::query_as(
                    "SELECT id, version, renewal_from, definition, updated_at \
                     FROM purposes ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::consent::failure)?;
                rows.into_iter()
                    .map($crate::store::consent::purpose_record)
                    .collect()
            }

            async fn append_consent(
                &self,
                event: &baomi_consent::ConsentEvent,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<(), baomi_consent::ConsentStoreFailure> {
                let f = $crate::store::consent::failure;
                let body = serde_json::to_string(event)
                    .map_err(|_| $crate::store::consent::corrupt("consent event"))?;
                let mut tx = self.pool.begin().await.map_err(f)?;
                sqlx::query(
                    "INSERT INTO consent_events (id, subject, purpose, body) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&event.id)
                .bind(&event.subject)
                .bind(&event.purpose)
                .bind(&body)
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                commit_change(tx, audit).await.map_err(f)?;
                Ok(())
            }

            async fn consent_event(
                &self,
                id: &str,
            ) -> Result<Option<baomi_consent::ConsentEvent>, baomi_consent::ConsentStoreFailure>
            {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT body FROM consent_events WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::store::consent::failure)?;
                row.map(|(b,)| $crate::store::consent::consent_event(&b))
                    .transpose()
            }

            async fn purpose_version(
                &self,
                id: &str,
                version: u32,
            ) -> Result<Option<baomi_consent::PurposeDefinition>, baomi_consent::ConsentStoreFailure>
            {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT definition FROM purpose_versions WHERE id = $1 AND version = $2",
                )
                .bind(id)
                .bind(i64::from(version))
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::consent::failure)?;
                row.map(|(d,)| {
                    serde_json::from_str(&d).map_err(|_| $crate::store::consent::corrupt("purpose"))
                })
                .transpose()
            }

            async fn consent_events(
                &self,
                subject: &str,
                purpose: Option<&str>,
            ) -> Result<Vec<baomi_consent::ConsentEvent>, baomi_consent::ConsentStoreFailure> {
                let mut q =
                    sqlx::QueryBuilder::new("SELECT body FROM consent_events WHERE subject = ");
                q.push_bind(subject);
                if let Some(p) = purpose {
                    q.push(" AND purpose = ").push_bind(p);
                }
                q.push(" ORDER BY seq");
                let rows: Vec<(String,)> = q
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::consent::failure)?;
                rows.iter()
                    .map(|(b,)| $crate::store::consent::consent_event(b))
                    .collect()
            }

            async fn put_notice(
                &self,
                id: &str,
                text: &baomi_consent::NoticeText,
                text_sha256: &str,
                now: i64,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<baomi_consent::Notice, baomi_consent::ConsentStoreFailure> {
                let f = $crate::store::consent::failure;
                let mut tx = self.one_at_a_time(&format!("notice:{id}")).await?;
                let (latest,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(version) FROM notices WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(f)?;
                let version = latest.unwrap_or(0) + 1;
                let purposes = serde_json::to_string(&text.purposes)
                    .map_err(|_| $crate::store::consent::corrupt("notice"))?;
                sqlx::query(
                    "INSERT INTO notices (id, version, language, text, text_sha256, purposes, \
                     published_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(version)
                .bind(&text.language)
                .bind(&text.text)
                .bind(text_sha256)
                .bind(&purposes)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                commit_change(tx, audit).await.map_err(f)?;
                $crate::store::consent::notice((
                    id.to_owned(),
                    version,
                    text.language.clone(),
                    text_sha256.to_owned(),
                    purposes,
                    now,
                ))
            }

            async fn notice(
                &self,
                id: &str,
                version: Option<u32>,
            ) -> Result<Option<baomi_consent::Notice>, baomi_consent::ConsentStoreFailure> {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT id, version, language, text_sha256, purposes, published_at \
                     FROM notices WHERE id = ",
                );
                q.push_bind(id);
                if let Some(v) = version {
                    q.push(" AND version = ").push_bind(i64::from(v));
                }
                q.push(" ORDER BY version DESC LIMIT 1");
                let row: Option<$crate::store::consent::NoticeRow> = q
                    .build_query_as()
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::consent::failure)?;
                row.map($crate::store::consent::notice).transpose()
            }

            async fn add_request(
                &self,
                request: &baomi_consent::RightsRequest,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<bool, baomi_consent::ConsentStoreFailure> {
                let f = $crate::store::consent::failure;
                let mut tx = self.pool.begin().await.map_err(f)?;
                // One pending request per subject and kind: the unique index covers open and
                // approved ones, and a request being closed (claimed) counts too.
                let added = sqlx::query(
                    "INSERT INTO rights_requests (id, subject, kind, status, note_ciphertext, \
                     created_at, due_at) SELECT $1, $2, $3, $4, $5, $6, $7 \
                     WHERE NOT EXISTS (SELECT 1 FROM rights_requests \
                       WHERE subject = $2 AND kind = $3 AND status = 'closing') \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&request.id)
                .bind(&request.subject)
                .bind(request.kind.as_str())
                .bind(request.status.as_str())
                .bind(&request.note_ciphertext)
                .bind(request.created_at)
                .bind(request.due_at)
                .execute(&mut *tx)
                .await
                .map_err(f)?
                .rows_affected();
                finish_change(tx, added, audit).await.map_err(f)
            }

            async fn request(
                &self,
                id: &str,
            ) -> Result<Option<baomi_consent::RightsRequest>, baomi_consent::ConsentStoreFailure>
            {
                let row: Option<$crate::store::consent::RequestRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {} FROM rights_requests WHERE id = $1",
                        $crate::store::consent::REQUEST_COLUMNS
                    )))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::consent::failure)?;
                row.map($crate::store::consent::rights_request).transpose()
            }

            async fn requests(
                &self,
                subject: Option<&str>,
                statuses: &[baomi_consent::RequestStatus],
                limit: u32,
            ) -> Result<Vec<baomi_consent::RightsRequest>, baomi_consent::ConsentStoreFailure>
            {
                let mut q = sqlx::QueryBuilder::new(format!(
                    "SELECT {} FROM rights_requests WHERE 1 = 1",
                    $crate::store::consent::REQUEST_COLUMNS
                ));
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
                q.push(" ORDER BY due_at, id LIMIT ").push_bind(i64::from(limit));
                let rows: Vec<$crate::store::consent::RequestRow> = q
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::consent::failure)?;
                rows.into_iter()
                    .map($crate::store::consent::rights_request)
                    .collect()
            }

            async fn approve_request(
                &self,
                id: &str,
                approved_by: &str,
                now: i64,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<bool, baomi_consent::ConsentStoreFailure> {
                let f = $crate::store::consent::failure;
                let mut tx = self.pool.begin().await.map_err(f)?;
                let approved = sqlx::query(
                    "UPDATE rights_requests SET status = 'approved', approved_by = $2, \
                     approved_at = $3 WHERE id = $1 AND status = 'open'",
                )
                .bind(id)
                .bind(approved_by)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(f)?
                .rows_affected();
                finish_change(tx, approved, audit).await.map_err(f)
            }

            async fn claim_request(
                &self,
                id: &str,
            ) -> Result<bool, baomi_consent::ConsentStoreFailure> {
                let claimed = sqlx::query(
                    "UPDATE rights_requests SET status = 'closing' \
                     WHERE id = $1 AND status IN ('open', 'approved')",
                )
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err($crate::store::consent::failure)?
                .rows_affected();
                Ok(claimed == 1)
            }

            async fn release_request(
                &self,
                id: &str,
            ) -> Result<(), baomi_consent::ConsentStoreFailure> {
                sqlx::query(
                    "UPDATE rights_requests SET status = CASE WHEN approved_at IS NULL \
                     THEN 'open' ELSE 'approved' END WHERE id = $1 AND status = 'closing'",
                )
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err($crate::store::consent::failure)?;
                Ok(())
            }

            async fn close_request(
                &self,
                id: &str,
                claimed: bool,
                closing: &baomi_consent::Closing<'_>,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<bool, baomi_consent::ConsentStoreFailure> {
                let f = $crate::store::consent::failure;
                let mut tx = self.pool.begin().await.map_err(f)?;
                let from = if claimed {
                    "status = 'closing'"
                } else {
                    "status IN ('open', 'approved')"
                };
                let closed = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE rights_requests SET status = $2, resolution = $3, closed_by = $4, \
                     closed_at = $5 WHERE id = $1 AND {from}"
                )))
                .bind(id)
                .bind(closing.status.as_str())
                .bind(closing.resolution)
                .bind(closing.closed_by)
                .bind(closing.at)
                .execute(&mut *tx)
                .await
                .map_err(f)?
                .rows_affected();
                finish_change(tx, closed, audit).await.map_err(f)
            }

            async fn latest_consents(
                &self,
                purpose: &str,
                subjects: &[&str],
            ) -> Result<Vec<baomi_consent::ConsentEvent>, baomi_consent::ConsentStoreFailure> {
                let mut out: Vec<baomi_consent::ConsentEvent> = Vec::new();
                for chunk in subjects.chunks(500) {
                    let mut q = sqlx::QueryBuilder::new(
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
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::store::consent::failure)?;
                    for (body,) in &rows {
                        out.push($crate::store::consent::consent_event(body)?);
                    }
                }
                Ok(out)
            }

            async fn consent_days(
                &self,
                purpose: &str,
            ) -> Result<Vec<baomi_consent::ConsentDay>, baomi_consent::ConsentStoreFailure> {
                let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT day, granted, withdrawn, net FROM consent_day_counts \
                     WHERE purpose = $1 ORDER BY day",
                )
                .bind(purpose)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::consent::failure)?;
                Ok(rows
                    .into_iter()
                    .map(|(day, granted, withdrawn, net)| baomi_consent::ConsentDay {
                        day,
                        granted,
                        withdrawn,
                        net,
                    })
                    .collect())
            }
        }
    };
}
