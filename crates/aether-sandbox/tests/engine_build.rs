//! How the engine's C code is compiled (issue 19, session 7; `vendor/rquickjs-sys/build.rs`):
//! without a frame pointer, with `-fno-semantic-interposition` and `-fno-math-errno`, each
//! measured in `docs/BENCHMARKS.md` ("Engine build flags and PGO (session 7)"). gcc records its switches in every compile
//! unit's debug information (`DW_AT_producer`), so this test reads them from its own executable.
//! See: https://gcc.gnu.org/onlinedocs/gcc/Code-Gen-Options.html (-fsemantic-interposition)

use rquickjs::{Context, Runtime};

/// The `DW_AT_producer` strings of gcc's compile units in this executable (`GNU C…`), which
/// record the switches each unit was compiled with.
fn gcc_producers() -> Vec<String> {
    let exe = std::env::current_exe().expect("the test executable");
    let bytes = std::fs::read(&exe).expect("readable test executable");
    bytes
        .split(|b| *b == 0)
        .filter(|s| s.starts_with(b"GNU C") && s.len() < 4096)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[test]
fn issue_19_engine_is_compiled_without_frame_pointer_or_interposition() {
    let producers = gcc_producers();
    if producers.is_empty() {
        eprintln!(
            "no gcc compile unit recorded here (another C compiler, or no debug info): skipped"
        );
        return;
    }
    let engine: Vec<&String> = producers
        .iter()
        .filter(|p| p.contains("-fno-semantic-interposition"))
        .collect();
    assert!(
        !engine.is_empty(),
        "the engine is compiled without -fno-semantic-interposition: {producers:?}"
    );
    for producer in engine {
        assert!(producer.contains("-fno-math-errno"), "{producer}");
        assert!(!producer.contains("-fno-omit-frame-pointer"), "{producer}");
    }
}

/// The engine is compiled with `-fira-loop-pressure`, with which gcc keeps the interpreter's
/// `pc` and its dispatch table's address in registers across the computed-goto loop
/// (`docs/BENCHMARKS.md`, "Engine patches (session 9)": −3 % instructions on @noble/hashes).
/// See: https://gcc.gnu.org/onlinedocs/gcc/Optimize-Options.html (-fira-loop-pressure)
#[test]
fn issue_19_engine_is_compiled_with_loop_register_pressure() {
    let producers = gcc_producers();
    let engine: Vec<&String> = producers
        .iter()
        .filter(|p| p.contains("-fno-semantic-interposition"))
        .collect();
    if engine.is_empty() {
        eprintln!("no gcc compile unit of the engine recorded here: skipped");
        return;
    }
    for producer in engine {
        assert!(producer.contains("-fira-loop-pressure"), "{producer}");
    }
}

/// Evaluates `script` in a fresh runtime; its string value.
fn eval(script: &str) -> String {
    let runtime = Runtime::new().expect("runtime");
    let context = Context::full(&runtime).expect("context");
    context.with(|ctx| ctx.eval::<String, _>(script).expect("the script runs"))
}

/// `-fno-math-errno` lets gcc inline `sqrt` and `lrint` (Math.sqrt, Uint8ClampedArray's
/// ToUint8Clamp): the results are the ones libm gives (on x86_64 even NaN's bits, checked
/// with the engine-alone driver: `Math.sqrt(-1)` is 0xfff8000000000000 either way).
/// See: https://tc39.es/ecma262/#sec-math.sqrt and #sec-touint8clamp
#[test]
fn engine_math_is_exact_without_errno() {
    let out = eval(
        r#"
        [
            Object.is(Math.sqrt(-0), -0), Math.sqrt(-1), Math.sqrt(-Infinity), Math.sqrt(Infinity),
            Math.sqrt(2), Math.sqrt(Number.MIN_VALUE), Math.sqrt(Number.MAX_VALUE), Math.sqrt(NaN),
            Array.from(Uint8ClampedArray.of(0.5, 1.5, 2.5, 3.49, 253.5, 254.5, 255.5, -0.5, NaN, 1e300)).join(" "),
        ].join(",")
        "#,
    );
    assert_eq!(
        out,
        "true,NaN,NaN,Infinity,1.4142135623730951,2.2227587494850775e-162,1.3407807929942596e+154,NaN,\
         0 2 2 3 254 254 255 0 0 255"
    );
}
