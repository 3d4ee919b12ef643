//! In-process vault throughput: sealing and opening 32-byte fields, alone and through the
//! whole `Vault` path (data key from the LRU cache, associated data, string form).
//!
//! `cargo bench -p baomi-bench --bench vault`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use baomi_vault::memory::MemoryStore;
use baomi_vault::{
    AeadKey, Algorithm, Ciphertext, FieldName, KeyringName, RootKey, SubjectId, Suite, Vault,
    VaultOptions, seal,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const VALUE: &str = "6222021234567890123456789012_345"; // 32 bytes

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
    // The SM suite's cipher: RustCrypto's `sm4` in the same generic GCM, seal then open.
    let sm4 = AeadKey::new(Algorithm::Sm4Gcm, &Algorithm::Sm4Gcm.random_material()).unwrap();
    for (name, k) in [
        ("aead seal+open 32 B (aes-256-gcm)", &key),
        ("aead seal+open 32 B (sm4-gcm)", &sm4),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let blob = k
                    .seal(b"aad of about forty bytes, like ours....", VALUE.as_bytes())
                    .unwrap();
                k.open(b"aad of about forty bytes, like ours....", &blob)
                    .unwrap()
            })
        });
    }
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
        .enable_time()
        .build()
        .unwrap();
    let root = RootKey::generate().unwrap();
    let vault =
        Arc::new(Vault::new(&root, Arc::new(MemoryStore::new()), VaultOptions::default()).unwrap());
    rt.block_on(vault.ensure_keyring(&keyring, 0, &[])).unwrap();
    let gm = KeyringName::parse("gm").unwrap();
    rt.block_on(vault.create_keyring(&gm, Suite::Sm4Gcm, None, 0, &[]))
        .unwrap();
    let mut g = c.benchmark_group("vault");
    g.throughput(Throughput::Elements(1));
    for (suite, ring) in [("aes-256-gcm", &keyring), ("sm4-gcm", &gm)] {
        vault_round(&rt, &mut g, &vault, ring, suite);
    }
    g.finish();
    hsm(c, &rt);
}

/// Encrypt and decrypt through the whole vault path under `ring`, caches warm.
fn vault_round(
    rt: &tokio::runtime::Runtime,
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    vault: &Vault,
    ring: &KeyringName,
    suite: &str,
) {
    let subject = SubjectId::parse("u-10086").unwrap();
    let field = FieldName::parse("bank_card").unwrap();
    let ciphertext = rt
        .block_on(vault.encrypt(ring, &subject, &field, VALUE, 0))
        .unwrap();
    // Many calls inside one `block_on`: the runtime's entry cost is not the vault's.
    g.bench_function(format!("encrypt (cached data key, {suite})"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(
                        vault
                            .encrypt(ring, &subject, &field, VALUE, 0)
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
    g.bench_function(format!("decrypt (cached data key, {suite})"), |b| {
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
}

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// What an HSM unwrap costs (SoftHSM2, a software token in this process: a hardware token
/// over PCIe or the network costs more), against the software unwrap, and the vault's
/// decrypt with the root key in the HSM once its caches are warm. Needs `softhsm2-util`.
fn hsm(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    use baomi_vault::hsm::{Hsm, HsmSettings};
    if !std::path::Path::new(SOFTHSM).exists() {
        eprintln!("NOTE: SoftHSM2 is not installed: the HSM benchmarks did not run");
        return;
    }
    let label = format!("baomi-bench-{}", std::process::id());
    let init = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", &label])
        .args(["--pin", "1234", "--so-pin", "12345678"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let hsm = Arc::new(
        Hsm::generate(
            HsmSettings {
                module: SOFTHSM.into(),
                token_label: Some(label.clone()),
                slot: None,
                pin: zeroize::Zeroizing::new("1234".to_owned()),
            },
            "bench-root",
        )
        .unwrap(),
    );
    let kek = Algorithm::Aes256Gcm.random_material();
    let aad = b"bm:kek:v1|default|1";
    let sealed = hsm.encrypt(aad, &kek).unwrap();
    let software = AeadKey::from_bytes(&AeadKey::random_material()).unwrap();
    let sealed_soft = software.seal(aad, &kek).unwrap();
    let mut g = c.benchmark_group("hsm");
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "unwrap a 32-byte KEK in SoftHSM2 (C_Decrypt, AES-GCM)",
        |b| b.iter(|| hsm.decrypt(aad, &sealed).unwrap()),
    );
    g.bench_function("unwrap a 32-byte KEK in software (aes-gcm)", |b| {
        b.iter(|| software.open(aad, &sealed_soft).unwrap())
    });
    let root = RootKey::generate().unwrap();
    let vault = Vault::with_kek_wrapper(
        &root,
        Arc::new(baomi::service::hsm::HsmKekWrapper::new(Arc::clone(&hsm))),
        Arc::new(MemoryStore::new()),
        VaultOptions::default(),
    )
    .unwrap();
    let keyring = KeyringName::default_name();
    rt.block_on(vault.ensure_keyring(&keyring, 0, &[])).unwrap();
    vault_round(rt, &mut g, &vault, &keyring, "root key in SoftHSM2");
    g.finish();
    drop(vault);
    drop(hsm);
    let _ = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", &label])
        .output();
}

criterion_group!(benches, bench);
criterion_main!(benches);
