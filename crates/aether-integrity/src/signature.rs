//! minisign keys and signatures over a plugin's digest list (SPEC §9).
//!
//! `aether sign` writes `aether-plugin.minisig`, a detached minisign signature (prehashed,
//! BLAKE2b-512, the format `minisign -S` writes today) of the plugin's digest list text, so
//! that `minisign -V -m LIST -x aether-plugin.minisig -P KEY` verifies it too. Keys are
//! minisign keys: the secret key file `aether keygen` writes is one `minisign -s` reads.
//!
//! What a signature decides is [`SignaturePolicy::judge`]'s business:
//!
//! | signature | `require_signatures = true` | otherwise, with `trusted_keys` |
//! |---|---|---|
//! | valid, by a trusted key | runs | runs |
//! | by a trusted key, but does not match the files | refused | refused |
//! | by a key the policy does not trust | refused | warning |
//! | none | refused | runs |
//! | not a minisign signature | refused | warning |
//!
//! A signature by a trusted key that does not verify is refused even when signatures are not
//! required: it means the files changed after a trusted party signed them, which is exactly
//! what signing exists to reveal. A policy without `trusted_keys` that does not require
//! signatures checks nothing.

use std::fmt;
use std::io::Cursor;

/// A minisign public key that a policy trusts.
#[derive(Clone)]
pub struct PublicKey {
    /// The base64 form (`RW…`), as written in the policy.
    base64: String,
    /// The key id, 16 uppercase hex digits as minisign prints it.
    id: String,
    key: minisign_verify::PublicKey,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.base64 == other.base64
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.base64)
    }
}

/// Why key or signing material is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a minisign public key.
    #[error("not a minisign public key (expected the base64 line `RW…` of a `.pub` file)")]
    PublicKey,
    /// Not a minisign secret key.
    #[error("not a minisign secret key")]
    SecretKey,
    /// The secret key is encrypted and no password was given.
    #[error("the secret key is encrypted with a password")]
    Encrypted,
    /// The password does not open the secret key.
    #[error("the password does not open the secret key")]
    Password,
    /// minisign failed (randomness unavailable, or an internal error).
    #[error("minisign failed: {0}")]
    Minisign(String),
}

/// The 16 uppercase hex digits minisign shows for a key id (its 8 bytes, little-endian).
fn key_id(bytes: &[u8]) -> String {
    let mut le = [0u8; 8];
    for (slot, byte) in le.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    format!("{:016X}", u64::from_le_bytes(le))
}

impl PublicKey {
    /// Parses the base64 line of a minisign public key (`RW…`), or a whole `.pub` file (its
    /// comment line, then the base64 line).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let base64 = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("");
        let key =
            minisign_verify::PublicKey::from_base64(base64).map_err(|_| KeyError::PublicKey)?;
        let id = minisign::PublicKey::from_base64(base64)
            .map(|k| key_id(k.keynum()))
            .map_err(|_| KeyError::PublicKey)?;
        Ok(PublicKey {
            base64: base64.to_owned(),
            id,
            key,
        })
    }

    /// The base64 form (`RW…`).
    pub fn base64(&self) -> &str {
        &self.base64
    }

    /// The key id, 16 uppercase hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A freshly generated key pair, as the text of its two files.
pub struct KeyPair {
    /// The secret key file (minisign format; encrypted if a password was given).
    pub secret_key: String,
    /// The public key file (minisign format: a comment line, then the base64 line).
    pub public_key_file: String,
    /// The public key.
    pub public_key: PublicKey,
}

/// Generates a key pair. Without a password the secret key is stored unencrypted (protect the
/// file instead); with one it is encrypted as minisign does (scrypt). Never prompts.
pub fn generate_keypair(password: Option<String>) -> Result<KeyPair, KeyError> {
    let failed = |e: minisign::PError| KeyError::Minisign(e.to_string());
    let pair = match password {
        // `Some` is essential: `None` would prompt on the terminal.
        Some(password) => minisign::KeyPair::generate_encrypted_keypair(Some(password)),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(failed)?;
    let public_key_file = pair.pk.to_box().map_err(failed)?.into_string();
    let secret_key = pair
        .sk
        .to_box(Some("aether secret key"))
        .map_err(failed)?
        .into_string();
    let public_key = PublicKey::parse(&public_key_file)?;
    Ok(KeyPair {
        secret_key,
        public_key_file,
        public_key,
    })
}

/// Signs `digest_list` with the secret key file `secret_key` (opened with `password` if it is
/// encrypted; never prompts). `trusted_comment` (one line) is signed too. Returns the
/// signature file's text and the public key of the signer.
pub fn sign(
    secret_key: &str,
    password: Option<String>,
    digest_list: &str,
    trusted_comment: &str,
) -> Result<(String, PublicKey), KeyError> {
    let boxed = minisign::SecretKeyBox::from_string(secret_key).map_err(|_| KeyError::SecretKey)?;
    let sk = match password {
        Some(password) => minisign::SecretKey::from_box(boxed.clone(), Some(password))
            .or_else(|_| minisign::SecretKey::from_unencrypted_box(boxed))
            .map_err(|_| KeyError::Password)?,
        None => minisign::SecretKey::from_unencrypted_box(boxed).map_err(|e| {
            if e.to_string().contains("encrypted") {
                KeyError::Encrypted
            } else {
                KeyError::SecretKey
            }
        })?,
    };
    let pk = minisign::PublicKey::from_secret_key(&sk).map_err(|_| KeyError::SecretKey)?;
    let signature = minisign::sign(
        Some(&pk),
        &sk,
        Cursor::new(digest_list.as_bytes()),
        Some(&trusted_comment.replace(['\n', '\r'], " ")),
        Some("signature from aether secret key"),
    )
    .map_err(|e| KeyError::Minisign(e.to_string()))?;
    Ok((signature.into_string(), PublicKey::parse(&pk.to_base64())?))
}

/// What a plugin's signature file says about its digest list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No signature file.
    Unsigned,
    /// A valid signature by a trusted key.
    Valid {
        /// The key's id.
        key_id: String,
    },
    /// Signed by a key the policy does not trust (whether it matches is unknowable).
    Untrusted {
        /// The signing key's id, if the file says.
        key_id: Option<String>,
    },
    /// Signed by a trusted key, but the signature does not match the digest list: a file
    /// changed after signing, or the signature was forged.
    Invalid {
        /// The key's id.
        key_id: String,
    },
    /// Not a minisign signature.
    Malformed,
}

/// What to do with a plugin, given its [`SignatureCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It may run.
    Accept,
    /// It may run, but say why the signature counted for nothing.
    Warn,
    /// It may not run.
    Refuse,
}

/// The `[integrity]` section of a policy. [`SignaturePolicy::default`]: no trusted keys,
/// signatures not required (nothing is checked).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SignaturePolicy {
    /// `trusted_keys`: the keys whose signatures count.
    pub trusted_keys: Vec<PublicKey>,
    /// `require_signatures`: refuse any plugin without a valid signature by a trusted key.
    pub require_signatures: bool,
}

impl SignaturePolicy {
    /// Whether signatures are looked at at all (trusted keys given, or signatures required).
    pub fn is_active(&self) -> bool {
        self.require_signatures || !self.trusted_keys.is_empty()
    }

    /// Checks `signature` (the signature file's bytes, if any) against `digest_list`.
    pub fn check(&self, signature: Option<&[u8]>, digest_list: &str) -> SignatureCheck {
        let Some(bytes) = signature else {
            return SignatureCheck::Unsigned;
        };
        let Some(sig) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| minisign_verify::Signature::decode(text).ok())
        else {
            return SignatureCheck::Malformed;
        };
        // The key id, for messages only (the verification below decides).
        let key_id = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| minisign::SignatureBox::from_string(text).ok())
            .map(|b| key_id(b.keynum()));
        for key in &self.trusted_keys {
            match key.key.verify(digest_list.as_bytes(), &sig, true) {
                Ok(()) => {
                    return SignatureCheck::Valid {
                        key_id: key.id.clone(),
                    };
                }
                Err(minisign_verify::Error::UnexpectedKeyId) => {}
                Err(_) => {
                    return SignatureCheck::Invalid {
                        key_id: key.id.clone(),
                    };
                }
            }
        }
        SignatureCheck::Untrusted { key_id }
    }

    /// What a plugin with this signature check may do (the table in the module docs).
    pub fn judge(&self, check: &SignatureCheck) -> Verdict {
        match check {
            SignatureCheck::Valid { .. } => Verdict::Accept,
            SignatureCheck::Invalid { .. } => Verdict::Refuse,
            _ if self.require_signatures => Verdict::Refuse,
            SignatureCheck::Unsigned => Verdict::Accept,
            SignatureCheck::Untrusted { .. } | SignatureCheck::Malformed => Verdict::Warn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of minisign-verify (jedisct1/rust-minisign-verify): a public key and
    /// two signatures of the message `test` made by the reference minisign, one prehashed
    /// (today's default) and one legacy.
    const VECTOR_KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
    const VECTOR_PREHASHED: &str = "untrusted comment: signature from minisign secret key
RUQf6LRCGA9i559r3g7V1qNyJDApGip8MfqcadIgT9CuhV3EMhHoN1mGTkUidF/z7SrlQgXdy8ofjb7bNJJylDOocrCo8KLzZwo=
trusted comment: timestamp:1556193335\tfile:test
y/rUw2y8/hOUYjZU71eHp/Wo1KZ40fGy2VJEDl34XMJM+TX48Ss/17u3IvIfbVR1FkZZSNCisQbuQY+bHwhEBg==
";
    const VECTOR_LEGACY: &str = "untrusted comment: signature from minisign secret key
RWQf6LRCGA9i59SLOFxz6NxvASXDJeRtuZykwQepbDEGt87ig1BNpWaVWuNrm73YiIiJbq71Wi+dP9eKL8OC351vwIasSSbXxwA=
trusted comment: timestamp:1555779966\tfile:test
QtKMXWyYcwdpZAlPF7tE2ENJkRd1ujvKjlj1m9RtHTBnZPa5WKU5uWRs5GoP5M/VqE81QFuMKI5k/SfNQUaOAA==
";

    fn trusting(keys: &[&PublicKey], require: bool) -> SignaturePolicy {
        SignaturePolicy {
            trusted_keys: keys.iter().map(|k| (*k).clone()).collect(),
            require_signatures: require,
        }
    }

    #[test]
    fn the_reference_minisign_vectors_verify() {
        let key = PublicKey::parse(VECTOR_KEY).unwrap();
        assert_eq!(key.id(), "E7620F1842B4E81F");
        let policy = trusting(&[&key], true);
        for vector in [VECTOR_PREHASHED, VECTOR_LEGACY] {
            assert_eq!(
                policy.check(Some(vector.as_bytes()), "test"),
                SignatureCheck::Valid {
                    key_id: "E7620F1842B4E81F".into()
                }
            );
            assert_eq!(
                policy.check(Some(vector.as_bytes()), "Test"),
                SignatureCheck::Invalid {
                    key_id: "E7620F1842B4E81F".into()
                }
            );
        }
        // A `.pub` file's two lines parse to the same key.
        let file =
            format!("untrusted comment: minisign public key E7620F1842B4E81F\n{VECTOR_KEY}\n");
        assert_eq!(PublicKey::parse(&file).unwrap(), key);
    }

    #[test]
    fn what_aether_signs_verifies_and_nothing_else_does() {
        let pair = generate_keypair(None).unwrap();
        let other = generate_keypair(None).unwrap();
        let list = "ab  index.js\n";
        let (sig, signer) = sign(&pair.secret_key, None, list, "plugin:echo@1.0.0").unwrap();
        assert_eq!(signer, pair.public_key);
        let trusted = trusting(&[&other.public_key, &pair.public_key], true);
        let id = pair.public_key.id().to_owned();
        assert_eq!(
            trusted.check(Some(sig.as_bytes()), list),
            SignatureCheck::Valid { key_id: id.clone() }
        );
        assert_eq!(
            trusted.check(Some(sig.as_bytes()), "ab  index.js\ncd  evil.js\n"),
            SignatureCheck::Invalid { key_id: id.clone() }
        );
        let untrusted = trusting(&[&other.public_key], false);
        assert_eq!(
            untrusted.check(Some(sig.as_bytes()), list),
            SignatureCheck::Untrusted { key_id: Some(id) }
        );
        assert_eq!(
            untrusted.judge(&untrusted.check(Some(sig.as_bytes()), list)),
            Verdict::Warn
        );
        assert_eq!(trusted.check(None, list), SignatureCheck::Unsigned);
        assert_eq!(trusted.judge(&SignatureCheck::Unsigned), Verdict::Refuse);
        assert_eq!(untrusted.judge(&SignatureCheck::Unsigned), Verdict::Accept);
        // The trusted comment is signed: editing it breaks the signature.
        let forged = sig.replace("plugin:echo@1.0.0", "plugin:echo@9.9.9");
        assert!(matches!(
            trusted.check(Some(forged.as_bytes()), list),
            SignatureCheck::Invalid { .. }
        ));
    }

    #[test]
    fn encrypted_keys_need_their_password_and_never_prompt() {
        let pair = generate_keypair(Some("hunter2".into())).unwrap();
        assert!(matches!(
            sign(&pair.secret_key, None, "x", "c"),
            Err(KeyError::Encrypted)
        ));
        assert!(matches!(
            sign(&pair.secret_key, Some("wrong".into()), "x", "c"),
            Err(KeyError::Password)
        ));
        assert!(sign(&pair.secret_key, Some("hunter2".into()), "x", "c").is_ok());
    }

    proptest::proptest! {
        /// A signature file comes from the plugin: checking never panics, whatever its bytes
        /// (here: the reference vector with any span replaced by noise).
        #[test]
        fn checking_never_panics(from in 0usize..400, len in 0usize..40, noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let key = PublicKey::parse(VECTOR_KEY).unwrap();
            let policy = trusting(&[&key], true);
            let mut bytes = VECTOR_PREHASHED.as_bytes().to_vec();
            let from = from.min(bytes.len());
            let to = (from + len).min(bytes.len());
            bytes.splice(from..to, noise);
            let check = policy.check(Some(&bytes), "test");
            proptest::prop_assert_ne!(check, SignatureCheck::Unsigned);
        }
    }

    #[test]
    fn hostile_signature_files_are_malformed_not_a_panic() {
        let key = PublicKey::parse(VECTOR_KEY).unwrap();
        let policy = trusting(&[&key], false);
        let lines: Vec<&str> = VECTOR_PREHASHED.lines().collect();
        // A global signature of 3 bytes (minisign 0.10's `verify` would index past it).
        let short_global = format!("{}\n{}\n{}\nAAAA\n", lines[0], lines[1], lines[2]);
        for text in [
            "",
            "\n\n\n\n",
            "untrusted comment: x\n",
            short_global.as_str(),
            &VECTOR_PREHASHED.replace("trusted comment: ", "comment: "),
        ] {
            assert_eq!(
                policy.check(Some(text.as_bytes()), "test"),
                SignatureCheck::Malformed,
                "{text}"
            );
        }
        assert_eq!(
            policy.check(Some(&[0xff, 0xfe]), "test"),
            SignatureCheck::Malformed
        );
        assert_eq!(policy.judge(&SignatureCheck::Malformed), Verdict::Warn);
        for bad in [
            "",
            "RW",
            "not base64!",
            "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO",
        ] {
            assert!(PublicKey::parse(bad).is_err(), "{bad}");
        }
    }
}
