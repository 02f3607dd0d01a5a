//! Real processes against the confinement: each test re-enacts a public sandbox bypass and also
//! checks the granted case, so that it can fail.

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aether_policy::{CheckedCommand, CheckedPath, UnsafeMode, WorkspaceDir};

use aether_jail::{
    ChildSpec, Children, Confinement, Exit, Feature, JailError, Support, WorkingDir, run,
};

const PYTHON: &str = "/usr/bin/python3";

fn spec(program: &str, args: &[&str]) -> ChildSpec {
    ChildSpec {
        // The jail's own tests run programs no grant checked: the `--unsafe` constructor.
        program: CheckedCommand::unchecked(Path::new(program), &UnsafeMode::acknowledge()),
        args: args.iter().map(Into::into).collect(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: WorkingDir::Workspace(WorkspaceDir::operator("/".into())),
        stdin: Vec::new(),
        deadline: Instant::now() + Duration::from_secs(20),
        max_output: 1 << 20,
        confinement: Confinement {
            memory: 512 << 20,
            max_processes: 64,
            ..Confinement::default()
        },
    }
}

fn sh(script: &str) -> ChildSpec {
    spec("/bin/bash", &["-c", script])
}

fn exec(spec: &ChildSpec) -> Exit {
    let exit = run(spec, &Children::new()).expect("run");
    assert!(
        exit.weakened.is_empty(),
        "this machine must offer every feature"
    );
    exit
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Processes whose command line contains `marker`.
fn survivors(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = text(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

fn python() -> bool {
    let present = Path::new(PYTHON).exists();
    if !present {
        eprintln!("skipped: {PYTHON} is absent");
    }
    present
}

// Deno's `--allow-run` docs: a subprocess "essentially invalidates the sandbox", starting with
// the host's environment (API tokens) that it inherits.
#[test]
fn environment_is_exactly_the_granted_variables() {
    // cargo sets this in the test process: it stands for a secret of the host.
    let secret = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut spec = spec("/usr/bin/env", &[]);
    spec.env.push(("GRANTED".into(), "yes".into()));
    let exit = exec(&spec);
    assert_eq!(exit.code, Some(0));
    let mut lines: Vec<String> = text(&exit.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["GRANTED=yes", "PATH=/usr/bin:/bin"]);
    assert!(!text(&exit.stdout).contains(&secret));
}

// Node permission model bypasses (CVE-2024-36137 fchown/fchmod, CVE-2023-32005 statfs): checks
// in user space miss an API; here the kernel checks every open. Also Deno `--allow-run`.
#[test]
fn reads_only_granted_paths() {
    let dir = tempfile::tempdir().unwrap();
    let granted = dir.path().join("granted");
    fs::create_dir(&granted).unwrap();
    fs::write(granted.join("file"), "visible").unwrap();
    fs::write(dir.path().join("secret"), "hidden").unwrap();
    let cat = |path: &Path| {
        let mut spec = spec("/bin/cat", &[path.to_str().unwrap()]);
        spec.confinement.read = vec![granted.clone()];
        exec(&spec)
    };

    let ok = cat(&granted.join("file"));
    assert_eq!((ok.code, text(&ok.stdout).as_str()), (Some(0), "visible"));
    let denied = cat(&dir.path().join("secret"));
    assert_eq!(denied.code, Some(1));
    assert!(
        text(&denied.stderr).contains("Permission denied"),
        "{}",
        text(&denied.stderr)
    );
    assert!(denied.stdout.is_empty());

    // As root the host can read /etc/shadow; the child, also uid 0, cannot.
    if fs::read("/etc/shadow").is_ok() {
        let shadow = cat(Path::new("/etc/shadow"));
        assert_eq!((shadow.code, shadow.stdout.len()), (Some(1), 0));
    }
    for path in [
        "/proc/self/environ",
        "/proc/1/cmdline",
        "/sys/fs/cgroup/pids/cgroup.procs",
    ] {
        let exit = cat(Path::new(path));
        assert_eq!((exit.code, exit.stdout.len()), (Some(1), 0), "{path}");
    }
}

// Deno `--allow-run` / Node CVE-2024-36137: a child writes where its parent may not. Writes land
// only in write grants, and root's capabilities (chown) are gone.
#[test]
fn writes_only_inside_write_grants() {
    let dir = tempfile::tempdir().unwrap();
    let (out, inside, read_only) = (
        dir.path().join("out"),
        dir.path().join("in"),
        dir.path().join("ro"),
    );
    for d in [&out, &inside, &read_only] {
        fs::create_dir(d).unwrap();
    }
    fs::write(inside.join("old"), "old").unwrap();
    let victim = out.join("victim");
    fs::write(&victim, "root's file").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
    let mut spec = sh(r#"echo new > "$W/new" && rm "$W/old" && echo wrote;
        echo x > "$R/x" || echo ro-denied; echo x > "$O/x" || echo out-denied;
        chown 1234 "$W/new" || echo chown-denied; chmod 4777 "$O/victim" || echo chmod-denied;
        python3 -c 'import os; f = os.open(os.environ["W"] + "/new", os.O_RDONLY); os.fchmod(f, 0o640)' \
            || echo fchmod-failed"#);
    spec.env.extend([
        ("W".into(), inside.clone().into()),
        ("R".into(), read_only.clone().into()),
        ("O".into(), out.clone().into()),
    ]);
    spec.confinement.write = vec![inside.clone()];
    spec.confinement.read = vec![read_only.clone()];
    let exit = exec(&spec);
    let expected = "wrote\nro-denied\nout-denied\nchown-denied\nchmod-denied\n";
    assert_eq!(text(&exit.stdout), expected, "{}", text(&exit.stderr));
    // Landlock does not cover chmod: seccomp does, by path; fchmod on a granted file still works.
    assert_eq!(
        fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    assert_eq!(
        fs::metadata(inside.join("new"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(fs::read_to_string(inside.join("new")).unwrap(), "new\n");
    assert!(!inside.join("old").exists());
    assert!(!read_only.join("x").exists() && !out.join("x").exists());
}

// Deno `--allow-run`: a child opens connections the parent's `--allow-net` list forbids.
#[test]
fn no_network_without_grant() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("echo hi > /dev/tcp/127.0.0.1/{port} && echo connected");

    let denied = exec(&sh(&script));
    assert_eq!(denied.stdout, b"");
    assert!(
        text(&denied.stderr).contains("Operation not permitted"),
        "{}",
        text(&denied.stderr)
    );
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    if python() {
        // UDP is outside Landlock's TCP rules: seccomp refuses the socket itself.
        let udp = exec(&spec(
            PYTHON,
            &[
                "-c",
                "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
            ],
        ));
        assert!(
            text(&udp.stderr).contains("PermissionError"),
            "{}",
            text(&udp.stderr)
        );
    }

    let mut allowed = sh(&script);
    allowed.confinement.network = true;
    let exit = exec(&allowed);
    assert_eq!(text(&exit.stdout), "connected\n", "{}", text(&exit.stderr));
    assert!(listener.accept().is_ok());
    if python() {
        // Raw sockets forge packets: refused even with network.
        let mut raw = spec(
            PYTHON,
            &[
                "-c",
                "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)",
            ],
        );
        raw.confinement.network = true;
        assert!(text(&exec(&raw).stderr).contains("PermissionError"));
    }
}

// The exposed-socket escape: as root, `/var/run/docker.sock` or the D-Bus system bus is
// root-equivalent, and Landlock (before ABI 9) does not check `connect` to a socket path.
#[test]
fn cannot_reach_unix_sockets_outside_the_sandbox() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let code = format!(
        "import socket\ntry:\n socket.socket(socket.AF_UNIX).connect({path:?}); print('connected')\n\
         except OSError as e: print(e.errno)\nsocket.socketpair(); print('pair')"
    );
    let unconfined = Command::new(PYTHON).args(["-c", &code]).output().unwrap();
    assert_eq!(
        text(&unconfined.stdout),
        "connected\npair\n",
        "precondition"
    );
    for network in [false, true] {
        let mut spec = spec(PYTHON, &["-c", &code]);
        spec.confinement.network = network;
        spec.confinement.read = vec![dir.path().into()];
        let exit = exec(&spec);
        assert_eq!(
            text(&exit.stdout),
            "1\npair\n",
            "network: {network}: {}",
            text(&exit.stderr)
        );
    }
}

// A child outliving its timeout in the background (`cmd &`): process-group kill alone misses
// children that leave the group.
#[test]
fn deadline_kills_the_whole_tree() {
    let mut spec = sh("sleep 100.123 & sleep 100.124");
    spec.deadline = Instant::now() + Duration::from_millis(300);
    let start = Instant::now();
    let exit = exec(&spec);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        (exit.code, exit.signal, exit.timed_out),
        (None, Some("SIGKILL"), true)
    );
    assert_eq!(survivors("sleep 100.12"), Vec::<String>::new());

    let quick = exec(&sh("exit 3"));
    assert_eq!(
        (quick.code, quick.signal, quick.timed_out),
        (Some(3), None, false)
    );
}

// The setsid escape from process-group kill, and the classic double fork that orphans a daemon.
#[test]
fn setsid_and_double_fork_do_not_escape() {
    let mut spec = sh("setsid -f sleep 100.456; (sleep 100.457 &); sleep 100.458");
    spec.deadline = Instant::now() + Duration::from_millis(300);
    let exit = exec(&spec);
    assert!(exit.timed_out);
    assert!(
        text(&exit.stderr).contains("setsid failed: Operation not permitted"),
        "{}",
        text(&exit.stderr)
    );
    assert_eq!(survivors("sleep 100.45"), Vec::<String>::new());

    // The orphan outlives its parent when the shell exits first; it must die with the run too.
    let exit = exec(&sh("(sleep 100.459 &); echo started"));
    assert_eq!(
        (exit.code, text(&exit.stdout).as_str()),
        (Some(0), "started\n")
    );
    assert_eq!(survivors("sleep 100.459"), Vec::<String>::new());
}

// The classic fork bomb `:(){ :|:& };:`.
#[test]
fn fork_bomb_is_contained() {
    let mut spec = sh(":(){ :|:& };: ; sleep 100.321 # marker-bomb-7719");
    spec.confinement.max_processes = 32;
    spec.deadline = Instant::now() + Duration::from_secs(1);
    let start = Instant::now();
    let exit = exec(&spec);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        text(&exit.stderr).contains("Resource temporarily unavailable"),
        "the limit never engaged"
    );
    assert_eq!(survivors("marker-bomb-7719"), Vec::<String>::new());
    // The host can still create threads and processes.
    std::thread::spawn(|| ()).join().unwrap();
    assert!(Command::new("/bin/true").status().unwrap().success());
}

// Memory exhaustion in a child must fail the child, not the host.
#[test]
fn memory_ceiling_applies_to_the_child() {
    if !python() {
        return;
    }
    let run_python = |code: &str| {
        let mut spec = spec(PYTHON, &["-c", code]);
        spec.confinement.memory = 64 << 20;
        exec(&spec)
    };
    assert_eq!(run_python("b = bytearray(1 << 20)").code, Some(0));
    let hog = run_python("b = bytearray(2 << 30)");
    assert_eq!(hog.code, Some(1));
    assert!(
        text(&hog.stderr).contains("MemoryError"),
        "{}",
        text(&hog.stderr)
    );
}

// Output as a memory bomb: `yes` fills the host's buffers.
#[test]
fn output_cap_kills_the_child() {
    let start = Instant::now();
    let result = run(&spec("/usr/bin/yes", &["marker-yes-777"]), &Children::new());
    assert!(
        matches!(result, Err(JailError::OutputLimit { limit }) if limit == 1 << 20),
        "{result:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(survivors("marker-yes-777"), Vec::<String>::new());
}

// `unshare -Ur`: a user namespace hands the child every capability inside it, the first step
// of most unprivileged kernel exploits.
#[test]
fn cannot_create_user_namespaces() {
    let unconfined = Command::new("/usr/bin/unshare")
        .args(["-Ur", "true"])
        .status()
        .unwrap();
    assert!(
        unconfined.success(),
        "precondition: unshare works unconfined here"
    );
    let exit = exec(&spec("/usr/bin/unshare", &["-Ur", "true"]));
    assert_ne!(exit.code, Some(0));
    assert!(
        text(&exit.stderr).contains("Operation not permitted"),
        "{}",
        text(&exit.stderr)
    );
}

// ptrace of a sibling or of aether (Node CVE-2024-36137-class escapes through another process).
#[test]
fn cannot_ptrace() {
    if !python() {
        return;
    }
    // An invalid request on pid 1: the kernel answers ESRCH/EIO, seccomp answers EPERM first.
    let code = "import ctypes; l = ctypes.CDLL(None, use_errno=True); \
                l.ptrace(0xdead, 1, 0, 0); print(ctypes.get_errno())";
    let unconfined = Command::new(PYTHON).args(["-c", code]).output().unwrap();
    assert_ne!(
        text(&unconfined.stdout),
        "1\n",
        "precondition: the kernel itself does not say EPERM"
    );
    assert_eq!(text(&exec(&spec(PYTHON, &["-c", code])).stdout), "1\n");
}

// A child killing its host (`kill -9 <aether>`): same uid, so only the Landlock signal scope
// stops it. Signals within the child's own tree still work.
#[test]
fn cannot_signal_the_host() {
    let script = format!(
        "kill -9 {} || echo denied; sleep 5 & kill -9 $!; wait $!; echo $?",
        std::process::id()
    );
    let exit = exec(&sh(&script));
    assert_eq!(
        text(&exit.stdout),
        "denied\n137\n",
        "{}",
        text(&exit.stderr)
    );
}

// A step that ends (timeout, failure) must take its children with it.
#[test]
fn kill_all_ends_running_children_and_refuses_new_ones() {
    let children = Children::new();
    let start = Instant::now();
    let exit = std::thread::scope(|s| {
        let running = s.spawn(|| run(&sh("sleep 100.654"), &children));
        std::thread::sleep(Duration::from_millis(200));
        children.kill_all();
        running.join().unwrap()
    })
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!((exit.signal, exit.timed_out), (Some("SIGKILL"), false));
    assert_eq!(survivors("sleep 100.654"), Vec::<String>::new());
    assert!(matches!(run(&sh("true"), &children), Err(JailError::Ended)));
}

// Pipe deadlock: a child blocked writing a full stdout while the host blocks writing stdin.
#[test]
fn stdin_and_large_output_flow_together() {
    let input: Vec<u8> = (0..2 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut spec = sh("cat; head -c 300000 /dev/zero >&2");
    spec.stdin = input.clone();
    spec.max_output = 4 << 20;
    let exit = exec(&spec);
    assert_eq!(exit.code, Some(0), "{}", text(&exit.stderr));
    assert!(
        exit.stdout == input,
        "stdout differs from stdin ({} bytes)",
        exit.stdout.len()
    );
    assert_eq!(exit.stderr.len(), 300_000);
}

#[test]
fn rejects_unusable_specs() {
    let relative = spec("true", &[]);
    assert!(matches!(
        run(&relative, &Children::new()),
        Err(JailError::InvalidSpec {
            field: "program",
            ..
        })
    ));
    let mut missing = spec("/bin/true", &[]);
    missing.confinement.read = vec!["/nonexistent/aether-jail".into()];
    assert!(matches!(
        run(&missing, &Children::new()),
        Err(JailError::GrantPath { .. })
    ));
}

#[test]
fn missing_features_are_named() {
    let old = Support {
        landlock_abi: 3,
        seccomp: false,
        pids: None,
    };
    let all = [
        Feature::LandlockFs,
        Feature::LandlockNet,
        Feature::LandlockScopes,
        Feature::Seccomp,
        Feature::PidsLimit,
    ];
    assert_eq!(old.missing(&Confinement::default()), all);
    let network = Confinement {
        network: true,
        ..Confinement::default()
    };
    assert!(!old.missing(&network).contains(&Feature::LandlockNet));
    let current = Support {
        landlock_abi: 6,
        seccomp: true,
        pids: aether_jail::probe().pids,
    };
    assert_eq!(current.missing(&Confinement::default()), []);
}

/// Not a check: `cargo test --release -p aether-jail -- --ignored --nocapture overhead` prints
/// the cost of confinement for `/bin/true` against a plain `Command`.
#[test]
#[ignore = "measurement"]
fn overhead() {
    const RUNS: u32 = 200;
    // Interleaved, so that load from elsewhere on the machine hits both alike.
    let (mut plain, mut confined) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..RUNS {
        let start = Instant::now();
        assert!(Command::new("/bin/true").output().unwrap().status.success());
        plain += start.elapsed();
        let start = Instant::now();
        assert_eq!(exec(&spec("/bin/true", &[])).code, Some(0));
        confined += start.elapsed();
    }
    let (plain, confined) = (plain / RUNS, confined / RUNS);
    println!("/bin/true x{RUNS}: plain Command {plain:?}/run, confined {confined:?}/run");
}

/// A `cwd` checked while it was a real directory, then swapped for a symlink to a directory
/// outside the grant before the spawn, is refused, not followed: the child enters the
/// directory through a descriptor opened with no symlink in any component
/// (`WorkingDir::Checked`), never by resolving the path again with `chdir`. The control: the
/// same spec runs in the directory before the swap.
// See: CVE-2022-21658 (Rust `std::fs::remove_dir_all`: a path checked, then swapped for a
// symlink before its use).
#[test]
fn issue_20_a_checked_cwd_swapped_for_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = fs::canonicalize(tmp.path()).expect("canonicalize");
    let (dir, outside) = (base.join("d"), base.join("outside"));
    fs::create_dir(&dir).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    let checked = CheckedPath::unchecked(&dir, &dir, &UnsafeMode::acknowledge());
    let mut spec = sh("pwd");
    spec.cwd = WorkingDir::Checked(checked);
    assert_eq!(text(&exec(&spec).stdout).trim(), dir.display().to_string());

    fs::remove_dir(&dir).expect("rmdir");
    std::os::unix::fs::symlink(&outside, &dir).expect("symlink");
    match run(&spec, &Children::new()) {
        Err(JailError::WorkingDir { path, source }) => {
            assert_eq!(path, dir);
            assert_eq!(source.raw_os_error(), Some(libc_eloop()));
        }
        other => panic!("the swapped cwd must be refused: {other:?}"),
    }
}

fn libc_eloop() -> i32 {
    rustix::io::Errno::LOOP.raw_os_error()
}
