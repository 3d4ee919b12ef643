//! The temporary output file of `baomi mask`, written to disk while it grows.

use std::io::{self, Write};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

/// Every this many bytes written, the file's data is synced in the background.
const SYNC_EVERY: u64 = 64 << 20;

/// The temporary output file. Every [`SYNC_EVERY`] bytes a thread syncs its data to disk
/// (`fdatasync`), while masking goes on: the sync before the file replaces the output then
/// has little left to write. Unless the kernel writes dirty pages back by itself, that
/// sync would otherwise write the whole file while every core waits.
pub(super) struct Syncing {
    temp: NamedTempFile,
    /// [`SYNC_EVERY`], but in tests.
    every: u64,
    unsynced: u64,
    syncing: Option<JoinHandle<io::Result<()>>>,
}

impl Syncing {
    pub(super) fn new(temp: NamedTempFile) -> Syncing {
        Syncing {
            temp,
            every: SYNC_EVERY,
            unsynced: 0,
            syncing: None,
        }
    }

    /// Waits for the sync under way, if any, and returns its error.
    fn wait(&mut self) -> io::Result<()> {
        match self.syncing.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the syncing thread failed"))),
            None => Ok(()),
        }
    }

    /// The file, once the background sync under way has ended; it still needs its final
    /// sync.
    pub(super) fn into_inner(mut self) -> io::Result<NamedTempFile> {
        self.wait()?;
        Ok(self.temp)
    }
}

impl Write for Syncing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.temp.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= self.every && self.syncing.as_ref().is_none_or(JoinHandle::is_finished)
        {
            self.wait()?;
            let file = self.temp.as_file().try_clone()?;
            self.syncing = Some(std::thread::spawn(move || file.sync_data()));
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_in_the_file_through_the_syncs() -> io::Result<()> {
        let mut out = Syncing::new(NamedTempFile::new()?);
        out.every = 4096;
        for i in 0..=255u8 {
            out.write_all(&[i; 1000])?;
        }
        assert!(out.syncing.is_some(), "a sync was begun");
        let written = std::fs::read(out.into_inner()?.path())?;
        assert_eq!(written.len(), 256_000);
        assert!(
            (written.chunks(1000).zip(0..=255u8)).all(|(block, i)| block.iter().all(|&b| b == i))
        );
        Ok(())
    }
}
