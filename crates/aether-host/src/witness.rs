//! The one bound every provider of this crate puts on the place it acts: [`Witnessed`].
//!
//! It is implemented only for `aether-policy`'s witnesses and sealed, so a provider written
//! `fn f(at: &impl Witnessed)` cannot be handed a `&Path`, a `PathBuf` or a type of another
//! crate: the value must have come from a check (or from an `unchecked` constructor, which
//! demands the `--unsafe` token). The overlay's commit acts on [`CommitPath`]s, which only a
//! [`CheckedWrite`] makes.
//!
//! ```compile_fail,E0277
//! use aether_host::witness::Witnessed;
//! fn provider(at: &impl Witnessed) {}
//! provider(&std::path::PathBuf::from("/etc/passwd"));
//! ```

use std::path::Path;

use aether_policy::{CheckedPath, CheckedWrite, ParentDir, VirtualizedWrite, WriteTarget};

mod sealed {
    /// Only this crate implements [`super::Witnessed`].
    pub trait Sealed {}
}

/// A witness that names a real path: a read ([`CheckedPath`]), a write ([`CheckedWrite`],
/// [`VirtualizedWrite`], [`WriteTarget`]) or a directory above a write ([`ParentDir`]).
/// Which of them a provider takes says what it may do there.
pub trait Witnessed: sealed::Sealed {
    /// The real path the check saw.
    fn real(&self) -> &Path;
}

macro_rules! witnessed {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Witnessed for $t {
            fn real(&self) -> &Path {
                <$t>::real(self)
            }
        }
    )*};
}

witnessed!(
    CheckedPath,
    CheckedWrite,
    VirtualizedWrite,
    WriteTarget,
    ParentDir
);

/// Where an overlay's commit acts: the real path of a [`CheckedWrite`] the overlay holds, or a
/// directory above it (where the commit creates directories, stages files under temporary names
/// and renames them into place). It borrows the witness it came from and is made only from one
/// ([`CommitPath::of`], then [`CommitPath::parent`]), so the commit's file primitives, which take
/// it, cannot be handed a path that no write check returned:
///
/// ```compile_fail,E0308
/// let at = aether_host::witness::CommitPath::of(&std::path::PathBuf::from("/etc/passwd"));
/// ```
///
/// Nor a read witness (write does not follow from read):
///
/// ```compile_fail,E0308
/// # fn f(r: &aether_policy::CheckedPath) {
/// let at = aether_host::witness::CommitPath::of(r);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPath<'a> {
    /// The witness's real path or one of its ancestors.
    real: &'a Path,
}

impl<'a> CommitPath<'a> {
    /// The path `write` allowed.
    pub fn of(write: &'a CheckedWrite) -> CommitPath<'a> {
        CommitPath { real: write.real() }
    }

    /// The directory above, if any.
    pub fn parent(self) -> Option<CommitPath<'a>> {
        self.real.parent().map(|real| CommitPath { real })
    }

    /// The real path.
    pub fn real(self) -> &'a Path {
        self.real
    }
}
