//! `new C(...)` (issue 19, `vendor/rquickjs-sys/patches/0025`): the object a constructor
//! makes takes its prototype from the constructor's own `prototype` data property read in
//! place, without a property-get call; every other `prototype` (an accessor through a proxy,
//! an inherited one, a non-object, a lazily made one) takes the previous path. Each case runs
//! twice or more so that a second `new` at the same site sees the change; the expected strings
//! are what the specification (OrdinaryCreateFromConstructor, GetPrototypeFromConstructor)
//! gives, checked against Node 20.

#[path = "support/test262.rs"]
mod test262;
use test262::assert_known_failures;

#[path = "support/js.rs"]
mod js;
use js::eval;

// See: https://tc39.es/ecma262/#sec-getprototypefromconstructor (a non-object `prototype`
// falls back to the realm's %Object.prototype%).
#[test]
fn issue_19_new_follows_a_reassigned_prototype() {
    let out = eval(
        r#"
        function F(x) { this.x = x; }
        const seen = [];
        const a = { tag: "a" }, b = { tag: "b" };
        for (let i = 0; i < 6; i++) {
            if (i === 2) F.prototype = a;
            if (i === 3) F.prototype = 5;
            if (i === 4) F.prototype = null;
            if (i === 5) F.prototype = b;
            const o = new F(i);
            const p = Object.getPrototypeOf(o);
            seen.push(p === Object.prototype ? "Object" : (p.tag || (p.constructor === F ? "own" : "?")));
        }
        seen.join(",")
        "#,
    );
    assert_eq!(out.as_deref(), Ok("own,own,a,Object,Object,b"));
}

#[test]
fn issue_19_new_of_a_function_whose_prototype_was_never_read() {
    // A function's `prototype` is made on first use (an auto-init slot): the first `new`
    // makes it, and it is the one later reads see.
    let out = eval(
        r#"
        function G() {}
        const o = new G();
        const q = new G();
        String(Object.getPrototypeOf(o) === G.prototype && Object.getPrototypeOf(q) === G.prototype
            && G.prototype.constructor === G)
        "#,
    );
    assert_eq!(out.as_deref(), Ok("true"));
}

// See: https://github.com/tc39/test262/tree/main/test/built-ins/Reflect/construct
// (newTarget-is-not-constructor-throws.js, use-arguments-list.js).
#[test]
fn issue_19_reflect_construct_takes_the_prototype_of_new_target() {
    let out = eval(
        r#"
        class A { constructor() { this.k = new.target === A ? "A" : "other"; } }
        function B() {}
        B.prototype.tag = "B";
        const r = [];
        for (let i = 0; i < 3; i++) {
            const o = Reflect.construct(A, [], B);
            r.push(o.tag + "/" + o.k + "/" + (o instanceof A));
        }
        const f = Reflect.construct(function () { this.v = 1; }, [], B);
        r.push(f.tag + f.v);
        // A bound function has no own `prototype`: one on its prototype chain is read.
        const bound = B.bind(null);
        Object.setPrototypeOf(bound, { prototype: { tag: "inherited" } });
        r.push(Reflect.construct(A, [], bound).tag);
        r.join(",")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok("B/other/false,B/other/false,B/other/false,B1,inherited")
    );
}

#[test]
fn issue_19_new_through_a_proxy_calls_its_get_trap() {
    let out = eval(
        r#"
        function T() { this.t = 1; }
        const log = [];
        const proto = { tag: "trap" };
        const P = new Proxy(T, { get(target, key) { log.push(String(key)); return key === "prototype" ? proto : target[key]; } });
        const r = [];
        for (let i = 0; i < 2; i++) { const o = new P(); r.push(o.tag + o.t); }
        const P2 = new Proxy(T, { get(target, key) { return key === "prototype" ? 7 : target[key]; } });
        r.push(Object.getPrototypeOf(new P2()) === Object.prototype);
        r.join(",") + "|" + log.join(",")
        "#,
    );
    assert_eq!(out.as_deref(), Ok("trap1,trap1,true|prototype,prototype"));
}

// See: https://github.com/tc39/test262/tree/main/test/language/statements/class/subclass
#[test]
fn issue_19_derived_classes_and_bound_constructors_are_unchanged() {
    let out = eval(
        r#"
        class Base { constructor(x) { this.x = x; } }
        class Derived extends Base { constructor(x) { super(x * 2); this.y = x; } }
        class Arr extends Array {}
        const r = [];
        for (let i = 1; i < 3; i++) {
            const d = new Derived(i);
            r.push(d.x + ":" + d.y + ":" + (d instanceof Derived) + ":" + (Object.getPrototypeOf(d) === Derived.prototype));
        }
        const a = new Arr(3);
        r.push(a.length + ":" + (a instanceof Arr) + ":" + Array.isArray(a));
        function F(a, b) { this.s = a + b; }
        const BF = F.bind(null, 10);
        const o = new BF(5);
        r.push(o.s + ":" + (Object.getPrototypeOf(o) === F.prototype));
        // A class's `prototype` is read-only: a `new` after a failed write still uses it.
        // (rquickjs evaluates scripts as strict code: the write throws.)
        try { Base.prototype = {}; } catch (e) { r.push(e.constructor.name); }
        r.push(Object.getPrototypeOf(new Base(1)) === Base.prototype);
        r.join(",")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok("2:1:true:true,4:2:true:true,3:true:true,15:true,TypeError,true")
    );
}

#[test]
fn issue_19_new_of_a_non_constructor_still_throws() {
    let out = eval(
        r#"
        const r = [];
        for (const f of [() => 1, { m() {} }.m, Math.max, 5, Symbol.iterator]) {
            try { new f(); r.push("made"); } catch (e) { r.push(e.constructor.name); }
        }
        r.join(",")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok("TypeError,TypeError,TypeError,TypeError,TypeError")
    );
}

/// test262's `new`, class expression, `Reflect.construct` and subclass tests against the
/// patched engine: the files that fail must be exactly those listed in
/// `fixtures/test262_ctors_failures.txt`, which lists what failed on the unpatched engine.
/// Runs where a checkout is given: `AETHER_TEST262_DIR=/path/to/test262 cargo test -p
/// aether-sandbox --test engine_ctors` (`AETHER_TEST262_WRITE=1` rewrites the list).
#[test]
fn issue_19_test262_constructor_results_unchanged() {
    assert_known_failures(
        &[
            "test/language/expressions/new",
            "test/language/expressions/class",
            "test/built-ins/Reflect/construct",
            "test/language/statements/class/subclass",
        ],
        "test262_ctors_failures.txt",
    );
}
