//! `require`: a global that exists only to throw the `module` violation (SPEC §5); modules
//! are loaded by the loader (`loader.rs`), through the host.

use std::sync::Arc;

use aether_policy::Capability;
use aether_protocol::{HostError, HostRequest};
use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Result, Value};

use crate::errors::{describe_value, throw_host_error};
use crate::gate::Gate;

/// Installs the `require` global.
pub(super) fn install<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<()> {
    let require_gate = Arc::clone(gate);
    let require = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, specifier: Opt<Value<'js>>| -> Result<Value<'js>> {
            Err(require(&ctx, &require_gate, specifier.0))
        },
    )?
    .with_name("require")?;
    ctx.globals().set("require", require)
}

/// `require(x)` always throws the `module` `PermissionDenied` (SPEC §5). It still tells the host
/// (`HostRequest::Require`) so that the host records the attempt; whatever the host replies,
/// the call throws, with the host's denial message when it gave one.
fn require<'js>(ctx: &Ctx<'js>, gate: &Gate, specifier: Option<Value<'js>>) -> rquickjs::Error {
    let specifier = match specifier {
        Some(v) => describe_value(ctx, &v),
        None => "undefined".into(),
    };
    let reply = gate.call(HostRequest::Require {
        specifier: specifier.clone(),
    });
    let error = match reply {
        Err(denied @ HostError::PermissionDenied { .. }) => denied,
        Err(limit @ HostError::LimitExceeded { .. }) => limit,
        _ => HostError::PermissionDenied {
            capability: Capability::Module,
            message: format!(
                "module denied for `{specifier}`: `require` is not available to plugins\n\nhint: use `import` with a relative specifier inside the plugin directory"
            ),
            target: specifier,
        },
    };
    throw_host_error(ctx, error)
}
