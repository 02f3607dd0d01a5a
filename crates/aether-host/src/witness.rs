//! The one bound every provider of this crate puts on the place it acts: [`Witnessed`].
//!
//! It is implemented only for `aether-policy`'s witnesses and sealed, so a provider written
//! `fn f(at: &impl Witnessed)` cannot be handed a `&Path`, a `PathBuf` or a type of another
//! crate: the value must have come from a check (or from an `unchecked` constructor, which
//! demands the `--unsafe` token).
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
