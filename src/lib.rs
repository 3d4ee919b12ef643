//! Baomi (保密): the personal-data protection service for internet-finance platforms.
//!
//! This crate is the server and the command line. The domain lives in the library crates
//! `baomi-vault`, `baomi-masking`, `baomi-consent` and `baomi-audit`; here are the HTTP API
//! ([`http`]), the use cases ([`service`]), storage on SQLite and PostgreSQL ([`store`]),
//! configuration ([`config`]), start-up ([`server`]), and the witness other logs can
//! run (`baomi witness serve`, [`witness`]).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod http;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod witness;
