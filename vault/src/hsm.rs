//! A root key held in a hardware security module, through PKCS#11 (the `cryptoki` crate).
//!
//! The HSM holds one AES-256 secret key, generated inside the token as a persistent,
//! private, sensitive, non-extractable object (`CKA_EXTRACTABLE` false): its value never
//! leaves the token. Its label is the configured prefix and a random suffix, recorded with
//! the sealed root, so that two nodes initialising one database at once cannot leave two
//! keys of one label behind. Baomi asks the token to encrypt and decrypt with it
//! (`CKM_AES_GCM`, a random 96-bit IV chosen by Baomi, 128-bit tag, associated data) to seal
//! and open keyring KEKs (the server's `KekWrapper` runs these blocking calls off the async
//! runtime) and the 256-bit secret from which Baomi derives its index, token and signing
//! keys. Subject data keys are opened in software under the KEKs; the KEK cache means the
//! token is asked once per KEK version per hour, not once per request. A key found on the
//! token must be a sensitive, non-extractable AES key, and every open starts with an
//! encrypt-decrypt round trip and a tampered decrypt that must fail.
//!
//! One logged-in session is kept open (closing the last one logs the token out) behind a
//! mutex: calls are serialised, and each is short. When a call fails because the session,
//! the login or the library itself is gone (`CKR_SESSION_HANDLE_INVALID`,
//! `CKR_USER_NOT_LOGGED_IN`, `CKR_CRYPTOKI_NOT_INITIALIZED`, …), the session is dropped,
//! the library re-initialised if need be, a new session opened and logged in, the key found
//! again by label, and the call retried once; if that fails too, the caller gets
//! [`Error::Hsm`] and nothing has been written. A KEK is sealed before its row is stored, so
//! a failed seal leaves the store as it was.
//!
//! SoftHSM2, which the tests use, has no SM4: KEKs of SM keyrings are sealed with the
//! token's AES key too. A token with SM4 (a vendor mechanism; PKCS#11 3.x defines none)
//! would take its place here.

use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::aead::{NONCE_LEN, TAG_LEN};
use crate::{Error, Result, RootKey};

/// Where the HSM is and how to log in.
#[derive(Clone)]
pub struct HsmSettings {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (preferred: SoftHSM renumbers slots), or
    pub token_label: Option<String>,
    /// the slot id.
    pub slot: Option<u64>,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for HsmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmSettings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("slot", &self.slot)
            .field("pin", &"<redacted>")
            .finish()
    }
}

struct Connection {
    session: Session,
    key: ObjectHandle,
}

/// A root key in an HSM.
pub struct Hsm {
    pkcs11: Pkcs11,
    slot: Slot,
    pin: Zeroizing<String>,
    key_label: String,
    connection: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm")
            .field("slot", &self.slot.id())
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// A PKCS#11 failure as text: the function and the return value, nothing else.
fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        CkError::LibraryLoading(_) => "the PKCS#11 module could not be loaded".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Whether a failure means the session, the login or the library is gone, so that a new
/// session may succeed.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::SessionCount
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::UserNotLoggedIn
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

/// The lock through which this process loads a module and calls `C_Initialize`: PKCS#11
/// leaves concurrent `C_Initialize` calls undefined (SoftHSM2 may crash on them), and
/// several `Hsm`s in one process (nodes started at once, a reconnect beside a start) must
/// not race.
static INITIALIZING: Mutex<()> = Mutex::new(());

/// Loads the module at `path` and initialises it, one caller at a time in this process.
fn module(path: &std::path::Path) -> std::result::Result<Pkcs11, CkError> {
    let _one = INITIALIZING.lock().unwrap_or_else(|p| p.into_inner());
    let pkcs11 = Pkcs11::new(path)?;
    initialize_locked(&pkcs11)?;
    Ok(pkcs11)
}

/// Initialises `pkcs11` (again, after the library was finalised under us), one caller at a
/// time in this process.
fn initialize(pkcs11: &Pkcs11) -> std::result::Result<(), CkError> {
    let _one = INITIALIZING.lock().unwrap_or_else(|p| p.into_inner());
    initialize_locked(pkcs11)
}

fn initialize_locked(pkcs11: &Pkcs11) -> std::result::Result<(), CkError> {
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

impl Hsm {
    /// Loads the module, finds the token, logs in and finds the root key labelled
    /// `key_label` (as recorded with the sealed root). Blocking: run it off the async
    /// runtime.
    pub fn open(settings: HsmSettings, key_label: &str) -> Result<Self> {
        Self::start(settings, key_label, false)
    }

    /// [`Hsm::open`] for a new database: generates the root key inside the token, labelled
    /// `label_prefix`, `-` and 16 random hex digits ([`Hsm::key_label`] tells which).
    pub fn generate(settings: HsmSettings, label_prefix: &str) -> Result<Self> {
        let mut suffix = [0u8; 8];
        rand::fill(&mut suffix);
        let label = format!("{label_prefix}-{}", data_encoding::HEXLOWER.encode(&suffix));
        Self::start(settings, &label, true)
    }

    fn start(settings: HsmSettings, key_label: &str, generate: bool) -> Result<Self> {
        let pkcs11 = module(&settings.module).map_err(|e| Error::Hsm(describe(&e)))?;
        let slot = find_slot(&pkcs11, &settings)?;
        let hsm = Self {
            pkcs11,
            slot,
            pin: settings.pin,
            key_label: key_label.to_owned(),
            connection: Mutex::new(None),
        };
        let connection = hsm.connect(generate)?;
        *hsm.lock() = Some(connection);
        hsm.self_test()?;
        Ok(hsm)
    }

    /// A pairwise test of the token's key (its value cannot be read, so no known answer
    /// exists): a round trip must give the plaintext back, and a tampered tag must fail.
    fn self_test(&self) -> Result<()> {
        let plain = b"baomi hsm self-test block 32 B.";
        let mut sealed = self.encrypt(b"self-test", plain)?;
        let round_trip = self.decrypt(b"self-test", &sealed)?;
        if round_trip.as_slice() != plain {
            return Err(Error::Hsm(
                "the token's AES-GCM round trip failed its self-test".into(),
            ));
        }
        if let Some(last) = sealed.last_mut() {
            *last ^= 1;
        }
        match self.decrypt(b"self-test", &sealed) {
            Err(Error::Crypto) => Ok(()),
            Err(other) => Err(other),
            Ok(_) => Err(Error::Hsm(
                "the token accepted a tampered tag in its self-test".into(),
            )),
        }
    }

    /// Destroys the root key this instance generated (a node that lost the race to
    /// initialise the database removes its own key).
    pub fn destroy_key(&self) -> Result<()> {
        let destroyed = self.call(|c| c.session.destroy_object(c.key))?;
        destroyed.map_err(|e| Error::Hsm(describe(&e)))?;
        *self.lock() = None;
        Ok(())
    }

    /// The label of the root key on the token.
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new logged-in session and the root key's handle.
    fn connect(&self, generate: bool) -> Result<Connection> {
        let fail = |e: CkError| Error::Hsm(describe(&e));
        initialize(&self.pkcs11).map_err(fail)?;
        let session = self.pkcs11.open_rw_session(self.slot).map_err(fail)?;
        let pin = AuthPin::from(self.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            // The login is shared by every session of this process on the token.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(Error::Hsm("the HSM PIN is incorrect".to_owned()));
            }
            Err(e) => return Err(fail(e)),
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ];
        let found = session.find_objects(&template).map_err(fail)?;
        let key = match (found.as_slice(), generate) {
            ([key], false) => {
                check_key(&session, *key)?;
                *key
            }
            ([], true) => session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Wrap(false),
                        Attribute::Unwrap(false),
                        Attribute::Label(self.key_label.as_bytes().to_vec()),
                    ],
                )
                .map_err(fail)?,
            ([], false) => {
                return Err(Error::Hsm(format!(
                    "the token holds no key labelled {:?}: it is not the token this \
                     database's root key was made in",
                    self.key_label
                )));
            }
            _ => {
                return Err(Error::Hsm(format!(
                    "the token already holds a key labelled {:?} (or several)",
                    self.key_label
                )));
            }
        };
        Ok(Connection { session, key })
    }

    /// Runs `op` on the session, replacing a lost session once.
    fn call<T>(
        &self,
        op: impl Fn(&Connection) -> std::result::Result<T, CkError>,
    ) -> Result<std::result::Result<T, CkError>> {
        let mut guard = self.lock();
        for attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.connect(false)?);
            }
            let Some(connection) = guard.as_ref() else {
                continue;
            };
            match op(connection) {
                Err(e) if session_lost(&e) && attempt == 0 => {
                    // Dropped before a new session is opened: a stale handle must not close
                    // a new session that happens to get the same number.
                    *guard = None;
                }
                Err(e) if session_lost(&e) => {
                    *guard = None;
                    return Err(Error::Hsm(describe(&e)));
                }
                other => return Ok(other),
            }
        }
        Err(Error::Hsm(
            "the HSM session could not be restored".to_owned(),
        ))
    }

    /// Encrypts with the token's key: `iv ‖ ciphertext ‖ tag`.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut iv = [0u8; NONCE_LEN];
        rand::fill(&mut iv);
        let sealed = self.call(|c| {
            let mut iv = iv;
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            c.session
                .encrypt(&Mechanism::AesGcm(params), c.key, plaintext)
        })?;
        let sealed = sealed.map_err(|e| Error::Hsm(describe(&e)))?;
        if sealed.len() != plaintext.len() + TAG_LEN {
            return Err(Error::Hsm(
                "the token returned a ciphertext of the wrong length".into(),
            ));
        }
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts `iv ‖ ciphertext ‖ tag` with the token's key; any change fails.
    pub fn decrypt(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Crypto);
        }
        let (iv, body) = blob.split_at(NONCE_LEN);
        let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| Error::Crypto)?;
        let opened = self.call(|c| {
            let mut iv = iv;
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            c.session.decrypt(&Mechanism::AesGcm(params), c.key, body)
        })?;
        opened.map(Zeroizing::new).map_err(|e| match e {
            // A wrong tag or associated data: CKR_ENCRYPTED_DATA_INVALID, or
            // CKR_GENERAL_ERROR on SoftHSM 2.6 (fixed in later releases).
            CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                _,
            ) => Error::Crypto,
            other => Error::Hsm(describe(&other)),
        })
    }
}

/// Refuses a key that is not a sensitive, non-extractable AES key (one provisioned by hand
/// with the label Baomi looks for, say).
fn check_key(session: &Session, key: ObjectHandle) -> Result<()> {
    use cryptoki::object::AttributeType;
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::Sensitive,
                AttributeType::Extractable,
            ],
        )
        .map_err(|e| Error::Hsm(describe(&e)))?;
    let ok = attributes.contains(&Attribute::KeyType(KeyType::AES))
        && attributes.contains(&Attribute::Sensitive(true))
        && attributes.contains(&Attribute::Extractable(false));
    if ok {
        Ok(())
    } else {
        Err(Error::Hsm(
            "the root key on the token must be a sensitive, non-extractable AES key".into(),
        ))
    }
}

fn find_slot(pkcs11: &Pkcs11, settings: &HsmSettings) -> Result<Slot> {
    let fail = |e: CkError| Error::Hsm(describe(&e));
    let slots = pkcs11.get_slots_with_token().map_err(fail)?;
    for slot in slots {
        let matches = match (&settings.token_label, settings.slot) {
            (Some(label), _) => pkcs11.get_token_info(slot).map_err(fail)?.label() == label,
            (None, Some(id)) => slot.id() == id,
            (None, None) => false,
        };
        if matches {
            return Ok(slot);
        }
    }
    Err(Error::Hsm(match (&settings.token_label, settings.slot) {
        (Some(label), _) => format!("no token labelled {label:?} is present"),
        (None, Some(id)) => format!("no token is present in slot {id}"),
        (None, None) => "name the token (token_label) or its slot".to_owned(),
    }))
}

/// The associated data of the sealed root secret.
const ROOT_AAD: &[u8] = b"baomi/root-key/v1|pkcs11|CKM_AES_GCM";

impl Hsm {
    /// Seals Baomi's root secret (from which its index, token and signing keys derive) under
    /// the token's key, for storage: `iv ‖ ciphertext ‖ tag`.
    pub fn seal_root(&self, root: &RootKey) -> Result<Vec<u8>> {
        self.encrypt(ROOT_AAD, root.as_bytes())
    }

    /// Opens a root secret sealed by [`Hsm::seal_root`].
    pub fn open_root(&self, blob: &[u8]) -> Result<RootKey> {
        let plain = self.decrypt(ROOT_AAD, blob)?;
        RootKey::from_slice(&plain)
    }
}

/// The DER encoding of the Ed25519 curve's object identifier (1.3.101.112), the
/// `CKA_EC_PARAMS` of an Ed25519 key (PKCS#11 3.0 §2.3.10).
const ED25519_PARAMS: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];

/// Ed25519 signing keys held in the token (the audit trail's checkpoint keys): generated
/// inside it as a private, sensitive, non-extractable key pair, found again by label, and
/// asked to sign (`CKM_EDDSA`, pure Ed25519). Only the public half ever leaves the token.
impl Hsm {
    /// Generates an Ed25519 key pair in the token labelled `label_prefix`, `-` and 16
    /// random hex digits; returns the label and the 32-byte public key.
    pub fn generate_signing_key(&self, label_prefix: &str) -> Result<(String, [u8; 32])> {
        let mut suffix = [0u8; 8];
        rand::fill(&mut suffix);
        let label = format!("{label_prefix}-{}", data_encoding::HEXLOWER.encode(&suffix));
        let generated = self.call(|c| {
            c.session.generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::Private(false),
                    Attribute::Verify(true),
                    Attribute::EcParams(ED25519_PARAMS.to_vec()),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
        })?;
        generated.map_err(|e| Error::Hsm(describe(&e)))?;
        let public = self.signing_public_key(&label)?;
        Ok((label, public))
    }

    /// The public key of the Ed25519 key pair labelled `label`, after checking that its
    /// private half is a sensitive, non-extractable Ed25519 signing key.
    pub fn signing_public_key(&self, label: &str) -> Result<[u8; 32]> {
        use cryptoki::object::AttributeType;
        let found = self.call(|c| {
            let private = one_object(&c.session, ObjectClass::PRIVATE_KEY, label)?;
            let public = one_object(&c.session, ObjectClass::PUBLIC_KEY, label)?;
            let checked = c.session.get_attributes(
                private,
                &[
                    AttributeType::KeyType,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Sign,
                ],
            )?;
            let point = c
                .session
                .get_attributes(public, &[AttributeType::EcPoint])?;
            Ok((checked, point))
        })?;
        let (checked, point) = found.map_err(|e| not_found_or(e, label))?;
        let ok = checked.contains(&Attribute::KeyType(KeyType::EC_EDWARDS))
            && checked.contains(&Attribute::Sensitive(true))
            && checked.contains(&Attribute::Extractable(false))
            && checked.contains(&Attribute::Sign(true));
        if !ok {
            return Err(Error::Hsm(format!(
                "the signing key {label:?} on the token must be a sensitive, \
                 non-extractable Ed25519 key"
            )));
        }
        let Some(Attribute::EcPoint(point)) = point.first() else {
            return Err(Error::Hsm("the token gave no public key".into()));
        };
        // CKA_EC_POINT is the DER OCTET STRING of the 32-byte key (some tokens give the
        // bare 32 bytes).
        let bytes = match point.as_slice() {
            [0x04, 32, rest @ ..] if rest.len() == 32 => rest,
            bare if bare.len() == 32 => bare,
            _ => return Err(Error::Hsm("the token's public key is not Ed25519".into())),
        };
        let mut public = [0u8; 32];
        public.copy_from_slice(bytes);
        Ok(public)
    }

    /// Removes the key pair labelled `label` from the token (one generated for a generation
    /// that another node stored first).
    pub fn destroy_signing_key(&self, label: &str) -> Result<()> {
        let destroyed = self.call(|c| {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                c.session
                    .destroy_object(one_object(&c.session, class, label)?)?;
            }
            Ok(())
        })?;
        destroyed.map_err(|e| not_found_or(e, label))
    }

    /// Signs `message` with the Ed25519 key labelled `label` (pure Ed25519, RFC 8032).
    pub fn sign(&self, label: &str, message: &[u8]) -> Result<Vec<u8>> {
        let signed = self.call(|c| {
            let key = one_object(&c.session, ObjectClass::PRIVATE_KEY, label)?;
            c.session.sign(
                &Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
                    cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
                )),
                key,
                message,
            )
        })?;
        let signature = signed.map_err(|e| not_found_or(e, label))?;
        if signature.len() != 64 {
            return Err(Error::Hsm(
                "the token returned a signature of the wrong length".into(),
            ));
        }
        Ok(signature)
    }
}

/// A failure of a call on the signing key labelled `label`.
fn not_found_or(e: CkError, label: &str) -> Error {
    match e {
        CkError::NotSupported => Error::Hsm(format!(
            "the token holds no one signing key labelled {label:?}"
        )),
        other => Error::Hsm(describe(&other)),
    }
}

/// The one object of `class` labelled `label`; none, or several, is `NotSupported` (not a
/// lost session, which would be retried).
fn one_object(
    session: &Session,
    class: ObjectClass,
    label: &str,
) -> std::result::Result<ObjectHandle, CkError> {
    let found = session.find_objects(&[
        Attribute::Class(class),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(CkError::NotSupported),
    }
}
