//! A worker whose address-space limit refuses an allocation outside the engine reports the
//! step as a memory kill, not a crash (issue 16: "a process-tier worker killed by its rlimit is
//! reported as exactly that").
//!
//! The test runs itself again as the "worker": a child process with a small `RLIMIT_AS`, armed
//! on its standard output, that allocates past it.
#![allow(unsafe_code, reason = "setrlimit in the child process of the test")]
#![allow(clippy::unwrap_used, reason = "test set-up")]

use std::process::Command;

use aether_sandbox::StepError;
use aether_worker::wire::{FromWorker, write_frame};

#[global_allocator]
static ALLOCATOR: aether_worker::Allocator = aether_worker::Allocator;

const CHILD: &str = "AETHER_TEST_OOM_CHILD";
const LIMIT: u64 = 64 << 20;

// See: issue 16 ("In the process tier the worker dies at its address-space limit, but the
// step reports 'the worker process ended without a result'").
#[test]
fn issue_16_an_allocation_refused_by_the_address_space_limit_reports_the_memory_limit() {
    if std::env::var_os(CHILD).is_some() {
        let stdout = std::io::stdout();
        aether_worker::oom::arm(&stdout, LIMIT);
        let limit = libc::rlimit {
            rlim_cur: 4 << 30,
            rlim_max: 4 << 30,
        };
        // SAFETY: plain system call on this process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
        let huge = vec![1u8; 8 << 30];
        // Never reached: the allocation above ends the process.
        std::process::exit(i32::from(huge[0]) + 100);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "issue_16_an_allocation_refused_by_the_address_space_limit_reports_the_memory_limit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let mut expected = Vec::new();
    write_frame(
        &mut expected,
        &FromWorker::Done {
            result: Err(StepError::Memory { limit: LIMIT }),
            cpu: std::time::Duration::ZERO,
        },
    )
    .unwrap();
    assert!(
        out.stdout.ends_with(&expected),
        "the child did not end with the memory-limit result (status {:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
}
