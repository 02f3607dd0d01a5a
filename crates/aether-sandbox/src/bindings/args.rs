//! Arguments as the bindings receive them: strings as WebIDL's USVString, targets named by a
//! value that is not a string (for the grant check that comes first, SPEC §5), ids, times and
//! header pairs the prelude passes.

use aether_protocol::{HostError, HostRequest};
use rquickjs::convert::Coerced;
use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray, Value};

use crate::errors::throw_host_error;
use crate::gate::Gate;
use crate::sys;

/// A string argument naming a target (a path or a variable). Anything else is a `TypeError`
/// naming the function and the parameter, thrown after the host has checked the target the
/// value names, if it names one ([`named_target`], [`grant_first`]): `request` makes the call
/// for that target.
pub(super) fn target_arg<'js>(
    ctx: &Ctx<'js>,
    gate: &Gate,
    function: &str,
    param: &str,
    value: Option<Value<'js>>,
    request: impl FnOnce(String) -> HostRequest,
) -> Result<String> {
    match value.as_ref().and_then(Value::as_string) {
        Some(s) => usv_string(ctx, s),
        None => {
            let problem = not_a_string(function, param, value.as_ref());
            Err(match named_target(value)? {
                Some(target) => grant_first(ctx, gate, request(target), problem),
                None => Exception::throw_type(ctx, &problem),
            })
        }
    }
}

/// The `TypeError` message for a parameter that is not a string.
pub(super) fn not_a_string(function: &str, param: &str, value: Option<&Value<'_>>) -> String {
    let got = value.map_or("undefined", Value::type_name);
    let function = if function.contains('.') {
        function.to_owned()
    } else {
        format!("aether.fs.{function}")
    };
    format!("{function}: {param} must be a string, got {got}")
}

/// The target a non-string argument names, for the grant check that comes before its
/// `TypeError` (SPEC §5): a `Uint8Array` (Node's `Buffer` paths) its bytes as UTF-8, invalid
/// sequences as U+FFFD; a number, bigint or boolean its `String()`. Anything else (`undefined`,
/// `null`, a symbol, an object) names nothing. No plugin code runs.
pub(super) fn named_target(value: Option<Value<'_>>) -> Result<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.is_number() || value.is_big_int() || value.is_bool() {
        return Ok(Some(value.get::<Coerced<String>>()?.0));
    }
    Ok(TypedArray::<u8>::from_value(value)
        .ok()
        .and_then(|a| sys::copy_bytes(&a))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// SPEC §5, the grant is checked first: `request` (a call as far as it names a target) goes to
/// the host as [`HostRequest::Malformed`] with `problem`. The error to throw: the host's
/// `PermissionDenied` (its violation recorded) when the target is outside the grant, else the
/// `TypeError` for `problem`.
pub(super) fn grant_first<'js>(
    ctx: &Ctx<'js>,
    gate: &Gate,
    request: HostRequest,
    problem: String,
) -> rquickjs::Error {
    let error = match gate.call(HostRequest::Malformed {
        request: Box::new(request),
        problem: problem.clone(),
    }) {
        Err(error) => error,
        Ok(_) => HostError::Failed {
            type_error: true,
            message: problem,
        },
    };
    throw_host_error(ctx, error)
}

/// `request`, or [`HostRequest::Malformed`] around it when the prelude passed a `problem` (a
/// string: what it found wrong with the call's other arguments).
pub(super) fn malformed<'js>(
    ctx: &Ctx<'js>,
    request: HostRequest,
    problem: Option<Value<'js>>,
) -> Result<HostRequest> {
    Ok(match problem.as_ref().and_then(Value::as_string) {
        Some(problem) => HostRequest::Malformed {
            request: Box::new(request),
            problem: usv_string(ctx, problem)?,
        },
        None => request,
    })
}

/// The text of `s` as WebIDL's USVString conversion gives it: each lone surrogate becomes
/// U+FFFD, as Node's `fs` (UTF-8 encoding of a path), the URL parser and `TextEncoder` do. So
/// a path, variable name or URL that is not well-formed UTF-16 still names one target, which
/// the host checks against the grant first (SPEC §5), instead of failing the conversion with
/// no violation recorded.
///
/// It calls the realm's `String.prototype.toWellFormed`, looked up at each call: a captured
/// function would be held where QuickJS's collector cannot see it (a leak the runtime asserts
/// on at exit). A plugin that replaces it only changes which target its own argument names;
/// the host checks whatever target arrives.
pub(super) fn usv_string<'js>(ctx: &Ctx<'js>, s: &rquickjs::String<'js>) -> Result<String> {
    match s.to_string() {
        Err(rquickjs::Error::Utf8(_)) => {
            let string: Object<'js> = ctx.globals().get("String")?;
            let prototype: Object<'js> = string.get("prototype")?;
            let to_well_formed: Function<'js> = prototype.get("toWellFormed")?;
            let fixed: rquickjs::String<'js> =
                to_well_formed.call((rquickjs::function::This(s.clone()),))?;
            fixed.to_string()
        }
        other => other,
    }
}

/// An id or status the prelude passed as a number: whole and non-negative, else `u64::MAX`
/// (which names nothing).
pub(super) fn whole_id(value: f64) -> u64 {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 9_007_199_254_740_992.0
    {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked: a whole number from 0 to 2^53"
        )]
        let id = value as u64;
        id
    } else {
        u64::MAX
    }
}

/// `[[name, value]...]` as pairs; entries that are not pairs are dropped (the prelude's
/// `Headers` only makes pairs).
pub(super) fn header_pairs(headers: Vec<Vec<String>>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter_map(|pair| match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => Some((name, value)),
            Err(_) => None,
        })
        .collect()
}

/// A finite non-negative number of milliseconds (the prelude has checked it), whole.
pub(super) fn whole_ms(value: Option<Value<'_>>) -> Option<u64> {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a finite non-negative number of milliseconds, saturating"
    )]
    value.and_then(|v| v.as_number()).map(|ms| ms as u64)
}
