//! `aether keygen KEYFILE`: a minisign key pair for signing plugins (SPEC §9).
//!
//! The secret key goes to KEYFILE (created with mode 0600; an existing file is never
//! overwritten), the public key to `KEYFILE.pub`, and the public key's base64 line to stdout,
//! ready for the policy's `[integrity] trusted_keys`. Non-interactive: the secret key is
//! unencrypted unless `--password-stdin` gives a password to encrypt it with.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::Outcome;

/// Arguments of `aether keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (the public key goes to KEYFILE.pub).
    #[arg(value_name = "KEYFILE")]
    keyfile: PathBuf,
    /// Encrypt the secret key with a password read from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// The first line of standard input, without its line ending (`--password-stdin`).
pub fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "`--password-stdin` read an empty password from standard input"
    );
    Ok(password)
}

/// Creates `path` with `mode`, refusing to overwrite anything, and writes `text` into it.
fn create_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Runs `aether keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<Outcome> {
    let secret = args.keyfile;
    let mut public = secret.clone().into_os_string();
    public.push(".pub");
    let public = PathBuf::from(public);
    for path in [&secret, &public] {
        if path.exists() || path.is_symlink() {
            anyhow::bail!(
                "`{}` already exists; keygen never overwrites a key\n\nhint: choose another KEYFILE, or move the old key away first",
                path.display()
            );
        }
    }
    let password = args.password_stdin.then(password_from_stdin).transpose()?;
    let pair = aether::integrity::signature::generate_keypair(password)?;
    create_new(&secret, &pair.secret_key, 0o600).map_err(|e| {
        anyhow::anyhow!("cannot write the secret key to `{}`: {e}", secret.display())
    })?;
    if let Err(e) = create_new(&public, &pair.public_key_file, 0o644) {
        // A failed step writes nothing: without its public half, the secret key is useless.
        let _ = std::fs::remove_file(&secret);
        anyhow::bail!("cannot write the public key to `{}`: {e}", public.display());
    }
    writeln!(std::io::stdout(), "{}", pair.public_key.base64())?;
    writeln!(
        std::io::stderr(),
        "wrote the secret key to `{}` (keep it private) and the public key {} to `{}`\n\nhint: to trust it, add `trusted_keys = [\"{}\"]` under `[integrity]` in the policy",
        secret.display(),
        pair.public_key.id(),
        public.display(),
        pair.public_key.base64()
    )?;
    Ok(Outcome::Success)
}
