//! Path patterns for `filesystem.read` and `filesystem.write` (SPEC §2 "Path patterns").
//!
//! A pattern is parsed once into a list of segments, made absolute against the workspace with
//! `.`/`..` removed lexically, and compiled once into a [`globset`] matcher whose `*`, `?` and
//! classes never cross a `/`. The segment list is the single source of truth: the glob text
//! handed to `globset` is rendered from it, so that matching and [`PathPattern::covers`] agree on
//! what every token means. Anything this module cannot give a precise meaning to (brace
//! alternation, POSIX classes, `**` inside a segment, `..` after a wildcard) is rejected rather
//! than guessed at.
//!
//! Matching is byte-wise, as in `globset`: `?` and a class match exactly one byte, so `?` does
//! not match `é` (two bytes in UTF-8) while `??` does; `*` and literals are unaffected. Classes
//! are therefore limited to ASCII. The coverage check models the same byte semantics, so that it
//! stays sound for non-ASCII and non-UTF-8 names.
//!
//! This module never touches the filesystem: real paths are resolved by the caller.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use globset::{Candidate, Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use thiserror::Error;

/// A path pattern that did not parse. Every variant names the pattern as written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternError {
    /// The pattern is the empty string.
    #[error("invalid path pattern: it is empty")]
    Empty,
    /// The pattern contains a NUL byte, which no path can.
    #[error("invalid path pattern `{pattern}`: it contains a NUL byte")]
    Nul {
        /// The pattern as written (NUL shown escaped).
        pattern: String,
    },
    /// A relative pattern was given with a workspace that is not absolute or not UTF-8.
    #[error(
        "cannot resolve path pattern `{pattern}`: the workspace `{workspace}` is not an absolute UTF-8 path"
    )]
    Workspace {
        /// The pattern as written.
        pattern: String,
        /// The workspace given.
        workspace: String,
    },
    /// A `..` would climb above `/`.
    #[error("invalid path pattern `{pattern}`: `..` climbs above `/`")]
    AboveRoot {
        /// The pattern as written.
        pattern: String,
    },
    /// A `..` follows a segment with a wildcard, so it has no single lexical meaning.
    #[error(
        "invalid path pattern `{pattern}`: `..` after a wildcard segment is ambiguous; write the directory out"
    )]
    ParentAfterWildcard {
        /// The pattern as written.
        pattern: String,
    },
    /// `**` appears inside a segment (`a**`) instead of as a whole segment.
    #[error(
        "invalid path pattern `{pattern}`: `**` must be a whole path segment, as in `dir/**/file`"
    )]
    RecursiveNotAlone {
        /// The pattern as written.
        pattern: String,
    },
    /// `{` or `}`: alternation is not part of the pattern language.
    #[error(
        "invalid path pattern `{pattern}`: `{{` and `}}` are not supported; list each pattern separately, or write `[{{]` for a literal brace"
    )]
    Alternation {
        /// The pattern as written.
        pattern: String,
    },
    /// A `[` without its `]`.
    #[error("invalid path pattern `{pattern}`: unclosed character class `[`")]
    UnclosedClass {
        /// The pattern as written.
        pattern: String,
    },
    /// A class range whose end is before its start (`[z-a]`).
    #[error("invalid path pattern `{pattern}`: invalid range `{start}-{end}` in a character class")]
    InvalidRange {
        /// The pattern as written.
        pattern: String,
        /// The range start.
        start: char,
        /// The range end.
        end: char,
    },
    /// A non-ASCII character in a class: classes match one byte, so it would not mean what it
    /// says.
    #[error(
        "invalid path pattern `{pattern}`: character classes may only list ASCII characters, found `{found}`"
    )]
    NonAsciiClass {
        /// The pattern as written.
        pattern: String,
        /// The offending character.
        found: char,
    },
    /// A POSIX class (`[[:alpha:]]`), which is not supported.
    #[error(
        "invalid path pattern `{pattern}`: POSIX classes such as `[[:alpha:]]` are not supported"
    )]
    PosixClass {
        /// The pattern as written.
        pattern: String,
    },
    /// `globset` refused the rendered pattern (should not happen: the grammar is checked first).
    #[error("invalid path pattern `{pattern}`: {message}")]
    Glob {
        /// The pattern as written.
        pattern: String,
        /// globset's explanation.
        message: String,
    },
}

/// A character class over bytes: `positive` means the listed bytes, otherwise every other byte.
/// Invariant: `set` is sorted, merged (no overlapping or adjacent intervals), ASCII only, and, so
/// that a class never matches a separator, excludes `/` when positive and includes it when
/// negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    positive: bool,
    set: Vec<(u32, u32)>,
    /// The class as written, `[` to `]`: rendered back verbatim for globset, whose grammar the
    /// parser below mirrors.
    text: String,
}

impl Class {
    fn contains(&self, b: u8) -> bool {
        let c = u32::from(b);
        let listed = self.set.iter().any(|&(a, b)| a <= c && c <= b);
        listed == self.positive
    }

    /// The single character this class matches, if it is a positive singleton (`[a]`, `[*]`).
    fn single(&self) -> Option<char> {
        match self.set.as_slice() {
            [(a, b)] if self.positive && a == b => char::from_u32(*a),
            _ => None,
        }
    }

    /// Sound: true only if every character `other` matches, `self` matches.
    fn covers(&self, other: &Class) -> bool {
        match (self.positive, other.positive) {
            (true, true) => intervals_subset(&other.set, &self.set),
            (false, true) => intervals_disjoint(&other.set, &self.set),
            (true, false) => false,
            (false, false) => intervals_subset(&self.set, &other.set),
        }
    }
}

fn merge(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn intervals_subset(inner: &[(u32, u32)], outer: &[(u32, u32)]) -> bool {
    inner
        .iter()
        .all(|&(a, b)| outer.iter().any(|&(x, y)| x <= a && b <= y))
}

fn intervals_disjoint(l: &[(u32, u32)], r: &[(u32, u32)]) -> bool {
    l.iter()
        .all(|&(a, b)| r.iter().all(|&(x, y)| b < x || y < a))
}

/// One token of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: exactly one character.
    Any,
    /// `*`: any run of characters, empty included.
    Star,
    Class(Class),
}

impl Tok {
    fn literal(&self) -> Option<char> {
        match self {
            Tok::Lit(c) => Some(*c),
            Tok::Class(class) => class.single(),
            Tok::Any | Tok::Star => None,
        }
    }
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `**`: any number of segments, zero included.
    GlobStar,
    Glob(Vec<Tok>),
}

impl Seg {
    fn literal(&self) -> Option<String> {
        match self {
            Seg::GlobStar => None,
            Seg::Glob(toks) => toks.iter().map(Tok::literal).collect(),
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Seg::GlobStar => out.push_str("**"),
            Seg::Glob(toks) => {
                for t in toks {
                    match t {
                        Tok::Lit(c @ ('?' | '*' | '[' | ']' | '{' | '}')) => {
                            out.push('[');
                            out.push(*c);
                            out.push(']');
                        }
                        Tok::Lit(c) => out.push(*c),
                        Tok::Any => out.push('?'),
                        Tok::Star => out.push('*'),
                        Tok::Class(class) => out.push_str(&class.text),
                    }
                }
            }
        }
    }
}

/// Parses one segment of a pattern (never empty, never `.` or `..`, never containing `/`).
fn parse_segment(seg: &str, pattern: &str) -> Result<Seg, PatternError> {
    if seg == "**" {
        return Ok(Seg::GlobStar);
    }
    let err_pattern = || pattern.to_owned();
    let mut toks = Vec::new();
    let mut chars = seg.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '*' => {
                if matches!(chars.peek(), Some((_, '*'))) {
                    return Err(PatternError::RecursiveNotAlone {
                        pattern: err_pattern(),
                    });
                }
                toks.push(Tok::Star);
            }
            '?' => toks.push(Tok::Any),
            '{' | '}' => {
                return Err(PatternError::Alternation {
                    pattern: err_pattern(),
                });
            }
            '[' => {
                // Mirrors globset's class grammar (glob.rs `parse_class`), so that the text
                // rendered back means exactly these ranges.
                let negated = matches!(chars.peek(), Some((_, '!' | '^')));
                if negated {
                    chars.next();
                }
                let mut ranges: Vec<(char, char)> = Vec::new();
                let mut first = true;
                let mut in_range = false;
                let end = loop {
                    let Some((i, c)) = chars.next() else {
                        return Err(PatternError::UnclosedClass {
                            pattern: err_pattern(),
                        });
                    };
                    match c {
                        ']' if !first => break i,
                        '-' if !first && !in_range => in_range = true,
                        '[' if !in_range && matches!(chars.peek(), Some((_, ':'))) => {
                            return Err(PatternError::PosixClass {
                                pattern: err_pattern(),
                            });
                        }
                        c if !c.is_ascii() => {
                            return Err(PatternError::NonAsciiClass {
                                pattern: err_pattern(),
                                found: c,
                            });
                        }
                        c => {
                            if in_range {
                                let Some(last) = ranges.last_mut() else {
                                    unreachable!("in_range is only set after a first character")
                                };
                                last.1 = c;
                                if last.1 < last.0 {
                                    return Err(PatternError::InvalidRange {
                                        pattern: err_pattern(),
                                        start: last.0,
                                        end: last.1,
                                    });
                                }
                            } else {
                                ranges.push((c, c));
                            }
                            in_range = false;
                        }
                    }
                    first = false;
                };
                if in_range {
                    ranges.push(('-', '-'));
                }
                let mut set: Vec<(u32, u32)> = Vec::new();
                for (a, b) in ranges {
                    let (a, b) = (a as u32, b as u32);
                    let slash = '/' as u32;
                    if negated || b < slash || a > slash {
                        set.push((a, b));
                    } else {
                        if a < slash {
                            set.push((a, slash - 1));
                        }
                        if b > slash {
                            set.push((slash + 1, b));
                        }
                    }
                }
                if negated {
                    set.push(('/' as u32, '/' as u32));
                }
                toks.push(Tok::Class(Class {
                    positive: !negated,
                    set: merge(set),
                    text: seg[start..=end].to_owned(),
                }));
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(Seg::Glob(toks))
}

/// A segment token at the byte level, as globset matches it.
#[derive(Clone, Copy)]
enum ByteTok<'a> {
    Byte(u8),
    /// `?`: one byte other than `/`.
    Any,
    Star,
    Class(&'a Class),
}

fn byte_toks(toks: &[Tok]) -> Vec<ByteTok<'_>> {
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        match t {
            Tok::Lit(c) => {
                let mut buf = [0; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(ByteTok::Byte));
            }
            Tok::Any => out.push(ByteTok::Any),
            Tok::Star => out.push(ByteTok::Star),
            Tok::Class(class) => out.push(ByteTok::Class(class)),
        }
    }
    out
}

/// Sound segment inclusion: true only if every byte string `o` matches, `s` matches.
fn seg_covers(s: &[Tok], o: &[Tok]) -> bool {
    let (s, o) = (byte_toks(s), byte_toks(o));
    let (n, m) = (s.len(), o.len());
    // memo[i * (m + 1) + j]: does s[i..] cover o[j..]?
    let mut memo = vec![false; (n + 1) * (m + 1)];
    for i in (0..=n).rev() {
        for j in (0..=m).rev() {
            let v = if i == n {
                j == m
            } else if let ByteTok::Star = s[i] {
                // `*` matches nothing more, or absorbs whatever o[j] matches.
                memo[(i + 1) * (m + 1) + j] || (j < m && memo[i * (m + 1) + j + 1])
            } else if j == m {
                false
            } else {
                let step = match (s[i], o[j]) {
                    (_, ByteTok::Star) => false,
                    (ByteTok::Any, _) => true,
                    (ByteTok::Byte(a), ByteTok::Byte(b)) => a == b,
                    (ByteTok::Byte(a), ByteTok::Class(c)) => c.single() == Some(char::from(a)),
                    (ByteTok::Byte(_), ByteTok::Any) => false,
                    (ByteTok::Class(sc), ByteTok::Byte(b)) => sc.contains(b),
                    (ByteTok::Class(sc), ByteTok::Class(oc)) => sc.covers(oc),
                    (ByteTok::Class(_), ByteTok::Any) => false,
                    (ByteTok::Star, _) => false,
                };
                step && memo[(i + 1) * (m + 1) + j + 1]
            };
            memo[i * (m + 1) + j] = v;
        }
    }
    memo[0]
}

/// A validated, compiled path pattern. Equality is by normalized pattern ([`Self::as_str`]).
#[derive(Clone)]
pub struct PathPattern {
    source: String,
    normalized: String,
    /// Invariant: absolute, no `.`/`..`, no two `**` in a row.
    segs: Vec<Seg>,
    /// The pattern, plus its prefix when it ends in `**` (so that `dir/**` matches `dir`).
    globs: Vec<Glob>,
    /// `globs` compiled.
    set: GlobSet,
}

impl PartialEq for PathPattern {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for PathPattern {}

impl std::hash::Hash for PathPattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.normalized.hash(state);
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PathPattern")
            .field("source", &self.source)
            .field("normalized", &self.normalized)
            .finish()
    }
}

/// Shows the normalized absolute pattern.
impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

fn render(segs: &[Seg]) -> String {
    if segs.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::new();
    for seg in segs {
        out.push('/');
        seg.render(&mut out);
    }
    out
}

impl PathPattern {
    /// Parses `text`, absolute or relative to `workspace` (which must be absolute), per SPEC §2.
    /// A trailing `/` means `/**`. Errors, never a fallback, on anything not in the pattern
    /// language.
    pub fn parse(text: &str, workspace: &Path) -> Result<PathPattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.contains('\0') {
            return Err(PatternError::Nul {
                pattern: text.replace('\0', "\\0"),
            });
        }
        let pattern = || text.to_owned();
        let mut segs: Vec<Seg> = Vec::new();
        if !text.starts_with('/') {
            // The workspace is a real directory name: every character in it is literal.
            let bad_workspace = || PatternError::Workspace {
                pattern: pattern(),
                workspace: workspace.display().to_string(),
            };
            let ws = normalize_lexically(workspace, Path::new("/"))
                .filter(|_| workspace.is_absolute())
                .ok_or_else(bad_workspace)?;
            for comp in ws.components() {
                if let Component::Normal(name) = comp {
                    let name = name.to_str().ok_or_else(bad_workspace)?;
                    segs.push(Seg::Glob(name.chars().map(Tok::Lit).collect()));
                }
            }
        }
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => match segs.last() {
                    None => return Err(PatternError::AboveRoot { pattern: pattern() }),
                    Some(seg) if seg.literal().is_none() => {
                        return Err(PatternError::ParentAfterWildcard { pattern: pattern() });
                    }
                    Some(_) => {
                        segs.pop();
                    }
                },
                part => segs.push(parse_segment(part, text)?),
            }
        }
        if text.ends_with('/') {
            segs.push(Seg::GlobStar);
        }
        segs.dedup_by(|b, a| *a == Seg::GlobStar && *b == Seg::GlobStar);

        let normalized = render(&segs);
        let glob = |glob_text: &str| {
            GlobBuilder::new(glob_text)
                .literal_separator(true)
                .backslash_escape(false)
                .build()
                .map_err(|e| PatternError::Glob {
                    pattern: pattern(),
                    message: e.kind().to_string(),
                })
        };
        let mut globs = vec![glob(&normalized)?];
        if segs.last() == Some(&Seg::GlobStar) {
            globs.push(glob(&render(&segs[..segs.len() - 1]))?);
        }
        let set = build_set(&globs).map_err(|e| PatternError::Glob {
            pattern: pattern(),
            message: e.to_string(),
        })?;
        Ok(PathPattern {
            source: text.to_owned(),
            normalized,
            segs,
            globs,
            set,
        })
    }

    /// The normalized absolute pattern, as matched (wildcard characters of the workspace
    /// escaped as one-character classes, `dir/` shown as `dir/**`).
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// The pattern as written in the manifest or policy.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the pattern has no wildcard: it matches exactly one path.
    pub fn is_literal(&self) -> bool {
        self.segs.iter().all(|s| s.literal().is_some())
    }

    /// The longest wildcard-free directory prefix: every path the pattern matches is this
    /// directory or below it. For a pattern without wildcards it is the one path matched
    /// (which may name a file).
    pub fn base_dir(&self) -> PathBuf {
        let mut out = PathBuf::from("/");
        for seg in &self.segs {
            match seg.literal() {
                Some(name) => out.push(name),
                None => break,
            }
        }
        out
    }

    /// Whether the pattern matches exactly [`base_dir`](Self::base_dir) and everything beneath
    /// it (a literal path, or literal directories followed by one `**`), so that a kernel rule
    /// on that directory (Landlock, for child processes) grants no more than the pattern.
    pub fn is_whole_subtree(&self) -> bool {
        match self.segs.split_last() {
            None => true,
            Some((Seg::GlobStar, rest)) => rest.iter().all(|s| s.literal().is_some()),
            Some((_, _)) => self.is_literal(),
        }
    }

    /// Whether `path` matches. `path` must be absolute; it is normalized lexically first, and a
    /// relative path (or one with NUL) never matches.
    pub fn matches(&self, path: &Path) -> bool {
        if !path.is_absolute() {
            return false;
        }
        let Some(path) = normalize_lexically(path, Path::new("/")) else {
            return false;
        };
        self.matches_normalized(&path)
    }

    /// Whether this pattern matches `/` (which has no segments; globset would let `/*` match it
    /// with an empty segment): only a pattern made of `**` alone does.
    fn matches_root(&self) -> bool {
        self.segs.iter().all(|s| *s == Seg::GlobStar)
    }

    /// [`PathPattern::matches`] for a path already absolute and lexically normalized.
    fn matches_normalized(&self, path: &Path) -> bool {
        if path.as_os_str() == OsStr::new("/") {
            return self.matches_root();
        }
        self.set.is_match(path)
    }

    /// Sound inclusion: true only if every path `other` matches, `self` matches too. When that
    /// cannot be shown (the check is not complete), false.
    pub fn covers(&self, other: &PathPattern) -> bool {
        let (s, o) = (&self.segs, &other.segs);
        let (n, m) = (s.len(), o.len());
        let mut memo = vec![false; (n + 1) * (m + 1)];
        for i in (0..=n).rev() {
            for j in (0..=m).rev() {
                let v = if i == n {
                    j == m
                } else {
                    match (&s[i], o.get(j)) {
                        // `**` stands for nothing more, or absorbs o[j] whatever it is.
                        (Seg::GlobStar, _) => {
                            memo[(i + 1) * (m + 1) + j] || (j < m && memo[i * (m + 1) + j + 1])
                        }
                        (Seg::Glob(_), None | Some(Seg::GlobStar)) => false,
                        (Seg::Glob(st), Some(Seg::Glob(ot))) => {
                            seg_covers(st, ot) && memo[(i + 1) * (m + 1) + j + 1]
                        }
                    }
                };
                memo[i * (m + 1) + j] = v;
            }
        }
        memo[0]
    }
}

fn build_set(globs: &[Glob]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        builder.add(g.clone());
    }
    builder.build()
}

/// Most globs compiled into one automaton of a [`PathSet`]: bounds the size of each automaton,
/// so that a grant of many patterns cannot hit the regex engine's size limit.
const GLOBS_PER_SET: usize = 256;

/// Path patterns compiled together: a path matches the set exactly when it matches one of the
/// patterns ([`PathPattern::matches`]), at the cost of a few automata instead of one matcher per
/// pattern (a grant's check stays flat as its patterns grow).
#[derive(Clone)]
pub struct PathSet {
    sets: Vec<GlobSet>,
    matches_root: bool,
}

impl PathSet {
    /// Compiles `patterns` into one matcher.
    pub fn new(patterns: &[PathPattern]) -> PathSet {
        let globs: Vec<Glob> = patterns.iter().flat_map(|p| p.globs.clone()).collect();
        let mut sets = Vec::new();
        for chunk in globs.chunks(GLOBS_PER_SET) {
            match build_set(chunk) {
                Ok(set) => sets.push(set),
                // Too large as one automaton: each pattern's own matcher (known to build) serves.
                Err(_) => sets.extend(
                    patterns
                        .iter()
                        .filter(|p| p.globs.iter().any(|g| chunk.contains(g)))
                        .map(|p| p.set.clone()),
                ),
            }
        }
        PathSet {
            sets,
            matches_root: patterns.iter().any(PathPattern::matches_root),
        }
    }

    /// Whether `path`, absolute and lexically normalized ([`normalize_lexically`]), matches one
    /// of the patterns.
    pub(crate) fn matches_normalized(&self, path: &Path) -> bool {
        if path.as_os_str() == OsStr::new("/") {
            return self.matches_root;
        }
        let candidate = Candidate::new(path);
        self.sets.iter().any(|s| s.is_match_candidate(&candidate))
    }
}

impl fmt::Debug for PathSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PathSet")
            .field("automata", &self.sets.len())
            .finish()
    }
}

/// Makes `path` absolute against `base` and removes `.` and `..` lexically (symlinks are not
/// looked at), as POSIX resolves them: `..` at `/` stays at `/` (so `/../etc` is `/etc`).
/// `None` if `base` is needed but not absolute, or if either contains a NUL byte.
pub fn normalize_lexically(path: &Path, base: &Path) -> Option<PathBuf> {
    let has_nul = |p: &Path| p.as_os_str().as_encoded_bytes().contains(&0);
    if has_nul(path) || has_nul(base) {
        return None;
    }
    resolve_lexically(path, base)
}

/// [`normalize_lexically`] for a path as a plugin gave it, NUL bytes included: what the grant
/// is checked against before anything else is looked at (SPEC §5, "the grant is checked
/// first"), so that a malformed path outside the grant is still a denial. A NUL byte is kept
/// as it is (no file has such a name, so no file is named by the result); `None` only if
/// `base` is needed but not absolute.
pub fn resolve_lexically(path: &Path, base: &Path) -> Option<PathBuf> {
    let full: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        if !base.is_absolute() {
            return None;
        }
        base.join(path)
    };
    let mut parts: Vec<&OsStr> = Vec::new();
    for comp in full.components() {
        match comp {
            Component::RootDir | Component::Prefix(_) => parts.clear(),
            Component::CurDir => {}
            // POSIX: the parent of `/` is `/` (CVE-2023-30584 and CVE-2024-21891 are Node's
            // permission model mistaking such paths; here they resolve, then get checked).
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(name) => parts.push(name),
        }
    }
    let mut out = PathBuf::from("/");
    out.extend(parts);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WS: &str = "/work/space";

    fn pat(text: &str) -> PathPattern {
        match PathPattern::parse(text, Path::new(WS)) {
            Ok(p) => p,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn normalization() {
        let cases = [
            ("/var/logs/temp/*", "/var/logs/temp/*"),
            ("/var/logs/temp/", "/var/logs/temp/**"),
            ("/var//logs/./temp", "/var/logs/temp"),
            ("/var/logs/../etc/passwd", "/var/etc/passwd"),
            ("./data/**", "/work/space/data/**"),
            ("data", "/work/space/data"),
            ("../other/*", "/work/other/*"),
            ("../../x", "/x"),
            ("/", "/**"),
            ("/**", "/**"),
            ("/a/**/**/b", "/a/**/b"),
            ("/a/**/", "/a/**"),
            ("/a/b/..", "/a"),
            ("/a/[b]/..", "/a"),
            (".", "/work/space"),
            ("/a/[*]", "/a/[*]"),
            ("/a\\b", "/a\\b"),
        ];
        for (text, want) in cases {
            assert_eq!(pat(text).as_str(), want, "{text}");
            assert_eq!(pat(text).source(), text);
        }
    }

    #[test]
    fn workspace_with_glob_characters_is_literal() {
        let p = PathPattern::parse("out/*", Path::new("/home/u/[proj]{x}*")).unwrap();
        assert_eq!(p.as_str(), "/home/u/[[]proj[]][{]x[}][*]/out/*");
        assert!(p.matches(Path::new("/home/u/[proj]{x}*/out/a")));
        assert!(!p.matches(Path::new("/home/u/p{x}*/out/a")));
        assert!(!p.matches(Path::new("/home/u/[proj]{x}zzz/out/a")));
        assert_eq!(p.base_dir(), Path::new("/home/u/[proj]{x}*/out"));
    }

    #[test]
    fn rejected() {
        let ws = Path::new(WS);
        type Expect = fn(&PatternError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("", |e| matches!(e, PatternError::Empty)),
            ("/a\0b", |e| matches!(e, PatternError::Nul { .. })),
            ("/..", |e| matches!(e, PatternError::AboveRoot { .. })),
            ("/a/../..", |e| matches!(e, PatternError::AboveRoot { .. })),
            ("../../../x", |e| {
                matches!(e, PatternError::AboveRoot { .. })
            }),
            ("/a/*/../b", |e| {
                matches!(e, PatternError::ParentAfterWildcard { .. })
            }),
            ("/a/**/../b", |e| {
                matches!(e, PatternError::ParentAfterWildcard { .. })
            }),
            ("/a/b**", |e| {
                matches!(e, PatternError::RecursiveNotAlone { .. })
            }),
            ("/a/***", |e| {
                matches!(e, PatternError::RecursiveNotAlone { .. })
            }),
            ("/a/{b,c}", |e| {
                matches!(e, PatternError::Alternation { .. })
            }),
            ("/a/}", |e| matches!(e, PatternError::Alternation { .. })),
            ("/a/[bc", |e| {
                matches!(e, PatternError::UnclosedClass { .. })
            }),
            ("/a/[]", |e| matches!(e, PatternError::UnclosedClass { .. })),
            ("/a/[!]", |e| {
                matches!(e, PatternError::UnclosedClass { .. })
            }),
            ("/a/[b/c]", |e| {
                matches!(e, PatternError::UnclosedClass { .. })
            }),
            ("/a/[z-a]", |e| {
                matches!(
                    e,
                    PatternError::InvalidRange {
                        start: 'z',
                        end: 'a',
                        ..
                    }
                )
            }),
            ("/a/[[:alpha:]]", |e| {
                matches!(e, PatternError::PosixClass { .. })
            }),
            ("/a/[é]", |e| {
                matches!(e, PatternError::NonAsciiClass { found: 'é', .. })
            }),
        ];
        for (text, ok) in cases {
            match PathPattern::parse(text, ws) {
                Err(e) => assert!(ok(&e), "{text:?}: unexpected {e:?}"),
                Ok(p) => panic!("{text:?} parsed as {p:?}"),
            }
        }
        for ws in ["relative/ws", ""] {
            assert!(matches!(
                PathPattern::parse("x", Path::new(ws)),
                Err(PatternError::Workspace { .. })
            ));
        }
        // An absolute pattern does not need the workspace.
        assert!(PathPattern::parse("/x", Path::new("relative")).is_ok());
    }

    #[test]
    fn error_message() {
        let e = PathPattern::parse("/..", Path::new(WS)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid path pattern `/..`: `..` climbs above `/`"
        );
    }

    #[test]
    fn matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("/var/logs/temp/*", "/var/logs/temp/a.log", true),
            ("/var/logs/temp/*", "/var/logs/temp", false),
            ("/var/logs/temp/*", "/var/logs/temp/a/b", false),
            ("/var/logs/temp/*", "/var/logs/temp/.hidden", true),
            ("/var/logs/temp/", "/var/logs/temp", true),
            ("/var/logs/temp/", "/var/logs/temp/a/b/c", true),
            ("/var/logs/temp/", "/var/logs/tempx", false),
            ("/var/logs/temp/**", "/var/logs/temp", true),
            ("/var/logs/temp/**", "/var/logs", false),
            ("/a/**/b", "/a/b", true),
            ("/a/**/b", "/a/x/y/b", true),
            ("/a/**/b", "/a/x/y/bb", false),
            ("/**/b", "/b", true),
            ("/**/b", "/x/b", true),
            ("/**", "/", true),
            ("/**", "/etc/shadow", true),
            ("/*", "/", false),
            ("/*", "/etc", true),
            ("/*", "/etc/passwd", false),
            ("/a/?", "/a/b", true),
            ("/a/?", "/a/bc", false),
            ("/a/?", "/a/é", false),
            ("/a/??", "/a/é", true),
            ("/a/*", "/a/é", true),
            ("/a/é*", "/a/éa", true),
            ("/a/[bc]", "/a/c", true),
            ("/a/[bc]", "/a/d", false),
            ("/a/[!bc]", "/a/d", true),
            ("/a/[!bc]", "/a/b", false),
            ("/a/[^bc]x", "/a/dx", true),
            ("/a[!b]c", "/a/c", false),
            ("/a/[a-c]", "/a/b", true),
            ("/a/[-a]", "/a/-", true),
            ("/a/[]]", "/a/]", true),
            ("/a/[*]", "/a/*", true),
            ("/a/[*]", "/a/b", false),
            ("/A/b", "/a/b", false),
            ("/a/b", "/a/./b", true),
            ("/a/b", "/a/c/../b", true),
            ("/a/b", "a/b", false),
            // POSIX: `/..` is `/` (issue 15: resolved, then checked).
            ("/a/b", "/../a/b", true),
            ("/etc/**", "/a/../../../etc/passwd", true),
            ("./data/**", "/work/space/data/x.csv", true),
            ("./data/**", "/work/spacex/data/x.csv", false),
            ("/a\\b", "/a\\b", true),
            ("/a/b", "/a/b/", true),
        ];
        for &(p, path, want) in cases {
            assert_eq!(pat(p).matches(Path::new(path)), want, "{p} vs {path}");
        }
    }

    #[test]
    fn coverage() {
        let cases: &[(&str, &str, bool)] = &[
            ("/var/logs/**", "/var/logs/temp/*", true),
            ("/var/logs/**", "/var/logs/temp/", true),
            ("/var/logs/**", "/var/logs", true),
            ("/var/logs/**", "/var/logs/**", true),
            ("/var/logs/**", "/var/log", false),
            ("/var/logs/**", "/var/**", false),
            ("/var/logs/*", "/var/logs/**", false),
            ("/var/logs/*", "/var/logs/a*", true),
            ("/var/logs/*", "/var/logs/?", true),
            ("/var/logs/*", "/var/logs/[ab]", true),
            ("/var/logs/?", "/var/logs/*", false),
            ("/var/logs/?", "/var/logs/[ab]", true),
            ("/var/logs/[abc]", "/var/logs/[ab]", true),
            ("/var/logs/[ab]", "/var/logs/[abc]", false),
            ("/var/logs/[a-z]", "/var/logs/[b-d]", true),
            ("/var/logs/[!x]", "/var/logs/[ab]", true),
            ("/var/logs/[!a]", "/var/logs/[ab]", false),
            ("/var/logs/[!ab]", "/var/logs/[!a-c]", true),
            ("/var/logs/[!a-c]", "/var/logs/[!ab]", false),
            ("/var/logs/[ab]", "/var/logs/?", false),
            ("/var/logs/a", "/var/logs/[a]", true),
            ("/var/logs/[a]", "/var/logs/a", true),
            ("/var/logs/a*", "/var/logs/*", false),
            ("/var/logs/*.log", "/var/logs/app*.log", true),
            ("/var/logs/*.log", "/var/logs/app.*", false),
            ("/var/logs/*a*", "/var/logs/*ab*", true),
            ("/**", "/etc/passwd", true),
            ("/**", "/**", true),
            ("/**/x", "/a/**/x", true),
            ("/a/**/x", "/**/x", false),
            ("/a/**", "/a/**/b/**", true),
            ("/a/**/b/**", "/a/**", false),
            ("/a/*/c", "/a/b/c", true),
            ("/a/*/c", "/a/**/c", false),
            ("/*/*", "/a/**", false),
            ("./data/**", "/work/space/data/in/*.csv", true),
            ("/work/space/data/", "./data/x", true),
            ("/etc/passwd", "/etc/passwd", true),
            ("/etc/passwd", "/etc/passw?", false),
            ("/a/?", "/a/é", false),
            ("/a/??", "/a/é", true),
            ("/a/?*", "/a/é", true),
            ("/a/é?", "/a/éx", true),
        ];
        for &(p, q, want) in cases {
            assert_eq!(pat(p).covers(&pat(q)), want, "{p} covers {q}");
        }
    }

    #[test]
    fn base_dirs() {
        let cases = [
            ("/var/logs/temp/*", "/var/logs/temp"),
            ("/var/logs/temp/", "/var/logs/temp"),
            ("/var/logs/t*/x", "/var/logs"),
            ("/**", "/"),
            ("/*", "/"),
            ("/etc/hosts", "/etc/hosts"),
            ("/a/[b]/*", "/a/b"),
            ("./data/**", "/work/space/data"),
        ];
        for (p, want) in cases {
            assert_eq!(pat(p).base_dir(), Path::new(want), "{p}");
        }
        assert!(pat("/etc/hosts").is_literal());
        assert!(!pat("/etc/host?").is_literal());
        for exact in [
            "/etc/hosts",
            "/var/logs/temp/",
            "/**",
            "./data/**",
            "/a/[b]/**",
        ] {
            assert!(pat(exact).is_whole_subtree(), "{exact}");
        }
        for wider in [
            "/var/logs/temp/*",
            "/var/logs/t*/x",
            "/*",
            "/a/**/b",
            "/a/*.log",
        ] {
            assert!(!pat(wider).is_whole_subtree(), "{wider}");
        }
    }

    #[test]
    fn lexical_normalization() {
        let base = Path::new("/ws");
        let cases: &[(&str, Option<&str>)] = &[
            ("/a/b", Some("/a/b")),
            ("/a/./b/", Some("/a/b")),
            ("/a/../b", Some("/b")),
            ("x/y", Some("/ws/x/y")),
            ("../x", Some("/x")),
            ("../../x", Some("/x")),
            ("/..", Some("/")),
            ("/../../etc/hostname", Some("/etc/hostname")),
            ("a/../../../../etc/hostname", Some("/etc/hostname")),
            ("/", Some("/")),
            ("", Some("/ws")),
            ("a\0b", None),
        ];
        for &(p, want) in cases {
            assert_eq!(
                normalize_lexically(Path::new(p), base),
                want.map(PathBuf::from),
                "{p:?}"
            );
        }
        assert_eq!(normalize_lexically(Path::new("x"), Path::new("rel")), None);
        assert_eq!(
            normalize_lexically(Path::new("/x"), Path::new("rel")),
            Some("/x".into())
        );
    }

    // See: CVE-2023-30584 and CVE-2024-21891 (Node's permission model and paths climbing
    // above `/`): a path resolves as POSIX does, `/..` being `/`, and is then checked.
    #[test]
    fn issue_15_paths_climbing_above_root_resolve_like_posix() {
        let ws = Path::new("/work/space");
        let climbing = "data/sub/../../../../../../../../etc/hostname";
        assert_eq!(
            normalize_lexically(Path::new(climbing), ws),
            Some(PathBuf::from("/etc/hostname"))
        );
        assert_eq!(
            resolve_lexically(Path::new(climbing), ws),
            Some(PathBuf::from("/etc/hostname"))
        );
        // A NUL byte is kept by `resolve_lexically` (the grant is checked on it first), and
        // refused by `normalize_lexically`.
        assert_eq!(
            resolve_lexically(Path::new("/../etc/a\0b"), ws),
            Some(PathBuf::from("/etc/a\0b"))
        );
        assert_eq!(normalize_lexically(Path::new("/etc/a\0b"), ws), None);
        assert!(pat("/etc/**").matches(Path::new("/../../etc/hostname")));
    }

    #[test]
    fn set_of_many_patterns() {
        let ps: Vec<PathPattern> = (0..1000).map(|i| pat(&format!("/w/d{i}/*.txt"))).collect();
        let set = PathSet::new(&ps);
        assert!(set.matches_normalized(Path::new("/w/d999/a.txt")));
        assert!(set.matches_normalized(Path::new("/w/d0/b.txt")));
        assert!(!set.matches_normalized(Path::new("/w/d1000/a.txt")));
        assert!(!set.matches_normalized(Path::new("/w/d1/sub/a.txt")));
        assert!(!PathSet::new(&[]).matches_normalized(Path::new("/")));
        assert!(PathSet::new(&[pat("/**")]).matches_normalized(Path::new("/")));
    }

    #[test]
    fn set_and_patterns_agree_on_names_that_are_not_utf8() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let ps = [pat("/w/*.txt"), pat("/w/d/**"), pat("/w/?x"), pat("/w/lit")];
        let set = PathSet::new(&ps);
        for bytes in [
            &b"/w/\xff.txt"[..],
            b"/w/\xff\xfex.txt",
            b"/w/d/\x80",
            b"/w/d",
            b"/w/\xffx",
            b"/w/\xff\xfex",
            b"/w/li\xff",
            b"/w/\xff/a.txt",
        ] {
            let path = Path::new(OsStr::from_bytes(bytes));
            let one = ps.iter().any(|p| p.matches(path));
            assert_eq!(set.matches_normalized(path), one, "{}", path.display());
        }
        assert!(set.matches_normalized(Path::new(OsStr::from_bytes(b"/w/\xff.txt"))));
        assert!(!set.matches_normalized(Path::new(OsStr::from_bytes(b"/w/\xff/a.txt"))));
    }

    #[test]
    fn set_too_large_for_one_automaton_still_matches() {
        // Long patterns of many wildcards: 256 of them exceed the regex engine's size limit
        // as one automaton, so the set falls back to the patterns' own matchers.
        let seg = "*a?".repeat(300);
        let ps: Vec<PathPattern> = (0..300).map(|i| pat(&format!("/w/{i}/{seg}"))).collect();
        let set = PathSet::new(&ps);
        let name = "xab".repeat(300);
        assert!(set.matches_normalized(&PathBuf::from(format!("/w/299/{name}"))));
        assert!(set.matches_normalized(&PathBuf::from(format!("/w/0/{name}"))));
        assert!(!set.matches_normalized(&PathBuf::from(format!("/w/300/{name}"))));
        assert!(
            set.sets.len() > 2,
            "the fallback was not exercised: {set:?}"
        );
    }

    // ---- properties ----

    const ALPHABET: [&str; 10] = ["a", "b", "ab", "*", "?", "**", "a*", "[ab]", "é", "??"];
    const TEXT: [&str; 6] = ["", "a", "b", "ab", "ba", "é"];

    fn pattern_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(&ALPHABET[..]), 1..5)
            .prop_map(|segs| format!("/{}", segs.join("/")))
    }

    /// A concrete path matched by `p`, built from the random `choices`, or `None` when the
    /// choices produced an empty segment.
    fn instantiate(p: &PathPattern, choices: &[u8]) -> Option<PathBuf> {
        let mut it = choices.iter().copied().cycle();
        let mut next = move |n: usize| it.next().unwrap_or(0) as usize % n;
        let mut out = PathBuf::from("/");
        for seg in &p.segs {
            match seg {
                Seg::GlobStar => {
                    for _ in 0..next(3) {
                        out.push(TEXT[1 + next(TEXT.len() - 1)]);
                    }
                }
                Seg::Glob(toks) => {
                    let mut s = String::new();
                    for t in toks {
                        match t {
                            Tok::Lit(c) => s.push(*c),
                            Tok::Star => s.push_str(TEXT[next(TEXT.len())]),
                            Tok::Any => s.push(['a', 'b', 'c'][next(3)]),
                            Tok::Class(c) => {
                                let picks: Vec<char> =
                                    "abc".chars().filter(|&ch| c.contains(ch as u8)).collect();
                                s.push(*picks.get(next(picks.len().max(1)))?);
                            }
                        }
                    }
                    if s.is_empty() {
                        return None;
                    }
                    out.push(s);
                }
            }
        }
        Some(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn covers_is_sound(p in pattern_strategy(), q in pattern_strategy(),
                           choices in proptest::collection::vec(any::<u8>(), 1..32)) {
            let (p, q) = (pat(&p), pat(&q));
            if let Some(path) = instantiate(&q, &choices) {
                prop_assert!(q.matches(&path), "{} should match {}", q, path.display());
                if p.covers(&q) {
                    prop_assert!(p.matches(&path), "{} covers {} but not {}", p, q, path.display());
                }
            }
        }

        #[test]
        fn set_matches_what_one_of_its_patterns_matches(
            ps in proptest::collection::vec(pattern_strategy(), 0..6),
            q in pattern_strategy(),
            choices in proptest::collection::vec(any::<u8>(), 1..32),
        ) {
            let ps: Vec<PathPattern> = ps.iter().map(|p| pat(p)).collect();
            let set = PathSet::new(&ps);
            // Paths drawn from the patterns themselves (so that matches happen) and from another.
            let q = pat(&q);
            let paths = ps.iter().chain([&q]).filter_map(|p| instantiate(p, &choices));
            for path in paths.chain([PathBuf::from("/")]) {
                let one = ps.iter().any(|p| p.matches(&path));
                prop_assert_eq!(set.matches_normalized(&path), one, "{}", path.display());
            }
        }

        #[test]
        fn covers_is_reflexive(p in pattern_strategy()) {
            let p = pat(&p);
            prop_assert!(p.covers(&p));
        }

        #[test]
        fn covers_is_transitive(p in pattern_strategy(), q in pattern_strategy(), r in pattern_strategy()) {
            let (p, q, r) = (pat(&p), pat(&q), pat(&r));
            if p.covers(&q) && q.covers(&r) {
                prop_assert!(p.covers(&r), "{} ⊇ {} ⊇ {}", p, q, r);
            }
        }

        #[test]
        fn parse_of_normalized_is_identity(p in pattern_strategy()) {
            let p = pat(&p);
            let again = pat(p.as_str());
            prop_assert_eq!(again.as_str(), p.as_str());
        }
    }
}
