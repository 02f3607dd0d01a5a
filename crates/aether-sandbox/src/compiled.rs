//! Compile once (issue 19 item 3): a module's bytecode is made once per process and every
//! later step that loads the same module (same name, same bytes) loads the bytecode instead of
//! parsing the source again: a pipeline fanning one plugin out over many inputs parses it once.
//!
//! Key: SHA-256 of the module's name and of the exact text given to the engine (after the
//! host's TypeScript and CommonJS handling: what `Module::declare` gets), with aether's
//! version; disk entries also carry and check [`engine_build`]. Bytecode is as powerful as
//! native code, so this module holds the line:
//! - only bytecode written by this process's own engine from a source it was given is
//!   loaded, or an authenticated entry of the optional disk cache
//!   ([`set_bytecode_store_unchecked`]): never bytes a plugin supplied (SPEC §5 refuses
//!   bytecode modules). The process tier's workers are the one exception: aether compiles in its own
//!   process and sends the bytecode with the module's source ([`CompiledModule`]), so a worker
//!   trusts its parent, as it does for every reply;
//! - a source that does not compile is never cached: it is compiled again in the step's own
//!   runtime, so its syntax error (file:line:col) is exactly what it was without the cache;
//! - the bytecode keeps its debug information (file names, lines and columns for stack
//!   traces) and function sources (`toString`), so a loaded module behaves as a compiled one.
//!
//! In a step, the first load of a module compiles it in the step's runtime as it always did
//! and writes its bytecode out (a one-step run pays only that write and the hash); aether's
//! process-tier broker, which has no runtime of its own, compiles in a scratch runtime held to
//! the step's memory ceiling. The cache lives as long as the process and holds at most
//! [`MAX_CACHED_BYTES`]; past that, modules are compiled per step, as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aether_protocol::BytecodeStore;

use rquickjs::context::intrinsic::{Eval, RegExpCompiler};
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Module};
use sha2::{Digest, Sha256};

use crate::gate::Meter;
use crate::sys;

/// The engine patches, by content: any change to the series is another engine build.
const PATCHES: [&str; 46] = [
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0001-regexp-skip-impossible-start-positions.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0002-build-rebuild-on-source-change.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0003-embedder-lazy-properties.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0004-bytecode-import-attributes.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0005-regexp-first-character-set.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0006-regexp-skip-alternatives-by-first-character.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0007-interp-number-fast-paths-for-bitwise-and-pow.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0008-interp-strict-equality-without-a-call.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0009-interp-inline-reference-drops.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0010-interp-namespace-reads-inline.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0011-interp-elide-initialized-tdz-checks.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0015-interp-property-caches.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0018-interp-property-addition-caches.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0019-interp-cheaper-property-array-growth.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0020-interp-loop-tdz-dataflow.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0021-interp-dispatch-and-typed-array-elements.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0022-build-dumps-only-on-request.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0023-interp-frame-size-computed-once.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0025-interp-constructor-prototype-in-place.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0026-interp-int-values-in-registers.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0028-objects-prototype-keeps-empty-shape.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0029-objects-literals-presized.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0030-regexp-dispatch-literal-alternatives.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0031-embedder-random-seed.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0032-objects-spread-of-a-string.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0033-builtins-call-in-place-apply-on-the-stack.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0034-interp-getters-without-second-lookup.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0035-builtins-sort-natural-merge-sort.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0036-interp-loose-equality-with-null.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0037-generators-yield-star-direct.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0038-objects-computed-key-stores-cached.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0039-builtins-array-pop-in-place.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0040-builtins-object-keys-from-the-shape.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0041-interp-leaf-calls-without-a-frame.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0043-interp-loose-equality-of-one-type.patch"
    ),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0044-generators-frame-with-the-generator.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0045-iterators-for-of-array-in-place.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0046-functions-made-with-their-shape.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0047-libunicode-class-ranges-in-place.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0048-interp-array-named-reads-cached.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0049-builtins-regexp-test-without-result.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0050-interp-leaf-calls-on-integers.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0051-interp-pow-without-division.patch"),
    include_str!("../../../vendor/rquickjs-sys/patches/0054-interp-string-reads-direct.patch"),
    include_str!(
        "../../../vendor/rquickjs-sys/patches/0055-builtins-regexp-flags-from-bytecode.patch"
    ),
    include_str!("../../../vendor/rquickjs-sys/patches/0056-objects-sized-by-constructor.patch"),
];

/// The engine build bytecode belongs to (it is only valid for the engine that wrote it:
/// format, opcodes, atoms): the rquickjs-sys version, the SHA-256 of the patch series, the
/// target, and aether-sandbox's version. Part of every module key, and written into (and
/// checked in) every disk entry.
pub fn engine_build() -> &'static str {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD.get_or_init(|| {
        let mut patches = Sha256::new();
        for patch in PATCHES {
            patches.update(patch.as_bytes());
        }
        let patches: [u8; 32] = patches.finalize().into();
        let hex: String = patches.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "rquickjs-sys 0.14.0; patches {hex}; {}-{}; aether-sandbox {}",
            std::env::consts::ARCH,
            std::env::consts::OS,
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// The most bytecode the process keeps (256 MiB): each distinct module is kept once, for the
/// life of the process, since steps load it in place (no copy). Past this, new modules are
/// compiled in each step as if there were no cache. It bounds host memory a stream of
/// distinct plugins could pin; a pipeline's own modules are far below it.
pub const MAX_CACHED_BYTES: usize = 256 << 20;

/// What the in-process key names of the engine: the process runs one engine build, so this
/// cheap constant is enough there; disk entries also carry (and check) [`engine_build`].
const KEY_BUILD: &str = concat!(
    "rquickjs-sys 0.14.0; aether-sandbox ",
    env!("CARGO_PKG_VERSION")
);

/// The key of a module: SHA-256 over [`KEY_BUILD`], the name and the source, each
/// length-prefixed (no two different pairs give the same input).
fn key(name: &str, source: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [KEY_BUILD, name, source] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

#[derive(Default)]
struct Cache {
    entries: HashMap<[u8; 32], &'static [u8]>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// How this process uses the compile-once cache (see [`set_compile_cache`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileCache {
    /// Every step compiles its modules from source, as before issue 19 (for measurements and
    /// diagnosis: `AETHER_COMPILE_CACHE=off`).
    Off,
    /// Modules are compiled once per process and kept (the default).
    Process,
    /// Only bytecode installed with [`install_compiled_module_unchecked`] is loaded; nothing is
    /// compiled into the cache (a process-tier worker: it runs one step, and aether sends it
    /// the bytecode of its modules).
    Installed,
}

static MODE: AtomicU8 = AtomicU8::new(1);

/// Sets how this process uses the compile-once cache, for every step started after the call.
/// Default: [`CompileCache::Process`].
pub fn set_compile_cache(mode: CompileCache) {
    let value = match mode {
        CompileCache::Off => 0,
        CompileCache::Process => 1,
        CompileCache::Installed => 2,
    };
    MODE.store(value, Ordering::Relaxed);
}

fn mode() -> CompileCache {
    match MODE.load(Ordering::Relaxed) {
        0 => CompileCache::Off,
        2 => CompileCache::Installed,
        _ => CompileCache::Process,
    }
}

/// Where bytecode is also kept between runs (the CLI's disk cache), if anywhere.
static STORE: Mutex<Option<Arc<dyn BytecodeStore>>> = Mutex::new(None);

/// Also keeps compiled modules in `store` and looks them up there before compiling (the disk
/// cache of `aether_host::compile_cache`); `None` stops using it.
///
/// # Security
///
/// Whatever `store` returns is loaded as bytecode without verification: it must return only
/// bytes this engine build wrote for exactly the key asked (the disk cache authenticates every
/// entry with a per-user key, and the CLI refuses a cache directory a plugin could reach).
pub fn set_bytecode_store_unchecked(store: Option<Arc<dyn BytecodeStore>>) {
    *STORE.lock().unwrap_or_else(PoisonError::into_inner) = store;
}

fn store() -> Option<Arc<dyn BytecodeStore>> {
    STORE.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

static COMPILES: AtomicU64 = AtomicU64::new(0);
static STORE_LOADS: AtomicU64 = AtomicU64::new(0);
static LOADS: AtomicU64 = AtomicU64::new(0);

/// How often, in this process, a module was compiled from source into the cache, and loaded
/// from cached bytecode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompileStats {
    /// Modules compiled from source and kept.
    pub compiles: u64,
    /// Modules loaded from kept bytecode.
    pub loads: u64,
    /// Modules whose bytecode came from the bytecode store (the disk cache) instead of being
    /// compiled.
    pub store_loads: u64,
}

/// This process's [`CompileStats`] so far.
pub fn compile_stats() -> CompileStats {
    CompileStats {
        compiles: COMPILES.load(Ordering::Relaxed),
        loads: LOADS.load(Ordering::Relaxed),
        store_loads: STORE_LOADS.load(Ordering::Relaxed),
    }
}

fn lookup(key: &[u8; 32]) -> Option<&'static [u8]> {
    cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entries
        .get(key)
        .copied()
}

/// Keeps `bytecode` under `key` (the first one kept wins) and returns the kept bytes, or `None`
/// if the cache is full.
fn keep(key: [u8; 32], bytecode: Vec<u8>) -> Option<&'static [u8]> {
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = cache.entries.get(&key) {
        return Some(kept);
    }
    if cache.bytes.saturating_add(bytecode.len()) > MAX_CACHED_BYTES {
        return None;
    }
    cache.bytes += bytecode.len();
    // Leaked on purpose: steps load it in place (QuickJS keeps pointers into it), and it stays
    // for the life of the process, bounded by MAX_CACHED_BYTES.
    let kept: &'static [u8] = Box::leak(bytecode.into_boxed_slice());
    cache.entries.insert(key, kept);
    Some(kept)
}

/// Compiles `source` as module `name` in a scratch runtime held to `memory` bytes, and returns
/// its bytecode, or `None` if it does not compile (or the scratch engine cannot start).
fn compile(name: &str, source: &str, memory: usize) -> Option<Vec<u8>> {
    let runtime = rquickjs::Runtime::new().ok()?;
    runtime.set_memory_limit(memory);
    // QuickJS resolves a module's static imports when it compiles it: they get empty
    // placeholders here. Only the module's own bytecode is written (its imports as the
    // specifiers written in it), and the step's loader resolves them as always.
    runtime.set_loader(Placeholders, Placeholders);
    // The parser needs only `eval` (JS_Eval) and the regular-expression compiler (regex
    // literals are compiled with the module): a full context would cost more than most
    // modules' compile.
    let context = rquickjs::Context::custom::<(Eval, RegExpCompiler)>(&runtime).ok()?;
    context.with(|ctx| {
        let module = Module::declare(ctx.clone(), name, source).ok()?;
        module.write(WriteOptions::default()).ok()
    })
}

/// The scratch compiler's imports: every specifier is a module of its own, empty.
struct Placeholders;

impl Resolver for Placeholders {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        Ok(format!("aether-placeholder:{name}"))
    }
}

impl Loader for Placeholders {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        Module::declare(ctx.clone(), name, "")
    }
}

/// The kept bytecode of module `name` with `source`, compiling and keeping it first if it is
/// not yet kept; `None` if it does not compile or the cache is full. `memory` bounds the
/// compiler's heap.
fn bytecode(name: &str, source: &str, memory: usize) -> Option<&'static [u8]> {
    let mode = mode();
    if mode == CompileCache::Off {
        return None;
    }
    let key = key(name, source);
    if let Some(kept) = lookup(&key) {
        return Some(kept);
    }
    if mode == CompileCache::Installed {
        return None;
    }
    let store = store();
    if let Some(stored) = store.as_ref().and_then(|s| s.get(engine_build(), &key)) {
        let kept = keep(key, stored)?;
        STORE_LOADS.fetch_add(1, Ordering::Relaxed);
        return Some(kept);
    }
    let kept = keep(key, compile(name, source, memory)?)?;
    COMPILES.fetch_add(1, Ordering::Relaxed);
    if let Some(store) = store {
        store.put(engine_build(), &key, kept);
    }
    Some(kept)
}

/// Module `name` with `source`, declared in `ctx`: loaded from this process's bytecode (or the
/// bytecode store's) when there is some; otherwise compiled in `ctx` exactly as without the
/// cache (so a syntax error is reported as it always was), and its bytecode, written from the
/// module just compiled, kept for the next steps. The copy is written only if the step's heap
/// (`meter`) has ample room for it, so that keeping it never brings a plugin to its ceiling.
pub(crate) fn declare<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    source: String,
    meter: &Meter,
) -> rquickjs::Result<Module<'js, Declared>> {
    let mode = mode();
    if mode == CompileCache::Off {
        return Module::declare(ctx.clone(), name, source);
    }
    let key = key(name, &source);
    let kept = lookup(&key).or_else(|| {
        if mode == CompileCache::Installed {
            return None;
        }
        let stored = store()?.get(engine_build(), &key)?;
        let kept = keep(key, stored)?;
        STORE_LOADS.fetch_add(1, Ordering::Relaxed);
        Some(kept)
    });
    if let Some(kept) = kept {
        let module = sys::load_trusted_module(ctx, kept)?;
        LOADS.fetch_add(1, Ordering::Relaxed);
        return Ok(module);
    }
    let length = source.len() as u64;
    let module = Module::declare(ctx.clone(), name, source)?;
    let headroom = meter.ceiling().saturating_sub(meter.current());
    if mode == CompileCache::Process && headroom / 4 > length.saturating_add(1 << 20) {
        match module.write(WriteOptions::default()) {
            Ok(bytecode) => {
                if let Some(kept) = keep(key, bytecode) {
                    COMPILES.fetch_add(1, Ordering::Relaxed);
                    if let Some(store) = store() {
                        store.put(engine_build(), &key, kept);
                    }
                }
            }
            // Not kept; the module itself is fine. The exception is not the plugin's.
            Err(_) => drop(ctx.catch()),
        }
    }
    Ok(module)
}

/// A module's bytecode as aether's process wrote it, to send to a process-tier worker with the
/// module's source (see [`compile_module`] and [`install_compiled_module_unchecked`]).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompiledModule {
    key: [u8; 32],
    bytecode: Vec<u8>,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("bytes", &self.bytecode.len())
            .finish_non_exhaustive()
    }
}

/// The bytecode of module `name` with `source` (compiled and kept in this process's cache if it
/// is not yet), to send to a worker; `None` if it does not compile or the cache is full (the
/// worker then compiles the source itself). `memory` bounds the compiler's heap.
pub fn compile_module(name: &str, source: &str, memory: usize) -> Option<CompiledModule> {
    let kept = bytecode(name, source, memory)?;
    Some(CompiledModule {
        key: key(name, source),
        bytecode: kept.to_vec(),
    })
}

/// The bytecode of module `name` with `source` if this process has it already (never
/// compiles): what [`compile_module`] returns at once when it is kept.
pub fn kept_module(name: &str, source: &str) -> Option<CompiledModule> {
    if mode() == CompileCache::Off {
        return None;
    }
    let key = key(name, source);
    lookup(&key).map(|kept| CompiledModule {
        key,
        bytecode: kept.to_vec(),
    })
}

/// Keeps `compiled` in this process's cache, for module `name` with `source` as served with it:
/// the worker's next load of exactly that module loads it. Ignored if it was compiled for
/// another name, source or engine build.
///
/// # Security
///
/// Bytecode is as powerful as native code and is loaded without verification. Call this only
/// with a [`CompiledModule`] that aether's own process made with [`compile_module`] and sent over
/// the worker's private socket (the process tier's worker does, for the module replies of its
/// host calls); never with bytes that came from a plugin, a file or any other process.
pub fn install_compiled_module_unchecked(name: &str, source: &str, compiled: CompiledModule) {
    let key = key(name, source);
    if compiled.key == key {
        let _ = keep(key, compiled.bytecode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine build names every patch of the series: a patch added without being listed
    /// here would let bytecode of one engine be read by another.
    #[test]
    fn the_engine_build_hashes_every_patch_of_the_series() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../vendor/rquickjs-sys/patches");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("patches")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .map(|p| std::fs::read_to_string(p).expect("patch"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = PATCHES.iter().map(|p| (*p).to_owned()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
        assert!(engine_build().contains("patches "));
    }
}
