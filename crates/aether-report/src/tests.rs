//! Renderer tests on a 3-step fixture run and a 200-step run.

use serde_json::Value;

use crate::*;

fn ev(step: &str, capability: &str, target: &str, decision: &str) -> EventRecord {
    EventRecord {
        time: "2025-01-01T00:00:01Z".into(),
        run_id: "run-1".into(),
        step: step.into(),
        plugin: format!("plugin-{step}"),
        capability: capability.into(),
        target: target.into(),
        decision: decision.into(),
        reason: format!("reason for {target}"),
        ..EventRecord::default()
    }
}

fn step(id: &str, inputs_from: &[&str], grant: GrantView) -> StepReport {
    StepReport {
        events_not_written: 0,
        id: id.into(),
        plugin: format!("plugin-{id}"),
        tier: "thread".into(),
        status: "succeeded".into(),
        duration_ms: 400,
        peak_memory_bytes: 8 << 20,
        cpu_ms: 120,
        inputs_from: inputs_from.iter().map(|s| s.to_string()).collect(),
        grant,
        ..StepReport::default()
    }
}

const HOSTILE: &str = "<script>alert(1)</script>";
const BIDI: &str = "/data/\u{202E}gpj.exe";

/// a writes out/data.txt, b reads it (and gets a's output), c fetches and misbehaves.
fn fixture() -> RunReport {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut a = step(
        "a",
        &[],
        GrantView {
            filesystem_read: strings(&["/etc/hosts"]),
            filesystem_write: strings(&["out/"]),
            ..GrantView::default()
        },
    );
    a.samples = (1..=4)
        .map(|i| Sample {
            t_ms: i * 100,
            heap_bytes: i * (2 << 20),
            cpu_ms: i * 30,
        })
        .collect();
    let mut b = step(
        "b",
        &["a"],
        GrantView {
            filesystem_read: strings(&["out/*.txt", "/secret/**"]),
            env: strings(&["HO*", "API_TOKEN"]),
            ..GrantView::default()
        },
    );
    b.start_ms = 400;
    let mut c = step(
        "c",
        &[],
        GrantView {
            domains: strings(&["api.example.com", "*.unused.org"]),
            ..GrantView::default()
        },
    );
    c.start_ms = 800;
    c.status = "failed".into();
    c.error = Some(format!("boom {HOSTILE} \u{202E}"));
    RunReport {
        run_id: "run-1".into(),
        pipeline: "demo".into(),
        unsafe_run: true,
        started: "2025-01-01T00:00:00Z".into(),
        duration_ms: 1200,
        status: "failed".into(),
        steps: vec![a, b, c],
        events: vec![
            ev("a", "filesystem.write", "./out/data.txt", "allowed"),
            ev("a", "filesystem.read", "/etc/passwd", "denied"),
            ev("b", "filesystem.read", "out/data.txt", "allowed"),
            ev("b", "env", "HOME", "allowed"),
            ev("b", "filesystem.write", "/tmp/x", "virtualized"),
            ev("c", "network", "https://api.example.com/x", "allowed"),
            ev("c", "network", HOSTILE, "denied"),
            ev("c", "filesystem.read", BIDI, "denied"),
            ev("c", "limit.timeout", "30s", "killed"),
        ],
        events_head: "ab".repeat(32),
        report_dir: "./aether-security".into(),
    }
}

fn big_run(n: usize) -> RunReport {
    let steps = (0..n)
        .map(|i| {
            let prev = if i > 0 {
                vec![format!("step-{}", i - 1)]
            } else {
                vec![]
            };
            let mut s = step(&format!("step-{i}"), &[], GrantView::default());
            s.inputs_from = if i % 10 == 0 { vec![] } else { prev };
            s.start_ms = i as u64 * 50;
            s
        })
        .collect();
    RunReport {
        steps,
        duration_ms: n as u64 * 50 + 400,
        ..fixture()
    }
}

/// A small XML well-formedness check: balanced tags, quoted attributes, no stray `<`/`&`.
fn assert_well_formed(doc: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = doc;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->").expect("unclosed comment") + 3..];
            continue;
        }
        let gt = tag_end(rest);
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            );
            check_text(tag);
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

/// The index of the `>` closing the tag at the start of `s`, skipping quoted values.
fn tag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return i,
            (None, '<') => panic!("`<` inside a tag: {}", &s[..i]),
            _ => {}
        }
    }
    panic!("unclosed tag")
}

fn check_text(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        assert!(
            entity.len() <= 10 && entity.ends_with(';'),
            "bad entity near {:?}",
            &text[i..(i + 12).min(text.len())]
        );
    }
}

#[test]
fn summary_json_has_exactly_the_spec_fields_and_the_audit_count() {
    let v = summary_json(&fixture());
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        ["events_head", "pipeline", "run_id", "steps", "unsafe"]
    );
    assert_eq!(v["unsafe"], true);
    assert_eq!(v["events_head"], "ab".repeat(32));
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    for s in steps {
        assert_eq!(
            keys(s),
            [
                "cpu_ms",
                "duration_ms",
                "events_not_written",
                "id",
                "peak_memory_bytes",
                "plugin",
                "status",
                "violations"
            ]
        );
    }
    let counts: Vec<(&str, u64)> = steps
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["violations"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("a", 1), ("b", 1), ("c", 3)]);
    assert_eq!(steps[2]["status"], "failed");
    assert_eq!(steps[0]["peak_memory_bytes"], 8 << 20);
}

#[test]
fn resources_json_has_samples_and_peaks() {
    let v = resources_json(&fixture());
    assert_eq!(v["run_id"], "run-1");
    let a = &v["steps"][0];
    assert_eq!(a["id"], "a");
    assert_eq!(a["plugin"], "plugin-a");
    assert_eq!(a["peak_memory_bytes"], 8 << 20);
    assert_eq!(a["cpu_ms"], 120);
    assert_eq!(a["duration_ms"], 400);
    let s0 = a["samples"][0].as_object().unwrap();
    let mut keys: Vec<&str> = s0.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["cpu_ms", "heap_bytes", "t_ms"]);
    assert_eq!(a["samples"][3]["heap_bytes"], 8 << 20);
    assert_eq!(v["steps"][1]["samples"], serde_json::json!([]));
}

#[test]
fn heatmap_is_standalone_svg_for_3_and_200_steps() {
    let small = heatmap_svg(&fixture());
    assert_well_formed(&small);
    assert!(small.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for bad in ["<script", "href", "foreignObject", "url("] {
        assert!(!small.contains(bad), "{bad}");
    }
    assert!(small.contains("MiB") && small.contains("% of a core"));
    // b has no samples: one cell at its peak from its start to its end.
    assert!(small.contains("<title>b (plugin-b)"));
    let one = heatmap_svg(&big_run(1));
    assert_well_formed(&one);
    assert!(one.contains(">step-0</text>"));
    let big = heatmap_svg(&big_run(200));
    assert_well_formed(&big);
    assert_eq!(big.matches("<g><title>").count(), 200);
    let height = |s: &str| -> f64 {
        let h = &s[s.find("height=\"").unwrap() + 8..];
        h[..h.find('"').unwrap()].parse().unwrap()
    };
    assert!(height(&big) > height(&small) && height(&big) < 2500.0);
    assert!(big.len() < 500_000, "{}", big.len());
}

#[test]
fn tick_labels_fit_the_run() {
    let mut run = fixture();
    run.duration_ms = 90_000;
    let svg = heatmap_svg(&run);
    assert!(svg.contains(">20 s<") && !svg.contains(" ms</text><text x=\"10\""));
}

#[test]
fn mermaid_ids_are_sanitized_and_edges_present() {
    let mut run = fixture();
    run.steps[0].id = "a\"]; click x evil[".into();
    for e in run.events.iter_mut().filter(|e| e.step == "a") {
        e.step = run.steps[0].id.clone();
    }
    run.steps[1].inputs_from = vec![run.steps[0].id.clone()];
    let mmd = interactions_mmd(&run);
    assert!(mmd.starts_with("flowchart LR\n"));
    for line in mmd.lines().skip(1).filter(|l| {
        !l.trim_start().starts_with("classDef") && !l.trim_start().starts_with("linkStyle")
    }) {
        let line = line.trim_start();
        let id: String = line
            .chars()
            .take_while(|c| !matches!(c, '[' | '(' | '{' | ' '))
            .collect();
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        // Outside the quoted labels only ids and arrows remain.
        let unquoted: String = line.split('"').step_by(2).collect();
        assert!(
            !unquoted.contains(';') && !unquoted.contains(" click "),
            "{line}"
        );
    }
    assert!(mmd.contains("|\"data, data.txt\"|"));
    assert!(mmd.contains("([\"api.example.com\"])"));
    assert!(mmd.contains("{{\"HOME\"}}"));
    assert!(!mmd.contains("<script") && mmd.contains("#lt;script#gt;"));
    assert!(!mmd.contains('\u{202E}'));
    assert_eq!(mmd.matches(":::violation").count(), 5);
    assert!(mmd.contains("linkStyle"));
}

#[test]
fn violations_are_capped_per_step() {
    let mut run = fixture();
    for i in 0..20 {
        run.events.push(ev(
            "b",
            "filesystem.read",
            &format!("/secret/{i}"),
            "denied",
        ));
    }
    let mmd = interactions_mmd(&run);
    assert!(mmd.contains("… 13 more violations"), "{mmd}");
    assert_well_formed(&interactions_svg(&run));
}

#[test]
fn interactions_svg_is_standalone_and_layered() {
    let svg = interactions_svg(&fixture());
    assert_well_formed(&svg);
    for bad in ["<script", "foreignObject", "href"] {
        assert!(!svg.contains(bad), "{bad}");
    }
    assert!(svg.contains("api.example.com") && svg.contains("HOME") && svg.contains("data.txt"));
    assert!(svg.contains("stroke=\"#c00\"") && svg.contains("marker-end=\"url(#arrow-red)\""));
    assert!(svg.contains("&lt;script&gt;") && !svg.contains('\u{202E}'));
    let big = interactions_svg(&big_run(200));
    assert_well_formed(&big);
    assert_eq!(big.matches("<g><title>step-").count(), 200);
}

#[test]
fn html_is_self_contained_and_escapes_plugin_text() {
    let html = report_html(&fixture());
    assert!(html.contains(
        "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\""
    ));
    let lower = html.to_ascii_lowercase();
    for attr in ["src=", "href="] {
        for (i, _) in lower.match_indices(attr) {
            let value = &lower[i + attr.len()..(i + attr.len() + 12).min(lower.len())];
            assert!(
                !value.contains("http:") && !value.contains("https:"),
                "{attr}{value}"
            );
        }
    }
    assert!(!html.contains("<link") && !html.contains("@import"));
    assert!(!html.contains(HOSTILE) && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains('\u{202E}') && html.contains("\\u{202e}gpj.exe"));
    assert_eq!(html.matches("<script>").count(), 1);
    assert!(html.contains("UNSAFE RUN"));
    assert!(
        html.contains("<table id=\"violations\"") && html.contains("<form id=\"filters\" hidden>")
    );
    assert_eq!(html.matches("<tr data-step=").count(), 5);
    assert!(html.contains("boom &lt;script&gt;"));
    let safe = report_html(&RunReport {
        unsafe_run: false,
        ..fixture()
    });
    assert!(!safe.contains("UNSAFE RUN"));
}

#[test]
fn least_privilege_gap_lists_only_unused_grants() {
    let run = fixture();
    let a = least_privilege_gap(&run.steps[0], &run.events);
    assert_eq!(a.filesystem_write, Vec::<String>::new());
    assert_eq!(a.filesystem_read, ["/etc/hosts"]);
    let b = least_privilege_gap(&run.steps[1], &run.events);
    assert_eq!(b.filesystem_read, ["/secret/**"]);
    assert_eq!(b.env, ["API_TOKEN"]);
    let c = least_privilege_gap(&run.steps[2], &run.events);
    assert_eq!(c.domains, ["*.unused.org"]);
    let html = report_html(&run);
    assert!(html.contains("<td class=\"gap\"><code>/secret/**</code></td>"));
}

/// Past the run's limit of distinct events, a step's further uses are one record whose targets
/// were not kept: the grants they used are unknown, so the gap must not call them unused (a
/// reviewer would drop a grant the plugin needs).
#[test]
fn omitted_targets_leave_no_grant_called_unused() {
    let mut run = fixture();
    let b = run.steps[1].id.clone();
    let before = least_privilege_gap(&run.steps[1], &run.events);
    assert_eq!(before.filesystem_read, ["/secret/**"]);
    run.events.push(EventRecord {
        targets_omitted: true,
        repeats: 41,
        ..ev(&b, "filesystem.read", "(other targets)", "allowed")
    });
    let after = least_privilege_gap(&run.steps[1], &run.events);
    assert_eq!(after.filesystem_read, Vec::<String>::new());
    assert_eq!(after.env, before.env, "other capabilities are still known");
}

/// The gap matches paths as enforcement does (one matcher, `aether_policy::PathPattern`).
#[test]
fn paths_match_as_enforced() {
    for (pattern, path, expected) in [
        ("/var/logs/temp/*", "/var/logs/temp/a.log", true),
        ("/var/logs/temp/*", "/var/logs/temp/sub/a.log", false),
        ("/var/logs/", "/var/logs/a/b/c", true),
        ("/var/logs/**", "/var/logs", true),
        ("src/**/*.rs", "src/lib.rs", true),
        ("./src/**/*.rs", "src/a/b/lib.rs", true),
        ("src/**/*.rs", "./src/a/../lib.rs", true),
        ("file?.[ch]", "file1.c", true),
        ("file?.[!ch]", "file1.c", false),
        ("/a/*", "/b/c", false),
        ("*", "a/b", false),
        // Resolved against `/` as POSIX does (`/..` is `/`), as enforcement resolves paths
        // (issue 15).
        ("./data/*", "../data/x", true),
        ("./data/*", "../other/x", false),
    ] {
        assert_eq!(path_match(pattern, path), expected, "{pattern} {path}");
    }
    // Polynomial on hostile input.
    assert!(!path_match("*a*a*a*a*a*a*a*a*a*b", &"a".repeat(200)));
    let long = format!("/{}", "a/".repeat(50_000));
    assert!(path_match("/**", &long) && !path_match("/a/b", &long));
}

/// Variable reads match `env` as enforcement does (one matcher, `EnvPattern`), `*` included.
#[test]
fn env_matches_as_enforced() {
    for (pattern, name, expected) in [
        ("*", "HOME", true),
        ("*", "x", true),
        ("HO*", "HOME", true),
        ("HO*", "HO", true),
        ("HO*", "H", false),
        ("HOME", "HOME", true),
        ("HOME", "HOMER", false),
        ("**", "HOME", false),
    ] {
        assert_eq!(
            crate::html::env_match(pattern, name),
            expected,
            "{pattern} {name}"
        );
    }
    let mut run = fixture();
    run.steps[1].grant.env = vec!["*".into(), "API_*".into()];
    let gap = least_privilege_gap(&run.steps[1], &run.events);
    assert_eq!(gap.env, ["API_*"], "`*` was used by the read of HOME");
}

/// Fetches match `network.domains` as enforcement does (one matcher, `DomainPattern`).
#[test]
fn domains_match_as_enforced() {
    for (pattern, url, expected) in [
        ("api.example.com", "https://API.Example.com./v1", true),
        ("api.example.com", "http://api.example.com/", true),
        ("api.example.com", "https://api.example.com:8443/", false),
        (
            "api.example.com:8443",
            "https://api.example.com:8443/",
            true,
        ),
        ("*.example.org", "https://a.b.example.org/", true),
        ("*.example.org", "https://example.org/", false),
        ("127.0.0.1:8080", "http://2130706433:8080/", true),
        ("[::1]:9000", "http://[::1]:9000/x", true),
        ("[::1]:9000", "http://[::2]:9000/x", false),
    ] {
        assert_eq!(
            crate::html::domain_match(pattern, url),
            expected,
            "{pattern} {url}"
        );
    }
}

#[test]
fn terminal_summary_counts_and_points_at_the_report() {
    let text = terminal_summary(&fixture());
    assert!(text.starts_with("warning: unsafe run"));
    assert!(text.contains("5 violations: "), "{text}");
    assert!(
        text.contains(
            "5 violations: 2 filesystem.read denied, 1 filesystem.write virtualized, \
             1 limit.timeout killed, 1 network denied\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("top offenders: c (3), a (1), b (1)"),
        "{text}"
    );
    assert!(
        text.ends_with("report: ./aether-security/report.html\n"),
        "{text}"
    );
    let mut clean = fixture();
    clean.events.retain(|e| !e.is_violation());
    clean.report_dir = "out\u{1b}[2J/".into();
    let text = terminal_summary(&clean);
    assert!(text.contains("no violations (4 capability uses)"), "{text}");
    assert!(
        text.ends_with("report: out\\u{1b}[2J/report.html\n"),
        "{text}"
    );
}

#[test]
fn inbound_requests_are_edges_from_their_clients() {
    let mut run = fixture();
    // The bind itself (target `ip:port`) draws nothing; each request received does, from its
    // client's address to the step, merged per client.
    run.events
        .push(ev("a", "network", "127.0.0.1:9000", "allowed"));
    for (peer, path) in [("127.0.0.1:40001", "/a"), ("127.0.0.1:40002", "/b")] {
        run.events.push(EventRecord {
            peer: Some(peer.into()),
            method: Some("GET".into()),
            path: Some(path.into()),
            address: Some("127.0.0.1:9000".into()),
            status: Some(200),
            ..ev(
                "a",
                "network",
                &format!("http://127.0.0.1:9000{path}"),
                "allowed",
            )
        });
    }
    let mmd = interactions_mmd(&run);
    let clients: Vec<&str> = mmd.lines().filter(|l| l.contains("[/\"")).collect();
    assert_eq!(clients.len(), 1, "{mmd}");
    assert!(clients[0].contains("[/\"127.0.0.1\"/]"), "{mmd}");
    let client_id = clients[0]
        .trim_start()
        .split('[')
        .next()
        .unwrap_or_default();
    assert!(
        mmd.lines()
            .any(|l| l.trim_start().starts_with(&format!("{client_id} "))
                && l.contains("|\"inbound\"|")),
        "{mmd}"
    );
    assert!(
        !mmd.contains("([\"127.0.0.1\"])"),
        "the bind is not a fetch: {mmd}"
    );
    let svg = interactions_svg(&run);
    assert_well_formed(&svg);
    assert!(svg.contains("#639"));
}

#[test]
fn requests_a_listener_received_do_not_use_a_domain_grant() {
    let mut run = fixture();
    run.steps[2].grant.domains = vec!["127.0.0.1:9000".into()];
    run.steps[2].grant.listen = vec!["127.0.0.1:9000".into()];
    let id = run.steps[2].id.clone();
    run.events
        .push(ev(&id, "network", "127.0.0.1:9000", "allowed"));
    run.events.push(EventRecord {
        peer: Some("127.0.0.1:40000".into()),
        ..ev(&id, "network", "http://127.0.0.1:9000/", "allowed")
    });
    let gap = least_privilege_gap(&run.steps[2], &run.events);
    assert_eq!(
        gap.listen,
        Vec::<String>::new(),
        "the bind uses the listen grant"
    );
    assert_eq!(
        gap.domains,
        ["127.0.0.1:9000"],
        "a client's request is not a fetch"
    );
}
