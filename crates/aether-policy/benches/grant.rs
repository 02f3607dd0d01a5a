//! The cost of one `filesystem.read` check as a grant's patterns grow (issue 8, row 3 of
//! `docs/BENCHMARKS.md`): 1, 10 and 1,000 patterns, all but one matching nothing, the path
//! checked matching the last; and making such a grant under a policy. Run with
//! `cargo bench -p aether-policy`.

use std::path::{Path, PathBuf};

use aether_policy::{Grant, PathPattern, Permissions, Policy, RequestedLimits};

fn main() {
    divan::main();
}

fn permissions(n: usize) -> Permissions {
    let ws = Path::new("/ws");
    let mut fs_read: Vec<PathPattern> = (1..n)
        .filter_map(|i| PathPattern::parse(&format!("./other/d{i}/*.txt"), ws).ok())
        .collect();
    fs_read.extend(PathPattern::parse("./data/kib.txt", ws).ok());
    Permissions {
        fs_read,
        ..Permissions::default()
    }
}

fn grant(n: usize) -> Grant {
    match Grant::new(permissions(n), None, &RequestedLimits::default()) {
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

/// Making the grant of a manifest asking for the same `n` patterns the policy allows (done once
/// per plugin before a run): every request is checked against the policy.
#[divan::bench(args = [1, 10, 1000])]
fn grant_under_policy(bencher: divan::Bencher, n: usize) {
    let permissions = permissions(n);
    let policy = Policy {
        fs_read: permissions.fs_read.clone(),
        ..Policy::default()
    };
    bencher.bench(|| {
        Grant::new(
            permissions.clone(),
            Some(&policy),
            &RequestedLimits::default(),
        )
        .is_ok()
    });
}
