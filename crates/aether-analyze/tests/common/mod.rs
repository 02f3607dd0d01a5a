//! In-memory fixture plugins for the analyzer's tests.
#![allow(dead_code, reason = "each test binary uses part of the helpers")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aether_analyze::{Finding, Input, Resolution, analyze};
use aether_policy::{
    DomainPattern, EnvPattern, Grant, ListenAddr, PathPattern, Permissions, RequestedLimits,
};

pub const WS: &str = "/ws";

/// Permissions built from short lists.
#[derive(Default)]
pub struct Perms {
    pub read: &'static [&'static str],
    pub write: &'static [&'static str],
    pub domains: &'static [&'static str],
    pub listen: &'static [&'static str],
    pub env: &'static [&'static str],
    pub commands: &'static [&'static str],
}

pub fn grant(p: &Perms) -> Grant {
    let ws = Path::new(WS);
    let perms = Permissions {
        fs_read: p
            .read
            .iter()
            .map(|x| PathPattern::parse(x, ws).unwrap())
            .collect(),
        fs_write: p
            .write
            .iter()
            .map(|x| PathPattern::parse(x, ws).unwrap())
            .collect(),
        domains: p
            .domains
            .iter()
            .map(|x| DomainPattern::parse(x).unwrap())
            .collect(),
        listen: p
            .listen
            .iter()
            .map(|x| ListenAddr::parse(x).unwrap())
            .collect(),
        env: p
            .env
            .iter()
            .map(|x| EnvPattern::parse(x).unwrap())
            .collect(),
        commands: p.commands.iter().map(PathBuf::from).collect(),
        process: !p.commands.is_empty(),
        process_network: false,
        secrets: Vec::new(),
    };
    Grant::new(perms, None, &RequestedLimits::default()).unwrap()
}

/// Resolves like the runtime's bundle: relative to the referrer's directory, lexically.
pub fn resolve(files: &HashMap<String, String>, spec: &str, referrer: &str) -> Resolution {
    if !(spec.starts_with("./") || spec.starts_with("../")) {
        return Resolution::Blocked("not a relative specifier".into());
    }
    let mut parts: Vec<&str> = referrer.split('/').collect();
    parts.pop();
    for seg in spec.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                if parts.pop().is_none() {
                    return Resolution::Blocked("it leaves the plugin directory".into());
                }
            }
            s => parts.push(s),
        }
    }
    let name = parts.join("/");
    if files.contains_key(&name) {
        Resolution::Module(name)
    } else {
        Resolution::NotFound
    }
}

/// Analyzes a plugin made of `files` (the first is the entry module).
pub fn run(files: &[(&str, &str)], perms: &Perms) -> Vec<Finding> {
    run_with(files, perms, analyze).0
}

/// Runs `f` (`analyze`, `run_gate`) over a plugin made of `files` (the first is the entry
/// module); returns its findings and how many times a module's text was asked for.
pub fn run_with(
    files: &[(&str, &str)],
    perms: &Perms,
    f: fn(&Input<'_>) -> Vec<Finding>,
) -> (Vec<Finding>, usize) {
    let map: HashMap<String, String> = files
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    let g = grant(perms);
    let reads = std::cell::Cell::new(0);
    let modules = |n: &str| {
        reads.set(reads.get() + 1);
        map.get(n).map(|s| s.clone().into_bytes())
    };
    let res = |s: &str, r: &str| resolve(&map, s, r);
    let found = f(&Input {
        main: files[0].0,
        modules: &modules,
        resolve: &res,
        require: &res,
        kind: &|_| aether_policy::ModuleKind::Esm,
        grant: &g,
        workspace: Path::new(WS),
    });
    (found, reads.get())
}

/// A one-module plugin.
pub fn one(src: &str, perms: &Perms) -> Vec<Finding> {
    run(&[("index.js", src)], perms)
}

/// The rule ids found, in order.
pub fn rules(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

/// The findings of one rule.
pub fn of<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}
