//! The two migration trees (`src/store/sqlite/migrations`, `src/store/postgres/migrations`)
//! describe one schema: after every migration, both backends hold the same tables, each with
//! the same columns, of the same kind of type and nullability, and the same named indexes.
//! A column added to one tree and forgotten in the other fails here, not in production.
//! PostgreSQL only: it needs both databases.

use std::collections::BTreeSet;

use crate::helpers::TestDb;

/// The kind of a column's type, named alike for both backends.
fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "smallint" | "bigserial" | "int" | "int8" | "int4" => "integer",
        "text" | "character varying" => "text",
        "blob" | "bytea" => "bytes",
        "real" | "double precision" => "real",
        "boolean" => "boolean",
        other => panic!("a column type this test does not know: {other}"),
    }
}

/// `table.column kind null|not-null` for every column of every table but sqlx's own.
async fn sqlite_columns(db: &TestDb) -> BTreeSet<String> {
    let rows = db
        .texts(
            "SELECT m.name || '|' || p.name || '|' || p.type || '|' || \
             CASE WHEN p.\"notnull\" = 1 OR p.pk = 1 THEN 'not-null' ELSE 'null' END \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '_sqlx_migrations'",
        )
        .await;
    described(rows)
}

async fn postgres_columns(db: &TestDb) -> BTreeSet<String> {
    let rows = db
        .texts(
            "SELECT c.table_name || '|' || c.column_name || '|' || c.data_type || '|' || \
             CASE WHEN c.is_nullable = 'NO' THEN 'not-null' ELSE 'null' END \
             FROM information_schema.columns c JOIN information_schema.tables t \
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             AND c.table_name <> '_sqlx_migrations'",
        )
        .await;
    described(rows)
}

fn described(rows: Vec<String>) -> BTreeSet<String> {
    rows.into_iter()
        .map(|row| {
            let parts: Vec<&str> = row.split('|').collect();
            format!("{}.{} {} {}", parts[0], parts[1], kind(parts[2]), parts[3])
        })
        .collect()
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=… cargo test -- --include-ignored"]
async fn both_migration_trees_describe_one_schema() {
    crate::helpers::postgres_only();
    let postgres = TestDb::new().await;
    let sqlite = TestDb {
        url: None,
        dir: tempfile::tempdir().unwrap(),
    };
    for db in [&postgres, &sqlite] {
        baomi::store::open(&db.config())
            .await
            .unwrap()
            .close()
            .await;
    }

    let (lite, pg) = (
        sqlite_columns(&sqlite).await,
        postgres_columns(&postgres).await,
    );
    assert!(lite.len() > 100, "{} columns", lite.len());
    let only_sqlite: Vec<&String> = lite.difference(&pg).collect();
    let only_postgres: Vec<&String> = pg.difference(&lite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );

    let lite_indexes: BTreeSet<String> = sqlite
        .texts("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .await
        .into_iter()
        .collect();
    let pg_indexes: BTreeSet<String> = postgres
        .texts(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
        )
        .await
        .into_iter()
        .collect();
    assert!(lite_indexes.len() > 10, "{lite_indexes:?}");
    let only_sqlite: Vec<&String> = lite_indexes.difference(&pg_indexes).collect();
    let only_postgres: Vec<&String> = pg_indexes.difference(&lite_indexes).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "indexes only in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );

    // The triggers that keep the trail append-only: which statements on which tables they
    // guard. (SQLite needs a trigger per statement where PostgreSQL has one for both, so
    // their names differ by design.)
    let lite_triggers: BTreeSet<String> = sqlite
        .texts("SELECT tbl_name || '|' || upper(sql) FROM sqlite_master WHERE type = 'trigger'")
        .await
        .into_iter()
        .flat_map(|row| {
            let (table, sql) = row.split_once('|').unwrap();
            let head = sql.split(" ON ").next().unwrap_or("").to_owned();
            ["INSERT", "UPDATE", "DELETE"]
                .into_iter()
                .filter(move |event| head.contains(event))
                .map(move |event| format!("{table}.{event}"))
                .collect::<Vec<_>>()
        })
        .collect();
    let pg_triggers: BTreeSet<String> = postgres
        .texts(
            "SELECT DISTINCT event_object_table || '.' || event_manipulation \
             FROM information_schema.triggers WHERE trigger_schema = current_schema()",
        )
        .await
        .into_iter()
        .collect();
    assert!(!lite_triggers.is_empty(), "the trail's triggers");
    let only_sqlite: Vec<&String> = lite_triggers.difference(&pg_triggers).collect();
    let only_postgres: Vec<&String> = pg_triggers.difference(&lite_triggers).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "triggers only in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );
}
