//! What the resolver learns from a module's source: whether a package's ambiguous `.js` file is
//! written as an ES module (Node 22's syntax detection), and which names a CommonJS module
//! exports that an ES module can import by name (Node's `cjs-module-lexer` rules).
//!
//! Both read source text only, with oxc's parser; nothing is run. A source that does not parse
//! is left to the engine (and to `aether check`, which reports the syntax error): it is taken as
//! CommonJS with no detectable names.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, AssignmentExpression, AssignmentTarget, CallExpression, Expression,
    ObjectPropertyKind, PropertyKey,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;

/// Whether `source` uses ES module syntax (`import`/`export` declarations, `import.meta`), which
/// makes a `.js` file with no `"type"` in its `package.json` an ES module, as Node 22 does.
pub(crate) fn has_module_syntax(source: &str) -> bool {
    let allocator = Allocator::default();
    let ret = Parser::new(&allocator, source, SourceType::unambiguous()).parse();
    !ret.panicked && ret.diagnostics.is_empty() && ret.module_record.has_module_syntax
}

/// The names a CommonJS module exports, found statically as Node's `cjs-module-lexer` does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CjsExports {
    /// Names assigned or defined on `exports` / `module.exports`, in source order, unique.
    pub(crate) names: Vec<String>,
    /// Specifiers whose exports are re-exported (`module.exports = require('x')`,
    /// `...require('x')` in an object assigned to `module.exports`, `__exportStar(require('x'),
    /// exports)`, `__export(require('x'))`).
    pub(crate) reexports: Vec<String>,
}

/// The statically detectable exports of the CommonJS `source` (none if it does not parse).
///
/// Detected, anywhere in the module (the lexer is not scope-aware either): `exports.x = …`,
/// `module.exports.x = …` (also `["x"]`), `Object.defineProperty(exports, "x", …)`,
/// `module.exports = { a, b: …, "c": …, ...require("y") }` and the re-exports listed on
/// [`CjsExports::reexports`].
pub(crate) fn cjs_exports(source: &str) -> CjsExports {
    let allocator = Allocator::default();
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    let ret = Parser::new(&allocator, source, SourceType::cjs())
        .with_options(options)
        .parse();
    let mut lexer = Lexer::default();
    if ret.panicked || !ret.diagnostics.is_empty() {
        return lexer.found;
    }
    lexer.visit_program(&ret.program);
    lexer.found
}

#[derive(Default)]
struct Lexer {
    found: CjsExports,
}

impl Lexer {
    fn name(&mut self, name: &str) {
        if !self.found.names.iter().any(|n| n == name) {
            self.found.names.push(name.to_owned());
        }
    }

    fn reexport(&mut self, specifier: &str) {
        if !self.found.reexports.iter().any(|n| n == specifier) {
            self.found.reexports.push(specifier.to_owned());
        }
    }
}

/// `exports` or `module.exports`.
fn is_exports(e: &Expression<'_>) -> bool {
    match e.get_inner_expression() {
        Expression::Identifier(id) => id.name == "exports",
        Expression::StaticMemberExpression(m) => {
            m.property.name == "exports"
                && matches!(m.object.get_inner_expression(), Expression::Identifier(id) if id.name == "module")
        }
        _ => false,
    }
}

/// `module.exports` (not bare `exports`, whose reassignment exports nothing).
fn is_module_exports(target: &AssignmentTarget<'_>) -> bool {
    match target {
        AssignmentTarget::StaticMemberExpression(m) => {
            m.property.name == "exports"
                && matches!(m.object.get_inner_expression(), Expression::Identifier(id) if id.name == "module")
        }
        _ => false,
    }
}

/// The literal specifier of `require("x")`.
fn require_of<'a>(e: &Expression<'a>) -> Option<&'a str> {
    let Expression::CallExpression(c) = e.get_inner_expression() else {
        return None;
    };
    let Expression::Identifier(id) = c.callee.get_inner_expression() else {
        return None;
    };
    if id.name != "require" || c.arguments.len() != 1 {
        return None;
    }
    match c.arguments.first()?.as_expression()?.get_inner_expression() {
        Expression::StringLiteral(s) => Some(s.value.as_str()),
        _ => None,
    }
}

fn string_of<'a>(e: &Expression<'a>) -> Option<&'a str> {
    match e.get_inner_expression() {
        Expression::StringLiteral(s) => Some(s.value.as_str()),
        _ => None,
    }
}

fn key_name<'a>(key: &PropertyKey<'a>) -> Option<&'a str> {
    match key {
        PropertyKey::StaticIdentifier(id) => Some(id.name.as_str()),
        PropertyKey::StringLiteral(s) => Some(s.value.as_str()),
        _ => None,
    }
}

/// A property descriptor `cjs-module-lexer` accepts: one with a `value`, or `enumerable: true`
/// with a getter that only returns an identifier or a member expression (a getter that
/// computes something is not taken as an export: reading it could run code).
fn detectable_descriptor(descriptor: &Expression<'_>) -> bool {
    let Expression::ObjectExpression(o) = descriptor.get_inner_expression() else {
        return false;
    };
    let mut enumerable = false;
    let mut getter_ok = false;
    for p in &o.properties {
        let ObjectPropertyKind::ObjectProperty(p) = p else {
            return false;
        };
        match key_name(&p.key) {
            Some("value") => return true,
            Some("enumerable") => {
                enumerable = matches!(p.value.get_inner_expression(), Expression::BooleanLiteral(b) if b.value);
            }
            Some("get") => {
                let body = match p.value.get_inner_expression() {
                    Expression::FunctionExpression(f) => f.body.as_deref(),
                    _ => None,
                };
                getter_ok = body.is_some_and(|b| {
                    matches!(
                        b.statements.as_slice(),
                        [oxc_ast::ast::Statement::ReturnStatement(r)]
                            if r.argument.as_ref().is_some_and(|a| matches!(
                                a.get_inner_expression(),
                                Expression::Identifier(_) | Expression::StaticMemberExpression(_)
                            ))
                    )
                });
            }
            _ => {}
        }
    }
    enumerable && getter_ok
}

impl<'a> Visit<'a> for Lexer {
    fn visit_assignment_expression(&mut self, a: &AssignmentExpression<'a>) {
        match &a.left {
            AssignmentTarget::StaticMemberExpression(m) if is_exports(&m.object) => {
                self.name(m.property.name.as_str());
            }
            AssignmentTarget::ComputedMemberExpression(m) if is_exports(&m.object) => {
                if let Some(name) = string_of(&m.expression) {
                    self.name(name);
                }
            }
            target if is_module_exports(target) => match a.right.get_inner_expression() {
                Expression::ObjectExpression(o) => {
                    for p in &o.properties {
                        match p {
                            ObjectPropertyKind::ObjectProperty(p) if !p.computed => {
                                if let Some(name) = key_name(&p.key) {
                                    self.name(name);
                                }
                            }
                            ObjectPropertyKind::SpreadProperty(s) => {
                                if let Some(spec) = require_of(&s.argument) {
                                    self.reexport(spec);
                                }
                            }
                            ObjectPropertyKind::ObjectProperty(_) => {}
                        }
                    }
                }
                right => {
                    if let Some(spec) = require_of(right) {
                        self.reexport(spec);
                    }
                }
            },
            _ => {}
        }
        walk::walk_assignment_expression(self, a);
    }

    fn visit_call_expression(&mut self, c: &CallExpression<'a>) {
        let args: Vec<Option<&Expression<'a>>> =
            c.arguments.iter().map(Argument::as_expression).collect();
        match c.callee.get_inner_expression() {
            // Object.defineProperty(exports, "x", …)
            Expression::StaticMemberExpression(m)
                if m.property.name == "defineProperty"
                    && matches!(m.object.get_inner_expression(), Expression::Identifier(id) if id.name == "Object") =>
            {
                if let (Some(Some(target)), Some(Some(name)), Some(Some(descriptor))) =
                    (args.first(), args.get(1), args.get(2))
                    && is_exports(target)
                    && let Some(name) = string_of(name)
                    && detectable_descriptor(descriptor)
                {
                    self.name(name);
                }
            }
            // __exportStar(require("x"), exports), tslib.__exportStar(…), __export(require("x"))
            callee => {
                let helper = match callee {
                    Expression::Identifier(id) => Some(id.name.as_str()),
                    Expression::StaticMemberExpression(m) => Some(m.property.name.as_str()),
                    _ => None,
                };
                if matches!(helper, Some("__exportStar" | "__export"))
                    && let Some(Some(first)) = args.first()
                    && let Some(spec) = require_of(first)
                {
                    self.reexport(spec);
                }
            }
        }
        walk::walk_call_expression(self, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_names_as_cjs_module_lexer_does() {
        // See: nodejs/cjs-module-lexer README, "Exports Object Assignment" and
        // "Object.defineProperty" forms.
        let found = cjs_exports(
            r#"
            "use strict";
            Object.defineProperty(exports, "__esModule", { value: true });
            exports.a = 1;
            module.exports.b = 2;
            exports["c-d"] = 3;
            if (x) { exports.e = 4; }
            Object.defineProperty(exports, 'f', { enumerable: true, get: function () { return g; } });
            Object.defineProperty(exports, 'h', { enumerable: true, get() { return m.h; } });
            Object.defineProperty(exports, 'computed', { enumerable: true, get() { return 1 + 1; } });
            Object.defineProperty(exports, 'hidden', { get() { return m.h; } });
            __exportStar(require("./star"), exports);
            return;
            "#,
        );
        assert_eq!(found.names, ["__esModule", "a", "b", "c-d", "e", "f", "h"]);
        assert_eq!(found.reexports, ["./star"]);
        let found = cjs_exports("module.exports = { x, y: 1, 'z': 2, [k]: 3, ...require('w') };");
        assert_eq!(found.names, ["x", "y", "z"]);
        assert_eq!(found.reexports, ["w"]);
        let found = cjs_exports("module.exports = require('./inner');");
        assert_eq!(found.reexports, ["./inner"]);
        // Reassigning bare `exports` exports nothing; unparsable source has no names.
        assert_eq!(cjs_exports("exports = { a: 1 };"), CjsExports::default());
        assert_eq!(cjs_exports("exports.a = ;"), CjsExports::default());
    }

    #[test]
    fn module_syntax_is_detected_only_from_declarations_and_import_meta() {
        assert!(has_module_syntax("export const a = 1;"));
        assert!(has_module_syntax("import x from './x.js'; x();"));
        assert!(has_module_syntax("console.log(import.meta.url);"));
        assert!(!has_module_syntax("module.exports = 1;"));
        assert!(!has_module_syntax("with (o) { x; }"));
        assert!(!has_module_syntax(
            "var import_ = require('x'); exports.y = 1;"
        ));
    }
}
