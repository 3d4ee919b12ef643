//! Any text as a policy's JSON path: parsing never panics.
#![no_main]

use baomi_masking::json_path::JsonPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let _ = JsonPath::parse(raw);
});
