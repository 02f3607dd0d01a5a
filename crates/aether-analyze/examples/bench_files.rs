//! Analyzes JavaScript files as one plugin (an entry module importing each, all ES modules) and
//! prints the best of five times: the analysis part of `aether check` on a real bundle (issue
//! 24's target: prettier's 1.1 MB standalone bundle with its babel, estree, markdown and postcss
//! plugins under 1 s).
//!
//! ```sh
//! cargo run --release -p aether-analyze --example bench_files -- FILE.mjs...
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use aether_analyze::{Input, Resolution, analyze};
use aether_policy::{Grant, Permissions, RequestedLimits};

fn main() {
    let mut files: HashMap<String, String> = HashMap::new();
    let mut index = String::new();
    for (i, path) in std::env::args().skip(1).enumerate() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("cannot read {path}");
            return;
        };
        index.push_str(&format!("import * as m{i} from './m{i}.js';\n"));
        files.insert(format!("m{i}.js"), text);
    }
    index.push_str("export default () => 1;\n");
    files.insert("index.js".into(), index);
    let total: usize = files.values().map(String::len).sum();
    let Ok(grant) = Grant::new(Permissions::default(), None, &RequestedLimits::default()) else {
        eprintln!("could not build the grant");
        return;
    };
    let modules = |n: &str| files.get(n).map(|s| s.clone().into_bytes());
    let resolve = |s: &str, _: &str| {
        let name = s.trim_start_matches("./").to_owned();
        if files.contains_key(&name) {
            Resolution::Module(name)
        } else {
            Resolution::NotFound
        }
    };
    let input = Input {
        main: "index.js",
        modules: &modules,
        resolve: &resolve,
        require: &resolve,
        kind: &|_| aether_policy::ModuleKind::Esm,
        grant: &grant,
        workspace: Path::new("/ws"),
    };
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let start = Instant::now();
        count = analyze(&input).len();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{} bytes in {} modules: {count} findings, best of 5: {:.3} s",
        total,
        files.len(),
        best
    );
}
