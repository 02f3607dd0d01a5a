//! `aether-zygote`: the process tier's zygote image (issue 23). aether starts it, when it finds
//! it next to its own binary and trusts it (`aether::worker::zygote_image`), instead of starting
//! its whole binary again: this one holds only what the zygote and its workers run (the engine,
//! the bindings and web APIs, WebAssembly, the worker and the jail), so it starts faster.
//!
//! A C `main` without Rust's runtime start-up (`#![no_main]`): no read of `/proc/self/maps` for
//! the main thread's stack, no signal stack; `aether::worker::image_main` ignores `SIGPIPE` as
//! that start-up would.
#![no_main]
#![allow(
    unsafe_code,
    reason = "`no_mangle` on the C `main` (the one symbol the C runtime calls) and the build id's `link_section`"
)]

/// The system allocator, as in `aether` (the worker's allocation failures are memory kills).
#[global_allocator]
static ALLOCATOR: aether::worker::Allocator = aether::worker::Allocator;

/// This build's id, where aether reads it before it starts this binary
/// (`aether::worker::BUILD_ID_SECTION`): an image of another build is never started.
#[used]
#[unsafe(link_section = ".aether-zygote-build")]
static BUILD_ID: [u8; aether::worker::BUILD_ID.len()] = aether::worker::image_build_id();

/// The C runtime's entry point: runs the zygote, or says what this binary is and exits 2.
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // Referenced, so that the linker keeps its section.
    std::hint::black_box(&BUILD_ID);
    aether::worker::image_main()
}
