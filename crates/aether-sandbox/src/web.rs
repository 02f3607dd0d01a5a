//! The WinterTC globals of SPEC §5 that are not host calls: `URL`, `URLSearchParams`,
//! `DOMException`, `structuredClone`, `crypto` (`getRandomValues`, `randomUUID`, and `subtle`:
//! `digest`; `importKey`, `exportKey`, `generateKey` for HMAC, Ed25519 and ECDSA P-256, with
//! `sign` and `verify`, and for AES-GCM, with `encrypt` and `decrypt`), `performance` (`now`,
//! `timeOrigin`), `navigator` (`userAgent`), `reportError`, `Event`, `EventTarget`,
//! `AbortController` and `AbortSignal` (with `fetch`'s `signal`), `Blob`, `File`, `FormData`
//! and `Request`; and, natively on the step's timers, `setInterval` and `clearInterval`.
//!
//! They are JavaScript (web.js) over a few native helpers: the WHATWG URL parser and setters
//! (the `url` crate), `application/x-www-form-urlencoded` (its `form_urlencoded`), the OS random
//! generator, and RustCrypto's SHA-1/SHA-2, `hmac`, `aes-gcm` and `p256` with `ed25519-dalek`.
//! None of them reaches a capability: nothing here calls the host. Like the prelude's classes
//! they are stand-ins on the global object until first used (made by stub.js), so a sandbox
//! that never touches them pays only for the stand-ins.
//!
//! Host-side memory: none is held between calls. A `Blob`'s bytes, a `Request`'s body (bytes,
//! or a stream of streams.rs) and a `CryptoKey`'s material live in the engine's heap, under the
//! plugin's ceiling; digests,
//! signatures and AES-GCM read (and AES-GCM writes) the plugin's bytes in place;
//! `getRandomValues` fills at most [`MAX_RANDOM_BYTES`] through a buffer of that size. Small
//! inputs (keys, IVs, signatures) are copied for the length of a call.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Result, TypedArray, Value};
use sha1::Digest;

use crate::bindings::Script;
use crate::engine::Tasks;
use crate::sys;
use crate::tasks::SlowCalls;

/// The globals web.js defines, in the order the stand-ins are made.
pub(crate) const NAMES: [&str; 16] = [
    "Request",
    "Blob",
    "File",
    "FormData",
    "Event",
    "EventTarget",
    "AbortController",
    "AbortSignal",
    "URL",
    "URLSearchParams",
    "DOMException",
    "structuredClone",
    "crypto",
    "performance",
    "navigator",
    "reportError",
];

/// The most bytes one `crypto.getRandomValues` call fills (WebCrypto: 65,536; more is a
/// `QuotaExceededError`).
pub(crate) const MAX_RANDOM_BYTES: usize = 65_536;

/// `performance.now()` is a multiple of this many milliseconds (100 µs, Chrome's resolution
/// where pages are not cross-origin isolated): a finer clock would sharpen timing side channels
/// against the host process the thread tier shares, and plugins have no use for it.
const NOW_RESOLUTION_MS: f64 = 0.1;

/// The globals themselves.
static WEB: Script = Script {
    name: "aether:web",
    source: include_str!("web.js"),
    module: concat!("export default ", include_str!("web.js"), ";\n"),
    bytecode: OnceLock::new(),
};

/// Compiles web.js's bytecode now, if it is not yet (see [`crate::prepare`]).
pub(crate) fn prepare() {
    WEB.bytecode();
}

/// Puts `setInterval` and `clearInterval` on the global object, and returns what stub.js needs
/// to make the stand-ins for [`NAMES`]: `{ load, names, captured }`, `captured` holding the
/// `console.error`, `setTimeout` and `clearTimeout` web.js uses, as they were before plugin
/// code ran (stub.js adds `Headers`, a function returning the prelude's class).
pub(crate) fn install<'js>(ctx: &Ctx<'js>, tasks: &Tasks<'_, 'js>) -> Result<Object<'js>> {
    crate::bindings::install_timers(ctx, tasks.timers, "setInterval", "clearInterval", true)?;
    let calls = Rc::clone(tasks.calls);
    // The time origin is the sandbox's creation, as a worker's is its start.
    let origin = Instant::now();
    let origin_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    // The native helpers are made only when web.js loads: a sandbox that never uses a web
    // global does not pay for them.
    let load = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, captured: Object<'js>| -> Result<Object<'js>> {
            let natives = natives(&ctx, origin, origin_ms, &calls)?;
            natives.set("logError", captured.get::<_, Value<'js>>("logError")?)?;
            natives.set("setTimeout", captured.get::<_, Value<'js>>("setTimeout")?)?;
            natives.set(
                "clearTimeout",
                captured.get::<_, Value<'js>>("clearTimeout")?,
            )?;
            natives.set("Headers", captured.get::<_, Value<'js>>("Headers")?)?;
            // streams.rs's globals and whether they are loaded (stub.js), for `Request.body`.
            natives.set("streams", captured.get::<_, Value<'js>>("streams")?)?;
            natives.set(
                "streamsLoaded",
                captured.get::<_, Value<'js>>("streamsLoaded")?,
            )?;
            WEB.function(&ctx)?.call((natives,))
        },
    )?;
    // Taken now, before plugin code runs and can replace them.
    let globals = ctx.globals();
    let console: Object<'js> = globals.get("console")?;
    let captured = Object::new(ctx.clone())?;
    captured.set("logError", console.get::<_, Value<'js>>("error")?)?;
    captured.set("setTimeout", globals.get::<_, Value<'js>>("setTimeout")?)?;
    captured.set(
        "clearTimeout",
        globals.get::<_, Value<'js>>("clearTimeout")?,
    )?;
    let stub = Object::new(ctx.clone())?;
    stub.set("load", load)?;
    stub.set("names", NAMES.to_vec())?;
    stub.set("captured", captured)?;
    Ok(stub)
}

/// The native helpers web.js is called with; `origin` (`origin_ms` after the Unix epoch) is
/// `performance`'s time origin. `callMark()` and `abandonCalls(from, to)` abandon the host calls
/// a `fetch` with an aborted signal started ([`SlowCalls::abandon`]).
fn natives<'js>(
    ctx: &Ctx<'js>,
    origin: Instant,
    origin_ms: f64,
    calls: &Rc<RefCell<SlowCalls<'js>>>,
) -> Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    let mark_calls = Rc::clone(calls);
    natives.set(
        "callMark",
        Function::new(ctx.clone(), move || {
            // Ids count up from 0: far below 2^53.
            #[allow(clippy::cast_precision_loss, reason = "ids stay far below 2^53")]
            let mark = mark_calls.borrow().mark() as f64;
            mark
        })?,
    )?;
    let abandon_calls = Rc::clone(calls);
    natives.set(
        "abandonCalls",
        Function::new(ctx.clone(), move |from: f64, to: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "marks web.js got from callMark: whole numbers from 0 to 2^53"
            )]
            abandon_calls.borrow_mut().abandon(from as u64, to as u64);
        })?,
    )?;
    install_url_natives(ctx, &natives)?;
    install_crypto_natives(ctx, &natives)?;
    natives.set(
        "utf8Encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, text: String| -> Result<TypedArray<'js, u8>> {
                TypedArray::new(ctx, text.into_bytes())
            },
        )?,
    )?;
    natives.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |bytes: TypedArray<'js, u8>| -> Option<String> {
                // WHATWG "UTF-8 decode": a leading BOM is dropped, bad bytes become U+FFFD.
                sys::read_bytes(&bytes, |b| {
                    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
                    String::from_utf8_lossy(b).into_owned()
                })
            },
        )?,
    )?;
    natives.set("timeOrigin", coarse(origin_ms))?;
    natives.set(
        "now",
        Function::new(ctx.clone(), move || {
            coarse(origin.elapsed().as_secs_f64() * 1000.0)
        })?,
    )?;
    natives.set("userAgent", concat!("aether/", env!("CARGO_PKG_VERSION")))?;
    Ok(natives)
}

/// `ms` rounded down to [`NOW_RESOLUTION_MS`].
fn coarse(ms: f64) -> f64 {
    (ms / NOW_RESOLUTION_MS).floor() * NOW_RESOLUTION_MS
}

/// The components web.js's `URL` caches, in this order: href, origin, protocol, username,
/// password, host, hostname, port, pathname, search, hash.
fn components(url: &url::Url) -> Vec<String> {
    use url::quirks;
    [
        quirks::href(url),
        &quirks::origin(url),
        quirks::protocol(url),
        quirks::username(url),
        quirks::password(url),
        quirks::host(url),
        quirks::hostname(url),
        quirks::port(url),
        quirks::pathname(url),
        quirks::search(url),
        quirks::hash(url),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `urlParse(input, base?)` → components or `undefined` (WHATWG URL "basic URL parser");
/// `urlSet(href, attribute, value)` → the components after the attribute's setter, or
/// `undefined` when the setter changed nothing; `formParse(text)` → `[[name, value]...]`;
/// `formSerialize([[name, value]...])` → text.
fn install_url_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |input: String, base: Opt<String>| -> Option<Vec<String>> {
                let url = match base.0 {
                    Some(base) => url::Url::parse(&base).ok()?.join(&input).ok()?,
                    None => url::Url::parse(&input).ok()?,
                };
                Some(components(&url))
            },
        )?,
    )?;
    natives.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |href: String, attribute: String, value: String| -> Option<Vec<String>> {
                use url::quirks;
                let mut url = url::Url::parse(&href).ok()?;
                let changed = match attribute.as_str() {
                    "href" => quirks::set_href(&mut url, &value).is_ok(),
                    "protocol" => quirks::set_protocol(&mut url, &value).is_ok(),
                    "username" => quirks::set_username(&mut url, &value).is_ok(),
                    "password" => quirks::set_password(&mut url, &value).is_ok(),
                    "host" => quirks::set_host(&mut url, &value).is_ok(),
                    "hostname" => quirks::set_hostname(&mut url, &value).is_ok(),
                    "port" => quirks::set_port(&mut url, &value).is_ok(),
                    "pathname" => {
                        quirks::set_pathname(&mut url, &value);
                        true
                    }
                    "search" => {
                        quirks::set_search(&mut url, &value);
                        true
                    }
                    "hash" => {
                        quirks::set_hash(&mut url, &value);
                        true
                    }
                    _ => false,
                };
                changed.then(|| components(&url))
            },
        )?,
    )?;
    natives.set(
        "formParse",
        Function::new(ctx.clone(), |text: String| -> Vec<Vec<String>> {
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(name, value)| vec![name.into_owned(), value.into_owned()])
                .collect()
        })?,
    )?;
    natives.set(
        "formSerialize",
        Function::new(ctx.clone(), |pairs: Vec<Vec<String>>| -> String {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for pair in &pairs {
                if let [name, value] = pair.as_slice() {
                    serializer.append_pair(name, value);
                }
            }
            serializer.finish()
        })?,
    )?;
    Ok(())
}

/// A fresh HMAC with the SHA named `hash` (as web.js normalizes it) under `key`, given to `$f`;
/// `None` for another name.
macro_rules! with_hmac {
    ($hash:expr, $key:expr, |$mac:ident| $body:expr) => {{
        use hmac::Mac;
        match $hash {
            "SHA-1" => hmac::Hmac::<sha1::Sha1>::new_from_slice($key)
                .ok()
                .map(|mut $mac| $body),
            "SHA-256" => hmac::Hmac::<sha2::Sha256>::new_from_slice($key)
                .ok()
                .map(|mut $mac| $body),
            "SHA-384" => hmac::Hmac::<sha2::Sha384>::new_from_slice($key)
                .ok()
                .map(|mut $mac| $body),
            "SHA-512" => hmac::Hmac::<sha2::Sha512>::new_from_slice($key)
                .ok()
                .map(|mut $mac| $body),
            _ => None,
        }
    }};
}

/// HMAC of `data` under `key` with the SHA named `hash`.
fn hmac_sign(hash: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    with_hmac!(hash, key, |mac| {
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    })
}

/// Whether `signature` is the HMAC of `data` under `key`, compared in constant time.
fn hmac_verify(hash: &str, key: &[u8], signature: &[u8], data: &[u8]) -> bool {
    with_hmac!(hash, key, |mac| {
        mac.update(data);
        mac.verify_slice(signature).is_ok()
    })
    .unwrap_or(false)
}

/// AES-GCM with a 16-, 24- or 32-byte key, given to `$f`; `None` for another key length.
macro_rules! with_aes_gcm {
    ($key:expr, |$cipher:ident| $body:expr) => {{
        use aes_gcm::KeyInit;
        match $key.len() {
            16 => aes_gcm::Aes128Gcm::new_from_slice($key)
                .ok()
                .map(|$cipher| $body),
            24 => {
                aes_gcm::AesGcm::<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(
                    $key,
                )
                .ok()
                .map(|$cipher| $body)
            }
            32 => aes_gcm::Aes256Gcm::new_from_slice($key)
                .ok()
                .map(|$cipher| $body),
            _ => None,
        }
    }};
}

/// Encrypts `buffer[..len]` in place and writes the 16-byte tag after it; false if the key,
/// the IV (96 bits) or the buffer's size is wrong.
fn aes_gcm_seal(key: &[u8], iv: &[u8], aad: &[u8], buffer: &mut [u8], len: usize) -> bool {
    use aes_gcm::AeadInPlace;
    if iv.len() != 12 || buffer.len() != len.saturating_add(16) {
        return false;
    }
    let nonce = aes_gcm::Nonce::from_slice(iv);
    let (data, tag_out) = buffer.split_at_mut(len);
    with_aes_gcm!(
        key,
        |cipher| match cipher.encrypt_in_place_detached(nonce, aad, data) {
            Ok(tag) => {
                tag_out.copy_from_slice(&tag);
                true
            }
            Err(_) => false,
        }
    )
    .unwrap_or(false)
}

/// Decrypts `buffer` in place if `tag` authenticates it (and `aad`); false otherwise.
fn aes_gcm_open(key: &[u8], iv: &[u8], aad: &[u8], buffer: &mut [u8], tag: &[u8]) -> bool {
    use aes_gcm::AeadInPlace;
    if iv.len() != 12 || tag.len() != 16 {
        return false;
    }
    let nonce = aes_gcm::Nonce::from_slice(iv);
    let tag = aes_gcm::Tag::from_slice(tag);
    with_aes_gcm!(key, |cipher| cipher
        .decrypt_in_place_detached(nonce, aad, buffer, tag)
        .is_ok())
    .unwrap_or(false)
}

/// ECDSA P-256, keys as web.js holds them (a private key's 32-byte scalar, a public key's
/// 65-byte uncompressed SEC1 point): `p256Public(d)` → the point; `p256Point(sec1)` → the point
/// uncompressed; `p256FromSpki(der)`, `p256ToSpki(point)`, `p256FromPkcs8(der)` → the scalar,
/// `p256ToPkcs8(d)`; `p256Sign(hash, d, data)` → the IEEE P1363 signature (r ‖ s, RFC 6979
/// nonces); `p256Verify(hash, point, signature, data)` → whether it verifies. `undefined`
/// (or false) for input that is not a valid key, DER or signature.
fn install_p256_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
    type Bytes<'js> = TypedArray<'js, u8>;
    let buffer = |ctx: &Ctx<'js>, bytes: Option<Vec<u8>>| -> Result<Option<ArrayBuffer<'js>>> {
        bytes.map(|b| ArrayBuffer::new(ctx.clone(), b)).transpose()
    };
    let secret =
        |d: &Bytes<'js>| sys::copy_bytes(d).and_then(|d| p256::SecretKey::from_slice(&d).ok());
    let public = |point: &Bytes<'js>| {
        sys::copy_bytes(point).and_then(|p| p256::PublicKey::from_sec1_bytes(&p).ok())
    };
    let uncompressed = |key: &p256::PublicKey| {
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(key, false)
            .as_bytes()
            .to_vec()
    };
    natives.set(
        "p256Public",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: Bytes<'js>| {
            buffer(&ctx, secret(&d).map(|k| uncompressed(&k.public_key())))
        })?,
    )?;
    natives.set(
        "p256Point",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, point: Bytes<'js>| {
            buffer(&ctx, public(&point).map(|k| uncompressed(&k)))
        })?,
    )?;
    natives.set(
        "p256FromSpki",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, der: Bytes<'js>| {
            let key =
                sys::copy_bytes(&der).and_then(|d| p256::PublicKey::from_public_key_der(&d).ok());
            buffer(&ctx, key.map(|k| uncompressed(&k)))
        })?,
    )?;
    natives.set(
        "p256ToSpki",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, point: Bytes<'js>| {
            let der = public(&point).and_then(|k| k.to_public_key_der().ok());
            buffer(&ctx, der.map(|d| d.as_bytes().to_vec()))
        })?,
    )?;
    natives.set(
        "p256FromPkcs8",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, der: Bytes<'js>| {
            let key = sys::copy_bytes(&der).and_then(|d| p256::SecretKey::from_pkcs8_der(&d).ok());
            buffer(&ctx, key.map(|k| k.to_bytes().to_vec()))
        })?,
    )?;
    natives.set(
        "p256ToPkcs8",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: Bytes<'js>| {
            let der = secret(&d).and_then(|k| k.to_pkcs8_der().ok());
            buffer(&ctx, der.map(|d| d.as_bytes().to_vec()))
        })?,
    )?;
    natives.set(
        "p256Sign",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, hash: String, d: Bytes<'js>, data: Bytes<'js>| {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let signature = secret(&d).and_then(|key| {
                    let digest =
                        sys::read_bytes(&data, |data| sha_digest(&hash, data)).flatten()?;
                    let signer = p256::ecdsa::SigningKey::from(key);
                    let signature: p256::ecdsa::Signature = signer.sign_prehash(&digest).ok()?;
                    Some(signature.to_bytes().to_vec())
                });
                buffer(&ctx, signature)
            },
        )?,
    )?;
    natives.set(
        "p256Verify",
        Function::new(
            ctx.clone(),
            move |hash: String,
                  point: Bytes<'js>,
                  signature: Bytes<'js>,
                  data: Bytes<'js>|
                  -> bool {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                let key = public(&point).map(p256::ecdsa::VerifyingKey::from);
                let signature = sys::copy_bytes(&signature)
                    .and_then(|s| p256::ecdsa::Signature::from_slice(&s).ok());
                let digest = sys::read_bytes(&data, |data| sha_digest(&hash, data)).flatten();
                match (key, signature, digest) {
                    (Some(key), Some(signature), Some(digest)) => {
                        key.verify_prehash(&digest, &signature).is_ok()
                    }
                    _ => false,
                }
            },
        )?,
    )?;
    Ok(())
}

/// The SHA named `hash` (as web.js normalizes it) of `data`.
fn sha_digest(hash: &str, data: &[u8]) -> Option<Vec<u8>> {
    match hash {
        "SHA-1" => Some(sha1::Sha1::digest(data).to_vec()),
        "SHA-256" => Some(sha2::Sha256::digest(data).to_vec()),
        "SHA-384" => Some(sha2::Sha384::digest(data).to_vec()),
        "SHA-512" => Some(sha2::Sha512::digest(data).to_vec()),
        _ => None,
    }
}

/// The Ed25519 signing key whose 32-byte seed (RFC 8032's private key) `seed` holds.
fn ed25519_key(seed: &TypedArray<'_, u8>) -> Option<ed25519_dalek::SigningKey> {
    let seed = sys::copy_bytes(seed)?;
    let seed = <[u8; 32]>::try_from(seed.as_slice()).ok()?;
    Some(ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// `random(n)` → a `Uint8Array` of `n` (at most [`MAX_RANDOM_BYTES`]) bytes from the OS
/// generator; `digest(name, bytes)` → an `ArrayBuffer`, `name` one of `SHA-1`, `SHA-256`,
/// `SHA-384`, `SHA-512` (web.js normalizes it); `hmac(hash, key, data)` → an `ArrayBuffer`;
/// `hmacVerify(hash, key, signature, data)` → whether it matches, in constant time;
/// `aesGcmSeal(key, iv, aad, buffer, len)` and `aesGcmOpen(key, iv, aad, buffer, tag)` → whether
/// they encrypted or decrypted `buffer` in place (a buffer web.js has just allocated);
/// `ed25519Public(seed)`, `ed25519Sign(seed, data)` → an `ArrayBuffer` (`undefined` for a seed
/// that is not 32 bytes); `ed25519Verify(public, signature, data)` → whether it verifies.
fn install_crypto_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "random",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, n: usize| -> Result<TypedArray<'js, u8>> {
                let mut bytes = vec![0; n.min(MAX_RANDOM_BYTES)];
                getrandom::getrandom(&mut bytes).map_err(|e| {
                    Exception::throw_internal(
                        &ctx,
                        &format!("crypto: the operating system's random generator failed: {e}"),
                    )
                })?;
                TypedArray::new(ctx, bytes)
            },
        )?,
    )?;
    natives.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             hash: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>|
             -> Result<ArrayBuffer<'js>> {
                let key = sys::copy_bytes(&key);
                let mac = key.and_then(|key| {
                    sys::read_bytes(&data, |data| hmac_sign(&hash, &key, data)).flatten()
                });
                let mac = mac.ok_or_else(|| {
                    Exception::throw_type(&ctx, "crypto.subtle.sign: the data is detached")
                })?;
                ArrayBuffer::new(ctx, mac)
            },
        )?,
    )?;
    natives.set(
        "hmacVerify",
        Function::new(
            ctx.clone(),
            |hash: String,
             key: TypedArray<'js, u8>,
             signature: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>|
             -> bool {
                let (Some(key), Some(signature)) =
                    (sys::copy_bytes(&key), sys::copy_bytes(&signature))
                else {
                    return false;
                };
                sys::read_bytes(&data, |data| hmac_verify(&hash, &key, &signature, data))
                    .unwrap_or(false)
            },
        )?,
    )?;
    natives.set(
        "aesGcmSeal",
        Function::new(
            ctx.clone(),
            |key: TypedArray<'js, u8>,
             iv: TypedArray<'js, u8>,
             aad: TypedArray<'js, u8>,
             buffer: TypedArray<'js, u8>,
             len: usize|
             -> bool {
                let (Some(key), Some(iv)) = (sys::copy_bytes(&key), sys::copy_bytes(&iv)) else {
                    return false;
                };
                sys::read_bytes(&aad, |aad| {
                    sys::write_bytes(&buffer, |buffer| aes_gcm_seal(&key, &iv, aad, buffer, len))
                })
                .flatten()
                .unwrap_or(false)
            },
        )?,
    )?;
    natives.set(
        "aesGcmOpen",
        Function::new(
            ctx.clone(),
            |key: TypedArray<'js, u8>,
             iv: TypedArray<'js, u8>,
             aad: TypedArray<'js, u8>,
             buffer: TypedArray<'js, u8>,
             tag: TypedArray<'js, u8>|
             -> bool {
                let (Some(key), Some(iv), Some(tag)) = (
                    sys::copy_bytes(&key),
                    sys::copy_bytes(&iv),
                    sys::copy_bytes(&tag),
                ) else {
                    return false;
                };
                sys::read_bytes(&aad, |aad| {
                    sys::write_bytes(&buffer, |buffer| aes_gcm_open(&key, &iv, aad, buffer, &tag))
                })
                .flatten()
                .unwrap_or(false)
            },
        )?,
    )?;
    natives.set(
        "ed25519Public",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, seed: TypedArray<'js, u8>| -> Result<Option<ArrayBuffer<'js>>> {
                match ed25519_key(&seed) {
                    Some(key) => {
                        ArrayBuffer::new(ctx, key.verifying_key().to_bytes().to_vec()).map(Some)
                    }
                    None => Ok(None),
                }
            },
        )?,
    )?;
    natives.set(
        "ed25519Sign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             seed: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>|
             -> Result<Option<ArrayBuffer<'js>>> {
                use ed25519_dalek::Signer;
                let signature = ed25519_key(&seed)
                    .and_then(|key| sys::read_bytes(&data, |data| key.sign(data).to_vec()));
                signature.map(|s| ArrayBuffer::new(ctx, s)).transpose()
            },
        )?,
    )?;
    natives.set(
        "ed25519Verify",
        Function::new(
            ctx.clone(),
            |public: TypedArray<'js, u8>,
             signature: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>|
             -> bool {
                use ed25519_dalek::Verifier;
                let key = sys::copy_bytes(&public)
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
                    .and_then(|bytes| ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok());
                let signature = sys::copy_bytes(&signature)
                    .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok());
                let (Some(key), Some(signature)) = (key, signature) else {
                    return false;
                };
                sys::read_bytes(&data, |data| key.verify(data, &signature).is_ok()).unwrap_or(false)
            },
        )?,
    )?;
    install_p256_natives(ctx, natives)?;
    natives.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String, bytes: TypedArray<'js, u8>| -> Result<ArrayBuffer<'js>> {
                let hash = match name.as_str() {
                    "SHA-1" => sys::read_bytes(&bytes, |b| sha1::Sha1::digest(b).to_vec()),
                    "SHA-256" => sys::read_bytes(&bytes, |b| sha2::Sha256::digest(b).to_vec()),
                    "SHA-384" => sys::read_bytes(&bytes, |b| sha2::Sha384::digest(b).to_vec()),
                    "SHA-512" => sys::read_bytes(&bytes, |b| sha2::Sha512::digest(b).to_vec()),
                    _ => None,
                };
                let hash = hash.ok_or_else(|| {
                    Exception::throw_type(&ctx, "crypto.subtle.digest: the data is detached")
                })?;
                ArrayBuffer::new(ctx, hash)
            },
        )?,
    )?;
    Ok(())
}
