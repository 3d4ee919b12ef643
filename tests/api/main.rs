//! Baomi's end-to-end tests: the real server on a random port, over HTTP, against a fresh
//! database per test. SQLite by default; PostgreSQL when `TEST_DATABASE_URL` names one
//! (`.ci/run` runs the suite both ways).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod audit;
mod audit_alerts;
mod audit_events;
mod audit_keys;
mod audit_trail;
mod authz_matrix;
mod backup;
mod cli_mask;
mod cluster;
mod connections;
mod consent;
mod console;
mod console_matrix;
mod crash;
mod erasure_certificates;
mod helpers;
mod hsm;
mod import;
mod keys;
mod layers;
mod least_privilege;
mod masking;
mod ops;
mod pi_events;
mod problems;
mod process;
mod quotas;
mod requests;
mod schema_parity;
mod second_factor;
mod store_conformance;
mod stored;
mod subject_tokens;
mod suites;
mod tls;
mod vault;
mod witness;
