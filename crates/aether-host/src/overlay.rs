//! The step's in-memory write layer (SPEC §6 "Filesystem virtualization").
//!
//! Writes land here and the step's own reads see them; nothing reaches the disk until
//! [`Overlay::commit`], which the runner calls only when the step succeeded (each file written
//! atomically, and all or nothing: see `crate::commit`). A failed step's overlay is dropped: nothing it wrote reaches the disk. Nodes
//! marked private hold ungranted writes under `virtualize_denied_writes` and are never
//! committed. The bytes held count toward the plugin's memory ceiling ([`Overlay::bytes`]).
//! Child processes write to the disk directly and do not see this layer.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
enum Node {
    File {
        data: Vec<u8>,
        private: bool,
    },
    Dir {
        private: bool,
    },
    /// `private`: an ungranted removal under `virtualize_denied_writes`, hidden from the
    /// step's own view but never committed.
    Removed {
        private: bool,
    },
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

/// A step's pending writes, keyed by real path.
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

    /// What the overlay says about `real`.
    pub fn lookup(&self, real: &Path) -> Lookup<'_> {
        match self.nodes.get(real) {
            Some(Node::File { data, .. }) => Lookup::File(data),
            Some(Node::Dir { .. }) => Lookup::Dir,
            Some(Node::Removed { .. }) => Lookup::Removed,
            None => Lookup::Disk,
        }
    }

    /// Replaces `real`'s contents.
    pub fn write(&mut self, real: &Path, data: Vec<u8>, private: bool) {
        self.bytes += data.len() as u64;
        if let Some(Node::File { data: old, .. }) = self
            .nodes
            .insert(real.to_path_buf(), Node::File { data, private })
        {
            self.bytes -= old.len() as u64;
        }
    }

    /// Appends to `real`, whose current contents are `base` when the overlay has none.
    pub fn append(&mut self, real: &Path, more: &[u8], base: Vec<u8>, private: bool) {
        match self.nodes.get_mut(real) {
            Some(Node::File { data, .. }) => {
                data.extend_from_slice(more);
                self.bytes += more.len() as u64;
            }
            _ => {
                let mut data = base;
                data.extend_from_slice(more);
                self.write(real, data, private);
            }
        }
    }

    /// Records a created directory.
    pub fn mkdir(&mut self, real: &Path, private: bool) {
        self.nodes.insert(real.to_path_buf(), Node::Dir { private });
    }

    /// Records a removal; a `private` one (virtualized) is never committed.
    pub fn remove(&mut self, real: &Path, private: bool) {
        if let Some(Node::File { data, .. }) = self
            .nodes
            .insert(real.to_path_buf(), Node::Removed { private })
        {
            self.bytes -= data.len() as u64;
        }
    }

    /// The overlay's direct children of `dir`: names added, and names removed.
    pub fn children(&self, dir: &Path) -> (Vec<String>, Vec<String>) {
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
            match node {
                Node::Removed { .. } => removed.push(name),
                _ => added.push(name),
            }
        }
        (added, removed)
    }

    /// Whether any node lies strictly below `dir` and is not removed.
    pub fn has_children(&self, dir: &Path) -> bool {
        self.nodes
            .range(dir.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(dir))
            .any(|(p, n)| p != dir && !matches!(n, Node::Removed { .. }))
    }

    /// Writes the non-private changes to disk, all or nothing (`crate::commit`): every file
    /// staged under a temporary name first, then directories created, files renamed into place
    /// (each atomically) and removals applied; an error undoes what was applied. Returns how
    /// many entries changed, or the first error with the path at fault.
    pub fn commit(self) -> Result<usize, (PathBuf, io::Error)> {
        crate::commit::commit(&self.changes())
    }

    /// The non-private changes, in the order a commit applies them.
    pub(crate) fn changes(&self) -> crate::commit::Changes<'_> {
        let mut changes = crate::commit::Changes {
            dirs: Vec::new(),
            files: Vec::new(),
            removals: Vec::new(),
        };
        for (path, node) in &self.nodes {
            match node {
                Node::Dir { private: false } => changes.dirs.push(path),
                Node::File {
                    data,
                    private: false,
                } => changes.files.push((path, data)),
                Node::Removed { private: false } => changes.removals.push(path),
                _ => {}
            }
        }
        // Deepest first: a directory's entries are set aside before the directory.
        changes.removals.reverse();
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_writes_only_public_nodes_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(base.join("old"), "x").unwrap();
        let mut o = Overlay::default();
        o.mkdir(&base.join("d"), false);
        o.mkdir(&base.join("d/e"), false);
        o.write(&base.join("d/e/f"), b"hello".to_vec(), false);
        o.write(&base.join("secret"), b"private".to_vec(), true);
        o.remove(&base.join("old"), false);
        std::fs::write(base.join("kept"), "x").unwrap();
        o.remove(&base.join("kept"), true);
        assert_eq!(o.bytes(), 12);
        assert_eq!(o.lookup(&base.join("d/e/f")), Lookup::File(b"hello"));
        assert_eq!(o.children(&base.join("d")), (vec!["e".to_owned()], vec![]));
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
        o.write(p, vec![0; 10], false);
        o.write(p, vec![0; 4], false);
        o.append(p, &[1, 2], Vec::new(), false);
        assert_eq!(o.bytes(), 6);
        o.remove(p, false);
        assert_eq!(o.bytes(), 0);
        assert_eq!(o.lookup(p), Lookup::Removed);
    }
}
