//! `aether.process.run`'s native half (the prelude checks the arguments): one confined child
//! process, run by the host.

use std::cell::RefCell;
use std::rc::Rc;

use aether_protocol::HostRequest;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Promise, Result, TypedArray, Value};

use super::args::{malformed, usv_string, whole_ms};
use crate::sys;
use crate::tasks::SlowCalls;

/// The native half of `aether.process.run` (the prelude checks the arguments):
/// `(command, [args...], stdin: Uint8Array, timeoutMs?, cwd?, problem?)` → a promise of
/// `{code, signal, stdout, stderr}`. With `problem`, the host only checks the command and `cwd`
/// first ([`HostRequest::Malformed`]) and the promise rejects.
pub(super) fn run_fn<'js>(
    ctx: &Ctx<'js>,
    calls: &Rc<RefCell<SlowCalls<'js>>>,
) -> Result<Function<'js>> {
    let calls = Rc::clone(calls);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              command: String,
              args: Vec<String>,
              stdin: TypedArray<'js, u8>,
              timeout_ms: Opt<Value<'js>>,
              cwd: Opt<Value<'js>>,
              problem: Opt<Value<'js>>|
              -> Result<Promise<'js>> {
            let request = HostRequest::Run {
                command,
                args,
                stdin: sys::copy_bytes(&stdin).unwrap_or_default(),
                timeout_ms: whole_ms(timeout_ms.0),
                cwd: match cwd.0.as_ref().and_then(Value::as_string) {
                    Some(dir) => Some(usv_string(&ctx, dir)?),
                    None => None,
                },
            };
            let request = malformed(&ctx, request, problem.0)?;
            calls.borrow_mut().start(&ctx, request)
        },
    )
}
