//! Writing a whole file so that a reader never sees half of it: into a temporary file
//! beside the destination (mode 0600 on Unix, as `tempfile` creates it), synced, then
//! renamed over it. Plans, receipts and the smart sync's kept plans are written this way.

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
