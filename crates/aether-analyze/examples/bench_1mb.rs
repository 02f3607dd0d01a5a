//! Analyzes a generated plugin of about 1 MB (an entry module and 20 helper modules with host
//! calls, aliases, imports and ordinary code) and prints how long it took.
//!
//! ```sh
//! cargo run --release -p aether-analyze --example bench_1mb
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use aether_analyze::{Input, Resolution, analyze};
use aether_policy::{Grant, PathPattern, Permissions, RequestedLimits};

fn helper(i: usize, size: usize) -> String {
    let mut s = format!(
        "import {{ util }} from './m{}.js';\nconst f = aether.fs;\n",
        (i + 1) % 20
    );
    let mut n = 0;
    while s.len() < size {
        s.push_str(&format!(
            "export function fn{n}(input) {{\n  const text = f.readText(`data/file{n}.txt`);\n  \
             const lines = text.split(\"\\n\").map((l, k) => ({{ k, l: l.trim(), n: {n} * k }}));\n  \
             if (lines.length > {n}) {{ aether.fs.writeText(\"out/r{n}.txt\", JSON.stringify(lines)); }}\n  \
             for (let j = 0; j < lines.length; j++) {{ if (lines[j].l === 'x') return util(j); }}\n  \
             return lines.filter((x) => x.n % 2 === 0).length;\n}}\n"
        ));
        n += 1;
    }
    s
}

fn main() {
    let mut files: HashMap<String, String> = HashMap::new();
    let mut index = String::new();
    for i in 0..20 {
        index.push_str(&format!("import * as m{i} from './m{i}.js';\n"));
        files.insert(format!("m{i}.js"), helper(i, 50_000));
    }
    index.push_str("export default async (input) => m0.fn0(input);\n");
    files.insert("index.js".into(), index);
    let total: usize = files.values().map(String::len).sum();

    let ws = Path::new("/ws");
    let perms = Permissions {
        fs_read: PathPattern::parse("data/**", ws).into_iter().collect(),
        fs_write: PathPattern::parse("out/", ws).into_iter().collect(),
        ..Permissions::default()
    };
    let Ok(grant) = Grant::new(perms, None, &RequestedLimits::default()) else {
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
        workspace: ws,
    };
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let start = Instant::now();
        count = analyze(&input).len();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "analyzed {} modules, {:.2} MB, {count} findings: best of 5 {:.1} ms",
        files.len(),
        total as f64 / 1e6,
        best * 1e3
    );
}
