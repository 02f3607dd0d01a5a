// The JavaScript half of the `WebAssembly` global (see wasm.rs, which holds every wasmtime
// object and converts every value). Evaluated on first use of `WebAssembly`, with the native
// helpers; returns `{ WebAssembly }`. Nothing here is trusted for memory safety: wasm.rs checks
// every id and type it is given.
(function (natives) {
  "use strict";
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const ArrayBufferCtor = ArrayBuffer;
  const isView = ArrayBuffer.isView;
  const PromiseCtor = Promise;
  const TypeErrorCtor = TypeError;
  const ErrorCtor = Error;
  const ResponseCtor = globalThis.Response;

  class CompileError extends ErrorCtor {
    constructor(message) { super(message); }
  }
  class LinkError extends ErrorCtor {
    constructor(message) { super(message); }
  }
  class RuntimeError extends ErrorCtor {
    constructor(message) { super(message); }
  }
  for (const [C, name] of [[CompileError, "CompileError"], [LinkError, "LinkError"], [RuntimeError, "RuntimeError"]]) {
    defineProperty(C.prototype, "name", { __proto__: null, value: name, writable: true, enumerable: false, configurable: true });
  }

  // Ids of the wrappers handed out: an exported function's, a Memory's, a Table's, a Global's.
  const ids = new WeakMap();
  const idOf = (value, kind) => {
    const entry = (typeof value === "object" || typeof value === "function") && value !== null ? ids.get(value) : undefined;
    return entry !== undefined && (kind === undefined || entry.kind === kind) ? entry.id : undefined;
  };

  // Imported JavaScript functions, by host-function index (wasm.rs numbers them in creation
  // order: one per function import given as a JavaScript function).
  const hostFunctions = [];
  function dispatch(index, args) {
    const f = hostFunctions[index];
    return f(...args);
  }
  dispatch.idOf = (value) => idOf(value, "function");
  natives.init(dispatch, { CompileError, LinkError, RuntimeError });

  // Exported functions, by id: the same wrapper each time.
  const functions = [];
  function wrapFunction(id) {
    let f = functions[id];
    if (f === undefined) {
      const call = natives.call;
      f = (...args) => call(id, ...args);
      defineProperty(f, "name", { __proto__: null, value: String(id), configurable: true });
      defineProperty(f, "length", { __proto__: null, value: natives.funcLength(id), configurable: true });
      functions[id] = f;
      ids.set(f, { kind: "function", id });
    }
    return f;
  }
  const toJs = (value) => (Array.isArray(value) && value[0] === "func" ? wrapFunction(value[1]) : value);
  const fromJs = (value) => value;

  function bytesOf(source) {
    if (source instanceof ArrayBufferCtor) return new Uint8Array(source);
    if (isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    throw new TypeErrorCtor("WebAssembly takes the module's bytes as an ArrayBuffer or a typed array");
  }

  const moduleIds = new WeakMap();
  class Module {
    constructor(bytes) {
      if (new.target === undefined) throw new TypeErrorCtor("WebAssembly.Module must be called with new");
      moduleIds.set(this, natives.compile(bytesOf(bytes)));
    }
    static exports(module) {
      return natives.moduleExports(moduleId(module)).map(([name, kind]) => ({ name, kind }));
    }
    static imports(module) {
      return natives.moduleImports(moduleId(module)).map(([module, name, kind]) => ({ module, name, kind }));
    }
    static customSections(module, name) {
      if (name === undefined) throw new TypeErrorCtor("WebAssembly.Module.customSections needs a section name");
      return natives.customSections(moduleId(module), String(name));
    }
  }
  function moduleId(module) {
    const id = moduleIds.get(module);
    if (id === undefined) throw new TypeErrorCtor("not a WebAssembly.Module");
    return id;
  }

  class Instance {
    constructor(module, importObject = undefined) {
      if (new.target === undefined) throw new TypeErrorCtor("WebAssembly.Instance must be called with new");
      const id = moduleId(module);
      const imports = natives.moduleImports(id);
      if (imports.length > 0 && (importObject === undefined || importObject === null || typeof importObject !== "object" && typeof importObject !== "function")) {
        throw new TypeErrorCtor("WebAssembly.Instance: the module has imports but no import object was given");
      }
      const given = [];
      for (const [moduleName, name, kind] of imports) {
        const namespace = importObject[moduleName];
        if (namespace === null || typeof namespace !== "object" && typeof namespace !== "function") {
          throw new TypeErrorCtor(`WebAssembly.Instance: import module \`${moduleName}\` is not an object`);
        }
        const value = namespace[name];
        given.push(importValue(moduleName, name, kind, value));
      }
      const exportsObject = Object.create(null);
      for (const [name, kind, eid] of natives.instantiate(id, given)) {
        exportsObject[name] = wrapExport(kind, eid);
      }
      defineProperty(this, "exports", { __proto__: null, value: freeze(exportsObject), enumerable: true, configurable: false, writable: false });
    }
  }

  function importValue(moduleName, name, kind, value) {
    const where = `import \`${moduleName}\`.\`${name}\``;
    switch (kind) {
      case "function": {
        const id = idOf(value, "function");
        if (id !== undefined) return id;
        if (typeof value !== "function") throw new LinkError(`${where} must be a function`);
        hostFunctions.push(value);
        return { host: hostFunctions.length - 1 };
      }
      case "memory": {
        const id = idOf(value, "memory");
        if (id === undefined) throw new LinkError(`${where} must be a WebAssembly.Memory`);
        return id;
      }
      case "table": {
        const id = idOf(value, "table");
        if (id === undefined) throw new LinkError(`${where} must be a WebAssembly.Table`);
        return id;
      }
      case "global": {
        const id = idOf(value, "global");
        if (id !== undefined) return { global: id };
        if (typeof value !== "number" && typeof value !== "bigint") {
          throw new LinkError(`${where} must be a number, a BigInt or a WebAssembly.Global`);
        }
        return value;
      }
      default:
        throw new LinkError(`${where}: ${kind} imports are not supported`);
    }
  }

  function wrapExport(kind, id) {
    switch (kind) {
      case "function": return wrapFunction(id);
      case "memory": return wrap(Memory, "memory", id);
      case "table": return wrap(Table, "table", id);
      case "global": return wrap(Global, "global", id);
      default: return undefined;
    }
  }
  // One wrapper object per id.
  const wrappers = [];
  function wrap(C, kind, id) {
    let w = wrappers[id];
    if (w === undefined) {
      w = Object.create(C.prototype);
      ids.set(w, { kind, id });
      wrappers[id] = w;
    }
    return w;
  }
  function own(value, kind, what) {
    const id = idOf(value, kind);
    if (id === undefined) throw new TypeErrorCtor(`not a WebAssembly.${what}`);
    return id;
  }
  function index(value, what) {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > 0xffffffff) throw new TypeErrorCtor(`${what} must be an integer from 0 to 2^32-1`);
    return Math.trunc(n);
  }

  class Memory {
    constructor(descriptor) {
      if (new.target === undefined) throw new TypeErrorCtor("WebAssembly.Memory must be called with new");
      if (descriptor === null || typeof descriptor !== "object") throw new TypeErrorCtor("WebAssembly.Memory takes a descriptor object");
      if (descriptor.shared) throw new TypeErrorCtor("WebAssembly.Memory: shared memories are not supported");
      const initial = index(descriptor.initial, "initial");
      const maximum = descriptor.maximum === undefined ? undefined : index(descriptor.maximum, "maximum");
      const id = natives.memoryNew(initial, maximum);
      ids.set(this, { kind: "memory", id });
      wrappers[id] = this;
    }
    get buffer() {
      return natives.memoryBuffer(own(this, "memory", "Memory"));
    }
    grow(delta) {
      return natives.memoryGrow(own(this, "memory", "Memory"), index(delta, "delta"));
    }
  }

  class Table {
    constructor(descriptor, value = undefined) {
      if (new.target === undefined) throw new TypeErrorCtor("WebAssembly.Table must be called with new");
      if (descriptor === null || typeof descriptor !== "object") throw new TypeErrorCtor("WebAssembly.Table takes a descriptor object");
      const element = String(descriptor.element);
      const initial = index(descriptor.initial, "initial");
      const maximum = descriptor.maximum === undefined ? undefined : index(descriptor.maximum, "maximum");
      const id = natives.tableNew(element, initial, maximum, fromJs(value));
      ids.set(this, { kind: "table", id });
      wrappers[id] = this;
    }
    get length() {
      return natives.tableLength(own(this, "table", "Table"));
    }
    get(i) {
      return toJs(natives.tableGet(own(this, "table", "Table"), index(i, "index")));
    }
    set(i, value = null) {
      natives.tableSet(own(this, "table", "Table"), index(i, "index"), fromJs(value));
    }
    grow(delta, value = undefined) {
      return natives.tableGrow(own(this, "table", "Table"), index(delta, "delta"), fromJs(value));
    }
  }

  class Global {
    constructor(descriptor, value = undefined) {
      if (new.target === undefined) throw new TypeErrorCtor("WebAssembly.Global must be called with new");
      if (descriptor === null || typeof descriptor !== "object") throw new TypeErrorCtor("WebAssembly.Global takes a descriptor object");
      const id = natives.globalNew(String(descriptor.value), Boolean(descriptor.mutable), fromJs(value));
      ids.set(this, { kind: "global", id });
      wrappers[id] = this;
    }
    get value() {
      return toJs(natives.globalGet(own(this, "global", "Global")));
    }
    set value(v) {
      natives.globalSet(own(this, "global", "Global"), fromJs(v));
    }
    valueOf() {
      return this.value;
    }
  }

  for (const C of [Module, Instance, Memory, Table, Global]) {
    defineProperty(C.prototype, Symbol.toStringTag, { __proto__: null, value: `WebAssembly.${C.name}`, configurable: true });
  }

  // The asynchronous API: compiled at once, settled as a job (the work is done on the engine
  // thread; the step's deadline covers it like any other code).
  const later = (f) => new PromiseCtor((resolve) => resolve()).then(f);
  function compile(bytes) {
    return later(() => new Module(bytes));
  }
  function instantiate(source, importObject = undefined) {
    if (moduleIds.has(source)) return later(() => new Instance(source, importObject));
    return later(() => {
      const module = new Module(source);
      const instance = new Instance(module, importObject);
      return { module, instance };
    });
  }
  async function responseBytes(source) {
    const response = await source;
    if (ResponseCtor === undefined || !(response instanceof ResponseCtor)) {
      throw new TypeErrorCtor("WebAssembly streaming compilation takes a Response (or a promise of one)");
    }
    const type = response.headers.get("content-type");
    if (type === null || type.split(";")[0].trim().toLowerCase() !== "application/wasm") {
      throw new TypeErrorCtor("WebAssembly streaming compilation needs a response with content-type application/wasm");
    }
    if (!response.ok) throw new TypeErrorCtor(`WebAssembly streaming compilation got HTTP status ${response.status}`);
    return response.arrayBuffer();
  }
  function compileStreaming(source) {
    return responseBytes(source).then((bytes) => new Module(bytes));
  }
  function instantiateStreaming(source, importObject = undefined) {
    return responseBytes(source).then((bytes) => {
      const module = new Module(bytes);
      const instance = new Instance(module, importObject);
      return { module, instance };
    });
  }
  function validate(bytes) {
    return natives.validate(bytesOf(bytes));
  }

  const WebAssembly = {};
  const methods = { compile, instantiate, compileStreaming, instantiateStreaming, validate };
  for (const name of Object.keys(methods)) {
    defineProperty(WebAssembly, name, { __proto__: null, value: methods[name], writable: true, enumerable: false, configurable: true });
  }
  const classes = { Module, Instance, Memory, Table, Global, CompileError, LinkError, RuntimeError };
  for (const name of Object.keys(classes)) {
    defineProperty(WebAssembly, name, { __proto__: null, value: classes[name], writable: true, enumerable: false, configurable: true });
  }
  defineProperty(WebAssembly, Symbol.toStringTag, { __proto__: null, value: "WebAssembly", configurable: true });
  return { WebAssembly };
})
