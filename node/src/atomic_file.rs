//! Writing a file so that readers see either the old contents or the new, never a part: a
//! temporary file in the same directory, renamed over the target. A file another process has
//! mapped (a precompiled component) is replaced, never truncated under it.

use std::{io::Write as _, path::Path};

/// Writes `bytes` to `path` atomically. The parent directory must exist.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
