//! The outcome of a known-answer self-test, as the vault and the audit trail report it.

/// The outcome of one algorithm's self-test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfTestCheck {
    /// The algorithm.
    pub algorithm: &'static str,
    /// The implementation that was tested.
    pub implementation: &'static str,
    /// Where the vector comes from.
    pub vector: &'static str,
    /// Whether the answer was the published one.
    pub passed: bool,
}
