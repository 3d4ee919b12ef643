//! Errors of the vault.

/// Result type of the vault.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the vault.
///
/// Cryptographic failures are deliberately opaque: a caller learns that an operation failed,
/// never why (wrong key, tampered bytes and a wrong context look the same).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The passphrase does not open the sealed root key (or the sealed record was altered).
    #[error("the unseal passphrase does not open the sealed root key")]
    WrongPassphrase,
    /// A cryptographic operation failed.
    #[error("cryptographic operation failed")]
    Crypto,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Key-derivation parameters are outside what Baomi accepts.
    #[error("invalid key derivation parameters: {0}")]
    KdfParams(&'static str),
    /// A passphrase is too weak to seal a root key with.
    #[error("the unseal passphrase must be at least {min} characters long")]
    WeakPassphrase {
        /// The minimum length in characters.
        min: usize,
    },
    /// A subject identifier is malformed.
    #[error("invalid subject id: {0}")]
    InvalidSubjectId(&'static str),
}
