// What every sandbox evaluates of the JavaScript half of the bindings (see bindings.rs): `fetch`,
// `aether.fetch`, `aether.process.run` and `aether.listen`, which load prelude.js on first use,
// and the loaders of the lazy globals (lazy.rs): `TextEncoder`, `TextDecoder`, `Headers` and
// `Response` from the prelude, web.rs's globals from web.js, and the stream globals from
// streams.rs's script, `WebAssembly` from wasm.js, `Intl` from intl.js (which the built-ins' locale methods also load on
// first call). Most plugins never touch them,
// and loading the prelude was a third of a trivial sandbox's cost.
//
// Called once with the native helpers, `load` (which evaluates the prelude with them),
// `webStub`, `streamsStub`, `intlStub` and `wasmStub` (each `{ load, captured }`); only its closures keep
// them. Returns `{ fetch, process,
// listen }` for the `aether` object and `lazy`, the function from a lazy global's name to its
// value that the engine calls when the global is first touched (`natives.lazySource(name)` says
// which script makes it). The globals themselves
// are not made here: lazy.rs defines them natively, as the engine does its own lazily created
// built-ins (`Math`, `JSON`), at almost no cost per name.
(function (natives, load, webStub, streamsStub, intlStub, wasmStub) {
  "use strict";
  const hasOwn = Object.hasOwn;
  let exported;
  // Plugin code can run while the prelude loads (a getter or iterator it replaced, called by the
  // prelude's setup) and touch a lazy global, which loads it again from inside. That inner load
  // finishes first and its classes are the ones the global object gets (the engine keeps the
  // first value a lazy global is given), so its functions are the ones kept: fetch's responses
  // stay instances of the global `Response` and `Headers`.
  const prelude = () => {
    if (exported === undefined) {
      const loaded = load(natives);
      exported ??= loaded;
    }
    return exported;
  };

  // Each class as the first load to reach it defined it (the one a re-entered load's fetch uses).
  const loaded = { __proto__: null };
  natives.define = (name, value) => {
    loaded[name] ??= value;
  };
  const preludeGlobal = (name) => {
    prelude();
    return loaded[name];
  };

  function fetch(input, init = undefined) {
    // A `Request`, a `Blob`, `FormData` or `URLSearchParams` body and an `AbortSignal` are
    // web.js's: none can exist before it is loaded. `fetchArguments` turns the first three
    // into what the prelude's fetch takes.
    if (webValues !== undefined) {
      const request = webValues.fetchArguments(input, init);
      if (request !== undefined) {
        input = request.url;
        init = request;
      }
    }
    const signal = init === undefined || init === null ? undefined : init.signal;
    if (signal !== undefined && signal !== null) {
      return web().abortable(() => prelude().fetch(input, init), signal);
    }
    return prelude().fetch(input, init);
  }
  function run(command, args = undefined, options = undefined) {
    return prelude().process.run(command, args, options);
  }
  function listen(options) {
    return prelude().listen(options);
  }
  // web.js's `Request` makes the prelude's `Headers`.
  webStub.captured.Headers = () => preludeGlobal("Headers");
  // web.js's globals (`load(captured)` returns `{ name: value }`, and `fetchArguments` and
  // `abortable` for `fetch`). A getter the plugin replaced can run while web.js loads and load
  // it again: the first load to finish wins.
  let webValues;
  const web = () => {
    if (webValues === undefined) {
      const values = webStub.load(webStub.captured);
      webValues ??= values;
    }
    return webValues;
  };
  // The stream globals (streams.rs), loaded the same way, and what the bodies of the prelude's
  // `Response` and web.js's `Request` use of them and of each other. No stream, and no web.js
  // body, can exist before its script is loaded, so a body that is neither a string nor bytes
  // is looked at only by a script already loaded.
  let streamValues;
  const streams = () => {
    if (streamValues === undefined) {
      const values = streamsStub.load(streamsStub.captured);
      streamValues ??= values;
    }
    return streamValues;
  };
  const streamsLoaded = () => streamValues !== undefined;
  webStub.captured.streams = streams;
  webStub.captured.streamsLoaded = streamsLoaded;
  natives.streams = streams;
  natives.streamsLoaded = streamsLoaded;
  natives.web = web;
  natives.webLoaded = () => webValues !== undefined;
  // intl.js's `{ Intl, locale }`, loaded the same way.
  let intlValues;
  const intl = () => {
    if (intlValues === undefined) {
      const values = intlStub.load(intlStub.captured);
      intlValues ??= values;
    }
    return intlValues;
  };
  localeMethods();
  // wasm.js's `{ WebAssembly }`, loaded the same way.
  let wasmValues;
  const wasm = () => {
    if (wasmValues === undefined) {
      const values = wasmStub.load(wasmStub.captured);
      wasmValues ??= values;
    }
    return wasmValues;
  };
  const lazySource = natives.lazySource;
  // What the engine calls when a lazy global is first touched (lazy.rs).
  const lazy = (name) => {
    const source = lazySource(name);
    if (source === "prelude") return preludeGlobal(name);
    if (source === "web") {
      const values = web();
      return hasOwn(values, name) ? values[name] : undefined;
    }
    if (source === "streams") {
      const values = streams();
      return hasOwn(values, name) ? values[name] : undefined;
    }
    if (source === "intl") {
      const values = intl();
      return hasOwn(values, name) ? values[name] : undefined;
    }
    if (source === "wasm") {
      const values = wasm();
      return hasOwn(values, name) ? values[name] : undefined;
    }
    return undefined;
  };
  return { fetch, process: { run }, listen, lazy };

  // The built-ins' locale-sensitive methods (ECMA-402 §19-20: `Date`'s `toLocale*String`,
  // `Number`'s and `BigInt`'s `toLocaleString`, `String`'s `localeCompare` and
  // `toLocaleUpperCase`/`LowerCase`, and `Array`'s `toLocaleString`) replace QuickJS's
  // locale-blind ones with methods that load intl.js on first call (`intl().locale` holds their
  // bodies). Method syntax gives each the standard `name`, `length` and no `prototype`.
  function localeMethods() {
    // Assigned, not defined: each built-in is there already, writable and not enumerable,
    // and assignment keeps its attributes (a descriptor per method cost a trivial sandbox as
    // much as the rest of these methods).
    const date = Date.prototype;
    const string = String.prototype;
    const d = {
      toLocaleString() { return intl().locale.date(this, arguments[0], arguments[1], "any", "all"); },
      toLocaleDateString() { return intl().locale.date(this, arguments[0], arguments[1], "date", "date"); },
      toLocaleTimeString() { return intl().locale.date(this, arguments[0], arguments[1], "time", "time"); },
      localeCompare(that) { return intl().locale.compare(this, that, arguments[1], arguments[2]); },
      toLocaleUpperCase() { return intl().locale.caseMap(this, arguments[0], true); },
      toLocaleLowerCase() { return intl().locale.caseMap(this, arguments[0], false); },
    };
    date.toLocaleString = d.toLocaleString;
    date.toLocaleDateString = d.toLocaleDateString;
    date.toLocaleTimeString = d.toLocaleTimeString;
    string.localeCompare = d.localeCompare;
    string.toLocaleUpperCase = d.toLocaleUpperCase;
    string.toLocaleLowerCase = d.toLocaleLowerCase;
    Number.prototype.toLocaleString = {
      toLocaleString() { return intl().locale.number(this, arguments[0], arguments[1]); },
    }.toLocaleString;
    BigInt.prototype.toLocaleString = {
      toLocaleString() { return intl().locale.bigint(this, arguments[0], arguments[1]); },
    }.toLocaleString;
    Array.prototype.toLocaleString = {
      toLocaleString() { return intl().locale.array(this, arguments[0], arguments[1]); },
    }.toLocaleString;
  }
})
