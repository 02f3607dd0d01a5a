//! `module` (SPEC §5): `import`, CommonJS `require` and `fetch` of `aether-plugin:` URLs load
//! only the plugin's own verified files, from its [`PluginBundle`]; TypeScript modules are
//! compiled once per step.
//!
//! What it must never do: load a byte the bundle did not verify, or a module from outside the
//! plugin directory (a `node:` or capability built-in, an absolute path or URL, a symlink
//! leaving the plugin).

use std::sync::PoisonError;

use aether_policy::{Capability, Decision, ModuleKind};
use aether_typescript::PositionMap;

use super::{StepHost, type_error};
use crate::bundle::{PluginBundle, ResolveError};
use crate::protocol::{HostError, HostValue};
use crate::resolve::ResolveMode;

impl StepHost {
    /// CommonJS `require` from a plugin's ES module: never available (the loader's own
    /// `require` of a CommonJS module is [`StepHost::module`]).
    pub(super) fn require(&self, specifier: String) -> Result<HostValue, HostError> {
        Err(self.module_denied(
            &specifier,
            format!(
                "module denied for `{}`: `require` is not available to plugins\n\nhint: use `import` with a relative specifier inside the plugin directory",
                aether_policy::escape_untrusted(&specifier)
            ),
        ))
    }

    /// A `module` violation: recorded `denied`, and the call's `PermissionDenied`. A module's
    /// check is the bundle's resolution (its errors are not a grant's [`aether_policy::Denial`]),
    /// so this is its end of [`StepHost::decide`]'s path.
    fn module_denied(&self, target: &str, message: String) -> HostError {
        self.refuse(Capability::Module, target.to_owned(), message)
    }

    /// `fetch` of `aether-plugin:/<path>` (SPEC §5): the plugin file's verified bytes as a
    /// `200` response, typed by its extension; a path out of the plugin is the same `module`
    /// violation as an import of it.
    pub(super) fn plugin_file(&self, url: &str) -> Result<HostValue, HostError> {
        let Some(path) = plugin_url_path(url) else {
            return Err(type_error(format!(
                "fetch: `{}` is not an `aether-plugin:/<path>` URL",
                aether_policy::escape_untrusted(url)
            )));
        };
        let denial = |why: String| {
            self.module_denied(
                url,
                format!(
                    "module denied for `{}`: {why}; only files inside the plugin directory may be fetched through `aether-plugin:` URLs",
                    aether_policy::escape_untrusted(url)
                ),
            )
        };
        let relative = format!("./{path}");
        let resolved = match self
            .bundle
            .resolve_module(&relative, Some(""), ResolveMode::Import)
        {
            Ok(resolved) => resolved,
            Err(e) => {
                return Err(match module_denial(&e) {
                    Some(why) => denial(why),
                    None => type_error(format!(
                        "fetch: the plugin has no file `{}`",
                        aether_policy::escape_untrusted(&path)
                    )),
                });
            }
        };
        let content_type = match resolved.name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("wasm") => "application/wasm",
            Some("json") => "application/json",
            Some("js" | "mjs" | "cjs") => "text/javascript",
            Some("ts" | "mts" | "cts") => "application/typescript",
            Some("txt") => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        self.event(Capability::Module, url, Decision::Allowed, String::new());
        Ok(HostValue::Response {
            status: 200,
            status_text: "OK".to_owned(),
            url: format!("aether-plugin:/{}", resolved.name),
            redirected: false,
            headers: vec![
                ("content-type".to_owned(), content_type.to_owned()),
                (
                    "content-length".to_owned(),
                    resolved.bytes.len().to_string(),
                ),
            ],
            body: resolved.bytes.to_vec(),
        })
    }

    /// Loads a module for `import` (static or dynamic) or CommonJS `require`, in the order
    /// SPEC §5 sets ("the grant is checked first"), the one place that decides it for every
    /// module:
    ///
    /// 1. the specifier resolves against the importing module ([`PluginBundle::resolve_module`]:
    ///    relative, `#imports`, or a package from the plugin's `node_modules`), and the bundle
    ///    judges the real path it names: a `node:` or capability built-in name, an absolute
    ///    path or URL, climbing out of the plugin, a symlink whose real path leaves it, a
    ///    package that is not installed or a package target climbing out of its package is a
    ///    `module` violation, whether or not a file exists there;
    /// 2. only a specifier that stays inside the plugin may fail otherwise: no such file, a
    ///    subpath the package does not export, a bad `package.json`, bytes that are not UTF-8
    ///    text, or a JSON module imported without `with { type: 'json' }` (or a module that is
    ///    not JSON imported with it) is a `TypeError`.
    pub(super) fn module(
        &self,
        specifier: &str,
        referrer: Option<&str>,
        mode: ResolveMode,
        with_type: Option<&str>,
    ) -> Result<HostValue, HostError> {
        let denial = |why: String| {
            self.module_denied(
                specifier,
                format!(
                    "module denied for `{}`: {why}; only files inside the plugin directory (relative imports, or packages installed in its `node_modules`) may be loaded",
                    aether_policy::escape_untrusted(specifier)
                ),
            )
        };
        let resolved = match self.bundle.resolve_module(specifier, referrer, mode) {
            Ok(resolved) => resolved,
            Err(e) => {
                return Err(match module_denial(&e) {
                    Some(why) => denial(why),
                    None => {
                        let mut message = module_failure(specifier, &e, mode);
                        if let ResolveError::NotFound(name) = &e {
                            message.push_str(&typescript_hint(&self.bundle, specifier, name));
                        }
                        type_error(message)
                    }
                });
            }
        };
        let name = resolved.name;
        let source = String::from_utf8(resolved.bytes.to_vec())
            .map_err(|_| type_error(format!("module `{name}` is not UTF-8 text")))?;
        let source = self.compile_if_typescript(&name, source, resolved.kind)?;
        if mode == ResolveMode::Import {
            match (resolved.kind, with_type) {
                (ModuleKind::Json, Some("json")) => {}
                (ModuleKind::Json, _) => {
                    return Err(type_error(format!(
                        "module `{name}` is JSON: import it with `with {{ type: 'json' }}`"
                    )));
                }
                (_, None) => {}
                (_, Some("json")) => {
                    return Err(type_error(format!(
                        "module `{name}` is not JSON but was imported with `type: 'json'`"
                    )));
                }
                (_, Some(other)) => {
                    return Err(type_error(format!(
                        "the import attribute `type: '{other}'` is not supported: only `json` is"
                    )));
                }
            }
        }
        let exports = match (mode, resolved.kind) {
            (ResolveMode::Import, ModuleKind::CommonJs) => {
                self.bundle.cjs_export_names(&name, &source)
            }
            _ => Vec::new(),
        };
        self.event(
            Capability::Module,
            specifier,
            Decision::Allowed,
            String::new(),
        );
        Ok(HostValue::Module {
            name,
            source,
            kind: resolved.kind,
            exports,
        })
    }

    /// The JavaScript to run for module `name`: `source` itself, or for a TypeScript module
    /// (`.ts`, `.mts`, `.cts`; SPEC §5) its compilation (to `kind`: an ES module, or CommonJS
    /// for `.cts` and a `.ts` of a `"type": "commonjs"` package), whose position map is kept for
    /// [`StepHost::map_positions`]. The bytes verified stay the TypeScript source: this runs
    /// after verification, on the bundle's bytes. A module that does not compile is an `Error`
    /// naming `name:line:col` (one reachable from `main` never gets here: `run` refuses it
    /// before anything starts, as it does a JavaScript syntax error).
    fn compile_if_typescript(
        &self,
        name: &str,
        source: String,
        kind: ModuleKind,
    ) -> Result<String, HostError> {
        if !aether_typescript::is_typescript(name) {
            return Ok(source);
        }
        let known = self
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(|r| {
                r.as_ref()
                    .map(|(code, _)| code.clone())
                    .map_err(Clone::clone)
            });
        let result = match known {
            Some(result) => result,
            None => {
                let compiled = aether_typescript::compile_typescript(name, &source, kind.into())
                    .map(|c| (c.code, c.map))
                    .map_err(|e| format!("{name}:{e}"));
                let code = compiled
                    .as_ref()
                    .map(|(code, _)| code.clone())
                    .map_err(Clone::clone);
                self.compiled
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(name.to_owned(), compiled);
                code
            }
        };
        result.map_err(|message| HostError::Failed {
            type_error: false,
            message,
        })
    }

    /// `text` (a step's error, a stack) with every `name:line:col` of a TypeScript module this
    /// step compiled rewritten to the position in the `.ts` source (SPEC §5: errors point at
    /// the `.ts` line). Other text is unchanged.
    pub fn map_positions(&self, text: &str) -> String {
        let compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if compiled.is_empty() {
            return text.to_owned();
        }
        let maps: Vec<(&str, &PositionMap)> = compiled
            .iter()
            .filter_map(|(n, r)| r.as_ref().ok().map(|(_, m)| (n.as_str(), m)))
            .collect();
        aether_typescript::map_positions(text, &maps)
    }
}

/// The plugin path of an `aether-plugin:/<path>` URL: scheme case-insensitive, query and
/// fragment dropped, percent-escapes decoded; `None` if it is not such a URL.
fn plugin_url_path(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("aether-plugin") {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = rest.strip_prefix('/')?;
    percent_decode(rest)
}

/// `%XX` escapes decoded (as UTF-8); `None` for a malformed escape, invalid UTF-8 or a `%2F`
/// (an encoded separator would hide a `..` from the path check).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            let b = u8::from_str_radix(hex, 16).ok()?;
            if b == b'/' || b == b'\\' || b == 0 {
                return None;
            }
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a resolution error is a `module` violation (it leaves, or would leave, the plugin), or
/// `None` for a failure inside the plugin.
pub fn module_denial(e: &ResolveError) -> Option<String> {
    Some(match e {
        ResolveError::Builtin => {
            "it names a Node built-in that carries capabilities (`node:` specifiers, `fs`, `net`, `child_process`, …), which plugins never load".into()
        }
        ResolveError::NotRelative => {
            "it is neither a relative specifier nor a package name (absolute paths and URLs are blocked)".into()
        }
        ResolveError::OutsidePlugin => "it leaves the plugin directory".into(),
        ResolveError::SymlinkOutside(real) => format!(
            "it leads through a symlink to `{}`, outside the plugin directory",
            real.display()
        ),
        ResolveError::NotInstalled(package) => format!(
            "package `{package}` is not installed in the plugin's `node_modules`"
        ),
        ResolveError::InvalidTarget(target) => format!(
            "its package's `exports`/`imports` target `{target}` does not stay inside the package"
        ),
        ResolveError::Signature => {
            "it is the plugin's signature file, which the lock does not pin: only pinned files run".into()
        }
        ResolveError::NotFound(_)
        | ResolveError::NotExported { .. }
        | ResolveError::BadPackageJson(_) => return None,
    })
}

/// The message of a resolution failure inside the plugin (see [`module_denial`]). Pure: text
/// only, no I/O.
pub fn module_failure(specifier: &str, e: &ResolveError, mode: ResolveMode) -> String {
    match e {
        ResolveError::NotFound(name) if mode == ResolveMode::Import => format!(
            "cannot find module `{specifier}` (resolved to `{name}` in the plugin): imports need the exact file name, with its extension"
        ),
        ResolveError::NotFound(name) => format!(
            "cannot find module `{specifier}` (looked for `{name}` with the extensions `.js`, `.json`, `.cjs` and as a directory in the plugin)"
        ),
        ResolveError::NotExported { package, subpath } if package.is_empty() => format!(
            "cannot find module `{specifier}`: `{subpath}` is not defined by the nearest `package.json` `imports`"
        ),
        ResolveError::NotExported { package, subpath } => format!(
            "cannot find module `{specifier}`: package `{package}` does not export `{subpath}` (see its `package.json` `exports`)"
        ),
        ResolveError::BadPackageJson(why) => {
            format!("cannot resolve `{specifier}`: invalid `package.json`: {why}")
        }
        other => format!("cannot resolve `{specifier}`: {other:?}"),
    }
}

/// For `specifier` naming a missing `x.js` (or `.mjs`) next to which `x.ts` (or `.mts`)
/// exists: a short clause saying to import the `.ts` file by its name, else nothing. `tsc`
/// users with `moduleResolution: nodenext` write `./x.js` for `x.ts`; aether, like Node and
/// Deno, loads the file named (SPEC §5: no extension guessing). Short: QuickJS cuts a thrown
/// error's message at 255 bytes. Pure: it looks in the bundle already in memory, no I/O.
pub fn typescript_hint(bundle: &PluginBundle, specifier: &str, missing: &str) -> String {
    let swap = |s: &str| {
        if let Some(stem) = s.strip_suffix(".js") {
            Some(format!("{stem}.ts"))
        } else {
            s.strip_suffix(".mjs").map(|stem| format!("{stem}.mts"))
        }
    };
    match (swap(specifier), swap(missing)) {
        (Some(spec), Some(candidate)) if bundle.files().any(|(p, _)| p == candidate) => {
            format!("; import `{spec}`, the TypeScript file")
        }
        _ => String::new(),
    }
}
