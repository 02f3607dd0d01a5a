//! The `WebAssembly` global (SPEC §5), on wasmtime: `Module`, `Instance`, `Memory`, `Table`,
//! `Global`, `validate`, `compile`, `instantiate`, `compileStreaming`, `instantiateStreaming`
//! and the three error classes. wasm.js is the JavaScript half (argument checks, the classes);
//! this module holds every wasmtime object and does every conversion between wasm and
//! JavaScript values (the JS-API's `ToWebAssemblyValue` and `ToJSValue`).
//!
//! Like web.js, wasm.js is loaded on first use of `WebAssembly` (a lazy global, lazy.rs).
//!
//! Containment:
//! - **One engine per process** ([`engine`]), with epoch interruption: a ticker thread of the
//!   process advances the epoch every [`TICK`], and each store's epoch callback traps as soon as
//!   the step is killed (deadline or memory), so a wasm loop stops within a tick of the
//!   JavaScript interrupt.
//! - **Memory**: one store per sandbox, whose [`ResourceLimiter`] charges every linear-memory
//!   and table growth to the step's [`Meter`], the same one the JavaScript heap is metered by;
//!   a refused growth marks the step for killing (`memory limit of … exceeded`). Compiled
//!   modules, instances, host functions and globals are charged a size too, so that creating
//!   them in a loop hits the same ceiling.
//! - **No capability**: a module's imports are only what the plugin's JavaScript passes to it;
//!   this module never calls the host.
//! - **Memory safety of `Memory.buffer`**: the `ArrayBuffer` aliases the linear memory without a
//!   copy. Linear memories never move (`memory_may_move(false)`, a reservation of their largest
//!   possible size) and are unmapped only when the sandbox ends, after the last JavaScript ran,
//!   so no buffer (not even one the plugin `transfer()`ed) can point at unmapped memory; after
//!   a growth the buffers handed out are detached before JavaScript runs again, as the JS-API
//!   says.
//! - **Jail** (process tier): no guard pages, no signal handlers (explicit bounds checks), no
//!   `memfd` (no copy-on-write images), no compiler threads, and a reservation that fits the
//!   worker's `RLIMIT_AS`; JIT code is mapped writable, then executable, never both (the worker's
//!   seccomp filter refuses W+X).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rquickjs::function::{Opt, Rest};
use rquickjs::{Array, ArrayBuffer, BigInt, Ctx, Exception, Function, Object, Result, Value};
use wasmtime::{
    AsContextMut, Caller, Config, Engine, Extern, ExternType, Func, FuncType, Global, GlobalType,
    Instance, Memory, MemoryType, Module, Mutability, OptLevel, Ref, RefType, ResourceLimiter,
    Store, StoreContextMut, Table, TableType, Trap, UpdateDeadline, Val, ValType,
};

use crate::bindings::Script;
use crate::gate::{Gate, Meter, Shared};

/// How often the epoch advances: the most a wasm loop runs past a kill.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Linear memories reserve this much address space when nothing limits it (the whole 32-bit
/// range): they never move.
const FULL_RESERVATION: u64 = 1 << 32;

/// What is charged to the step's meter for objects that live outside the linear memories, until
/// the sandbox ends (estimates of wasmtime's own allocations).
const INSTANCE_BYTES: u64 = 16 * 1024;
const HOST_FUNC_BYTES: u64 = 512;
const GLOBAL_BYTES: u64 = 128;
const TABLE_ELEMENT_BYTES: u64 = 16;
/// A compiled module is charged this many times its binary's size (code, metadata).
const MODULE_FACTOR: u64 = 4;

/// The JavaScript half.
static WASM: Script = Script {
    name: "aether:wasm",
    source: include_str!("wasm.js"),
    module: concat!("export default ", include_str!("wasm.js"), ";\n"),
    bytecode: OnceLock::new(),
};

/// Compiles wasm.js's bytecode now, if it is not yet (see [`crate::prepare`]).
pub(crate) fn prepare() {
    WASM.bytecode();
}

/// The sandbox's WebAssembly state, made when wasm.js loads; emptied by the engine at the end
/// of the step (it holds JavaScript values and the store).
pub(crate) type Slot<'js> = Rc<RefCell<Option<Rc<State<'js>>>>>;

/// The process's engine, made on first use (wasm.js's `init`).
fn engine() -> std::result::Result<&'static Engine, String> {
    static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config
                .epoch_interruption(true)
                .cranelift_opt_level(OptLevel::Speed)
                .signals_based_traps(false)
                .memory_guard_size(0)
                .guard_before_linear_memory(false)
                .memory_reservation(reservation())
                .memory_reservation_for_growth(0)
                .memory_may_move(false)
                .memory_init_cow(false)
                .max_wasm_stack(1024 * 1024);
            Engine::new(&config).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Set by [`limit_memory_reservations`]: the most address space a linear memory reserves in
/// this process (0: no limit).
static RESERVATION_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Caps the address space each WebAssembly linear memory of this process reserves. Memories
/// never move, so this is also the most one can grow to. The process tier's worker (one step,
/// under `RLIMIT_AS`) calls it with the step's memory ceiling, which no memory can pass anyway,
/// before the step runs; without it a memory reserves all of 32-bit space (4 GiB).
pub fn limit_memory_reservations(bytes: u64) {
    RESERVATION_LIMIT.store(bytes.max(1), Ordering::Relaxed);
}

/// The address space each linear memory reserves (see [`limit_memory_reservations`]).
fn reservation() -> u64 {
    match RESERVATION_LIMIT.load(Ordering::Relaxed) {
        0 => FULL_RESERVATION,
        limit => limit
            .div_ceil(65_536)
            .saturating_mul(65_536)
            .clamp(65_536, FULL_RESERVATION),
    }
}

/// Starts the process's epoch ticker if this process has none (a forked worker inherits the
/// flag but not the thread: the pid tells).
fn ensure_ticker(engine: &'static Engine) -> std::result::Result<(), String> {
    static TICKER_PID: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    if TICKER_PID.swap(pid, Ordering::AcqRel) == pid {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("aether-wasm-epoch".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .map_err(|e| {
            TICKER_PID.store(0, Ordering::Release);
            format!("cannot start the WebAssembly epoch thread: {e}")
        })
}

/// The store's data: the limiter.
struct Data {
    meter: Arc<Meter>,
    /// Bytes charged to the meter by this store, given back when it is dropped.
    charged: u64,
    /// A linear memory grew since the buffers were last refreshed.
    grown: bool,
}

impl Data {
    /// Charges `bytes`; `false` (and the step marked for killing) past the ceiling.
    fn charge(&mut self, bytes: u64) -> bool {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        if !self.meter.admit(bytes) {
            return false;
        }
        self.meter.add(bytes);
        self.charged = self.charged.saturating_add(bytes as u64);
        true
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        self.meter
            .sub(usize::try_from(self.charged).unwrap_or(usize::MAX));
    }
}

impl ResourceLimiter for Data {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let grew = self.charge(desired.saturating_sub(current) as u64);
        self.grown |= grew;
        Ok(grew)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self
            .charge((desired.saturating_sub(current) as u64).saturating_mul(TABLE_ELEMENT_BYTES)))
    }
}

/// A compiled module and its custom sections.
struct Compiled {
    module: Module,
    custom: Vec<(String, Vec<u8>)>,
}

/// Everything WebAssembly of one sandbox.
pub(crate) struct State<'js> {
    ctx: Ctx<'js>,
    store: RefCell<Store<Data>>,
    modules: RefCell<Vec<Compiled>>,
    /// Functions, memories, tables and globals handed to JavaScript, by id.
    externs: RefCell<Vec<Extern>>,
    /// The ids of the functions among `externs`, by their `VMFuncRef` address.
    func_ids: RefCell<std::collections::HashMap<usize, usize>>,
    /// The `Memory.buffer`s handed out and not detached: memory id, byte length, buffer.
    buffers: RefCell<Vec<(usize, usize, ArrayBuffer<'js>)>>,
    /// wasm.js's `dispatch(index, args)`: calls the JavaScript function imported as host
    /// function `index`.
    dispatch: Function<'js>,
    /// A JavaScript exception thrown by an imported function, to rethrow when the wasm call
    /// that led to it returns.
    pending: RefCell<Option<Value<'js>>>,
    /// wasm.js's error classes: `CompileError`, `LinkError`, `RuntimeError`.
    errors: Object<'js>,
}

impl Drop for State<'_> {
    fn drop(&mut self) {
        for (_, _, mut buffer) in self.buffers.get_mut().drain(..) {
            buffer.detach();
        }
    }
}

/// Which error class a failure becomes.
#[derive(Clone, Copy)]
enum Kind {
    Compile,
    Link,
    Runtime,
    Type,
    Range,
}

impl<'js> State<'js> {
    fn throw(&self, kind: Kind, message: &str) -> rquickjs::Error {
        let ctx = &self.ctx;
        let class = match kind {
            Kind::Compile => "CompileError",
            Kind::Link => "LinkError",
            Kind::Runtime => "RuntimeError",
            Kind::Type => return Exception::throw_type(ctx, message),
            Kind::Range => return Exception::throw_range(ctx, message),
        };
        let made = self
            .errors
            .get::<_, rquickjs::Constructor<'js>>(class)
            .and_then(|c| c.construct::<_, Value<'js>>((message,)));
        match made {
            Ok(error) => ctx.throw(error),
            Err(e) => e,
        }
    }

    /// Runs `f` on the store: the innermost wasm caller's when called from an import, else the
    /// sandbox's own.
    fn with_store<R>(&self, f: impl FnOnce(&mut StoreContextMut<'_, Data>) -> R) -> Result<R> {
        if raw::has_caller() {
            return raw::with_caller(|caller| f(&mut caller.as_context_mut()))
                .ok_or_else(|| self.throw(Kind::Runtime, "the WebAssembly store is busy"));
        }
        match self.store.try_borrow_mut() {
            Ok(mut store) => Ok(f(&mut store.as_context_mut())),
            Err(_) => Err(self.throw(Kind::Runtime, "the WebAssembly store is busy")),
        }
    }

    fn add_extern(&self, e: Extern) -> usize {
        let mut externs = self.externs.borrow_mut();
        externs.push(e);
        externs.len() - 1
    }

    fn get_extern(&self, id: f64) -> Result<Extern> {
        let externs = self.externs.borrow();
        if id.fract() != 0.0 || id < 0.0 {
            return Err(self.throw(Kind::Type, "not a WebAssembly object"));
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked"
        )]
        let index = id as usize;
        externs
            .get(index)
            .cloned()
            .ok_or_else(|| self.throw(Kind::Type, "not a WebAssembly object"))
    }

    fn func(&self, id: f64) -> Result<Func> {
        self.get_extern(id)?
            .into_func()
            .ok_or_else(|| self.throw(Kind::Type, "not a WebAssembly function"))
    }

    fn memory(&self, id: f64) -> Result<Memory> {
        self.get_extern(id)?
            .into_memory()
            .ok_or_else(|| self.throw(Kind::Type, "not a WebAssembly.Memory"))
    }

    fn table(&self, id: f64) -> Result<Table> {
        self.get_extern(id)?
            .into_table()
            .ok_or_else(|| self.throw(Kind::Type, "not a WebAssembly.Table"))
    }

    fn global(&self, id: f64) -> Result<Global> {
        self.get_extern(id)?
            .into_global()
            .ok_or_else(|| self.throw(Kind::Type, "not a WebAssembly.Global"))
    }

    /// The id of `func`, adding it if it is new (a function read from a table).
    fn func_id(&self, store: &mut StoreContextMut<'_, Data>, func: &Func) -> usize {
        // The function's `VMFuncRef` address is its identity within the store.
        let key = func.to_raw(&mut *store).addr();
        if let Some(id) = self.func_ids.borrow().get(&key) {
            return *id;
        }
        let id = self.add_extern(Extern::Func(*func));
        self.func_ids.borrow_mut().insert(key, id);
        id
    }

    /// Detaches the buffers whose memory changed size (all of `memory`'s if given), after a
    /// growth: called before JavaScript runs again.
    fn refresh(&self, store: &mut StoreContextMut<'_, Data>, memory: Option<usize>) {
        if !std::mem::take(&mut store.data_mut().grown) && memory.is_none() {
            return;
        }
        let externs = self.externs.borrow();
        self.buffers.borrow_mut().retain_mut(|(id, len, buffer)| {
            let size = match externs.get(*id) {
                Some(Extern::Memory(m)) => m.data_size(&*store),
                _ => 0,
            };
            let keep = size == *len && memory != Some(*id);
            if !keep {
                buffer.detach();
            }
            keep
        });
    }

    /// A wasm call's failure as the JavaScript exception to throw.
    fn call_error(&self, error: &wasmtime::Error, kind: Kind) -> rquickjs::Error {
        if let Some(thrown) = self.pending.borrow_mut().take() {
            return self.ctx.throw(thrown);
        }
        if let Some(trap) = error.downcast_ref::<Trap>() {
            return self.throw(Kind::Runtime, &trap.to_string());
        }
        self.throw(kind, &format!("{error:#}"))
    }

    /// JavaScript's `ToWebAssemblyValue(value, ty)`.
    fn to_wasm(&self, value: &Value<'js>, ty: &ValType) -> Result<Val> {
        Ok(match ty {
            ValType::I32 => Val::I32(value.clone().get::<rquickjs::convert::Coerced<i32>>()?.0),
            ValType::I64 => Val::I64(self.to_big_int64(value)?),
            ValType::F32 => {
                #[allow(clippy::cast_possible_truncation, reason = "ToWebAssemblyValue rounds")]
                let f = self.to_number(value)? as f32;
                Val::F32(f.to_bits())
            }
            ValType::F64 => Val::F64(self.to_number(value)?.to_bits()),
            ValType::Ref(r) if r.heap_type().is_func() => {
                if value.is_null() {
                    Val::FuncRef(None)
                } else {
                    let id = self.wasm_function_id(value)?;
                    Val::FuncRef(Some(self.func(id)?))
                }
            }
            _ => return Err(self.throw(Kind::Type, "this WebAssembly value type is not supported")),
        })
    }

    fn to_number(&self, value: &Value<'js>) -> Result<f64> {
        if value.is_big_int() {
            return Err(self.throw(Kind::Type, "cannot convert a BigInt to a number"));
        }
        Ok(value.clone().get::<rquickjs::convert::Coerced<f64>>()?.0)
    }

    /// `ToBigInt64`: a BigInt (wrapped to 64 bits), a boolean or a numeric string; a number is
    /// a `TypeError`.
    fn to_big_int64(&self, value: &Value<'js>) -> Result<i64> {
        if let Some(b) = value.as_big_int() {
            return b.clone().to_i64();
        }
        if let Some(b) = value.as_bool() {
            return Ok(i64::from(b));
        }
        let big: Function<'js> = self.ctx.globals().get("BigInt")?;
        if value.is_string() {
            let converted: Value<'js> = big.call((value.clone(),))?;
            if let Some(b) = converted.as_big_int() {
                return b.clone().to_i64();
            }
        }
        Err(self.throw(
            Kind::Type,
            "cannot convert this value to a BigInt (i64 takes a BigInt)",
        ))
    }

    /// wasm.js marks its exported-function wrappers with their id.
    fn wasm_function_id(&self, value: &Value<'js>) -> Result<f64> {
        let id = self
            .dispatch
            .get::<_, Function<'js>>("idOf")
            .ok()
            .and_then(|id_of| {
                id_of
                    .call::<_, Option<f64>>((value.clone(),))
                    .ok()
                    .flatten()
            });
        id.ok_or_else(|| self.throw(Kind::Type, "not an exported WebAssembly function"))
    }

    /// `ToJSValue`: a funcref becomes `["func", id]` for wasm.js to wrap.
    fn to_js(&self, store: &mut StoreContextMut<'_, Data>, val: &Val) -> Result<Value<'js>> {
        let ctx = &self.ctx;
        Ok(match val {
            Val::I32(i) => Value::new_int(ctx.clone(), *i),
            Val::I64(i) => BigInt::from_i64(ctx.clone(), *i)?.into_value(),
            Val::F32(bits) => Value::new_float(ctx.clone(), f64::from(f32::from_bits(*bits))),
            Val::F64(bits) => Value::new_float(ctx.clone(), f64::from_bits(*bits)),
            Val::FuncRef(None) => Value::new_null(ctx.clone()),
            Val::FuncRef(Some(f)) => {
                let id = self.func_id(store, f);
                let pair = Array::new(ctx.clone())?;
                pair.set(0, "func")?;
                pair.set(1, id)?;
                pair.into_value()
            }
            _ => return Err(self.throw(Kind::Type, "this WebAssembly value type is not supported")),
        })
    }

    /// Makes a host function that calls wasm.js's `dispatch(index, args)`.
    fn host_func(
        &self,
        store: &mut StoreContextMut<'_, Data>,
        ty: FuncType,
        index: f64,
    ) -> Result<Func> {
        if !store.data_mut().charge(HOST_FUNC_BYTES) {
            return Err(self.throw(Kind::Range, "out of memory"));
        }
        let results: Vec<ValType> = ty.results().collect();
        Ok(Func::new(
            &mut *store,
            ty,
            move |mut caller, params, out| import_call(&mut caller, index, params, &results, out),
        ))
    }
}

/// An imported JavaScript function called from wasm.
fn import_call(
    caller: &mut Caller<'_, Data>,
    index: f64,
    params: &[Val],
    result_types: &[ValType],
    out: &mut [Val],
) -> wasmtime::Result<()> {
    let ran = raw::with_state(|state| -> std::result::Result<(), ()> {
        state.refresh(&mut caller.as_context_mut(), None);
        let thrown = |state: &State<'_>, e: rquickjs::Error| {
            if e.is_exception() {
                *state.pending.borrow_mut() = Some(state.ctx.catch());
            }
        };
        let args = Array::new(state.ctx.clone()).map_err(|e| thrown(state, e))?;
        for (i, p) in params.iter().enumerate() {
            let v = state
                .to_js(&mut caller.as_context_mut(), p)
                .map_err(|e| thrown(state, e))?;
            args.set(i, v).map_err(|e| thrown(state, e))?;
        }
        let returned: Value<'_> = raw::as_caller(caller, || state.dispatch.call((index, args)))
            .map_err(|e| thrown(state, e))?;
        state.refresh(&mut caller.as_context_mut(), None);
        match result_types.len() {
            0 => {}
            1 => {
                out[0] = state
                    .to_wasm(&returned, &result_types[0])
                    .map_err(|e| thrown(state, e))?
            }
            n => {
                let values: Vec<Value<'_>> = returned.get().map_err(|e| thrown(state, e))?;
                if values.len() != n {
                    let e = state.throw(
                        Kind::Type,
                        "the imported function returned the wrong number of values",
                    );
                    thrown(state, e);
                    return Err(());
                }
                for (i, (v, ty)) in values.iter().zip(result_types).enumerate() {
                    out[i] = state.to_wasm(v, ty).map_err(|e| thrown(state, e))?;
                }
            }
        }
        Ok(())
    });
    match ran {
        Some(Ok(())) => Ok(()),
        // The exception waits in `pending`; an interrupted plugin has none and traps.
        Some(Err(())) => Err(wasmtime::Error::msg("a JavaScript import threw")),
        None => Err(Trap::Interrupt.into()),
    }
}

/// Puts the loader of `WebAssembly` (a lazy global, lazy.rs) together: `{ load, captured }` for
/// stub.js.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    slot: &Slot<'js>,
) -> Result<Object<'js>> {
    let shared = Arc::clone(&gate.shared);
    let slot = Rc::clone(slot);
    let load = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, _captured: Object<'js>| -> Result<Object<'js>> {
            let natives = natives(&ctx, &shared, &slot)?;
            WASM.function(&ctx)?.call((natives,))
        },
    )?;
    let stub = Object::new(ctx.clone())?;
    stub.set("load", load)?;
    stub.set("captured", Object::new(ctx.clone())?)?;
    Ok(stub)
}

/// The state, or a `TypeError` before `init`.
fn state<'js>(ctx: &Ctx<'js>, slot: &Slot<'js>) -> Result<Rc<State<'js>>> {
    slot.borrow()
        .clone()
        .ok_or_else(|| Exception::throw_type(ctx, "WebAssembly is not available"))
}

fn bytes_of<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> Result<Vec<u8>> {
    if let Some(view) = value
        .as_object()
        .and_then(|o| rquickjs::TypedArray::<u8>::from_object(o.clone()).ok())
    {
        return crate::sys::copy_bytes(&view)
            .ok_or_else(|| Exception::throw_type(ctx, "the buffer is detached"));
    }
    Err(Exception::throw_type(
        ctx,
        "WebAssembly takes the module's bytes as an ArrayBuffer or a typed array",
    ))
}

/// Walks a module binary's sections and returns its custom sections (name, contents). Only
/// called on bytes wasmtime accepted.
fn custom_sections(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    fn leb(bytes: &[u8], at: &mut usize) -> Option<usize> {
        let mut result = 0usize;
        let mut shift = 0;
        loop {
            let b = *bytes.get(*at)?;
            *at += 1;
            result |= usize::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(result);
            }
            shift += 7;
            if shift > 35 {
                return None;
            }
        }
    }
    let mut found = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let Some(size) = leb(bytes, &mut at) else {
            break;
        };
        let Some(end) = at.checked_add(size).filter(|e| *e <= bytes.len()) else {
            break;
        };
        if id == 0 {
            let mut p = at;
            if let Some(len) = leb(bytes, &mut p)
                && let Some(name_end) = p.checked_add(len).filter(|e| *e <= end)
            {
                let name = String::from_utf8_lossy(&bytes[p..name_end]).into_owned();
                found.push((name, bytes[name_end..end].to_vec()));
            }
        }
        at = end;
    }
    found
}

fn kind_name(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "function",
        ExternType::Table(_) => "table",
        ExternType::Memory(_) => "memory",
        ExternType::Global(_) => "global",
        ExternType::Tag(_) => "tag",
    }
}

fn val_type_name(ty: &ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::Ref(r) if r.heap_type().is_func() => "anyfunc",
        ValType::Ref(_) => "externref",
    }
}

fn val_type_of(state: &State<'_>, name: &str) -> Result<ValType> {
    Ok(match name {
        "i32" => ValType::I32,
        "i64" => ValType::I64,
        "f32" => ValType::F32,
        "f64" => ValType::F64,
        "anyfunc" | "funcref" => ValType::FUNCREF,
        _ => return Err(state.throw(Kind::Type, "unsupported WebAssembly value type")),
    })
}

fn pages(state: &State<'_>, value: Option<f64>, what: &str) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 && (0.0..=4_294_967_295.0).contains(&v) =>
        {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked"
            )]
            Ok(Some(v as u64))
        }
        Some(_) => Err(state.throw(
            Kind::Type,
            &format!("{what} must be an integer from 0 to 2^32-1"),
        )),
    }
}

/// The native helpers wasm.js is called with.
#[allow(clippy::too_many_lines, reason = "one small closure per helper")]
fn natives<'js>(ctx: &Ctx<'js>, shared: &Arc<Shared>, slot: &Slot<'js>) -> Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;

    // init(dispatch, errors): made once, by wasm.js's first load.
    {
        let slot = Rc::clone(slot);
        let shared = Arc::clone(shared);
        natives.set(
            "init",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, dispatch: Function<'js>, errors: Object<'js>| -> Result<()> {
                    if slot.borrow().is_some() {
                        return Ok(());
                    }
                    let engine = engine().map_err(|e| {
                        Exception::throw_type(&ctx, &format!("WebAssembly cannot start: {e}"))
                    })?;
                    ensure_ticker(engine).map_err(|e| Exception::throw_type(&ctx, &e))?;
                    let mut store = Store::new(
                        engine,
                        Data {
                            meter: Arc::clone(&shared.meter),
                            charged: 0,
                            grown: false,
                        },
                    );
                    store.limiter(|data| data);
                    let epoch = Arc::clone(&shared);
                    store.epoch_deadline_callback(move |_| {
                        if epoch.killed().is_some() {
                            Ok(UpdateDeadline::Interrupt)
                        } else {
                            Ok(UpdateDeadline::Continue(1))
                        }
                    });
                    store.set_epoch_deadline(1);
                    *slot.borrow_mut() = Some(Rc::new(State {
                        ctx: ctx.clone(),
                        store: RefCell::new(store),
                        modules: RefCell::new(Vec::new()),
                        externs: RefCell::new(Vec::new()),
                        func_ids: RefCell::new(std::collections::HashMap::new()),
                        buffers: RefCell::new(Vec::new()),
                        dispatch,
                        pending: RefCell::new(None),
                        errors,
                    }));
                    Ok(())
                },
            )?,
        )?;
    }

    let helper = |name: &str, f: Function<'js>| natives.set(name, f);

    // validate(bytes) -> boolean
    helper(
        "validate",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: Value<'js>| -> Result<bool> {
                let bytes = bytes_of(&ctx, &bytes)?;
                let engine = engine().map_err(|e| Exception::throw_type(&ctx, &e))?;
                Ok(Module::validate(engine, &bytes).is_ok())
            },
        )?,
    )?;

    // compile(bytes) -> module id
    {
        let slot = Rc::clone(slot);
        helper(
            "compile",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, bytes: Value<'js>| -> Result<usize> {
                    let state = state(&ctx, &slot)?;
                    let bytes = bytes_of(&ctx, &bytes)?;
                    let charge = (bytes.len() as u64).saturating_mul(MODULE_FACTOR);
                    if !state.with_store(|s| s.data_mut().charge(charge))? {
                        return Err(state.throw(Kind::Range, "out of memory"));
                    }
                    let engine = engine().map_err(|e| Exception::throw_type(&ctx, &e))?;
                    let module = Module::new(engine, &bytes)
                        .map_err(|e| state.throw(Kind::Compile, &format!("{e:#}")))?;
                    let custom = custom_sections(&bytes);
                    let mut modules = state.modules.borrow_mut();
                    modules.push(Compiled { module, custom });
                    Ok(modules.len() - 1)
                },
            )?,
        )?;
    }

    // moduleImports(id) -> [[module, name, kind]], moduleExports(id) -> [[name, kind]]
    {
        let slot = Rc::clone(slot);
        helper(
            "moduleImports",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: usize| -> Result<Vec<Vec<String>>> {
                    let state = state(&ctx, &slot)?;
                    let modules = state.modules.borrow();
                    let m = modules
                        .get(id)
                        .ok_or_else(|| state.throw(Kind::Type, "not a WebAssembly.Module"))?;
                    Ok(m.module
                        .imports()
                        .map(|i| {
                            vec![
                                i.module().to_owned(),
                                i.name().to_owned(),
                                kind_name(&i.ty()).to_owned(),
                            ]
                        })
                        .collect())
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "moduleExports",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: usize| -> Result<Vec<Vec<String>>> {
                    let state = state(&ctx, &slot)?;
                    let modules = state.modules.borrow();
                    let m = modules
                        .get(id)
                        .ok_or_else(|| state.throw(Kind::Type, "not a WebAssembly.Module"))?;
                    Ok(m.module
                        .exports()
                        .map(|e| vec![e.name().to_owned(), kind_name(&e.ty()).to_owned()])
                        .collect())
                },
            )?,
        )?;
    }
    // customSections(id, name) -> [ArrayBuffer]
    {
        let slot = Rc::clone(slot);
        helper(
            "customSections",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: usize, name: String| -> Result<Vec<ArrayBuffer<'js>>> {
                    let state = state(&ctx, &slot)?;
                    let modules = state.modules.borrow();
                    let m = modules
                        .get(id)
                        .ok_or_else(|| state.throw(Kind::Type, "not a WebAssembly.Module"))?;
                    m.custom
                        .iter()
                        .filter(|(n, _)| *n == name)
                        .map(|(_, bytes)| ArrayBuffer::new_copy(ctx.clone(), bytes))
                        .collect()
                },
            )?,
        )?;
    }

    // instantiate(module id, imports: [function | id | number | bigint]) -> [[name, kind, id]]
    {
        let slot = Rc::clone(slot);
        helper(
            "instantiate",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>,
                      id: usize,
                      given: Vec<Value<'js>>|
                      -> Result<Vec<Value<'js>>> {
                    let state = state(&ctx, &slot)?;
                    let module = {
                        let modules = state.modules.borrow();
                        modules
                            .get(id)
                            .ok_or_else(|| state.throw(Kind::Type, "not a WebAssembly.Module"))?
                            .module
                            .clone()
                    };
                    let _entered = raw::enter(&state);
                    state.with_store(|store| -> Result<Vec<Value<'js>>> {
                    if !store.data_mut().charge(INSTANCE_BYTES) {
                        return Err(state.throw(Kind::Range, "out of memory"));
                    }
                    let mut externs = Vec::new();
                    for (import, value) in module.imports().zip(given.iter()) {
                        let link = |m: &str| state.throw(Kind::Link, &format!("import `{}`.`{}`: {m}", import.module(), import.name()));
                        let e = match import.ty() {
                            ExternType::Func(ty) => {
                                if let Some(id) = value.as_number() {
                                    Extern::Func(state.func(id)?)
                                } else if let Some(host) = value.as_object().and_then(|o| o.get::<_, Option<f64>>("host").ok().flatten()) {
                                    Extern::Func(state.host_func(store, ty, host)?)
                                } else {
                                    return Err(link("must be a function"));
                                }
                            }
                            ExternType::Global(ty) => {
                                if let Some(obj) = value.as_object().filter(|o| o.contains_key("global").unwrap_or(false)) {
                                    let id: f64 = obj.get("global")?;
                                    Extern::Global(state.global(id)?)
                                } else {
                                    if ty.mutability() == Mutability::Var {
                                        return Err(link("a mutable global must be a WebAssembly.Global"));
                                    }
                                    let is_i64 = matches!(ty.content(), ValType::I64);
                                    if is_i64 != value.is_big_int() || !(value.is_number() || value.is_big_int()) {
                                        return Err(link("must be a number (a BigInt for i64) or a WebAssembly.Global"));
                                    }
                                    let v = state.to_wasm(value, ty.content())?;
                                    if !store.data_mut().charge(GLOBAL_BYTES) {
                                        return Err(state.throw(Kind::Range, "out of memory"));
                                    }
                                    Extern::Global(Global::new(&mut *store, ty, v).map_err(|e| link(&format!("{e:#}")))?)
                                }
                            }
                            ExternType::Memory(_) => match value.as_number() {
                                Some(id) => Extern::Memory(state.memory(id).map_err(|_| link("must be a WebAssembly.Memory"))?),
                                None => return Err(link("must be a WebAssembly.Memory")),
                            },
                            ExternType::Table(_) => match value.as_number() {
                                Some(id) => Extern::Table(state.table(id).map_err(|_| link("must be a WebAssembly.Table"))?),
                                None => return Err(link("must be a WebAssembly.Table")),
                            },
                            ExternType::Tag(_) => return Err(link("tags are not supported")),
                        };
                        externs.push(e);
                    }
                    if externs.len() != module.imports().len() {
                        return Err(state.throw(Kind::Type, "missing imports"));
                    }
                    let instance = Instance::new(&mut *store, &module, &externs);
                    state.refresh(store, None);
                    let instance = instance.map_err(|e| state.call_error(&e, Kind::Link))?;
                    let exports: Vec<(String, Extern)> = instance
                        .exports(&mut *store)
                        .map(|e| (e.name().to_owned(), e.into_extern()))
                        .collect();
                    exports
                        .into_iter()
                        .map(|(name, e)| {
                            let kind = match &e {
                                Extern::Func(_) => "function",
                                Extern::Memory(_) => "memory",
                                Extern::Table(_) => "table",
                                Extern::Global(_) => "global",
                                _ => "tag",
                            };
                            let id = match &e {
                                Extern::Func(f) => state.func_id(store, f),
                                _ => state.add_extern(e),
                            };
                            let entry = Array::new(ctx.clone())?;
                            entry.set(0, name)?;
                            entry.set(1, kind)?;
                            entry.set(2, id)?;
                            Ok(entry.into_value())
                        })
                        .collect()
                })?
                },
            )?,
        )?;
    }

    // call(id, args) -> result
    {
        let slot = Rc::clone(slot);
        helper(
            "call",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64, args: Rest<Value<'js>>| -> Result<Value<'js>> {
                    let state = state(&ctx, &slot)?;
                    let func = state.func(id)?;
                    let _entered = raw::enter(&state);
                    state.with_store(|store| -> Result<Value<'js>> {
                        let ty = func.ty(&*store);
                        let undefined = Value::new_undefined(ctx.clone());
                        let params = ty
                            .params()
                            .enumerate()
                            .map(|(i, t)| state.to_wasm(args.0.get(i).unwrap_or(&undefined), &t))
                            .collect::<Result<Vec<Val>>>()?;
                        let mut results = vec![Val::I32(0); ty.results().len()];
                        let called = func.call(&mut *store, &params, &mut results);
                        state.refresh(store, None);
                        called.map_err(|e| state.call_error(&e, Kind::Runtime))?;
                        match results.len() {
                            0 => Ok(undefined),
                            1 => state.to_js(store, &results[0]),
                            _ => {
                                let array = Array::new(ctx.clone())?;
                                for (i, r) in results.iter().enumerate() {
                                    array.set(i, state.to_js(store, r)?)?;
                                }
                                Ok(array.into_value())
                            }
                        }
                    })?
                },
            )?,
        )?;
    }

    // funcInfo(id) -> [param count, name]
    {
        let slot = Rc::clone(slot);
        helper(
            "funcLength",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64| -> Result<usize> {
                    let state = state(&ctx, &slot)?;
                    let func = state.func(id)?;
                    state.with_store(|store| func.ty(&*store).params().len())
                },
            )?,
        )?;
    }

    // memoryNew(initial, maximum?) -> id; memoryGrow(id, delta) -> old pages;
    // memoryBuffer(id) -> ArrayBuffer
    {
        let slot = Rc::clone(slot);
        helper(
            "memoryNew",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, initial: f64, maximum: Opt<Option<f64>>| -> Result<usize> {
                    let state = state(&ctx, &slot)?;
                    let initial = pages(&state, Some(initial), "initial")?.unwrap_or(0);
                    let maximum = pages(&state, maximum.0.flatten(), "maximum")?;
                    if initial > 65_536 || maximum.is_some_and(|m| m > 65_536 || m < initial) {
                        return Err(state.throw(Kind::Range, "invalid WebAssembly.Memory size"));
                    }
                    #[allow(clippy::cast_possible_truncation, reason = "at most 65,536")]
                    let ty = MemoryType::new(initial as u32, maximum.map(|m| m as u32));
                    let memory = state.with_store(|store| {
                        let memory = Memory::new(&mut *store, ty);
                        state.refresh(store, None);
                        memory
                    })?;
                    let memory = memory.map_err(|e| {
                        state.throw(Kind::Range, &format!("cannot allocate the memory: {e:#}"))
                    })?;
                    Ok(state.add_extern(Extern::Memory(memory)))
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "memoryGrow",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64, delta: f64| -> Result<f64> {
                    let state = state(&ctx, &slot)?;
                    let memory = state.memory(id)?;
                    let delta = pages(&state, Some(delta), "delta")?.unwrap_or(0);
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "checked"
                    )]
                    let index = id as usize;
                    let grown = state.with_store(|store| {
                        let grown = memory.grow(&mut *store, delta);
                        state.refresh(store, Some(index));
                        grown
                    })?;
                    #[allow(clippy::cast_precision_loss, reason = "at most 65,536 pages")]
                    grown.map(|old| old as f64).map_err(|_| {
                        state.throw(
                            Kind::Range,
                            "WebAssembly.Memory.grow(): the memory cannot grow that much",
                        )
                    })
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "memoryBuffer",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64| -> Result<ArrayBuffer<'js>> {
                    let state = state(&ctx, &slot)?;
                    let memory = state.memory(id)?;
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "checked"
                    )]
                    let index = id as usize;
                    if let Some((_, _, buffer)) =
                        state.buffers.borrow().iter().find(|(i, _, _)| *i == index)
                    {
                        return Ok(buffer.clone());
                    }
                    let (ptr, len) = state.with_store(|store| {
                        (memory.data_ptr(&*store), memory.data_size(&*store))
                    })?;
                    let buffer = raw::external_buffer(&ctx, ptr, len)?;
                    state
                        .buffers
                        .borrow_mut()
                        .push((index, len, buffer.clone()));
                    Ok(buffer)
                },
            )?,
        )?;
    }

    // tableNew(kind, initial, maximum?) -> id; tableGet/tableSet/tableGrow/tableLength
    {
        let slot = Rc::clone(slot);
        helper(
            "tableNew",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>,
                      element: String,
                      initial: f64,
                      maximum: Opt<Option<f64>>,
                      init: Opt<Value<'js>>|
                      -> Result<usize> {
                    let state = state(&ctx, &slot)?;
                    if !matches!(val_type_of(&state, &element)?, ValType::Ref(_)) {
                        return Err(state.throw(
                            Kind::Type,
                            "WebAssembly.Table: the element type must be \"anyfunc\"",
                        ));
                    }
                    let initial = pages(&state, Some(initial), "initial")?.unwrap_or(0);
                    let maximum = pages(&state, maximum.0.flatten(), "maximum")?;
                    if initial > 10_000_000 || maximum.is_some_and(|m| m < initial) {
                        return Err(state.throw(Kind::Range, "invalid WebAssembly.Table size"));
                    }
                    let value = match init.0 {
                        Some(v) if !v.is_undefined() => state.to_wasm(&v, &ValType::FUNCREF)?,
                        _ => Val::FuncRef(None),
                    };
                    let func = value.unwrap_funcref().copied();
                    #[allow(clippy::cast_possible_truncation, reason = "at most 10,000,000")]
                    let ty = TableType::new(
                        RefType::FUNCREF,
                        initial as u32,
                        maximum.map(|m| m.min(u64::from(u32::MAX)) as u32),
                    );
                    let table =
                        state.with_store(|store| Table::new(&mut *store, ty, Ref::Func(func)))?;
                    let table = table.map_err(|e| {
                        state.throw(Kind::Range, &format!("cannot allocate the table: {e:#}"))
                    })?;
                    Ok(state.add_extern(Extern::Table(table)))
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "tableLength",
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: f64| -> Result<f64> {
                let state = state(&ctx, &slot)?;
                let table = state.table(id)?;
                #[allow(clippy::cast_precision_loss, reason = "tables are far below 2^53")]
                state.with_store(|store| table.size(&*store) as f64)
            })?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "tableGet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64, index: f64| -> Result<Value<'js>> {
                    let state = state(&ctx, &slot)?;
                    let table = state.table(id)?;
                    let index = pages(&state, Some(index), "index")?.unwrap_or(0);
                    state.with_store(|store| match table.get(&mut *store, index) {
                        Some(Ref::Func(f)) => state.to_js(store, &Val::FuncRef(f)),
                        Some(_) => Err(state.throw(Kind::Type, "unsupported table element")),
                        None => Err(state
                            .throw(Kind::Range, "WebAssembly.Table.get(): index out of bounds")),
                    })?
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "tableSet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64, index: f64, value: Value<'js>| -> Result<()> {
                    let state = state(&ctx, &slot)?;
                    let table = state.table(id)?;
                    let index = pages(&state, Some(index), "index")?.unwrap_or(0);
                    let value = state.to_wasm(&value, &ValType::FUNCREF)?;
                    let func = value.unwrap_funcref().copied();
                    state
                        .with_store(|store| table.set(&mut *store, index, Ref::Func(func)))?
                        .map_err(|_| {
                            state.throw(Kind::Range, "WebAssembly.Table.set(): index out of bounds")
                        })
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "tableGrow",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64, delta: f64, init: Opt<Value<'js>>| -> Result<f64> {
                    let state = state(&ctx, &slot)?;
                    let table = state.table(id)?;
                    let delta = pages(&state, Some(delta), "delta")?.unwrap_or(0);
                    let value = match init.0 {
                        Some(v) if !v.is_undefined() => state.to_wasm(&v, &ValType::FUNCREF)?,
                        _ => Val::FuncRef(None),
                    };
                    let func = value.unwrap_funcref().copied();
                    #[allow(clippy::cast_precision_loss, reason = "tables are far below 2^53")]
                    state
                        .with_store(|store| table.grow(&mut *store, delta, Ref::Func(func)))?
                        .map(|old| old as f64)
                        .map_err(|_| {
                            state.throw(
                                Kind::Range,
                                "WebAssembly.Table.grow(): the table cannot grow that much",
                            )
                        })
                },
            )?,
        )?;
    }

    // globalNew(type, mutable, value) -> id; globalGet(id); globalSet(id, value);
    // globalType(id) -> [type, mutable]
    {
        let slot = Rc::clone(slot);
        helper(
            "globalNew",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>,
                      ty: String,
                      mutable: bool,
                      value: Opt<Value<'js>>|
                      -> Result<usize> {
                    let state = state(&ctx, &slot)?;
                    let content = val_type_of(&state, &ty)?;
                    let value = match value.0 {
                        Some(v) if !v.is_undefined() => state.to_wasm(&v, &content)?,
                        _ => match content {
                            ValType::I64 => Val::I64(0),
                            ValType::F32 => Val::F32(0),
                            ValType::F64 => Val::F64(0),
                            ValType::I32 => Val::I32(0),
                            _ => Val::FuncRef(None),
                        },
                    };
                    let ty = GlobalType::new(
                        content,
                        if mutable {
                            Mutability::Var
                        } else {
                            Mutability::Const
                        },
                    );
                    let global = state.with_store(|store| {
                        if !store.data_mut().charge(GLOBAL_BYTES) {
                            return Err(state.throw(Kind::Range, "out of memory"));
                        }
                        Global::new(&mut *store, ty, value)
                            .map_err(|e| state.throw(Kind::Type, &format!("{e:#}")))
                    })??;
                    Ok(state.add_extern(Extern::Global(global)))
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "globalGet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64| -> Result<Value<'js>> {
                    let state = state(&ctx, &slot)?;
                    let global = state.global(id)?;
                    state.with_store(|store| {
                        let v = global.get(&mut *store);
                        state.to_js(store, &v)
                    })?
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "globalSet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64, value: Value<'js>| -> Result<()> {
                    let state = state(&ctx, &slot)?;
                    let global = state.global(id)?;
                    state.with_store(|store| {
                        let ty = global.ty(&*store);
                        if ty.mutability() != Mutability::Var {
                            return Err(state
                                .throw(Kind::Type, "WebAssembly.Global: the global is immutable"));
                        }
                        let v = state.to_wasm(&value, ty.content())?;
                        global
                            .set(&mut *store, v)
                            .map_err(|e| state.throw(Kind::Type, &format!("{e:#}")))
                    })?
                },
            )?,
        )?;
    }
    {
        let slot = Rc::clone(slot);
        helper(
            "globalType",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: f64| -> Result<Vec<Value<'js>>> {
                    let state = state(&ctx, &slot)?;
                    let global = state.global(id)?;
                    let (name, mutable) = state.with_store(|store| {
                        let ty = global.ty(&*store);
                        (
                            val_type_name(ty.content()),
                            ty.mutability() == Mutability::Var,
                        )
                    })?;
                    Ok(vec![
                        rquickjs::String::from_str(ctx.clone(), name)?.into_value(),
                        Value::new_bool(ctx.clone(), mutable),
                    ])
                },
            )?,
        )?;
    }
    Ok(natives)
}

/// The few `unsafe` lines of WebAssembly: an `ArrayBuffer` over a linear memory, and reaching
/// the sandbox's state and the innermost wasm caller from an imported function.
#[allow(
    unsafe_code,
    reason = "an ArrayBuffer over wasm memory; re-entering the store from imports"
)]
mod raw {
    use std::cell::Cell;
    use std::ffi::c_void;

    use rquickjs::{ArrayBuffer, Ctx, Result, Value, qjs};
    use wasmtime::Caller;

    use super::{Data, State};

    thread_local! {
        /// The state of the sandbox whose native call is running wasm on this thread.
        static CURRENT: Cell<*const c_void> = const { Cell::new(std::ptr::null()) };
        /// The innermost wasm caller whose imported function is running JavaScript.
        static CALLER: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
    }

    /// Restores the previous [`CURRENT`] when dropped.
    pub(super) struct Entered(*const c_void);

    impl Drop for Entered {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }

    /// Makes `state` the current state until the guard drops; every native that may run wasm
    /// holds one while it does.
    pub(super) fn enter(state: &State<'_>) -> Entered {
        let ptr = std::ptr::from_ref(state).cast::<c_void>();
        Entered(CURRENT.with(|c| c.replace(ptr)))
    }

    /// `f` on the current state; `None` if no native is running wasm (never the case in an
    /// imported function, which only wasm started by such a native can call).
    pub(super) fn with_state<R>(f: impl FnOnce(&State<'_>) -> R) -> Option<R> {
        let ptr = CURRENT.with(Cell::get);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` was set by `enter` from a `&State` that the native holding the guard
        // borrows (through an `Rc` it keeps) for as long as the guard lives; the guard is
        // dropped, restoring the previous pointer, before that native returns. Imported
        // functions run only inside such a native's wasm call, on this thread, so the state is
        // alive; only shared references are made.
        Some(f(unsafe { &*ptr.cast::<State<'_>>() }))
    }

    /// Runs `f` (JavaScript) with `caller` as the store to use for wasm calls made meanwhile.
    pub(super) fn as_caller<R>(caller: &mut Caller<'_, Data>, f: impl FnOnce() -> R) -> R {
        struct Restore(*mut c_void);
        impl Drop for Restore {
            fn drop(&mut self) {
                CALLER.with(|c| c.set(self.0));
            }
        }
        let ptr = std::ptr::from_mut(caller).cast::<c_void>();
        let _restore = Restore(CALLER.with(|c| c.replace(ptr)));
        f()
    }

    /// Whether an imported function is running JavaScript (then wasm calls use its caller).
    pub(super) fn has_caller() -> bool {
        !CALLER.with(Cell::get).is_null()
    }

    /// `f` on the innermost caller, if an imported function is running.
    pub(super) fn with_caller<R>(f: impl FnOnce(&mut Caller<'_, Data>) -> R) -> Option<R> {
        let ptr = CALLER.with(Cell::get);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` was set by `as_caller` from the `&mut Caller` of an imported function
        // whose frame is still on this thread's stack (it restores the previous pointer before
        // returning), and which does not touch its caller while the JavaScript it runs is
        // running: this is the only live use of it. The lifetime is the frame's.
        Some(f(unsafe { &mut *ptr.cast::<Caller<'_, Data>>() }))
    }

    /// An `ArrayBuffer` of `len` bytes at `ptr` (a linear memory), not owned: QuickJS never
    /// frees, reallocates or resizes it (no realloc function; a different-length `transfer`
    /// throws).
    pub(super) fn external_buffer<'js>(
        ctx: &Ctx<'js>,
        ptr: *mut u8,
        len: usize,
    ) -> Result<ArrayBuffer<'js>> {
        // SAFETY: `ptr..ptr+len` is a linear memory of the sandbox's store. Linear memories
        // never move (`memory_may_move(false)`) and are unmapped only when the store is dropped,
        // at the end of the step after the last JavaScript ran; they never shrink. So every
        // access through this buffer, or a buffer `transfer()`ed from it, stays within mapped
        // memory for as long as JavaScript can make one. `JS_NewArrayBuffer` takes ownership
        // of nothing when `realloc_func` is null; `max_len` 0 makes it fixed-length.
        let value = unsafe {
            let raw = qjs::JS_NewArrayBuffer(
                ctx.as_raw().as_ptr(),
                ptr,
                len as _,
                0,
                None,
                std::ptr::null_mut(),
                false,
            );
            if qjs::JS_IsException(raw) {
                return Err(rquickjs::Error::Exception);
            }
            Value::from_raw(ctx.clone(), raw)
        };
        ArrayBuffer::from_value(value).ok_or(rquickjs::Error::Unknown)
    }
}
