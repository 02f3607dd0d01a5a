//! Module resolution inside a plugin's bundle, as SPEC §5 "Imports" sets it: relative
//! specifiers name the exact file; bare specifiers resolve from the plugin's own `node_modules`
//! with Node's ESM algorithm (package.json `exports`, with subpath patterns and conditions,
//! `imports`, else `module`/`main`); `require` inside CommonJS follows Node's CommonJS algorithm
//! (extensions, directory `index` files, package `main`). Every step looks at the bundle only,
//! so whatever resolves is a file of the plugin, read once and verified; a `node:` specifier or
//! a capability-carrying built-in's name never reaches a file, even where a package of that
//! name is installed.
//!
//! This is the one resolver: the broker serves modules with it and `aether check` follows
//! imports with it, so that what the analysis sees is what runs.

use std::collections::HashSet;
use std::sync::Arc;

use aether_policy::{ModuleKind, is_blocked_builtin};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::bundle::{PluginBundle, ResolveError, SIGNATURE_FILE};

pub use aether_protocol::ResolveMode;

/// The condition tiers of `mode`, in order: a conditions object is matched against the first
/// tier, and against the second only when no key of the first matched (SPEC §5: "else
/// `browser`/`require` where only those exist").
fn conditions(mode: ResolveMode) -> [&'static [&'static str]; 2] {
    match mode {
        ResolveMode::Import => [
            &["aether", "import", "module", "default"],
            &["browser", "require"],
        ],
        ResolveMode::Require => [&["aether", "require", "default"], &["browser"]],
    }
}

/// A resolved module: its canonical name (path in the plugin), how it runs, and its bytes.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The module's path relative to the plugin directory.
    pub name: String,
    /// How its source runs.
    pub kind: ModuleKind,
    /// Its verified bytes.
    pub bytes: Arc<[u8]>,
}

/// A file of the bundle: its canonical name and bytes.
type Found = (String, Arc<[u8]>);

/// At most this many `require` re-exports are followed to find a CommonJS module's names.
const MAX_REEXPORT_DEPTH: usize = 16;

impl PluginBundle {
    /// Resolves `specifier`, asked for by the module `referrer` (`None` for the entry module,
    /// whose specifier is the manifest's `main`, a path in the plugin), to a module of the
    /// bundle. Errors: [`ResolveError::Builtin`], [`ResolveError::NotRelative`],
    /// [`ResolveError::OutsidePlugin`], [`ResolveError::SymlinkOutside`],
    /// [`ResolveError::NotInstalled`], [`ResolveError::InvalidTarget`] and
    /// [`ResolveError::Signature`] leave (or would leave) the plugin: `module` violations;
    /// [`ResolveError::NotFound`], [`ResolveError::NotExported`] and
    /// [`ResolveError::BadPackageJson`] are failures inside it.
    pub fn resolve_module(
        &self,
        specifier: &str,
        referrer: Option<&str>,
        mode: ResolveMode,
    ) -> Result<Resolved, ResolveError> {
        let key = match referrer {
            None => normalize(specifier, "")?,
            Some(referrer) => {
                let base = dirname(referrer);
                if is_relative(specifier) {
                    let key = normalize(specifier, base)?;
                    match mode {
                        ResolveMode::Import => key,
                        ResolveMode::Require => self
                            .load_as_file_or_dir(&key)?
                            .ok_or(ResolveError::NotFound(key))?,
                    }
                } else if specifier.starts_with('#') {
                    self.package_imports(specifier, base, mode)?
                } else if is_blocked_builtin(specifier) {
                    return Err(ResolveError::Builtin);
                } else if is_bare(specifier) {
                    self.package_resolve(specifier, base, mode)?
                } else {
                    return Err(ResolveError::NotRelative);
                }
            }
        };
        if key == SIGNATURE_FILE {
            return Err(ResolveError::Signature);
        }
        let (name, bytes) = self.lookup_key(key)?;
        if name == SIGNATURE_FILE {
            return Err(ResolveError::Signature);
        }
        let kind = self.kind_of(&name, &bytes, mode);
        Ok(Resolved { name, kind, bytes })
    }

    /// How the module `name` runs (SPEC §5): `.mjs` ES module, `.cjs` CommonJS, `.json` JSON;
    /// a `.js` file of the plugin's own is an ES module unless the plugin's `package.json` says
    /// `"type": "commonjs"`; one inside `node_modules` follows its nearest `package.json`'s
    /// `type`, and without one is CommonJS unless written with ES module syntax (Node 22).
    /// TypeScript follows the same rules (as Node's type stripping does): `.mts` an ES module,
    /// `.cts` CommonJS, `.ts` as `.js`.
    /// Other extensions: an ES module when imported, CommonJS when required (as Node loads
    /// an unknown extension with `require`).
    pub fn kind_of(&self, name: &str, bytes: &[u8], mode: ResolveMode) -> ModuleKind {
        let file = name.rsplit('/').next().unwrap_or(name);
        let ext = file.rsplit_once('.').map_or("", |(_, e)| e);
        match ext {
            "mjs" | "mts" => ModuleKind::Esm,
            "cjs" | "cts" => ModuleKind::CommonJs,
            "json" => ModuleKind::Json,
            "js" | "ts" if in_node_modules(name) => match self.nearest_type(name).as_deref() {
                Some("module") => ModuleKind::Esm,
                Some("commonjs") => ModuleKind::CommonJs,
                _ => match std::str::from_utf8(bytes) {
                    Ok(source) if crate::cjs::has_module_syntax(source) => ModuleKind::Esm,
                    _ => ModuleKind::CommonJs,
                },
            },
            "js" | "ts" => match self.package_json("").ok().flatten() {
                Some(pkg) if pkg.get("type").and_then(Json::as_str) == Some("commonjs") => {
                    ModuleKind::CommonJs
                }
                _ => ModuleKind::Esm,
            },
            _ => match mode {
                ResolveMode::Import => ModuleKind::Esm,
                ResolveMode::Require => ModuleKind::CommonJs,
            },
        }
    }

    /// The names an ES module importing the CommonJS module `name` (with `source`) gets
    /// besides `default`: those found statically (`cjs-module-lexer` rules), and those of
    /// the CommonJS modules it re-exports, resolved as `require` would (a re-export that does
    /// not resolve adds nothing).
    pub fn cjs_export_names(&self, name: &str, source: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut seen = HashSet::new();
        self.collect_cjs_names(name, source, &mut names, &mut seen, 0);
        names
    }

    fn collect_cjs_names(
        &self,
        name: &str,
        source: &str,
        names: &mut Vec<String>,
        seen: &mut HashSet<String>,
        depth: usize,
    ) {
        if depth > MAX_REEXPORT_DEPTH || !seen.insert(name.to_owned()) {
            return;
        }
        let found = crate::cjs::cjs_exports(source);
        for n in found.names {
            if n != "default" && !names.contains(&n) {
                names.push(n);
            }
        }
        for spec in found.reexports {
            let Ok(inner) = self.resolve_module(&spec, Some(name), ResolveMode::Require) else {
                continue;
            };
            if inner.kind != ModuleKind::CommonJs {
                continue;
            }
            if let Ok(text) = std::str::from_utf8(&inner.bytes) {
                self.collect_cjs_names(&inner.name, text, names, seen, depth + 1);
            }
        }
    }

    /// The file at `key` (its canonical name and bytes), `None` if there is none; a symlink on
    /// the way out of the plugin is an error whether or not the file exists.
    fn file(&self, key: &str) -> Result<Option<Found>, ResolveError> {
        match self.lookup_key(key.to_owned()) {
            Ok(found) => Ok(Some(found)),
            Err(ResolveError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Node's LOAD_AS_FILE then LOAD_AS_DIRECTORY, for `require`: `key`, `key.js`,
    /// `key.json`, `key.cjs`, then the directory's `package.json` `main` and `index` files.
    fn load_as_file_or_dir(&self, key: &str) -> Result<Option<String>, ResolveError> {
        if let Some(found) = self.load_as_file(key)? {
            return Ok(Some(found));
        }
        self.load_as_dir(key)
    }

    fn load_as_file(&self, key: &str) -> Result<Option<String>, ResolveError> {
        for candidate in [
            key.to_owned(),
            format!("{key}.js"),
            format!("{key}.json"),
            format!("{key}.cjs"),
        ] {
            if let Some((name, _)) = self.file(&candidate)? {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    fn load_index(&self, key: &str) -> Result<Option<String>, ResolveError> {
        for candidate in [format!("{key}/index.js"), format!("{key}/index.json")] {
            if let Some((name, _)) = self.file(&candidate)? {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// LOAD_AS_DIRECTORY: `package.json` `main` (as a file, then as a directory's index),
    /// then `index.js`, `index.json`.
    fn load_as_dir(&self, key: &str) -> Result<Option<String>, ResolveError> {
        if let Some(pkg) = self.package_json(key)?
            && let Some(main) = pkg.get("main").and_then(Json::as_str)
            && !main.is_empty()
        {
            let m = normalize(main, key)?;
            if let Some(found) = self.load_as_file(&m)? {
                return Ok(Some(found));
            }
            if let Some(found) = self.load_index(&m)? {
                return Ok(Some(found));
            }
        }
        self.load_index(key)
    }

    /// A bare specifier (`pkg`, `pkg/sub`, `@scope/pkg/sub`) from the module in directory
    /// `base`: the package is looked for in `node_modules` of `base` and of each directory
    /// above it, up to the plugin directory.
    fn package_resolve(
        &self,
        specifier: &str,
        base: &str,
        mode: ResolveMode,
    ) -> Result<String, ResolveError> {
        let (package, subpath) = parse_package_name(specifier)?;
        // PACKAGE_SELF_RESOLVE: a package naming itself, through its own `exports`.
        if let Some((scope, pkg)) = self.package_scope(base)?
            && pkg.get("name").and_then(Json::as_str) == Some(package.as_str())
            && let Some(exports) = pkg.get("exports").filter(|e| !matches!(e, Json::Null))
        {
            return self
                .exports_resolve(&scope, &subpath, exports, mode)?
                .ok_or_else(|| ResolveError::NotExported {
                    package: package.clone(),
                    subpath: subpath.clone(),
                });
        }
        let mut dir = base.to_owned();
        loop {
            if !dir.ends_with("node_modules") {
                let pkg_dir = join(&dir, &format!("node_modules/{package}"));
                if self.is_dir(&pkg_dir)? {
                    return self.package_entry(&pkg_dir, &package, &subpath, mode);
                }
            }
            if dir.is_empty() {
                return Err(ResolveError::NotInstalled(package));
            }
            dir = dirname(&dir).to_owned();
        }
    }

    /// `subpath` (`.` or `./…`) of the package installed at `pkg_dir`.
    fn package_entry(
        &self,
        pkg_dir: &str,
        package: &str,
        subpath: &str,
        mode: ResolveMode,
    ) -> Result<String, ResolveError> {
        let pkg = self.package_json(pkg_dir)?;
        let exports = pkg.as_ref().and_then(|p| p.get("exports"));
        if let Some(exports) = exports.filter(|e| !matches!(e, Json::Null)) {
            return self
                .exports_resolve(pkg_dir, subpath, exports, mode)?
                .ok_or_else(|| ResolveError::NotExported {
                    package: package.to_owned(),
                    subpath: subpath.to_owned(),
                });
        }
        if subpath == "." {
            if mode == ResolveMode::Import
                && let Some(module) = pkg
                    .as_ref()
                    .and_then(|p| p.get("module"))
                    .and_then(Json::as_str)
            {
                let m = normalize(module, pkg_dir)?;
                if let Some(found) = self.load_as_file(&m)? {
                    return Ok(found);
                }
            }
            return self
                .load_as_dir(pkg_dir)?
                .ok_or_else(|| ResolveError::NotFound(pkg_dir.to_owned()));
        }
        let key = normalize(subpath, pkg_dir)?;
        match mode {
            ResolveMode::Import => Ok(key),
            ResolveMode::Require => self
                .load_as_file_or_dir(&key)?
                .ok_or(ResolveError::NotFound(key)),
        }
    }

    /// PACKAGE_EXPORTS_RESOLVE; `None` when nothing is exported for `subpath`.
    fn exports_resolve(
        &self,
        pkg_dir: &str,
        subpath: &str,
        exports: &Json,
        mode: ResolveMode,
    ) -> Result<Option<String>, ResolveError> {
        match exports {
            Json::Obj(entries) if entries.first().is_some_and(|(k, _)| k.starts_with('.')) => {
                self.imports_exports_resolve(subpath, entries, pkg_dir, false, mode)
            }
            _ if subpath == "." => self.target_resolve(pkg_dir, exports, None, false, mode),
            _ => Ok(None),
        }
    }

    /// PACKAGE_IMPORTS_RESOLVE: `#name` from the nearest `package.json`'s `imports`.
    fn package_imports(
        &self,
        specifier: &str,
        base: &str,
        mode: ResolveMode,
    ) -> Result<String, ResolveError> {
        let not_defined = || ResolveError::NotExported {
            package: String::new(),
            subpath: specifier.to_owned(),
        };
        if specifier == "#" || specifier.starts_with("#/") {
            return Err(not_defined());
        }
        let mut dir = base.to_owned();
        loop {
            if let Some(pkg) = self.package_json(&dir)? {
                let Some(Json::Obj(imports)) = pkg.get("imports") else {
                    return Err(not_defined());
                };
                return self
                    .imports_exports_resolve(specifier, imports, &dir, true, mode)?
                    .ok_or_else(not_defined);
            }
            if dir.is_empty() {
                return Err(not_defined());
            }
            dir = dirname(&dir).to_owned();
        }
    }

    /// PACKAGE_IMPORTS_EXPORTS_RESOLVE: an exact key, else the best subpath pattern (`*`).
    fn imports_exports_resolve(
        &self,
        key: &str,
        map: &[(String, Json)],
        pkg_dir: &str,
        is_imports: bool,
        mode: ResolveMode,
    ) -> Result<Option<String>, ResolveError> {
        if !key.contains('*')
            && let Some(target) = get(map, key)
        {
            return self.target_resolve(pkg_dir, target, None, is_imports, mode);
        }
        let mut best: Option<(&str, &Json, &str)> = None;
        for (pattern, target) in map {
            let Some((prefix, suffix)) = pattern.split_once('*') else {
                continue;
            };
            if suffix.contains('*') {
                continue;
            }
            if key.starts_with(prefix)
                && key != prefix
                && key.len() >= pattern.len()
                && key.ends_with(suffix)
                && best.is_none_or(|(b, _, _)| pattern_key_compare(b, pattern))
            {
                best = Some((
                    pattern,
                    target,
                    &key[prefix.len()..key.len() - suffix.len()],
                ));
            }
        }
        match best {
            Some((_, target, matched)) => {
                self.target_resolve(pkg_dir, target, Some(matched), is_imports, mode)
            }
            None => Ok(None),
        }
    }

    /// PACKAGE_TARGET_RESOLVE: a target string (`./…`, with `*` replaced by `matched`), an
    /// array of fallbacks, or a conditions object; `None` for `null` or no matching condition.
    /// A target that is not `./…`, or holds `..`, `.`, empty or `node_modules` segments
    /// (also percent-encoded) is [`ResolveError::InvalidTarget`]: `exports` cannot point out
    /// of its package, let alone out of the plugin.
    fn target_resolve(
        &self,
        pkg_dir: &str,
        target: &Json,
        matched: Option<&str>,
        is_imports: bool,
        mode: ResolveMode,
    ) -> Result<Option<String>, ResolveError> {
        match target {
            Json::Str(t) => {
                let resolved = match matched {
                    Some(m) => t.replace('*', m),
                    None => t.clone(),
                };
                if !t.starts_with("./") {
                    if is_imports
                        && !t.starts_with("../")
                        && !t.starts_with('/')
                        && !t.contains(':')
                    {
                        if is_blocked_builtin(&resolved) {
                            return Err(ResolveError::Builtin);
                        }
                        return self.package_resolve(&resolved, pkg_dir, mode).map(Some);
                    }
                    return Err(ResolveError::InvalidTarget(t.clone()));
                }
                if invalid_segments(&t[2..]) || matched.is_some_and(invalid_segments) {
                    return Err(ResolveError::InvalidTarget(resolved));
                }
                normalize(&resolved, pkg_dir).map(Some)
            }
            Json::Arr(items) => {
                let mut last = None;
                for item in items {
                    match self.target_resolve(pkg_dir, item, matched, is_imports, mode) {
                        Ok(Some(found)) => return Ok(Some(found)),
                        Ok(None) => {}
                        Err(e @ ResolveError::InvalidTarget(_)) => last = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                last.map_or(Ok(None), Err)
            }
            Json::Obj(entries) => {
                for tier in conditions(mode) {
                    for (condition, inner) in entries {
                        if tier.contains(&condition.as_str())
                            && let Some(found) =
                                self.target_resolve(pkg_dir, inner, matched, is_imports, mode)?
                        {
                            return Ok(Some(found));
                        }
                    }
                }
                Ok(None)
            }
            Json::Null => Ok(None),
            _ => Err(ResolveError::InvalidTarget(format!("{target:?}"))),
        }
    }

    /// The nearest directory at or above `dir` holding a `package.json`, with it parsed.
    fn package_scope(&self, dir: &str) -> Result<Option<(String, Arc<Json>)>, ResolveError> {
        let mut dir = dir.to_owned();
        loop {
            if let Some(pkg) = self.package_json(&dir)? {
                return Ok(Some((dir, pkg)));
            }
            if dir.is_empty() {
                return Ok(None);
            }
            dir = dirname(&dir).to_owned();
        }
    }

    /// The nearest `package.json`'s `type` above `name` (a file).
    fn nearest_type(&self, name: &str) -> Option<String> {
        let mut dir = dirname(name).to_owned();
        loop {
            if let Ok(Some(pkg)) = self.package_json(&dir) {
                return pkg.get("type").and_then(Json::as_str).map(str::to_owned);
            }
            if dir.is_empty() {
                return None;
            }
            dir = dirname(&dir).to_owned();
        }
    }

    /// The parsed `package.json` of directory `dir` (`""`: the plugin's own), if there is one;
    /// parsed once per bundle.
    fn package_json(&self, dir: &str) -> Result<Option<Arc<Json>>, ResolveError> {
        let key = join(dir, "package.json");
        let Some((name, bytes)) = self.file(&key)? else {
            return Ok(None);
        };
        if let Some(cached) = self.cached_package(&name) {
            return Ok(Some(cached));
        }
        let parsed: Json = serde_json::from_slice(&bytes)
            .map_err(|e| ResolveError::BadPackageJson(format!("{name}: {e}")))?;
        let parsed = Arc::new(parsed);
        self.cache_package(name, Arc::clone(&parsed));
        Ok(Some(parsed))
    }
}

/// `./…`, `../…`, `.` or `..`.
fn is_relative(specifier: &str) -> bool {
    specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier == "."
        || specifier == ".."
}

/// A package name, possibly with a subpath: not absolute, no scheme, no backslash or NUL.
fn is_bare(specifier: &str) -> bool {
    !specifier.is_empty()
        && !specifier.starts_with('/')
        && !specifier.starts_with('.')
        && !specifier.contains(':')
        && !specifier.contains('\\')
        && !specifier.contains('\0')
}

/// `pkg/sub` → (`pkg`, `./sub`); `@s/pkg` → (`@s/pkg`, `.`). A subpath with `.`, `..` or empty
/// segments is refused as climbing ([`ResolveError::OutsidePlugin`]): a package subpath names
/// a file of that package.
fn parse_package_name(specifier: &str) -> Result<(String, String), ResolveError> {
    let mut parts = specifier.splitn(3, '/');
    let first = parts.next().unwrap_or_default();
    let (package, rest) = if first.starts_with('@') {
        let second = parts.next().ok_or(ResolveError::NotRelative)?;
        if first.len() < 2 || second.is_empty() {
            return Err(ResolveError::NotRelative);
        }
        (format!("{first}/{second}"), parts.next())
    } else {
        let rest = specifier.split_once('/').map(|(_, r)| r);
        (first.to_owned(), rest)
    };
    if package.contains('%') || package.starts_with('.') || package.is_empty() {
        return Err(ResolveError::NotRelative);
    }
    let subpath = match rest {
        None => ".".to_owned(),
        Some(rest) => {
            if rest
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            {
                return Err(ResolveError::OutsidePlugin);
            }
            format!("./{rest}")
        }
    };
    Ok((package, subpath))
}

/// Node's invalid segments of a package target: empty, `.`, `..` or `node_modules` (any case,
/// also percent-encoded), or a backslash.
fn invalid_segments(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains('\\')
        || lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s == "node_modules")
}

/// PATTERN_KEY_COMPARE: whether `b` is a better (more specific) pattern than `a`.
fn pattern_key_compare(a: &str, b: &str) -> bool {
    let base = |k: &str| k.find('*').map_or(k.len(), |i| i + 1);
    match base(b).cmp(&base(a)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => b.len() > a.len(),
    }
}

/// Whether `name` lies inside a `node_modules` directory.
fn in_node_modules(name: &str) -> bool {
    name.split('/').any(|s| s == "node_modules")
}

/// The directory of bundle path `path` (`""` at the top).
pub(crate) fn dirname(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        rest.to_owned()
    } else {
        format!("{dir}/{rest}")
    }
}

/// Joins `spec` onto the bundle directory `base` and removes `.`/`..`; refuses climbing out.
pub(crate) fn normalize(spec: &str, base: &str) -> Result<String, ResolveError> {
    if spec.starts_with('/') || spec.contains('\0') || spec.contains('\\') || spec.contains(':') {
        return Err(ResolveError::NotRelative);
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in spec.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or(ResolveError::OutsidePlugin)?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(ResolveError::NotFound(String::new()));
    }
    Ok(parts.join("/"))
}

fn get<'j>(map: &'j [(String, Json)], key: &str) -> Option<&'j Json> {
    map.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A JSON value that keeps its objects' key order: `exports` conditions are matched in the
/// order the package wrote them (Node's rule), which a sorted map would lose.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => get(entries, key),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    entries.push((k, v));
                }
                Ok(Json::Obj(entries))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin directory from `(path, content)` pairs; the bundle of it.
    fn plugin(files: &[(&str, &str)]) -> (tempfile::TempDir, PluginBundle) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let dir = root.join("p");
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let b = PluginBundle::load(&dir).unwrap();
        (tmp, b)
    }

    fn import(b: &PluginBundle, spec: &str) -> Result<(String, ModuleKind), ResolveError> {
        b.resolve_module(spec, Some("index.js"), ResolveMode::Import)
            .map(|r| (r.name, r.kind))
    }

    fn require(b: &PluginBundle, spec: &str, from: &str) -> Result<String, ResolveError> {
        b.resolve_module(spec, Some(from), ResolveMode::Require)
            .map(|r| r.name)
    }

    #[test]
    fn exports_conditions_patterns_and_null_targets() {
        // See: Node's test/es-module/test-esm-exports.mjs (conditions, patterns, null).
        let (_tmp, b) = plugin(&[
            ("index.js", ""),
            (
                "node_modules/pkg/package.json",
                r#"{ "exports": {
                    ".": { "node": "./node.js", "import": "./esm.mjs", "require": "./cjs.cjs" },
                    "./feat/*": { "browser": "./b/*.js" },
                    "./feat/internal/*": null,
                    "./nested": { "aether": { "import": "./a.mjs", "default": "./d.js" } },
                    "./esc": "./../../secret.js",
                    "./nm": "./node_modules/x.js",
                    "./abs": "/etc/passwd",
                    "./arr": ["./missing-ok.js"]
                } }"#,
            ),
            ("node_modules/pkg/esm.mjs", ""),
            ("node_modules/pkg/cjs.cjs", ""),
            ("node_modules/pkg/node.js", ""),
            ("node_modules/pkg/b/x.js", ""),
            ("node_modules/pkg/a.mjs", ""),
            ("node_modules/pkg/missing-ok.js", ""),
            (
                "node_modules/@s/q/package.json",
                r#"{ "exports": "./q.js" }"#,
            ),
            ("node_modules/@s/q/q.js", "export default 1"),
        ]);
        assert_eq!(
            import(&b, "pkg").unwrap(),
            ("node_modules/pkg/esm.mjs".into(), ModuleKind::Esm)
        );
        assert_eq!(
            require(&b, "pkg", "index.js").unwrap(),
            "node_modules/pkg/cjs.cjs"
        );
        assert_eq!(
            import(&b, "pkg/feat/x").unwrap().0,
            "node_modules/pkg/b/x.js"
        );
        assert!(matches!(
            import(&b, "pkg/feat/internal/x"),
            Err(ResolveError::NotExported { .. })
        ));
        assert_eq!(
            import(&b, "pkg/nested").unwrap().0,
            "node_modules/pkg/a.mjs"
        );
        assert!(matches!(
            import(&b, "pkg/nope"),
            Err(ResolveError::NotExported { .. })
        ));
        for spec in ["pkg/esc", "pkg/nm", "pkg/abs"] {
            assert!(
                matches!(import(&b, spec), Err(ResolveError::InvalidTarget(_))),
                "{spec}"
            );
        }
        assert_eq!(
            import(&b, "pkg/arr").unwrap().0,
            "node_modules/pkg/missing-ok.js"
        );
        // A `.js` of a package with no `type` and no module syntax is CommonJS; with, ESM.
        assert_eq!(
            import(&b, "@s/q").unwrap(),
            ("node_modules/@s/q/q.js".into(), ModuleKind::Esm)
        );
        assert_eq!(
            import(&b, "missing"),
            Err(ResolveError::NotInstalled("missing".into()))
        );
        assert_eq!(
            import(&b, "pkg/../../secret.js"),
            Err(ResolveError::OutsidePlugin)
        );
    }

    #[test]
    fn require_follows_node_commonjs_rules() {
        let (_tmp, b) = plugin(&[
            ("index.js", ""),
            ("lib/a.js", ""),
            ("lib/data.json", "{}"),
            ("lib/dir/index.js", ""),
            ("node_modules/m/package.json", r#"{ "main": "./lib/main" }"#),
            ("node_modules/m/lib/main.js", "module.exports = 1"),
            ("node_modules/m/lib/util.js", "exports.x = 1"),
            ("node_modules/m/node_modules/inner/index.js", ""),
            ("node_modules/n/index.js", ""),
            (
                "node_modules/t/package.json",
                r#"{ "type": "module", "main": "i.js" }"#,
            ),
            ("node_modules/t/i.js", "export default 1"),
        ]);
        assert_eq!(require(&b, "./lib/a", "index.js").unwrap(), "lib/a.js");
        assert_eq!(
            require(&b, "./lib/data", "index.js").unwrap(),
            "lib/data.json"
        );
        assert_eq!(
            require(&b, "./lib/dir", "index.js").unwrap(),
            "lib/dir/index.js"
        );
        assert_eq!(
            require(&b, "m", "index.js").unwrap(),
            "node_modules/m/lib/main.js"
        );
        assert_eq!(
            require(&b, "m/lib/util", "index.js").unwrap(),
            "node_modules/m/lib/util.js"
        );
        assert_eq!(
            require(&b, "n", "index.js").unwrap(),
            "node_modules/n/index.js"
        );
        // Nested node_modules are searched first, from the requiring module up.
        assert_eq!(
            require(&b, "inner", "node_modules/m/lib/main.js").unwrap(),
            "node_modules/m/node_modules/inner/index.js"
        );
        assert!(matches!(
            require(&b, "inner", "index.js"),
            Err(ResolveError::NotInstalled(_))
        ));
        assert_eq!(
            require(&b, "fs", "node_modules/m/lib/main.js"),
            Err(ResolveError::Builtin)
        );
        assert_eq!(
            b.resolve_module("m", Some("index.js"), ResolveMode::Import)
                .unwrap()
                .kind,
            ModuleKind::CommonJs
        );
        assert_eq!(
            b.resolve_module("t", Some("index.js"), ResolveMode::Import)
                .unwrap()
                .kind,
            ModuleKind::Esm
        );
        // ESM imports name the exact file: no extension guessing for relative specifiers.
        assert!(matches!(
            import(&b, "./lib/a"),
            Err(ResolveError::NotFound(_))
        ));
    }

    #[test]
    fn a_package_named_like_a_capability_builtin_is_never_loaded() {
        // SPEC §5: "violations even where a package of that name is installed".
        let (_tmp, b) = plugin(&[
            ("index.js", ""),
            ("node_modules/fs/index.js", ""),
            ("node_modules/events/index.js", "module.exports = 1"),
        ]);
        assert_eq!(import(&b, "fs"), Err(ResolveError::Builtin));
        assert_eq!(import(&b, "node:events"), Err(ResolveError::Builtin));
        assert_eq!(
            import(&b, "events").unwrap().0,
            "node_modules/events/index.js"
        );
    }

    #[test]
    fn imports_field_and_cjs_reexports() {
        let (_tmp, b) = plugin(&[
            ("index.js", ""),
            (
                "package.json",
                r##"{ "imports": { "#util": "./lib/util.js", "#dep/*": "dep/*.js" } }"##,
            ),
            ("lib/util.js", ""),
            ("node_modules/dep/x.js", ""),
            (
                "node_modules/r/index.js",
                "module.exports = require('./inner');",
            ),
            ("node_modules/r/inner.js", "exports.a = 1; exports.b = 2;"),
            (
                "node_modules/self/package.json",
                r#"{ "name": "self", "exports": { "./sub": "./b.js" } }"#,
            ),
            ("node_modules/self/a.js", ""),
            ("node_modules/self/b.js", ""),
        ]);
        assert_eq!(import(&b, "#util").unwrap().0, "lib/util.js");
        // A package importing itself by name goes through its own `exports`.
        assert_eq!(
            b.resolve_module(
                "self/sub",
                Some("node_modules/self/a.js"),
                ResolveMode::Import
            )
            .unwrap()
            .name,
            "node_modules/self/b.js"
        );
        assert_eq!(import(&b, "#dep/x").unwrap().0, "node_modules/dep/x.js");
        assert!(matches!(
            import(&b, "#none"),
            Err(ResolveError::NotExported { .. })
        ));
        let r = b
            .resolve_module("r", Some("index.js"), ResolveMode::Import)
            .unwrap();
        let text = std::str::from_utf8(&r.bytes).unwrap();
        assert_eq!(b.cjs_export_names(&r.name, text), ["a", "b"]);
    }

    #[test]
    fn a_symlinked_package_leading_out_is_outside_found_or_not() {
        let (tmp, b) = plugin(&[("index.js", "")]);
        let root = b.dir().parent().unwrap().to_path_buf();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::fs::write(root.join("elsewhere/index.js"), "module.exports = 1").unwrap();
        std::fs::create_dir_all(b.dir().join("node_modules")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), b.dir().join("node_modules/out"))
            .unwrap();
        let b = PluginBundle::load(b.dir()).unwrap();
        assert!(matches!(
            import(&b, "out"),
            Err(ResolveError::SymlinkOutside(_))
        ));
        assert!(matches!(
            require(&b, "out", "index.js"),
            Err(ResolveError::SymlinkOutside(_))
        ));
        drop(tmp);
    }
}
