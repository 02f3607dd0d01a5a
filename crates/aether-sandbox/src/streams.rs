//! The stream globals of SPEC §5: the WHATWG Streams classes (`ReadableStream` with default and
//! byte controllers and BYOB readers, `WritableStream`, `TransformStream`, their readers,
//! writers and controllers, `ByteLengthQueuingStrategy`, `CountQueuingStrategy` — the set Node
//! and Deno expose), `TextEncoderStream`, `TextDecoderStream`, `CompressionStream` and
//! `DecompressionStream`; and the helpers that make `Response.body` and `Request.body` streams.
//!
//! The Streams classes are the vendored web-streams-polyfill (`vendor/web-streams-polyfill`,
//! MIT, derived from the standard's reference implementation and tested against the WPT), the
//! text streams are streams.js over `encoding_rs`'s streaming decoders, and compression is
//! `flate2` on its pure-Rust `miniz_oxide` backend, chunk by chunk. None of it reaches a
//! capability: nothing here calls the host. Like web.rs's globals, they are lazy globals
//! (lazy.rs), made when first used, and the script is compiled to bytecode once per process: a
//! sandbox that never touches a stream pays almost nothing for them.
//!
//! Host-side memory counts toward the plugin's ceiling (SPEC §6): each compression stream is
//! charged [`COMPRESSOR_BYTES`] or [`DECOMPRESSOR_BYTES`] for its state for as long as it lives
//! (until it finishes, errors, or is collected), and its output, while Rust holds it, as it
//! grows; output handed to JavaScript is in the engine's heap. A decompression bomb therefore
//! stops the plugin at its ceiling, as any other allocation would. Stream queues are
//! JavaScript objects in the engine's heap.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use rquickjs::{Array, Ctx, Exception, Function, Module, Object, Result, TypedArray, Value};

use crate::bindings::Script;
use crate::gate::Meter;
use crate::sys;

/// What one `CompressionStream` holds on the host, charged to the plugin while it lives:
/// `miniz_oxide`'s compressor (dictionary, hash chains, LZ buffer) and `flate2`'s 32 KiB
/// output buffer, 352,114 bytes measured with flate2 1.1.11, rounded up.
pub(crate) const COMPRESSOR_BYTES: usize = 352 * 1024;

/// What one `DecompressionStream` holds on the host, charged to the plugin while it lives:
/// `miniz_oxide`'s inflater with its 32 KiB window and `flate2`'s 32 KiB buffer, 76,072 bytes
/// measured with flate2 1.1.11, rounded up.
pub(crate) const DECOMPRESSOR_BYTES: usize = 76 * 1024;

/// The Streams classes and streams.js. The module's body is the ponyfill, unmodified, behind
/// streams_object.js (its `Object`, whose descriptors ignore what plugin code put on
/// `Object.prototype`: the ponyfill loads after plugin code ran) and three lines that hide the
/// global object from it: it looks for `DOMException` there at load
/// and would find a plugin's stand-in (or a value the plugin put there); without one it makes
/// its own for the `AbortError` a `pipeTo` signal without a reason gets.
pub(crate) static STREAMS: Script = Script {
    name: "aether:streams",
    source: "",
    module: concat!(
        "const globalThis = undefined;\nconst self = undefined;\nconst global = undefined;\n",
        include_str!("streams_object.js"),
        include_str!("../../../vendor/web-streams-polyfill/ponyfill.mjs"),
        "\nexport default ",
        include_str!("streams.js"),
        ";\n"
    ),
    bytecode: OnceLock::new(),
};

/// Compiles the streams' bytecode now, if it is not yet (see [`crate::prepare`]).
pub(crate) fn prepare() {
    STREAMS.bytecode();
}

/// streams.js's function in `ctx`: from the process's bytecode, or the module compiled here if
/// there is none (it is a module, not a function expression, so [`Script::function`]'s
/// fallback does not apply).
fn function<'js>(ctx: &Ctx<'js>) -> Result<Function<'js>> {
    let module = match STREAMS.bytecode() {
        Some(bytecode) => sys::load_trusted_module(ctx, bytecode)?,
        None => Module::declare(ctx.clone(), STREAMS.name, STREAMS.module)?,
    };
    let (module, _) = module.eval()?;
    module.get("default")
}

/// What stub.js needs to load the stream globals (listed in lazy.rs): `{ load, captured }`
/// (`captured` is empty: streams.js uses no global that plugin code could have replaced).
pub(crate) fn install<'js>(ctx: &Ctx<'js>, meter: &Arc<Meter>) -> Result<Object<'js>> {
    let meter = Arc::clone(meter);
    // The native helpers are made only when streams.js loads.
    let load = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, _captured: Object<'js>| -> Result<Object<'js>> {
            let natives = natives(&ctx, &meter)?;
            function(&ctx)?.call((natives,))
        },
    )?;
    let stub = Object::new(ctx.clone())?;
    stub.set("load", load)?;
    stub.set("captured", Object::new(ctx.clone())?)?;
    Ok(stub)
}

/// streams.js's native helpers: `utf8Encode(text)` → a `Uint8Array`; `decoderNew(label,
/// fatal, ignoreBOM)` → `[name, decode]` or `undefined` (see [`decoder`]); `flateNew(format,
/// compress)` → a step function or `undefined` (see [`flate`]).
fn natives<'js>(ctx: &Ctx<'js>, meter: &Arc<Meter>) -> Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "utf8Encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, text: String| -> Result<TypedArray<'js, u8>> {
                TypedArray::new_copy(ctx, text.as_bytes())
            },
        )?,
    )?;
    let decoder_meter = Arc::clone(meter);
    natives.set(
        "decoderNew",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, label: String, fatal: bool, ignore_bom: bool| {
                decoder(&ctx, &decoder_meter, &label, fatal, ignore_bom)
            },
        )?,
    )?;
    let flate_meter = Arc::clone(meter);
    natives.set(
        "flateNew",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, format: String, compress: bool| {
                flate(&ctx, &flate_meter, &format, compress)
            },
        )?,
    )?;
    Ok(natives)
}

/// Bytes charged to the plugin's memory ceiling while this lives.
struct Charge {
    meter: Arc<Meter>,
    bytes: usize,
}

impl Charge {
    /// `bytes` charged, or `None` if they do not fit under the ceiling (the plugin is then
    /// being stopped for memory, as for any refused allocation).
    fn new(meter: &Arc<Meter>, bytes: usize) -> Option<Self> {
        if !meter.admit(bytes) {
            return None;
        }
        meter.add(bytes);
        Some(Self {
            meter: Arc::clone(meter),
            bytes,
        })
    }

    /// Charges `more` bytes besides; false if they do not fit.
    fn grow(&mut self, more: usize) -> bool {
        if !self.meter.admit(more) {
            return false;
        }
        self.meter.add(more);
        self.bytes += more;
        true
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.meter.sub(self.bytes);
    }
}

/// The "out of memory" error of a refused host-side charge.
fn out_of_memory(ctx: &Ctx<'_>) -> rquickjs::Error {
    Exception::throw_internal(ctx, "out of memory")
}

/// A WHATWG Encoding decoder for `label` (`None` for an unknown label or `replacement`, which
/// the standard's `TextDecoder` refuses): its lowercase name, and `decode(bytes, last)` → the
/// text decoded so far, the bytes of a character split across chunks kept for the next call;
/// `last` flushes them. Where `fatal`, malformed input throws a `TypeError`, else it becomes
/// U+FFFD. Without `ignore_bom`, a leading byte order mark of the encoding is dropped. The
/// decoder's state (a few bytes) lives as long as the function; the text is built on the host
/// under a charge for the length of a call, then copied into the engine.
fn decoder<'js>(
    ctx: &Ctx<'js>,
    meter: &Arc<Meter>,
    label: &str,
    fatal: bool,
    ignore_bom: bool,
) -> Result<Option<Array<'js>>> {
    let Some(encoding) = encoding_rs::Encoding::for_label(label.as_bytes()) else {
        return Ok(None);
    };
    if encoding == encoding_rs::REPLACEMENT {
        return Ok(None);
    }
    let state = if ignore_bom {
        encoding.new_decoder_without_bom_handling()
    } else {
        encoding.new_decoder_with_bom_removal()
    };
    let state = RefCell::new(state);
    let meter = Arc::clone(meter);
    let decode = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, last: bool| -> Result<String> {
            let mut decoder = state.borrow_mut();
            let decoded = sys::read_bytes(&bytes, |input| {
                let capacity = if fatal {
                    decoder.max_utf8_buffer_length_without_replacement(input.len())
                } else {
                    decoder.max_utf8_buffer_length(input.len())
                };
                let capacity = capacity.ok_or(Failure::Memory)?;
                let _charge = Charge::new(&meter, capacity).ok_or(Failure::Memory)?;
                let mut text = String::with_capacity(capacity);
                if fatal {
                    let (result, _) =
                        decoder.decode_to_string_without_replacement(input, &mut text, last);
                    match result {
                        encoding_rs::DecoderResult::InputEmpty => Ok(text),
                        encoding_rs::DecoderResult::Malformed(..)
                        | encoding_rs::DecoderResult::OutputFull => Err(Failure::Malformed),
                    }
                } else {
                    let (result, _, _) = decoder.decode_to_string(input, &mut text, last);
                    match result {
                        encoding_rs::CoderResult::InputEmpty => Ok(text),
                        encoding_rs::CoderResult::OutputFull => Err(Failure::Memory),
                    }
                }
            });
            match decoded {
                None => Err(Exception::throw_type(
                    &ctx,
                    "TextDecoderStream: the chunk's buffer is detached",
                )),
                Some(Ok(text)) => Ok(text),
                Some(Err(Failure::Memory)) => Err(out_of_memory(&ctx)),
                Some(Err(Failure::Malformed)) => Err(Exception::throw_type(
                    &ctx,
                    &format!("The encoded data was not valid {}", encoding.name()),
                )),
            }
        },
    )?;
    let pair = Array::new(ctx.clone())?;
    pair.set(0, encoding.name().to_ascii_lowercase())?;
    pair.set(1, decode)?;
    Ok(Some(pair))
}

/// Why a decoding or (de)compression step failed.
enum Failure {
    /// A host-side buffer did not fit under the plugin's ceiling.
    Memory,
    /// The input is not valid for the format (`TypeError`).
    Malformed,
}

/// Where a (de)compressor writes: a buffer whose size is charged to the plugin as it grows.
struct Sink {
    bytes: Vec<u8>,
    charge: Charge,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let needed = self.bytes.len().saturating_add(data.len());
        if needed > self.bytes.capacity() {
            // Grow as a Vec would (doubling), charging the new capacity before allocating it.
            let capacity = needed.max(self.bytes.capacity().saturating_mul(2));
            let more = capacity - self.bytes.capacity();
            if !self.charge.grow(more) {
                return Err(std::io::ErrorKind::OutOfMemory.into());
            }
            self.bytes.reserve_exact(capacity - self.bytes.len());
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// The bytes written so far, leaving the sink empty and its charge back to the state's.
    fn take(&mut self, state: usize) -> Vec<u8> {
        let bytes = std::mem::take(&mut self.bytes);
        self.charge.meter.sub(self.charge.bytes - state);
        self.charge.bytes = state;
        bytes
    }
}

/// A (de)compressor of one of the Compression standard's formats, writing into a [`Sink`].
enum Flate {
    GzipEncoder(flate2::write::GzEncoder<Sink>),
    DeflateEncoder(flate2::write::ZlibEncoder<Sink>),
    RawEncoder(flate2::write::DeflateEncoder<Sink>),
    GzipDecoder(flate2::write::GzDecoder<Sink>),
    DeflateDecoder(flate2::write::ZlibDecoder<Sink>),
    RawDecoder(flate2::write::DeflateDecoder<Sink>),
}

/// Calls `$f` with the (de)compressor inside a [`Flate`].
macro_rules! with_flate {
    ($flate:expr, |$w:ident| $body:expr) => {
        match $flate {
            Flate::GzipEncoder($w) => $body,
            Flate::DeflateEncoder($w) => $body,
            Flate::RawEncoder($w) => $body,
            Flate::GzipDecoder($w) => $body,
            Flate::DeflateDecoder($w) => $body,
            Flate::RawDecoder($w) => $body,
        }
    };
}

impl Flate {
    /// The (de)compressor of `format` (`gzip`, `deflate` (zlib) or `deflate-raw`), its state
    /// charged to the plugin; `Ok(None)` for another format, `Err` if the charge does not fit.
    fn new(
        meter: &Arc<Meter>,
        format: &str,
        compress: bool,
    ) -> std::result::Result<Option<Self>, Failure> {
        use flate2::Compression;
        if !matches!(format, "gzip" | "deflate" | "deflate-raw") {
            return Ok(None);
        }
        let state = if compress {
            COMPRESSOR_BYTES
        } else {
            DECOMPRESSOR_BYTES
        };
        let charge = Charge::new(meter, state).ok_or(Failure::Memory)?;
        let sink = Sink {
            bytes: Vec::new(),
            charge,
        };
        // Level 6, zlib's default and what Node's and browsers' CompressionStream use.
        let level = Compression::default();
        Ok(Some(match (format, compress) {
            ("gzip", true) => Self::GzipEncoder(flate2::write::GzEncoder::new(sink, level)),
            ("deflate", true) => Self::DeflateEncoder(flate2::write::ZlibEncoder::new(sink, level)),
            ("deflate-raw", true) => {
                Self::RawEncoder(flate2::write::DeflateEncoder::new(sink, level))
            }
            ("gzip", false) => Self::GzipDecoder(flate2::write::GzDecoder::new(sink)),
            ("deflate", false) => Self::DeflateDecoder(flate2::write::ZlibDecoder::new(sink)),
            _ => Self::RawDecoder(flate2::write::DeflateDecoder::new(sink)),
        }))
    }

    /// The bytes charged for the state alone.
    fn state_bytes(&self) -> usize {
        match self {
            Self::GzipEncoder(_) | Self::DeflateEncoder(_) | Self::RawEncoder(_) => {
                COMPRESSOR_BYTES
            }
            _ => DECOMPRESSOR_BYTES,
        }
    }

    /// Feeds `input` (or, with `None`, finishes the stream) and returns the output so far, with
    /// the failure that stopped it if any (the output made before a failure is kept: the
    /// Compression standard hands it over before erroring the stream).
    fn step(&mut self, input: Option<&[u8]>) -> (Vec<u8>, Option<Failure>) {
        let state = self.state_bytes();
        let decoder = state == DECOMPRESSOR_BYTES;
        let written = with_flate!(self, |w| match input {
            // A decoder keeps the output of the last write in its buffer until the next one:
            // flushed, so that each chunk's output is enqueued as the chunk is written (the
            // standard's "decompress and enqueue a chunk"). An encoder is not flushed: a sync
            // flush per chunk would change the compressed bytes.
            Some(input) if decoder => w.write_all(input).and_then(|()| w.flush()),
            Some(input) => w.write_all(input),
            None => w.try_finish(),
        });
        let output = with_flate!(self, |w| w.get_mut().take(state));
        let failure = match written {
            Ok(()) => None,
            Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => Some(Failure::Memory),
            Err(_) => Some(Failure::Malformed),
        };
        (output, failure)
    }
}

/// `flateNew(format, compress)`: a step function over a new (de)compressor of `format`, or
/// `undefined` for a format other than `gzip`, `deflate` and `deflate-raw`. `step(bytes)`
/// feeds a chunk, `step(undefined)` finishes; each returns an array of the output chunks
/// (`Uint8Array`s, none if there is no output yet). After corrupt input, data after the end, or
/// (when finishing) a truncated stream, the array also has an `error` message, for a
/// `TypeError` that streams.js throws once it has enqueued the output made before; the state
/// is dropped once finished or failed, and its charge with it.
fn flate<'js>(
    ctx: &Ctx<'js>,
    meter: &Arc<Meter>,
    format: &str,
    compress: bool,
) -> Result<Option<Function<'js>>> {
    let flate = match Flate::new(meter, format, compress) {
        Ok(Some(flate)) => flate,
        Ok(None) => return Ok(None),
        Err(_) => return Err(out_of_memory(ctx)),
    };
    let who = if compress {
        "CompressionStream"
    } else {
        "DecompressionStream"
    };
    let state = RefCell::new(Some(flate));
    let step = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, chunk: Value<'js>| -> Result<Array<'js>> {
            let finishing = chunk.is_undefined();
            let mut slot = state.borrow_mut();
            let Some(flate) = slot.as_mut() else {
                return Err(Exception::throw_type(
                    &ctx,
                    &format!("{who}: the stream has already finished"),
                ));
            };
            let (output, failure) = if finishing {
                flate.step(None)
            } else {
                let bytes = TypedArray::<u8>::from_value(chunk)?;
                // The input is read in place: it is in the engine's heap already.
                sys::read_bytes(&bytes, |input| flate.step(Some(input))).ok_or_else(|| {
                    Exception::throw_type(&ctx, &format!("{who}: the chunk's buffer is detached"))
                })?
            };
            // Done with once finished or failed (the stream errors): its charge goes with it.
            if finishing || failure.is_some() {
                *slot = None;
            }
            if matches!(failure, Some(Failure::Memory)) {
                return Err(out_of_memory(&ctx));
            }
            let chunks = Array::new(ctx.clone())?;
            if !output.is_empty() {
                // Copied into the engine's heap (its allocator counts it), then freed here.
                chunks.set(0, TypedArray::<u8>::new_copy(ctx.clone(), &output)?)?;
            }
            if failure.is_some() {
                let problem = if compress {
                    "the data could not be compressed"
                } else if finishing {
                    "the compressed data ended before the end of the stream"
                } else {
                    "the compressed data is corrupt or has data after its end"
                };
                chunks
                    .as_object()
                    .set("error", format!("{who}: {problem}"))?;
            }
            Ok(chunks)
        },
    )?;
    Ok(Some(step))
}
