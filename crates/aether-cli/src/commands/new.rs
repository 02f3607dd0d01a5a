//! `aether new plugin NAME [--ts]` and `aether new pipeline [PLUGIN_DIR...]`: scaffolds for
//! authors (SPEC §7).
//!
//! A scaffold never overwrites: every file it would write is checked first, and if any exists
//! nothing is written (exit 2). Files are then created with `create_new`, so a file appearing
//! meanwhile is not clobbered either; what was written before such a failure is removed.
//!
//! `new pipeline` writes the narrowest policy the named manifests fit: each request exactly as
//! written (the pipeline and the policy resolve relative patterns against the same
//! workspace), the largest limit any of them asks for (or the default), nothing else.

use std::io::Write;
use std::path::{Path, PathBuf};

use aether::manifest::{MANIFEST_FILE, Manifest};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::Outcome;

/// The typings of the plugin API (SPEC §5), the repository's `types/aether.d.ts`.
pub const TYPINGS: &str = include_str!("../../../../types/aether.d.ts");
const INDEX_JS: &str = include_str!("../../templates/plugin/index.js");
const INDEX_TS: &str = include_str!("../../templates/plugin/index.ts");
const TSCONFIG: &str = include_str!("../../templates/plugin/tsconfig.json");
const README: &str = include_str!("../../templates/plugin/README.md");

/// The file names `new pipeline` writes, in the current directory.
const PIPELINE_FILE: &str = "pipeline.yaml";
const POLICY_FILE: &str = "aether-policy.toml";

/// Arguments of `aether new`.
#[derive(Args)]
pub struct NewArgs {
    #[command(subcommand)]
    what: NewCommand,
}

#[derive(Subcommand)]
enum NewCommand {
    /// A plugin directory NAME/: manifest, entry module, `aether.d.ts`, `tsconfig.json`, a
    /// sample `input.json` and a README.
    Plugin {
        /// The plugin's name (`[a-z0-9][a-z0-9-]*`), also its directory; a path whose last
        /// component is the name (`plugins/demo`) puts it there.
        #[arg(value_name = "NAME")]
        name: PathBuf,
        /// Write the entry module in TypeScript (`index.ts`).
        #[arg(long)]
        ts: bool,
    },
    /// `pipeline.yaml` and `aether-policy.toml` in the current directory: one step per plugin,
    /// and a policy granting exactly what their manifests ask for.
    Pipeline {
        /// The plugin directories, relative to the current directory (the workspace).
        #[arg(value_name = "PLUGIN_DIR")]
        plugins: Vec<PathBuf>,
    },
}

/// Runs `aether new`.
pub fn new(args: NewArgs) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    match args.what {
        NewCommand::Plugin { name, ts } => new_plugin(&cwd, &name, ts),
        NewCommand::Pipeline { plugins } => new_pipeline(&cwd, &plugins),
    }
}

fn new_plugin(cwd: &Path, path: &Path, ts: bool) -> anyhow::Result<Outcome> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if !valid_name(name) {
        bail!(
            "invalid plugin name `{}`: expected lowercase letters, digits and `-`, starting with a letter or digit\n\nhint: for instance `aether new plugin my-plugin`",
            path.display()
        );
    }
    let dir = cwd.join(path);
    let main = if ts { "index.ts" } else { "index.js" };
    let manifest = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "main": main,
        "description": format!("The {name} plugin"),
        "permissions": {},
        "limits": { "memory": "64MiB", "timeout": "5s" },
    });
    let fill = |t: &str| t.replace("{{name}}", name).replace("{{main}}", main);
    let files = [
        (
            MANIFEST_FILE,
            format!("{}\n", serde_json::to_string_pretty(&manifest)?),
        ),
        (main, fill(if ts { INDEX_TS } else { INDEX_JS })),
        ("aether.d.ts", TYPINGS.to_owned()),
        ("tsconfig.json", TSCONFIG.to_owned()),
        ("input.json", "{ \"name\": \"aether\" }\n".to_owned()),
        ("README.md", fill(README)),
    ];
    let files: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|(f, text)| (dir.join(f), text))
        .collect();
    write_all_new(cwd, &files)?;
    let mut stderr = std::io::stderr().lock();
    writeln!(
        stderr,
        "created plugin `{name}` in `{}`\n\nnext: aether exec {} --input @{}",
        path.display(),
        path.display(),
        path.join("input.json").display()
    )?;
    Ok(Outcome::Success)
}

fn new_pipeline(cwd: &Path, dirs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut manifests = Vec::new();
    let mut malformed = Vec::new();
    for dir in dirs {
        let abs = cwd.join(dir);
        if !abs.join(MANIFEST_FILE).is_file() {
            bail!(
                "`{}` is not a plugin directory: it holds no `{MANIFEST_FILE}`\n\nhint: create one with `aether new plugin NAME`",
                dir.display()
            );
        }
        match Manifest::load(&abs, cwd) {
            Ok(m) => manifests.push((dir.clone(), m)),
            Err(e) => malformed.extend(e),
        }
    }
    if !malformed.is_empty() {
        crate::render::print_diagnostics(&malformed, &[])?;
        writeln!(std::io::stderr(), "refused: nothing written")?;
        return Ok(Outcome::Refused);
    }
    let pipeline = pipeline_text(cwd, &manifests)?;
    let policy = policy_text(&manifests);
    write_all_new(
        cwd,
        &[
            (cwd.join(PIPELINE_FILE), pipeline),
            (cwd.join(POLICY_FILE), policy),
        ],
    )?;
    writeln!(
        std::io::stderr(),
        "created `{PIPELINE_FILE}` ({} steps) and `{POLICY_FILE}`\n\nnext: aether check {PIPELINE_FILE} && aether run {PIPELINE_FILE}",
        manifests.len()
    )?;
    Ok(Outcome::Success)
}

/// `pipeline.yaml`: one step per plugin, ids from the manifests' names (made unique), the
/// input from the plugin's `input.json` when it has one. Strings are written as JSON, which
/// is YAML.
fn pipeline_text(cwd: &Path, manifests: &[(PathBuf, Manifest)]) -> anyhow::Result<String> {
    let name = cwd
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "pipeline".into());
    let mut out = String::from(
        "# Written by `aether new pipeline`: one step per plugin. Edit `with` (each step's input),\n# add `needs` and `${{ steps.ID.output.FIELD }}` to pass outputs along.\n",
    );
    out += &format!("name: {}\n", serde_json::to_string(&name)?);
    out += &format!(
        "policy: {}\n",
        serde_json::to_string(&format!("./{POLICY_FILE}"))?
    );
    if manifests.is_empty() {
        out += "steps: []\n";
        return Ok(out);
    }
    out += "steps:\n";
    let mut ids: Vec<String> = Vec::new();
    for (dir, m) in manifests {
        let mut id = m.name.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{}-{n}", m.name);
            n += 1;
        }
        let plugin = if dir.is_absolute() {
            dir.display().to_string()
        } else {
            format!("./{}", relative_text(dir))
        };
        let input = std::fs::read_to_string(m.dir.join("input.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        out += &format!("  - id: {}\n", serde_json::to_string(&id)?);
        out += &format!("    plugin: {}\n", serde_json::to_string(&plugin)?);
        out += &format!(
            "    with: {}\n",
            serde_json::to_string(&super::exec::escape_templates(input))?
        );
        ids.push(id);
    }
    Ok(out)
}

/// `dir` as written, without `./` prefixes, `/`-separated.
fn relative_text(dir: &Path) -> String {
    dir.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The narrowest `aether-policy.toml` every manifest fits: the union of their requests, the
/// largest limits. Sections nobody needs are left out (a left-out section allows nothing).
fn policy_text(manifests: &[(PathBuf, Manifest)]) -> String {
    fn union<'a>(lists: impl Iterator<Item = Vec<String>> + 'a) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in lists.flatten() {
            if !out.contains(&item) {
                out.push(item);
            }
        }
        out
    }
    fn list(items: &[String]) -> String {
        let quoted: Vec<String> = items
            .iter()
            .map(|s| serde_json::to_string(s).unwrap_or_default())
            .collect();
        format!("[{}]", quoted.join(", "))
    }
    let perms = || manifests.iter().map(|(_, m)| &m.permissions);
    let read = union(perms().map(|p| p.fs_read.iter().map(|x| x.source().to_owned()).collect()));
    let write = union(perms().map(|p| p.fs_write.iter().map(|x| x.source().to_owned()).collect()));
    let domains = union(perms().map(|p| p.domains.iter().map(ToString::to_string).collect()));
    let listen = union(perms().map(|p| p.listen.iter().map(ToString::to_string).collect()));
    let env = union(perms().map(|p| p.env.iter().map(ToString::to_string).collect()));
    let commands =
        union(perms().map(|p| p.commands.iter().map(|c| c.display().to_string()).collect()));
    let process = perms().any(|p| p.process);
    let process_network = perms().any(|p| p.process_network);
    let memory = manifests
        .iter()
        .map(|(_, m)| m.limits.memory.unwrap_or(aether::policy::DEFAULT_MEMORY))
        .max()
        .unwrap_or(aether::policy::DEFAULT_MEMORY);
    let timeout = manifests
        .iter()
        .map(|(_, m)| m.limits.timeout.unwrap_or(aether::policy::DEFAULT_TIMEOUT))
        .max()
        .unwrap_or(aether::policy::DEFAULT_TIMEOUT);

    let names: Vec<&str> = manifests.iter().map(|(_, m)| m.name.as_str()).collect();
    let mut out = format!(
        "# Written by `aether new pipeline`: the narrowest policy the plugins {} fit.\n# A section left out allows nothing of its kind. Review it before you trust it.\n",
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        }
    );
    if !read.is_empty() || !write.is_empty() {
        out += "\n[filesystem]\n";
        if !read.is_empty() {
            out += &format!("read = {}\n", list(&read));
        }
        if !write.is_empty() {
            out += &format!("write = {}\n", list(&write));
        }
    }
    if !domains.is_empty() || !listen.is_empty() {
        out += "\n[network]\n";
        if !domains.is_empty() {
            out += &format!("domains = {}\n", list(&domains));
        }
        if !listen.is_empty() {
            out += &format!("listen = {}\n", list(&listen));
        }
    }
    if !env.is_empty() {
        out += &format!("\n[env]\nallow = {}\n", list(&env));
    }
    if process {
        out += &format!("\n[process]\ncommands = {}\n", list(&commands));
        if process_network {
            out += "allow_network = true\n";
        }
    }
    out += &format!(
        "\n[limits]\nmax_memory = \"{memory:#}\"\nmax_timeout = \"{}\"\n",
        aether::policy::HumanDuration(timeout)
    );
    out += "\n[unsafe]\nallowed = false\n";
    out
}

/// `[a-z0-9][a-z0-9-]*`, as the manifest requires.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Writes every file, or none: refuses if any exists, creates each with `create_new`, and
/// removes what it wrote if a later one fails.
/// Paths in messages are relative to `cwd` where they are under it.
fn write_all_new(cwd: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.symlink_metadata().is_ok())
        .map(|(p, _)| format!("`{}`", p.strip_prefix(cwd).unwrap_or(p).display()))
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist{}: `aether new` never overwrites a file, and wrote nothing\n\nhint: choose another name or directory, or move the file away",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }
    let mut written: Vec<&Path> = Vec::new();
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (path, text) in files {
            if let Some(parent) = path.parent()
                && !parent.exists()
            {
                let mut missing = parent.to_path_buf();
                while let Some(up) = missing.parent().filter(|p| !p.exists()) {
                    missing = up.to_path_buf();
                }
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
                created_dirs.push(missing);
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
            written.push(path);
            file.write_all(text.as_bytes())
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for path in written {
            let _ = std::fs::remove_file(path);
        }
        for dir in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}
