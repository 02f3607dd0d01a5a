//! `aether run PIPELINE --step ID` (SPEC §7, issue 25): one step as a unit of work, validated
//! as a full run is, its needs' outputs given with `--need-output`.

use proptest::prelude::*;

use crate::Ws;

/// Returns its input and a double derived from the step's name, so that every output differs
/// and numbers must cross exactly.
const NODE: &str = r#"export default (input, context) => ({
  step: context.step,
  input,
  x: [...context.step].reduce((a, c) => a * 1.0000001 + c.charCodeAt(0) / 7, 0.1),
});
"#;

/// A pipeline of `needs.len()` steps `s0..`, step `i` needing `needs[i]` (indices below `i`)
/// and referencing each one's output, whole and by a field.
fn dag_workspace(needs: &[Vec<usize>]) -> Ws {
    let ws = Ws::new();
    ws.js_plugin("node", r#"{"name": "node", "version": "1.0.0"}"#, NODE);
    let mut yaml = String::from("name: dag\nsteps:\n");
    for (i, deps) in needs.iter().enumerate() {
        yaml.push_str(&format!("  - id: s{i}\n    plugin: ./plugins/node\n"));
        if deps.is_empty() {
            yaml.push_str(&format!("    with: {{ seed: {i} }}\n"));
            continue;
        }
        let list: Vec<String> = deps.iter().map(|d| format!("s{d}")).collect();
        yaml.push_str(&format!("    needs: [{}]\n    with:\n", list.join(", ")));
        for d in deps {
            yaml.push_str(&format!(
                "      from_s{d}: ${{{{ steps.s{d}.output }}}}\n      x_of_s{d}: \"x=${{{{ steps.s{d}.output.x }}}}\"\n"
            ));
        }
    }
    ws.write("pipeline.yaml", &yaml);
    ws
}

/// Each step's output text in `--output json`, by step id.
fn outputs(stdout: &str) -> Vec<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Run<'a> {
        #[serde(borrow)]
        steps: Vec<Step<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Step<'a> {
        id: String,
        #[serde(borrow)]
        output: &'a serde_json::value::RawValue,
    }
    let run: Run = serde_json::from_str(stdout).unwrap();
    run.steps
        .into_iter()
        .map(|s| (s.id, s.output.get().to_owned()))
        .collect()
}

fn dags() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (2usize..5).prop_flat_map(|n| {
        (0..n)
            .map(|i| prop::collection::btree_set(0..i.max(1), 0..=i.min(2)))
            .collect::<Vec<_>>()
            .prop_map(|sets| {
                sets.into_iter()
                    .enumerate()
                    .map(|(i, set)| set.into_iter().filter(|&d| d < i).collect())
                    .collect()
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    // See: issue 25 ("A full run and the same pipeline run step by step with --step, feeding
    // each output to the next, give identical outputs").
    #[test]
    fn issue_25_a_pipeline_run_step_by_step_gives_the_full_runs_outputs(needs in dags()) {
        let ws = dag_workspace(&needs);
        let full = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        prop_assert_eq!(full.code, Some(0), "{}", full.stderr);
        let full = outputs(&full.stdout);
        for (i, deps) in needs.iter().enumerate() {
            let mut args: Vec<String> = vec![
                "run".into(), "pipeline.yaml".into(), "--step".into(), format!("s{i}"),
                "--output".into(), "json".into(),
                "--output-file".into(), format!("out/s{i}.json"),
            ];
            for d in deps {
                args.push("--need-output".into());
                args.push(format!("s{d}=@out/s{d}.json"));
            }
            std::fs::create_dir_all(ws.path().join("out")).unwrap();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let one = ws.aether(&args);
            prop_assert_eq!(one.code, Some(0), "{}", one.stderr);
            let one = outputs(&one.stdout);
            prop_assert_eq!(one.len(), 1);
            prop_assert_eq!(&one[0], &full[i]);
            let written = std::fs::read_to_string(ws.path().join(format!("out/s{i}.json"))).unwrap();
            prop_assert_eq!(&written, &full[i].1);
        }
    }
}

#[test]
fn issue_25_a_step_run_refuses_missing_unknown_and_unneeded_outputs() {
    let ws = dag_workspace(&[vec![], vec![0]]);
    for (args, says) in [
        (vec!["--step", "s1"], "give it with `--need-output"),
        (vec!["--step", "s9"], "no step `s9`"),
        (
            vec!["--step", "s0", "--need-output", "s1={}"],
            "does not need a step `s1`",
        ),
        (
            vec!["--step", "s1", "--need-output", "s0={"],
            "is not one JSON value",
        ),
        (
            vec!["--step", "s1", "--need-output", "s0=@missing.json"],
            "missing.json",
        ),
    ] {
        let mut all = vec!["run", "pipeline.yaml"];
        all.extend(args);
        let out = ws.aether(&all);
        out.no_panic();
        assert_eq!(out.code, Some(2), "{all:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{all:?}: {}", out.stderr);
    }
}

#[test]
fn issue_25_a_failed_step_writes_no_output_file_and_exits_1() {
    let ws = Ws::new();
    ws.js_plugin(
        "boom",
        r#"{"name": "boom", "version": "1.0.0"}"#,
        "export default () => { throw new Error('boom'); };\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: p\nsteps:\n  - id: boom\n    plugin: ./plugins/boom\n",
    );
    let out = ws.aether(&[
        "run",
        "pipeline.yaml",
        "--step",
        "boom",
        "--output-file",
        "out.json",
        "--output",
        "json",
    ]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(out.json()["steps"][0]["status"], "failed");
    assert!(!ws.path().join("out.json").exists());
}

/// A step run refuses what a full run refuses: a policy excess, a closed window, a lock that
/// does not match.
#[test]
fn issue_25_a_step_run_refuses_what_a_full_run_refuses() {
    let ws = Ws::new();
    ws.js_plugin(
        "reader",
        r#"{"name": "reader", "version": "1.0.0", "permissions": {"env": ["HOME"]}}"#,
        "export default () => 1;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: p\npolicy: ./aether-policy.toml\nsteps:\n  - id: r\n    plugin: ./plugins/reader\n",
    );
    let refused = |ws: &Ws, why: &str| {
        for args in [
            vec!["run", "pipeline.yaml"],
            vec!["run", "pipeline.yaml", "--step", "r"],
        ] {
            let out = ws.aether(&args);
            out.no_panic();
            assert_eq!(out.code, Some(2), "{why}, {args:?}: {}", out.stderr);
        }
    };
    // Policy excess: the policy allows no env at all.
    ws.write("aether-policy.toml", "[limits]\nmax_memory = \"1GiB\"\n");
    refused(&ws, "policy excess");
    // A window that is closed now: a one-minute window twelve hours away.
    let minute_of_day = |seconds: i64| seconds.rem_euclid(86_400) / 60;
    let hh_mm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let start = minute_of_day(jiff::Timestamp::now().as_second() + 12 * 3600);
    ws.write(
        "aether-policy.toml",
        &format!(
            "[env]\nallow = [\"HOME\"]\n[[windows]]\napplies_to = \"medium-risk\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nstart = \"{}\"\nend = \"{}\"\ntimezone = \"UTC\"\n",
            hh_mm(start),
            hh_mm((start + 1) % 1440)
        ),
    );
    refused(&ws, "window");
    // A lock the plugin no longer matches.
    ws.write("aether-policy.toml", "[env]\nallow = [\"HOME\"]\n");
    let locked = ws.aether(&["lock", "pipeline.yaml"]);
    assert_eq!(locked.code, Some(0), "{}", locked.stderr);
    let ok = ws.aether(&["run", "pipeline.yaml", "--step", "r"]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    ws.write("plugins/reader/index.js", "export default () => 2;\n");
    refused(&ws, "lock mismatch");
}
