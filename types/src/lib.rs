//! Baomi's shared vocabulary: what the domain crates (vault, consent, audit) hand each other
//! and the server, so that none of them depends on another.
//!
//! - who acted and in which request: [`OperatorId`], [`RequestId`], [`Actor`];
//! - the [`AccessEvent`] a change or a read of personal information records, and its
//!   canonical text;
//! - [`StoreFailure`], what a storage port reports when the database fails;
//! - signatures: the [`SignatureAlgorithm`]s, the [`DetachedVerifier`] port through which a
//!   domain checks a signature without holding the cryptography, and signed JSON documents
//!   ([`signed_json`]);
//! - [`SelfTestCheck`], the outcome of one algorithm's known-answer test.

mod actor;
mod error;
mod event;
mod failure;
mod self_test;
mod signature;
pub mod signed_json;

pub use actor::{OperatorId, RequestId};
pub use error::{Error, Result};
pub use event::{AccessEvent, Action, Actor, ClientCertificate, Outcome};
pub use failure::StoreFailure;
pub use self_test::SelfTestCheck;
pub use signature::{DetachedVerifier, SignatureAlgorithm};
