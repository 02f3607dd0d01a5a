//! `aether sign PLUGIN_DIR --key KEYFILE`: a detached minisign signature of the plugin's
//! digest list, written to `PLUGIN_DIR/aether-plugin.minisig` (SPEC §9).
//!
//! The plugin is read once, its manifest validated (a signature vouches for a plugin that
//! loads), and the digest list of exactly those bytes signed; the trusted comment (signed too)
//! names the plugin, its version and its whole-digest. `minisign -V -m LIST -x
//! aether-plugin.minisig -P KEY` verifies it against the digest list text. Never prompts: an
//! encrypted key needs `--password-stdin`.

use std::io::Write;
use std::path::PathBuf;

use aether::integrity::SIGNATURE_FILE;
use aether::integrity::signature::KeyError;
use clap::Args;

use crate::{Outcome, render};
use aether::integrity::{digest_list, write_atomic};

/// Arguments of `aether sign`.
#[derive(Args)]
pub struct SignArgs {
    /// The plugin directory.
    #[arg(value_name = "PLUGIN_DIR")]
    plugin: PathBuf,
    /// The secret key file (`aether keygen` or `minisign -G` writes one).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Read the secret key's password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// Runs `aether sign`.
pub fn sign(args: SignArgs) -> anyhow::Result<Outcome> {
    let dir = match std::fs::canonicalize(&args.plugin) {
        Ok(dir) if dir.is_dir() => dir,
        _ => anyhow::bail!(
            "plugin directory `{}` does not exist\n\nhint: give the directory that holds `aether-plugin.json`",
            args.plugin.display()
        ),
    };
    let cwd = std::env::current_dir()?;
    let (bundle, manifest) = match aether::workspace::read_plugin(&dir, &cwd) {
        Ok(read) => read,
        Err(errors) => {
            render::print_diagnostics(&errors, &[])?;
            writeln!(std::io::stderr(), "refused: nothing was signed")?;
            return Ok(Outcome::Refused);
        }
    };
    let list = match digest_list(&bundle) {
        Ok(list) => list,
        Err(e) => {
            render::print_diagnostics(&[e], &[])?;
            return Ok(Outcome::Refused);
        }
    };
    let secret = aether::manifest::read_regular(
        &args.key,
        aether::manifest::MAX_TEXT_FILE_BYTES,
        aether::manifest::Symlinks::Follow,
    )
    .map_err(|e| anyhow::anyhow!("cannot read the secret key `{}`: {e}", args.key.display()))
    .and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!(
                "the secret key `{}` is not UTF-8 text: it is not a minisign secret key",
                args.key.display()
            )
        })
    })?;
    let password = args
        .password_stdin
        .then(super::keygen::password_from_stdin)
        .transpose()?;
    let whole = list.whole_digest();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let comment = format!(
        "timestamp:{timestamp}\tplugin:{}@{}\twhole-digest:{whole}",
        manifest.name, manifest.version
    );
    let (signature, key) = aether::integrity::signature::sign(&secret, password, &list.text(), &comment)
        .map_err(|e| match e {
            KeyError::Encrypted => anyhow::anyhow!(
                "the secret key `{}` is encrypted\n\nhint: pass its password on standard input with `--password-stdin`",
                args.key.display()
            ),
            e => anyhow::anyhow!("cannot sign with `{}`: {e}", args.key.display()),
        })?;
    let path = dir.join(SIGNATURE_FILE);
    write_atomic(&path, signature.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
    writeln!(
        std::io::stderr(),
        "signed plugin `{}` {} ({} files, whole-digest {whole}) with key {}: wrote `{}`",
        manifest.name,
        manifest.version,
        list.files().len(),
        key.id(),
        path.display()
    )?;
    Ok(Outcome::Success)
}
