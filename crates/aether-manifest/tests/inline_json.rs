//! A large `with` written as one line of JSON is read as JSON (issue 19): every value,
//! location, error and budget refusal must be exactly serde-saphyr's for the same text
//! (`InlineJson::Off`), and the fast path must be taken where it applies.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use aether_manifest::{InlineJson, PipelineFile, SourceFile, YamlRead};
use proptest::prelude::*;
use serde_json::Value;

/// A pipeline of two steps: `a` with `with_json` (padded past the fast path's threshold when
/// `pad`), `b` with a small block-style value, written with `eol` line ends.
fn pipeline(with_json: &str, pad: bool, eol: &str) -> String {
    let with = if pad {
        format!("{{\"pad\": \"{}\", \"v\": {with_json}}}", "x".repeat(5000))
    } else {
        with_json.to_string()
    };
    [
        "name: p",
        "steps:",
        "  - id: a",
        "    plugin: ./x",
        &format!("    with: {with}"),
        "  - id: b",
        "    plugin: ./x",
        "    with:",
        "      k: [1, 2.5, \"s\"]",
        "",
    ]
    .join(eol)
}

/// The whole parse (every step, value, location and error) by `parse`, and how it read the YAML.
fn ours_traced(text: &str) -> (String, YamlRead) {
    let (parsed, read) = PipelineFile::parse_traced(file(text), InlineJson::Allowed);
    (format!("{parsed:?}"), read)
}

fn ours(text: &str) -> String {
    ours_traced(text).0
}

/// serde-saphyr alone, on the whole text.
fn reference(text: &str) -> String {
    let (parsed, read) = PipelineFile::parse_traced(file(text), InlineJson::Off);
    assert_eq!(read, YamlRead::Yaml);
    format!("{parsed:?}")
}

fn file(text: &str) -> SourceFile {
    SourceFile {
        path: Path::new("p.yaml").to_path_buf(),
        text: text.to_string(),
    }
}

fn same(with_json: &str) {
    for pad in [true, false] {
        for eol in ["\n", "\r\n"] {
            let text = pipeline(with_json, pad, eol);
            assert_eq!(
                ours(&text),
                reference(&text),
                "with: {with_json} (pad {pad})"
            );
        }
    }
}

#[test]
fn numbers_arrive_as_yaml_reads_them() {
    for n in [
        "0",
        "-0",
        "1",
        "-1",
        "0.0",
        "-0.0",
        "1.0",
        "1e5",
        "1E5",
        "1e+5",
        "1E-7",
        "0.1",
        "98.01666666666667",
        "5e-324",
        "2.5e-310",
        "1.7976931348623157e308",
        "1e400",
        "-1e400",
        "9007199254740993",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "123456789012345680000",
        "1.2345678901234567e20",
    ] {
        same(&format!("[{n}, {{\"n\": {n}}}]"));
    }
}

#[test]
fn strings_arrive_as_yaml_reads_them() {
    for s in [
        r#""""#,
        r#""plain""#,
        r#""\" \\ \/ \b \f \n \r \t""#,
        r#""\u0000 \u001f \u00e9 \u2028 \uFFFD""#,
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
        r#""\udc00 x""#,
        "\"é ☃ 😀 \u{a0}\"",
        "\"\u{7f}\"",
        "\"\u{85}\"",
        "\"\u{2028}\"",
        "\"\u{feff}\"",
        "\"\u{fffe}\"",
        r##""# not a comment: {[,]} &a *a !t ? - | > % @ `""##,
        r#""${{ steps.x.output }}""#,
        "\"a\tb\"",
    ] {
        same(&format!("[{s}, {{{s}: 1}}]"));
    }
}

#[test]
fn structure_arrives_as_yaml_reads_it() {
    for v in [
        "{}",
        "[]",
        "[[], {}, [[]], {\"a\": {}}]",
        "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}",
        "[1,2,3]",
        "[true,false,null]",
        "{\"a\" : 1 , \"b\" :2}",
        "[ 1 , 2 ]",
        "{\"a\": 1, \"a\": 2}",
        "{\"a\": 1, \"\\u0061\": 2}",
        "{\"a\": 1,}",
        "[1, 2,]",
        "{\"a\": 1} # a comment",
        "{\"a\": 1}   ",
        "{\"a\": 1} x",
        "[1] [2]",
        "{\"a\":\t1}",
    ] {
        same(v);
    }
    let long_key = format!("{{\"{}\": 1}}", "k".repeat(1100));
    same(&long_key);
    let spaced_key = format!("{{\"k\"{}: 1}}", " ".repeat(1100));
    same(&spaced_key);
    for depth in [10, 31, 32, 33, 58, 60, 61, 62, 63, 64, 70] {
        same(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)));
    }
}

#[test]
fn only_a_steps_with_is_read_as_json() {
    let json = format!("{{\"pad\": \"{}\", \"v\": [1, 2.5]}}", "x".repeat(5000));
    for text in [
        // Inside a block scalar: text, not a value.
        format!(
            "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with:\n      doc: |\n        with: {json}\n"
        ),
        // A key `with` inside a step's `with`.
        format!("name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with:\n      with: {json}\n"),
        // The first key of a step.
        format!("name: p\nsteps:\n  - with: {json}\n    id: a\n    plugin: ./x\n"),
        // Two steps, two values; the second step's value is an alias of nothing here.
        format!(
            "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: {json}\n  - id: b\n    plugin: ./x\n    with: {json}\n"
        ),
        // A duplicate `with` key.
        format!(
            "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: {json}\n    with: {json}\n"
        ),
        // Inside a multi-line quoted string.
        format!("name: \"p\n    with: {json}\"\nsteps: []\n"),
        // A value continuing on the next line (YAML refuses).
        format!("name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: {json}\n      more\n"),
    ] {
        assert_eq!(ours(&text), reference(&text), "{text:.200}");
    }
}

#[test]
fn the_budget_still_covers_inline_values() {
    // serde-saphyr's default budget: 250,000 nodes, 1,000,000 events. Around the node limit.
    for count in [124_990, 124_999, 125_000, 125_010] {
        let json = format!("[{}0]", "0, ".repeat(count - 1));
        let elements = format!("[{json}, {json}]");
        let text = pipeline(&elements, false, "\n");
        assert_eq!(ours(&text), reference(&text), "{count}");
    }
}

/// A line that could hold more nodes than serde-saphyr's budget is never read as JSON: the
/// fast path would build every value before the budget is compared (0.4-0.8 GB for a 16 MiB
/// line of `0,`), where serde-saphyr stops at its 250,000th node (review of i19-yaml14).
#[test]
fn a_line_over_the_node_budget_is_left_to_serde_saphyr() {
    let json = format!("[{}0]", "0,".repeat(300_000));
    let text = pipeline(&json, false, "\n");
    let (parsed, read) = ours_traced(&text);
    assert_eq!(
        read,
        YamlRead::Yaml,
        "the over-budget line is not read as JSON"
    );
    assert_eq!(parsed, reference(&text));
    assert!(
        parsed.contains("Err"),
        "serde-saphyr refuses it: {parsed:.300}"
    );
    // Under the budget, the same shape takes the fast path.
    let json = format!("[{}0]", "0,".repeat(100_000));
    let text = pipeline(&json, false, "\n");
    assert_eq!(ours_traced(&text).1, YamlRead::InlineJson(1));
}

/// JSON values for the generated documents: every scalar kind, numbers of every magnitude,
/// strings and object keys drawn from `strings` and `keys`.
fn values(
    strings: BoxedStrategy<String>,
    keys: BoxedStrategy<String>,
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        strings.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any string (what the fast path refuses included) and YAML-significant characters.
fn json_value() -> impl Strategy<Value = Value> {
    let strings = prop_oneof![any::<String>(), "[a-z$\\\\\"{}#: -]{0,12}"].boxed();
    values(strings, any::<String>().boxed())
}

/// Values the fast path always takes: printable ASCII strings without a backslash (no escape
/// it could refuse), any i64, any finite f64 (serde_json writes it as a text YAML reads alike),
/// short keys.
fn accepted_value() -> impl Strategy<Value = Value> {
    values(
        "[a-zA-Z0-9 $#:,{}\\[\\]\"-]{0,16}".boxed(),
        "[a-z]{1,6}".boxed(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn generated_values_arrive_as_yaml_reads_them(v in json_value()) {
        same(&serde_json::to_string(&v).unwrap_or_default());
    }

    /// The equality above holds on the fast path itself, not only through its fallback (review
    /// of i19-yaml14: many generated texts hold what the fast path refuses).
    #[test]
    fn accepted_values_take_the_fast_path(v in accepted_value()) {
        let json = serde_json::to_string(&v).unwrap_or_default();
        for eol in ["\n", "\r\n"] {
            let text = pipeline(&json, true, eol);
            let (fast, read) = ours_traced(&text);
            prop_assert_eq!(read, YamlRead::InlineJson(1), "with: {}", json);
            prop_assert_eq!(fast, reference(&text));
        }
    }
}

/// Every scalar of `v` in a form both sides write alike: numbers as their double's bits, strings
/// as UTF-8 hex, object members sorted by their keys' UTF-8.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push('z'),
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Number(n) => {
            let _ = write!(out, "n{:016x}", n.as_f64().unwrap_or(f64::NAN).to_bits());
        }
        Value::String(s) => hex(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(e, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                hex(k, out);
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn hex(s: &str, out: &mut String) {
    out.push('s');
    for b in s.bytes() {
        let _ = write!(out, "{b:02x}");
    }
}

const NODE_CANONICAL: &str = r"
const v = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const hex = s => 's' + Buffer.from(s, 'utf8').toString('hex');
const c = x => {
  if (x === null) return 'z';
  if (typeof x === 'boolean') return x ? 't' : 'f';
  if (typeof x === 'number') { const b = Buffer.alloc(8); b.writeDoubleBE(x); return 'n' + b.toString('hex'); }
  if (typeof x === 'string') return hex(x);
  if (Array.isArray(x)) return '[' + x.map(c).join(',') + ']';
  const keys = Object.keys(x).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return '{' + keys.map(k => hex(k) + ':' + c(x[k])).join(',') + '}';
};
process.stdout.write(c(v));
";

/// A large generated document (the bench's shape: records of strings, integers within 2^53,
/// doubles of every magnitude, escapes, non-ASCII) arrives as Node's `JSON.parse` reads it.
#[test]
fn a_large_generated_document_arrives_as_node_reads_it() {
    let mut json = String::from("{\"records\": [");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..10_000u64 {
        if i > 0 {
            json.push_str(", ");
        }
        let bits = next();
        let double = f64::from_bits(bits);
        let double = if double.is_finite() { double } else { 0.5 };
        let int = i64::try_from(next() % (1 << 53)).unwrap_or(0) - (1 << 52);
        let text = [
            "plain",
            "é ☃ 😀",
            "quote \" back \\ slash",
            "line\nbreak\ttab",
            "${{ x }} # y: z",
        ][usize::try_from(i % 5).unwrap_or(0)];
        let _ = write!(
            json,
            "{{\"id\": {i}, \"int\": {int}, \"double\": {}, \"small\": {}, \"neg\": -0.0, \"text\": {}, \"tags\": [true, false, null], \"nested\": {{\"k\": [{{}}, []]}}}}",
            serde_json::to_string(&double).unwrap_or_default(),
            f64::from(u32::try_from(bits >> 40).unwrap_or(0)) / 1000.0,
            serde_json::to_string(text).unwrap_or_default(),
        );
    }
    json.push_str("]}");
    let text = pipeline(&json, false, "\n");
    let (fast, read) = ours_traced(&text);
    assert_eq!(read, YamlRead::InlineJson(1), "the fast path is taken");
    assert_eq!(fast, reference(&text));
    let parsed = PipelineFile::parse(file(&text)).expect("the document parses");
    let mut ours = String::new();
    canonical(&parsed.steps[0].with, &mut ours);

    let Ok(mut node) = Command::new("node")
        .args(["-e", NODE_CANONICAL])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        return; // Node is not installed: serde-saphyr's agreement above still holds.
    };
    if let Some(mut stdin) = node.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(json.as_bytes())
            .expect("node reads the document");
    }
    let out = node.wait_with_output().expect("node runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), ours);
}

/// A JSON value past the fast path's threshold.
fn big_json() -> String {
    format!(
        "{{\"pad\": \"{}\", \"v\": [1, -0, 2.5, \"s\"]}}",
        "x".repeat(5000)
    )
}

/// The review of session 13's fast path (i19-yaml13) found valid files whose values it changed;
/// each such shape, and its neighbours, must parse exactly as serde-saphyr alone parses it.
/// `fast` says whether the fast path must be taken (`None`: either way).
#[test]
fn the_reviews_cases_arrive_as_yaml_reads_them() {
    let json = big_json();
    let step =
        |id: &str, eol: &str| format!("  - id: {id}{eol}    plugin: ./x{eol}    with: {json}{eol}");
    let cases: Vec<(&str, String, Option<bool>)> = vec![
        (
            "LF",
            format!("name: p\nsteps:\n{}", step("a", "\n")),
            Some(true),
        ),
        (
            "CRLF",
            format!("name: p\r\nsteps:\r\n{}", step("a", "\r\n")),
            Some(true),
        ),
        (
            "lone CR",
            format!("name: p\rsteps:\r{}", step("a", "\r")),
            Some(true),
        ),
        (
            "lone CR moving the value to another step",
            format!(
                "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: 1\r  - id: b\r    plugin: ./x\r    with: {json}\n"
            ),
            Some(true),
        ),
        (
            "lone CR out of a block scalar",
            format!(
                "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with:\n      doc: |\n        text\r    with: {json}\n"
            ),
            None,
        ),
        (
            "lone CR inside a block scalar",
            format!(
                "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with:\n      doc: |\n        text\r        with: {json}\n"
            ),
            Some(false),
        ),
        (
            "block scalar",
            format!("name: |\n  with: {json}\nsteps:\n  - id: a\n    plugin: ./x\n"),
            Some(false),
        ),
        (
            "folded block scalar in a with",
            format!(
                "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: >\n      with: {json}\n"
            ),
            Some(false),
        ),
        (
            "comment holding JSON",
            format!(
                "name: p\nsteps:\n  # with: {json}\n  - id: a\n    plugin: ./x\n    with: {json} # c\n"
            ),
            Some(false),
        ),
        (
            "alias of a step",
            format!(
                "name: p\nsteps:\n  - &s\n    id: a\n    plugin: ./x\n    with: {json}\n  - *s\n"
            ),
            Some(false),
        ),
        (
            "merge key",
            format!(
                "name: p\nsteps:\n  - &s\n    id: a\n    plugin: ./x\n    with: {json}\n  - <<: *s\n    id: b\n"
            ),
            Some(false),
        ),
        (
            "merge key overriding the with",
            format!(
                "name: p\nsteps:\n  - &s\n    id: a\n    plugin: ./x\n    with: {json}\n  - <<: *s\n    id: b\n    with: 1\n"
            ),
            Some(false),
        ),
        (
            "inline merge key",
            format!("name: p\nsteps:\n  - <<: {{id: a, plugin: ./x}}\n    with: {json}\n"),
            Some(false),
        ),
        (
            "anchor on the step, no alias",
            format!("name: p\nsteps:\n  - &s\n    id: a\n    plugin: ./x\n    with: {json}\n"),
            Some(false),
        ),
        (
            "flow sequence of steps",
            format!("name: p\nsteps: [ {{\n  id: a, plugin: ./x,\n  with: {json}\n  }} ]\n"),
            None,
        ),
        (
            "flow sequence as the with",
            format!("name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: [{json}, {json}]\n"),
            Some(true),
        ),
        (
            "a with inside a with",
            format!("name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with:\n      with: {json}\n"),
            Some(false),
        ),
        (
            "a nested document",
            format!(
                "name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with:\n      - k:\n          with: {json}\n"
            ),
            Some(false),
        ),
        (
            "a second YAML document",
            format!(
                "name: p\nsteps: []\n---\nname: q\nsteps:\n{}",
                step("a", "\n")
            ),
            Some(false),
        ),
        (
            "a multi-line plain scalar after the value",
            format!("name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: {json}\n      more\n"),
            Some(false),
        ),
        (
            "a key after the value",
            format!("name: p\nsteps:\n  - id: a\n    plugin: ./x\n    with: {json}: 1\n"),
            Some(false),
        ),
        (
            "two steps",
            format!("name: p\nsteps:\n{}{}", step("a", "\n"), step("b", "\n")),
            Some(true),
        ),
    ];
    for (name, text, fast) in cases {
        let (got, read) = ours_traced(&text);
        assert_eq!(got, reference(&text), "{name}");
        if let Some(fast) = fast {
            assert_eq!(read != YamlRead::Yaml, fast, "{name}: {read:?}");
        }
    }
}

/// A JSON number's text: the edges of `i64`, `u64` and `f64`, `-0`, and random ones.
fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-0",
            "0.0",
            "-0.0",
            "-0e0",
            "0e-5",
            "1e5",
            "1E+5",
            "1e-7",
            "-1.5E-3",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "9007199254740993",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "1e400",
            "-1e400",
            "5e-324",
            "2e-324",
            "2.4703282292062328e-324",
            "2.2250738585072011e-308",
            "0.1",
            "98.01666666666667",
            "123456789012345678901234567890",
            "1.00000000000000011102230246251565404236316680908203125",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::to_string(&f).unwrap_or_default()),
        (any::<u64>(), -350i32..350).prop_map(|(m, e)| format!("{m}e{e}")),
        (any::<u32>(), any::<u64>()).prop_map(|(i, f)| format!("-{i}.{f:019}")),
    ]
}

/// A JSON string's text: escapes of every kind, surrogate pairs and lone surrogates.
fn json_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z #:{}\\[\\],&*!|>'%@`-]{0,6}".prop_map(|s| s),
        any::<char>().prop_map(|c| serde_json::to_string(&c.to_string())
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_default()),
        prop::sample::select(vec![
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0000",
            "\\u001F",
            "\\u00e9",
            "\\u2028",
            "\\uFEFF",
            "\\ud83d\\ude00",
            "\\uD83D\\uDE00",
            "\\ud800",
            "\\udc00",
            "é",
            "😀",
            "\u{a0}",
            "\u{85}",
            "\u{7f}",
            "\u{2028}",
            "\u{feff}",
            "${{ x }}",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()))
}

/// A JSON text, written compactly or spaced, up to `depth` deep (plus a deep wrapping).
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        json_number(),
        json_string(),
    ];
    let tree = leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), any::<bool>()).prop_map(|(v, spaced)| {
                let sep = if spaced { ", " } else { "," };
                format!("[{}]", v.join(sep))
            }),
            (
                prop::collection::vec((json_string(), inner), 0..6),
                any::<bool>()
            )
                .prop_map(|(m, spaced)| {
                    let (sep, colon) = if spaced { (", ", ": ") } else { (",", ":") };
                    let members: Vec<String> = m
                        .into_iter()
                        .map(|(k, v)| format!("{k}{colon}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(sep))
                }),
        ]
    });
    (tree, 0usize..70).prop_map(|(t, wrap)| {
        if wrap < 40 {
            t
        } else {
            format!("{}{t}{}", "[".repeat(wrap - 39), "]".repeat(wrap - 39))
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// Both paths give the same `PipelineFile` (or the same errors) for random JSON values.
    #[test]
    fn generated_json_texts_arrive_as_yaml_reads_them(
        v in json_text(),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let text = pipeline(&v, true, eol);
        prop_assert_eq!(ours(&text), reference(&text));
    }
}

/// The fast path is taken for the bench's shape; this fails if `parse` reads it with
/// serde-saphyr (or if the fast path stops applying to ordinary data).
#[test]
fn the_fast_path_is_taken_for_plain_data() {
    let json = format!(
        "{{\"input\": [{}], \"n\": -0, \"big\": 18446744073709551615, \"f\": 1e-7}}",
        (0..500)
            .map(|i| format!("{{\"id\": {i}, \"s\": \"é\\n\\u00e9\", \"x\": {i}.5}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let text = pipeline(&json, false, "\n");
    let (got, read) = ours_traced(&text);
    assert_eq!(read, YamlRead::InlineJson(1));
    assert_eq!(got, reference(&text));
}
