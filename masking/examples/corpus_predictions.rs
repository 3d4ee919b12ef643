//! Writes the scanner's findings on a corpus file (the shared corpus's JSON Lines) in the
//! prediction format of the corpus's `score.py`:
//!
//! ```text
//! cargo run --release -p baomi-masking --example corpus_predictions -- corpus.jsonl > preds.jsonl
//! python3 score.py --corpus corpus.jsonl --predictions preds.jsonl
//! ```

use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: corpus_predictions CORPUS.jsonl")?;
    let scanner = baomi_masking::Scanner::new();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for line in std::io::BufReader::new(std::fs::File::open(path)?).lines() {
        let record: serde_json::Value = serde_json::from_str(&line?)?;
        let text = record["text"].as_str().ok_or("a record without text")?;
        let findings: Vec<serde_json::Value> = scanner
            .scan(text)
            .into_iter()
            .map(|f| serde_json::json!({"type": f.pi_type, "start": f.start, "end": f.end}))
            .collect();
        let line = serde_json::json!({"id": record["id"], "findings": findings});
        writeln!(out, "{line}")?;
    }
    Ok(())
}
