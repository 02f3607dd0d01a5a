//! The engine's strings carry no debugging baggage (issue 19, `vendor/rquickjs-sys/patches/0022`):
//! the engine is built without `NDEBUG` (aether keeps QuickJS's assertions), and QuickJS then
//! compiled its dump facilities in, which linked every string into a runtime-wide list: 16 bytes
//! more per string and two list updates per allocation and free, with nothing ever reading them.

use rquickjs::{Context, Runtime};

/// Bytes per string of `count` distinct eight-character strings, as the runtime's own memory
/// accounting (`JS_ComputeMemoryUsage`) counts them.
fn bytes_per_string(count: usize) -> f64 {
    let runtime = Runtime::new().expect("runtime");
    let context = Context::full(&runtime).expect("context");
    let before = runtime.memory_usage();
    context.with(|ctx| {
        let script = format!(
            "globalThis.kept = []; for (let i = 0; i < {count}; i++) kept.push('k' + i.toString(36).padStart(7, '0'));"
        );
        ctx.eval::<(), _>(script).expect("the strings are made");
    });
    let after = runtime.memory_usage();
    let strings = (after.str_count - before.str_count) as f64;
    assert!(
        strings >= count as f64,
        "{strings} strings counted for {count} made"
    );
    (after.str_size - before.str_size) as f64 / strings
}

#[test]
fn issue_19_strings_carry_no_dump_list_link() {
    // See: QuickJS's `JSString` (`struct JSString` in quickjs.c) and quickjs-ng/quickjs#777 (the
    // dump facilities cost a build that has them even when no flag is set).
    let size = bytes_per_string(20_000);
    // The string header (reference count, length and flags, hash, hash chain, weak references)
    // plus eight Latin-1 characters and their terminator; the list link added 16 bytes.
    assert!(size <= 40.0, "{size} bytes per eight-character string");
}
