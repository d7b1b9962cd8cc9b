//! Exclusive advisory locks on files, for the resources one process at a time may write: a
//! plan's journal during `apply` and an emulator's `--data` directory.
//!
//! The lock is the operating system's whole-file advisory lock (`flock` on Unix, `LockFileEx`
//! on Windows) on a small lock file, so it is released however the holder ends, a crash or
//! `kill -9` included. The file also holds a line naming the holder (process ID, host, start
//! time) so a refused caller can say who holds it; that line is information only, never what
//! decides whether the lock is free. The file is left in place when the lock is released:
//! removing it would let a third process lock a new file while a second still waits on the
//! old one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Who takes a lock: written into the lock file for whoever is refused next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// When the holder started, RFC 3339.
    pub started_at: String,
    /// What the holder is doing (`ckplan apply`, `ckplan emulator`).
    pub purpose: String,
}

impl Holder {
    /// This process, on this host, started at `started_at`, doing `purpose`.
    pub fn this_process(purpose: &str, started_at: &str) -> Self {
        Self {
            pid: std::process::id(),
            host: host_name(),
            started_at: started_at.to_owned(),
            purpose: purpose.to_owned(),
        }
    }

    fn line(&self) -> String {
        format!(
            "{} (pid {} on {}, since {})\n",
            self.purpose, self.pid, self.host, self.started_at
        )
    }
}

/// The machine's name, from the kernel where it says (Linux) or `/etc/hostname`, else
/// `unknown host`.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock; `holder` is what it wrote (empty if unreadable).
    #[error("`{}` is locked by {}", path.display(), if holder.is_empty() { "another process" } else { holder.as_str() })]
    Held { path: PathBuf, holder: String },
    #[error("failed to lock `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    // Held open for the lock's lifetime: closing it releases the lock.
    _file: File,
}

impl FileLock {
    /// Takes the lock on `path` (created, mode 0600, if missing) without waiting, and writes
    /// `holder` into it. Fails with `LockError::Held` naming the current holder.
    pub fn try_acquire(path: &Path, holder: &Holder) -> Result<FileLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    path: path.to_owned(),
                    holder: text.trim().chars().take(300).collect(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(holder.line().as_bytes()))
            .and_then(|()| file.sync_data())
            .map_err(io)?;
        Ok(FileLock {
            path: path.to_owned(),
            _file: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::try_acquire(&path, &Holder::this_process("test one", "T1")).unwrap();
        let error =
            FileLock::try_acquire(&path, &Holder::this_process("test two", "T2")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("test one"), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("since T1"), "{message}");
        drop(first);
        FileLock::try_acquire(&path, &Holder::this_process("test two", "T2")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("test two"), "{text}");
    }
}
