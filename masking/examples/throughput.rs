//! Detection throughput on one core, on a corpus file of the shared corpus's format:
//! all detectors together (best of three passes), then each alone.
//!
//! ```text
//! cargo run --release -p baomi-masking --example throughput -- corpus.jsonl [--total] [--only TYPE]
//! ```
//!
//! `bench/masking-vs-presidio.sh` runs it beside Presidio on the same corpus.

use std::time::Instant;

use baomi_masking::{PiType, Scanner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: throughput CORPUS.jsonl")?;
    let mut texts = Vec::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let record: serde_json::Value = serde_json::from_str(line)?;
        texts.push(
            record["text"]
                .as_str()
                .ok_or("a record without text")?
                .to_owned(),
        );
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let rate = |scanner: &Scanner| {
        let start = Instant::now();
        let found: usize = texts.iter().map(|t| scanner.scan(t).len()).sum();
        (bytes as f64 / start.elapsed().as_secs_f64() / 1e6, found)
    };
    // `--only TYPE`: that detector alone, for profiling it.
    let args: Vec<String> = std::env::args().collect();
    let only = (args.iter().position(|a| a == "--only"))
        .and_then(|i| args.get(i + 1))
        .map(|t| PiType::parse(t).ok_or("--only: no such type"))
        .transpose()?;
    let all = match only {
        Some(t) => Scanner::new().only(&[t]),
        None => Scanner::new(),
    };
    let best = (0..3).map(|_| rate(&all).0).fold(0.0, f64::max);
    println!(
        "records={} text_bytes={bytes} detect_mb_per_s={best:.2} findings={}",
        texts.len(),
        rate(&all).1
    );
    if only.is_some() || args.iter().any(|a| a == "--total") {
        return Ok(());
    }
    let (mb, _) = rate(&Scanner::new().only(&[]));
    println!(
        "  {:15} {mb:8.1} MB/s (preparing the text, settling overlaps)",
        "(no detector)"
    );
    for t in PiType::ALL.into_iter().filter(|t| t.detected()) {
        let (mb, n) = rate(&Scanner::new().only(&[t]));
        println!("  {:15} {mb:8.1} MB/s {n:7} findings", t.as_str());
    }
    Ok(())
}
