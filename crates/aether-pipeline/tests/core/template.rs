use aether_pipeline::{Found, JsonText, RenderError, Template, TemplateError, json};
use serde_json::{Value, json};

/// Renders `with` against `outputs` (step id → output).
fn render(with: Value, outputs: &Value) -> Result<Value, RenderError> {
    let outputs: Vec<(String, JsonText)> = outputs
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, v)| (id.clone(), json::from_value(v)))
        .collect();
    let text = Template::parse(&with).unwrap().render(|id| {
        outputs
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, v)| v.as_ref())
    })?;
    Ok(serde_json::from_str(text.get()).unwrap())
}

fn outputs() -> Value {
    json!({
        "read": {
            "lines": ["a", "b", "c"],
            "file": "app.log",
            "count": 3,
            "meta": {"ok": true, "0": "zero", "nested": [[1, 2], {"k": null}]},
            "with-dash_and_underscore": "d"
        },
        "other": "plain"
    })
}

#[test]
fn rendering_table() {
    let cases: Vec<(Value, Value)> = vec![
        // exact: the JSON value itself, whatever its type
        (
            json!("${{ steps.read.output.lines }}"),
            json!(["a", "b", "c"]),
        ),
        (json!("${{steps.read.output.count}}"), json!(3)),
        (json!("${{   steps.read.output.meta.ok\t}}"), json!(true)),
        (
            json!("${{ steps.read.output.meta.nested }}"),
            json!([[1, 2], {"k": null}]),
        ),
        (json!("${{ steps.other.output }}"), json!("plain")),
        // indexing arrays, numeric keys on objects, nested
        (json!("${{ steps.read.output.lines.1 }}"), json!("b")),
        (json!("${{ steps.read.output.meta.0 }}"), json!("zero")),
        (json!("${{ steps.read.output.meta.nested.0.1 }}"), json!(2)),
        (
            json!("${{ steps.read.output.meta.nested.1.k }}"),
            Value::Null,
        ),
        (
            json!("${{ steps.read.output.with-dash_and_underscore }}"),
            json!("d"),
        ),
        // embedded: strings as is, anything else as compact JSON
        (
            json!("Digest of ${{ steps.read.output.file }}"),
            json!("Digest of app.log"),
        ),
        (json!("n=${{ steps.read.output.count }}!"), json!("n=3!")),
        (
            json!("${{ steps.read.output.lines }} "),
            json!(r#"["a","b","c"] "#),
        ),
        (
            json!("${{ steps.read.output.meta.nested.1 }}/${{ steps.other.output }}"),
            json!(r#"{"k":null}/plain"#),
        ),
        (json!(" ${{ steps.read.output.file }}"), json!(" app.log")),
        // escapes: exact and embedded
        (
            json!("$${{ steps.read.output.file }}"),
            json!("${{ steps.read.output.file }}"),
        ),
        (
            json!("cost: $${{ not an expression"),
            json!("cost: ${{ not an expression"),
        ),
        (
            json!("$${{ x }} and ${{ steps.read.output.file }}"),
            json!("${{ x }} and app.log"),
        ),
        (json!("$$${{ x }}"), json!("$${{ x }}")),
        // no expression: unchanged
        (json!("plain $ {{ text }}"), json!("plain $ {{ text }}")),
        (
            json!({"a": [1, {"b": null}], "c": 2.5}),
            json!({"a": [1, {"b": null}], "c": 2.5}),
        ),
        // nested containers
        (
            json!({"a": [1, "${{ steps.read.output.count }}", {"b": "x${{ steps.read.output.lines.2 }}"}], "c": true}),
            json!({"a": [1, 3, {"b": "xc"}], "c": true}),
        ),
        // keys are verbatim
        (
            json!({"${{ steps.read.output.file }}": 1}),
            json!({"${{ steps.read.output.file }}": 1}),
        ),
    ];
    for (with, expected) in cases {
        assert_eq!(
            render(with.clone(), &outputs()).unwrap(),
            expected,
            "rendering {with}"
        );
    }
}

#[test]
fn literal_templates_have_no_references() {
    let template = Template::parse(&json!({"a": ["$${{ x }}", 1]})).unwrap();
    assert!(template.is_literal());
    assert_eq!(template.references().count(), 0);
    assert_eq!(
        template.render(|_| None).unwrap().get(),
        r#"{"a":["${{ x }}",1]}"#
    );
}

#[test]
fn references_carry_step_path_and_location() {
    let template = Template::parse(&json!({
        "lines": "${{ steps.read.output.lines }}",
        "list": [0, "x ${{ steps.other.output.a.0 }} ${{ steps.read.output }}"],
        "a/b~c": "${{ steps.read.output.file }}",
    }))
    .unwrap();
    let refs: Vec<(String, Vec<String>, String)> = template
        .references()
        .map(|r| {
            (
                r.step().to_owned(),
                r.path().to_vec(),
                r.location().to_owned(),
            )
        })
        .collect();
    // serde_json's map is ordered by key.
    assert_eq!(
        refs,
        vec![
            ("read".into(), vec!["file".into()], "/a~1b~0c".into()),
            ("read".into(), vec!["lines".into()], "/lines".into()),
            (
                "other".into(),
                vec!["a".into(), "0".into()],
                "/list/1".into()
            ),
            ("read".into(), vec![], "/list/1".into()),
        ]
    );
    let root = Template::parse(&json!("${{ steps.read.output.x }}")).unwrap();
    let r = root.references().next().unwrap();
    assert_eq!(r.location(), "");
    assert_eq!(r.expression(), "steps.read.output.x");
}

#[test]
fn bad_expressions_table() {
    let cases: Vec<(&str, TemplateError)> = vec![
        (
            "${{ steps.read.outptu }}",
            TemplateError::ExpectedOutput {
                expression: "${{ steps.read.outptu }}".into(),
                location: "/v".into(),
                step: "read".into(),
                found: "outptu".into(),
            },
        ),
        (
            "${{ steps.read }}",
            TemplateError::ExpectedOutput {
                expression: "${{ steps.read }}".into(),
                location: "/v".into(),
                step: "read".into(),
                found: "".into(),
            },
        ),
        (
            "x ${{ env.X }}",
            TemplateError::UnknownContext {
                expression: "${{ env.X }}".into(),
                location: "/v".into(),
                context: "env".into(),
            },
        ),
        (
            "${{ steps.read.output.lines",
            TemplateError::Unterminated {
                expression: "${{ steps.read.output.lines".into(),
                location: "/v".into(),
            },
        ),
        (
            "${{ steps.read.output..x }}",
            TemplateError::InvalidSegment {
                expression: "${{ steps.read.output..x }}".into(),
                location: "/v".into(),
                segment: "".into(),
            },
        ),
        (
            "${{ steps.read.output.a b }}",
            TemplateError::InvalidSegment {
                expression: "${{ steps.read.output.a b }}".into(),
                location: "/v".into(),
                segment: "a b".into(),
            },
        ),
        (
            "${{ steps.read.output.lines[0] }}",
            TemplateError::InvalidSegment {
                expression: "${{ steps.read.output.lines[0] }}".into(),
                location: "/v".into(),
                segment: "lines[0]".into(),
            },
        ),
        (
            "${{ }}",
            TemplateError::InvalidSegment {
                expression: "${{ }}".into(),
                location: "/v".into(),
                segment: "".into(),
            },
        ),
        (
            "${{ steps.re ad.output }}",
            TemplateError::InvalidSegment {
                expression: "${{ steps.re ad.output }}".into(),
                location: "/v".into(),
                segment: "re ad".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        let error = Template::parse(&json!({ "v": text })).unwrap_err();
        assert_eq!(error, expected, "parsing {text:?}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn parse_all_reports_every_error_in_document_order() {
    let errors = Template::parse_all(&json!({
        "a": "${{ env.A }} and ${{ steps.x.outptu }}",
        "b": ["${{ steps.ok.output }}", "${{ steps.y.output"],
    }))
    .unwrap_err();
    assert!(
        matches!(&errors[0], TemplateError::UnknownContext { context, location, .. } if context == "env" && location == "/a")
    );
    assert!(matches!(&errors[1], TemplateError::ExpectedOutput { found, .. } if found == "outptu"));
    assert!(
        matches!(&errors[2], TemplateError::Unterminated { location, .. } if location == "/b/1")
    );
    assert_eq!(errors.len(), 3);
}

#[test]
fn missing_paths_say_what_exists() {
    let missing = |with: &str| match render(json!({ "w": with }), &outputs()).unwrap_err() {
        RenderError::MissingPath {
            step,
            expression,
            location,
            parent,
            found,
        } => {
            assert_eq!(step, "read");
            assert_eq!(location, "/w");
            assert_eq!(format!("${{{{ {expression} }}}}"), with);
            (parent, *found)
        }
        other => panic!("expected MissingPath, got {other:?}"),
    };
    assert_eq!(
        missing("${{ steps.read.output.lnes }}"),
        (
            "output".to_owned(),
            Found::Object {
                missing: "lnes".into(),
                keys: vec![
                    "count".into(),
                    "file".into(),
                    "lines".into(),
                    "meta".into(),
                    "with-dash_and_underscore".into()
                ],
            }
        )
    );
    assert_eq!(
        missing("${{ steps.read.output.lines.3 }}"),
        (
            "output.lines".to_owned(),
            Found::Array {
                missing: "3".into(),
                len: 3
            }
        )
    );
    assert_eq!(
        missing("${{ steps.read.output.lines.first }}"),
        (
            "output.lines".to_owned(),
            Found::Array {
                missing: "first".into(),
                len: 3
            }
        )
    );
    assert_eq!(
        missing("${{ steps.read.output.lines.01 }}"),
        (
            "output.lines".to_owned(),
            Found::Array {
                missing: "01".into(),
                len: 3
            }
        )
    );
    assert_eq!(
        missing("${{ steps.read.output.count.x }}"),
        (
            "output.count".to_owned(),
            Found::Scalar {
                missing: "x".into(),
                kind: "number"
            }
        )
    );
    assert_eq!(
        missing("${{ steps.read.output.meta.nested.1.k.z }}"),
        (
            "output.meta.nested.1.k".to_owned(),
            Found::Scalar {
                missing: "z".into(),
                kind: "null"
            }
        )
    );
}

#[test]
fn missing_step_output_is_an_error() {
    let error = render(json!("${{ steps.nope.output }}"), &outputs()).unwrap_err();
    assert_eq!(
        error,
        RenderError::NoOutput {
            step: "nope".into(),
            expression: "steps.nope.output".into(),
            location: "".into(),
        }
    );
}

#[test]
fn messages_quote_values_and_list_keys() {
    let error = render(json!({"title": "${{ steps.read.output.fil }}"}), &outputs()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`steps.read.output.fil`"), "{message}");
    assert!(message.contains("`with/title`"), "{message}");
    assert!(message.contains("`file`"), "{message}");
    let error = Template::parse(&json!("${{ steps.read.outptu }}")).unwrap_err();
    assert!(
        error.to_string().contains("`${{ steps.read.outptu }}`"),
        "{error}"
    );
}
