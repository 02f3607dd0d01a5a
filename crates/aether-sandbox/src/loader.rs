//! Module resolution and loading, forwarded to the host.
//!
//! Every `import` (static or dynamic) and the entry module become one
//! `HostRequest::LoadModule { specifier, referrer, mode: Import, with_type }`; the host resolves
//! and validates the specifier and replies with the module's canonical name, its kind and its
//! verified source, which this side only compiles: an ES module as it is, a CommonJS or JSON
//! module through the stand-in ES module of `cjs.rs`. Nothing here reads a file or decides what
//! may be imported. A denial is thrown as the `PermissionDenied` error, so a dynamic `import()`
//! rejects with it and a static import fails the importing module. Every module's
//! `import.meta.url` is `aether-plugin:/<path in the plugin>` (SPEC §5).

use std::rc::Rc;
use std::sync::Arc;

use aether_policy::ModuleKind;
use aether_protocol::ResolveMode;
use aether_protocol::{HostRequest, HostValue};
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Module};

use crate::cjs::{self, RuntimeSlot, Served, Shared};
use crate::compiled;
use crate::errors::throw_host_error;
use crate::gate::Gate;

/// The resolver/loader pair for one runtime, and the slot holding its CommonJS runtime (which
/// the engine empties before the context goes).
pub(crate) fn host_loader(gate: Arc<Gate>) -> (HostResolver, HostLoader, RuntimeSlot) {
    let shared = Rc::new(Shared::default());
    let slot = RuntimeSlot::default();
    (
        HostResolver {
            gate: Arc::clone(&gate),
            shared: Rc::clone(&shared),
        },
        HostLoader {
            gate,
            shared,
            slot: Rc::clone(&slot),
        },
        slot,
    )
}

pub(crate) struct HostResolver {
    gate: Arc<Gate>,
    shared: Rc<Shared>,
}

impl Resolver for HostResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        // The ES module a CommonJS `require` asked for, imported by its helper module only:
        // the host has resolved and authorized it already.
        let handed = {
            let mut pre = self.shared.preresolved.borrow_mut();
            match pre.as_ref() {
                Some(p) if p.helper == base && p.name == name => pre.take(),
                _ => None,
            }
        };
        if let Some(p) = handed {
            self.serve(
                p.name.clone(),
                Served {
                    source: p.source,
                    kind: ModuleKind::Esm,
                    exports: Vec::new(),
                },
            );
            return Ok(p.name);
        }
        // `base` is the importing module's canonical name; empty for the entry module, which
        // the engine imports with no script running.
        let referrer = (!base.is_empty()).then(|| base.to_owned());
        let with_type = match attributes {
            Some(a) => a.get_type()?,
            None => None,
        };
        let request = HostRequest::LoadModule {
            specifier: name.to_owned(),
            referrer,
            mode: ResolveMode::Import,
            with_type,
        };
        match self.gate.call(request) {
            Ok(HostValue::Module {
                name,
                source,
                kind,
                exports,
            }) => {
                self.serve(
                    name.clone(),
                    Served {
                        source,
                        kind,
                        exports,
                    },
                );
                Ok(name)
            }
            Ok(_) => Err(Exception::throw_internal(
                ctx,
                "the host answered a module request with something other than a module",
            )),
            Err(error) => Err(throw_host_error(ctx, error)),
        }
    }
}

impl HostResolver {
    /// Keeps `served` for the loader, unless QuickJS has compiled `name` already (it then
    /// never asks the loader again).
    fn serve(&self, name: String, served: Served) {
        if !self.shared.loaded.borrow().contains(&name) {
            self.shared.pending.borrow_mut().insert(name, served);
        }
    }
}

pub(crate) struct HostLoader {
    gate: Arc<Gate>,
    shared: Rc<Shared>,
    slot: RuntimeSlot,
}

impl Loader for HostLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        // QuickJS only loads a name our resolver just returned, so the source is here.
        let Some(served) = self.shared.pending.borrow_mut().remove(name) else {
            return Err(Exception::throw_internal(
                ctx,
                &format!("module `{name}` was not served by the host"),
            ));
        };
        self.shared.loaded.borrow_mut().insert(name.to_owned());
        // Compiled once per process (compiled.rs).
        let memory = &self.gate.shared.meter;
        let module = match served.kind {
            ModuleKind::Esm => compiled::declare(ctx, name, served.source, memory)?,
            ModuleKind::Json => {
                let value = cjs::parse_json(ctx, &served.source, name)?;
                let module = compiled::declare(ctx, name, cjs::JSON_FACADE.to_owned(), memory)?;
                module.meta()?.set("value", value)?;
                module
            }
            ModuleKind::CommonJs => {
                let load = cjs::runtime(ctx, &self.slot, &self.shared, &self.gate)?;
                let facade = cjs::commonjs_facade(&served.exports);
                let module = compiled::declare(ctx, name, facade, memory)?;
                let meta = module.meta()?;
                meta.set("load", load)?;
                meta.set("name", name)?;
                meta.set("source", served.source)?;
                module
            }
        };
        module.meta()?.set("url", cjs::plugin_url(name))?;
        Ok(module)
    }
}
