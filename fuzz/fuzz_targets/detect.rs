//! Any text: detection never panics, findings lie on character boundaries with matching
//! character offsets, and masking is idempotent.
#![no_main]

use baomi_masking::{Context, Masker, Scanner};
use libfuzzer_sys::fuzz_target;

/// Built once: compiling every pattern per input would leave no time for fuzzing.
static SCANNER: std::sync::LazyLock<Scanner> = std::sync::LazyLock::new(Scanner::new);

fuzz_target!(|text: &str| {
    let scanner = &*SCANNER;
    for f in scanner.scan(text) {
        assert!(text.is_char_boundary(f.byte_start) && text.is_char_boundary(f.byte_end));
        assert!(f.byte_start < f.byte_end);
        assert_eq!(text[..f.byte_start].chars().count(), f.start);
    }
    let ctx = Context {
        year: 2026,
        ..Context::default()
    };
    let masker = Masker::new(scanner, None);
    if let Ok(once) = masker.text(text, &ctx) {
        let twice = masker.text(&once.text, &ctx).map(|m| m.text);
        assert_eq!(twice.ok().as_deref(), Some(once.text.as_str()));
    }
});
