//! The globals created on first use (issue 18 item 3): every class and object of the web
//! platform that a plugin may never touch. Each is a property of the global object that looks
//! and behaves like a plain one (`writable`, not `enumerable`, `configurable`, as WebIDL makes
//! interface objects and browsers and Deno show them), but whose value is made only when the
//! property is first read, described or redefined, by the engine's own mechanism for its lazy
//! built-ins (QuickJS's auto-initialised properties, exposed by engine patch 0003). Defining one
//! costs an atom and a property slot: no function, no descriptor object, no JavaScript.
//!
//! What it guarantees, like the accessors it replaced (stub.js before issue 18 item 3):
//! - a plugin's assignment, deletion or redefinition wins: the value is never made once the
//!   property is gone or replaced, even if plugin code running during the load (a getter or
//!   iterator it replaced) replaces it then;
//! - `Object.getOwnPropertyNames(globalThis)` lists every name before first use, and `in`
//!   finds it, without loading anything;
//! - on a frozen global object the values are there (freezing makes them first);
//! - a load entered again from plugin code running inside it finishes first, and its values are
//!   the ones the global object keeps.
//!
//! It never exposes a loader to the plugin: the one function the engine calls (the context's
//! lazy-property initialiser) is held by the engine only.
//!
//! # Registering a global
//!
//! One line in [`GLOBALS`]: the name (a C string literal, `c"ReadableStream"`) and the
//! script whose load makes it. A [`Source::Web`]
//! global is a property of the object web.js returns (`load(captured)`); a [`Source::Prelude`]
//! global is defined by prelude.js through `define(name, value)`.

use std::ffi::CStr;

use rquickjs::{Ctx, Function, Result};

use crate::sys;

/// The script that makes a lazy global.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Source {
    /// prelude.js (`TextEncoder`, `Headers`, ...), which also holds `fetch`.
    Prelude,
    /// web.js (web.rs).
    Web,
    /// The stream globals' script (streams.rs).
    Streams,
    /// intl.js (intl.rs).
    Intl,
    /// wasm.js (wasm.rs).
    Wasm,
}

/// Every lazy global, in the order `Object.getOwnPropertyNames(globalThis)` lists them. Names
/// must be plain ASCII identifiers, each once (C string literals: the engine takes them as
/// they are, with no copy).
pub(crate) const GLOBALS: &[(&CStr, Source)] = &[
    (c"TextEncoder", Source::Prelude),
    (c"TextDecoder", Source::Prelude),
    (c"Headers", Source::Prelude),
    (c"Response", Source::Prelude),
    (c"Request", Source::Web),
    (c"Blob", Source::Web),
    (c"File", Source::Web),
    (c"FormData", Source::Web),
    (c"Event", Source::Web),
    (c"EventTarget", Source::Web),
    (c"AbortController", Source::Web),
    (c"AbortSignal", Source::Web),
    (c"URL", Source::Web),
    (c"URLSearchParams", Source::Web),
    (c"DOMException", Source::Web),
    (c"structuredClone", Source::Web),
    (c"crypto", Source::Web),
    (c"performance", Source::Web),
    (c"navigator", Source::Web),
    (c"reportError", Source::Web),
    (c"URLPattern", Source::Web),
    (c"ReadableStream", Source::Streams),
    (c"ReadableStreamDefaultReader", Source::Streams),
    (c"ReadableStreamBYOBReader", Source::Streams),
    (c"ReadableStreamBYOBRequest", Source::Streams),
    (c"ReadableByteStreamController", Source::Streams),
    (c"ReadableStreamDefaultController", Source::Streams),
    (c"WritableStream", Source::Streams),
    (c"WritableStreamDefaultWriter", Source::Streams),
    (c"WritableStreamDefaultController", Source::Streams),
    (c"TransformStream", Source::Streams),
    (c"TransformStreamDefaultController", Source::Streams),
    (c"ByteLengthQueuingStrategy", Source::Streams),
    (c"CountQueuingStrategy", Source::Streams),
    (c"TextEncoderStream", Source::Streams),
    (c"TextDecoderStream", Source::Streams),
    (c"CompressionStream", Source::Streams),
    (c"DecompressionStream", Source::Streams),
    (c"Intl", Source::Intl),
    (c"WebAssembly", Source::Wasm),
];

/// The source of lazy global `name`, if it is one.
fn source_of(name: &str) -> Option<Source> {
    GLOBALS
        .iter()
        .find(|(global, _)| global.to_bytes() == name.as_bytes())
        .map(|(_, source)| *source)
}

/// Defines every global of [`GLOBALS`] from `source` on `ctx`'s global object, unless one of
/// that name is there already (it is then left alone).
pub(crate) fn define(ctx: &Ctx<'_>, source: Source) -> Result<()> {
    let globals = ctx.globals();
    for (name, _) in GLOBALS.iter().filter(|(_, s)| *s == source) {
        sys::define_lazy_property(ctx, &globals, name)?;
    }
    Ok(())
}

/// `lazySource(name)`, for stub.js: `"prelude"`, `"web"`, `"streams"`, `"intl"` or `"wasm"`, the script that makes lazy global
/// `name`, or `undefined` if it is none.
pub(crate) fn source_fn<'js>(ctx: &Ctx<'js>) -> Result<Function<'js>> {
    Function::new(ctx.clone(), |name: String| {
        source_of(&name).map(|source| match source {
            Source::Prelude => "prelude",
            Source::Web => "web",
            Source::Streams => "streams",
            Source::Intl => "intl",
            Source::Wasm => "wasm",
        })
    })
}

/// Makes `init` (stub.js's `lazy`, from a global's name to its value) what the engine calls
/// when a lazy global is first touched. Done once per context, before [`define`]. The engine
/// holds `init` for the context's lifetime (and the garbage collector sees it there); nothing
/// in the plugin's reach does.
pub(crate) fn install(ctx: &Ctx<'_>, init: &Function<'_>) -> Result<()> {
    sys::set_lazy_property_init(ctx, init)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_an_identifier_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in GLOBALS {
            let name = name.to_str().expect("ASCII");
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !name.as_bytes()[0].is_ascii_digit(),
                "{name}"
            );
            assert!(seen.insert(name), "{name} twice");
        }
    }
}
