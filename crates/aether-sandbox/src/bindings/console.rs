//! `console.log`, `info`, `warn`, `error` and `debug`: each formats its arguments into one line
//! and hands it to the host (`HostRequest::Log`), which prints it capped and escaped.

use std::sync::Arc;

use aether_protocol::HostRequest;
use rquickjs::function::Rest;
use rquickjs::{Ctx, Function, Object, Result, Value};

use super::host_call;
use crate::errors::{describe_thrown, describe_value};
use crate::gate::Gate;

/// Installs the `console` global.
pub(super) fn install<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<()> {
    let console = Object::new(ctx.clone())?;
    for level in ["log", "info", "warn", "error", "debug"] {
        let gate = Arc::clone(gate);
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> Result<Value<'js>> {
                let message = format_console(&ctx, &args.0);
                let request = HostRequest::Log {
                    level: level.to_owned(),
                    message,
                };
                host_call(&ctx, &gate, request)
            },
        )?
        .with_name(level)?;
        console.set(level, f)?;
    }
    ctx.globals().set("console", console)
}

/// `console.*` formatting: strings as they are, errors with their stack, other objects as JSON
/// when they can be, everything else through `String()`; arguments separated by spaces.
fn format_console<'js>(ctx: &Ctx<'js>, args: &[Value<'js>]) -> String {
    let mut line = String::new();
    for (i, value) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if let Some(s) = value.as_string() {
            line.push_str(&s.to_string().unwrap_or_default());
        } else if value.is_error() {
            line.push_str(&describe_thrown(ctx, value));
        } else if let Some(f) = value.as_function() {
            let name: String = f.get("name").unwrap_or_default();
            if name.is_empty() {
                line.push_str("[Function (anonymous)]");
            } else {
                line.push_str(&format!("[Function: {name}]"));
            }
        } else if value.is_big_int() {
            line.push_str(&describe_value(ctx, value));
            line.push('n');
        } else if value.is_object() {
            match ctx.json_stringify(value.clone()) {
                Ok(Some(json)) => line.push_str(&json.to_string().unwrap_or_default()),
                _ => {
                    ctx.catch();
                    line.push_str(&describe_value(ctx, value));
                }
            }
        } else {
            line.push_str(&describe_value(ctx, value));
        }
    }
    line
}
