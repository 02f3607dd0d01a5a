//! `atob` and `btoa`: native, so that using them loads no script; what is not base64 (or not
//! Latin-1) throws an "InvalidCharacterError" `DOMException`, as in Node.js (HTML §8.3).

use rquickjs::convert::Coerced;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Result, Value};

use super::args::usv_string;

/// Installs the `atob` and `btoa` globals.
pub(super) fn install<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let globals = ctx.globals();
    let atob = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, data: Opt<Value<'js>>| -> Result<String> {
            let data = base64_argument(&ctx, "atob", data.0)?;
            base64_decode(&data).ok_or_else(|| {
                invalid_character(
                    &ctx,
                    "atob: the string to be decoded is not correctly encoded",
                )
            })
        },
    )?
    .with_name("atob")?
    .with_length(1)?;
    globals.set("atob", atob)?;
    let btoa = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, data: Opt<Value<'js>>| -> Result<String> {
            let data = base64_argument(&ctx, "btoa", data.0)?;
            base64_encode(&data).ok_or_else(|| {
                invalid_character(
                    &ctx,
                    "btoa: the string contains characters outside of the Latin1 range",
                )
            })
        },
    )?
    .with_name("btoa")?
    .with_length(1)?;
    globals.set("btoa", btoa)?;
    Ok(())
}

/// `atob`'s or `btoa`'s argument as WebIDL converts it to a string: a `TypeError` when it is
/// missing or a Symbol; lone surrogates become U+FFFD (which neither function accepts).
fn base64_argument<'js>(ctx: &Ctx<'js>, who: &str, value: Option<Value<'js>>) -> Result<String> {
    let Some(value) = value else {
        return Err(Exception::throw_type(
            ctx,
            &format!("{who}: 1 argument required, but only 0 present"),
        ));
    };
    let text = value.get::<Coerced<rquickjs::String<'js>>>()?.0;
    usv_string(ctx, &text)
}

/// Throws the realm's `DOMException` named "InvalidCharacterError" (code 5), as HTML has `atob`
/// and `btoa` do. The class is read from the global object only here, so that the web globals
/// (web.js) load on the first failure, not on every use; a plugin that replaced `DOMException`
/// gets what its replacement makes (or, if it is no constructor, an `Error` of that name).
fn invalid_character(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    if let Ok(class) = ctx
        .globals()
        .get::<_, rquickjs::function::Constructor>("DOMException")
    {
        return match class.construct::<_, Value>((message, "InvalidCharacterError")) {
            Ok(error) => ctx.throw(error),
            Err(e) => e,
        };
    }
    let built = Exception::from_message(ctx.clone(), message).and_then(|e| {
        e.as_object().set("name", "InvalidCharacterError")?;
        Ok(e)
    });
    match built {
        Ok(e) => e.throw(),
        Err(e) => e,
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `btoa`: `None` if a character is above U+00FF.
fn base64_encode(text: &str) -> Option<String> {
    let bytes = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()?;
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    Some(out)
}

/// `atob` (WHATWG forgiving-base64 decode): `None` if the input is not valid base64.
fn base64_decode(text: &str) -> Option<String> {
    let mut data: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r'))
        .collect();
    if !text.is_ascii() {
        return None;
    }
    if data.len().is_multiple_of(4) {
        for _ in 0..2 {
            if data.last() == Some(&b'=') {
                data.pop();
            }
        }
    }
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = String::with_capacity(data.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for b in data {
        let v = BASE64.iter().position(|&c| c == b)?;
        buffer = buffer << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(char::from((buffer >> bits) as u8));
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_latin1() {
        for text in ["", "a", "ab", "abc", "abcd", "h\u{e9}llo\u{ff}\u{0}"] {
            let encoded = base64_encode(text).expect("latin1");
            assert_eq!(base64_decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(base64_encode("hello").as_deref(), Some("aGVsbG8="));
        assert_eq!(base64_decode(" aGVs bG8 ").as_deref(), Some("hello"));
        assert_eq!(base64_encode("\u{100}"), None);
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("a*=="), None);
    }
}
