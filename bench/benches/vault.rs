//! In-process vault throughput: sealing and opening 32-byte fields, alone and through the
//! whole `Vault` path (data key from the LRU cache, associated data, string form).
//!
//! `cargo bench -p baomi-bench --bench vault`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use baomi_audit::AccessEvent;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use baomi_vault::{
    AeadKey, Ciphertext, Erasure, ErasureCounts, FieldName, IndexEntry, Keyring, KeyringName,
    PolicyOutcome, PutOutcome, RootKey, SealedDataKey, SealedKek, StoreFailure, StoredField,
    SubjectId, Suite, Vault, VaultOptions, VaultStore, seal,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const VALUE: &str = "6222021234567890123456789012_345"; // 32 bytes

/// Just enough of a store for the hot path (which, once keys are cached, never calls it).
#[derive(Default)]
struct MemoryStore {
    keyrings: Mutex<HashMap<String, Keyring>>,
    keks: Mutex<HashMap<(String, u32), SealedKek>>,
    keys: Mutex<HashMap<(String, String, u32), SealedDataKey>>,
}

#[async_trait]
impl VaultStore for MemoryStore {
    async fn keyring(&self, name: &KeyringName) -> Result<Option<Keyring>, StoreFailure> {
        Ok(self.keyrings.lock().unwrap().get(name.as_str()).cloned())
    }
    async fn keyrings(&self) -> Result<Vec<Keyring>, StoreFailure> {
        Ok(self.keyrings.lock().unwrap().values().cloned().collect())
    }
    async fn create_keyring(
        &self,
        k: &Keyring,
        first: &SealedKek,
        _: &[AccessEvent],
    ) -> Result<bool, StoreFailure> {
        self.keyrings
            .lock()
            .unwrap()
            .insert(k.name.as_str().to_owned(), k.clone());
        self.keks
            .lock()
            .unwrap()
            .insert((k.name.as_str().to_owned(), first.version), first.clone());
        Ok(true)
    }
    async fn kek(&self, k: &KeyringName, v: u32) -> Result<Option<SealedKek>, StoreFailure> {
        Ok(self
            .keks
            .lock()
            .unwrap()
            .get(&(k.as_str().to_owned(), v))
            .cloned())
    }
    async fn add_kek(&self, _: &SealedKek, _: &[AccessEvent]) -> Result<bool, StoreFailure> {
        Ok(false)
    }
    async fn set_policy(
        &self,
        _: &KeyringName,
        _: u32,
        _: Option<u64>,
        _: &[AccessEvent],
    ) -> Result<PolicyOutcome, StoreFailure> {
        Ok(PolicyOutcome::Set)
    }
    async fn subject_key(
        &self,
        k: &KeyringName,
        s: &SubjectId,
        v: u32,
    ) -> Result<Option<SealedDataKey>, StoreFailure> {
        let id = (k.as_str().to_owned(), s.as_str().to_owned(), v);
        Ok(self.keys.lock().unwrap().get(&id).cloned())
    }
    async fn insert_subject_key(
        &self,
        key: &SealedDataKey,
    ) -> Result<Option<SealedDataKey>, StoreFailure> {
        let id = (
            key.keyring.as_str().to_owned(),
            key.subject.as_str().to_owned(),
            key.version,
        );
        Ok(Some(
            self.keys
                .lock()
                .unwrap()
                .entry(id)
                .or_insert_with(|| key.clone())
                .clone(),
        ))
    }
    async fn erasure(&self, _: &SubjectId) -> Result<Option<Erasure>, StoreFailure> {
        Ok(None)
    }
    async fn erase_subject(
        &self,
        _: &Erasure,
        _: &[AccessEvent],
    ) -> Result<ErasureCounts, StoreFailure> {
        Ok(ErasureCounts::default())
    }
    async fn subject_keys_sealed_below(
        &self,
        _: &KeyringName,
        _: u32,
        _: u32,
    ) -> Result<Vec<SealedDataKey>, StoreFailure> {
        Ok(Vec::new())
    }
    async fn reseal_subject_key(&self, _: &SealedDataKey, _: u32) -> Result<bool, StoreFailure> {
        Ok(false)
    }
    async fn delete_subject_keys_below(
        &self,
        _: &KeyringName,
        _: u32,
    ) -> Result<u64, StoreFailure> {
        Ok(0)
    }
    // The stored-field calls are not on the path measured here.
    async fn put_fields(
        &self,
        _: &SubjectId,
        _: &[StoredField],
        _: &[IndexEntry],
        _: &[AccessEvent],
    ) -> Result<PutOutcome, StoreFailure> {
        Ok(PutOutcome::Stored)
    }
    async fn stored_fields_below(
        &self,
        _: &KeyringName,
        _: u32,
        _: u32,
    ) -> Result<Vec<StoredField>, StoreFailure> {
        Ok(Vec::new())
    }
    async fn replace_ciphertext(&self, _: &StoredField, _: &str) -> Result<bool, StoreFailure> {
        Ok(false)
    }
    async fn lowest_stored_version(&self, _: &KeyringName) -> Result<Option<u32>, StoreFailure> {
        Ok(None)
    }
    async fn sweep_erased(&self) -> Result<u64, StoreFailure> {
        Ok(0)
    }
    async fn fields(&self, _: &SubjectId) -> Result<Vec<StoredField>, StoreFailure> {
        Ok(Vec::new())
    }
    async fn field_by_token(&self, _: &str) -> Result<Option<StoredField>, StoreFailure> {
        Ok(None)
    }
    async fn search_index(
        &self,
        _: &str,
        _: &str,
        _: &[u8],
    ) -> Result<Vec<SubjectId>, StoreFailure> {
        Ok(Vec::new())
    }
}

fn bench(c: &mut Criterion) {
    let key = AeadKey::from_bytes(&AeadKey::random_material()).unwrap();
    let keyring = KeyringName::default_name();
    let subject = SubjectId::parse("u-10086").unwrap();
    let field = FieldName::parse("bank_card").unwrap();
    let sealed =
        seal::seal_value(&key, Suite::Aes256Gcm, &keyring, 1, &subject, &field, VALUE).unwrap();

    let mut g = c.benchmark_group("field");
    g.throughput(Throughput::Elements(1));
    let raw = key
        .seal(b"aad of about forty bytes, like ours....", VALUE.as_bytes())
        .unwrap();
    g.bench_function("aead seal 32 B (nonce + aes-256-gcm only)", |b| {
        b.iter(|| {
            key.seal(b"aad of about forty bytes, like ours....", VALUE.as_bytes())
                .unwrap()
        })
    });
    g.bench_function("aead open 32 B (aes-256-gcm only)", |b| {
        b.iter(|| {
            key.open(b"aad of about forty bytes, like ours....", &raw)
                .unwrap()
        })
    });
    // For comparison only: ring's AES-256-GCM (its key schedule is not wiped on drop, which
    // is why the vault uses RustCrypto's `aes-gcm` with `zeroize`).
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).unwrap(),
    );
    g.bench_function("ring seal+open 32 B (comparison)", |b| {
        b.iter(|| {
            let mut buf = VALUE.as_bytes().to_vec();
            let nonce = [1u8; 12];
            ring_key
                .seal_in_place_append_tag(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(b"aad"),
                    &mut buf,
                )
                .unwrap();
            ring_key
                .open_in_place(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(b"aad"),
                    &mut buf,
                )
                .unwrap()
                .len()
        })
    });
    g.bench_function("seal 32 B (aes-256-gcm, string form)", |b| {
        b.iter(|| {
            seal::seal_value(&key, Suite::Aes256Gcm, &keyring, 1, &subject, &field, VALUE).unwrap()
        })
    });
    g.bench_function("open 32 B (parse + aes-256-gcm)", |b| {
        b.iter(|| {
            let parsed = Ciphertext::parse(&sealed).unwrap();
            seal::open_value(&key, &parsed, &subject, &field).unwrap()
        })
    });
    g.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let root = RootKey::generate().unwrap();
    let vault = Arc::new(
        Vault::new(
            &root,
            Arc::new(MemoryStore::default()),
            VaultOptions::default(),
        )
        .unwrap(),
    );
    rt.block_on(vault.ensure_keyring(&keyring, 0, &[])).unwrap();
    let ciphertext = rt
        .block_on(vault.encrypt(&keyring, &subject, &field, VALUE, 0))
        .unwrap();
    let mut g = c.benchmark_group("vault");
    g.throughput(Throughput::Elements(1));
    // Many calls inside one `block_on`: the runtime's entry cost is not the vault's.
    g.bench_function("encrypt (cached data key)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(
                        vault
                            .encrypt(&keyring, &subject, &field, VALUE, 0)
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("decrypt (cached data key)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(
                        vault.decrypt(&subject, &field, &ciphertext).await.unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
