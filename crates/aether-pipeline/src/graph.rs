//! The step graph: ids, `needs` edges, cycle detection and reference checks.
//!
//! A [`Graph`] exists only if every id is valid and unique, every `needs` names another known
//! step, and there is no cycle: construction reports every such error at once, so a user fixes
//! a pipeline in one pass. A [`Plan`] adds the templates and exists only if every
//! `${{ steps.X... }}` names a step that X's user transitively needs; the scheduler accepts
//! nothing else, so a reference to a step that may not have run yet cannot reach it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::template::{Reference, Template};

/// A step as the graph sees it: its id and the ids it needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepNode {
    /// The step id; valid ids match `[a-z0-9_-]+`.
    pub id: String,
    /// Ids of the steps that must succeed before this one starts.
    pub needs: Vec<String>,
}

/// A cycle of `needs`: each step needs the next, and the last needs the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for id in &self.0 {
            write!(f, "`{id}` → ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "`{first}`"),
            None => Ok(()),
        }
    }
}

/// Shows an optional "did you mean" suffix.
fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Something wrong with the steps' ids, `needs` or references. Static: found before anything
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// An id that does not match `[a-z0-9_-]+`.
    #[error(
        "invalid step id `{id}` (step {index}): ids use lowercase letters, digits, `_` and `-`"
    )]
    InvalidId {
        /// Position of the step in the pipeline (0-based).
        index: usize,
        /// The id as written.
        id: String,
    },
    /// Two steps with the same id.
    #[error("duplicate step id `{id}`: steps {first} and {second} both use it")]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// Position of the first step using it.
        first: usize,
        /// Position of the later step using it.
        second: usize,
    },
    /// A `needs` entry that names no step.
    #[error(
        "step `{step}` needs unknown step `{need}`{}",
        did_you_mean(suggestion)
    )]
    UnknownNeed {
        /// The step whose `needs` is wrong.
        step: String,
        /// The unknown id.
        need: String,
        /// A known id close to `need`, if any.
        suggestion: Option<String>,
    },
    /// A step that lists itself in `needs`.
    #[error("step `{step}` needs itself\n\nhint: remove `{step}` from its `needs`")]
    SelfNeed {
        /// The step.
        step: String,
    },
    /// Steps that need each other in a loop.
    #[error("cycle in `needs`: {cycle} (each step needs the next)")]
    Cycle {
        /// The steps of the cycle.
        cycle: Cycle,
    },
    /// `${{ steps.X... }}` where `X` names no step.
    #[error(
        "step `{step}` references unknown step `{referenced}` in `{expression}` at `with{location}`{}",
        did_you_mean(suggestion)
    )]
    UnknownReference {
        /// The step whose `with` holds the expression.
        step: String,
        /// The unknown id.
        referenced: String,
        /// The expression, canonical form.
        expression: String,
        /// JSON pointer into the step's `with`.
        location: String,
        /// A known id close to `referenced`, if any.
        suggestion: Option<String>,
    },
    /// `${{ steps.X... }}` in step `X` itself.
    #[error(
        "step `{step}` references its own output in `{expression}` at `with{location}`: a step's output exists only after it ran"
    )]
    SelfReference {
        /// The step.
        step: String,
        /// The expression, canonical form.
        expression: String,
        /// JSON pointer into the step's `with`.
        location: String,
    },
    /// `${{ steps.X... }}` where `X` is not among the step's needs, directly or transitively,
    /// so it may not have run when the step starts.
    #[error(
        "step `{step}` references `{expression}` at `with{location}`, but `{referenced}` is not in its `needs`\n\nhint: add `{referenced}` to the `needs` of step `{step}`"
    )]
    ReferenceNotNeeded {
        /// The step whose `with` holds the expression.
        step: String,
        /// The step referenced.
        referenced: String,
        /// The expression, canonical form.
        expression: String,
        /// JSON pointer into the step's `with`.
        location: String,
    },
    /// A [`Plan`] was given a different number of templates than there are steps.
    #[error("{templates} templates given for {steps} steps: every step needs exactly one")]
    TemplateCount {
        /// Number of steps in the graph.
        steps: usize,
        /// Number of templates given.
        templates: usize,
    },
}

/// A validated step graph: valid unique ids, known needs, no cycle.
///
/// Steps keep the indices they had in the input slice.
#[derive(Debug, Clone)]
pub struct Graph {
    ids: Vec<String>,
    index: HashMap<String, usize>,
    /// Direct needs, deduplicated, ascending.
    needs: Vec<Vec<usize>>,
    /// Direct dependents (inverse of `needs`), ascending.
    dependents: Vec<Vec<usize>>,
    /// Topological order, ties broken by lowest index.
    order: Vec<usize>,
    /// `ancestors[i]` is a bit set of every step `i` transitively needs.
    ancestors: Vec<BitSet>,
}

impl Graph {
    /// Validates `steps`, reporting every invalid id, duplicate id, unknown need, self-need
    /// and cycle at once (in that order, each kind in step order).
    pub fn new(steps: &[StepNode]) -> Result<Graph, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut index = HashMap::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            if !is_valid_id(&step.id) {
                errors.push(GraphError::InvalidId {
                    index: i,
                    id: step.id.clone(),
                });
            }
        }
        for (i, step) in steps.iter().enumerate() {
            if let Some(&first) = index.get(step.id.as_str()) {
                errors.push(GraphError::DuplicateId {
                    id: step.id.clone(),
                    first,
                    second: i,
                });
            } else {
                index.insert(step.id.clone(), i);
            }
        }
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let mut needs = vec![Vec::new(); steps.len()];
        for (i, step) in steps.iter().enumerate() {
            let mut direct = BTreeSet::new();
            for need in &step.needs {
                match index.get(need.as_str()) {
                    Some(_) if *need == step.id => {
                        errors.push(GraphError::SelfNeed {
                            step: step.id.clone(),
                        });
                    }
                    Some(&j) => {
                        direct.insert(j);
                    }
                    None => errors.push(GraphError::UnknownNeed {
                        step: step.id.clone(),
                        need: need.clone(),
                        suggestion: suggest(need, &ids),
                    }),
                }
            }
            needs[i] = direct.into_iter().collect();
        }
        for cycle in find_cycles(&needs) {
            errors.push(GraphError::Cycle {
                cycle: Cycle(cycle.into_iter().map(|i| ids[i].clone()).collect()),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut dependents = vec![Vec::new(); steps.len()];
        for (i, direct) in needs.iter().enumerate() {
            for &j in direct {
                dependents[j].push(i);
            }
        }
        let order = topological_order(&needs, &dependents);
        let mut ancestors = vec![BitSet::new(steps.len()); steps.len()];
        for &i in &order {
            let mut set = BitSet::new(steps.len());
            for &j in &needs[i] {
                set.insert(j);
                set.union_with(&ancestors[j]);
            }
            ancestors[i] = set;
        }
        Ok(Graph {
            ids,
            index,
            needs,
            dependents,
            order,
            ancestors,
        })
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the graph has no step.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id of step `index`.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn id(&self, index: usize) -> &str {
        &self.ids[index]
    }

    /// The index of the step with this id, if any.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Direct needs of step `index`, deduplicated, ascending.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn needs(&self, index: usize) -> &[usize] {
        &self.needs[index]
    }

    /// Steps that directly need step `index`, ascending.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn dependents(&self, index: usize) -> &[usize] {
        &self.dependents[index]
    }

    /// Whether `step` needs `other`, directly or transitively. A step never depends on itself.
    ///
    /// # Panics
    /// If either index is out of range.
    pub fn depends_on(&self, step: usize, other: usize) -> bool {
        assert!(other < self.len(), "step index {other} out of range");
        self.ancestors[step].contains(other)
    }

    /// Every step in an order where each comes after all its needs; among steps that could go
    /// next, the lowest index goes first (so an already sorted pipeline keeps its order).
    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }
}

/// A graph with one template per step, whose every reference is to a step the referencing
/// step transitively needs. The only input [`crate::Scheduler`] accepts.
#[derive(Debug, Clone)]
pub struct Plan {
    graph: Graph,
    templates: Vec<Template>,
}

impl Plan {
    /// Pairs `graph` with the steps' templates (by index), reporting every bad reference at
    /// once (see [`check_references`]).
    pub fn new(graph: Graph, templates: Vec<Template>) -> Result<Plan, Vec<GraphError>> {
        if templates.len() != graph.len() {
            return Err(vec![GraphError::TemplateCount {
                steps: graph.len(),
                templates: templates.len(),
            }]);
        }
        let errors: Vec<GraphError> = templates
            .iter()
            .enumerate()
            .flat_map(|(i, template)| check_references(&graph, i, template))
            .collect();
        if errors.is_empty() {
            Ok(Plan { graph, templates })
        } else {
            Err(errors)
        }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The template of step `index`.
    ///
    /// # Panics
    /// If `index >= self.graph().len()`.
    pub fn template(&self, index: usize) -> &Template {
        &self.templates[index]
    }
}

/// Flags every `${{ steps.X... }}` in `template` (the `with` of step `step_index`) where `X`
/// is unknown, is the step itself, or is not among the step's needs, directly or transitively.
///
/// # Panics
/// If `step_index >= graph.len()`.
pub fn check_references(graph: &Graph, step_index: usize, template: &Template) -> Vec<GraphError> {
    let step = graph.id(step_index);
    template
        .references()
        .filter_map(|reference: &Reference| {
            let referenced = reference.step();
            match graph.index_of(referenced) {
                None => Some(GraphError::UnknownReference {
                    step: step.to_owned(),
                    referenced: referenced.to_owned(),
                    expression: reference.expression(),
                    location: reference.location().to_owned(),
                    suggestion: suggest(referenced, &graph.ids),
                }),
                Some(j) if j == step_index => Some(GraphError::SelfReference {
                    step: step.to_owned(),
                    expression: reference.expression(),
                    location: reference.location().to_owned(),
                }),
                Some(j) if !graph.depends_on(step_index, j) => {
                    Some(GraphError::ReferenceNotNeeded {
                        step: step.to_owned(),
                        referenced: referenced.to_owned(),
                        expression: reference.expression(),
                        location: reference.location().to_owned(),
                    })
                }
                Some(_) => None,
            }
        })
        .collect()
}

/// `[a-z0-9_-]+` (SPEC §4).
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The known id closest to `unknown`, if it is close enough to be a plausible typo.
fn suggest(unknown: &str, ids: &[String]) -> Option<String> {
    let threshold = (unknown.chars().count() / 3).max(1);
    ids.iter()
        .map(|id| (edit_distance(unknown, id), id))
        .filter(|(d, _)| *d <= threshold)
        .min_by_key(|(d, _)| *d)
        .map(|(_, id)| id.clone())
}

/// Edit distance over chars, counting an adjacent transposition as one edit (optimal string
/// alignment), so that `raed` is one edit from `read`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// One cycle per strongly connected component with more than one step (Tarjan), each starting
/// at its lowest index and following `needs` edges, components ordered by lowest index.
/// Self-loops are excluded from `needs` beforehand and reported as [`GraphError::SelfNeed`].
fn find_cycles(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let components = strongly_connected_components(needs);
    let mut cycles: Vec<Vec<usize>> = components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| {
            let start = component.iter().copied().min().unwrap_or_default();
            let mut member = vec![false; needs.len()];
            for &i in &component {
                member[i] = true;
            }
            shortest_cycle_through(needs, &member, start)
        })
        .collect();
    cycles.sort();
    cycles
}

/// BFS from `start`'s needs back to `start` within one component: the shortest cycle through
/// `start`, which exists because the component is strongly connected.
fn shortest_cycle_through(needs: &[Vec<usize>], member: &[bool], start: usize) -> Vec<usize> {
    let mut parent = vec![usize::MAX; needs.len()];
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(i) = queue.pop_front() {
        for &j in &needs[i] {
            if !member[j] {
                continue;
            }
            if j == start {
                let mut path = vec![i];
                let mut k = i;
                while k != start {
                    k = parent[k];
                    path.push(k);
                }
                path.reverse();
                return path;
            }
            if parent[j] == usize::MAX {
                parent[j] = i;
                queue.push_back(j);
            }
        }
    }
    vec![start]
}

/// Iterative Tarjan, so that a long chain of steps cannot overflow the stack.
fn strongly_connected_components(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = needs.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != UNVISITED {
            continue;
        }
        // (node, next edge to visit)
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = call.last_mut() {
            if let Some(&w) = needs[v].get(*edge) {
                *edge += 1;
                if index[w] == UNVISITED {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
    }
    components
}

/// Kahn's algorithm with a min-heap: deterministic, lowest ready index first.
fn topological_order(needs: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut remaining: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> = remaining
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(needs.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    order
}

/// A fixed-size bit set over step indices.
#[derive(Debug, Clone)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(len: usize) -> BitSet {
        BitSet(vec![0; len.div_ceil(64)])
    }

    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn union_with(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}
