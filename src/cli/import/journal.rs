//! The output of an import and its progress file, kept so that an interrupted import resumes
//! where its last acknowledged batch ended: each batch's lines are written and synced
//! before the progress file (replaced atomically) says so, and a resumed import first cuts
//! the output back to what the progress file says. A batch sent but not recorded is sent
//! again; storing the same fields again replaces them, so no subject is imported twice.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// How far an import has come.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// The input's size when the import began: a resumed import refuses another input.
    pub input_bytes: u64,
    /// When the import began, Unix milliseconds.
    pub started_ms: u64,
    /// Whether it writes ciphertexts (`--stateless`) rather than tokens: a resumed import
    /// keeps to it, so that one output holds one kind.
    pub stateless: bool,
    /// Where the next batch starts in the input (0: at the beginning).
    pub input_offset: u64,
    /// How much of the output is complete.
    pub output_bytes: u64,
    /// Records read so far.
    pub records: u64,
    /// Subjects stored (or encrypted) so far.
    pub imported: u64,
    /// Records not imported so far (their errors are in the output).
    pub failed: u64,
}

/// The output file and its progress file.
pub struct Journal {
    out: File,
    progress_path: PathBuf,
    /// Where the import stands.
    pub progress: Progress,
    /// Whether this run resumes an earlier one.
    pub resumed: bool,
}

/// The progress file of an output: beside it, with `.progress` appended to its name.
pub fn progress_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".progress");
    out.with_file_name(name)
}

impl Journal {
    /// Starts an import into `out` (which must not exist), or resumes the one whose progress
    /// file is beside it, if that one was `stateless` too.
    pub fn open(out: &Path, input_bytes: u64, stateless: bool) -> anyhow::Result<Self> {
        let progress_path = progress_path(out);
        match std::fs::read(&progress_path) {
            Ok(bytes) => {
                let progress: Progress = serde_json::from_slice(&bytes).with_context(|| {
                    format!("{} is not a progress file", progress_path.display())
                })?;
                if progress.input_bytes != input_bytes {
                    bail!(
                        "the input is not the one this import began with ({} bytes then, {} now); \
                         to start over, remove {} and {}",
                        progress.input_bytes,
                        input_bytes,
                        out.display(),
                        progress_path.display()
                    );
                }
                if progress.stateless != stateless {
                    bail!(
                        "{} holds the {} of an import begun {} --stateless: resume it the same way",
                        out.display(),
                        if progress.stateless {
                            "ciphertexts"
                        } else {
                            "tokens"
                        },
                        if progress.stateless {
                            "with"
                        } else {
                            "without"
                        },
                    );
                }
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(out)
                    .with_context(|| format!("cannot open {} to resume", out.display()))?;
                file.set_len(progress.output_bytes)?;
                file.seek(SeekFrom::End(0))?;
                Ok(Self {
                    out: file,
                    progress_path,
                    progress,
                    resumed: true,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(out)
                    .with_context(|| {
                        format!(
                            "cannot create {} (an import never overwrites a file)",
                            out.display()
                        )
                    })?;
                let journal = Self {
                    out: file,
                    progress_path,
                    progress: Progress {
                        input_bytes,
                        stateless,
                        started_ms: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as u64),
                        ..Progress::default()
                    },
                    resumed: false,
                };
                journal.save()?;
                Ok(journal)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", progress_path.display())),
        }
    }

    /// Appends a batch's output and, once it is on disk, moves the progress on to `next`.
    pub fn commit(&mut self, lines: &[u8], next: Progress) -> anyhow::Result<()> {
        self.out.write_all(lines)?;
        self.out.sync_data()?;
        self.progress = Progress {
            output_bytes: self.progress.output_bytes + lines.len() as u64,
            ..next
        };
        self.save()
    }

    /// Ends the import: the output is complete and the progress file goes.
    pub fn finish(self) -> anyhow::Result<Progress> {
        self.out.sync_all()?;
        std::fs::remove_file(&self.progress_path)
            .with_context(|| format!("cannot remove {}", self.progress_path.display()))?;
        Ok(self.progress)
    }

    /// Replaces the progress file atomically (written beside it, synced, renamed).
    fn save(&self) -> anyhow::Result<()> {
        let mut partial = self.progress_path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut file = File::create(&partial)?;
        file.write_all(&serde_json::to_vec(&self.progress)?)?;
        file.sync_all()?;
        std::fs::rename(&partial, &self.progress_path)
            .with_context(|| format!("cannot write {}", self.progress_path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_journal_cuts_the_output_back_to_its_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tokens.jsonl");
        let mut journal = Journal::open(&out, 100, false).unwrap();
        assert!(!journal.resumed);
        let first = Progress {
            input_offset: 40,
            records: 2,
            imported: 2,
            ..journal.progress.clone()
        };
        journal.commit(b"one\ntwo\n", first).unwrap();
        drop(journal);
        // A batch written after the last commit, as by a run killed before recording it.
        OpenOptions::new()
            .append(true)
            .open(&out)
            .unwrap()
            .write_all(b"three\n")
            .unwrap();
        let journal = Journal::open(&out, 100, false).unwrap();
        assert!(journal.resumed);
        assert_eq!(journal.progress.input_offset, 40);
        assert_eq!(std::fs::read(&out).unwrap(), b"one\ntwo\n");
        assert!(
            Journal::open(&out, 101, false).is_err(),
            "another input is refused"
        );
        assert!(
            Journal::open(&out, 100, true).is_err(),
            "a stored import is not resumed as a stateless one"
        );
        journal.finish().unwrap();
        assert!(!progress_path(&out).exists());
        assert!(
            Journal::open(&out, 100, false).is_err(),
            "a finished output is never overwritten"
        );
    }
}
