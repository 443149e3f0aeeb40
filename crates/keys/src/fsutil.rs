//! File helpers for the local backend: private directories and atomic writes.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;

use crate::KeysError;

/// Mode of every directory the local backend creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file the local backend writes.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and parents) with mode 0700 if missing, then insists that it is a
/// directory that neither group nor others can access.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), KeysError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(KeysError::Config(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeysError::Config(format!(
            "{} has mode {mode:o}; group and others must have no access (chmod 700)",
            dir.display()
        )));
    }
    Ok(())
}

/// Reads a file that must not be accessible by group or others.
pub(crate) fn read_private_file(path: &Path) -> Result<Option<Vec<u8>>, KeysError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeysError::Config(format!(
            "{} has mode {mode:o}; group and others must have no access (chmod 600)",
            path.display()
        )));
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::io::Read::read_to_end(&mut file, &mut buf)?;
    Ok(Some(buf))
}

/// Writes `data` to `path` atomically: a fresh temp file (0600, same directory),
/// fsync, rename over `path`, fsync the directory. Readers see the old or the new
/// content, never a mix; a crash leaves at most a `.tmp-*` file behind, which is
/// removed here on error.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), KeysError> {
    let dir = path
        .parent()
        .ok_or_else(|| KeysError::Config(format!("{} has no parent", path.display())))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| KeysError::Config(format!("{} has no file name", path.display())))?;
    let mut rnd = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut rnd);
    let suffix = u64::from_be_bytes(rnd);
    let suffix = format!("{suffix:016x}");
    let tmp = dir.join(format!(".{file_name}.tmp-{suffix}"));

    let result = (|| -> Result<(), KeysError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
