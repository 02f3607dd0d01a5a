#![allow(non_upper_case_globals)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(clippy::unreadable_literal)]
#![allow(clippy::missing_safety_doc)]
#![allow(clippy::upper_case_acronyms)]
#![allow(clippy::uninlined_format_args)]
#![no_std]

use ::core::ptr;

/// Common error message for converting between C `size_t` and Rust `usize`;
pub const SIZE_T_ERROR: &str =
    "conversion between C type 'size_t' and Rust type 'usize' overflowed.";

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

#[cfg(not(feature = "bindgen"))]
include!(concat!("bindings/", bindings_env!("TARGET"), ".rs"));

#[cfg(target_pointer_width = "64")]
include!("inlines/ptr_64.rs");

#[cfg(target_pointer_width = "32")]
include!("inlines/ptr_32_nan_boxing.rs");

include!("inlines/common.rs");

// aether patch 0003 (patches/0003-embedder-lazy-properties.patch): embedder-defined lazily
// initialised properties, declared here because the pregenerated bindings do not have them.
unsafe extern "C" {
    /// Makes `init` the function that makes a lazy property's value (called with the
    /// property's name); the engine keeps its own reference. Returns -1 on exception.
    pub fn JS_SetLazyPropertyInit(ctx: *mut JSContext, init: JSValue) -> ::core::ffi::c_int;
    /// Defines `name` on the ordinary object `obj` as a property made on first use. Returns 1
    /// if defined, 0 if `obj` has such a property already or is not extensible, -1 on
    /// exception.
    pub fn JS_DefineLazyProperty(
        ctx: *mut JSContext,
        obj: JSValue,
        name: *const ::core::ffi::c_char,
        flags: ::core::ffi::c_int,
    ) -> ::core::ffi::c_int;
}

// aether patch 0031 (patches/0031-embedder-random-seed.patch): reseeding `Math.random`,
// declared here because the pregenerated bindings do not have it.
unsafe extern "C" {
    /// Makes `seed` the state of `ctx`'s `Math.random` (a zero seed is taken as 1).
    pub fn JS_SetRandomSeed(ctx: *mut JSContext, seed: u64);
}
