//! Reading an asset file safely (issue 21). A data file names its asset files, and a plan
//! names them again for apply, so both are untrusted paths: an asset could otherwise name
//! the signing key (`../keys/dev.pem`), `/etc/passwd`, `/proc/self/environ`, or a symlink
//! to any of them, and apply would publish it to a public database. Every read of an asset
//! file — `validate`, `plan` (loading and probing) and `apply` — goes through [`read`]:
//!
//! - the path must be relative (no root, no drive prefix);
//! - joined to its base and canonicalized (every symlink and `..` followed), it must lie
//!   inside the project directory (the config file's directory, canonicalized too), and be
//!   none of ckplan's own files there: not a key or token file the config or the
//!   environment names, nothing under `.ckplan/` (the ledger, journals, the default
//!   embedded emulator's store and its secret) or under the embedded emulator's store
//!   wherever `endpoint: embedded:DIR` puts it;
//! - the opened file must not be one of those files under another name: its identity
//!   (device and inode) is compared with the key and token files', and a file with more
//!   than one link with every file under `.ckplan/` and the emulator's store (a hard link
//!   is the same file at a path the checks above do not see);
//! - the file must be a regular file, judged from its metadata before it is opened, so a
//!   FIFO is never opened for reading (it would block) and a device (`/dev/zero`) is never
//!   read; it is opened non-blocking and without following a symlink swapped in meanwhile,
//!   and checked again on the open handle;
//! - at most `MAX_ASSET_BYTES + 1` bytes are read, so an oversized or growing file is
//!   refused without reading it all.

use crate::record::MAX_ASSET_BYTES;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Why an asset file was not taken. Paths in messages are the path as written (escaped):
/// the data file, record and field are named by the caller.
#[derive(Debug, thiserror::Error)]
pub enum AssetFileError {
    #[error("asset `{shown}` is an absolute path; an asset is a path relative to its data file, inside the project directory")]
    Absolute { shown: String },
    #[error("asset `{shown}` leads outside the project directory (to `{resolved}`); an asset must be a file inside the directory of the config file")]
    Outside { shown: String, resolved: String },
    #[error("asset `{shown}` is one of ckplan's own files (a key or token file the config or environment names, anything under `.ckplan/` or the embedded emulator's store, or a hard link to one of them); it is never uploaded")]
    Private { shown: String },
    #[error("failed to read asset `{shown}`: {source}")]
    Read {
        shown: String,
        #[source]
        source: std::io::Error,
    },
    #[error("asset `{shown}` is a directory, not a file")]
    Directory { shown: String },
    #[error("asset `{shown}` is not a regular file ({kind}); an asset must be a plain file")]
    Special { shown: String, kind: &'static str },
    #[error("asset `{shown}` is {size} bytes, over CloudKit's 15 MB asset size limit ({MAX_ASSET_BYTES} bytes)")]
    TooLarge { shown: String, size: String },
}

/// An asset file's bytes and where it is, relative to the project directory.
#[derive(Debug)]
pub struct AssetBytes {
    /// The canonical file's path relative to the canonical project directory, `/`
    /// separators.
    pub file: String,
    pub bytes: Vec<u8>,
}

/// Where asset files may be: the project directory, less ckplan's own files.
#[derive(Clone, Debug, Default)]
pub struct Project {
    /// The config file's directory.
    pub directory: PathBuf,
    /// Key and token files (`Config::private_files`).
    pub private: Vec<PathBuf>,
    /// Directories every file of which is ckplan's own, besides the project's `.ckplan/`:
    /// the embedded emulator's store (`endpoint: embedded:DIR`).
    pub private_dirs: Vec<PathBuf>,
}

impl Project {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            directory: config.directory().to_owned(),
            private: config.private_files(),
            private_dirs: match &config.endpoint {
                crate::config::Endpoint::Embedded { dir } => vec![dir.clone()],
                crate::config::Endpoint::Url(_) => Vec::new(),
            },
        }
    }

    /// The private directories, canonical: `.ckplan/` and the emulator's store (those that
    /// exist).
    fn private_directories(&self, root: &Path) -> Vec<PathBuf> {
        std::iter::once(root.join(".ckplan"))
            .chain(self.private_dirs.iter().map(|dir| root.join(dir)))
            .filter_map(|dir| canonical(&dir).ok())
            .collect()
    }

    /// Whether the canonical `path` (`inside` the canonical project `root`) is ckplan's own.
    fn is_private(&self, root: &Path, path: &Path, inside: &Path) -> bool {
        let state = inside.components().next() == Some(Component::Normal(".ckplan".as_ref()));
        state
            || self
                .private_directories(root)
                .iter()
                .any(|dir| path.starts_with(dir))
            || self.private.iter().any(|file| {
                canonical(&root.join(file)).is_ok_and(|file| file == path)
                    || canonical(file).is_ok_and(|file| file == path)
            })
    }
}

/// Reads the asset file `written` names, relative to `base`, which must lie inside
/// `project` (see the module's documentation).
pub fn read(project: &Project, base: &Path, written: &str) -> Result<AssetBytes, AssetFileError> {
    let shown = crate::render::escape(written).into_owned();
    let as_written = Path::new(written);
    let rooted = as_written
        .components()
        .any(|c| matches!(c, Component::RootDir | Component::Prefix(_)));
    if written.is_empty() || as_written.is_absolute() || rooted {
        return Err(AssetFileError::Absolute { shown });
    }
    let read_error = |source| AssetFileError::Read {
        shown: shown.clone(),
        source,
    };
    let root = canonical(&project.directory).map_err(read_error)?;
    let path = canonical(&base.join(as_written)).map_err(read_error)?;
    let Ok(inside) = path.strip_prefix(&root) else {
        let resolved = crate::render::escape(&path.display().to_string()).into_owned();
        return Err(AssetFileError::Outside { shown, resolved });
    };
    if project.is_private(&root, &path, inside) {
        return Err(AssetFileError::Private { shown });
    }
    let file = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    // Judged before opening: a FIFO is never opened, a device never read.
    let metadata = std::fs::metadata(&path).map_err(read_error)?;
    regular(&metadata, &shown)?;
    let opened = open(&path).map_err(read_error)?;
    let metadata = opened.metadata().map_err(read_error)?;
    regular(&metadata, &shown)?;
    if project.holds_identity(&root, &metadata) {
        return Err(AssetFileError::Private { shown });
    }
    let bytes = read_bounded(opened, MAX_ASSET_BYTES).map_err(read_error)?;
    if bytes.len() > MAX_ASSET_BYTES {
        let size = format!("more than {MAX_ASSET_BYTES}");
        return Err(AssetFileError::TooLarge { shown, size });
    }
    Ok(AssetBytes { file, bytes })
}

impl Project {
    /// Whether the opened file (its `metadata`) is one of ckplan's own files under another
    /// name: the same device and inode as a key or token file, or, for a file with more
    /// than one link, as any file under the private directories. A private directory that
    /// cannot be read through cannot rule the file out, so it counts as a match.
    #[cfg(unix)]
    fn holds_identity(&self, root: &Path, metadata: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        let identity = (metadata.dev(), metadata.ino());
        let same = |path: &Path| {
            std::fs::metadata(path).is_ok_and(|found| (found.dev(), found.ino()) == identity)
        };
        if (self.private.iter()).any(|file| same(&root.join(file)) || same(file)) {
            return true;
        }
        metadata.nlink() > 1
            && self
                .private_directories(root)
                .iter()
                .any(|dir| tree_holds(dir, identity).unwrap_or(true))
    }

    #[cfg(not(unix))]
    fn holds_identity(&self, _: &Path, _: &std::fs::Metadata) -> bool {
        false
    }
}

/// Whether a file under `dir` (symlinks not followed) has `identity` (device, inode).
#[cfg(unix)]
fn tree_holds(dir: &Path, identity: (u64, u64)) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = std::fs::symlink_metadata(entry.path())?;
        if metadata.is_dir() {
            if tree_holds(&entry.path(), identity)? {
                return Ok(true);
            }
        } else if (metadata.dev(), metadata.ino()) == identity {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `path` canonicalized; the empty path (a config named without a directory) is `.`.
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    match path.as_os_str().is_empty() {
        true => Path::new(".").canonicalize(),
        false => path.canonicalize(),
    }
}

/// Refuses anything but a regular file within the size limit.
fn regular(metadata: &std::fs::Metadata, shown: &str) -> Result<(), AssetFileError> {
    let shown = shown.to_owned();
    if metadata.is_dir() {
        return Err(AssetFileError::Directory { shown });
    }
    if !metadata.is_file() {
        return Err(AssetFileError::Special {
            shown,
            kind: special_kind(metadata),
        });
    }
    if metadata.len() > MAX_ASSET_BYTES as u64 {
        let size = metadata.len().to_string();
        return Err(AssetFileError::TooLarge { shown, size });
    }
    Ok(())
}

#[cfg(unix)]
fn special_kind(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a plain file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::Metadata) -> &'static str {
    "not a plain file"
}

/// Opens `path` for reading without blocking (a FIFO swapped in after the metadata check
/// opens at once, and is then refused) and without following a final symlink.
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY);
    }
    options.open(path)
}

/// At most `limit + 1` bytes of `reader`: one byte more than `limit` tells an oversized (or
/// growing) file without reading the rest.
pub fn read_bounded(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_reader_is_read_only_to_one_byte_over_the_limit() {
        let bytes = read_bounded(std::io::repeat(0), 1000).unwrap();
        assert_eq!(bytes.len(), 1001);
    }

    #[test]
    fn absolute_escaping_and_special_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("data")).unwrap();
        std::fs::write(dir.path().join("secret.pem"), b"secret").unwrap();
        std::fs::write(project.join("data/a.png"), b"abc").unwrap();
        let data = project.join("data");
        std::fs::create_dir_all(project.join("keys")).unwrap();
        std::fs::write(project.join("keys/dev.pem"), b"key").unwrap();
        std::fs::create_dir_all(project.join(".ckplan")).unwrap();
        std::fs::write(project.join(".ckplan/assets.json"), b"{}").unwrap();
        let project = Project {
            directory: project.clone(),
            private: vec![project.join("keys/dev.pem")],
            private_dirs: vec![project.join("store")],
        };
        let taken = read(&project, &data, "a.png").unwrap();
        assert_eq!(
            (taken.file.as_str(), &taken.bytes[..]),
            ("data/a.png", &b"abc"[..])
        );
        let taken = read(&project, &data, "../data/./a.png").unwrap();
        assert_eq!(taken.file, "data/a.png");
        let refused = |written: &str| read(&project, &data, written).unwrap_err().to_string();
        assert!(refused("/etc/passwd").contains("is an absolute path"));
        assert!(refused("../../secret.pem").contains("leads outside the project directory"));
        assert!(refused("../..").contains("leads outside the project directory"));
        assert!(refused("../").contains("is a directory"));
        assert!(refused("../keys/dev.pem").contains("one of ckplan's own files"));
        assert!(refused("../.ckplan/assets.json").contains("one of ckplan's own files"));
        std::fs::create_dir_all(project.directory.join("store/assets")).unwrap();
        std::fs::write(project.directory.join("store/assets/key"), b"secret").unwrap();
        assert!(refused("../store/assets/key").contains("one of ckplan's own files"));
        std::fs::hard_link(project.directory.join("keys/dev.pem"), data.join("k.png")).unwrap();
        assert!(refused("k.png").contains("one of ckplan's own files"));
        let ledger = project.directory.join(".ckplan/assets.json");
        std::fs::hard_link(&ledger, data.join("l.png")).unwrap();
        assert!(refused("l.png").contains("one of ckplan's own files"));
        let store_key = project.directory.join("store/assets/key");
        std::fs::hard_link(store_key, data.join("s.png")).unwrap();
        assert!(refused("s.png").contains("one of ckplan's own files"));
        std::fs::hard_link(data.join("a.png"), data.join("b.png")).unwrap();
        assert_eq!(read(&project, &data, "b.png").unwrap().bytes, b"abc");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.pem"), data.join("link.png"))
                .unwrap();
            assert!(refused("link.png").contains("leads outside the project directory"));
            std::os::unix::fs::symlink("/dev/zero", data.join("zero")).unwrap();
            assert!(refused("zero").contains("leads outside"));
            std::os::unix::fs::symlink("a.png", data.join("inside.png")).unwrap();
            assert_eq!(
                read(&project, &data, "inside.png").unwrap().file,
                "data/a.png"
            );
        }
    }
}
