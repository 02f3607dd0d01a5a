//! `interactions.mmd` and `interactions.svg`: who passed what to whom, what each step reached
//! outside the pipeline, and which clients reached the steps' listeners.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::{RunReport, escape_untrusted, truncate, url_host, url_host_port, xml};

/// Violation nodes drawn per step before the rest fold into one `… N more` node.
const MAX_VIOLATIONS_PER_STEP: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Step,
    Host,
    /// A client that sent a request to a step's listener.
    Client,
    Env,
    Violation,
    More,
}

struct Node {
    kind: Kind,
    /// Raw (unescaped) text; each renderer escapes for its own syntax.
    label: String,
    /// Second line (a step's plugin).
    sub: String,
}

struct Edge {
    from: usize,
    to: usize,
    label: String,
    /// Data or file flow between steps: these decide the layers.
    flow: bool,
    violation: bool,
}

fn edge(from: usize, to: usize, label: &str, flow: bool, violation: bool) -> Edge {
    let label = label.to_string();
    Edge {
        from,
        to,
        label,
        flow,
        violation,
    }
}

/// The interaction graph: steps first (index = position in the pipeline), then external nodes.
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    steps: usize,
}

/// Strips a leading `./` so `./out.txt` and `out.txt` are the same file.
fn file_key(target: &str) -> &str {
    target.strip_prefix("./").unwrap_or(target)
}

/// Builds the graph from the run: data edges from `inputs_from`, file edges from an allowed or
/// virtualized write matched with another step's allowed read of the same target, host and env
/// nodes from allowed `network`/`env` events (and `secrets` ones: a secret sent to a host),
/// red edges to a node per violated target.
fn build(run: &RunReport) -> Graph {
    let mut g = Graph {
        nodes: Vec::new(),
        edges: Vec::new(),
        steps: run.steps.len(),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, s) in run.steps.iter().enumerate() {
        index.entry(format!("s:{}", s.id)).or_insert(i);
        g.nodes.push(Node {
            kind: Kind::Step,
            label: s.id.clone(),
            sub: s.plugin.clone(),
        });
    }
    let step_of = |index: &HashMap<String, usize>, id: &str| index.get(&format!("s:{id}")).copied();
    // Parallel edges (data and a file between the same steps, two decisions on one target)
    // merge into one edge with both labels, so no label hides under another.
    let mut seen: HashMap<(usize, usize, bool), usize> = HashMap::new();
    let mut add_edge = |g: &mut Graph, e: Edge| match seen.get(&(e.from, e.to, e.violation)) {
        Some(&k) => {
            let edge = &mut g.edges[k];
            if !edge.label.split(", ").any(|l| l == e.label) {
                edge.label = format!("{}, {}", edge.label, e.label);
            }
            edge.flow |= e.flow;
        }
        None => {
            seen.insert((e.from, e.to, e.violation), g.edges.len());
            g.edges.push(e);
        }
    };
    for (i, s) in run.steps.iter().enumerate() {
        for src in &s.inputs_from {
            if let Some(from) = step_of(&index, src) {
                add_edge(&mut g, edge(from, i, "data", true, false));
            }
        }
    }
    let writes: Vec<(usize, &str)> = run
        .events
        .iter()
        .filter(|e| {
            e.capability == "filesystem.write"
                && matches!(e.decision.as_str(), "allowed" | "virtualized")
        })
        .filter_map(|e| Some((step_of(&index, &e.step)?, file_key(&e.target))))
        .collect();
    for e in run.events.iter() {
        let Some(step) = step_of(&index, &e.step) else {
            continue;
        };
        let mut external = |g: &mut Graph, key: String, kind: Kind, label: String| {
            *index.entry(key).or_insert_with(|| {
                g.nodes.push(Node {
                    kind,
                    label,
                    sub: String::new(),
                });
                g.nodes.len() - 1
            })
        };
        match (e.capability.as_str(), e.decision.as_str()) {
            ("filesystem.read", "allowed") => {
                let target = file_key(&e.target);
                for &(writer, _) in writes.iter().filter(|(w, t)| *t == target && *w != step) {
                    let name = target.rsplit('/').find(|s| !s.is_empty()).unwrap_or(target);
                    add_edge(&mut g, edge(writer, step, name, true, false));
                }
            }
            ("network", "allowed") if e.peer.is_some() => {
                // A request a listener received: an inbound edge, from the client's address.
                let peer = e.peer.as_deref().unwrap_or_default();
                let (client, _) = url_host_port(peer);
                let from = external(&mut g, format!("c:{client}"), Kind::Client, client);
                add_edge(&mut g, edge(from, step, "inbound", false, false));
            }
            // Binding a listener (target `ip:port`, no scheme): its clients draw the edges.
            ("network", "allowed") if !e.target.contains("://") => {}
            ("network", "allowed") => {
                let host = url_host(&e.target);
                let to = external(&mut g, format!("h:{host}"), Kind::Host, host);
                add_edge(&mut g, edge(step, to, "fetch", false, false));
            }
            // A secret substituted on a hop (target `NAME -> host[:port]`, never the value):
            // an edge to the same host node as the fetch.
            ("secrets", "allowed") if e.target.contains(" -> ") => {
                let (name, to) = e.target.split_once(" -> ").unwrap_or_default();
                let host = url_host(to);
                let to = external(&mut g, format!("h:{host}"), Kind::Host, host);
                add_edge(
                    &mut g,
                    edge(step, to, &format!("secret {name}"), false, false),
                );
            }
            ("env", "allowed") => {
                let to = external(
                    &mut g,
                    format!("e:{}", e.target),
                    Kind::Env,
                    e.target.clone(),
                );
                add_edge(&mut g, edge(step, to, "env", false, false));
            }
            _ => {}
        }
    }
    // Violations, capped per step.
    let mut per_step: HashMap<usize, (HashSet<String>, HashSet<String>)> = HashMap::new();
    for e in run.events.iter().filter(|e| e.is_violation()) {
        let Some(step) = step_of(&index, &e.step) else {
            continue;
        };
        let key = format!("v:{}\u{0}{}", e.capability, e.target);
        let (shown, hidden) = per_step.entry(step).or_default();
        if !shown.contains(&key) && shown.len() >= MAX_VIOLATIONS_PER_STEP {
            hidden.insert(key);
            continue;
        }
        shown.insert(key.clone());
        let label = format!("{}: {}", e.capability, e.target);
        let to = *index.entry(key).or_insert_with(|| {
            g.nodes.push(Node {
                kind: Kind::Violation,
                label,
                sub: String::new(),
            });
            g.nodes.len() - 1
        });
        add_edge(&mut g, edge(step, to, &e.decision, false, true));
    }
    let mut folded: Vec<(usize, usize)> = per_step
        .iter()
        .filter(|(_, (_, hidden))| !hidden.is_empty())
        .map(|(&step, (_, hidden))| (step, hidden.len()))
        .collect();
    folded.sort_unstable();
    for (step, n) in folded {
        g.nodes.push(Node {
            kind: Kind::More,
            label: format!("… {n} more violations"),
            sub: String::new(),
        });
        let to = g.nodes.len() - 1;
        add_edge(&mut g, edge(step, to, "more", false, true));
    }
    g
}

/// A Mermaid id: only `[A-Za-z0-9_]`, unique by its index, never a keyword (`end`).
fn mmd_id(i: usize, node: &Node) -> String {
    let prefix = match node.kind {
        Kind::Step => 's',
        Kind::Host => 'h',
        Kind::Client => 'c',
        Kind::Env => 'e',
        Kind::Violation => 'v',
        Kind::More => 'm',
    };
    let tail: String = node
        .label
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{prefix}{i}_{tail}")
}

/// Text for a quoted Mermaid label: invisible characters made visible, and everything Mermaid
/// could read as syntax or markup written as an entity code.
fn mmd_label(text: &str) -> String {
    let mut out = String::new();
    for c in escape_untrusted(&truncate(text, 60)).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' | '&' | '[' | ']' | '{' | '}' | '(' | ')' | '|' | '`' | ';' | '*' | '_' | '~' => {
                let _ = write!(out, "#{};", c as u32);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `interactions.mmd`: a Mermaid `flowchart LR` of the run. Steps are boxes, hosts stadiums,
/// env variables hexagons; violations are red nodes and red links (at most 8 per step, then a
/// `… N more` node). Ids are sanitized to `[A-Za-z0-9_]` and labels are quoted and
/// entity-escaped, so no plugin-controlled text can inject Mermaid syntax or HTML.
pub fn interactions_mmd(run: &RunReport) -> String {
    let g = build(run);
    let ids: Vec<String> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| mmd_id(i, n))
        .collect();
    let mut out = String::from("flowchart LR\n");
    for (id, n) in ids.iter().zip(&g.nodes) {
        let label = mmd_label(&n.label);
        let _ = match n.kind {
            Kind::Step => writeln!(
                out,
                "  {id}[\"{label}<br/><small>{}</small>\"]",
                mmd_label(&n.sub)
            ),
            Kind::Host => writeln!(out, "  {id}([\"{label}\"])"),
            Kind::Client => writeln!(out, "  {id}[/\"{label}\"/]"),
            Kind::Env => writeln!(out, "  {id}{{{{\"{label}\"}}}}"),
            Kind::Violation | Kind::More => writeln!(out, "  {id}[\"{label}\"]:::violation"),
        };
    }
    let mut red = Vec::new();
    for (k, e) in g.edges.iter().enumerate() {
        let arrow = if e.flow || e.violation { "-->" } else { "-.->" };
        let _ = writeln!(
            out,
            "  {} {arrow}|\"{}\"| {}",
            ids[e.from],
            mmd_label(&e.label),
            ids[e.to]
        );
        if e.violation {
            red.push(k.to_string());
        }
    }
    out.push_str("  classDef violation fill:#fdd,stroke:#c00,color:#900\n");
    if !red.is_empty() {
        let _ = writeln!(out, "  linkStyle {} stroke:#c00,color:#c00", red.join(","));
    }
    out
}

const COL_W: f64 = 240.0;
const NODE_W: f64 = 180.0;
const NODE_H: f64 = 32.0;
const ROW_GAP: f64 = 14.0;
const LEFT: f64 = 20.0;
const TOP: f64 = 70.0;

/// Each step's column: the longest path to it over data and file edges (Kahn's order; steps in
/// a file cycle go one column right of their placed predecessors). External nodes take the
/// column after the last.
fn layers(g: &Graph) -> Vec<usize> {
    let mut layer = vec![0usize; g.nodes.len()];
    let flow: Vec<&Edge> = g
        .edges
        .iter()
        .filter(|e| e.flow && e.from != e.to)
        .collect();
    let mut indeg = vec![0usize; g.steps];
    for e in &flow {
        indeg[e.to] += 1;
    }
    let mut queue: Vec<usize> = (0..g.steps).filter(|&i| indeg[i] == 0).collect();
    let mut done = vec![false; g.steps];
    let mut head = 0;
    loop {
        while head < queue.len() {
            let u = queue[head];
            head += 1;
            done[u] = true;
            for e in flow.iter().filter(|e| e.from == u) {
                layer[e.to] = layer[e.to].max(layer[u] + 1);
                indeg[e.to] -= 1;
                if indeg[e.to] == 0 {
                    queue.push(e.to);
                }
            }
        }
        // A cycle: release its first step in pipeline order and go on.
        match (0..g.steps).find(|&i| !done[i] && !queue.contains(&i)) {
            Some(i) => {
                indeg[i] = 0;
                queue.push(i);
            }
            None => break,
        }
    }
    let last = layer.iter().take(g.steps).max().map_or(0, |m| m + 1);
    for l in layer.iter_mut().skip(g.steps) {
        *l = last;
    }
    layer
}

/// `interactions.svg`: the same graph as [`interactions_mmd`], laid out without a browser:
/// steps in columns by longest data/file path, external nodes (hosts, clients, env, violated targets)
/// in the last column, straight edges forward and orthogonal edges routed above the diagram
/// backward, arrowheads, violations in red. Labels truncated and escaped, full text in
/// `<title>`. No script, no `foreignObject`, no external reference.
pub fn interactions_svg(run: &RunReport) -> String {
    let g = build(run);
    let layer = layers(&g);
    let cols = layer.iter().max().map_or(1, |m| m + 1);
    let mut rows_in = vec![0usize; cols];
    let mut pos = Vec::with_capacity(g.nodes.len());
    for &l in &layer {
        pos.push((
            LEFT + l as f64 * COL_W,
            TOP + rows_in[l] as f64 * (NODE_H + ROW_GAP),
        ));
        rows_in[l] += 1;
    }
    let max_rows = rows_in.iter().copied().max().unwrap_or(0).max(1);
    let width = LEFT * 2.0 + (cols - 1) as f64 * COL_W + NODE_W;
    let height = TOP + max_rows as f64 * (NODE_H + ROW_GAP) + 10.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11"><title>aether interactions: {}</title><rect width="100%" height="100%" fill="white"/><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker><marker id="arrow-red" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#c00"/></marker></defs><text x="{LEFT}" y="20" font-size="14" font-weight="bold">Interactions: {} steps, {} edges</text><text x="{LEFT}" y="36" font-size="10" fill="#555">data/file flow solid grey, hosts, clients and env dashed, violations red</text>"##,
        xml(&run.pipeline),
        g.steps,
        g.edges.len(),
    );
    let mut labels = String::new();
    for (k, e) in g.edges.iter().enumerate() {
        let (fx, fy) = pos[e.from];
        let (tx, ty) = pos[e.to];
        let (x1, y1, x2, y2) = (fx + NODE_W, fy + NODE_H / 2.0, tx, ty + NODE_H / 2.0);
        let (colour, marker) = if e.violation {
            ("#c00", "arrow-red")
        } else {
            ("#555", "arrow")
        };
        let dash = if e.flow || e.violation {
            ""
        } else {
            r#" stroke-dasharray="4 3""#
        };
        let (d, lx, ly) = if layer[e.to] > layer[e.from] {
            (
                format!("M{x1:.1},{y1:.1}L{x2:.1},{y2:.1}"),
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 3.0,
            )
        } else {
            // Backward or same column: out to the right, up to a lane above the nodes, across,
            // and down into the target from its left.
            let lane = TOP - 12.0 - (k % 6) as f64 * 3.0;
            (
                format!(
                    "M{x1:.1},{y1:.1}H{:.1}V{lane:.1}H{:.1}V{y2:.1}H{x2:.1}",
                    x1 + 10.0,
                    x2 - 10.0
                ),
                (x1 + x2) / 2.0,
                lane - 3.0,
            )
        };
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.2"{dash} marker-end="url(#{marker})"/>"#
        );
        let _ = write!(
            labels,
            r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" font-size="9" fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"#,
            xml(&truncate(&e.label, 24))
        );
    }
    for (n, &(x, y)) in g.nodes.iter().zip(&pos) {
        let (fill, stroke, rx) = match n.kind {
            Kind::Step => ("#eef3fb", "#36c", 4.0),
            Kind::Host => ("#eefbf0", "#393", NODE_H / 2.0),
            Kind::Client => ("#f3eefb", "#639", NODE_H / 2.0),
            Kind::Env => ("#fbf7e8", "#a80", 10.0),
            Kind::Violation | Kind::More => ("#fdecec", "#c00", 2.0),
        };
        let _ = write!(
            svg,
            r#"<g><title>{}{}</title><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="{rx}" fill="{fill}" stroke="{stroke}"/>"#,
            xml(&n.label),
            if n.sub.is_empty() {
                String::new()
            } else {
                format!(" ({})", xml(&n.sub))
            },
        );
        let (ty, sub) = if n.sub.is_empty() {
            (y + NODE_H / 2.0 + 4.0, String::new())
        } else {
            (
                y + 13.0,
                format!(
                    r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#555">{}</text>"##,
                    x + 6.0,
                    y + 26.0,
                    xml(&truncate(&n.sub, 32))
                ),
            )
        };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{ty:.1}">{}</text>{sub}</g>"#,
            x + 6.0,
            xml(&truncate(&n.label, 28))
        );
    }
    svg.push_str(&labels);
    svg.push_str("</svg>\n");
    svg
}
