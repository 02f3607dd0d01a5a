//! The WinterTC globals of SPEC §5 that are not host calls: `URL`, `URLSearchParams`,
//! `URLPattern`, `DOMException`, `structuredClone`, `crypto` (`getRandomValues`,
//! `randomUUID`, and `subtle`: `digest`; `importKey`, `exportKey`, `generateKey`, `sign`,
//! `verify`, `encrypt`, `decrypt`, `deriveBits`, `deriveKey`, `wrapKey`, `unwrapKey` for HMAC,
//! AES-GCM, AES-CBC, AES-CTR, AES-KW, PBKDF2, HKDF, Ed25519, X25519, ECDSA and ECDH on P-256,
//! P-384 and P-521, RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP), `performance` (`now`, `timeOrigin`),
//! `navigator` (`userAgent`), `reportError`, `Event`, `EventTarget`, `AbortController` and
//! `AbortSignal` (with `fetch`'s `signal`), `Blob`, `File`, `FormData` and `Request`; and,
//! natively on the step's timers, `setInterval` and `clearInterval`.
//!
//! They are JavaScript (web.js) over a few native helpers: the WHATWG URL parser and setters
//! (the `url` crate), URL patterns (the `urlpattern` crate, Deno's), `application/
//! x-www-form-urlencoded` (its `form_urlencoded`), the OS random generator,
//! and RustCrypto's SHA-1/SHA-2, `hmac`, `aes-gcm` and `ed25519-dalek` here, the rest of
//! `crypto.subtle` in subtle.rs. None of them reaches a capability: nothing here calls the
//! host. Like the prelude's classes they are lazy globals (lazy.rs), made when first used, so
//! a sandbox that never touches them pays almost nothing for them.
//!
//! Host-side memory (SPEC §6): none is held between calls. A `Blob`'s bytes, a `Request`'s body
//! (bytes, or a stream of streams.rs) and a `CryptoKey`'s material live in the engine's heap, under the plugin's ceiling, and every
//! byte a native hands back is copied into that heap ([`engine_buffer`]), never left in a
//! buffer over Rust's allocator that the meter would not see; digests, signatures and AES-GCM
//! read (and AES-GCM writes) the plugin's bytes in place; `getRandomValues` fills at most
//! [`MAX_RANDOM_BYTES`] through a buffer of that size. Small inputs (keys, IVs, signatures) are
//! copied for the length of a call.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Result, TypedArray, Value};
use sha1::Digest;

use crate::bindings::Script;
use crate::engine::Tasks;
use crate::gate::Shared;
use crate::sys;
use crate::tasks::SlowCalls;

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
/// to load the lazy globals whose source is web.js (lazy.rs): `{ load, captured }`, `captured` holding the
/// `console.error`, `setTimeout` and `clearTimeout` web.js uses, as they were before plugin
/// code ran (stub.js adds `Headers`, a function returning the prelude's class).
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    tasks: &Tasks<'_, 'js>,
    shared: &Arc<Shared>,
) -> Result<Object<'js>> {
    crate::bindings::install_timers(ctx, tasks.timers, "setInterval", "clearInterval", true)?;
    let calls = Rc::clone(tasks.calls);
    let shared = Arc::clone(shared);
    // The native helpers are made only when web.js loads: a sandbox that never uses a web
    // global does not pay for them.
    let load = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, captured: Object<'js>| -> Result<Object<'js>> {
            // The time origin is the step's sandbox's creation (or, for one prepared before
            // its step, the step's start), as a worker's is its start.
            let (origin, origin_ms) = shared.origin();
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
    install_url_pattern_natives(ctx, &natives)?;
    install_crypto_natives(ctx, &natives)?;
    natives.set(
        "utf8Encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, text: String| -> Result<TypedArray<'js, u8>> {
                engine_bytes(&ctx, &text.into_bytes())
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

/// An `ArrayBuffer` holding a copy of `bytes` in the engine's own heap (QuickJS's allocator,
/// which the step's meter counts), never one over Rust's allocation (rquickjs's
/// `ArrayBuffer::new`), whose bytes the ceiling would not see for as long as the plugin keeps
/// the buffer (SPEC §6: host-side bytes count). `bytes` itself is freed when the caller returns.
pub(crate) fn engine_buffer<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Result<ArrayBuffer<'js>> {
    ArrayBuffer::new_copy(ctx.clone(), bytes)
}

/// A `Uint8Array` over an [`engine_buffer`] copy of `bytes`.
pub(crate) fn engine_bytes<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Result<TypedArray<'js, u8>> {
    TypedArray::from_arraybuffer(engine_buffer(ctx, bytes)?)
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

/// `URLPattern`'s native half, Deno's split (`urlpattern::quirks`): the crate parses and
/// canonicalizes, the engine's own `RegExp` matches (the patterns' regular expressions are
/// ECMAScript's). `urlPatternParse(input, baseURL?, ignoreCase)`, `input` the JSON of a string
/// or of a `URLPatternInit` holding only strings → the JSON of the compiled components
/// (`quirks::UrlPattern`); `urlPatternMatchInput(input, baseURL?)` → the JSON of
/// `[components, [input, baseURL?]]`, or `null` for input that is no URL. Both throw a
/// `TypeError` naming what is wrong with the pattern or the arguments.
fn install_url_pattern_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    use urlpattern::quirks;
    let parse_input = |ctx: &Ctx<'js>, json: &str| -> Result<quirks::StringOrInit<'static>> {
        serde_json::from_str(json).map_err(|e| {
            Exception::throw_type(
                ctx,
                &format!("URLPattern: the input is not a string or a URLPatternInit: {e}"),
            )
        })
    };
    natives.set(
        "urlPatternParse",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  input: String,
                  base: Option<String>,
                  ignore_case: bool|
                  -> Result<String> {
                let input = parse_input(&ctx, &input)?;
                let options = urlpattern::UrlPatternOptions {
                    regex_syntax: urlpattern::RegexSyntax::EcmaScript,
                    ignore_case,
                };
                let pattern = quirks::process_construct_pattern_input(input, base.as_deref())
                    .and_then(|init| quirks::parse_pattern::<quirks::EcmaRegexp>(init, options))
                    .map_err(|e| Exception::throw_type(&ctx, &format!("URLPattern: {e}")))?;
                serde_json::to_string(&pattern)
                    .map_err(|e| Exception::throw_internal(&ctx, &e.to_string()))
            },
        )?,
    )?;
    natives.set(
        "urlPatternMatchInput",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, input: String, base: Option<String>| -> Result<String> {
                let input = parse_input(&ctx, &input)?;
                let processed = quirks::process_match_input(input, base.as_deref())
                    .map_err(|e| Exception::throw_type(&ctx, &format!("URLPattern: {e}")))?;
                let matched = processed.and_then(|(input, inputs)| {
                    quirks::parse_match_input(input).map(|values| (values, inputs))
                });
                serde_json::to_string(&matched)
                    .map_err(|e| Exception::throw_internal(&ctx, &e.to_string()))
            },
        )?,
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

/// The SHA named `hash` (as web.js normalizes it) of `data`.
pub(crate) fn sha_digest(hash: &str, data: &[u8]) -> Option<Vec<u8>> {
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
                engine_bytes(&ctx, &bytes)
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
                engine_buffer(&ctx, &mac)
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
                    Some(key) => engine_buffer(&ctx, &key.verifying_key().to_bytes()).map(Some),
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
                signature.map(|s| engine_buffer(&ctx, &s)).transpose()
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
    crate::subtle::install(ctx, natives)?;
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
                engine_buffer(&ctx, &hash)
            },
        )?,
    )?;
    Ok(())
}
