//! TypeScript plugin modules (`.ts`, `.mts`, `.cts`; SPEC §5), compiled to JavaScript when they
//! are loaded, with oxc's transformer: types removed; enums, namespaces and parameter properties
//! compiled as `tsc` would; imports used only as types (and `import type`, `export type`)
//! elided as `tsc` does without `verbatimModuleSyntax`.
//!
//! Pure: the source text comes in, JavaScript text and a position map come out. Nothing here
//! reads a file, and the bytes verified and locked stay the TypeScript source: the compiled text
//! is derived from them at load, never stored. Nothing is type-checked (as with Node's type
//! stripping, Deno and Bun): a type error is the author's `tsc`'s business, a syntax error
//! (type syntax included) refuses the module.
//!
//! No input makes it panic or overflow the caller's stack: the parser and transformer recurse
//! once per nesting level, so each compilation runs on its own thread with a stack sized from
//! the source (as `aether-analyze` parses), and a failure there is a [`Diagnostic`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_ast::ast::{Decorator, Statement};
use oxc_ast_visit::Visit;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_diagnostics::OxcDiagnostic;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};

/// Whether `path` names a TypeScript module aether compiles (`.ts`, `.mts`, `.cts`; not a
/// declaration file `.d.ts`, which holds no code).
pub fn is_typescript(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    [".ts", ".mts", ".cts"].iter().any(|e| name.ends_with(e))
        && ![".d.ts", ".d.mts", ".d.cts"]
            .iter()
            .any(|e| name.ends_with(e))
}

/// What a TypeScript module compiles to: the loader decides it by the file's extension and its
/// package's `type`, as for JavaScript (`.mts` an ES module, `.cts` CommonJS, `.ts` as `.js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// An ES module: `import`/`export` stay; `export =` and `import x = require()` are refused
    /// (as `tsc --module esnext` refuses them).
    EsModule,
    /// A CommonJS module (the body of the function the loader wraps it in): `require`,
    /// `module.exports` and a top-level `return` are what they are in Node; `export = x`
    /// compiles to `module.exports = x` and `import x = require("y")` to
    /// `const x = require("y")`, as `tsc --module commonjs` compiles them. ES module syntax is
    /// refused, as Node refuses it in a `.cts` file.
    CommonJs,
}

impl From<aether_policy::ModuleKind> for Output {
    /// CommonJS for a CommonJS module, an ES module otherwise.
    fn from(kind: aether_policy::ModuleKind) -> Self {
        match kind {
            aether_policy::ModuleKind::CommonJs => Output::CommonJs,
            aether_policy::ModuleKind::Esm | aether_policy::ModuleKind::Json => Output::EsModule,
        }
    }
}

/// A TypeScript module compiled to JavaScript.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The JavaScript (an ES module or a CommonJS module body, as asked).
    pub code: String,
    /// The specifiers of the static imports and `export … from` that remain after type-only
    /// ones are elided: what the runtime will load, in source order.
    pub imports: Vec<String>,
    /// Maps positions in [`Compiled::code`] back to the TypeScript source.
    pub map: PositionMap,
}

/// One error in a TypeScript module, at its position in the TypeScript source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte offset in the source.
    pub offset: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong (oxc's message).
    pub message: String,
}

/// Why a TypeScript module did not compile: every error found, in source order (at least one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", first_message(.diagnostics))]
pub struct CompileError {
    /// The errors, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

fn first_message(diagnostics: &[Diagnostic]) -> String {
    match diagnostics.first() {
        Some(d) => format!("{}:{}: {}", d.line, d.column, d.message),
        None => "the module could not be compiled".to_owned(),
    }
}

/// Maps 1-based (line, column) positions of compiled JavaScript back to the TypeScript source.
///
/// Built from the code generator's source map: a position maps to the nearest mapped position
/// at or before it on the same line (QuickJS reports a call at its callee or its `(`, which is
/// mapped or follows a mapped token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PositionMap {
    /// `(generated line, generated column, source line, source column)`, 0-based, sorted.
    tokens: Vec<(u32, u32, u32, u32)>,
}

impl PositionMap {
    /// The TypeScript (line, column) of compiled (line, column), all 1-based; `None` when
    /// nothing on that compiled line is mapped.
    pub fn original(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        let key = (line.checked_sub(1)?, column.saturating_sub(1));
        let after = self.tokens.partition_point(|t| (t.0, t.1) <= key);
        let token = match after.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(t) if t.0 == key.0 => t,
            // Before the first mapped token of its line: the line's first token.
            _ => self.tokens.get(after).filter(|t| t.0 == key.0)?,
        };
        Some((token.2 + 1, token.3 + 1))
    }
}

/// The least stack a module is compiled on (reserved, not committed: untouched pages cost
/// nothing). Same reasoning and figures as `aether-analyze`'s parse stack.
const MIN_STACK: usize = 256 * 1024 * 1024;
/// Stack per byte of source (see `aether-analyze`: a nesting level takes at least two bytes and
/// a few hundred bytes of stack).
const STACK_PER_BYTE: usize = 2048;
/// The most stack reserved.
const MAX_STACK: usize = 16 * 1024 * 1024 * 1024;

/// Compiles the TypeScript module `path` (its path in the plugin, for messages and the source
/// map) holding `source` to `output`.
pub fn compile_typescript(
    path: &str,
    source: &str,
    output: Output,
) -> Result<Compiled, CompileError> {
    let stack = source
        .len()
        .saturating_mul(STACK_PER_BYTE)
        .clamp(MIN_STACK, MAX_STACK);
    let result = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("aether-typescript".into())
            .stack_size(stack)
            .spawn_scoped(s, || compile_here(path, source, output))
            .map(|h| h.join())
    });
    match result {
        Ok(Ok(compiled)) => compiled,
        Ok(Err(_)) => Err(at_start("the TypeScript compiler failed on this module")),
        Err(_) => Err(at_start(&format!(
            "could not reserve {} MiB of stack to compile this module; it is too large",
            stack / (1024 * 1024)
        ))),
    }
}

fn at_start(message: &str) -> CompileError {
    CompileError {
        diagnostics: vec![Diagnostic {
            offset: 0,
            line: 1,
            column: 1,
            message: message.to_owned(),
        }],
    }
}

fn compile_here(path: &str, source: &str, output: Output) -> Result<Compiled, CompileError> {
    let commonjs = output == Output::CommonJs;
    let source_type = SourceType::ts().with_commonjs(commonjs);
    let allocator = Allocator::default();
    // A CommonJS module is a function body to the loader (as in Node): `return` is allowed.
    let parsed = Parser::new(&allocator, source, source_type)
        .with_options(oxc_parser::ParseOptions {
            allow_return_outside_function: commonjs,
            ..oxc_parser::ParseOptions::default()
        })
        .parse();
    let index = LineIndex::new(source);
    let fail = |errors: Vec<(u32, String)>| {
        let mut diagnostics: Vec<Diagnostic> = errors
            .into_iter()
            .map(|(offset, message)| {
                let (line, column) = index.line_col(offset);
                Diagnostic {
                    offset,
                    line,
                    column,
                    message,
                }
            })
            .collect();
        diagnostics.sort_by_key(|d| d.offset);
        if diagnostics.is_empty() {
            return at_start("the module could not be compiled");
        }
        CompileError { diagnostics }
    };
    if parsed.panicked || parsed.diagnostics.has_errors() {
        return Err(fail(errors_of(&parsed.diagnostics)));
    }
    let mut program = parsed.program;
    if commonjs {
        // Node refuses ES module syntax in a `.cts` file (and in a `.ts` file of a
        // `"type": "commonjs"` package); the loader would fail on it with a worse message.
        let at: Vec<(u32, String)> = program
            .body
            .iter()
            .filter(|s| s.is_module_declaration())
            .filter(|s| !allowed_in_commonjs(s))
            .map(|s| {
                (
                    oxc_span::GetSpan::span(s).start,
                    "ES module syntax (`import`/`export`) in a CommonJS TypeScript module: use `require` and `module.exports` (or `export =`), or rename the file `.mts`".to_owned(),
                )
            })
            .collect();
        if !at.is_empty() {
            return Err(fail(at));
        }
    }
    let mut decorators = Decorators::default();
    decorators.visit_program(&program);
    if !decorators.at.is_empty() {
        let message = "decorators are not supported (aether has no decorator transform): remove them, or compile the plugin to JavaScript with `tsc` first";
        return Err(fail(
            decorators
                .at
                .into_iter()
                .map(|o| (o, message.to_owned()))
                .collect(),
        ));
    }
    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .with_enum_eval(true)
        .build(&program);
    let errors = errors_of(&semantic.diagnostics);
    if !errors.is_empty() {
        return Err(fail(errors));
    }
    let scoping = semantic.semantic.into_scoping();
    let mut options = TransformOptions::default();
    // ES modules out as `tsc --module esnext`; CommonJS as `tsc --module commonjs` (whose
    // `export =` and `import = require` the transform rewrites; it never meets `import`).
    options.env.module = if commonjs {
        oxc_transformer::Module::CommonJS
    } else {
        oxc_transformer::Module::Esm
    };
    let transformed = Transformer::new(&allocator, Path::new(path), &options)
        .build_with_scoping(scoping, &mut program);
    // The transform's warnings are where its output would differ from `tsc`'s (a namespace
    // exporting a `let`, `export =` or `import x = require()` in an ES module): refused, so that
    // what runs is what the author compiled with `tsc`.
    let errors = messages_of(transformed.diagnostics.iter());
    if !errors.is_empty() {
        return Err(fail(errors));
    }
    if commonjs {
        // The transform keeps a module a module with an empty `export {}` once its type-only
        // module syntax is gone; a CommonJS body is a function's, where it cannot stand.
        program.body.retain(
            |s| !matches!(s, Statement::ExportNamedDeclaration(d) if d.specifiers.is_empty()),
        );
    }
    let imports = remaining_imports(&program.body);
    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.into()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let mut tokens: Vec<(u32, u32, u32, u32)> = generated
        .map
        .iter()
        .flat_map(|m| m.get_tokens())
        .map(|t| {
            (
                t.get_dst_line(),
                t.get_dst_col(),
                t.get_src_line(),
                t.get_src_col(),
            )
        })
        .collect();
    tokens.sort_unstable();
    Ok(Compiled {
        code: generated.code,
        imports,
        map: PositionMap { tokens },
    })
}

/// The error-severity diagnostics of `list` (see [`messages_of`]).
fn errors_of(list: &[OxcDiagnostic]) -> Vec<(u32, String)> {
    messages_of(
        list.iter()
            .filter(|d| d.severity == oxc_diagnostics::Severity::Error),
    )
}

/// The byte offset of each diagnostic's first label, and its message.
fn messages_of<'d>(list: impl Iterator<Item = &'d OxcDiagnostic>) -> Vec<(u32, String)> {
    list.map(|d| {
        let offset = d.labels.first().map_or(0, |l| l.offset());
        (offset, d.message.to_string())
    })
    .collect()
}

/// Whether `statement` (a module declaration) may appear in a CommonJS TypeScript module:
/// `export =` (compiled to `module.exports =`), and what is only about types and erased
/// (`import type`, `export type`, `export interface`, `export declare`, `export as namespace`).
fn allowed_in_commonjs(statement: &Statement<'_>) -> bool {
    match statement {
        Statement::TSExportAssignment(_) | Statement::TSNamespaceExportDeclaration(_) => true,
        Statement::ImportDeclaration(d) => d.import_kind.is_type(),
        Statement::ExportNamedDeclaration(d) => d.export_kind.is_type(),
        Statement::ExportFromDeclaration(d) => d.export_kind.is_type(),
        Statement::ExportDeclaration(d) => {
            d.declaration.is_type() || d.declaration.is_typescript_syntax()
        }
        Statement::ExportAllDeclaration(d) => d.export_kind.is_type(),
        _ => false,
    }
}

/// Where the module's decorators are (byte offsets).
#[derive(Default)]
struct Decorators {
    at: Vec<u32>,
}

impl<'a> Visit<'a> for Decorators {
    fn visit_decorator(&mut self, it: &Decorator<'a>) {
        self.at.push(it.span.start);
    }
}

/// The specifiers of the module declarations left in `body` after the transform.
fn remaining_imports(body: &[Statement<'_>]) -> Vec<String> {
    body.iter()
        .filter_map(|s| match s {
            Statement::ImportDeclaration(d) => Some(d.source.value.to_string()),
            Statement::ExportAllDeclaration(d) => Some(d.source.value.to_string()),
            Statement::ExportFromDeclaration(d) => Some(d.source.value.to_string()),
            _ => None,
        })
        .collect()
}

/// Rewrites every `NAME:LINE:COL` in `text` whose `NAME` is a compiled module of `maps` (as
/// QuickJS writes stack frames: `at f (lib/util.ts:3:11)`) to its TypeScript position. Other
/// text is left as is.
pub fn map_positions(text: &str, maps: &[(&str, &PositionMap)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = maps
            .iter()
            .filter_map(|(name, map)| find_position(rest, name).map(|f| (f, *name, *map)))
            .min_by_key(|((start, ..), ..)| *start);
        let Some(((start, end, line, column), name, map)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        match map.original(line, column) {
            Some((l, c)) => out.push_str(&format!("{name}:{l}:{c}")),
            None => out.push_str(&rest[start..end]),
        }
        rest = &rest[end..];
    }
}

/// The first `NAME:LINE:COL` of `name` in `text`: (start, end, line, column).
fn find_position(text: &str, name: &str) -> Option<(usize, usize, u32, u32)> {
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(name) {
        let start = from + i;
        from = start + 1;
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == '(' || c == '/');
        let after = &text[start + name.len()..];
        let Some((line, used_l)) = after.strip_prefix(':').and_then(number) else {
            continue;
        };
        let Some((column, used_c)) = after[1 + used_l..].strip_prefix(':').and_then(number) else {
            continue;
        };
        if before_ok {
            return Some((
                start,
                start + name.len() + 2 + used_l + used_c,
                line,
                column,
            ));
        }
    }
    None
}

fn number(s: &str) -> Option<(u32, usize)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    Some((s.get(..digits)?.parse().ok()?, digits))
}

/// Byte offsets to 1-based line and column (in characters).
struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { source, starts }
    }

    fn line_col(&self, offset: u32) -> (u32, u32) {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.source.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self
            .source
            .get(start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|&(i, _)| start + i < offset)
            .count();
        let saturate = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (saturate(line + 1), saturate(column + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"import type { Shape } from "./types.ts";
import { onlyAType, value } from "./values.ts";
export type { Shape };
export enum Color { Red, Green = "g", Blue = 4 }
namespace Geo { export const origin = { x: 0 }; }
class Point {
  constructor(public x: number, private readonly y: number) {}
  sum(): number { return this.x + this.y; }
}
const cfg = { n: 1 } satisfies { n: number };
let t: onlyAType = value as unknown as onlyAType;
export default function f<T>(a: T): T {
  throw new Error("boom");
}
"#;

    #[test]
    fn types_go_enums_namespaces_and_parameter_properties_compile() {
        let c = compile_typescript("index.ts", SAMPLE, Output::EsModule).unwrap();
        eprintln!("{}", c.code);
        assert!(!c.code.contains("Shape"));
        assert!(c.code.contains("Color[Color[\"Red\"] = 0] = \"Red\""));
        assert!(c.code.contains("this.x = x"));
        assert_eq!(c.imports, vec!["./values.ts".to_owned()]);
        // `throw` is on line 13 of the source.
        let line = c.code.lines().position(|l| l.contains("throw")).unwrap() as u32 + 1;
        let col = c
            .code
            .lines()
            .nth(line as usize - 1)
            .unwrap()
            .find("new")
            .unwrap() as u32
            + 1;
        assert_eq!(c.map.original(line, col), Some((13, 9)));
    }

    #[test]
    fn syntax_errors_point_at_the_typescript() {
        let e = compile_typescript(
            "a.ts",
            "let x: number = 1;\nlet y: = 2;\n",
            Output::EsModule,
        )
        .unwrap_err();
        assert_eq!((e.diagnostics[0].line, e.diagnostics[0].column), (2, 8));
        // Where oxc's output would differ from tsc's, or tsc would refuse the module too.
        for (name, source, at) in [
            (
                "d.ts-not",
                "function d(t: any) { return t; }\n@d class A {}",
                (2, 1),
            ),
            ("b.ts", "const x = 1;\nexport = x;", (2, 1)),
            (
                "c.ts",
                "import fs = require('fs');\nexport default fs;",
                (1, 1),
            ),
            ("n.ts", "namespace N {\n  export let v = 1;\n}", (2, 14)),
            ("r.ts", "let a = 1; let a = 2;", (1, 5)),
        ] {
            let e = compile_typescript(name, source, Output::EsModule).unwrap_err();
            let d = &e.diagnostics[0];
            assert_eq!((d.line, d.column), at, "{name}: {e}");
        }
        let e = compile_typescript("a.cts", "let a = 1;\nexport {}", Output::CommonJs).unwrap_err();
        assert_eq!(e.diagnostics[0].line, 2);
        assert!(is_typescript("a/b.mts") && !is_typescript("a.d.ts") && !is_typescript("a.js"));
    }

    // See: https://www.typescriptlang.org/docs/handbook/modules/reference.html#export--and-import--require
    // (`tsc --module commonjs` output) and https://nodejs.org/api/typescript.html (`.cts`).
    #[test]
    fn issue_17_commonjs_typescript_compiles_to_a_commonjs_body() {
        let c = compile_typescript(
            "a.cts",
            "import type { T } from './t';\nimport fs = require('./lib.cjs');\ninterface I { a: number }\ntype U = I;\nconst f = (x: I): number => x.a;\nif (!fs) return;\nexport = { f, n: fs as unknown as number };\n",
            Output::CommonJs,
        )
        .unwrap();
        assert!(c.code.contains("require(\"./lib.cjs\")"), "{}", c.code);
        assert!(c.code.contains("module.exports ="), "{}", c.code);
        assert!(
            !c.code.contains("import")
                && !c.code.lines().any(|l| l.starts_with("export"))
                && !c.code.contains("interface"),
            "{}",
            c.code
        );
        assert!(c.imports.is_empty());
    }

    #[test]
    fn stack_positions_are_rewritten_for_compiled_modules_only() {
        let map = PositionMap {
            tokens: vec![(0, 0, 4, 2), (0, 10, 6, 0), (2, 4, 9, 8)],
        };
        let text = "Error: x\n    at f (lib/a.ts:1:12)\n    at lib/a.ts:3:5\n    at g (xlib/a.ts:1:1)\n    at h (b.js:1:1)";
        assert_eq!(
            map_positions(text, &[("lib/a.ts", &map)]),
            "Error: x\n    at f (lib/a.ts:7:1)\n    at lib/a.ts:10:9\n    at g (xlib/a.ts:1:1)\n    at h (b.js:1:1)"
        );
    }
}

/// The compile time of a 100 KB module (`cargo test --release -p aether-typescript -- --ignored
/// --nocapture`), for docs/typescript.md.
#[cfg(test)]
mod measure {
    #[test]
    #[ignore = "a measurement, run by hand in release"]
    fn compile_time_of_a_100_kb_module() {
        let mut source = String::new();
        let mut i = 0;
        while source.len() < 100_000 {
            source.push_str(&format!(
                "export enum E{i} {{ A, B = \"b\", C = 4 }}\nexport namespace N{i} {{ export const v: number = {i}; }}\nexport class C{i}<T> {{\n  constructor(private readonly x: T, public y: number = 0) {{}}\n  get(): T {{ return this.x; }}\n}}\ninterface I{i} {{ a: string; b?: number }}\nexport function f{i}<T extends I{i}>(o: T): string {{ return o.a + (o.b ?? 0) + N{i}.v + E{i}.B; }}\nexport const k{i} = {{ a: \"x\" }} satisfies I{i};\n"
            ));
            i += 1;
        }
        let _ = super::compile_typescript("warm.ts", &source, super::Output::EsModule).unwrap();
        let runs = 20;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            let c = super::compile_typescript("big.ts", &source, super::Output::EsModule).unwrap();
            assert!(!c.code.is_empty());
        }
        let each = start.elapsed() / runs;
        eprintln!("{} bytes of TypeScript: {each:?} per compile", source.len());
    }
}
