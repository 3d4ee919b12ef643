//! Any text as a ciphertext: parsing never panics, and what parses keeps its parts.
#![no_main]

use baomi_vault::Ciphertext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Ciphertext::parse(raw) {
        assert!(parsed.version >= 1, "version 0 is never written");
        assert!(raw.contains(parsed.keyring.as_str()));
    }
});
