//! `${{ steps.ID.output[.field...] }}` templates over a step's `with` value.
//!
//! A [`Template`] is parsed once, at validation time, from the step's `with` JSON value. Parsing
//! finds every expression, rejects every malformed one, and records where it sits (a JSON
//! pointer into `with`) so that later errors can point at it. Rendering substitutes the outputs
//! of earlier steps and never re-parses text.
//!
//! Rules (SPEC §4):
//! - a string that is exactly one expression (whitespace allowed inside the braces, none
//!   outside) is replaced by the referenced JSON value, whatever its type;
//! - inside a longer string the value is interpolated as text: a string as is, anything else as
//!   its compact JSON;
//! - `.N` indexes an array; on an object every segment, numeric-looking or not, is a key;
//! - `$${{` is a literal `${{`, in exact and embedded positions alike;
//! - anything else starting with `${{` that is not a valid expression is an error naming it.
//!
//! Object keys are taken verbatim: expressions are only recognized in string *values*.
//!
//! This module never evaluates anything but field access: there are no functions, operators
//! or contexts other than `steps`, so a template cannot reach beyond the outputs it is given.

use std::fmt;

use serde_json::Value;

use crate::json::{self, JsonText, RawValue, Shape};

/// The opening of an expression.
const OPEN: &str = "${{";
/// The escaped form of [`OPEN`]: renders as a literal `${{`.
const ESCAPED_OPEN: &str = "$${{";
/// The closing of an expression.
const CLOSE: &str = "}}";

/// A parsed `with` value: literal parts plus the expressions to substitute.
///
/// Invariant: every [`Reference`] in `references` is well formed, and every `Node::Expr` /
/// `Part::Expr` index points into `references`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    root: Node,
    references: Vec<Reference>,
}

/// One part of the `with` value, as parsed.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A subtree without any expression, as the JSON text it renders to: serialized once when
    /// the template is parsed, never walked or copied as values again (a step's `with` may be
    /// a large inline data set; issue 19).
    Literal(String),
    /// A string that is exactly one expression: replaced by the referenced value.
    Expr(usize),
    /// A string mixing text and expressions: rendered as a string.
    Text(Vec<Part>),
    /// An array with at least one expression somewhere inside.
    Array(Vec<Node>),
    /// An object with at least one expression somewhere inside.
    Object(Vec<(String, Node)>),
}

/// A piece of a [`Node::Text`].
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Literal text (escapes already removed).
    Text(String),
    /// An interpolated expression (index into `references`).
    Expr(usize),
}

/// One `${{ steps.ID.output[.field...] }}` found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    step: String,
    path: Vec<String>,
    location: String,
}

impl Reference {
    /// The referenced step id (`ID` in `steps.ID.output`), as written; whether it names a
    /// known step is checked by [`crate::graph::check_references`].
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The field segments after `output`, as written (empty: the whole output).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// Where the expression sits in `with`, as a JSON pointer (`""` for `with` itself,
    /// `/lines/0` for the first element of `with.lines`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The expression in canonical form, `steps.ID.output[.field...]`.
    pub fn expression(&self) -> String {
        let mut s = format!("steps.{}.output", self.step);
        for segment in &self.path {
            s.push('.');
            s.push_str(segment);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression())
    }
}

/// Shows a JSON pointer into `with` the way messages spell it: `with/lines/0`.
fn display_location(location: &str) -> String {
    format!("with{location}")
}

/// Why an expression could not be parsed. Every variant carries the expression as written
/// (`expression`, braces included) and where it sits (`location`, a JSON pointer into `with`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${{` without a matching `}}`.
    #[error(
        "unterminated expression `{expression}` at `{}`: missing `}}}}`\n\nhint: write `$${{{{` for a literal `${{{{`",
        display_location(location)
    )]
    Unterminated {
        /// The text from `${{` to the end of the string.
        expression: String,
        /// JSON pointer into `with`.
        location: String,
    },
    /// The expression does not start with `steps.` (for example `${{ env.X }}`).
    #[error(
        "unsupported expression `{expression}` at `{}`: `{context}` is not available, only `steps.ID.output[.field...]` is\n\nhint: write `$${{{{` for a literal `${{{{`",
        display_location(location)
    )]
    UnknownContext {
        /// The expression as written, braces included.
        expression: String,
        /// JSON pointer into `with`.
        location: String,
        /// The first segment that was found instead of `steps`.
        context: String,
    },
    /// `steps.ID` is not followed by `.output` (for example `${{ steps.read.outptu }}`).
    #[error(
        "invalid expression `{expression}` at `{}`: expected `output` after `steps.{step}`, found {}",
        display_location(location),
        if found.is_empty() { "nothing".to_owned() } else { format!("`{found}`") }
    )]
    ExpectedOutput {
        /// The expression as written, braces included.
        expression: String,
        /// JSON pointer into `with`.
        location: String,
        /// The step id that was referenced.
        step: String,
        /// What was found instead of `output` (empty when nothing followed).
        found: String,
    },
    /// A segment is empty or contains characters outside `[A-Za-z0-9_-]`.
    #[error(
        "invalid expression `{expression}` at `{}`: `{segment}` is not a valid name (expected letters, digits, `_` or `-`)",
        display_location(location)
    )]
    InvalidSegment {
        /// The expression as written, braces included.
        expression: String,
        /// JSON pointer into `with`.
        location: String,
        /// The offending segment (empty when two dots follow each other or one ends the path).
        segment: String,
    },
}

/// Why a template could not be rendered against the outputs at hand.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The referenced step has no output (it has not succeeded, or it is unknown).
    #[error(
        "cannot resolve `{expression}` at `{}`: step `{step}` has no output",
        display_location(location)
    )]
    NoOutput {
        /// The referenced step id.
        step: String,
        /// The expression, canonical form.
        expression: String,
        /// JSON pointer into `with`.
        location: String,
    },
    /// A field or index along the path does not exist in the step's output.
    #[error(
        "cannot resolve `{expression}` at `{}`: step `{step}`'s `{parent}` {found}",
        display_location(location)
    )]
    MissingPath {
        /// The referenced step id.
        step: String,
        /// The expression, canonical form.
        expression: String,
        /// JSON pointer into `with`.
        location: String,
        /// The path that does exist, `output[.field...]`, whose child is missing.
        parent: String,
        /// The segment that could not be followed, and what exists at `parent` instead
        /// (boxed: errors stay small on the success path).
        found: Box<Found>,
    },
}

/// What a [`RenderError::MissingPath`] found where it expected the missing segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An object without the key; `keys` are the keys it has, in order.
    Object {
        /// The missing key.
        missing: String,
        /// The keys the object has.
        keys: Vec<String>,
    },
    /// An array indexed out of range or with a segment that is not an index.
    Array {
        /// The segment used as an index.
        missing: String,
        /// The array's length.
        len: usize,
    },
    /// A value that has no fields (`"string"`, `"number"`, `"boolean"` or `"null"`).
    Scalar {
        /// The segment that was asked for.
        missing: String,
        /// The JSON type of the value.
        kind: &'static str,
    },
}

/// How many keys a [`Found::Object`] message lists before eliding the rest.
const MAX_KEYS_SHOWN: usize = 20;

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Object { missing, keys } if keys.is_empty() => {
                write!(f, "has no key `{missing}`: it is an empty object")
            }
            Found::Object { missing, keys } => {
                write!(f, "has no key `{missing}` (keys: ")?;
                for (i, key) in keys.iter().take(MAX_KEYS_SHOWN).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{key}`")?;
                }
                if keys.len() > MAX_KEYS_SHOWN {
                    write!(f, ", and {} more", keys.len() - MAX_KEYS_SHOWN)?;
                }
                f.write_str(")")
            }
            Found::Array { missing, len } => {
                write!(
                    f,
                    "has no element `{missing}`: it is an array of {len} element{}",
                    if *len == 1 { "" } else { "s" }
                )
            }
            Found::Scalar { missing, kind } => {
                write!(f, "has no field `{missing}`: it is a {kind}")
            }
        }
    }
}

impl Template {
    /// Parses a step's `with` value, reporting the first malformed expression.
    ///
    /// Use [`Template::parse_all`] to get every error at once.
    pub fn parse(value: &Value) -> Result<Template, TemplateError> {
        Template::parse_all(value).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Parses a step's `with` value, reporting every malformed expression, in document order.
    ///
    /// On `Err`, the vector is never empty.
    pub fn parse_all(value: &Value) -> Result<Template, Vec<TemplateError>> {
        let mut parser = Parser::default();
        let mut pointer = String::new();
        let root = parser
            .node(value, &mut pointer)
            .unwrap_or_else(|| literal(value));
        if parser.errors.is_empty() {
            Ok(Template {
                root,
                references: parser.references,
            })
        } else {
            Err(parser.errors)
        }
    }

    /// Every expression in the template, in document order.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.references.iter()
    }

    /// Whether the template contains no expression (it renders to a copy of itself).
    pub fn is_literal(&self) -> bool {
        self.references.is_empty()
    }

    /// Renders the template into the step's input: `outputs(step_id)` gives the output of a
    /// step that succeeded.
    ///
    /// Selected values are spliced in as their exact text (SPEC §4: numbers keep every bit,
    /// strings keep lone-surrogate escapes); interpolated strings keep their escapes too.
    /// Fails on the first expression (in document order) whose step has no output or whose
    /// path does not exist in it.
    pub fn render<'v>(
        &self,
        outputs: impl Fn(&str) -> Option<&'v RawValue>,
    ) -> Result<JsonText, RenderError> {
        // Resolve each reference once, even if the node tree is walked in a different order.
        let values = self
            .references
            .iter()
            .map(|reference| resolve(reference, &outputs))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = String::new();
        render_node(&self.root, &values, &mut out);
        // Every piece written is valid JSON text (literals serialized by serde_json, outputs
        // already checked when they were made), so this parse cannot fail.
        Ok(RawValue::from_string(out).unwrap_or_else(|_| json::null()))
    }
}

/// Appends the JSON text of `node` to `out`.
fn render_node(node: &Node, values: &[&RawValue], out: &mut String) {
    match node {
        Node::Literal(text) => out.push_str(text),
        Node::Expr(index) => out.push_str(values[*index].get()),
        Node::Text(parts) => {
            out.push('"');
            for part in parts {
                match part {
                    Part::Text(literal) => json::push_string_content(out, literal),
                    Part::Expr(index) => json::push_as_text(out, values[*index]),
                }
            }
            out.push('"');
        }
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_node(item, values, out);
            }
            out.push(']');
        }
        Node::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                json::push_string_content(out, key);
                out.push_str("\":");
                render_node(item, values, out);
            }
            out.push('}');
        }
    }
}

/// Follows a reference's path through its step's output.
fn resolve<'v>(
    reference: &Reference,
    outputs: &impl Fn(&str) -> Option<&'v RawValue>,
) -> Result<&'v RawValue, RenderError> {
    let Some(mut current) = outputs(&reference.step) else {
        return Err(RenderError::NoOutput {
            step: reference.step.clone(),
            expression: reference.expression(),
            location: reference.location.clone(),
        });
    };
    for (depth, segment) in reference.path.iter().enumerate() {
        let next = match Shape::of(current) {
            // As `JSON.parse` does, the last of duplicate keys wins.
            Shape::Object(members) => members
                .iter()
                .rev()
                .find(|(key, _)| key.as_slice() == segment.as_bytes())
                .map(|(_, value)| *value)
                .ok_or_else(|| Found::Object {
                    missing: segment.clone(),
                    keys: members
                        .iter()
                        .map(|(key, _)| String::from_utf8_lossy(key).into_owned())
                        .collect(),
                }),
            Shape::Array(items) => segment
                .parse::<usize>()
                .ok()
                // `01` is not an index: only the canonical spelling is.
                .filter(|i| i.to_string() == *segment)
                .and_then(|i| items.get(i).copied())
                .ok_or_else(|| Found::Array {
                    missing: segment.clone(),
                    len: items.len(),
                }),
            Shape::Scalar(kind) => Err(Found::Scalar {
                missing: segment.clone(),
                kind,
            }),
        };
        match next {
            Ok(value) => current = value,
            Err(found) => {
                let mut parent = String::from("output");
                for s in &reference.path[..depth] {
                    parent.push('.');
                    parent.push_str(s);
                }
                return Err(RenderError::MissingPath {
                    step: reference.step.clone(),
                    expression: reference.expression(),
                    location: reference.location.clone(),
                    parent,
                    found: Box::new(found),
                });
            }
        }
    }
    Ok(current)
}

#[derive(Default)]
struct Parser {
    references: Vec<Reference>,
    errors: Vec<TemplateError>,
}

impl Parser {
    /// Parses one value; `pointer` is its JSON pointer (restored on return). `None`: the value
    /// holds no expression and renders as itself (the caller serializes the largest such
    /// subtree once, so a literal is neither copied nor walked again).
    fn node(&mut self, value: &Value, pointer: &mut String) -> Option<Node> {
        match value {
            Value::String(s) => self.string(s, pointer),
            Value::Array(items) => {
                let nodes: Vec<Option<Node>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.child(item, &i.to_string(), pointer))
                    .collect();
                if nodes.iter().all(Option::is_none) {
                    return None;
                }
                Some(Node::Array(
                    nodes
                        .into_iter()
                        .zip(items)
                        .map(|(node, item)| node.unwrap_or_else(|| literal(item)))
                        .collect(),
                ))
            }
            Value::Object(map) => {
                let entries: Vec<Option<Node>> = map
                    .iter()
                    .map(|(key, item)| {
                        // JSON pointer escaping (RFC 6901): `~` first, then `/`.
                        self.child(item, &key.replace('~', "~0").replace('/', "~1"), pointer)
                    })
                    .collect();
                if entries.iter().all(Option::is_none) {
                    return None;
                }
                Some(Node::Object(
                    entries
                        .into_iter()
                        .zip(map)
                        .map(|(node, (key, item))| {
                            (key.clone(), node.unwrap_or_else(|| literal(item)))
                        })
                        .collect(),
                ))
            }
            _ => None,
        }
    }

    /// [`Parser::node`] of the member `segment` (escaped) of the value at `pointer`.
    fn child(&mut self, item: &Value, segment: &str, pointer: &mut String) -> Option<Node> {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(segment);
        let node = self.node(item, pointer);
        pointer.truncate(len);
        node
    }

    /// A string value: `None` when it holds no `${{` (it renders as itself).
    fn string(&mut self, s: &str, pointer: &str) -> Option<Node> {
        if !s.contains(OPEN) {
            // Fast path: no `${{`, hence no `$${{` either.
            return None;
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(at) = rest.find(OPEN) {
            // `$${{`: the `$` before `${{` escapes it.
            if at > 0 && rest[..at].ends_with('$') && rest[at - 1..].starts_with(ESCAPED_OPEN) {
                text.push_str(&rest[..at - 1]);
                text.push_str(OPEN);
                rest = &rest[at + OPEN.len()..];
                continue;
            }
            text.push_str(&rest[..at]);
            let after_open = &rest[at + OPEN.len()..];
            let Some(close) = after_open.find(CLOSE) else {
                self.errors.push(TemplateError::Unterminated {
                    expression: rest[at..].to_owned(),
                    location: pointer.to_owned(),
                });
                return Some(literal(&Value::Null));
            };
            let expression = &rest[at..at + OPEN.len() + close + CLOSE.len()];
            match parse_expression(&after_open[..close], expression, pointer) {
                Ok(reference) => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Expr(self.references.len()));
                    self.references.push(reference);
                }
                Err(error) => self.errors.push(error),
            }
            rest = &after_open[close + CLOSE.len()..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Some(match parts.as_slice() {
            [] => literal(&Value::String(String::new())),
            [Part::Expr(index)] => Node::Expr(*index),
            [Part::Text(t)] => literal(&Value::String(t.clone())),
            _ => Node::Text(parts),
        })
    }
}

/// A subtree without expressions, as the JSON text it renders to.
fn literal(value: &Value) -> Node {
    Node::Literal(value.to_string())
}

/// Parses the inside of `${{ ... }}`.
fn parse_expression(
    inner: &str,
    expression: &str,
    location: &str,
) -> Result<Reference, TemplateError> {
    let body = inner.trim();
    let mut segments = body.split('.');
    let invalid = |segment: &str| TemplateError::InvalidSegment {
        expression: expression.to_owned(),
        location: location.to_owned(),
        segment: segment.to_owned(),
    };
    let context = segments.next().unwrap_or_default();
    if context != "steps" {
        if !is_name(context) {
            return Err(invalid(context));
        }
        return Err(TemplateError::UnknownContext {
            expression: expression.to_owned(),
            location: location.to_owned(),
            context: context.to_owned(),
        });
    }
    let step = segments.next().unwrap_or_default();
    if !is_name(step) {
        return Err(invalid(step));
    }
    let output = segments.next().unwrap_or_default();
    if output != "output" {
        return Err(TemplateError::ExpectedOutput {
            expression: expression.to_owned(),
            location: location.to_owned(),
            step: step.to_owned(),
            found: output.to_owned(),
        });
    }
    let path = segments
        .map(|segment| {
            if is_name(segment) {
                Ok(segment.to_owned())
            } else {
                Err(invalid(segment))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reference {
        step: step.to_owned(),
        path,
        location: location.to_owned(),
    })
}

/// `[A-Za-z0-9_-]+`
fn is_name(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]
mod tests {
    use super::*;

    // See: issue 19 (aether's own cost around a step): a literal subtree of `with` (a large
    // inline data set) was copied value by value into the template, then serialized at
    // render. It is now kept as its JSON text, the largest literal subtree at once.
    #[test]
    fn issue_19_literal_subtrees_are_kept_as_their_json_text() {
        let value = serde_json::json!({
            "data": {"rows": [1, 2.5, "x", null, {"k": true}]},
            "from": "${{ steps.a.output.n }}",
            "note": "cost: $${{ not an expression }}",
        });
        let template = Template::parse_all(&value).unwrap();
        let Node::Object(entries) = &template.root else {
            panic!("{:?}", template.root);
        };
        assert_eq!(
            entries[0],
            (
                "data".to_owned(),
                Node::Literal(r#"{"rows":[1,2.5,"x",null,{"k":true}]}"#.to_owned())
            )
        );
        assert_eq!(entries[1], ("from".to_owned(), Node::Expr(0)));
        assert_eq!(
            entries[2],
            (
                "note".to_owned(),
                Node::Literal(r#""cost: ${{ not an expression }}""#.to_owned())
            )
        );
        let whole = Template::parse_all(&value["data"]).unwrap();
        assert_eq!(
            whole.root,
            Node::Literal(r#"{"rows":[1,2.5,"x",null,{"k":true}]}"#.to_owned())
        );
        let output = RawValue::from_string("{\"n\":7}".to_owned()).unwrap();
        let rendered = template.render(|_| Some(&output)).unwrap();
        assert_eq!(
            rendered.get(),
            r#"{"data":{"rows":[1,2.5,"x",null,{"k":true}]},"from":7,"note":"cost: ${{ not an expression }}"}"#
        );
    }
}
