//! `aether.env.get` and `aether.secret`: a variable's value when granted, and a secret's
//! per-step placeholder (never its value, SPEC §5), both answered by the host.

use std::sync::Arc;

use aether_protocol::HostRequest;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Object, Result, Value};

use super::args::target_arg;
use super::host_call;
use crate::gate::Gate;

/// The `aether.env` object (not frozen yet).
pub(super) fn object<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<Object<'js>> {
    let env = Object::new(ctx.clone())?;
    let env_gate = Arc::clone(gate);
    let get = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, name: Opt<Value<'js>>| -> Result<Value<'js>> {
            let name = target_arg(&ctx, &env_gate, "aether.env.get", "name", name.0, |name| {
                HostRequest::EnvGet { name }
            })?;
            host_call(&ctx, &env_gate, HostRequest::EnvGet { name })
        },
    )?
    .with_name("get")?;
    env.set("get", get)?;
    Ok(env)
}

/// The `aether.secret` function (not frozen yet).
pub(super) fn secret_fn<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<Function<'js>> {
    let secret_gate = Arc::clone(gate);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, name: Opt<Value<'js>>| -> Result<Value<'js>> {
            let name = target_arg(
                &ctx,
                &secret_gate,
                "aether.secret",
                "name",
                name.0,
                |name| HostRequest::Secret { name },
            )?;
            host_call(&ctx, &secret_gate, HostRequest::Secret { name })
        },
    )?
    .with_name("secret")
}
