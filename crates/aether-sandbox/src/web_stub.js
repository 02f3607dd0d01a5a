// Stand-ins for the web globals of web.js (see web.rs): each name is an accessor on the global
// object that evaluates web.js on first use, as stub.js does for the prelude's classes, so a
// sandbox that never touches them does not pay for parsing or building them.
//
// Called once with the native helpers, `load` (which evaluates web.js with them and returns
// `{ name: value }`) and the names; only its closures keep them.
(function (natives, load, names) {
  "use strict";
  const global = globalThis;
  const defineProperty = Object.defineProperty;
  const ownDescriptor = Object.getOwnPropertyDescriptor;
  const hasOwn = Object.hasOwn;
  const count = names.length;
  // web.js loads after plugin code has run: nothing here reads a property the plugin could
  // have put on a prototype (descriptors have none; `names` is walked by index).
  const plain = (name, value) =>
    defineProperty(global, name, { __proto__: null, value, writable: true, enumerable: false, configurable: true });
  const getters = { __proto__: null };
  let values;
  const loadAll = () => {
    if (values === undefined) {
      // A getter the plugin replaced can run while web.js loads and load it again; the first
      // load to finish wins, and every stand-in still in place becomes its value.
      const loaded = load(natives);
      values ??= loaded;
      for (let i = 0; i < count; i++) {
        const name = names[i];
        const current = ownDescriptor(global, name);
        if (current !== undefined && hasOwn(current, "get") && current.get === getters[name] && current.configurable) {
          plain(name, values[name]);
        }
      }
    }
    return values;
  };
  for (let i = 0; i < count; i++) {
    const name = names[i];
    const get = () => loadAll()[name];
    getters[name] = get;
    defineProperty(global, name, {
      __proto__: null,
      get,
      set: (value) => plain(name, value),
      enumerable: false,
      configurable: true,
    });
  }
})
