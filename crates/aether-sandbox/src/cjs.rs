//! CommonJS and JSON modules (SPEC §5), on top of the host's resolution.
//!
//! The host says what kind each module is; an ES module is compiled as it is, and the other
//! kinds get a small ES module standing in for them (so that `import` and the module graph
//! stay QuickJS's own): a JSON module's default export is its parsed value, a CommonJS module's
//! default export is its `module.exports` and its other exports are the names the host found
//! statically. CommonJS itself runs in `cjs.js`: one registry per step, `require` a synchronous
//! host call that resolves with Node's CommonJS algorithm, still only inside the plugin.
//! Nothing here reads a file or decides what may be loaded.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use aether_policy::ModuleKind;
use aether_protocol::ResolveMode;
use aether_protocol::{HostRequest, HostValue};
use rquickjs::context::EvalOptions;
use rquickjs::function::Opt;
use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Exception, Function, Module, Object, Persistent, Value};

use crate::errors::throw_host_error;
use crate::gate::Gate;

/// A module the host has served and QuickJS has not compiled yet.
pub(crate) struct Served {
    pub(crate) source: String,
    pub(crate) kind: ModuleKind,
    pub(crate) exports: Vec<String>,
}

/// An ES module `require`d by CommonJS (Node 22's `require(esm)`), handed from the native
/// `importSync` to the resolver, which serves it to the one helper module importing it.
pub(crate) struct Preresolved {
    /// The helper module's name.
    pub(crate) helper: String,
    /// The ES module's canonical name.
    pub(crate) name: String,
    /// Its source.
    pub(crate) source: String,
}

/// What the resolver, the loader and the CommonJS natives share within one runtime.
#[derive(Default)]
pub(crate) struct Shared {
    /// Served, not yet compiled, by canonical name.
    pub(crate) pending: RefCell<std::collections::HashMap<String, Served>>,
    /// Names already compiled (QuickJS caches them; their sources need not be kept again).
    pub(crate) loaded: RefCell<std::collections::HashSet<String>>,
    /// See [`Preresolved`].
    pub(crate) preresolved: RefCell<Option<Preresolved>>,
    /// Helper modules made so far (their names are numbered).
    helpers: Cell<u64>,
}

/// The step's CommonJS runtime (`cjs.js`'s `load`), made on first use. Held apart from
/// [`Shared`] (which the natives capture), so that no reference cycle keeps it alive; the
/// engine empties it before the context goes.
pub(crate) type RuntimeSlot = Rc<RefCell<Option<Persistent<Function<'static>>>>>;

/// `import.meta.url` of module `name` (SPEC §5).
pub(crate) fn plugin_url(name: &str) -> String {
    format!("aether-plugin:/{name}")
}

/// The ES module standing in for the CommonJS module `name`: its default export is
/// `module.exports`, and each statically found name is exported as `module.exports[name]`
/// read once the module has run (as Node does, an own property only).
pub(crate) fn commonjs_facade(exports: &[String]) -> String {
    let mut text = String::from(
        "const m = import.meta.load(import.meta.name, import.meta.source);\ndelete import.meta.source;\nexport default m;\nconst own = (k) => m !== null && (typeof m === \"object\" || typeof m === \"function\") && Object.prototype.hasOwnProperty.call(m, k) ? m[k] : undefined;\n",
    );
    for (i, name) in exports.iter().enumerate() {
        let quoted = serde_json::to_string(name).unwrap_or_default();
        text.push_str(&format!(
            "const e{i} = own({quoted});\nexport {{ e{i} as {quoted} }};\n"
        ));
    }
    text
}

/// The ES module standing in for a JSON module: its default export is the parsed value.
pub(crate) const JSON_FACADE: &str = "export default import.meta.value;\n";

/// Parses `source` of the JSON module `name`; a syntax error names the file.
pub(crate) fn parse_json<'js>(
    ctx: &Ctx<'js>,
    source: &str,
    name: &str,
) -> rquickjs::Result<Value<'js>> {
    ctx.json_parse(source.to_owned()).map_err(|e| {
        let detail = match e {
            rquickjs::Error::Exception => {
                let thrown = ctx.catch();
                crate::errors::describe_thrown(ctx, &thrown)
            }
            other => other.to_string(),
        };
        Exception::throw_syntax(ctx, &format!("{name}: {detail}"))
    })
}

/// The step's CommonJS `load(name, source)`, made (and kept in `slot`) on first use.
pub(crate) fn runtime<'js>(
    ctx: &Ctx<'js>,
    slot: &RuntimeSlot,
    shared: &Rc<Shared>,
    gate: &Arc<Gate>,
) -> rquickjs::Result<Function<'js>> {
    if let Some(saved) = slot.borrow().as_ref() {
        return saved.clone().restore(ctx);
    }
    let natives = Object::new(ctx.clone())?;
    let resolve_gate = Arc::clone(gate);
    natives.set(
        "resolve",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  id: String,
                  referrer: String|
                  -> rquickjs::Result<Vec<Value<'js>>> {
                let request = HostRequest::LoadModule {
                    specifier: id,
                    referrer: Some(referrer),
                    mode: ResolveMode::Require,
                    with_type: None,
                };
                match resolve_gate.call(request) {
                    Ok(HostValue::Module {
                        name, source, kind, ..
                    }) => Ok(vec![
                        rquickjs::String::from_str(ctx.clone(), &name)?.into_value(),
                        rquickjs::String::from_str(ctx.clone(), kind.as_str())?.into_value(),
                        rquickjs::String::from_str(ctx.clone(), &source)?.into_value(),
                    ]),
                    Ok(_) => Err(Exception::throw_internal(
                        &ctx,
                        "the host answered a module request with something other than a module",
                    )),
                    Err(error) => Err(throw_host_error(&ctx, error)),
                }
            },
        )?,
    )?;
    natives.set(
        "compile",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, source: String, name: String| -> rquickjs::Result<Function<'js>> {
                compile(&ctx, &source, &name)
            },
        )?,
    )?;
    natives.set(
        "json",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, source: String, name: String| -> rquickjs::Result<Value<'js>> {
                parse_json(&ctx, &source, &name)
            },
        )?,
    )?;
    let import_shared = Rc::clone(shared);
    natives.set(
        "importSync",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  name: String,
                  source: Opt<String>|
                  -> rquickjs::Result<Value<'js>> {
                import_sync(&ctx, &import_shared, name, source.0.unwrap_or_default())
            },
        )?,
    )?;
    let make: Function<'js> = ctx.eval(include_str!("cjs.js"))?;
    let load: Function<'js> = make.call((natives,))?;
    *slot.borrow_mut() = Some(Persistent::save(ctx, load.clone()));
    Ok(load)
}

/// Compiles the CommonJS module `name` as Node does: its source inside
/// `(function (exports, require, module, __filename, __dirname) { … })`, on the same first
/// line so that line numbers are the file's own, as sloppy-mode script code.
fn compile<'js>(ctx: &Ctx<'js>, source: &str, name: &str) -> rquickjs::Result<Function<'js>> {
    // A `#!` line is a comment to Node; inside the wrapper it would be a syntax error.
    let body = match source.strip_prefix("#!") {
        Some(rest) => format!("//{rest}"),
        None => source.to_owned(),
    };
    let text = format!("(function (exports, require, module, __filename, __dirname) {{{body}\n}})");
    let mut options = EvalOptions::default();
    options.strict = false;
    options.filename = Some(name.to_owned());
    ctx.eval_with_options(text, options)
}

/// `require` of an ES module (Node 22): linked and evaluated now, through a helper module that
/// imports it; its namespace is the result. A module graph with top-level `await` cannot be
/// required (as in Node): that is a `TypeError` saying to use `import()`.
fn import_sync<'js>(
    ctx: &Ctx<'js>,
    shared: &Rc<Shared>,
    name: String,
    source: String,
) -> rquickjs::Result<Value<'js>> {
    let n = shared.helpers.get() + 1;
    shared.helpers.set(n);
    let helper = format!("aether-require:{n}");
    let quoted = serde_json::to_string(&name).unwrap_or_default();
    *shared.preresolved.borrow_mut() = Some(Preresolved {
        helper: helper.clone(),
        name: name.clone(),
        source,
    });
    let text = format!("import * as ns from {quoted};\nimport.meta.ns = ns;\n");
    let declared = Module::declare(ctx.clone(), helper, text);
    let declared = match declared {
        Ok(d) => d,
        Err(e) => {
            shared.preresolved.borrow_mut().take();
            return Err(e);
        }
    };
    let meta = declared.meta()?;
    let evaluated = declared.eval();
    shared.preresolved.borrow_mut().take();
    let (_, promise) = evaluated?;
    match promise.state() {
        PromiseState::Rejected => match promise.result::<Value<'js>>() {
            Some(Err(thrown)) => Err(thrown),
            _ => Err(Exception::throw_internal(
                ctx,
                "a required ES module failed",
            )),
        },
        _ => match meta.get::<_, Value<'js>>("ns")? {
            ns if !ns.is_undefined() => Ok(ns),
            _ => Err(Exception::throw_type(
                ctx,
                &format!(
                    "require() cannot load the ES module `{name}`: it (or a module it imports) uses top-level `await`; use `import()` instead"
                ),
            )),
        },
    }
}
