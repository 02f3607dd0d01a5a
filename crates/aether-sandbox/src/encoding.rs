//! `TextDecoder`'s decoders (WHATWG Encoding §7) on `encoding_rs`, the decoder Firefox uses:
//! every encoding of the standard, `fatal`, `ignoreBOM` and streaming (`decode(bytes, { stream:
//! true })`). prelude.js's `TextDecoder` is the JavaScript half.
//!
//! A streaming decoder keeps state between calls (a split multi-byte sequence, ISO-2022-JP's
//! mode), so it lives here, by number, from the first `stream: true` call to the call that
//! ends the stream; a decoder the plugin drops mid-stream is closed when its `TextDecoder` is
//! collected (a `FinalizationRegistry`), and at most [`MAX_STREAMING_DECODERS`] are open at
//! once. Nothing here touches a capability.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use encoding_rs::{CoderResult, Decoder, DecoderResult, Encoding};
use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray};

use crate::sys;

/// The most streaming decoders a step holds at once (each is under 100 bytes of host memory,
/// outside the memory ceiling, hence a bound). One more is a `RangeError`.
pub(crate) const MAX_STREAMING_DECODERS: usize = 1024;

#[derive(Default)]
struct Streams {
    next: u32,
    open: HashMap<u32, Decoder>,
}

/// Adds `decoderEncoding`, `decodeOnce`, `decoderOpen`, `decoderFeed` and `decoderClose` to the
/// prelude's natives.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    // The standard's name of the encoding a label names (lower case), or undefined; the
    // "replacement" encoding is not one `TextDecoder` accepts.
    natives.set(
        "decoderEncoding",
        Function::new(ctx.clone(), |label: String| -> Option<String> {
            Encoding::for_label(label.as_bytes())
                .filter(|e| *e != encoding_rs::REPLACEMENT)
                .map(|e| e.name().to_ascii_lowercase())
        })?,
    )?;
    natives.set(
        "decodeOnce",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             name: String,
             bytes: TypedArray<'js, u8>,
             fatal: bool,
             ignore_bom: bool|
             -> Result<String> {
                let mut decoder = new_decoder(&ctx, &name, ignore_bom)?;
                feed(&ctx, &mut decoder, &bytes, fatal, true)
            },
        )?,
    )?;
    let streams = Rc::new(RefCell::new(Streams::default()));
    let open = Rc::clone(&streams);
    natives.set(
        "decoderOpen",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, ignore_bom: bool| -> Result<u32> {
                let decoder = new_decoder(&ctx, &name, ignore_bom)?;
                let mut streams = open.borrow_mut();
                if streams.open.len() >= MAX_STREAMING_DECODERS {
                    return Err(Exception::throw_range(
                        &ctx,
                        &format!(
                            "TextDecoder: more than {MAX_STREAMING_DECODERS} streams are being decoded at once; end some with decode() without `stream: true`"
                        ),
                    ));
                }
                streams.next = streams.next.wrapping_add(1);
                let id = streams.next;
                streams.open.insert(id, decoder);
                Ok(id)
            },
        )?,
    )?;
    let fed = Rc::clone(&streams);
    natives.set(
        "decoderFeed",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  id: u32,
                  bytes: TypedArray<'js, u8>,
                  fatal: bool,
                  last: bool|
                  -> Result<String> {
                // Taken out while it decodes, put back unless the stream ended or failed.
                let Some(mut decoder) = fed.borrow_mut().open.remove(&id) else {
                    return Err(Exception::throw_type(
                        &ctx,
                        "TextDecoder: the stream is closed",
                    ));
                };
                let text = feed(&ctx, &mut decoder, &bytes, fatal, last)?;
                if !last {
                    fed.borrow_mut().open.insert(id, decoder);
                }
                Ok(text)
            },
        )?,
    )?;
    natives.set(
        "decoderClose",
        Function::new(ctx.clone(), move |id: u32| {
            streams.borrow_mut().open.remove(&id);
        })?,
    )?;
    Ok(())
}

fn new_decoder(ctx: &Ctx<'_>, name: &str, ignore_bom: bool) -> Result<Decoder> {
    let Some(encoding) = Encoding::for_label(name.as_bytes()) else {
        return Err(Exception::throw_range(
            ctx,
            &format!("TextDecoder: unknown encoding `{name}`"),
        ));
    };
    // WHATWG: a BOM of the decoder's own encoding is dropped unless `ignoreBOM`; a BOM never
    // switches the encoding (what `new_decoder` would do).
    Ok(if ignore_bom {
        encoding.new_decoder_without_bom_handling()
    } else {
        encoding.new_decoder_with_bom_removal()
    })
}

/// Decodes `bytes`; `last` ends the stream (a pending partial sequence becomes U+FFFD, or an
/// error when `fatal`). A malformed sequence under `fatal` is a `TypeError`.
fn feed<'js>(
    ctx: &Ctx<'js>,
    decoder: &mut Decoder,
    bytes: &TypedArray<'js, u8>,
    fatal: bool,
    last: bool,
) -> Result<String> {
    let decoded = sys::read_bytes(bytes, |input| {
        let mut out = String::new();
        let mut read = 0;
        loop {
            let rest = &input[read..];
            let room = if fatal {
                decoder.max_utf8_buffer_length_without_replacement(rest.len())
            } else {
                decoder.max_utf8_buffer_length(rest.len())
            };
            out.reserve(room.unwrap_or(rest.len().saturating_mul(3)).max(16));
            if fatal {
                let (result, n) =
                    decoder.decode_to_string_without_replacement(rest, &mut out, last);
                read += n;
                match result {
                    DecoderResult::InputEmpty => return Some(out),
                    DecoderResult::OutputFull => {}
                    DecoderResult::Malformed(..) => return None,
                }
            } else {
                let (result, n, _) = decoder.decode_to_string(rest, &mut out, last);
                read += n;
                match result {
                    CoderResult::InputEmpty => return Some(out),
                    CoderResult::OutputFull => {}
                }
            }
        }
    });
    match decoded {
        Some(Some(text)) => Ok(text),
        Some(None) => Err(Exception::throw_type(
            ctx,
            &format!(
                "TextDecoder: the data is not valid {}",
                decoder.encoding().name()
            ),
        )),
        None => Err(Exception::throw_type(
            ctx,
            "TextDecoder: the buffer is detached",
        )),
    }
}
