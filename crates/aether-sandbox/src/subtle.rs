//! The native half of the rest of `crypto.subtle` (issue 18), beside web.rs's digests, HMAC,
//! AES-GCM, Ed25519 and ECDSA P-256: AES-CBC, AES-CTR and AES-KW; PBKDF2 and HKDF; ECDSA and
//! ECDH on P-256 and P-384; X25519; RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP. All RustCrypto.
//!
//! Like web.rs's helpers these are pure functions of their arguments: no key is kept here
//! between calls (web.js's `CryptoKey` holds its material in the engine's heap, under the
//! plugin's memory ceiling), nothing reaches the host, and every result is copied into the
//! engine's heap ([`crate::web::engine_buffer`]). Input that is not a valid key, DER, signature
//! or ciphertext gives `undefined` (or `false`), which web.js turns into the WebCrypto
//! exception (`DataError`, `OperationError`).
//!
//! RSA decryption (RSA-OAEP) is RustCrypto's `rsa` 0.9, which RUSTSEC-2023-0071 (the Marvin
//! attack) says is not constant-time: a party able to submit many ciphertexts to a key and time
//! the decryptions precisely could, in principle, recover the plaintext of one. See SECURITY.md
//! for why that is accepted inside the sandbox.

use rquickjs::{ArrayBuffer, Ctx, Function, Object, Result, TypedArray};

use crate::sys;
use crate::web::{engine_buffer, sha_digest};

type Bytes<'js> = TypedArray<'js, u8>;

/// `Some` bytes as an engine `ArrayBuffer`, `None` as `undefined`.
fn buffer<'js>(ctx: &Ctx<'js>, bytes: Option<Vec<u8>>) -> Result<Option<ArrayBuffer<'js>>> {
    bytes.map(|b| engine_buffer(ctx, &b)).transpose()
}

/// Installs every helper on `natives`.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    install_aes(ctx, natives)?;
    install_kdf(ctx, natives)?;
    install_ec(ctx, natives)?;
    install_x25519(ctx, natives)?;
    install_rsa(ctx, natives)?;
    Ok(())
}

// --- AES-CBC, AES-CTR, AES-KW ---------------------------------------------------------------

/// The AES block cipher for a 16-, 24- or 32-byte key, given to `$body` as `$cipher`.
macro_rules! with_aes {
    ($key:expr, |$cipher:ident: $ty:ident| $body:expr) => {{
        use aes::cipher::KeyInit;
        match $key.len() {
            16 => {
                type $ty = aes::Aes128;
                <$ty>::new_from_slice($key).ok().and_then(|$cipher| $body)
            }
            24 => {
                type $ty = aes::Aes192;
                <$ty>::new_from_slice($key).ok().and_then(|$cipher| $body)
            }
            32 => {
                type $ty = aes::Aes256;
                <$ty>::new_from_slice($key).ok().and_then(|$cipher| $body)
            }
            _ => None,
        }
    }};
}

/// AES-CBC with PKCS #7 padding (WebCrypto §27): `None` for a bad key or IV, or a ciphertext
/// whose padding is wrong.
fn aes_cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    if iv.len() != 16 {
        return None;
    }
    with_aes!(key, |_cipher: Aes| {
        if encrypt {
            cbc::Encryptor::<Aes>::new_from_slices(key, iv)
                .ok()
                .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(data))
        } else {
            cbc::Decryptor::<Aes>::new_from_slices(key, iv)
                .ok()
                .and_then(|c| c.decrypt_padded_vec_mut::<Pkcs7>(data).ok())
        }
    })
}

/// AES-CTR (WebCrypto §26): the rightmost `length` bits of the 16-byte `counter` count blocks
/// and wrap around; `None` if the data would reuse a counter value, or for a bad key.
fn aes_ctr(key: &[u8], counter: &[u8], length: u32, data: &[u8]) -> Option<Vec<u8>> {
    use aes::cipher::BlockEncrypt;
    let counter = u128::from_be_bytes(<[u8; 16]>::try_from(counter).ok()?);
    if length == 0 || length > 128 {
        return None;
    }
    let blocks = data.len().div_ceil(16) as u128;
    if length < 128 && blocks > (1u128 << length) {
        return None;
    }
    let mask = if length == 128 {
        u128::MAX
    } else {
        (1u128 << length) - 1
    };
    with_aes!(key, |cipher: Aes| {
        let mut out = data.to_vec();
        let mut block_counter = counter;
        for chunk in out.chunks_mut(16) {
            let mut block = aes::Block::from(block_counter.to_be_bytes());
            cipher.encrypt_block(&mut block);
            for (byte, k) in chunk.iter_mut().zip(block.iter()) {
                *byte ^= k;
            }
            block_counter = (block_counter & !mask) | (block_counter.wrapping_add(1) & mask);
        }
        Some(out)
    })
}

/// AES-KW (RFC 3394): wraps `data` (a multiple of 8 bytes, at least 16) or unwraps it; `None`
/// if the sizes are wrong or the wrapped key does not authenticate.
fn aes_kw(wrap: bool, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    macro_rules! kw {
        ($kek:ty) => {{
            let kek = <$kek>::try_from(key).ok()?;
            if wrap {
                kek.wrap_vec(data).ok()
            } else {
                kek.unwrap_vec(data).ok()
            }
        }};
    }
    match key.len() {
        16 => kw!(aes_kw::KekAes128),
        24 => kw!(aes_kw::KekAes192),
        32 => kw!(aes_kw::KekAes256),
        _ => None,
    }
}

/// `aesCbc(encrypt, key, iv, data)`, `aesCtr(key, counter, length, data)`,
/// `aesKw(wrap, key, data)` → an `ArrayBuffer`, or `undefined` (see each function).
fn install_aes<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "aesCbc",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, encrypt: bool, key: Bytes<'js>, iv: Bytes<'js>, data: Bytes<'js>| {
                let out = match (sys::copy_bytes(&key), sys::copy_bytes(&iv)) {
                    (Some(key), Some(iv)) => {
                        sys::read_bytes(&data, |d| aes_cbc(encrypt, &key, &iv, d)).flatten()
                    }
                    _ => None,
                };
                buffer(&ctx, out)
            },
        )?,
    )?;
    natives.set(
        "aesCtr",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, key: Bytes<'js>, counter: Bytes<'js>, length: u32, data: Bytes<'js>| {
                let out = match (sys::copy_bytes(&key), sys::copy_bytes(&counter)) {
                    (Some(key), Some(counter)) => {
                        sys::read_bytes(&data, |d| aes_ctr(&key, &counter, length, d)).flatten()
                    }
                    _ => None,
                };
                buffer(&ctx, out)
            },
        )?,
    )?;
    natives.set(
        "aesKw",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, wrap: bool, key: Bytes<'js>, data: Bytes<'js>| {
                let out = sys::copy_bytes(&key)
                    .and_then(|key| sys::read_bytes(&data, |d| aes_kw(wrap, &key, d)).flatten());
                buffer(&ctx, out)
            },
        )?,
    )?;
    Ok(())
}

// --- PBKDF2, HKDF ---------------------------------------------------------------------------

/// Runs `$body` with `$d` the digest type named `$hash` (as web.js normalizes it); `None` for
/// another name.
macro_rules! with_digest {
    ($hash:expr, |$d:ident| $body:expr) => {
        match $hash {
            "SHA-1" => {
                type $d = sha1::Sha1;
                $body
            }
            "SHA-256" => {
                type $d = sha2::Sha256;
                $body
            }
            "SHA-384" => {
                type $d = sha2::Sha384;
                $body
            }
            "SHA-512" => {
                type $d = sha2::Sha512;
                $body
            }
            _ => None,
        }
    };
}

/// PBKDF2 with HMAC-`hash`: `bytes` bytes of key from `password` and `salt`.
fn pbkdf2(
    hash: &str,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    bytes: usize,
) -> Option<Vec<u8>> {
    with_digest!(hash, |D| {
        let mut out = vec![0; bytes];
        pbkdf2::pbkdf2_hmac::<D>(password, salt, iterations, &mut out);
        Some(out)
    })
}

/// HKDF (RFC 5869) with `hash`: `None` past 255 times the hash's size.
fn hkdf(hash: &str, ikm: &[u8], salt: &[u8], info: &[u8], bytes: usize) -> Option<Vec<u8>> {
    with_digest!(hash, |D| {
        let mut out = vec![0; bytes];
        hkdf::Hkdf::<D>::new(Some(salt), ikm)
            .expand(info, &mut out)
            .ok()
            .map(|()| out)
    })
}

/// `pbkdf2(hash, password, salt, iterations, bytes)`, `hkdf(hash, ikm, salt, info, bytes)` →
/// an `ArrayBuffer`, or `undefined`.
fn install_kdf<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "pbkdf2",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             hash: String,
             password: Bytes<'js>,
             salt: Bytes<'js>,
             iterations: u32,
             bytes: usize| {
                let out = match (sys::copy_bytes(&password), sys::copy_bytes(&salt)) {
                    (Some(p), Some(s)) => pbkdf2(&hash, &p, &s, iterations, bytes),
                    _ => None,
                };
                buffer(&ctx, out)
            },
        )?,
    )?;
    natives.set(
        "hkdf",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             hash: String,
             ikm: Bytes<'js>,
             salt: Bytes<'js>,
             info: Bytes<'js>,
             bytes: usize| {
                let out = match (
                    sys::copy_bytes(&ikm),
                    sys::copy_bytes(&salt),
                    sys::copy_bytes(&info),
                ) {
                    (Some(k), Some(s), Some(i)) => hkdf(&hash, &k, &s, &i, bytes),
                    _ => None,
                };
                buffer(&ctx, out)
            },
        )?,
    )?;
    Ok(())
}

// --- ECDSA and ECDH on P-256, P-384 and P-521 ------------------------------------------------------

/// Runs `$body` with `$c` the curve crate named `$curve` (`P-256`, `P-384`, `P-521`); `None`
/// otherwise.
macro_rules! on_curve {
    ($curve:expr, |$c:ident| $body:expr) => {
        match $curve {
            "P-256" => {
                use p256 as $c;
                $body
            }
            "P-384" => {
                use p384 as $c;
                $body
            }
            "P-521" => {
                use p521 as $c;
                $body
            }
            _ => None,
        }
    };
}

/// What the EC helpers do, keys as web.js holds them (a private key's scalar, a public key's
/// uncompressed SEC1 point).
#[derive(Clone, Copy)]
enum Ec {
    /// The public point of a scalar.
    Public,
    /// Any SEC1 point, uncompressed.
    Point,
    /// The point of an SPKI.
    FromSpki,
    /// The SPKI of a point.
    ToSpki,
    /// The scalar of a PKCS #8.
    FromPkcs8,
    /// The PKCS #8 of a scalar.
    ToPkcs8,
}

fn ec_convert(curve: &str, op: Ec, input: &[u8]) -> Option<Vec<u8>> {
    use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
    on_curve!(curve, |c| {
        use c::elliptic_curve::sec1::ToEncodedPoint;
        let point = |key: &c::PublicKey| key.to_encoded_point(false).as_bytes().to_vec();
        match op {
            Ec::Public => c::SecretKey::from_slice(input)
                .ok()
                .map(|k| point(&k.public_key())),
            Ec::Point => c::PublicKey::from_sec1_bytes(input).ok().map(|k| point(&k)),
            Ec::FromSpki => c::PublicKey::from_public_key_der(input)
                .ok()
                .map(|k| point(&k)),
            Ec::ToSpki => c::PublicKey::from_sec1_bytes(input)
                .ok()
                .and_then(|k| k.to_public_key_der().ok())
                .map(|d| d.as_bytes().to_vec()),
            Ec::FromPkcs8 => c::SecretKey::from_pkcs8_der(input)
                .ok()
                .map(|k| k.to_bytes().to_vec()),
            Ec::ToPkcs8 => c::SecretKey::from_slice(input)
                .ok()
                .and_then(|k| k.to_pkcs8_der().ok())
                .map(|d| d.as_bytes().to_vec()),
        }
    })
}

/// ECDSA (r ‖ s, RFC 6979 nonces) over the `hash` digest of `data`.
fn ec_sign(curve: &str, hash: &str, d: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    on_curve!(curve, |c| {
        use c::ecdsa::signature::hazmat::PrehashSigner;
        let key = c::ecdsa::SigningKey::from_slice(d).ok()?;
        let digest = sha_digest(hash, data)?;
        let signature: c::ecdsa::Signature = key.sign_prehash(&digest).ok()?;
        Some(signature.to_bytes().to_vec())
    })
}

fn ec_verify(curve: &str, hash: &str, point: &[u8], signature: &[u8], data: &[u8]) -> bool {
    ec_verified(curve, hash, point, signature, data).unwrap_or(false)
}

/// Whether the signature verifies; `None` for a key, signature or hash that is not valid.
fn ec_verified(
    curve: &str,
    hash: &str,
    point: &[u8],
    signature: &[u8],
    data: &[u8],
) -> Option<bool> {
    on_curve!(curve, |c| {
        use c::ecdsa::signature::hazmat::PrehashVerifier;
        let key = c::ecdsa::VerifyingKey::from_sec1_bytes(point).ok()?;
        let signature = c::ecdsa::Signature::from_slice(signature).ok()?;
        let digest = sha_digest(hash, data)?;
        Some(key.verify_prehash(&digest, &signature).is_ok())
    })
}

/// ECDH: the x-coordinate of `d` times `point`.
fn ecdh(curve: &str, d: &[u8], point: &[u8]) -> Option<Vec<u8>> {
    on_curve!(curve, |c| {
        let secret = c::SecretKey::from_slice(d).ok()?;
        let public = c::PublicKey::from_sec1_bytes(point).ok()?;
        let shared = c::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
        Some(shared.raw_secret_bytes().to_vec())
    })
}

/// `ecPublic`, `ecPoint`, `ecFromSpki`, `ecToSpki`, `ecFromPkcs8`, `ecToPkcs8` (curve, bytes);
/// `ecSign(curve, hash, d, data)`; `ecVerify(curve, hash, point, signature, data)` → bool;
/// `ecdh(curve, d, point)`. `undefined` for what is not a key of that curve.
fn install_ec<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    for (name, op) in [
        ("ecPublic", Ec::Public),
        ("ecPoint", Ec::Point),
        ("ecFromSpki", Ec::FromSpki),
        ("ecToSpki", Ec::ToSpki),
        ("ecFromPkcs8", Ec::FromPkcs8),
        ("ecToPkcs8", Ec::ToPkcs8),
    ] {
        natives.set(
            name,
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, curve: String, input: Bytes<'js>| {
                    let out = sys::read_bytes(&input, |i| ec_convert(&curve, op, i)).flatten();
                    buffer(&ctx, out)
                },
            )?,
        )?;
    }
    natives.set(
        "ecSign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, curve: String, hash: String, d: Bytes<'js>, data: Bytes<'js>| {
                let out = sys::copy_bytes(&d).and_then(|d| {
                    sys::read_bytes(&data, |data| ec_sign(&curve, &hash, &d, data)).flatten()
                });
                buffer(&ctx, out)
            },
        )?,
    )?;
    natives.set(
        "ecVerify",
        Function::new(
            ctx.clone(),
            |curve: String,
             hash: String,
             point: Bytes<'js>,
             signature: Bytes<'js>,
             data: Bytes<'js>| {
                match (sys::copy_bytes(&point), sys::copy_bytes(&signature)) {
                    (Some(p), Some(s)) => {
                        sys::read_bytes(&data, |data| ec_verify(&curve, &hash, &p, &s, data))
                            .unwrap_or(false)
                    }
                    _ => false,
                }
            },
        )?,
    )?;
    natives.set(
        "ecdh",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, curve: String, d: Bytes<'js>, point: Bytes<'js>| {
                let out = match (sys::copy_bytes(&d), sys::copy_bytes(&point)) {
                    (Some(d), Some(p)) => ecdh(&curve, &d, &p),
                    _ => None,
                };
                buffer(&ctx, out)
            },
        )?,
    )?;
    Ok(())
}

// --- X25519 ---------------------------------------------------------------------------------

/// `x25519Public(secret)` → the public key; `x25519(secret, public)` → the shared secret,
/// `undefined` when it is all zeros (a small-order public key; RFC 7748 §6.1).
fn install_x25519<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    let secret = |bytes: &Bytes<'js>| {
        sys::copy_bytes(bytes)
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(x25519_dalek::StaticSecret::from)
    };
    natives.set(
        "x25519Public",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, d: Bytes<'js>| {
            let out = secret(&d).map(|s| x25519_dalek::PublicKey::from(&s).as_bytes().to_vec());
            buffer(&ctx, out)
        })?,
    )?;
    natives.set(
        "x25519",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, d: Bytes<'js>, public: Bytes<'js>| {
                let public = sys::copy_bytes(&public)
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .map(x25519_dalek::PublicKey::from);
                let out = match (secret(&d), public) {
                    (Some(s), Some(p)) => {
                        let shared = s.diffie_hellman(&p);
                        shared
                            .was_contributory()
                            .then(|| shared.as_bytes().to_vec())
                    }
                    _ => None,
                };
                buffer(&ctx, out)
            },
        )?,
    )?;
    Ok(())
}

// --- RSA ------------------------------------------------------------------------------------

/// RSA keys as web.js holds them: a private key's PKCS #8 DER, a public key's SPKI DER.
fn rsa_private(der: &[u8]) -> Option<rsa::RsaPrivateKey> {
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(der).ok()?;
    key.validate().ok()?;
    Some(key)
}

fn rsa_public(der: &[u8]) -> Option<rsa::RsaPublicKey> {
    use rsa::pkcs8::DecodePublicKey;
    rsa::RsaPublicKey::from_public_key_der(der).ok()
}

fn private_der(key: &rsa::RsaPrivateKey) -> Option<Vec<u8>> {
    use rsa::pkcs8::EncodePrivateKey;
    key.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec())
}

fn public_der(key: &rsa::RsaPublicKey) -> Option<Vec<u8>> {
    use rsa::pkcs8::EncodePublicKey;
    key.to_public_key_der().ok().map(|d| d.as_bytes().to_vec())
}

/// The signature scheme named by web.js (`RSASSA-PKCS1-v1_5`, `RSA-PSS`) with `hash`.
fn rsa_sign(scheme: &str, hash: &str, der: &[u8], data: &[u8], salt: usize) -> Option<Vec<u8>> {
    let key = rsa_private(der)?;
    let digest = sha_digest(hash, data)?;
    with_digest!(hash, |D| match scheme {
        "RSASSA-PKCS1-v1_5" => key.sign(rsa::Pkcs1v15Sign::new::<D>(), &digest).ok(),
        "RSA-PSS" => key
            .sign_with_rng(
                &mut rand_core::OsRng,
                rsa::Pss::new_with_salt::<D>(salt),
                &digest,
            )
            .ok(),
        _ => None,
    })
}

fn rsa_verify(
    scheme: &str,
    hash: &str,
    der: &[u8],
    signature: &[u8],
    data: &[u8],
    salt: usize,
) -> bool {
    let (Some(key), Some(digest)) = (rsa_public(der), sha_digest(hash, data)) else {
        return false;
    };
    let verified: Option<bool> = with_digest!(hash, |D| match scheme {
        "RSASSA-PKCS1-v1_5" => Some(
            key.verify(rsa::Pkcs1v15Sign::new::<D>(), &digest, signature)
                .is_ok(),
        ),
        "RSA-PSS" => Some(
            key.verify(rsa::Pss::new_with_salt::<D>(salt), &digest, signature)
                .is_ok(),
        ),
        _ => None,
    });
    verified.unwrap_or(false)
}

/// RSA-OAEP with `hash` (for the MGF1 too, as WebCrypto has it) and an optional UTF-8 label.
fn rsa_oaep(
    encrypt: bool,
    hash: &str,
    der: &[u8],
    data: &[u8],
    label: Option<String>,
) -> Option<Vec<u8>> {
    with_digest!(hash, |D| {
        let mut padding = rsa::Oaep::new::<D>();
        padding.label = label;
        if encrypt {
            rsa_public(der)?
                .encrypt(&mut rand_core::OsRng, padding, data)
                .ok()
        } else {
            rsa_private(der)?.decrypt(padding, data).ok()
        }
    })
}

/// The JWK members of an RSA key, big-endian: `[n, e]` for a public key, and `d, p, q, dp, dq,
/// qi` after them for a private one.
fn rsa_jwk(der: &[u8], private: bool) -> Option<Vec<Vec<u8>>> {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    if !private {
        let key = rsa_public(der)?;
        return Some(vec![key.n().to_bytes_be(), key.e().to_bytes_be()]);
    }
    let mut key = rsa_private(der)?;
    key.precompute().ok()?;
    let [p, q] = key.primes() else {
        return None;
    };
    Some(vec![
        key.n().to_bytes_be(),
        key.e().to_bytes_be(),
        key.d().to_bytes_be(),
        p.to_bytes_be(),
        q.to_bytes_be(),
        key.dp()?.to_bytes_be(),
        key.dq()?.to_bytes_be(),
        key.crt_coefficient()?.to_bytes_be(),
    ])
}

/// The DER of an RSA key from JWK members (`[n, e]`, or `[n, e, d, p, q]`).
fn rsa_from_jwk(parts: &[Vec<u8>]) -> Option<Vec<u8>> {
    let int = |b: &Vec<u8>| rsa::BigUint::from_bytes_be(b);
    match parts {
        [n, e] => public_der(&rsa::RsaPublicKey::new(int(n), int(e)).ok()?),
        [n, e, d, p, q] => {
            let key =
                rsa::RsaPrivateKey::from_components(int(n), int(e), int(d), vec![int(p), int(q)])
                    .ok()?;
            key.validate().ok()?;
            private_der(&key)
        }
        _ => None,
    }
}

/// `rsaGenerate(bits, exponent)` → PKCS #8; `rsaPublicOf(pkcs8)` → SPKI;
/// `rsaInfo(der, private)` → `[modulus bits, exponent bytes]`; `rsaCanonical(der, private)` →
/// the DER re-encoded (what `exportKey` gives); `rsaJwk(der, private)` → the JWK members;
/// `rsaFromJwk([n, e, (d, p, q)])` → DER; `rsaSign(scheme, hash, pkcs8, data, salt)`;
/// `rsaVerify(scheme, hash, spki, signature, data, salt)` → bool;
/// `rsaOaep(encrypt, hash, der, data, label?)`. `undefined` for invalid keys or data.
fn install_rsa<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "rsaGenerate",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bits: usize, exponent: Bytes<'js>| {
                let exponent = sys::copy_bytes(&exponent).map(|e| rsa::BigUint::from_bytes_be(&e));
                let key = exponent.and_then(|e| {
                    rsa::RsaPrivateKey::new_with_exp(&mut rand_core::OsRng, bits, &e).ok()
                });
                buffer(&ctx, key.as_ref().and_then(private_der))
            },
        )?,
    )?;
    natives.set(
        "rsaPublicOf",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, der: Bytes<'js>| {
            let out = sys::read_bytes(&der, rsa_private)
                .flatten()
                .and_then(|k| public_der(&k.to_public_key()));
            buffer(&ctx, out)
        })?,
    )?;
    natives.set(
        "rsaInfo",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             der: Bytes<'js>,
             private: bool|
             -> Result<Option<rquickjs::Array<'js>>> {
                use rsa::traits::PublicKeyParts;
                let key = sys::read_bytes(&der, |d| {
                    if private {
                        rsa_private(d).map(|k| k.to_public_key())
                    } else {
                        rsa_public(d)
                    }
                })
                .flatten();
                let Some(key) = key else {
                    return Ok(None);
                };
                let info = rquickjs::Array::new(ctx.clone())?;
                info.set(0, u32::try_from(key.n().bits()).unwrap_or(u32::MAX))?;
                info.set(1, crate::web::engine_bytes(&ctx, &key.e().to_bytes_be())?)?;
                Ok(Some(info))
            },
        )?,
    )?;
    natives.set(
        "rsaCanonical",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, der: Bytes<'js>, private: bool| {
                let out = sys::read_bytes(&der, |d| {
                    if private {
                        rsa_private(d).as_ref().and_then(private_der)
                    } else {
                        rsa_public(d).as_ref().and_then(public_der)
                    }
                })
                .flatten();
                buffer(&ctx, out)
            },
        )?,
    )?;
    natives.set(
        "rsaJwk",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, der: Bytes<'js>, private: bool| match sys::read_bytes(&der, |d| {
                rsa_jwk(d, private)
            })
            .flatten()
            {
                Some(parts) => parts
                    .iter()
                    .map(|p| crate::web::engine_bytes(&ctx, p))
                    .collect::<Result<Vec<_>>>()
                    .map(Some),
                None => Ok(None),
            },
        )?,
    )?;
    natives.set(
        "rsaFromJwk",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, parts: Vec<Bytes<'js>>| {
            let parts: Option<Vec<Vec<u8>>> = parts.iter().map(sys::copy_bytes).collect();
            buffer(&ctx, parts.and_then(|p| rsa_from_jwk(&p)))
        })?,
    )?;
    natives.set(
        "rsaSign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             scheme: String,
             hash: String,
             der: Bytes<'js>,
             data: Bytes<'js>,
             salt: usize| {
                let out = sys::copy_bytes(&der).and_then(|der| {
                    sys::read_bytes(&data, |d| rsa_sign(&scheme, &hash, &der, d, salt)).flatten()
                });
                buffer(&ctx, out)
            },
        )?,
    )?;
    natives.set(
        "rsaVerify",
        Function::new(
            ctx.clone(),
            |scheme: String,
             hash: String,
             der: Bytes<'js>,
             signature: Bytes<'js>,
             data: Bytes<'js>,
             salt: usize| {
                match (sys::copy_bytes(&der), sys::copy_bytes(&signature)) {
                    (Some(der), Some(sig)) => {
                        sys::read_bytes(&data, |d| rsa_verify(&scheme, &hash, &der, &sig, d, salt))
                            .unwrap_or(false)
                    }
                    _ => false,
                }
            },
        )?,
    )?;
    natives.set(
        "rsaOaep",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             encrypt: bool,
             hash: String,
             der: Bytes<'js>,
             data: Bytes<'js>,
             label: Option<String>| {
                let out = sys::copy_bytes(&der).and_then(|der| {
                    sys::read_bytes(&data, |d| rsa_oaep(encrypt, &hash, &der, d, label)).flatten()
                });
                buffer(&ctx, out)
            },
        )?,
    )?;
    Ok(())
}
