//! Object spread and object rest of a string (`vendor/rquickjs-sys/patches/0032`): the engine's
//! CopyDataProperties skipped every primitive source, so `{..."xy"}` and `const {...r} = "xy"`
//! gave `{}`. The specification converts the source with ToObject (only `null` and
//! `undefined` are skipped), and a string's indices are its own enumerable properties. The
//! expected strings are Node 20's output for the same scripts.

#[path = "support/js.rs"]
mod js;
use js::eval;

// See: https://tc39.es/ecma262/#sec-copydataproperties (step 2: ToObject(source));
// sebastienros/jint#2637 fixed the same bug in another engine.
#[test]
fn issue_19_object_spread_of_a_string_copies_its_indices() {
    let out = eval(
        r#"
        const out = [];
        out.push(JSON.stringify({..."xy"}));
        out.push(JSON.stringify({...""}));
        out.push(JSON.stringify({a: 1, ..."\u{1F600}b"}));
        out.push(JSON.stringify({..."ab", 0: "z"}));
        out.push(JSON.stringify({...("a" + "bc".repeat(2))}));
        out.push(JSON.stringify({...new String("pq")}));
        out.join("|")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok(
            r#"{"0":"x","1":"y"}|{}|{"0":"\ud83d","1":"\ude00","2":"b","a":1}|{"0":"z","1":"b"}|{"0":"a","1":"b","2":"c","3":"b","4":"c"}|{"0":"p","1":"q"}"#
        )
    );
}

#[test]
fn issue_19_object_rest_of_a_string_copies_the_remaining_indices() {
    let out = eval(
        r#"
        const {...r} = "abc";
        const {0: first, ...rest} = "abc";
        const {length, ...noLength} = "de";
        [JSON.stringify(r), first + JSON.stringify(rest), length + JSON.stringify(noLength)].join("|")
        "#,
    );
    assert_eq!(
        out.as_deref(),
        Ok(r#"{"0":"a","1":"b","2":"c"}|a{"1":"b","2":"c"}|2{"0":"d","1":"e"}"#)
    );
}

#[test]
fn other_primitives_and_nullish_sources_copy_nothing() {
    // Numbers, booleans, symbols and bigints become objects without own enumerable
    // properties; `null` and `undefined` are skipped; destructuring them still throws.
    let out = eval(
        r#"
        let thrown = "";
        try { const {...x} = null; } catch (e) { thrown = e.constructor.name; }
        JSON.stringify({...5, ...true, ...null, ...undefined, ...Symbol.iterator, ...10n}) + thrown
        "#,
    );
    assert_eq!(out.as_deref(), Ok("{}TypeError"));
}

#[test]
fn a_spread_string_defines_properties_without_calling_setters() {
    // CopyDataProperties defines (CreateDataProperty): a setter on Object.prototype for "0"
    // is not called, and the property is an own data property.
    let out = eval(
        r#"
        let called = false;
        Object.defineProperty(Object.prototype, "0", { set() { called = true; }, configurable: true });
        const o = {..."q"};
        const d = Object.getOwnPropertyDescriptor(o, "0");
        delete Object.prototype[0];
        [called, d.value, d.writable, d.enumerable, d.configurable].join(",")
        "#,
    );
    assert_eq!(out.as_deref(), Ok("false,q,true,true,true"));
}
