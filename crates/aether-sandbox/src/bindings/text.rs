//! `TextEncoder` and `TextDecoder`'s native helpers (the classes are JavaScript, in the
//! prelude): UTF-8 here, every other WHATWG encoding in `encoding.rs`.

use rquickjs::{Ctx, Exception, Function, Object, Result, TypedArray};

use crate::sys;

/// Sets `encode`, `decode` and the legacy encodings' decoders on `natives`.
pub(super) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, text: String| -> Result<TypedArray<'js, u8>> {
                crate::web::engine_bytes(&ctx, &text.into_bytes())
            },
        )?,
    )?;
    natives.set(
        "decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             bytes: TypedArray<'js, u8>,
             fatal: bool,
             ignore_bom: bool|
             -> Result<String> {
                let bytes = sys::copy_bytes(&bytes).unwrap_or_default();
                let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
                    Some(rest) if !ignore_bom => rest,
                    _ => &bytes[..],
                };
                if fatal {
                    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| {
                        Exception::throw_type(&ctx, "The encoded data was not valid utf-8")
                    })
                } else {
                    Ok(String::from_utf8_lossy(bytes).into_owned())
                }
            },
        )?,
    )?;
    // TextDecoder's decoders for every WHATWG encoding (encoding.rs).
    crate::encoding::install(ctx, natives)
}
