//! For random DAGs and random failures: every step runs only after all its needs succeeded,
//! and the skipped steps are exactly the transitive dependents of the failed ones.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use aether_pipeline::{Graph, Plan, StepError, StepNode, StepStatus, Template};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::scheduler::{FnRunner, failed, jobs, succeeded};

#[derive(Debug, Clone)]
struct Case {
    /// `needs[i]`: direct needs of step `i`, acyclic by construction.
    needs: Vec<Vec<usize>>,
    fails: Vec<bool>,
    jobs: usize,
}

fn cases() -> impl Strategy<Value = Case> {
    (1usize..24).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::collection::vec(prop::bool::weighted(0.25), n), n),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            proptest::collection::vec(prop::bool::weighted(0.2), n),
            1usize..=4,
        )
            .prop_map(move |(matrix, perm, fails, jobs)| {
                // Rank `r` may only need lower ranks; `perm` spreads ranks over indices so
                // that step order is not a topological order.
                let mut needs = vec![Vec::new(); n];
                for r in 0..n {
                    for q in 0..r {
                        if matrix[r][q] {
                            needs[perm[r]].push(perm[q]);
                        }
                    }
                }
                Case { needs, fails, jobs }
            })
    })
}

/// Transitive closure of `needs`, independent of the crate's own.
fn ancestors(needs: &[Vec<usize>], step: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = needs[step].clone();
    while let Some(s) = stack.pop() {
        if seen.insert(s) {
            stack.extend(&needs[s]);
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn runs_respect_needs_and_skips_are_exactly_dependents_of_failures(case in cases()) {
        let n = case.needs.len();
        let id = |i: usize| format!("s{i}");
        let nodes: Vec<StepNode> = (0..n)
            .map(|i| StepNode { id: id(i), needs: case.needs[i].iter().map(|&j| id(j)).collect() })
            .collect();
        // Each step's input lists its needs' outputs, so data flow is exercised too.
        let templates: Vec<Template> = (0..n)
            .map(|i| {
                let refs: Vec<Value> = case.needs[i]
                    .iter()
                    .map(|&j| json!(format!("${{{{ steps.{}.output }}}}", id(j))))
                    .collect();
                Template::parse(&Value::Array(refs)).unwrap()
            })
            .collect();
        let plan = Plan::new(Graph::new(&nodes).unwrap(), templates).unwrap();

        let clock = AtomicUsize::new(0);
        let runner = FnRunner(|i: usize, input: Value| {
            let start = clock.fetch_add(1, Ordering::SeqCst);
            std::thread::yield_now();
            let expected: Vec<Value> = case.needs[i].iter().map(|&j| json!(j)).collect();
            let end = clock.fetch_add(1, Ordering::SeqCst);
            let extra = (start, end, input == Value::Array(expected));
            if case.fails[i] {
                failed(format!("{} failed", id(i)), extra)
            } else {
                succeeded(json!(i), extra)
            }
        });
        let records = jobs(case.jobs).run(&plan, &runner, &());
        prop_assert_eq!(records.len(), n);

        // Every step that ran did so after each need finished successfully, with their outputs.
        for (s, record) in records.iter().enumerate() {
            if let Some((start, _, input_ok)) = record.extra {
                prop_assert!(input_ok, "step {} got the wrong input", s);
                for &need in &case.needs[s] {
                    prop_assert_eq!(records[need].status, StepStatus::Succeeded);
                    let (_, need_end, _) = records[need].extra.unwrap();
                    prop_assert!(need_end < start, "step {} started before need {} ended", s, need);
                }
            }
        }

        // Statuses against an independent model.
        let failed: BTreeSet<usize> = (0..n).filter(|&s| records[s].status == StepStatus::Failed).collect();
        let skipped: BTreeSet<usize> = (0..n).filter(|&s| records[s].status == StepStatus::Skipped).collect();
        let mut dependents_of_failed = BTreeSet::new();
        for (s, record) in records.iter().enumerate() {
            let failed_ancestors: BTreeSet<usize> = ancestors(&case.needs, s).intersection(&failed).copied().collect();
            if !failed_ancestors.is_empty() {
                dependents_of_failed.insert(s);
                let names: Vec<String> = failed_ancestors.iter().map(|&f| id(f)).collect();
                prop_assert_eq!(&record.error, &Some(StepError::Skipped { failed: names }));
            }
        }
        prop_assert_eq!(&skipped, &dependents_of_failed);
        for (s, record) in records.iter().enumerate() {
            let ran = record.extra.is_some();
            prop_assert_eq!(ran, !skipped.contains(&s), "step {} ran: {}", s, ran);
            if ran {
                let expected = if case.fails[s] { StepStatus::Failed } else { StepStatus::Succeeded };
                prop_assert_eq!(record.status, expected);
            }
        }
    }
}
