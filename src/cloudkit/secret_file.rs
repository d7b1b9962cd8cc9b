//! Reading the small files credentials live in (a private key, a management token) with a
//! bound: a path is configuration, and a wrong one (`/dev/zero`, a FIFO, a log file) must
//! fail at once rather than read forever, block, or fill memory. Only regular files are
//! read; the file is opened without blocking (a FIFO swapped in after the check cannot
//! hang the open) and checked again once open.

use std::io::{self, Read};
use std::path::Path;

/// The largest credential file ckplan reads: 64 KiB. A PEM key is a few hundred bytes and
/// a management token under a kilobyte.
pub const MAX_SECRET_FILE_BYTES: usize = 64 << 10;

/// The text of the regular file at `path`, if it is at most [`MAX_SECRET_FILE_BYTES`]
/// long and UTF-8. The errors never quote the content.
pub fn read_secret_file(path: &Path) -> io::Result<String> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    let limit = MAX_SECRET_FILE_BYTES as u64;
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the file is over {}, the most ckplan reads for a key or token",
                super::body::shown_size(MAX_SECRET_FILE_BYTES)
            ),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the file is not UTF-8 text"))
}

fn not_regular() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file (a device, FIFO or directory is never read)",
    )
}

fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // `O_NONBLOCK` (the crate has no libc dependency; the values are fixed ABI).
        const O_NONBLOCK: i32 = if cfg!(target_os = "linux") {
            0o4000
        } else {
            0x0004
        };
        options.custom_flags(O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_20_devices_fifos_and_long_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("long");
        std::fs::write(&long, vec![b'a'; MAX_SECRET_FILE_BYTES + 1]).unwrap();
        let error = read_secret_file(&long).unwrap_err();
        assert!(error.to_string().contains("over 64 KiB"), "{error}");
        let fine = dir.path().join("fine");
        std::fs::write(&fine, "token\n").unwrap();
        assert_eq!(read_secret_file(&fine).unwrap(), "token\n");
        #[cfg(unix)]
        {
            let error = read_secret_file(Path::new("/dev/zero")).unwrap_err();
            assert!(error.to_string().contains("not a regular file"), "{error}");
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.unwrap().success());
            let error = read_secret_file(&fifo).unwrap_err();
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }
    }
}
