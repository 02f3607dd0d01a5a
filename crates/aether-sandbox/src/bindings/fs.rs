//! `aether.fs`: each function turns its arguments into the one [`HostRequest`] it stands for;
//! the host checks and performs it (reads through the grant's witnesses, writes into the
//! overlay).

use std::sync::Arc;

use aether_protocol::HostRequest;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray, Value};

use super::args::{grant_first, named_target, not_a_string, target_arg, usv_string};
use super::host_call;
use crate::gate::Gate;
use crate::sys;

/// The call an `aether.fs` function that takes only a path stands for.
type PathRequest = fn(String) -> HostRequest;

/// The call an `aether.fs` function that takes a path and data stands for.
type DataRequest = fn(String, Vec<u8>) -> HostRequest;

/// The `aether.fs` object (not frozen yet: the caller freezes `aether` whole).
pub(super) fn object<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<Object<'js>> {
    let fs = Object::new(ctx.clone())?;
    let path_functions: [(&'static str, PathRequest); 7] = [
        ("readText", |path| HostRequest::ReadText { path }),
        ("readBytes", |path| HostRequest::ReadBytes { path }),
        ("list", |path| HostRequest::List { path }),
        ("stat", |path| HostRequest::Stat { path }),
        ("exists", |path| HostRequest::Exists { path }),
        ("mkdir", |path| HostRequest::Mkdir { path }),
        ("remove", |path| HostRequest::Remove { path }),
    ];
    for (name, request) in path_functions {
        fs.set(name, path_fn(ctx, gate, name, request)?)?;
    }
    let write: DataRequest = |path, data| HostRequest::Write { path, data };
    let append: DataRequest = |path, data| HostRequest::Append { path, data };
    for (name, data, request) in [
        ("writeText", Data::Text, write),
        ("writeBytes", Data::Bytes, write),
        ("appendText", Data::Text, append),
    ] {
        fs.set(name, data_fn(ctx, gate, name, data, request)?)?;
    }
    Ok(fs)
}

/// An `aether.fs` function that takes only a path: `request` makes its call.
fn path_fn<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    name: &'static str,
    request: PathRequest,
) -> Result<Function<'js>> {
    let gate = Arc::clone(gate);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, path: Opt<Value<'js>>| -> Result<Value<'js>> {
            let path = target_arg(&ctx, &gate, name, "path", path.0, request)?;
            host_call(&ctx, &gate, request(path))
        },
    )?
    .with_name(name)
}

/// What an `aether.fs` function that writes takes as its data.
#[derive(Clone, Copy)]
enum Data {
    /// A string, written as UTF-8.
    Text,
    /// A `Uint8Array`.
    Bytes,
}

/// An `aether.fs` function that takes a path and data: `request` makes its call.
fn data_fn<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    name: &'static str,
    kind: Data,
    request: DataRequest,
) -> Result<Function<'js>> {
    let gate = Arc::clone(gate);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, path: Opt<Value<'js>>, data: Opt<Value<'js>>| -> Result<Value<'js>> {
            let (path, path_problem) = match path.0.as_ref().and_then(Value::as_string) {
                Some(s) => (Some(usv_string(&ctx, s)?), None),
                None => (
                    named_target(path.0.clone())?,
                    Some(not_a_string(name, "path", path.0.as_ref())),
                ),
            };
            let data = match kind {
                Data::Text => match data.0.as_ref().and_then(Value::as_string) {
                    Some(s) => Ok(usv_string(&ctx, s)?.into_bytes()),
                    None => Err(not_a_string(name, "data", data.0.as_ref())),
                },
                Data::Bytes => data
                    .0
                    .and_then(|v| TypedArray::<u8>::from_value(v).ok())
                    .and_then(|a| sys::copy_bytes(&a))
                    .ok_or_else(|| format!("aether.fs.{name}: data must be a Uint8Array")),
            };
            // The path's own problem first, as before.
            match (path, path_problem.map_or(data, Err)) {
                (Some(path), Ok(data)) => host_call(&ctx, &gate, request(path, data)),
                (Some(path), Err(problem)) => {
                    Err(grant_first(&ctx, &gate, request(path, Vec::new()), problem))
                }
                (None, Err(problem)) => Err(Exception::throw_type(&ctx, &problem)),
                (None, Ok(_)) => Err(Exception::throw_type(
                    &ctx,
                    &not_a_string(name, "path", None),
                )),
            }
        },
    )?
    .with_name(name)
}
