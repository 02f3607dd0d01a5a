//! The cost of one `filesystem.read` check as a grant's patterns grow (issue 8, row 3 of
//! `docs/BENCHMARKS.md`): 1, 10 and 1,000 patterns, all but one matching nothing, the path
//! checked matching the last. Run with `cargo bench -p aether-policy`.

use std::path::{Path, PathBuf};

use aether_policy::{Grant, PathPattern, Permissions, RequestedLimits};

fn main() {
    divan::main();
}

fn grant(n: usize) -> Grant {
    let ws = Path::new("/ws");
    let mut fs_read: Vec<PathPattern> = (1..n)
        .filter_map(|i| PathPattern::parse(&format!("./other/d{i}/*.txt"), ws).ok())
        .collect();
    fs_read.extend(PathPattern::parse("./data/kib.txt", ws).ok());
    let permissions = Permissions {
        fs_read,
        ..Permissions::default()
    };
    match Grant::new(permissions, None, &RequestedLimits::default()) {
        Ok(g) => g,
        Err(e) => panic!("benchmark grant refused: {e:?}"),
    }
}

#[divan::bench(args = [1, 10, 1000])]
fn check_read(bencher: divan::Bencher, n: usize) {
    let grant = grant(n);
    let path = PathBuf::from("/ws/data/kib.txt");
    bencher.bench(|| grant.check_read(divan::black_box(&path), &path).is_ok());
}
