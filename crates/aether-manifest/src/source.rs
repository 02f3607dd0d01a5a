//! Source files and the errors that point into them (`file:line:col: message`).

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, in characters.
    pub col: u32,
}

/// A file read once into memory; locations are computed against exactly these bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path the file was read from, as shown in messages.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

impl SourceFile {
    /// Reads `path` as UTF-8 text, or returns an error naming the file and the cause. The file
    /// is read with [`read_regular`] (a symlink followed): a FIFO, a device or a file above
    /// [`MAX_TEXT_FILE_BYTES`] is an error, never a hang or an unbounded read.
    pub fn read(path: &Path) -> Result<SourceFile, FileError> {
        let bytes = read_regular(path, MAX_TEXT_FILE_BYTES, Symlinks::Follow)
            .map_err(|e| e.file_error(path))?;
        SourceFile::from_bytes(path, bytes)
    }

    /// A file already read (`path` is what messages show): the bytes must be UTF-8 text. The
    /// value comes from exactly these bytes, so a caller that hashed them parses what it
    /// hashed (SPEC §9).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<SourceFile, FileError> {
        let text = String::from_utf8(bytes).map_err(|e| {
            let text = String::from_utf8_lossy(e.as_bytes());
            let at = e.utf8_error().valid_up_to();
            FileError::new(
                path,
                Some(loc_of_offset(&text, at)),
                "the file is not valid UTF-8 text",
            )
        })?;
        Ok(SourceFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// The line and column of a byte offset into [`SourceFile::text`] (clamped to the end).
    pub fn loc(&self, offset: usize) -> Loc {
        loc_of_offset(&self.text, offset)
    }

    /// An error at a byte offset of this file.
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> FileError {
        FileError::new(&self.path, Some(self.loc(offset)), message)
    }
}

fn loc_of_offset(text: &str, offset: usize) -> Loc {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    Loc {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

/// Parses each `(text, byte offset)` entry of a list field with `parse`. Returns the values
/// with where each was written; an entry that does not parse becomes an error naming `field`
/// at its place (and every entry is tried, so that all errors are reported at once).
pub fn compile_each<'a, T, E: fmt::Display>(
    file: &SourceFile,
    entries: impl IntoIterator<Item = (&'a str, usize)>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    errors: &mut Vec<FileError>,
) -> Vec<(T, Loc)> {
    let mut out = Vec::new();
    for (text, offset) in entries {
        match parse(text) {
            Ok(v) => out.push((v, file.loc(offset))),
            Err(e) => errors.push(file.error_at(offset, format!("invalid `{field}` entry: {e}"))),
        }
    }
    out
}

/// The most bytes aether reads of a trusted text file (pipeline, policy, manifest,
/// `aether.lock`, a key): 16 MiB.
///
/// These files are written by people, and the largest real ones are a few hundred KiB (a lock
/// of a thousand plugins); the bound exists so that a lock or policy that is a symlink to
/// `/dev/zero`, or a file grown by mistake, cannot make aether read until memory runs out
/// (issue 16). It does not cover plugin sources, which the plugin bundle bounds as a whole.
pub const MAX_TEXT_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Whether [`read_regular`] follows a symlink in the last component of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Follow it (the target must still be a regular file): trusted files the operator names.
    Follow,
    /// Refuse it (`ELOOP`): a path already resolved, that must not have been swapped since.
    Refuse,
}

/// Why [`read_regular`] did not return a file's bytes.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path is not a regular file once opened: a FIFO, a device, a socket or a directory.
    #[error("it is not a regular file (it is {kind})")]
    NotRegular {
        /// What it is instead (`a FIFO`, `a character device`, ...).
        kind: &'static str,
    },
    /// The file holds more than the bound.
    #[error("it is larger than {max}", max = aether_policy::ByteSize(*.max))]
    TooLarge {
        /// The bound, in bytes.
        max: u64,
    },
    /// The open or the read failed.
    #[error("{}", io_cause(.0))]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// This error as a [`FileError`] on `path` (`path: cannot read the file: ...`).
    pub fn file_error(&self, path: &Path) -> FileError {
        let error = FileError::new(path, None, format!("cannot read the file: {self}"));
        match self {
            ReadError::NotRegular { .. } => error.with_hint(
                "give a regular file: aether does not read FIFOs, devices, sockets or directories",
            ),
            ReadError::TooLarge { .. } => {
                error.with_hint("check that this is the file you meant; aether reads files this large only as plugin sources")
            }
            ReadError::Io(_) => error,
        }
    }
}

/// Reads the regular file at `path`, at most `max` bytes: the one bounded reader for every
/// file aether reads itself (trusted files and plugin sources alike).
///
/// The file is opened with `O_NONBLOCK` (opening a FIFO does not wait for a writer) and, with
/// [`Symlinks::Refuse`], `O_NOFOLLOW`; the opened handle must be a regular file, or
/// [`ReadError::NotRegular`] (so a FIFO, `/dev/zero` or a directory, also behind a symlink,
/// is refused before a byte is read). Never more than `max + 1` bytes are read, whatever size
/// the file claims (a sparse file can claim a terabyte); more than `max` is
/// [`ReadError::TooLarge`].
pub fn read_regular(path: &Path, max: u64, symlinks: Symlinks) -> Result<Vec<u8>, ReadError> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read;
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if symlinks == Symlinks::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(std::io::Error::from)?;
    let st = rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => None,
        FileType::Fifo => Some("a FIFO"),
        FileType::CharacterDevice => Some("a character device"),
        FileType::BlockDevice => Some("a block device"),
        FileType::Socket => Some("a socket"),
        FileType::Directory => Some("a directory"),
        _ => Some("neither a file nor a directory"),
    };
    if let Some(kind) = kind {
        return Err(ReadError::NotRegular { kind });
    }
    let claimed = u64::try_from(st.st_size).unwrap_or(0);
    if claimed > max {
        return Err(ReadError::TooLarge { max });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(claimed).unwrap_or(0));
    std::fs::File::from(fd)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    Ok(bytes)
}

/// A short, lowercase description of an I/O error, without the OS error number.
pub fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s.to_lowercase(),
            }
        }
    }
}

/// One problem in one file: what is wrong, where, and (optionally) what to do.
///
/// Displays as `file:line:col: message` (or `file: message` without a location), followed by
/// a blank line and `hint: ...` when there is a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file at fault.
    pub file: PathBuf,
    /// Where in the file, when known.
    pub loc: Option<Loc>,
    /// What is wrong (lowercase, offending values quoted).
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl FileError {
    /// An error in `file` at `loc`.
    pub fn new(file: &Path, loc: Option<Loc>, message: impl Into<String>) -> FileError {
        FileError {
            file: file.to_path_buf(),
            loc,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> FileError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = self.loc {
            write!(f, ":{}:{}", loc.line, loc.col)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_character_columns() {
        let text = "ab\nçd\n";
        assert_eq!(loc_of_offset(text, 0), Loc { line: 1, col: 1 });
        assert_eq!(loc_of_offset(text, 3), Loc { line: 2, col: 1 });
        // `d` follows a two-byte character: byte offset 5, character column 2.
        assert_eq!(loc_of_offset(text, 5), Loc { line: 2, col: 2 });
        assert_eq!(loc_of_offset(text, 999), Loc { line: 3, col: 1 });
    }

    #[test]
    fn display_has_location_and_hint() {
        let e = FileError::new(Path::new("a.json"), Some(Loc { line: 3, col: 7 }), "bad")
            .with_hint("fix it");
        assert_eq!(e.to_string(), "a.json:3:7: bad\n\nhint: fix it");
    }
}
