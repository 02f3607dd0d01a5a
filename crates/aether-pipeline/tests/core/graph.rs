use aether_pipeline::{Cycle, Graph, GraphError, Plan, StepNode, Template, check_references};
use serde_json::json;

pub fn node(id: &str, needs: &[&str]) -> StepNode {
    StepNode {
        id: id.to_owned(),
        needs: needs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn cycle(ids: &[&str]) -> GraphError {
    GraphError::Cycle {
        cycle: Cycle(ids.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[test]
fn valid_graph_orders_and_tracks_transitive_needs() {
    let graph = Graph::new(&[
        node("c", &["b"]),
        node("a", &[]),
        node("b", &["a", "a"]),
        node("d", &["a"]),
    ])
    .unwrap();
    assert_eq!(graph.len(), 4);
    assert_eq!(graph.topological_order(), &[1, 2, 0, 3]);
    assert_eq!(graph.needs(2), &[1]);
    assert_eq!(graph.dependents(1), &[2, 3]);
    assert!(graph.depends_on(0, 1), "c needs a through b");
    assert!(graph.depends_on(0, 2));
    assert!(!graph.depends_on(1, 0));
    assert!(!graph.depends_on(0, 0));
    assert!(!graph.depends_on(0, 3));
    assert_eq!(graph.index_of("d"), Some(3));
    assert_eq!(graph.id(3), "d");
}

#[test]
fn every_error_is_reported_at_once() {
    let errors = Graph::new(&[
        node("Read", &[]),
        node("a", &["b"]),
        node("b", &["c"]),
        node("c", &["a"]),
        node("a", &[]),
        node("self", &["self"]),
        node("x", &["slef", "nothing-like-it"]),
        node("p", &["q"]),
        node("q", &["p"]),
    ])
    .unwrap_err();
    assert_eq!(
        errors,
        vec![
            GraphError::InvalidId {
                index: 0,
                id: "Read".into()
            },
            GraphError::DuplicateId {
                id: "a".into(),
                first: 1,
                second: 4
            },
            GraphError::SelfNeed {
                step: "self".into()
            },
            GraphError::UnknownNeed {
                step: "x".into(),
                need: "slef".into(),
                suggestion: Some("self".into()),
            },
            GraphError::UnknownNeed {
                step: "x".into(),
                need: "nothing-like-it".into(),
                suggestion: None,
            },
            cycle(&["a", "b", "c"]),
            cycle(&["p", "q"]),
        ]
    );
}

#[test]
fn cycle_is_named_in_needs_order() {
    let errors = Graph::new(&[
        node("a", &["b"]),
        node("b", &["c"]),
        node("c", &["a"]),
        node("d", &["a"]),
    ])
    .unwrap_err();
    assert_eq!(errors, vec![cycle(&["a", "b", "c"])]);
    assert_eq!(
        errors[0].to_string(),
        "cycle in `needs`: `a` → `b` → `c` → `a` (each step needs the next)"
    );
}

#[test]
fn a_cycle_inside_a_larger_component_is_a_shortest_one() {
    // a → b → a and a → c → d → a share a component; the shortest through `a` is named.
    let errors = Graph::new(&[
        node("a", &["c", "b"]),
        node("b", &["a"]),
        node("c", &["d"]),
        node("d", &["a"]),
    ])
    .unwrap_err();
    assert_eq!(errors, vec![cycle(&["a", "b"])]);
}

#[test]
fn long_chains_do_not_overflow() {
    let steps: Vec<StepNode> = (0..20_000)
        .map(|i| StepNode {
            id: format!("s{i}"),
            needs: if i == 0 {
                vec!["s19999".into()]
            } else {
                vec![format!("s{}", i - 1)]
            },
        })
        .collect();
    let errors = Graph::new(&steps).unwrap_err();
    assert!(matches!(&errors[..], [GraphError::Cycle { cycle }] if cycle.0.len() == 20_000));
}

#[test]
fn references_must_be_transitively_needed() {
    let graph = Graph::new(&[
        node("read", &[]),
        node("mid", &["read"]),
        node("sum", &["mid"]),
        node("side", &[]),
    ])
    .unwrap();
    let template = Template::parse(&json!({
        "a": "${{ steps.read.output.x }}",
        "b": "${{ steps.mid.output }}",
        "c": "${{ steps.side.output }}",
        "d": ["${{ steps.raed.output }}"],
        "e": "${{ steps.sum.output }}",
    }))
    .unwrap();
    assert_eq!(
        check_references(&graph, 2, &template),
        vec![
            GraphError::ReferenceNotNeeded {
                step: "sum".into(),
                referenced: "side".into(),
                expression: "steps.side.output".into(),
                location: "/c".into(),
            },
            GraphError::UnknownReference {
                step: "sum".into(),
                referenced: "raed".into(),
                expression: "steps.raed.output".into(),
                location: "/d/0".into(),
                suggestion: Some("read".into()),
            },
            GraphError::SelfReference {
                step: "sum".into(),
                expression: "steps.sum.output".into(),
                location: "/e".into(),
            },
        ]
    );
    let message = check_references(&graph, 2, &template)[0].to_string();
    assert!(
        message.contains("add `side` to the `needs` of step `sum`"),
        "{message}"
    );
}

#[test]
fn plan_collects_reference_errors_of_every_step() {
    let graph = Graph::new(&[node("a", &[]), node("b", &[]), node("c", &["a"])]).unwrap();
    let templates = vec![
        Template::parse(&json!("${{ steps.b.output }}")).unwrap(),
        Template::parse(&json!(null)).unwrap(),
        Template::parse(&json!("${{ steps.a.output }} ${{ steps.b.output }}")).unwrap(),
    ];
    let errors = Plan::new(graph.clone(), templates).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(
        matches!(&errors[0], GraphError::ReferenceNotNeeded { step, referenced, .. } if step == "a" && referenced == "b")
    );
    assert!(
        matches!(&errors[1], GraphError::ReferenceNotNeeded { step, referenced, .. } if step == "c" && referenced == "b")
    );

    let errors = Plan::new(graph, vec![]).unwrap_err();
    assert_eq!(
        errors,
        vec![GraphError::TemplateCount {
            steps: 3,
            templates: 0
        }]
    );
}
