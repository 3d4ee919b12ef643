//! The erasure journal: every erasure, appended as one JSON line and synced to disk before
//! the erasure is acknowledged, in a file kept outside the database. Start-up replays it,
//! so that a database restored from a backup taken before an erasure has the erasure
//! re-applied before Baomi serves a single request.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use baomi_vault::{Erasure, SubjectId, Vault};
use serde::{Deserialize, Serialize};

use crate::service::ServiceError;

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    subject: String,
    receipt_id: String,
    erased_at: i64,
}

/// The journal file.
pub struct ErasureJournal {
    path: PathBuf,
    /// Held while writing; true while the file may end in a torn line (until this process
    /// has written once, and again after a failed write).
    maybe_torn: Mutex<bool>,
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("erasure journal {path}: {reason}")]
pub struct JournalError {
    path: PathBuf,
    reason: String,
}

impl ErasureJournal {
    /// The journal at `path` (created on first write).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            maybe_torn: Mutex::new(true),
        }
    }

    fn fail(&self, reason: impl std::fmt::Display) -> JournalError {
        JournalError {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Appends an erasure and syncs it to disk.
    pub fn record(&self, erasure: &Erasure) -> Result<(), ServiceError> {
        let line = serde_json::to_string(&Entry {
            subject: erasure.subject.as_str().to_owned(),
            receipt_id: erasure.receipt_id.clone(),
            erased_at: erasure.erased_at,
        })
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut maybe_torn = self.maybe_torn.lock().unwrap_or_else(|p| p.into_inner());
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let repaired = if *maybe_torn {
            cut_torn_tail(&self.path)
        } else {
            Ok(())
        };
        let result = repaired
            .and_then(|()| options.open(&self.path))
            .and_then(|mut file| {
                file.write_all(line.as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_data()
            });
        *maybe_torn = result.is_err();
        result.map_err(|e| ServiceError::Unavailable(self.fail(e.kind()).to_string()))
    }

    /// Re-applies every erasure in the journal. Returns how many entries it holds. An entry
    /// that still destroyed something (its erasure had not reached the database) is recorded
    /// in the trail through `sink` as an erasure by the system.
    pub async fn replay(
        &self,
        vault: &Vault,
        sink: &dyn baomi_audit::AuditSink,
    ) -> Result<usize, JournalError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.fail(e.kind())),
        };
        let mut count = 0;
        let mut torn: Option<usize> = None;
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| self.fail(e.kind()))?;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(bad) = torn {
                // Only the last line may be torn (a crash mid-write, before the erasure was
                // acknowledged); a damaged line followed by others is a lost erasure.
                return Err(self.fail(format!("line {} is damaged", bad + 1)));
            }
            let entry: Entry = match serde_json::from_str(&line) {
                Ok(entry) => entry,
                Err(_) => {
                    torn = Some(n);
                    continue;
                }
            };
            let subject = SubjectId::parse(&entry.subject)
                .map_err(|_| self.fail(format!("line {}: invalid subject id", n + 1)))?;
            let erasure = baomi_vault::Erasure {
                subject,
                receipt_id: entry.receipt_id,
                erased_at: entry.erased_at,
            };
            let counts = vault
                .replay_erasure(&erasure, &[])
                .await
                .map_err(|e| self.fail(format!("line {}: {e}", n + 1)))?;
            if counts.data_keys + counts.fields + counts.index_entries > 0 {
                let mut event = crate::service::audit::system(
                    "baomi",
                    baomi_types::Action::Erase,
                    &format!("receipt:{}", erasure.receipt_id),
                );
                event.subject = Some(erasure.subject.as_str().to_owned());
                sink.append(&[event])
                    .await
                    .map_err(|e| self.fail(format!("line {}: {e}", n + 1)))?;
            }
            count += 1;
        }
        if let Some(bad) = torn {
            tracing::warn!(
                line = bad + 1,
                "torn last line of the erasure journal skipped"
            );
        }
        Ok(count)
    }
}

/// Cuts off a last line that a crash or a full disk left unfinished: it was never synced,
/// so its erasure was never acknowledged, and it must not swallow the next line.
fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Find the last complete line (lines are short: read back in small steps).
    let mut end = len;
    let mut chunk = [0u8; 256];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(pos) = chunk[..n].iter().rposition(|b| *b == b'\n') {
            file.set_len(start + pos as u64 + 1)?;
            return file.sync_all();
        }
        end = start;
    }
    file.set_len(0)?;
    file.sync_all()
}

/// A new erasure receipt id: `er_` and 16 random base32 characters.
pub fn new_receipt_id() -> Result<String, ServiceError> {
    crate::service::random_id("er", 10)
}
