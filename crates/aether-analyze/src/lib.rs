//! Static analysis of a plugin's JavaScript for `aether check` (SPEC §7): which modules it
//! imports, which host capabilities it uses and with what literal arguments, measured against
//! its grant, and what defeats such an analysis (`eval`, computed access to `aether`).
//!
//! Pure: sources and module resolution are passed in ([`Input`]); nothing here reads a file or
//! the environment, and nothing is run. No input makes it panic: parse errors become `syntax`
//! findings, nesting too deep for the parser's recursion is refused before parsing, and each
//! module is parsed on a thread with a large stack whose failure is itself a finding.
//!
//! Names resolve through the parser's scopes and symbols (`oxc_semantic`): a finding about
//! `fetch`, `aether`, `globalThis`, `require`, `eval` or `Function` is made only where the name
//! is the unshadowed global, and aliases follow real bindings, within a module and across its
//! exports (see `scan.rs`). Whatever it cannot follow is a `dynamic-access` or `dynamic-code`
//! warning rather than silence; `error` is kept for what the code certainly does, and a use it
//! cannot decide is a warning that says why (issue 24). It is advice ahead of the run, never a
//! substitute for the checks the runtime makes on every call.
//!
//! [`analyze`] returns one finding per site; `aether check` groups repeats of one cause in one
//! file. [`suggest`] turns the same facts into the narrowest permissions (`--suggest`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod depth;
mod location;
mod rules;
mod scan;
mod suggest;

pub use suggest::{Entry, Place, Suggestion, Undetermined, Unused};

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use aether_policy::{Capability, Grant, ModuleKind};

use location::LineIndex;
use rules::Site;
use scan::{Classes, Scanned};

/// How the runtime would resolve an import (SPEC §5), answered by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A module of the plugin, by its canonical name (path relative to the plugin directory).
    Module(String),
    /// Refused, and why (not relative, leaves the plugin, symlink outside it).
    Blocked(String),
    /// A relative specifier inside the plugin naming no file.
    NotFound,
}

/// What [`analyze`] looks at. Everything is borrowed; nothing is read from disk here.
pub struct Input<'a> {
    /// The entry module's canonical name (the manifest's `main`, e.g. `index.js`).
    pub main: &'a str,
    /// The bytes of a module by canonical name, `None` if there is none. Bytes that are not
    /// UTF-8 text (bytecode, another encoding) are a `syntax` finding: the runtime loads
    /// JavaScript source only (SPEC §4, §5), so such a module refuses the run.
    pub modules: &'a dyn Fn(&str) -> Option<Vec<u8>>,
    /// How `specifier` imported (`import`, `export … from`, literal `import()`) from the module
    /// named `referrer` resolves: the runtime's own resolver (SPEC §5), bare specifiers too.
    pub resolve: &'a dyn Fn(&str, &str) -> Resolution,
    /// How `specifier` passed to a literal `require(…)` in the CommonJS module `referrer`
    /// resolves (Node's CommonJS algorithm, inside the plugin).
    pub require: &'a dyn Fn(&str, &str) -> Resolution,
    /// How the module of this canonical name runs: it is parsed as an ES module, as CommonJS
    /// (a script in a function: `return` at the top level is allowed) or as JSON.
    pub kind: &'a dyn Fn(&str) -> ModuleKind,
    /// The plugin's grant (its permissions as declared).
    pub grant: &'a Grant,
    /// The workspace, against which relative filesystem paths resolve (SPEC §5). Absolute.
    pub workspace: &'a Path,
}

/// How serious a finding is: errors make `aether check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The plugin would fail (or be refused) at run time.
    Error,
    /// Worth a look: unused grants, code the analysis cannot follow.
    Warning,
}

impl Level {
    /// `error` or `warning` (SARIF's words too).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// One finding in one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's stable id (see [`RULES`]).
    pub rule: &'static str,
    /// The rule's level.
    pub level: Level,
    /// What is wrong and what to change (plugin-controlled text in it is escaped).
    pub message: String,
    /// The module's canonical name.
    pub module: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The capability concerned, if any.
    pub capability: Option<Capability>,
    /// The path, URL, variable, command or specifier concerned, if literal (unescaped).
    pub target: Option<String>,
    /// Whether `aether run` refuses to start because of it (SPEC §4: syntax errors, and static
    /// imports that would be `module` violations). Every other finding is `aether check`'s
    /// alone: the grant is enforced call by call at run time.
    pub refuses_run: bool,
}

/// A rule's description, for `aether check` and SARIF's `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    /// Stable id, e.g. `grant-mismatch`.
    pub id: &'static str,
    /// The level of its findings.
    pub level: Level,
    /// A PascalCase name (SARIF `name`).
    pub name: &'static str,
    /// One sentence: what it reports.
    pub summary: &'static str,
    /// What to do about it.
    pub help: &'static str,
    /// The CWE it relates to, if any.
    pub cwe: Option<u32>,
}

/// Every rule, in a stable order.
pub const RULES: &[RuleInfo] = &[
    rules::syntax::INFO,
    rules::module_blocked::INFO,
    rules::module_not_found::INFO,
    rules::capability_undeclared::INFO,
    rules::grant_mismatch::INFO,
    rules::capability_unused::INFO,
    rules::dynamic_code::INFO,
    rules::dynamic_access::INFO,
];

/// The least stack a module is parsed on: oxc's parser and visitor recurse once per nesting
/// level, with no limit of their own.
const MIN_PARSE_STACK: usize = 256 * 1024 * 1024;

/// Stack per byte of source. [`depth::too_deep`] refuses the one-byte-per-level nestings
/// (brackets, prefix operators) past 1000 levels; every other nesting (`a=a=…`, `a=>a=>…`,
/// labels, `else if` chains) takes at least two bytes of source per level, and a level costs
/// the release parser a few hundred bytes of stack (measured: `a=` 200 000 deep fits in
/// 256 MiB, 1 000 000 deep does not). 2 KiB per byte covers that with a wide margin.
const PARSE_STACK_PER_BYTE: usize = 2048;

/// The most stack reserved: 16 GiB (a 8 MiB module). Reserved, not committed: untouched
/// pages cost nothing. When the system refuses the reservation, the module gets a finding.
const MAX_PARSE_STACK: usize = 16 * 1024 * 1024 * 1024;

/// Parses and scans one module on its own large-stack thread. A thread that cannot start, or
/// that panics (a bug in the parser), yields a syntax-level finding instead of a crash.
fn scan_guarded(
    source: &str,
    kind: ModuleKind,
    typescript: bool,
    imported: &scan::Imported,
) -> Scanned {
    let stack = source
        .len()
        .saturating_mul(PARSE_STACK_PER_BYTE)
        .clamp(MIN_PARSE_STACK, MAX_PARSE_STACK);
    let result = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("aether-analyze".into())
            .stack_size(stack)
            .spawn_scoped(s, || scan::scan(source, kind, typescript, imported))
            .map(|h| h.join())
    });
    match result {
        Ok(Ok(scanned)) => scanned,
        Ok(Err(_)) => Scanned::Syntax(vec![(0, "the parser failed on this module".to_owned())]),
        Err(_) => Scanned::Syntax(vec![(
            0,
            format!(
                "could not reserve {} MiB of stack to parse this module; it is too large to analyze here",
                stack / (1024 * 1024)
            ),
        )]),
    }
}

/// `./x.ts` for `./x.js`, `./x.mts` for `./x.mjs`: the TypeScript file a `tsc` user means.
fn typescript_twin(specifier: &str) -> Option<String> {
    if let Some(stem) = specifier.strip_suffix(".js") {
        Some(format!("{stem}.ts"))
    } else {
        specifier.strip_suffix(".mjs").map(|s| format!("{s}.mts"))
    }
}

/// The byte offset of serde_json's 1-based `line` and `column` in `source`.
fn json_offset(source: &str, line: usize, column: usize) -> u32 {
    let start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    u32::try_from(start + column.saturating_sub(1)).unwrap_or(u32::MAX)
}

/// Where a module was first imported, to point a `module-not-found` at.
struct ImportSite {
    module: String,
    line: u32,
    column: u32,
    specifier: String,
}

/// Analyzes the plugin from `input.main` through its imports (static, `export … from` and
/// literal `import()`) and, in CommonJS modules, its literal `require(…)` calls, each module
/// once, and returns every finding: per module in source order, then `capability-unused` last.
/// A JSON module is only checked to parse.
pub fn analyze(input: &Input<'_>) -> Vec<Finding> {
    run(input).0
}

/// Exactly the findings of [`analyze`] that refuse a run (`refuses_run`: syntax errors and
/// static imports of blocked modules; SPEC §4), in the same order, for `aether run`.
///
/// Those depend only on each module's text and on how its imports resolve, never on what
/// other modules export, so one pass finds all of them: the further passes of [`analyze`]
/// (which follow host references through exports, for the capability rules) are not made.
/// A plugin whose modules re-export the global object is parsed once instead of up to
/// `MAX_PASSES` (four) times (issue 19: aether's own cost around a step).
pub fn run_gate(input: &Input<'_>) -> Vec<Finding> {
    let mut findings = pass(input, &HashMap::new()).findings;
    findings.retain(|f| f.refuses_run);
    findings
}

/// The narrowest `permissions` covering every capability use [`analyze`] sees, what it could
/// not determine, and the difference with `input.grant` (`aether check --suggest`).
pub fn suggest(input: &Input<'_>) -> Suggestion {
    let (findings, uses) = run(input);
    let opaque = findings
        .iter()
        .filter(|f| {
            matches!(
                f.rule,
                "dynamic-code" | "dynamic-access" | "syntax" | "module-not-found"
            )
        })
        .map(|f| {
            (
                f.rule,
                Place {
                    module: f.module.clone(),
                    line: f.line,
                    column: f.column,
                },
            )
        })
        .collect();
    suggest::build(&uses, opaque, input.grant, input.workspace)
}

/// The most passes over the plugin: each follows host references one more module through
/// exports and imports (a pass is repeated only while some import learns something new).
const MAX_PASSES: usize = 4;

/// The findings, and every host use seen (for [`suggest`]). A first pass knows no imports;
/// when a module exports a host reference (`export default root` where `root` is the global
/// object), the modules importing it are analyzed again knowing it, so that their uses are
/// checked rather than the export reported as an escape (issue 24).
fn run(input: &Input<'_>) -> (Vec<Finding>, Vec<suggest::SeenUse>) {
    let mut imported: HashMap<String, scan::Imported> = HashMap::new();
    let mut passes = 0;
    loop {
        passes += 1;
        let pass = pass(input, &imported);
        let next = link(&pass);
        if next == imported || passes >= MAX_PASSES {
            return (pass.findings, pass.uses);
        }
        imported = next;
    }
}

/// What one pass saw, beyond the findings: what each module exports and imports, and how its
/// specifiers resolved.
struct Pass {
    findings: Vec<Finding>,
    uses: Vec<suggest::SeenUse>,
    exports: HashMap<String, Vec<scan::Export>>,
    import_names: HashMap<String, Vec<(String, String)>>,
    resolved: HashMap<(String, String), String>,
}

/// The most re-export hops followed from one import (`export … from` chains).
const MAX_REEXPORT_DEPTH: usize = 16;

/// What `module` exports as `name`, if a host reference.
fn export_val(pass: &Pass, module: &str, name: &str, depth: usize) -> Option<scan::Val> {
    if depth > MAX_REEXPORT_DEPTH {
        return None;
    }
    let exports = pass.exports.get(module)?;
    for e in exports {
        match e {
            scan::Export::Local { name: n, val } if n == name => return Some(*val),
            scan::Export::From {
                name: n,
                specifier,
                imported,
            } if n == name => {
                let target = pass.resolved.get(&(module.to_owned(), specifier.clone()))?;
                return export_val(pass, target, imported, depth + 1);
            }
            _ => {}
        }
    }
    if name == "default" {
        return None;
    }
    exports.iter().find_map(|e| match e {
        scan::Export::All { specifier } => pass
            .resolved
            .get(&(module.to_owned(), specifier.clone()))
            .and_then(|target| export_val(pass, target, name, depth + 1)),
        _ => None,
    })
}

/// What each module's imports hold, from the exports `pass` saw.
fn link(pass: &Pass) -> HashMap<String, scan::Imported> {
    let mut out: HashMap<String, scan::Imported> = HashMap::new();
    for (module, names) in &pass.import_names {
        for (specifier, name) in names {
            let Some(target) = pass.resolved.get(&(module.clone(), specifier.clone())) else {
                continue;
            };
            if let Some(val) = export_val(pass, target, name, 0) {
                out.entry(module.clone())
                    .or_default()
                    .insert((specifier.clone(), name.clone()), val);
            }
        }
    }
    out
}

/// One pass over the plugin, with what each module's imports are known to hold.
fn pass(input: &Input<'_>, imported: &HashMap<String, scan::Imported>) -> Pass {
    let mut exports = HashMap::new();
    let mut import_names = HashMap::new();
    let mut resolved = HashMap::new();
    let no_imports = scan::Imported::new();
    let mut uses = Vec::new();
    let mut findings = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(input.main.to_owned());
    let mut queue: VecDeque<(String, Option<ImportSite>)> = VecDeque::new();
    queue.push_back((input.main.to_owned(), None));
    let mut referenced = Classes::default();
    // Set when some reachable code could not be looked at or can do anything (eval): then no
    // capability can be called unused.
    let mut opaque = false;

    while let Some((name, site)) = queue.pop_front() {
        let Some(bytes) = (input.modules)(&name) else {
            opaque = true;
            findings.push(rules::module_not_found::missing(&name, site.as_ref()));
            continue;
        };
        let source = match String::from_utf8(bytes) {
            Ok(source) => source,
            Err(e) => {
                // Pointed at the first byte that is not UTF-8, after the text before it.
                opaque = true;
                let valid = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
                let index = LineIndex::new(&text);
                let here = Site {
                    module: &name,
                    index: &index,
                };
                findings.push(rules::syntax::not_text(
                    &here,
                    u32::try_from(valid).unwrap_or(u32::MAX),
                ));
                continue;
            }
        };
        let index = LineIndex::new(&source);
        let here = Site {
            module: &name,
            index: &index,
        };
        let mut local = Vec::new();
        let kind = (input.kind)(&name);
        if kind == ModuleKind::Json {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&source) {
                opaque = true;
                let offset = json_offset(&source, e.line(), e.column());
                local.push(rules::syntax::finding(
                    &here,
                    offset,
                    &format!("invalid JSON: {e}"),
                ));
            }
            findings.extend(local);
            continue;
        }
        // A TypeScript module (SPEC §5) is compiled as the runtime compiles it: its errors are
        // syntax findings (they refuse the run), and only the imports left after type-only
        // ones are elided are followed. Everything else is read from the TypeScript itself,
        // so findings point at its lines.
        let typescript = aether_typescript::is_typescript(&name);
        let mut kept_imports = None;
        if typescript {
            match aether_typescript::compile_typescript(&name, &source, kind.into()) {
                Ok(compiled) => kept_imports = Some(compiled.imports),
                Err(e) => {
                    opaque = true;
                    for d in e.diagnostics {
                        local.push(rules::syntax::finding(&here, d.offset, &d.message));
                    }
                    findings.extend(local);
                    continue;
                }
            }
        }
        match scan_guarded(
            &source,
            kind,
            typescript,
            imported.get(&name).unwrap_or(&no_imports),
        ) {
            Scanned::Syntax(errors) => {
                opaque = true;
                for (offset, message) in errors {
                    local.push(rules::syntax::finding(&here, offset, &message));
                }
            }
            Scanned::Facts(mut facts) => {
                exports.insert(name.clone(), std::mem::take(&mut facts.exports));
                import_names.insert(name.clone(), std::mem::take(&mut facts.import_names));
                referenced = referenced.union(facts.referenced);
                opaque |= !facts.dynamic_code.is_empty();
                for import in &facts.imports {
                    let spec = import.specifier.as_str();
                    if let Some(kept) = &kept_imports
                        && import.kind != scan::ImportKind::Dynamic
                        && !kept.iter().any(|k| k == spec)
                    {
                        continue;
                    }
                    let resolution = (input.resolve)(spec, &name);
                    match resolution {
                        Resolution::Module(canonical) => {
                            resolved.insert((name.clone(), spec.to_owned()), canonical.clone());
                            if seen.insert(canonical.clone()) {
                                let (line, column) = index.line_col(import.offset);
                                let site = ImportSite {
                                    module: name.clone(),
                                    line,
                                    column,
                                    specifier: spec.to_owned(),
                                };
                                queue.push_back((canonical, Some(site)));
                            }
                        }
                        Resolution::Blocked(why) => {
                            local.push(rules::module_blocked::import(&here, import, &why))
                        }
                        Resolution::NotFound => {
                            let ts = typescript_twin(spec).filter(|ts| {
                                matches!((input.resolve)(ts, &name), Resolution::Module(_))
                            });
                            local.push(rules::module_not_found::import(
                                &here,
                                import,
                                ts.as_deref(),
                            ))
                        }
                    }
                }
                for (offset, arg) in &facts.requires {
                    if kind != ModuleKind::CommonJs {
                        local.push(rules::module_blocked::require(
                            &here,
                            *offset,
                            arg.as_deref(),
                        ));
                        continue;
                    }
                    // In CommonJS `require` works: follow literal ones (a syntax error in a
                    // reachable file refuses the run); one that would be refused is reported,
                    // but never refuses the run (it may sit in a `try` or never run).
                    let Some(spec) = arg.as_deref() else {
                        continue;
                    };
                    match (input.require)(spec, &name) {
                        Resolution::Module(canonical) => {
                            if seen.insert(canonical.clone()) {
                                let (line, column) = index.line_col(*offset);
                                let site = ImportSite {
                                    module: name.clone(),
                                    line,
                                    column,
                                    specifier: spec.to_owned(),
                                };
                                queue.push_back((canonical, Some(site)));
                            }
                        }
                        Resolution::Blocked(why) => local.push(
                            rules::module_blocked::commonjs_require(&here, *offset, spec, &why),
                        ),
                        Resolution::NotFound => {}
                    }
                }
                for host_use in &facts.host_uses {
                    let (line, column) = index.line_col(host_use.offset);
                    uses.push(suggest::SeenUse {
                        place: Place {
                            module: name.clone(),
                            line,
                            column,
                        },
                        host_use: host_use.clone(),
                    });
                    let found = rules::capability_undeclared::check(&here, input.grant, host_use)
                        .or_else(|| {
                            rules::grant_mismatch::check(
                                &here,
                                input.grant,
                                input.workspace,
                                host_use,
                            )
                        });
                    if let Some(f) = found {
                        local.push(match host_use.doubt {
                            Some(doubt) => rules::undecided(f, doubt),
                            None => f,
                        });
                    }
                }
                for (offset, kind) in &facts.dynamic_code {
                    local.push(rules::dynamic_code::finding(&here, *offset, *kind));
                }
                for (offset, what) in &facts.dynamic_access {
                    local.push(rules::dynamic_access::finding(&here, *offset, what));
                }
            }
        }
        local.sort_by_key(|f| (f.line, f.column));
        findings.extend(local);
    }
    if !opaque {
        findings.extend(rules::capability_unused::check(
            input.main,
            input.grant,
            referenced,
        ));
    }
    Pass {
        findings,
        uses,
        exports,
        import_names,
        resolved,
    }
}
