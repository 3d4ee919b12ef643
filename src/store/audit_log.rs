//! The Merkle log's storage (`baomi_audit::LogStore`), written once for both backends.

/// Implements [`baomi_audit::LogStore`] for `$store`, whose `pool` is an sqlx pool.
macro_rules! impl_log_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl baomi_audit::LogStore for $store {
            async fn tree_size(&self) -> Result<u64, baomi_audit::AuditFailure> {
                // Leaves are dense from 0, so the size is the highest index plus one: an index
                // lookup, where COUNT(*) would scan the whole table.
                let (n,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(leaf_index) FROM audit_leaves")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(log_failure)?;
                Ok(n.and_then(|n| u64::try_from(n + 1).ok()).unwrap_or(0))
            }

            async fn pending(
                &self,
                limit: u32,
            ) -> Result<Vec<baomi_audit::PendingEvent>, baomi_audit::AuditFailure> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT e.seq, e.body FROM audit_events e \
                     WHERE e.seq > COALESCE((SELECT MAX(seq) FROM audit_leaves), 0) - $1 \
                     AND NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.seq = e.seq) \
                     ORDER BY e.seq LIMIT $2",
                )
                .bind(<$store as $crate::store::common::Backend>::LATE_COMMIT_WINDOW)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(log_failure)?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, body)| baomi_audit::PendingEvent { seq, body })
                    .collect())
            }

            async fn nodes(
                &self,
                ids: &[baomi_audit::merkle::NodeId],
            ) -> Result<
                std::collections::HashMap<baomi_audit::merkle::NodeId, baomi_audit::merkle::Hash>,
                baomi_audit::AuditFailure,
            > {
                let mut out = std::collections::HashMap::new();
                // Leaves (level 0) live in audit_leaves; audit_nodes holds levels 1 and up.
                let (leaves, inner): (Vec<_>, Vec<_>) = ids.iter().partition(|(l, _)| *l == 0);
                for chunk in leaves.chunks(200) {
                    let mut q = sqlx::QueryBuilder::new(
                        "SELECT leaf_index, hash FROM audit_leaves WHERE leaf_index IN ",
                    );
                    q.push_tuples(chunk, |mut t, (_, index)| {
                        t.push_bind(i64::try_from(*index).unwrap_or(i64::MAX));
                    });
                    let rows: Vec<(i64, Vec<u8>)> = q
                        .build_query_as()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(log_failure)?;
                    for (index, hash) in rows {
                        let hash: baomi_audit::merkle::Hash = hash
                            .try_into()
                            .map_err(|_| baomi_audit::AuditFailure("corrupt leaf hash".into()))?;
                        out.insert((0, u64::try_from(index).unwrap_or(u64::MAX)), hash);
                    }
                }
                for chunk in inner.chunks(200) {
                    let mut q = sqlx::QueryBuilder::new(
                        "SELECT level, node_index, hash FROM audit_nodes WHERE (level, node_index) IN ",
                    );
                    q.push_tuples(chunk, |mut t, (level, index)| {
                        t.push_bind(i64::from(*level))
                            .push_bind(i64::try_from(*index).unwrap_or(i64::MAX));
                    });
                    let rows: Vec<(i64, i64, Vec<u8>)> = q
                        .build_query_as()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(log_failure)?;
                    for (level, index, hash) in rows {
                        let hash: baomi_audit::merkle::Hash = hash
                            .try_into()
                            .map_err(|_| baomi_audit::AuditFailure("corrupt node hash".into()))?;
                        out.insert(
                            (
                                u32::try_from(level).unwrap_or(u32::MAX),
                                u64::try_from(index).unwrap_or(u64::MAX),
                            ),
                            hash,
                        );
                    }
                }
                Ok(out)
            }

            async fn integrate(
                &self,
                leaves: &[baomi_audit::Leaf],
                nodes: &[(baomi_audit::merkle::NodeId, baomi_audit::merkle::Hash)],
                checkpoint: &baomi_audit::StoredCheckpoint,
            ) -> Result<bool, baomi_audit::AuditFailure> {
                let mut tx = self
                    .pool
                    .begin_with(<$store as $crate::store::common::Backend>::BEGIN_WRITE)
                    .await
                    .map_err(log_failure)?;
                let outcome: Result<(), sqlx::Error> = async {
                    for chunk in leaves.chunks(500) {
                        let mut q = sqlx::QueryBuilder::new(
                            "INSERT INTO audit_leaves (leaf_index, seq, hash) ",
                        );
                        q.push_values(chunk, |mut row, leaf| {
                            row.push_bind(i64::try_from(leaf.index).unwrap_or(i64::MAX))
                                .push_bind(leaf.seq)
                                .push_bind(leaf.hash.to_vec());
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                    let inner: Vec<_> = nodes.iter().filter(|((l, _), _)| *l > 0).collect();
                    for chunk in inner.chunks(500) {
                        let mut q = sqlx::QueryBuilder::new(
                            "INSERT INTO audit_nodes (level, node_index, hash) ",
                        );
                        q.push_values(chunk, |mut row, &&((level, index), hash)| {
                            row.push_bind(i64::from(level))
                                .push_bind(i64::try_from(index).unwrap_or(i64::MAX))
                                .push_bind(hash.to_vec());
                        });
                        q.build().execute(&mut *tx).await?;
                    }
                    sqlx::query(
                        "INSERT INTO audit_checkpoints (tree_size, root, note, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(i64::try_from(checkpoint.tree_size).unwrap_or(i64::MAX))
                    .bind(checkpoint.root.to_vec())
                    .bind(&checkpoint.note)
                    .bind(checkpoint.created_at)
                    .execute(&mut *tx)
                    .await?;
                    Ok(())
                }
                .await;
                match outcome {
                    Ok(()) => {
                        tx.commit().await.map_err(log_failure)?;
                        Ok(true)
                    }
                    Err(e) => {
                        let _ = tx.rollback().await;
                        match $crate::store::StoreError::from(e) {
                            $crate::store::StoreError::Conflict => Ok(false),
                            other => Err(baomi_audit::AuditFailure(other.to_string())),
                        }
                    }
                }
            }

            async fn latest_checkpoint(
                &self,
            ) -> Result<Option<baomi_audit::StoredCheckpoint>, baomi_audit::AuditFailure> {
                let row: Option<(i64, Vec<u8>, String, i64)> = sqlx::query_as(
                    "SELECT tree_size, root, note, created_at FROM audit_checkpoints \
                     ORDER BY tree_size DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(log_failure)?;
                row.map(|(size, root, note, created_at)| {
                    Ok(baomi_audit::StoredCheckpoint {
                        tree_size: u64::try_from(size).unwrap_or(0),
                        root: root
                            .try_into()
                            .map_err(|_| baomi_audit::AuditFailure("corrupt root".into()))?,
                        note,
                        created_at,
                    })
                })
                .transpose()
            }

            async fn leaf_of(
                &self,
                seq: i64,
            ) -> Result<Option<(baomi_audit::Leaf, String)>, baomi_audit::AuditFailure> {
                let row: Option<(i64, Vec<u8>, String)> = sqlx::query_as(
                    "SELECT l.leaf_index, l.hash, e.body FROM audit_leaves l \
                     JOIN audit_events e ON e.seq = l.seq WHERE l.seq = $1",
                )
                .bind(seq)
                .fetch_optional(&self.pool)
                .await
                .map_err(log_failure)?;
                row.map(|(index, hash, body)| {
                    Ok((
                        baomi_audit::Leaf {
                            index: u64::try_from(index).unwrap_or(u64::MAX),
                            seq,
                            hash: hash
                                .try_into()
                                .map_err(|_| baomi_audit::AuditFailure("corrupt leaf".into()))?,
                        },
                        body,
                    ))
                })
                .transpose()
            }
        }

        fn log_failure(e: sqlx::Error) -> baomi_audit::AuditFailure {
            baomi_audit::AuditFailure($crate::store::StoreError::from(e).to_string())
        }
    };
}
