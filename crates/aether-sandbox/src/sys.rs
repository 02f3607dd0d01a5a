//! Every `unsafe` line of the crate: the metering allocator, thread CPU clocks, and copying bytes
//! out of a typed array.
//!
//! Each block is a single foreign call or a call into rquickjs's documented `unsafe` API, with
//! its justification beside it. Nothing here decides policy.
#![allow(
    unsafe_code,
    reason = "FFI to libc (malloc family, clocks) and rquickjs's unsafe allocator trait"
)]

use std::sync::Arc;
use std::time::Duration;

use rquickjs::TypedArray;
use rquickjs::allocator::Allocator;

use crate::gate::Meter;

/// The engine's allocator: libc's `malloc` family (what QuickJS uses by default), with every
/// byte counted in a [`Meter`] that refuses allocations past the step's ceiling.
///
/// Sizes are counted with `malloc_usable_size`, as QuickJS itself does, so the count is the
/// memory really handed out, not the sizes requested.
pub(crate) struct MeteredAllocator {
    meter: Arc<Meter>,
}

impl MeteredAllocator {
    pub(crate) fn new(meter: Arc<Meter>) -> Self {
        Self { meter }
    }
}

fn usable(ptr: *mut u8) -> usize {
    // SAFETY: `ptr` is non-null and was returned by libc's malloc/calloc/realloc and not yet
    // freed: every caller passes a pointer this allocator handed out.
    unsafe { libc::malloc_usable_size(ptr.cast()) }
}

// SAFETY: libc's malloc family returns null or memory aligned for any fundamental type (16 bytes
// on Linux, more than `usize`) of at least the requested size; `usable_size` is
// `malloc_usable_size` of such a pointer. Refusing (returning null) is always allowed.
unsafe impl Allocator for MeteredAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.meter.admit(size) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain malloc; a null result is passed on to QuickJS, which handles it.
        let ptr = unsafe { libc::malloc(size) }.cast::<u8>();
        if !ptr.is_null() {
            self.meter.add(usable(ptr));
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.meter.admit(total) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain calloc; a null result is passed on to QuickJS, which handles it.
        let ptr = unsafe { libc::calloc(count, size) }.cast::<u8>();
        if !ptr.is_null() {
            self.meter.add(usable(ptr));
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        self.meter.sub(usable(ptr));
        // SAFETY: the caller guarantees `ptr` came from this allocator and is freed once.
        unsafe { libc::free(ptr.cast()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            // SAFETY: forwarded from our own caller's guarantee.
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        let old = usable(ptr);
        if new_size > old && !self.meter.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator; on failure realloc leaves
        // it untouched, so the meter is only updated on success.
        let new = unsafe { libc::realloc(ptr.cast(), new_size) }.cast::<u8>();
        if !new.is_null() {
            self.meter.sub(old);
            self.meter.add(usable(new));
        }
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        usable(ptr)
    }
}

/// The calling thread's CPU clock, readable from other threads with [`cpu_time`].
pub(crate) fn current_thread_cpu_clock() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is always a live thread (ours); `clock` is a valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (rc == 0).then_some(clock)
}

/// CPU time consumed so far on `clock` (`libc::CLOCK_THREAD_CPUTIME_ID` for the calling thread).
pub(crate) fn cpu_time(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; an invalid clock (a thread that has exited) makes
    // clock_gettime fail with EINVAL, which we report as `None`.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// A copy of a `Uint8Array`'s bytes (`None` if its buffer is detached).
pub(crate) fn copy_bytes(array: &TypedArray<'_, u8>) -> Option<Vec<u8>> {
    // SAFETY: the slice aliases engine memory only while no JavaScript runs; it is copied at
    // once, with no call into the engine in between.
    unsafe { array.as_bytes() }.map(<[u8]>::to_vec)
}

/// `f` applied to the bytes of `array` in place (no copy), or `None` if the array is detached.
/// `f` must not call into the engine: it only reads the slice (web.rs hashes with it, so that
/// `crypto.subtle.digest` holds no copy of the data outside the plugin's memory ceiling).
pub(crate) fn read_bytes<R>(array: &TypedArray<'_, u8>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    // SAFETY: the slice aliases engine memory only while `f` runs, and `f` runs no JavaScript
    // (its callers pass pure functions of the bytes), so the array cannot be resized, detached
    // or freed meanwhile.
    unsafe { array.as_bytes() }.map(f)
}

/// `f` applied to the bytes of `array` in place, mutably, or `None` if the array is detached.
/// `f` must not call into the engine, and no other slice `f` uses may alias `array`'s bytes:
/// web.js passes a buffer it has just allocated (AES-GCM encrypts and decrypts in it, so that
/// no copy of the data is held outside the plugin's memory ceiling).
pub(crate) fn write_bytes<R>(
    array: &TypedArray<'_, u8>,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Option<R> {
    let raw = array.as_raw()?;
    // SAFETY: `raw` points at the array's bytes, valid while no JavaScript runs; `f` runs none
    // (its callers pass pure functions of the bytes), so the array cannot be resized, detached
    // or freed meanwhile, and its callers hold no other reference to these bytes.
    Some(f(unsafe { &mut *raw.as_ptr() }))
}

/// Loads a module from bytecode that this process compiled itself from aether's own source
/// (the prelude): never from plugin-supplied bytes (SPEC §5 refuses bytecode modules).
pub(crate) fn load_trusted_module<'js>(
    ctx: &rquickjs::Ctx<'js>,
    bytecode: &'static [u8],
) -> rquickjs::Result<rquickjs::Module<'js, rquickjs::module::Declared>> {
    // SAFETY: `bytecode` was produced by `Module::write` of this same engine build in this
    // process (bindings.rs `Script::compile`), so it is valid bytecode; it is `'static`, as
    // QuickJS may reference it instead of copying (`JS_READ_OBJ_ROM_DATA`).
    unsafe { rquickjs::Module::load(ctx.clone(), bytecode) }
}

/// Defines `name` on `object` as a lazily created property (engine patch 0003,
/// `JS_DefineLazyProperty`): writable, not enumerable, configurable, whose value the context's
/// lazy-property initialiser ([`set_lazy_property_init`]) makes on first use. Does nothing if
/// `object` has a property of that name already.
pub(crate) fn define_lazy_property(
    ctx: &rquickjs::Ctx<'_>,
    object: &rquickjs::Object<'_>,
    name: &std::ffi::CStr,
) -> rquickjs::Result<()> {
    let flags = (rquickjs::qjs::JS_PROP_WRITABLE | rquickjs::qjs::JS_PROP_CONFIGURABLE) as i32;
    // SAFETY: `ctx` is a live context entered by the caller (it holds a `Ctx`), `object` a value
    // of it, kept alive by the caller's reference for the call; `name` is a NUL-terminated
    // string that outlives the call (the engine copies it into an atom).
    let rc = unsafe {
        rquickjs::qjs::JS_DefineLazyProperty(
            ctx.as_raw().as_ptr(),
            object.as_raw(),
            name.as_ptr(),
            flags,
        )
    };
    if rc < 0 {
        return Err(rquickjs::Error::Exception);
    }
    Ok(())
}

/// Makes `init` the function `ctx`'s engine calls, with the property's name, to make a lazily
/// created property's value ([`define_lazy_property`]). The engine holds its own reference,
/// marked by its garbage collector and released with the context.
pub(crate) fn set_lazy_property_init(
    ctx: &rquickjs::Ctx<'_>,
    init: &rquickjs::Function<'_>,
) -> rquickjs::Result<()> {
    // SAFETY: `ctx` is a live, entered context and `init` one of its values; the engine
    // duplicates the value it keeps, so the caller's reference stays the caller's.
    let rc = unsafe {
        rquickjs::qjs::JS_SetLazyPropertyInit(ctx.as_raw().as_ptr(), init.as_value().as_raw())
    };
    if rc < 0 {
        return Err(rquickjs::Error::Exception);
    }
    Ok(())
}

/// Makes the calling point of this thread's stack the top the engine of `ctx` measures its
/// stack limit from (an engine made higher up the stack, or before a fork).
pub(crate) fn update_stack_top(ctx: &rquickjs::Ctx<'_>) {
    // SAFETY: `ctx` is a live, entered context: its runtime is valid while it is.
    unsafe {
        rquickjs::qjs::JS_UpdateStackTop(rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr()));
    }
}

/// Reseeds `Math.random` of `ctx` from the kernel's random source (a context made before a
/// fork would otherwise draw the same numbers in every process forked from it).
pub(crate) fn reseed_random(ctx: &rquickjs::Ctx<'_>) {
    let mut seed = [0u8; 8];
    // SAFETY: `seed` is a writable buffer of `seed.len()` bytes.
    let filled = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    let seed = if usize::try_from(filled).ok() == Some(seed.len()) {
        u64::from_ne_bytes(seed)
    } else {
        // No random source: the time, as the engine seeds a context it makes.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_nanos()).unwrap_or(1))
    };
    // SAFETY: `ctx` is a live, entered context.
    unsafe { rquickjs::qjs::JS_SetRandomSeed(ctx.as_raw().as_ptr(), seed) };
}

// SAFETY: `'js` is the lifetime of every JavaScript value the state holds (its timers' and slow
// calls' functions, WebAssembly's objects), and `Changed<'to>` is the same type with it alone
// replaced: what `JsLifetime` requires for `Persistent` to move it between two `with` calls on
// the same runtime (engine.rs keeps the prepared bindings' state that way).
unsafe impl<'js> rquickjs::JsLifetime<'js> for crate::engine::StepState<'js> {
    type Changed<'to> = crate::engine::StepState<'to>;
}
