//! Any JSON document: the walker never panics; it masks or refuses a too-deep document.
#![no_main]

use baomi_masking::{Context, Masker, Scanner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let scanner = Scanner::new();
    let ctx = Context {
        year: 2026,
        ..Context::default()
    };
    let _ = Masker::new(&scanner, None).json(&mut doc, &ctx);
});
