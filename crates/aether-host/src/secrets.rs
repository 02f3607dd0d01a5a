//! Secrets a plugin can use but never see (SPEC §5 `aether.secret`): their values, read once
//! per run by aether ([`SecretValues`]), and one step's placeholders (`Placeholders`).
//!
//! A value lives only here and in the bytes the gateway writes to a granted host's socket. It
//! is never returned to a plugin, written to an event, a log, a report, an error or an output,
//! and never given to a worker process or a child: `aether.secret(name)` returns a random
//! placeholder, unique to the step, that only this step's gateway substitutes.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use aether_policy::{GrantedSecret, SecretSource};

/// The largest secret value read from a file or variable: 64 KiB. A secret is a token or a
/// key, not a document; the bound keeps a mistaken `from_file` (a log, a device) from filling
/// aether's memory.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The values of the secrets a run uses, read once when the run starts. `Debug` shows names
/// only.
#[derive(Clone, Default)]
pub struct SecretValues(Arc<BTreeMap<String, String>>);

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    /// Reads the value of each of `secrets` (the granted secrets of the steps a run runs; a
    /// name seen twice is read once), from aether's environment or a regular file (at most
    /// [`MAX_SECRET_BYTES`], one trailing newline dropped). An unset variable, an unreadable
    /// file, an empty value, or one with a control character (it could not go in a header) is an
    /// error naming the secret and its source, never its value.
    pub fn load<'a>(
        secrets: impl IntoIterator<Item = &'a GrantedSecret>,
    ) -> Result<SecretValues, String> {
        let mut values = BTreeMap::new();
        for def in secrets {
            let name = def.name.as_str();
            if values.contains_key(name) {
                continue;
            }
            let value = match &def.source {
                SecretSource::Env(var) => std::env::var(var).map_err(|_| {
                    format!("secret `{name}`: the variable `{var}` (`from_env`) is not set or not UTF-8; set it in aether's environment")
                })?,
                SecretSource::File(path) => read_file(name, path)?,
            };
            // A control character (CR, LF, NUL, ...) could not go in a header value.
            if value.is_empty() || value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(format!(
                    "secret `{name}`: its value is empty or holds control characters; store the token alone"
                ));
            }
            values.insert(name.to_owned(), value);
        }
        Ok(SecretValues(Arc::new(values)))
    }

    /// For tests and embedders: values given directly.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> SecretValues {
        SecretValues(Arc::new(pairs.into_iter().collect()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn read_file(name: &str, path: &Path) -> Result<String, String> {
    let shown = path.display();
    let bytes =
        aether_manifest::read_regular(path, MAX_SECRET_BYTES, aether_manifest::Symlinks::Follow)
            .map_err(|e| format!("secret `{name}`: cannot read `{shown}` (`from_file`): {e}"))?;
    let mut text = String::new();
    bytes
        .as_slice()
        .read_to_string(&mut text)
        .map_err(|_| format!("secret `{name}`: `{shown}` is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// One placeholder handed to the plugin, and the secret it stands for.
#[derive(Clone)]
pub(crate) struct Placeholder {
    pub(crate) text: String,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// A step's placeholders: one per secret, made at its first `aether.secret(name)`, random (128
/// bits from the OS), so that a placeholder of another step, or a guessed one, is an inert
/// string that no gateway substitutes.
#[derive(Default)]
pub(crate) struct Placeholders {
    values: SecretValues,
    made: Mutex<Vec<Placeholder>>,
}

impl Placeholders {
    pub(crate) fn new(values: SecretValues) -> Placeholders {
        Placeholders {
            values,
            made: Mutex::new(Vec::new()),
        }
    }

    /// The placeholder of `name` (granted: the caller checked), made on first use. `None` when
    /// the run holds no value for it (no policy source was read) or the OS gives no randomness.
    pub(crate) fn placeholder(&self, name: &str) -> Option<String> {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = made.iter().find(|p| p.name == name) {
            return Some(p.text.clone());
        }
        let value = self.values.get(name)?.to_owned();
        let text = format!("aether-secret-{}", random_hex()?);
        made.push(Placeholder {
            text: text.clone(),
            name: name.to_owned(),
            value,
        });
        Some(text)
    }

    /// The placeholders made so far.
    pub(crate) fn all(&self) -> Vec<Placeholder> {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// 32 hex digits from the OS's random source.
fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `text` with every occurrence of a value of `placeholders` replaced by its placeholder: for
/// what a granted host sends back (a server echoing the request) and for errors, so that a
/// value does not reach the plugin or a message by accident. A granted host that encodes the
/// value can still return it: it was trusted with it.
pub(crate) fn redact(text: &str, placeholders: &[Placeholder]) -> String {
    let mut out = text.to_owned();
    for p in placeholders {
        if out.contains(&p.value) {
            out = out.replace(&p.value, &p.text);
        }
    }
    out
}

/// [`redact`] over bytes.
pub(crate) fn redact_bytes(bytes: &[u8], placeholders: &[Placeholder]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for p in placeholders {
        if contains_bytes(&out, p.value.as_bytes()) {
            out = replace_bytes(&out, p.value.as_bytes(), p.text.as_bytes());
        }
    }
    out
}

/// Whether `haystack` holds `needle`.
pub(crate) fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `bytes` with every `from` replaced by `to`.
pub(crate) fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if !from.is_empty() && bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
