// What every sandbox evaluates of the JavaScript half of the bindings (see bindings.rs): the
// globals `fetch`, `TextEncoder`, `TextDecoder`, `Headers` and `Response`, and `aether.fetch`,
// `aether.process.run` and `aether.listen`, as stand-ins that load prelude.js on first use. Most plugins never
// touch them, and loading the prelude was a third of a trivial sandbox's cost.
//
// Called once with the native helpers and `load` (which evaluates the prelude with them); only
// its closures keep either. Returns `{ fetch, process, listen }` for the `aether` object.
// Also makes the stand-ins of web.rs's globals from `webStub` (`{ load, names, captured }`):
// they are in this script because loading a second one was most of their cost.
// The classes are accessors on the global object until then, as Node.js does for its lazily
// loaded globals; assigning one replaces it like a plain property.
(function (natives, load, webStub, wasmStub) {
  "use strict";
  const global = globalThis;
  const defineProperty = Object.defineProperty;
  const ownDescriptor = Object.getOwnPropertyDescriptor;
  const hasOwn = Object.hasOwn;
  // The prelude loads after plugin code has run, so nothing here may read a property the
  // plugin could have put on Object.prototype: descriptors have no prototype (an inherited
  // `get` made every definition throw), and a descriptor's `get` is read only if it is its own.
  const plain = (name, value) =>
    defineProperty(global, name, { __proto__: null, value, writable: true, enumerable: false, configurable: true });
  let exported;
  // Plugin code can run while the prelude loads (a getter or iterator it replaced, called by the
  // prelude's setup) and load it again from inside. That inner load finishes first and its
  // classes are the ones `define` put on the global object, so its functions are the ones kept:
  // fetch's responses stay instances of the global `Response` and `Headers`.
  const prelude = () => {
    if (exported === undefined) {
      const loaded = load(natives);
      exported ??= loaded;
    }
    return exported;
  };

  const getters = { __proto__: null };
  // Each class as the first load to reach it defined it (the one a re-entered load's fetch uses).
  const loaded = { __proto__: null };
  // The prelude defines its classes through this: only over a stand-in still in place, never
  // over a value the plugin assigned (or deleted) first, nor on a global object the plugin froze.
  natives.define = (name, value) => {
    loaded[name] ??= value;
    const current = ownDescriptor(global, name);
    if (current !== undefined && hasOwn(current, "get") && current.get === getters[name] && current.configurable) {
      plain(name, value);
    }
  };
  for (const name of ["TextEncoder", "TextDecoder", "Headers", "Response"]) {
    // The class itself, not `global[name]`: a stand-in left in place (a frozen global object)
    // would call itself.
    const get = () => {
      prelude();
      return loaded[name];
    };
    getters[name] = get;
    defineProperty(global, name, {
      get,
      set: (value) => plain(name, value),
      enumerable: false,
      configurable: true,
    });
  }

  function fetch(input, init = undefined) {
    // A `Request`, a `Blob`, `FormData` or `URLSearchParams` body and an `AbortSignal` are
    // web.js's: none can exist before it is loaded. `fetchArguments` turns the first three
    // into what the prelude's fetch takes.
    if (webLoaded()) {
      const request = web().fetchArguments(input, init);
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
  plain("fetch", fetch);
  // web.js's `Request` makes the prelude's `Headers`.
  webStub.captured.Headers = () => {
    prelude();
    return loaded.Headers;
  };
  const web = webGlobals(webStub.load, webStub.names, webStub.captured);
  const webLoaded = () => web(false) !== undefined;
  // `WebAssembly` (wasm.rs): a stand-in like the web globals, loading wasm.js on first use.
  webGlobals(wasmStub.load, wasmStub.names, wasmStub.captured);
  return { fetch, process: { run }, listen };

  // Stand-ins for web.rs's globals: each name is an accessor that evaluates web.js on first use
  // (`load(captured)` returns `{ name: value }`, and `fetchArguments` and `abortable` for
  // `fetch`). A getter the plugin replaced can run while web.js loads and load it again: the
  // first load to finish wins, and every stand-in still in place becomes its value. `names` is
  // walked by index, since this runs again after plugin code. Returns the loader.
  function webGlobals(load, names, captured) {
    const count = names.length;
    // The stand-ins' getters, by index in `names`.
    const getters = [];
    let values;
    // `loadAll(false)`: the values if loaded, without loading.
    const loadAll = (orLoad = true) => {
      if (values === undefined && orLoad) {
        const loaded = load(captured);
        values ??= loaded;
        for (let i = 0; i < count; i++) {
          const name = names[i];
          const current = ownDescriptor(global, name);
          if (current !== undefined && hasOwn(current, "get") && current.get === getters[i] && current.configurable) {
            plain(name, values[name]);
          }
        }
      }
      return values;
    };
    // Each stand-in's getter is also its setter (called with no argument, it gets; with one, it
    // sets), and one descriptor serves them all, since `defineProperty` copies it: a function
    // and an object fewer per name were a quarter of the stand-ins' cost to every sandbox.
    const descriptor = { __proto__: null, get: undefined, set: undefined, enumerable: false, configurable: true };
    for (let i = 0; i < count; i++) {
      const name = names[i];
      const accessor = function (value) {
        if (arguments.length === 0) return loadAll()[name];
        plain(name, value);
      };
      getters[i] = accessor;
      descriptor.get = accessor;
      descriptor.set = accessor;
      defineProperty(global, name, descriptor);
    }
    return loadAll;
  }
})
