//! Writing a whole file so that a reader never sees half of it: into a temporary file
//! beside the destination (mode 0600 on Unix, as `tempfile` creates it), synced, then
//! renamed over it. Plans, receipts and the smart sync's kept plans are written this way.
//! A destination that is a device or a pipe is written into instead, never replaced.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically; a failure leaves nothing behind.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// As [`write_atomically`], the contents streamed by `write` into a buffered writer.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // A device or a pipe (`-o /dev/stdout`, `-o /dev/null`, a FIFO) is written into: a rename
    // would replace it with a regular file (as root, `/dev/null` itself).
    if let Ok(metadata) = std::fs::metadata(path) {
        if !metadata.is_file() && !metadata.is_dir() {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            write(&mut out)?;
            return out.flush();
        }
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, temporary.as_file_mut());
        write(&mut out)?;
        out.flush()?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// `plan -o /dev/null` as root replaced the device with a regular file; a FIFO stands in
    /// for it here (a test must never risk the real one).
    #[test]
    fn a_pipe_is_written_into_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        write_atomically(&fifo, b"plan text").unwrap();
        // Checked before joining: a replaced pipe would leave the reader waiting forever.
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the pipe is still a pipe");
        assert_eq!(reader.join().unwrap(), b"plan text");
        // A regular file is still replaced atomically.
        let file = dir.path().join("out.plan");
        write_atomically(&file, b"one").unwrap();
        write_atomically(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
    }
}
