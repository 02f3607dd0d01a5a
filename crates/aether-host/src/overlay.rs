//! The step's in-memory write layer (SPEC §6 "Filesystem virtualization").
//!
//! Writes land here and the step's own reads see them; nothing reaches the disk until
//! [`Overlay::commit`], which the runner calls only when the step succeeded (each file written
//! atomically, and all or nothing: see `crate::commit`). A failed step's overlay is dropped: nothing it wrote reaches the disk. Nodes
//! made through a virtualized [`WriteTarget`] hold ungranted writes under
//! `virtualize_denied_writes` and are never committed. The bytes held count toward the plugin's memory ceiling ([`Overlay::bytes`]).
//! Child processes write to the disk directly and do not see this layer.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use aether_policy::WriteTarget;

use crate::witness::Witnessed;

#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    /// Hidden from the step's own view; a virtualized removal is never committed.
    Removed,
}

/// One pending change, with the witness that allowed it: only a [`WriteTarget::Granted`]
/// one is ever committed.
#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    target: WriteTarget,
}

/// What the overlay knows about a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A file written in this step.
    File(&'a [u8]),
    /// A directory created in this step.
    Dir,
    /// Removed in this step: it does not exist, whatever the disk says.
    Removed,
    /// Not touched in this step: ask the disk.
    Disk,
}

/// A step's pending writes, keyed by real path. Every change is made through a
/// [`WriteTarget`], so nothing reaches it (nor the disk at commit) without a check.
///
/// ```compile_fail,E0308
/// let mut o = aether_host::overlay::Overlay::default();
/// o.write(&std::path::PathBuf::from("/etc/passwd"), b"x".to_vec());
/// ```
#[derive(Debug, Default)]
pub struct Overlay {
    nodes: BTreeMap<PathBuf, Node>,
    bytes: u64,
}

impl Overlay {
    /// Bytes of file contents held (counted toward the memory ceiling).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// What the overlay says about the checked path `at`.
    pub fn lookup(&self, at: &impl Witnessed) -> Lookup<'_> {
        match self.nodes.get(at.real()).map(|n| &n.kind) {
            Some(Kind::File(data)) => Lookup::File(data),
            Some(Kind::Dir) => Lookup::Dir,
            Some(Kind::Removed) => Lookup::Removed,
            None => Lookup::Disk,
        }
    }

    fn put(&mut self, target: &WriteTarget, kind: Kind) {
        self.bytes += match &kind {
            Kind::File(data) => data.len() as u64,
            _ => 0,
        };
        let node = Node {
            kind,
            target: target.clone(),
        };
        if let Some(Node {
            kind: Kind::File(old),
            ..
        }) = self.nodes.insert(target.real().to_path_buf(), node)
        {
            self.bytes -= old.len() as u64;
        }
    }

    /// Replaces the contents of `target`'s path.
    pub fn write(&mut self, target: &WriteTarget, data: Vec<u8>) {
        self.put(target, Kind::File(data));
    }

    /// Appends to `target`'s path, whose current contents are `base` when the overlay has none.
    pub fn append(&mut self, target: &WriteTarget, more: &[u8], base: Vec<u8>) {
        match self.nodes.get_mut(target.real()) {
            Some(Node {
                kind: Kind::File(data),
                ..
            }) => {
                data.extend_from_slice(more);
                self.bytes += more.len() as u64;
            }
            _ => {
                let mut data = base;
                data.extend_from_slice(more);
                self.write(target, data);
            }
        }
    }

    /// Records a created directory.
    pub fn mkdir(&mut self, target: &WriteTarget) {
        self.put(target, Kind::Dir);
    }

    /// Records a removal; a virtualized one is never committed.
    pub fn remove(&mut self, target: &WriteTarget) {
        self.put(target, Kind::Removed);
    }

    /// The overlay's direct children of the checked directory `dir`: names added, and names
    /// removed.
    pub fn children(&self, dir: &impl Witnessed) -> (Vec<String>, Vec<String>) {
        let dir = dir.real();
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for (path, node) in self.nodes.range(dir.to_path_buf()..) {
            if !path.starts_with(dir) {
                break;
            }
            if path.parent() != Some(dir) {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match node.kind {
                Kind::Removed => removed.push(name),
                _ => added.push(name),
            }
        }
        (added, removed)
    }

    /// Writes the granted changes to disk, all or nothing (`crate::commit`): every file
    /// staged under a temporary name first, then directories created, files renamed into place
    /// (each atomically) and removals applied; an error undoes what was applied. Returns how
    /// many entries changed, or the first error with the path at fault. Virtualized changes
    /// are dropped: only paths a [`aether_policy::CheckedWrite`] names reach the disk.
    pub fn commit(self) -> Result<usize, (PathBuf, io::Error)> {
        crate::commit::commit(&self.changes())
    }

    /// The granted changes, in the order a commit applies them.
    pub(crate) fn changes(&self) -> crate::commit::Changes<'_> {
        let mut changes = crate::commit::Changes {
            dirs: Vec::new(),
            files: Vec::new(),
            removals: Vec::new(),
        };
        for node in self.nodes.values() {
            let WriteTarget::Granted(checked) = &node.target else {
                continue;
            };
            match &node.kind {
                Kind::Dir => changes.dirs.push(checked),
                Kind::File(data) => changes.files.push((checked, data.as_slice())),
                Kind::Removed => changes.removals.push(checked),
            }
        }
        // Deepest first: a directory's entries are set aside before the directory.
        changes.removals.reverse();
        changes
    }
}

/// Witnesses for the tests of the overlay and its commit, which have no grant to check.
#[cfg(test)]
pub(crate) mod test_witness {
    use std::path::Path;

    use aether_policy::{
        Capability, CheckedWrite, Denial, DenialReason, Grant, Permissions, Policy,
        RequestedLimits, UnsafeMode, WriteTarget,
    };

    /// A granted write of `p`.
    pub(crate) fn granted(p: &Path) -> WriteTarget {
        WriteTarget::Granted(CheckedWrite::unchecked(p, p, &UnsafeMode::acknowledge()))
    }

    /// A virtualized write of `p`.
    pub(crate) fn virtualized(p: &Path) -> WriteTarget {
        let policy = Policy {
            virtualize_denied_writes: true,
            ..Policy::default()
        };
        let grant = Grant::new(
            Permissions::default(),
            Some(&policy),
            &RequestedLimits::default(),
        )
        .unwrap();
        let denial = Denial {
            capability: Capability::FilesystemWrite,
            target: p.display().to_string(),
            field: "permissions.filesystem.write",
            granted: Vec::new(),
            reason: DenialReason::NotCovered,
        };
        WriteTarget::Virtualized(grant.virtualize_write(p, p, denial).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::test_witness::{granted, virtualized};
    use super::*;
    use std::path::Path;

    #[test]
    fn commit_writes_only_public_nodes_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(base.join("old"), "x").unwrap();
        let mut o = Overlay::default();
        o.mkdir(&granted(&base.join("d")));
        o.mkdir(&granted(&base.join("d/e")));
        o.write(&granted(&base.join("d/e/f")), b"hello".to_vec());
        o.write(&virtualized(&base.join("secret")), b"private".to_vec());
        o.remove(&granted(&base.join("old")));
        std::fs::write(base.join("kept"), "x").unwrap();
        o.remove(&virtualized(&base.join("kept")));
        assert_eq!(o.bytes(), 12);
        assert_eq!(
            o.lookup(&granted(&base.join("d/e/f"))),
            Lookup::File(b"hello")
        );
        assert_eq!(
            o.children(&granted(&base.join("d"))),
            (vec!["e".to_owned()], vec![])
        );
        assert!(
            std::fs::read(base.join("d/e/f")).is_err(),
            "nothing on disk before commit"
        );
        o.commit().unwrap();
        assert_eq!(std::fs::read(base.join("d/e/f")).unwrap(), b"hello");
        assert!(
            !base.join("secret").exists(),
            "virtualized writes are never committed"
        );
        assert!(!base.join("old").exists());
        assert!(
            base.join("kept").exists(),
            "virtualized removals are never committed"
        );
    }

    #[test]
    fn byte_accounting_follows_overwrites_appends_and_removals() {
        let mut o = Overlay::default();
        let p = Path::new("/x/f");
        let w = granted(p);
        o.write(&w, vec![0; 10]);
        o.write(&w, vec![0; 4]);
        o.append(&w, &[1, 2], Vec::new());
        assert_eq!(o.bytes(), 6);
        o.remove(&w);
        assert_eq!(o.bytes(), 0);
        assert_eq!(o.lookup(&granted(p)), Lookup::Removed);
    }
}
