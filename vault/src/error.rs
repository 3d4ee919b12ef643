//! Errors of the vault.

use baomi_types::StoreFailure;

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
    /// A keyring name is malformed.
    #[error("invalid keyring name: 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit")]
    InvalidKeyring,
    /// An algorithm suite Baomi does not have.
    #[error("unknown algorithm suite")]
    UnknownSuite,
    /// A field name is not `<type>` or `<type>.<label>` with a known type.
    #[error(
        "invalid field: expected one of id_number, mobile, landline, bank_card, name, email, \
         address, passport, birth_date, text, optionally followed by .<label>"
    )]
    InvalidField,
    /// A value is longer than its field type allows.
    #[error("value longer than {max} bytes")]
    ValueTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// A string is not a Baomi ciphertext.
    #[error("not a Baomi ciphertext")]
    MalformedCiphertext,
    /// The ciphertext does not open for this subject and field: altered, or made for another
    /// subject, field, keyring or version.
    #[error("the ciphertext does not decrypt for this subject and field")]
    DecryptFailed,
    /// No keyring has this name.
    #[error("no such keyring")]
    UnknownKeyring,
    /// A keyring with this name exists.
    #[error("a keyring with this name exists")]
    KeyringExists,
    /// The ciphertext names a keyring version that does not exist.
    #[error("no such keyring version")]
    UnknownVersion,
    /// The ciphertext's version is below the keyring's minimum decryption version.
    #[error("this keyring version no longer decrypts (below min_decryption_version)")]
    VersionRetired,
    /// No stored value has this token (never issued, replaced, or its subject erased).
    #[error("unknown token")]
    UnknownToken,
    /// The subject was erased: its data keys are destroyed.
    #[error("the subject was erased")]
    SubjectErased,
    /// A keyring policy change that cannot be made.
    #[error("invalid keyring policy: {0}")]
    InvalidPolicy(&'static str),
    /// Stored fields still use versions below the requested minimum decryption version;
    /// background maintenance re-encrypts them, then the minimum can be raised.
    #[error(
        "stored fields still use older versions; they are being re-encrypted in the \
         background, retry later"
    )]
    StoredFieldsBelow,
    /// Another rotation happened at the same time; retry.
    #[error("the keyring was rotated concurrently; retry")]
    RotationConflict,
    /// A stored key does not open under the key above it: the database was altered, or
    /// belongs to another root key.
    #[error("stored key material is corrupt: {0}")]
    Corrupt(&'static str),
    /// The hardware security module failed or could not be reached even after reconnecting
    /// (the detail names the PKCS#11 function and return value, never a key or a PIN).
    #[error("hardware security module: {0}")]
    Hsm(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreFailure),
}
