//! The one bridge from host errors to JavaScript errors, and from JavaScript errors to text.

use aether_protocol::HostError;
use rquickjs::{Ctx, Exception, Object, Value};

/// Throws `error` in `ctx` as the JavaScript error SPEC §5 names, and returns the
/// [`rquickjs::Error::Exception`] to propagate. The only place a host error becomes a JavaScript
/// value (STYLE: "map a `Denial` to the JS `PermissionDenied` error in exactly one function"):
///
/// - `PermissionDenied` → an `Error` with `name === "PermissionDenied"` and own properties
///   `capability` and `target`, whose message says what was attempted, which manifest field
///   would grant it and what is granted now;
/// - `Failed` → a `TypeError` or an `Error`, as the host says;
/// - `LimitExceeded` → an `Error`; the gate has already marked the plugin as stopped, so the
///   interrupt handler ends it even if it catches this.
pub(crate) fn throw_host_error<'js>(ctx: &Ctx<'js>, error: HostError) -> rquickjs::Error {
    match host_error_value(ctx, error) {
        Ok(value) => ctx.throw(value),
        Err(e) => e,
    }
}

/// The JavaScript error value for `error` (see [`throw_host_error`]), for rejecting a promise.
pub(crate) fn host_error_value<'js>(
    ctx: &Ctx<'js>,
    error: HostError,
) -> rquickjs::Result<Value<'js>> {
    match error {
        HostError::PermissionDenied {
            capability,
            target,
            message,
        } => {
            let exception = Exception::from_message(ctx.clone(), &message)?;
            let object: &Object<'js> = exception.as_object();
            object.set("name", "PermissionDenied")?;
            object.set("capability", capability.as_str())?;
            object.set("target", target)?;
            Ok(exception.into_value())
        }
        HostError::Failed {
            type_error: true,
            message,
        } => {
            // The engine's own `TypeError` (not `globalThis.TypeError`, which the plugin may
            // have replaced): thrown, then caught back as a value.
            let thrown = Exception::throw_type(ctx, &message);
            if thrown.is_exception() {
                Ok(ctx.catch())
            } else {
                Err(thrown)
            }
        }
        HostError::Failed { message, .. } | HostError::LimitExceeded { message, .. } => {
            Ok(Exception::from_message(ctx.clone(), &message)?.into_value())
        }
    }
}

/// `String(value)`, plus the stack of an `Error`, for a step's error message. Runs no plugin
/// code beyond what `String()` does on a non-`Error` value (a `toString` the plugin wrote).
///
/// Capped at [`MAX_ERROR_BYTES`]: the message becomes the step's error, which aether keeps and
/// writes (issue 16).
pub(crate) fn describe_thrown<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    let described = describe_thrown_whole(ctx, value);
    match aether_protocol::cap_text(&described, MAX_ERROR_BYTES) {
        std::borrow::Cow::Borrowed(_) => described,
        std::borrow::Cow::Owned(capped) => capped,
    }
}

/// The most of a thrown value's description (message and stack) a step's error keeps, in bytes.
pub const MAX_ERROR_BYTES: usize = 16 * 1024;

fn describe_thrown_whole<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    let text = describe_value(ctx, value);
    let stack = value
        .as_object()
        .filter(|_| value.is_error())
        .and_then(|o| o.get::<_, Option<String>>("stack").ok().flatten())
        .filter(|s| !s.is_empty());
    match stack {
        Some(stack) => format!("{text}\n{}", stack.trim_end()),
        None => text,
    }
}

/// `String(value)`, or a placeholder if that throws.
pub(crate) fn describe_value<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    if value.is_symbol() {
        return "Symbol()".into();
    }
    match value.get::<rquickjs::convert::Coerced<String>>() {
        Ok(s) => s.0,
        Err(_) => {
            ctx.catch();
            "(a value that cannot be converted to a string)".into()
        }
    }
}

/// Takes the pending exception (after an `Err(Exception)`) and describes it.
pub(crate) fn take_exception(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    if error.is_exception() {
        let value = ctx.catch();
        describe_thrown(ctx, &value)
    } else {
        error.to_string()
    }
}
