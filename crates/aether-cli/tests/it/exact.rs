//! Values cross the step boundary exactly (SPEC §4, issue 15): whatever the plugin's
//! `JSON.stringify` wrote is what the next step and `--output json` receive, in both tiers.
//!
//! See: issue 15 ("Numbers change on their way out of a step"; 222 of 2,000 random doubles
//! came out one step off, `123456789012345680000` became `1.2345678901234567e+20`, and a lone
//! surrogate failed the step).

use std::process::Command;

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Ws;

/// Step `make` turns bit patterns (hex) and UTF-16 code units into doubles and strings; step
/// `check` receives them through a template and turns them back into bits and units.
const MAKE: &str = r#"
const view = new DataView(new ArrayBuffer(8));
export default ({ bits, units }) => ({
  nums: bits.map((h) => { view.setBigUint64(0, BigInt("0x" + h)); return view.getFloat64(0); }),
  strs: units.map((u) => String.fromCharCode(...u)),
});
"#;

const CHECK: &str = r#"
const view = new DataView(new ArrayBuffer(8));
export default ({ made, interpolated }) => ({
  bits: made.nums.map((n) => {
    if (n === null) return null;
    view.setFloat64(0, n);
    return view.getBigUint64(0).toString(16).padStart(16, "0");
  }),
  units: made.strs.map((s) => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i))),
  interpolated: interpolated === "made=" + JSON.stringify(made),
});
"#;

/// The `--output json` document, with step outputs kept as text.
#[derive(Deserialize)]
struct Run<'a> {
    #[serde(borrow)]
    steps: Vec<Step<'a>>,
}

#[derive(Deserialize)]
struct Step<'a> {
    status: String,
    #[serde(borrow)]
    output: &'a RawValue,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Checked {
    bits: Vec<Option<String>>,
    units: Vec<Vec<u16>>,
    interpolated: bool,
}

fn workspace(isolation: &str) -> Ws {
    let ws = Ws::new();
    ws.js_plugin("make", r#"{"name": "make", "version": "1.0.0"}"#, MAKE);
    ws.js_plugin("check", r#"{"name": "check", "version": "1.0.0"}"#, CHECK);
    ws.write(
        "aether-policy.toml",
        &format!("[isolation]\ndefault = \"{isolation}\"\n"),
    );
    ws
}

/// What `JSON.stringify` then `JSON.parse` make of a double: non-finite values become `null`,
/// `-0` becomes `0`; everything else keeps its bits.
fn through_json(bits: u64) -> Option<u64> {
    let x = f64::from_bits(bits);
    if !x.is_finite() {
        None
    } else if x == 0.0 {
        Some(0)
    } else {
        Some(bits)
    }
}

/// Runs the two steps on `bits` and `units` and checks every value arrived exactly.
fn round_trip(ws: &Ws, bits: &[u64], units: &[Vec<u16>]) -> Result<(), TestCaseError> {
    let hex: Vec<String> = bits.iter().map(|b| format!("{b:016x}")).collect();
    let with = serde_json::json!({ "bits": hex, "units": units });
    ws.write(
        "pipeline.yaml",
        &format!(
            "name: exact\npolicy: ./aether-policy.toml\nsteps:\n  - id: make\n    plugin: ./plugins/make\n    with: {with}\n  - id: check\n    plugin: ./plugins/check\n    needs: [make]\n    with:\n      made: ${{{{ steps.make.output }}}}\n      interpolated: \"made=${{{{ steps.make.output }}}}\"\n"
        ),
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    out.no_panic();
    prop_assert_eq!(out.code, Some(0), "{}", out.stderr);
    let run: Run = serde_json::from_str(&out.stdout)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", out.stdout)))?;
    for step in &run.steps {
        prop_assert_eq!(&step.status, "succeeded", "{:?}", step.error);
    }

    // The next step saw every bit and every code unit.
    let checked: Checked = serde_json::from_str(run.steps[1].output.get())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let expected: Vec<Option<String>> = bits
        .iter()
        .map(|&b| through_json(b).map(|b| format!("{b:016x}")))
        .collect();
    prop_assert_eq!(checked.bits, expected);
    prop_assert_eq!(&checked.units, units);
    prop_assert!(
        checked.interpolated,
        "the interpolated text is not the JSON"
    );

    // `--output json` holds each number as text that reads back as the same double.
    #[derive(Deserialize)]
    struct Made<'a> {
        #[serde(borrow)]
        nums: Vec<&'a RawValue>,
    }
    let made: Made = serde_json::from_str(run.steps[0].output.get())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for (raw, &b) in made.nums.iter().zip(bits) {
        let read = match raw.get() {
            "null" => None,
            text => Some(
                text.parse::<f64>()
                    .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?
                    .to_bits(),
            ),
        };
        prop_assert_eq!(read, through_json(b), "`{}`", raw.get());
    }
    Ok(())
}

/// Doubles from every corner: any bit pattern (NaNs, infinities, subnormals, -0 included),
/// and integers around 2^53 and beyond.
fn doubles() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..1 << 60).prop_map(|n| (n as f64).to_bits()),
        any::<f64>().prop_map(f64::to_bits),
    ]
}

/// UTF-16 strings, heavy on surrogates (paired, lone, reversed).
fn strings() -> impl Strategy<Value = Vec<u16>> {
    prop::collection::vec(
        prop_oneof![0xD800u16..0xE000, 0u16..0x80, any::<u16>()],
        0..8,
    )
}

fn cases() -> impl Strategy<Value = (Vec<u64>, Vec<Vec<u16>>)> {
    (
        prop::collection::vec(doubles(), 250),
        prop::collection::vec(strings(), 100),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn issue_15_doubles_and_strings_cross_steps_bit_for_bit_in_the_thread_tier(case in cases()) {
        round_trip(&workspace("thread"), &case.0, &case.1)?;
    }

    #[test]
    fn issue_15_doubles_and_strings_cross_steps_bit_for_bit_in_the_process_tier(case in cases()) {
        round_trip(&workspace("process"), &case.0, &case.1)?;
    }
}

/// The cases the issue names, each checked as text against what Node's `JSON.stringify` writes
/// for the same value (when Node is installed).
#[test]
fn issue_15_named_values_arrive_as_json_stringify_wrote_them() {
    let source = r#"export default () => [98.01666666666667, 123456789012345680000, 1e21, 5e-324, -0, 0.1 + 0.2, 2 ** 53 + 2, "a\ud800b", "\udc00", "\ud83d\ude00", { "\ud800": [1.7976931348623157e308] }];"#;
    let ws = Ws::new();
    ws.js_plugin("make", r#"{"name": "make", "version": "1.0.0"}"#, source);
    ws.js_plugin(
        "echo",
        r#"{"name": "echo", "version": "1.0.0"}"#,
        "export default (input) => input;\n",
    );
    ws.write(
        "pipeline.yaml",
        "name: exact\nsteps:\n  - id: make\n    plugin: ./plugins/make\n  - id: echo\n    plugin: ./plugins/echo\n    needs: [make]\n    with: ${{ steps.make.output }}\n",
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let run: Run = serde_json::from_str(&out.stdout).unwrap();
    let expected = r#"[98.01666666666667,123456789012345680000,1e+21,5e-324,0,0.30000000000000004,9007199254740994,"a\ud800b","\udc00","😀",{"\ud800":[1.7976931348623157e+308]}]"#;
    assert_eq!(run.steps[0].output.get(), expected);
    assert_eq!(run.steps[1].output.get(), expected);

    // Node's V8 writes the same text.
    let module = ws.write("plugins/make/node.mjs", source);
    if let Ok(node) = Command::new("node")
        .args([
            "--input-type=module",
            "-e",
            "const m = await import(process.argv[1]); process.stdout.write(JSON.stringify(m.default()));",
        ])
        .arg(&module)
        .output()
    {
        assert!(node.status.success(), "{}", String::from_utf8_lossy(&node.stderr));
        assert_eq!(String::from_utf8_lossy(&node.stdout), expected);
    }
}
