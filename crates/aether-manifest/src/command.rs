//! Commands named in `process.commands`: absolute paths, or bare names resolved through `PATH`
//! once, when the manifest or policy is loaded (SPEC §2). The resolved path is what is granted.

use std::path::{Path, PathBuf};

/// Resolves a command entry to an absolute path.
///
/// An absolute path is taken as written (normalized lexically; it need not exist yet). A bare
/// name (no `/`) is looked up in `PATH` now and must name an executable file. Anything else (a
/// relative path with `/`, an empty string) is an error: it would depend on the directory aether
/// happens to run in.
pub fn resolve_command(entry: &str) -> Result<PathBuf, String> {
    if entry.is_empty() || entry.contains('\0') {
        return Err(format!("`{}` is not a command", entry.escape_debug()));
    }
    if entry.starts_with('/') {
        return aether_policy::normalize_lexically(Path::new(entry), Path::new("/"))
            .ok_or_else(|| format!("`{entry}` is not a valid absolute path"));
    }
    if entry.contains('/') {
        return Err(format!(
            "`{entry}` is a relative path: give an absolute path or a bare name found in `PATH`"
        ));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(entry))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("command `{entry}` was not found in `PATH`: give its absolute path"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_relative_and_bare() {
        assert_eq!(
            resolve_command("/usr/bin/../bin/gzip"),
            Ok(PathBuf::from("/usr/bin/gzip"))
        );
        assert!(resolve_command("bin/gzip").is_err());
        assert!(resolve_command("").is_err());
        assert!(resolve_command("sh").is_ok_and(|p| p.is_absolute()));
        assert!(resolve_command("definitely-not-a-command-aether").is_err());
    }
}
