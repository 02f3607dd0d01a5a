//! Module resolution and loading, forwarded to the host.
//!
//! Every `import` (static or dynamic) and the entry module become one
//! `HostRequest::LoadModule { specifier, referrer }`; the host resolves and validates the
//! specifier and replies with the module's canonical name and verified source, which this side
//! only compiles. Nothing here reads a file or decides what may be imported. A denial is thrown
//! as the `PermissionDenied` error, so a dynamic `import()` rejects with it and a static import
//! fails the importing module.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use aether_host::{HostRequest, HostValue};
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Module};

use crate::errors::throw_host_error;
use crate::gate::Gate;

/// Sources the host has served but QuickJS has not compiled yet, by canonical name.
type Pending = Rc<RefCell<HashMap<String, String>>>;

/// The resolver/loader pair for one runtime.
pub(crate) fn host_loader(gate: Arc<Gate>) -> (HostResolver, HostLoader) {
    let pending = Pending::default();
    (
        HostResolver {
            gate,
            pending: Rc::clone(&pending),
        },
        HostLoader { pending },
    )
}

pub(crate) struct HostResolver {
    gate: Arc<Gate>,
    pending: Pending,
}

impl Resolver for HostResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        // `base` is the importing module's canonical name; empty for the entry module, which
        // the engine imports with no script running. Import attributes are ignored: every
        // module is loaded as an ES module whatever it claims to be (SPEC §5).
        let referrer = (!base.is_empty()).then(|| base.to_owned());
        let request = HostRequest::LoadModule {
            specifier: name.to_owned(),
            referrer,
        };
        match self.gate.call(request) {
            Ok(HostValue::Module { name, source }) => {
                self.pending.borrow_mut().insert(name.clone(), source);
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

pub(crate) struct HostLoader {
    pending: Pending,
}

impl Loader for HostLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        // QuickJS only loads a name our resolver just returned, so the source is here.
        let Some(source) = self.pending.borrow_mut().remove(name) else {
            return Err(Exception::throw_internal(
                ctx,
                &format!("module `{name}` was not served by the host"),
            ));
        };
        Module::declare(ctx.clone(), name, source)
    }
}
