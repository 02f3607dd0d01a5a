//! One module's parse and the facts the rules need: its imports, its uses of the host API (with
//! literal first arguments), and whatever defeats the analysis (`eval`, computed access to
//! `aether`, the host objects escaping as values).
//!
//! The scan never reads anything but the source it is given, and never panics.
//!
//! ## How host references are followed
//! Names are resolved by the parser's semantic layer (`oxc_semantic`: scopes and symbols): an
//! identifier denotes the global `aether`, `fetch`, `globalThis`, `eval`, `Function` or
//! `require` only when it resolves to no binding (issue 24: a plugin's own `function fetch`,
//! or a minified `e` that is `globalThis` in one function only, is not the global elsewhere).
//!
//! An expression made only of identifiers, `.name` and `["literal"]` accesses, `a ? b : c`,
//! `a || b`, `a ?? b` and `(x = y)` is evaluated to a [`Sym`]: `aether`, one of its namespaces,
//! one host function, `globalThis`, `eval`, `Function` or `require`. A *binding* (a symbol, not
//! a name) initialised or assigned such an expression, plainly or through object
//! destructuring, is an alias, in whatever block, function or closure it is referenced. A
//! first pass collects the aliases (twice, for uses that precede their declaration in the
//! source); the second pass uses them.
//!
//! An alias is *sure* when its binding holds that value only: a `const`, or a variable never
//! assigned anything else, evaluated through no `?:`/`||`/`??`. A host call through an alias
//! that is not sure is reported at warning level (the analysis cannot decide it).
//!
//! Across modules, an alias exported (`export const`, `export { x as y }`, `export default`,
//! `export … from`, `export *`) binds the importer's `import` (see `run` in `lib.rs`: a module
//! is analyzed again once its imports are known to hold host references).
//!
//! Limits, on purpose (no data flow): aliases through array destructuring, function parameters
//! and returns, object properties, namespace imports and CommonJS `module.exports` are not
//! followed (the host objects escaping that way are reported by `dynamic-access` instead).

use std::collections::HashMap;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, ArrayExpressionElement, AssignmentExpression, AssignmentTarget, BinaryExpression,
    BinaryOperator, BindingPattern, CallExpression, ChainElement, ConditionalExpression,
    Declaration, ExportAllDeclaration, ExportDeclaration, ExportDefaultDeclaration,
    ExportFromDeclaration, ExportNamedDeclaration, Expression, IdentifierReference, IfStatement,
    ImportDeclaration, ImportDeclarationSpecifier, ImportExpression, MemberExpression,
    ModuleExportName, NewExpression, ObjectPropertyKind, Program, Statement,
    TSImportEqualsDeclaration, TSModuleReference, TSType, UnaryExpression, UnaryOperator,
    VariableDeclarator,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::Parser;
use oxc_semantic::{Scoping, SemanticBuilder, SymbolId};
use oxc_span::{GetSpan, SourceType};

/// A host function a plugin can call (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `aether.fs.<name>` needing `filesystem.read`.
    FsRead(&'static str),
    /// `aether.fs.<name>` needing `filesystem.write`.
    FsWrite(&'static str),
    /// `fetch` or `aether.fetch`.
    Fetch,
    /// `aether.listen`.
    Listen,
    /// `aether.env.get`.
    EnvGet,
    /// `aether.process.run`.
    ProcessRun,
}

impl Api {
    /// How the SPEC writes it.
    pub(crate) fn display(self) -> String {
        match self {
            Api::FsRead(n) | Api::FsWrite(n) => format!("aether.fs.{n}"),
            Api::Fetch => "fetch".to_owned(),
            Api::Listen => "aether.listen".to_owned(),
            Api::EnvGet => "aether.env.get".to_owned(),
            Api::ProcessRun => "aether.process.run".to_owned(),
        }
    }

    /// The capability class it needs.
    pub(crate) fn class(self) -> Class {
        match self {
            Api::FsRead(_) => Class::FsRead,
            Api::FsWrite(_) => Class::FsWrite,
            Api::Fetch => Class::Network,
            Api::Listen => Class::Listen,
            Api::EnvGet => Class::Env,
            Api::ProcessRun => Class::Process,
        }
    }
}

const FS_READ: &[&str] = &["readText", "readBytes", "list", "stat", "exists"];
const FS_WRITE: &[&str] = &["writeText", "writeBytes", "appendText", "mkdir", "remove"];

/// A declarable capability, as `capability-undeclared` and `capability-unused` see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Class {
    /// `permissions.filesystem.read`.
    FsRead,
    /// `permissions.filesystem.write`.
    FsWrite,
    /// `permissions.network.domains`.
    Network,
    /// `permissions.network.listen`.
    Listen,
    /// `permissions.env`.
    Env,
    /// `permissions.process`.
    Process,
}

impl Class {
    /// Every class.
    pub(crate) const ALL: [Class; 6] = [
        Class::FsRead,
        Class::FsWrite,
        Class::Network,
        Class::Listen,
        Class::Env,
        Class::Process,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Class`]es.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Classes(u8);

impl Classes {
    /// Adds `c`.
    pub(crate) fn insert(&mut self, c: Class) {
        self.0 |= c.bit();
    }
    /// Whether `c` is in.
    pub(crate) fn contains(self, c: Class) -> bool {
        self.0 & c.bit() != 0
    }
    /// The union.
    pub(crate) fn union(self, other: Classes) -> Classes {
        Classes(self.0 | other.0)
    }
}

/// What a host-reference expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sym {
    /// `globalThis`.
    Global,
    /// `aether`.
    Aether,
    /// `aether.fs`.
    Fs,
    /// `aether.env`.
    Env,
    /// `aether.process`.
    Process,
    /// A host function (also `f.bind(…)` of one).
    Api(Api),
    /// `api.call` / `api.apply`: calling it uses the capability, the arguments shift.
    ApiIndirect(Api),
    /// `eval`.
    Eval,
    /// `Function`.
    FunctionCtor,
    /// `require`.
    Require,
}

impl Sym {
    /// An object whose members are host references (`globalThis`, `aether`, its namespaces).
    fn is_container(self) -> bool {
        matches!(
            self,
            Sym::Global | Sym::Aether | Sym::Fs | Sym::Env | Sym::Process
        )
    }

    /// The capability classes reachable through it.
    fn reach(self) -> Classes {
        let mut c = Classes::default();
        match self {
            Sym::Global | Sym::Aether => Class::ALL.iter().for_each(|&k| c.insert(k)),
            Sym::Fs => {
                c.insert(Class::FsRead);
                c.insert(Class::FsWrite);
            }
            Sym::Env => c.insert(Class::Env),
            Sym::Process => c.insert(Class::Process),
            Sym::Api(a) | Sym::ApiIndirect(a) => c.insert(a.class()),
            Sym::Eval | Sym::FunctionCtor | Sym::Require => {}
        }
        c
    }

    fn describe(self) -> &'static str {
        match self {
            Sym::Global => "globalThis",
            Sym::Aether => "aether",
            Sym::Fs => "aether.fs",
            Sym::Env => "aether.env",
            Sym::Process => "aether.process",
            Sym::Api(_) | Sym::ApiIndirect(_) => "a host function",
            Sym::Eval => "eval",
            Sym::FunctionCtor => "Function",
            Sym::Require => "require",
        }
    }
}

/// The global a name denotes when nothing in the module rebinds it.
fn global(name: &str) -> Option<Sym> {
    Some(match name {
        "aether" => Sym::Aether,
        "fetch" => Sym::Api(Api::Fetch),
        "globalThis" => Sym::Global,
        "eval" => Sym::Eval,
        "Function" => Sym::FunctionCtor,
        "require" => Sym::Require,
        _ => return None,
    })
}

/// `object.prop` where `object` evaluates to `obj`.
fn member(obj: Sym, prop: &str) -> Option<Sym> {
    match obj {
        Sym::Global => global(prop),
        Sym::Aether => match prop {
            "fs" => Some(Sym::Fs),
            "env" => Some(Sym::Env),
            "process" => Some(Sym::Process),
            "fetch" => Some(Sym::Api(Api::Fetch)),
            "listen" => Some(Sym::Api(Api::Listen)),
            _ => None,
        },
        Sym::Fs => FS_READ
            .iter()
            .find(|&&n| n == prop)
            .map(|&n| Sym::Api(Api::FsRead(n)))
            .or_else(|| {
                FS_WRITE
                    .iter()
                    .find(|&&n| n == prop)
                    .map(|&n| Sym::Api(Api::FsWrite(n)))
            }),
        Sym::Env => (prop == "get").then_some(Sym::Api(Api::EnvGet)),
        Sym::Process => (prop == "run").then_some(Sym::Api(Api::ProcessRun)),
        Sym::Api(a) => match prop {
            // `f.bind(…)` evaluates to `f` again (see `Aliases::eval`); calling `f.bind`,
            // `f.call` or `f.apply` uses the capability with shifted arguments.
            "bind" | "call" | "apply" => Some(Sym::ApiIndirect(a)),
            _ => None,
        },
        // `Function.apply(this, params)` (handlebars' compiler) and `eval.call(…)` build and
        // run code like a direct call.
        Sym::Eval | Sym::FunctionCtor => matches!(prop, "call" | "apply" | "bind").then_some(obj),
        Sym::ApiIndirect(_) | Sym::Require => None,
    }
}

/// The key of a member access, if static or literal.
fn member_key<'a>(m: &MemberExpression<'a>) -> Option<&'a str> {
    match m {
        MemberExpression::StaticMemberExpression(s) => Some(s.property.name.as_str()),
        MemberExpression::ComputedMemberExpression(c) => literal_str(&c.expression),
        MemberExpression::PrivateFieldExpression(_) => None,
    }
}

/// A string literal or a template literal without substitutions.
pub(crate) fn literal_str<'a>(e: &Expression<'a>) -> Option<&'a str> {
    match e.get_inner_expression() {
        Expression::StringLiteral(s) => Some(s.value.as_str()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => {
            t.single_quasi().map(|q| q.as_str())
        }
        _ => None,
    }
}

/// What an expression evaluates to, and whether surely (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Val {
    sym: Sym,
    /// False when the value is only one of the possibilities (a `?:`, `||`, a variable also
    /// assigned something else, an implicit global).
    sure: bool,
}

impl Val {
    fn sure(sym: Sym) -> Val {
        Val { sym, sure: true }
    }
    fn unsure(self) -> Val {
        Val {
            sym: self.sym,
            sure: false,
        }
    }
}

/// `Function("return this")` or `eval("this")`: the code is a literal that evaluates to the
/// global object (lodash's `_root.js`, core-js, every UMD prelude): not dynamic code.
fn returns_this(sym: Sym, args: &[Argument<'_>]) -> bool {
    let [only] = args else { return false };
    let Some(text) = only.as_expression().and_then(literal_str) else {
        return false;
    };
    let text = text.trim().trim_end_matches(';').trim_end();
    match sym {
        Sym::FunctionCtor => text == "return this",
        Sym::Eval => text == "this",
        _ => false,
    }
}

/// The module's aliases, by symbol (see the module docs).
struct Aliases<'s> {
    scoping: &'s Scoping,
    symbols: HashMap<SymbolId, Val>,
    /// Sloppy-mode assignments to undeclared names (implicit globals): never sure.
    implicit: HashMap<String, Val>,
}

impl<'s> Aliases<'s> {
    fn new(scoping: &'s Scoping) -> Self {
        Aliases {
            scoping,
            symbols: HashMap::new(),
            implicit: HashMap::new(),
        }
    }

    /// The binding `id` resolves to; `None` for a global (unresolved) reference. A TypeScript
    /// `declare const aether: …` is erased when compiled: the name is still the global.
    fn resolve(&self, id: &IdentifierReference<'_>) -> Option<SymbolId> {
        id.reference_id
            .get()
            .and_then(|r| self.scoping.get_reference(r).symbol_id())
            .filter(|&s| !self.scoping.symbol_flags(s).is_ambient())
    }

    /// Whether `id` denotes the global of its name (no binding shadows it).
    fn is_global(&self, id: &IdentifierReference<'_>) -> bool {
        self.resolve(id).is_none()
    }

    fn lookup(&self, id: &IdentifierReference<'_>) -> Option<Val> {
        match self.resolve(id) {
            Some(symbol) => self.symbols.get(&symbol).copied(),
            None => self
                .implicit
                .get(id.name.as_str())
                .copied()
                .or_else(|| global(&id.name).map(Val::sure)),
        }
    }

    fn eval(&self, e: &Expression<'_>) -> Option<Sym> {
        self.eval_val(e).map(|v| v.sym)
    }

    /// Either of two values: the one that is a host reference, not surely.
    fn either(a: Option<Val>, b: Option<Val>) -> Option<Val> {
        match (a, b) {
            (Some(a), Some(b)) if a.sym == b.sym => Some(Val {
                sym: a.sym,
                sure: a.sure && b.sure,
            }),
            (Some(_), Some(_)) => None,
            (Some(v), None) | (None, Some(v)) => Some(v.unsure()),
            (None, None) => None,
        }
    }

    fn eval_val(&self, e: &Expression<'_>) -> Option<Val> {
        match e.get_inner_expression() {
            Expression::Identifier(id) => self.lookup(id),
            Expression::SequenceExpression(s) => {
                s.expressions.last().and_then(|l| self.eval_val(l))
            }
            Expression::ConditionalExpression(c) => {
                Self::either(self.eval_val(&c.consequent), self.eval_val(&c.alternate))
            }
            Expression::LogicalExpression(l) => {
                Self::either(self.eval_val(&l.left), self.eval_val(&l.right))
            }
            Expression::AssignmentExpression(a) => self.eval_val(&a.right),
            Expression::CallExpression(c) => {
                let callee = c.callee.get_inner_expression();
                if let Some(v) = self.eval_val(callee)
                    && returns_this(v.sym, &c.arguments)
                {
                    return Some(Val::sure(Sym::Global));
                }
                // `Function("return this")()`, `new Function("return this")()`.
                let made = match callee {
                    Expression::CallExpression(inner) => Some((&inner.callee, &inner.arguments)),
                    Expression::NewExpression(inner) => Some((&inner.callee, &inner.arguments)),
                    _ => None,
                };
                if let Some((inner_callee, inner_args)) = made
                    && c.arguments.is_empty()
                    && self.eval(inner_callee) == Some(Sym::FunctionCtor)
                    && returns_this(Sym::FunctionCtor, inner_args)
                {
                    return Some(Val::sure(Sym::Global));
                }
                let m = callee.as_member_expression()?;
                if m.static_property_name() != Some("bind") {
                    return None;
                }
                match self.eval_val(m.object()) {
                    Some(
                        v @ Val {
                            sym: Sym::Api(_), ..
                        },
                    ) => Some(v),
                    _ => None,
                }
            }
            Expression::ChainExpression(c) => match &c.expression {
                ChainElement::CallExpression(_) | ChainElement::TSNonNullExpression(_) => None,
                other => other
                    .as_member_expression()
                    .and_then(|m| self.eval_member_val(m)),
            },
            other => other
                .as_member_expression()
                .and_then(|m| self.eval_member_val(m)),
        }
    }

    fn eval_member(&self, m: &MemberExpression<'_>) -> Option<Sym> {
        self.eval_member_val(m).map(|v| v.sym)
    }

    fn eval_member_val(&self, m: &MemberExpression<'_>) -> Option<Val> {
        let key = member_key(m)?;
        let obj = self.eval_val(m.object())?;
        member(obj.sym, key).map(|sym| Val {
            sym,
            sure: obj.sure,
        })
    }

    /// Records that `symbol` holds `val`; a symbol given two different values keeps the first,
    /// not surely.
    fn record(&mut self, symbol: SymbolId, val: Val) {
        let entry = self.symbols.entry(symbol).or_insert(val);
        if entry.sym != val.sym || !val.sure {
            entry.sure = false;
        }
    }

    /// Binds the names in `pattern` (a declaration's) to what `val` destructures to.
    fn bind(&mut self, pattern: &BindingPattern<'_>, val: Val) {
        match pattern {
            BindingPattern::BindingIdentifier(id) => {
                if let Some(symbol) = id.symbol_id.get() {
                    // A `var`/`let` assigned elsewhere too may hold something else there.
                    let sure = val.sure && !self.scoping.symbol_is_mutated(symbol);
                    self.record(symbol, Val { sym: val.sym, sure });
                }
            }
            BindingPattern::ObjectPattern(o) => {
                for p in &o.properties {
                    let child = p.key.static_name().and_then(|k| member(val.sym, &k));
                    if let Some(child) = child {
                        self.bind(
                            &p.value,
                            Val {
                                sym: child,
                                sure: val.sure,
                            },
                        );
                    }
                }
                if let Some(rest) = &o.rest {
                    self.bind(&rest.argument, val);
                }
            }
            BindingPattern::AssignmentPattern(a) => self.bind(&a.left, val.unsure()),
            BindingPattern::ArrayPattern(_) => {}
        }
    }

    /// `id = <val>`: an alias if `id` is a binding written only here, else not surely.
    fn assign(&mut self, id: &IdentifierReference<'_>, val: Val) {
        match self.resolve(id) {
            Some(symbol) => {
                let writes = self
                    .scoping
                    .get_resolved_references(symbol)
                    .filter(|r| r.is_write())
                    .count();
                let sure = val.sure && writes == 1;
                self.record(symbol, Val { sym: val.sym, sure });
            }
            None => {
                if global(&id.name).is_none() {
                    self.implicit.insert(id.name.to_string(), val.unsure());
                }
            }
        }
    }
}

/// Pass 1: collects aliases.
struct Binder<'s> {
    aliases: Aliases<'s>,
}

impl<'a> Visit<'a> for Binder<'_> {
    fn visit_ts_type(&mut self, _: &TSType<'a>) {}

    fn visit_variable_declarator(&mut self, d: &VariableDeclarator<'a>) {
        if let Some(val) = d.init.as_ref().and_then(|i| self.aliases.eval_val(i)) {
            self.aliases.bind(&d.id, val);
        }
        walk::walk_variable_declarator(self, d);
    }

    fn visit_assignment_expression(&mut self, a: &AssignmentExpression<'a>) {
        if let AssignmentTarget::AssignmentTargetIdentifier(id) = &a.left
            && let Some(val) = self.aliases.eval_val(&a.right)
        {
            self.aliases.assign(id, val);
        }
        walk::walk_assignment_expression(self, a);
    }
}

/// How a module imports another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImportKind {
    /// `import … from "x"` or `import "x"`.
    Static,
    /// `export … from "x"`.
    ExportFrom,
    /// `import("x")` with a literal.
    Dynamic,
}

/// One import site.
#[derive(Debug, Clone)]
pub(crate) struct Import {
    pub(crate) specifier: String,
    pub(crate) offset: u32,
    pub(crate) kind: ImportKind,
}

/// A literal first argument of a host call.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A string (path, URL, variable, command).
    Text { value: String, offset: u32 },
    /// `aether.listen({hostname: "…", port: n})` with a literal hostname (or none: the
    /// runtime's default) and a literal port.
    Listen {
        hostname: String,
        port: u16,
        offset: u32,
    },
}

/// One use of a host function.
#[derive(Debug, Clone)]
pub(crate) struct HostUse {
    pub(crate) api: Api,
    pub(crate) offset: u32,
    pub(crate) arg: Option<Arg>,
    /// Why the analysis cannot be sure the host function is called here (see the module
    /// docs), if so: the rules then report at warning level, saying why.
    pub(crate) doubt: Option<Doubt>,
}

/// Why a host use is undecidable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doubt {
    /// Called through a name that may hold another value (`?:`, `||`, reassigned).
    MaybeOther,
    /// Not called here: passed, stored, exported or bound as a value.
    Value,
}

/// Why code is dynamic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DynamicCode {
    /// `eval(…)`, or `eval` used as a value (indirect eval).
    Eval,
    /// `Function(…)` / `new Function(…)`, or `Function` used as a value.
    Function,
    /// `import(expr)` with a non-literal argument.
    Import,
}

/// Why access to the host API is dynamic.
#[derive(Debug, Clone)]
pub(crate) enum DynamicAccess {
    /// `aether[x]`: the object named.
    Computed(&'static str),
    /// The object used as a value (passed, stored, returned).
    Escapes(&'static str),
    /// Assigning to the global or to one of its members.
    Reassigned(String),
}

/// What one module does, as far as the rules care.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) imports: Vec<Import>,
    /// `require(…)` calls: offset and the literal argument if any.
    pub(crate) requires: Vec<(u32, Option<String>)>,
    pub(crate) host_uses: Vec<HostUse>,
    pub(crate) dynamic_code: Vec<(u32, DynamicCode)>,
    pub(crate) dynamic_access: Vec<(u32, DynamicAccess)>,
    /// Capabilities this module references (calls, values, escapes).
    pub(crate) referenced: Classes,
    /// What it exports that is a host reference, and what it re-exports (issue 24: aliases
    /// follow exports across the plugin's modules).
    pub(crate) exports: Vec<Export>,
    /// The names it imports: specifier and imported name (`default` for a default import).
    pub(crate) import_names: Vec<(String, String)>,
}

/// An export that may carry a host reference to an importing module.
#[derive(Debug, Clone)]
pub(crate) enum Export {
    /// `export const f = aether.fs`, `export { f as g }`, `export default fetch`.
    Local { name: String, val: Val },
    /// `export { a as b } from "./m.js"`.
    From {
        name: String,
        specifier: String,
        imported: String,
    },
    /// `export * from "./m.js"`.
    All { specifier: String },
}

/// What the module's imports are known to hold: by specifier and imported name.
pub(crate) type Imported = HashMap<(String, String), Val>;

/// Binds the module's import bindings that `imported` knows, and lists every imported name.
fn seed_imports(
    program: &Program<'_>,
    aliases: &mut Aliases<'_>,
    imported: &Imported,
    names: &mut Vec<(String, String)>,
) {
    for statement in &program.body {
        let Statement::ImportDeclaration(d) = statement else {
            continue;
        };
        let Some(specifiers) = &d.specifiers else {
            continue;
        };
        let source = d.source.value.to_string();
        for spec in specifiers {
            let (name, local) = match spec {
                ImportDeclarationSpecifier::ImportSpecifier(s) => {
                    (s.imported.name().to_string(), &s.local)
                }
                ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                    ("default".to_owned(), &s.local)
                }
                ImportDeclarationSpecifier::ImportNamespaceSpecifier(_) => continue,
            };
            if let (Some(val), Some(symbol)) = (
                imported.get(&(source.clone(), name.clone())),
                local.symbol_id.get(),
            ) {
                aliases.record(symbol, *val);
            }
            names.push((source.clone(), name));
        }
    }
}

/// The result of scanning one module.
pub(crate) enum Scanned {
    /// The module parsed.
    Facts(Facts),
    /// Syntax errors: byte offset and message. Nothing else is reported for the module.
    Syntax(Vec<(u32, String)>),
}

/// Parses `source` as an ES module (TypeScript when `typescript`), or as CommonJS (a script
/// run inside a function, so that a top-level `return` is allowed), and collects its facts.
pub(crate) fn scan(
    source: &str,
    kind: aether_policy::ModuleKind,
    typescript: bool,
    imported: &Imported,
) -> Scanned {
    if let Some(offset) = crate::depth::too_deep(source) {
        return Scanned::Syntax(vec![(
            offset,
            format!(
                "nesting deeper than {} levels; aether does not analyze (or load) such code",
                crate::depth::MAX_DEPTH
            ),
        )]);
    }
    let allocator = Allocator::default();
    let ret = match kind {
        aether_policy::ModuleKind::CommonJs => {
            let language = if typescript {
                SourceType::ts().with_commonjs(true)
            } else {
                SourceType::cjs()
            };
            Parser::new(&allocator, source, language)
                .with_options(oxc_parser::ParseOptions {
                    allow_return_outside_function: true,
                    ..oxc_parser::ParseOptions::default()
                })
                .parse()
        }
        _ if typescript => {
            Parser::new(&allocator, source, SourceType::ts().with_module(true)).parse()
        }
        _ => Parser::new(&allocator, source, SourceType::mjs()).parse(),
    };
    if !ret.diagnostics.is_empty() || ret.panicked {
        let mut errors: Vec<(u32, String)> = ret
            .diagnostics
            .iter()
            .map(|d| {
                let offset = d.labels.first().map_or(0, |l| l.offset());
                (offset, d.message.to_string())
            })
            .collect();
        if errors.is_empty() {
            errors.push((0, "the module could not be parsed".to_owned()));
        }
        return Scanned::Syntax(errors);
    }
    let semantic = SemanticBuilder::new().build(&ret.program);
    let scoping = semantic.semantic.into_scoping();
    let mut aliases = Aliases::new(&scoping);
    let mut import_names = Vec::new();
    seed_imports(&ret.program, &mut aliases, imported, &mut import_names);
    let mut binder = Binder { aliases };
    // Twice: an alias may be used (in a function) above the line that declares it.
    binder.visit_program(&ret.program);
    binder.visit_program(&ret.program);
    let mut scanner = Scanner {
        aliases: binder.aliases,
        facts: Facts {
            import_names,
            ..Facts::default()
        },
        in_typeof: false,
    };
    scanner.visit_program(&ret.program);
    Scanned::Facts(scanner.facts)
}

/// Pass 2: the facts.
struct Scanner<'s> {
    aliases: Aliases<'s>,
    facts: Facts,
    in_typeof: bool,
}

impl Scanner<'_> {
    fn host_use(&mut self, api: Api, offset: u32, arg: Option<Arg>, sure: bool) {
        self.facts.referenced.insert(api.class());
        self.facts.host_uses.push(HostUse {
            api,
            offset,
            arg,
            doubt: (!sure).then_some(Doubt::MaybeOther),
        });
    }

    fn dynamic_access(&mut self, offset: u32, sym: Sym, what: DynamicAccess) {
        self.facts.referenced = self.facts.referenced.union(sym.reach());
        self.facts.dynamic_access.push((offset, what));
    }

    /// `sym` used as a value (not called, not the object of a member access).
    fn value(&mut self, sym: Sym, offset: u32) {
        if self.in_typeof {
            return;
        }
        match sym {
            Sym::Api(a) | Sym::ApiIndirect(a) => {
                self.facts.referenced.insert(a.class());
                self.facts.host_uses.push(HostUse {
                    api: a,
                    offset,
                    arg: None,
                    doubt: Some(Doubt::Value),
                });
            }
            Sym::Eval => self.facts.dynamic_code.push((offset, DynamicCode::Eval)),
            Sym::FunctionCtor => self
                .facts
                .dynamic_code
                .push((offset, DynamicCode::Function)),
            Sym::Require => {}
            container => {
                self.dynamic_access(offset, container, DynamicAccess::Escapes(sym.describe()))
            }
        }
    }

    /// `m`, whose object evaluates to `obj`.
    fn host_member(&mut self, m: &MemberExpression<'_>, obj: Sym) {
        let start = m.span().start;
        if matches!(obj, Sym::Eval | Sym::FunctionCtor) {
            // `Function.call` as a value is `Function.prototype.call` (core-js's
            // `ctx(Function.call, f)` calls `f`): only calling it builds code.
            return;
        }
        match m {
            MemberExpression::StaticMemberExpression(s) => {
                if let Some(sym) = member(obj, &s.property.name) {
                    self.value(sym, start);
                }
            }
            MemberExpression::ComputedMemberExpression(c) => match literal_str(&c.expression) {
                Some(k) => {
                    if let Some(sym) = member(obj, k) {
                        self.value(sym, start);
                    }
                }
                None => {
                    if obj.is_container() && !self.in_typeof {
                        self.dynamic_access(start, obj, DynamicAccess::Computed(obj.describe()));
                    }
                    let saved = std::mem::replace(&mut self.in_typeof, false);
                    self.visit_expression(&c.expression);
                    self.in_typeof = saved;
                }
            },
            MemberExpression::PrivateFieldExpression(_) => {}
        }
    }

    fn first_arg(&self, api: Api, args: &[Argument<'_>]) -> Option<Arg> {
        let first = args.first()?.as_expression()?;
        if api == Api::Listen {
            return listen_arg(first);
        }
        literal_str(first).map(|v| Arg::Text {
            value: v.to_owned(),
            offset: first.span().start,
        })
    }

    /// The first element of the array literal `args` (`f.apply(this, [a])`).
    fn array_first_arg(&self, api: Api, args: Option<&Argument<'_>>) -> Option<Arg> {
        let Some(Expression::ArrayExpression(array)) = args
            .and_then(|a| a.as_expression())
            .map(|e| e.get_inner_expression())
        else {
            return None;
        };
        let first = match array.elements.first()? {
            ArrayExpressionElement::SpreadElement(_) | ArrayExpressionElement::Elision(_) => {
                return None;
            }
            e => e.as_expression()?,
        };
        if api == Api::Listen {
            return listen_arg(first);
        }
        literal_str(first).map(|v| Arg::Text {
            value: v.to_owned(),
            offset: first.span().start,
        })
    }

    /// `Reflect.apply(f, this, [a])` (the global `Reflect`) with `f` a host function, `eval` or
    /// `Function`: reported like `f(a)`. Whether it was one.
    fn reflect_apply(&mut self, c: &CallExpression<'_>) -> bool {
        let Some(m) = c.callee.get_inner_expression().as_member_expression() else {
            return false;
        };
        let method = m.static_property_name();
        let Expression::Identifier(reflect) = m.object().get_inner_expression() else {
            return false;
        };
        if reflect.name != "Reflect"
            || !self.aliases.is_global(reflect)
            || !matches!(method, Some("apply" | "construct"))
        {
            return false;
        }
        let Some(target) = c
            .arguments
            .first()
            .and_then(|a| a.as_expression())
            .and_then(|e| self.aliases.eval_val(e))
        else {
            return false;
        };
        let args_index = if method == Some("apply") { 2 } else { 1 };
        match target.sym {
            Sym::Api(api) | Sym::ApiIndirect(api) => {
                let arg = self.array_first_arg(api, c.arguments.get(args_index));
                self.host_use(api, c.span.start, arg, target.sure);
            }
            Sym::Eval => self
                .facts
                .dynamic_code
                .push((c.span.start, DynamicCode::Eval)),
            Sym::FunctionCtor => self
                .facts
                .dynamic_code
                .push((c.span.start, DynamicCode::Function)),
            _ => return false,
        }
        self.visit_args(c.arguments.get(1..).unwrap_or(&[]));
        true
    }

    fn visit_args(&mut self, args: &[Argument<'_>]) {
        for a in args {
            self.visit_argument(a);
        }
    }

    /// Reports computed, non-literal keys of an object pattern destructuring `sym`.
    fn check_pattern(&mut self, pattern: &BindingPattern<'_>, sym: Sym) {
        match pattern {
            BindingPattern::ObjectPattern(o) => {
                for p in &o.properties {
                    match p.key.static_name() {
                        Some(k) => {
                            if let Some(child) = member(sym, &k) {
                                self.check_pattern(&p.value, child);
                            }
                        }
                        None if sym.is_container() => self.dynamic_access(
                            p.span.start,
                            sym,
                            DynamicAccess::Computed(sym.describe()),
                        ),
                        None => {}
                    }
                }
            }
            BindingPattern::AssignmentPattern(a) => self.check_pattern(&a.left, sym),
            BindingPattern::BindingIdentifier(_) | BindingPattern::ArrayPattern(_) => {}
        }
    }
}

/// `{hostname: "127.0.0.1", port: 9000}`, or `{port: 9000}` (the runtime's default hostname),
/// checked as the runtime checks it ([`aether_policy::Grant::check_listen_host`]).
fn listen_arg(e: &Expression<'_>) -> Option<Arg> {
    let Expression::ObjectExpression(o) = e.get_inner_expression() else {
        return None;
    };
    let (mut host, mut port) = (Some(aether_policy::DEFAULT_LISTEN_HOSTNAME), None);
    for p in &o.properties {
        let ObjectPropertyKind::ObjectProperty(p) = p else {
            return None;
        };
        match p.key.static_name().as_deref() {
            Some("hostname") => host = literal_str(&p.value),
            Some("port") => match p.value.get_inner_expression() {
                Expression::NumericLiteral(n)
                    if n.value.fract() == 0.0 && (0.0..=65535.0).contains(&n.value) =>
                {
                    port = Some(n.value as u16)
                }
                _ => return None,
            },
            Some(_) => {}
            // A computed key (`[k]: "0.0.0.0"`) may be `hostname` or `port`.
            None => return None,
        }
    }
    Some(Arg::Listen {
        hostname: host?.to_owned(),
        port: port?,
        offset: e.span().start,
    })
}

impl<'a> Visit<'a> for Scanner<'_> {
    /// Types are erased before anything runs: `typeof fetch` in a type uses nothing.
    fn visit_ts_type(&mut self, _: &TSType<'a>) {}

    fn visit_import_declaration(&mut self, it: &ImportDeclaration<'a>) {
        self.facts.imports.push(Import {
            specifier: it.source.value.to_string(),
            offset: it.source.span.start,
            kind: ImportKind::Static,
        });
    }

    fn visit_export_from_declaration(&mut self, it: &ExportFromDeclaration<'a>) {
        self.facts.imports.push(Import {
            specifier: it.source.value.to_string(),
            offset: it.source.span.start,
            kind: ImportKind::ExportFrom,
        });
        for spec in &it.specifiers {
            self.facts.exports.push(Export::From {
                name: spec.exported.name().to_string(),
                specifier: it.source.value.to_string(),
                imported: spec.local.name().to_string(),
            });
        }
    }

    fn visit_export_all_declaration(&mut self, it: &ExportAllDeclaration<'a>) {
        self.facts.imports.push(Import {
            specifier: it.source.value.to_string(),
            offset: it.source.span.start,
            kind: ImportKind::ExportFrom,
        });
        if it.exported.is_none() {
            self.facts.exports.push(Export::All {
                specifier: it.source.value.to_string(),
            });
        }
    }

    /// `export { f as g }`: a host reference exported is followed into its importers (issue
    /// 24), not reported as escaping.
    fn visit_export_named_declaration(&mut self, it: &ExportNamedDeclaration<'a>) {
        for spec in &it.specifiers {
            if let ModuleExportName::IdentifierReference(id) = &spec.local
                && let Some(val) = self.aliases.lookup(id)
            {
                self.facts.exports.push(Export::Local {
                    name: spec.exported.name().to_string(),
                    val,
                });
                continue;
            }
            self.visit_export_specifier(spec);
        }
    }

    /// `export const f = aether.fs`: exported aliases are followed into importers.
    fn visit_export_declaration(&mut self, it: &ExportDeclaration<'a>) {
        if let Declaration::VariableDeclaration(v) = &it.declaration {
            for d in &v.declarations {
                if let BindingPattern::BindingIdentifier(id) = &d.id
                    && let Some(val) = id
                        .symbol_id
                        .get()
                        .and_then(|s| self.aliases.symbols.get(&s).copied())
                {
                    self.facts.exports.push(Export::Local {
                        name: id.name.to_string(),
                        val,
                    });
                }
            }
        }
        walk::walk_export_declaration(self, it);
    }

    /// `export default fetch`: followed into importers.
    fn visit_export_default_declaration(&mut self, it: &ExportDefaultDeclaration<'a>) {
        if let Some(e) = it.declaration.as_expression()
            && let Some(val) = self.aliases.eval_val(e)
        {
            self.facts.exports.push(Export::Local {
                name: "default".to_owned(),
                val,
            });
            self.visit_alias_source(e);
            return;
        }
        walk::walk_export_default_declaration(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        match literal_str(&it.source) {
            Some(s) => self.facts.imports.push(Import {
                specifier: s.to_owned(),
                offset: it.source.span().start,
                kind: ImportKind::Dynamic,
            }),
            None => {
                self.facts
                    .dynamic_code
                    .push((it.span.start, DynamicCode::Import));
                self.visit_expression(&it.source);
            }
        }
        if let Some(o) = &it.options {
            self.visit_expression(o);
        }
    }

    fn visit_call_expression(&mut self, c: &CallExpression<'a>) {
        if self.reflect_apply(c) {
            return;
        }
        let callee = self.aliases.eval_val(&c.callee);
        if let Some(v) = callee
            && returns_this(v.sym, &c.arguments)
        {
            // `Function("return this")`: literal code, the global object.
            return;
        }
        match callee.map(|v| (v.sym, v.sure)) {
            Some((Sym::Api(api), sure)) => {
                let arg = self.first_arg(api, &c.arguments);
                self.host_use(api, c.span.start, arg, sure);
            }
            Some((Sym::ApiIndirect(api), sure)) => {
                // `f.call(this, a)`, `f.apply(this, [a])`: the argument after `this`.
                let method = c
                    .callee
                    .get_inner_expression()
                    .as_member_expression()
                    .and_then(|m| m.static_property_name());
                let arg = match method {
                    Some("call") => self.first_arg(api, c.arguments.get(1..).unwrap_or(&[])),
                    Some("apply") => self.array_first_arg(api, c.arguments.get(1)),
                    _ => None,
                };
                self.host_use(api, c.span.start, arg, sure);
            }
            Some((Sym::Eval, _)) => self
                .facts
                .dynamic_code
                .push((c.span.start, DynamicCode::Eval)),
            Some((Sym::FunctionCtor, _)) => self
                .facts
                .dynamic_code
                .push((c.span.start, DynamicCode::Function)),
            Some((Sym::Require, _)) => {
                let arg = c
                    .arguments
                    .first()
                    .and_then(|a| a.as_expression())
                    .and_then(literal_str)
                    .map(str::to_owned);
                self.facts.requires.push((c.span.start, arg));
            }
            Some(_) => {}
            None => return walk::walk_call_expression(self, c),
        }
        self.visit_args(&c.arguments);
    }

    fn visit_conditional_expression(&mut self, c: &ConditionalExpression<'a>) {
        self.visit_test(&c.test);
        self.visit_expression(&c.consequent);
        self.visit_expression(&c.alternate);
    }

    fn visit_if_statement(&mut self, it: &IfStatement<'a>) {
        self.visit_test(&it.test);
        self.visit_statement(&it.consequent);
        if let Some(alternate) = &it.alternate {
            self.visit_statement(alternate);
        }
    }

    fn visit_binary_expression(&mut self, b: &BinaryExpression<'a>) {
        // `x instanceof Function` compares; it runs no code.
        if b.operator == BinaryOperator::Instanceof
            && matches!(
                self.aliases.eval(&b.right),
                Some(Sym::FunctionCtor | Sym::Eval)
            )
        {
            self.visit_expression(&b.left);
            return;
        }
        // `this !== root`, `x === globalThis`: comparing identity uses nothing.
        if b.operator.is_equality() {
            self.visit_test(&b.left);
            self.visit_test(&b.right);
            return;
        }
        walk::walk_binary_expression(self, b);
    }

    // `import x = require("y")` (CommonJS TypeScript) compiles to `const x = require("y")`.
    fn visit_ts_import_equals_declaration(&mut self, d: &TSImportEqualsDeclaration<'a>) {
        if let TSModuleReference::ExternalModuleReference(r) = &d.module_reference
            && d.import_kind.is_value()
        {
            self.facts
                .requires
                .push((d.span.start, Some(r.expression.value.to_string())));
        }
    }

    fn visit_new_expression(&mut self, n: &NewExpression<'a>) {
        let ctor = self.aliases.eval(&n.callee);
        if ctor == Some(Sym::FunctionCtor) && returns_this(Sym::FunctionCtor, &n.arguments) {
            // `new Function("return this")`: literal code, the global object.
            return;
        }
        if ctor == Some(Sym::FunctionCtor) {
            self.facts
                .dynamic_code
                .push((n.span.start, DynamicCode::Function));
            self.visit_args(&n.arguments);
        } else {
            walk::walk_new_expression(self, n);
        }
    }

    fn visit_identifier_reference(&mut self, id: &IdentifierReference<'a>) {
        if let Some(v) = self.aliases.lookup(id) {
            self.value(v.sym, id.span.start);
        }
    }

    fn visit_member_expression(&mut self, m: &MemberExpression<'a>) {
        // The chain `base.p1[p2].p3…`, outermost first, evaluated once from the base outwards:
        // evaluating each level on its own would be quadratic in the chain's length.
        let mut chain: Vec<&MemberExpression<'a>> = vec![m];
        let mut base = m.object();
        while let Some(inner) = base.get_inner_expression().as_member_expression() {
            chain.push(inner);
            base = inner.object();
        }
        let mut sym = self.aliases.eval(base);
        // The outermost level whose object is a host reference, with that reference.
        let mut host_level = None;
        for (level, member_expr) in chain.iter().enumerate().rev() {
            match sym {
                Some(obj) => {
                    host_level = Some((level, obj));
                    sym = member_key(member_expr).and_then(|k| member(obj, k));
                }
                None => sym = None,
            }
        }
        let upto = match host_level {
            None => {
                // Nothing host-related: visit the base and every computed key.
                self.visit_expression(base);
                chain.len()
            }
            Some((level, obj)) => {
                self.host_member(chain[level], obj);
                level
            }
        };
        for member_expr in chain.iter().take(upto) {
            match member_expr {
                MemberExpression::ComputedMemberExpression(c) => {
                    self.visit_expression(&c.expression)
                }
                MemberExpression::PrivateFieldExpression(_)
                | MemberExpression::StaticMemberExpression(_) => {}
            }
        }
    }

    fn visit_unary_expression(&mut self, u: &UnaryExpression<'a>) {
        if u.operator == UnaryOperator::Typeof {
            let saved = std::mem::replace(&mut self.in_typeof, true);
            walk::walk_unary_expression(self, u);
            self.in_typeof = saved;
        } else {
            walk::walk_unary_expression(self, u);
        }
    }

    fn visit_variable_declarator(&mut self, d: &VariableDeclarator<'a>) {
        let bindable = matches!(
            d.id,
            BindingPattern::BindingIdentifier(_)
                | BindingPattern::ObjectPattern(_)
                | BindingPattern::AssignmentPattern(_)
        );
        if bindable
            && let Some(init) = d.init.as_ref()
            && let Some(sym) = self.aliases.eval(init)
        {
            // An alias: its uses are reported where they happen.
            self.check_pattern(&d.id, sym);
            self.visit_binding_pattern(&d.id);
            self.visit_alias_source(init);
            return;
        }
        walk::walk_variable_declarator(self, d);
    }

    fn visit_assignment_expression(&mut self, a: &AssignmentExpression<'a>) {
        let start = a.span.start;
        match &a.left {
            AssignmentTarget::AssignmentTargetIdentifier(id) => {
                let name = id.name.as_str();
                if self.aliases.is_global(id)
                    && let Some(sym) = global(name)
                {
                    self.dynamic_access(start, sym, DynamicAccess::Reassigned(name.to_owned()));
                }
                if self.aliases.eval(&a.right).is_some() {
                    // An alias (collected by the first pass): visit only what is not it.
                    self.visit_alias_source(&a.right);
                    return;
                }
                self.visit_expression(&a.right);
            }
            target => {
                if let Some(m) = target.as_member_expression()
                    && let Some(obj) = self.aliases.eval(m.object())
                    && (self.aliases.eval_member(m).is_some()
                        || (obj.is_container() && member_key(m).is_none()))
                {
                    // Replacing a host name (`globalThis.fetch = …`), or a computed key that
                    // may be one. Other members (`globalThis.Handlebars = …`, a UMD export)
                    // touch no host reference.
                    let what = match m.static_property_name() {
                        Some(p) => format!("{}.{p}", obj.describe()),
                        None => obj.describe().to_owned(),
                    };
                    self.dynamic_access(start, obj, DynamicAccess::Reassigned(what));
                    if let MemberExpression::ComputedMemberExpression(c) = m {
                        self.visit_expression(&c.expression);
                    }
                    self.visit_expression(&a.right);
                    return;
                }
                walk::walk_assignment_expression(self, a);
            }
        }
    }
}

impl Scanner<'_> {
    /// A condition or a comparison: `if (globalThis.fetch)`, `aether.listen ? … : …`,
    /// `this !== root` test for presence or identity and use nothing; any other operand is
    /// visited as usual.
    fn visit_test(&mut self, test: &Expression<'_>) {
        if self.aliases.eval(test).is_none() {
            self.visit_expression(test);
        }
    }

    /// Visits the parts of an alias's value that are not the host reference itself: the test
    /// of `?:`, the other side of `||`, the expressions before the last of a sequence.
    fn visit_alias_source(&mut self, e: &Expression<'_>) {
        match e.get_inner_expression() {
            Expression::ConditionalExpression(c) => {
                self.visit_test(&c.test);
                for branch in [&c.consequent, &c.alternate] {
                    if self.aliases.eval(branch).is_some() {
                        self.visit_alias_source(branch);
                    } else {
                        self.visit_expression(branch);
                    }
                }
            }
            Expression::LogicalExpression(l) => {
                for side in [&l.left, &l.right] {
                    if self.aliases.eval(side).is_some() {
                        self.visit_alias_source(side);
                    } else {
                        self.visit_expression(side);
                    }
                }
            }
            Expression::SequenceExpression(s) => {
                if let Some((last, rest)) = s.expressions.split_last() {
                    for x in rest {
                        self.visit_expression(x);
                    }
                    self.visit_alias_source(last);
                }
            }
            Expression::AssignmentExpression(a) => self.visit_assignment_expression(a),
            Expression::CallExpression(c) => {
                // `f.bind(x)`, `Function("return this")()`: the arguments.
                self.visit_args(&c.arguments);
            }
            _ => {}
        }
    }
}
