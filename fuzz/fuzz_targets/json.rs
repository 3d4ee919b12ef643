//! Any JSON document: the walker never panics; it masks or refuses a too-deep document.
#![no_main]

use baomi_masking::{Context, Masker, Scanner};
use libfuzzer_sys::fuzz_target;

/// Built once: compiling every pattern per input would leave no time for fuzzing.
static SCANNER: std::sync::LazyLock<Scanner> = std::sync::LazyLock::new(Scanner::new);

fuzz_target!(|data: &[u8]| {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let scanner = &*SCANNER;
    let ctx = Context {
        year: 2026,
        ..Context::default()
    };
    let _ = Masker::new(scanner, None).json(&mut doc, &ctx);
});
