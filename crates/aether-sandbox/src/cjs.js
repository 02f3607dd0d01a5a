// CommonJS for plugins (SPEC §5): `module`, `exports`, `require`, `__filename`, `__dirname`.
// This file is one function expression, called once per step (on the first CommonJS or
// JSON module) with native helpers that only its closures keep; it returns
// `load(name, source)`, which runs the CommonJS module `name` once and returns its
// `module.exports` (the default export an ES module importing it gets).
//
// Nothing here is a security boundary: every `require` asks the host, which resolves it inside
// the plugin or refuses it with the `module` violation; this only keeps Node's semantics (one
// instance per file, a partial `exports` for a cycle, a failed module not cached).
(function (natives) {
  "use strict";
  const hostResolve = natives.resolve; // (id, referrer) -> [name, kind, source]
  const compile = natives.compile; // (source, name) -> function (exports, require, module, __filename, __dirname)
  const parseJson = natives.json; // (source, name) -> value
  const importSync = natives.importSync; // (name, source) -> namespace of an ES module
  const apply = Reflect.apply;
  const cache = new Map(); // name -> Module
  const resolved = new Map(); // referrer + "\0" + id -> [name, kind]
  const url = (name) => "aether-plugin:/" + name;
  const dirOf = (name) => {
    const i = name.lastIndexOf("/");
    return i < 0 ? "" : name.slice(0, i);
  };

  class Module {
    constructor(name) {
      this.id = url(name);
      this.filename = url(name);
      this.path = url(dirOf(name));
      this.exports = {};
      this.loaded = false;
      this.children = [];
      this.paths = [];
    }
  }

  function load(name, kind, source) {
    const cached = cache.get(name);
    if (cached !== undefined) {
      return cached.exports;
    }
    const module = new Module(name);
    cache.set(name, module);
    let done = false;
    try {
      if (kind === "json") {
        module.exports = parseJson(source, name);
      } else if (kind === "esm") {
        module.exports = importSync(name, source);
      } else {
        const wrapper = compile(source, name);
        const require = makeRequire(name);
        module.require = require;
        apply(wrapper, module.exports, [module.exports, require, module, module.filename, module.path]);
      }
      done = true;
    } finally {
      if (!done) {
        cache.delete(name);
      }
    }
    module.loaded = true;
    return module.exports;
  }

  function makeRequire(referrer) {
    function resolveId(id) {
      if (typeof id !== "string") {
        throw new TypeError(`require: the module id must be a string, not ${id === null ? "null" : typeof id}`);
      }
      if (id === "") {
        throw new TypeError("require: the module id must be a non-empty string");
      }
      try {
        return hostResolve(id, referrer);
      } catch (e) {
        // Packages probe optional dependencies with `try { require(x) } catch (e) { if
        // (e.code !== "MODULE_NOT_FOUND") throw e; }`: give a module that cannot be
        // required (refused or missing) Node's code too.
        if (e !== null && typeof e === "object" && (e.name === "PermissionDenied" || e.name === "TypeError") && e.code === undefined) {
          try {
            e.code = "MODULE_NOT_FOUND";
          } catch {}
        }
        throw e;
      }
    }
    const require = function require(id) {
      const key = referrer + "\0" + id;
      const known = resolved.get(key);
      if (known !== undefined && cache.has(known[0])) {
        return cache.get(known[0]).exports;
      }
      const found = resolveId(id);
      resolved.set(key, [found[0], found[1]]);
      return load(found[0], found[1], found[2]);
    };
    require.resolve = function resolve(id) {
      return url(resolveId(id)[0]);
    };
    return require;
  }

  return function loadForImport(name, source) {
    return load(name, "commonjs", source);
  };
})
