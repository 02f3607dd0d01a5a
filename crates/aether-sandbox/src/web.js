// The web globals of web.rs, loaded when one of them is first used (lazy.rs lists them; stub.js
// loads this). One function expression, called once with the native helpers (which only its
// closures keep); returns the globals as `{ name: value }` (a global listed in lazy.rs with
// source web.js must be a property here).
//
// Nothing here is a security boundary: no native helper it uses reaches the host. A plugin
// that tampers with built-in prototypes only confuses itself.
(function (natives) {
  "use strict";
  const urlParse = natives.urlParse;
  const urlSet = natives.urlSet;
  const formParse = natives.formParse;
  const formSerialize = natives.formSerialize;
  const random = natives.random;
  const hostDigest = natives.digest;
  const hostHmac = natives.hmac;
  const hostHmacVerify = natives.hmacVerify;
  const aesGcmSeal = natives.aesGcmSeal;
  const aesGcmOpen = natives.aesGcmOpen;
  const ed25519Public = natives.ed25519Public;
  const ed25519Sign = natives.ed25519Sign;
  const ed25519Verify = natives.ed25519Verify;
  const now = natives.now;
  const timeOrigin = natives.timeOrigin;
  const userAgent = natives.userAgent;
  const logError = natives.logError;
  const setTimeout = natives.setTimeout;
  const clearTimeout = natives.clearTimeout;
  const callMark = natives.callMark;
  const abandonCalls = natives.abandonCalls;
  const promiseThen = Promise.prototype.then;
  const utf8Encode = natives.utf8Encode;
  const utf8Decode = natives.utf8Decode;
  const urlPatternParse = natives.urlPatternParse;
  const urlPatternMatchInput = natives.urlPatternMatchInput;
  const headersClass = natives.Headers;
  // stub.js's loader of streams.rs's globals, and whether they are loaded (a stream body can
  // exist only once they are).
  const streamsOf = natives.streams;
  const streamsLoaded = natives.streamsLoaded;
  const apply = Reflect.apply;
  const ownKeys = Reflect.ownKeys;
  const defineProperty = Object.defineProperty;
  const ownDescriptor = Object.getOwnPropertyDescriptor;
  const getPrototypeOf = Object.getPrototypeOf;
  const isArray = Array.isArray;
  const isView = ArrayBuffer.isView;
  const U8 = Uint8Array;
  const AB = ArrayBuffer;
  const toWellFormed = String.prototype.toWellFormed;
  // WebIDL USVString: a Symbol throws a TypeError, lone surrogates become U+FFFD.
  const usv = (value) => apply(toWellFormed, `${value}`, []);
  const required = (given, count, who) => {
    if (given < count) {
      throw new TypeError(`${who}: ${count} argument${count === 1 ? "" : "s"} required, but only ${given} present`);
    }
  };
  const tag = (Class, name) =>
    defineProperty(Class.prototype, Symbol.toStringTag, { __proto__: null, value: name, configurable: true });

  // --- DOMException (WebIDL §3.14.1) ------------------------------------------------------
  // The legacy codes, by name; names not listed have code 0.
  const LEGACY = [
    ["IndexSizeError", "INDEX_SIZE_ERR", 1],
    [null, "DOMSTRING_SIZE_ERR", 2],
    ["HierarchyRequestError", "HIERARCHY_REQUEST_ERR", 3],
    ["WrongDocumentError", "WRONG_DOCUMENT_ERR", 4],
    ["InvalidCharacterError", "INVALID_CHARACTER_ERR", 5],
    [null, "NO_DATA_ALLOWED_ERR", 6],
    ["NoModificationAllowedError", "NO_MODIFICATION_ALLOWED_ERR", 7],
    ["NotFoundError", "NOT_FOUND_ERR", 8],
    ["NotSupportedError", "NOT_SUPPORTED_ERR", 9],
    ["InUseAttributeError", "INUSE_ATTRIBUTE_ERR", 10],
    ["InvalidStateError", "INVALID_STATE_ERR", 11],
    ["SyntaxError", "SYNTAX_ERR", 12],
    ["InvalidModificationError", "INVALID_MODIFICATION_ERR", 13],
    ["NamespaceError", "NAMESPACE_ERR", 14],
    ["InvalidAccessError", "INVALID_ACCESS_ERR", 15],
    [null, "VALIDATION_ERR", 16],
    ["TypeMismatchError", "TYPE_MISMATCH_ERR", 17],
    ["SecurityError", "SECURITY_ERR", 18],
    ["NetworkError", "NETWORK_ERR", 19],
    ["AbortError", "ABORT_ERR", 20],
    ["URLMismatchError", "URL_MISMATCH_ERR", 21],
    ["QuotaExceededError", "QUOTA_EXCEEDED_ERR", 22],
    ["TimeoutError", "TIMEOUT_ERR", 23],
    ["InvalidNodeTypeError", "INVALID_NODE_TYPE_ERR", 24],
    ["DataCloneError", "DATA_CLONE_ERR", 25],
  ];
  const CODES = { __proto__: null };
  for (const [name, , code] of LEGACY) if (name !== null) CODES[name] = code;

  let isDOMException;
  class DOMException extends Error {
    #name;
    #message;
    constructor(message = "", options = "Error") {
      // No argument to Error: `message` stays an accessor of the prototype, as WebIDL has it.
      super();
      this.#message = `${message}`;
      if (options !== null && typeof options === "object") {
        const { name, cause } = options;
        this.#name = name === undefined ? "Error" : `${name}`;
        if ("cause" in options) {
          defineProperty(this, "cause", { __proto__: null, value: cause, writable: true, configurable: true });
        }
      } else {
        this.#name = `${options}`;
      }
    }
    get name() {
      return this.#name;
    }
    get message() {
      return this.#message;
    }
    get code() {
      return CODES[this.#name] ?? 0;
    }
    static {
      isDOMException = (value) => #name in value;
    }
  }
  for (const [, constant, code] of LEGACY) {
    const descriptor = { __proto__: null, value: code, enumerable: true };
    defineProperty(DOMException, constant, descriptor);
    defineProperty(DOMException.prototype, constant, descriptor);
  }
  tag(DOMException, "DOMException");
  // WebIDL attributes are enumerable (a record conversion of DOMException.prototype then reads
  // them, and their brand check throws, as in browsers).
  for (const name of ["name", "message", "code"]) {
    defineProperty(DOMException.prototype, name, { __proto__: null, enumerable: true });
  }

  // --- structuredClone (HTML §2.7, StructuredSerialize/Deserialize in one pass) ------------
  // Brand checks through the built-ins' own getters, which throw for any other object (a
  // plugin can fake `Symbol.toStringTag` or a prototype, not an internal slot).
  const getter = (prototype, name) => ownDescriptor(prototype, name).get;
  const TypedArrayPrototype = getPrototypeOf(U8.prototype);
  const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag);
  const typedArrayBuffer = getter(TypedArrayPrototype, "buffer");
  const typedArrayOffset = getter(TypedArrayPrototype, "byteOffset");
  const typedArrayLength = getter(TypedArrayPrototype, "length");
  const typedArrayByteLength = getter(TypedArrayPrototype, "byteLength");
  const dataViewBuffer = getter(DataView.prototype, "buffer");
  const dataViewOffset = getter(DataView.prototype, "byteOffset");
  const dataViewLength = getter(DataView.prototype, "byteLength");
  const bufferLength = getter(AB.prototype, "byteLength");
  const bufferSlice = AB.prototype.slice;
  const bufferDetached = getter(AB.prototype, "detached");
  const bufferTransfer = AB.prototype.transfer;
  const symbolValue = Symbol.prototype.valueOf;
  const mapSize = getter(Map.prototype, "size");
  const setSize = getter(Set.prototype, "size");
  const mapEntries = Map.prototype.entries;
  const setValues = Set.prototype.values;
  const mapSet = Map.prototype.set;
  const mapGet = Map.prototype.get;
  const mapHas = Map.prototype.has;
  const setAdd = Set.prototype.add;
  const dateValue = Date.prototype.getTime;
  const regExpSource = getter(RegExp.prototype, "source");
  const regExpFlags = getter(RegExp.prototype, "flags");
  const booleanValue = Boolean.prototype.valueOf;
  const numberValue = Number.prototype.valueOf;
  const stringValue = String.prototype.valueOf;
  const bigintValue = BigInt.prototype.valueOf;
  const TYPED_ARRAYS = {
    __proto__: null,
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  };
  if (typeof Float16Array === "function") TYPED_ARRAYS.Float16Array = Float16Array;
  const ERRORS = {
    __proto__: null,
    Error,
    EvalError,
    RangeError,
    ReferenceError,
    SyntaxError,
    TypeError,
    URIError,
  };
  const is = (method, value) => {
    try {
      apply(method, value, []);
      return true;
    } catch {
      return false;
    }
  };
  const uncloneable = (what) => new DOMException(`${what} could not be cloned`, "DataCloneError");

  function structuredClone(value, options = undefined) {
    required(arguments.length, 1, "structuredClone");
    const memory = new Map();
    const remember = (from, to) => {
      apply(mapSet, memory, [from, to]);
      return to;
    };
    // HTML StructuredSerializeWithTransfer, for ArrayBuffers (the only transferable here): each
    // is cloned into a buffer made up front, then detached.
    const transferred = [];
    const transfer = options === undefined || options === null ? undefined : options.transfer;
    if (transfer !== undefined) {
      for (const item of transfer) {
        if (!is(bufferLength, item)) throw uncloneable("a transfer list item that is not an ArrayBuffer");
        if (apply(mapHas, memory, [item])) throw uncloneable("an ArrayBuffer listed twice for transfer");
        if (apply(bufferDetached, item, [])) throw uncloneable("a detached ArrayBuffer");
        transferred.push(item);
        remember(item, new AB(apply(bufferLength, item, [])));
      }
    }
    const clone = (v) => {
      const type = typeof v;
      if (type === "symbol") throw uncloneable(`the symbol ${apply(Symbol.prototype.toString, v, [])}`);
      if (type === "function") throw uncloneable(`the function ${v.name || "(anonymous)"}`);
      if (v === null || type !== "object") return v;
      if (apply(mapHas, memory, [v])) return apply(mapGet, memory, [v]);
      if (is(booleanValue, v)) return remember(v, new Boolean(apply(booleanValue, v, [])));
      if (is(numberValue, v)) return remember(v, new Number(apply(numberValue, v, [])));
      if (is(stringValue, v)) return remember(v, new String(apply(stringValue, v, [])));
      if (is(bigintValue, v)) return remember(v, Object(apply(bigintValue, v, [])));
      if (is(symbolValue, v)) throw uncloneable("a Symbol object");
      if (is(dateValue, v)) return remember(v, new Date(apply(dateValue, v, [])));
      if (is(regExpSource, v) && v !== RegExp.prototype) {
        return remember(v, new RegExp(apply(regExpSource, v, []), apply(regExpFlags, v, [])));
      }
      if (is(bufferLength, v)) return remember(v, apply(bufferSlice, v, [0]));
      if (isView(v)) {
        if (is(dataViewLength, v)) {
          const buffer = clone(apply(dataViewBuffer, v, []));
          return remember(v, new DataView(buffer, apply(dataViewOffset, v, []), apply(dataViewLength, v, [])));
        }
        const Typed = TYPED_ARRAYS[apply(typedArrayTag, v, [])];
        if (Typed === undefined) throw uncloneable("this typed array");
        const buffer = clone(apply(typedArrayBuffer, v, []));
        return remember(v, new Typed(buffer, apply(typedArrayOffset, v, []), apply(typedArrayLength, v, [])));
      }
      if (is(mapSize, v)) {
        const copy = remember(v, new Map());
        const entries = [...apply(mapEntries, v, [])];
        for (const [key, item] of entries) apply(mapSet, copy, [clone(key), clone(item)]);
        return copy;
      }
      if (is(setSize, v)) {
        const copy = remember(v, new Set());
        const items = [...apply(setValues, v, [])];
        for (const item of items) apply(setAdd, copy, [clone(item)]);
        return copy;
      }
      if (isDOMException(v)) {
        return remember(v, new DOMException(v.message, v.name));
      }
      // HTML: Blob and File are serializable (their bytes are immutable, so a copy shares them).
      if (isBlob(v)) {
        const type = apply(getter(Blob.prototype, "type"), v, []);
        if (isFile(v)) {
          const name = apply(getter(File.prototype, "name"), v, []);
          const lastModified = apply(getter(File.prototype, "lastModified"), v, []);
          return remember(v, new File([v], name, { type, lastModified }));
        }
        return remember(v, new Blob([v], { type }));
      }
      if (v instanceof Error) {
        const name = v.name;
        const Kind = (typeof name === "string" && ERRORS[name]) || Error;
        const copy = remember(v, new Kind());
        const message = ownDescriptor(v, "message");
        if (message !== undefined && "value" in message) {
          defineProperty(copy, "message", { __proto__: null, value: `${message.value}`, writable: true, configurable: true });
        }
        const stack = ownDescriptor(v, "stack");
        if (stack !== undefined && "value" in stack && typeof stack.value === "string") {
          defineProperty(copy, "stack", { __proto__: null, value: stack.value, writable: true, configurable: true });
        }
        const cause = ownDescriptor(v, "cause");
        if (cause !== undefined && "value" in cause) {
          defineProperty(copy, "cause", { __proto__: null, value: clone(cause.value), writable: true, configurable: true });
        }
        return copy;
      }
      if (v instanceof Promise) throw uncloneable("a Promise");
      if (v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) throw uncloneable("a weak collection");
      const copy = remember(v, isArray(v) ? new Array(v.length) : {});
      for (const key of ownKeys(v)) {
        if (typeof key === "symbol") continue;
        const descriptor = ownDescriptor(v, key);
        if (descriptor === undefined || !descriptor.enumerable) continue;
        defineProperty(copy, key, {
          __proto__: null,
          value: clone(v[key]),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      return copy;
    };
    const result = clone(value);
    for (const buffer of transferred) {
      new U8(apply(mapGet, memory, [buffer])).set(new U8(buffer));
      apply(bufferTransfer, buffer, []);
    }
    return result;
  }

  // --- URLSearchParams (WHATWG URL §6.2) ----------------------------------------------------
  let linkedParams;
  let resetParams;
  let isParams;
  class URLSearchParams {
    #list = [];
    // The linked URL's update (WHATWG "update steps"), or null.
    #update = null;
    constructor(init = "") {
      if (init !== null && (typeof init === "object" || typeof init === "function")) {
        const iterator = init[Symbol.iterator];
        if (iterator !== undefined && iterator !== null) {
          if (typeof iterator !== "function") throw new TypeError("URLSearchParams: init[Symbol.iterator] is not a function");
          for (const pair of init) {
            if (pair === null || (typeof pair !== "object" && typeof pair !== "function")) {
              throw new TypeError("URLSearchParams: each pair must be a sequence of a name and a value");
            }
            const items = [...pair];
            if (items.length !== 2) throw new TypeError("URLSearchParams: each pair must have exactly two items");
            this.#list.push([usv(items[0]), usv(items[1])]);
          }
        } else {
          for (const key of ownKeys(init)) {
            const descriptor = ownDescriptor(init, key);
            if (descriptor !== undefined && descriptor.enumerable) this.#list.push([usv(key), usv(init[key])]);
          }
        }
      } else {
        let text = usv(init);
        if (text[0] === "?") text = text.slice(1);
        this.#list = formParse(text);
      }
    }
    #changed() {
      if (this.#update !== null) this.#update(formSerialize(this.#list));
    }
    get size() {
      return this.#list.length;
    }
    append(name, value) {
      required(arguments.length, 2, "URLSearchParams.append");
      this.#list.push([usv(name), usv(value)]);
      this.#changed();
    }
    delete(name, value = undefined) {
      required(arguments.length, 1, "URLSearchParams.delete");
      const key = usv(name);
      if (value === undefined) {
        this.#list = this.#list.filter((entry) => entry[0] !== key);
      } else {
        const text = usv(value);
        this.#list = this.#list.filter((entry) => entry[0] !== key || entry[1] !== text);
      }
      this.#changed();
    }
    get(name) {
      required(arguments.length, 1, "URLSearchParams.get");
      const key = usv(name);
      const entry = this.#list.find((e) => e[0] === key);
      return entry === undefined ? null : entry[1];
    }
    getAll(name) {
      required(arguments.length, 1, "URLSearchParams.getAll");
      const key = usv(name);
      return this.#list.filter((e) => e[0] === key).map((e) => e[1]);
    }
    has(name, value = undefined) {
      required(arguments.length, 1, "URLSearchParams.has");
      const key = usv(name);
      if (value === undefined) return this.#list.some((e) => e[0] === key);
      const text = usv(value);
      return this.#list.some((e) => e[0] === key && e[1] === text);
    }
    set(name, value) {
      required(arguments.length, 2, "URLSearchParams.set");
      const key = usv(name);
      const text = usv(value);
      const index = this.#list.findIndex((e) => e[0] === key);
      if (index === -1) {
        this.#list.push([key, text]);
      } else {
        this.#list[index] = [key, text];
        this.#list = this.#list.filter((e, i) => i <= index || e[0] !== key);
      }
      this.#changed();
    }
    sort() {
      // Stable, by UTF-16 code units (what `<` compares).
      this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.#changed();
    }
    toString() {
      return formSerialize(this.#list);
    }
    // Live, as WebIDL's pair iterators are: an entry added while iterating is visited.
    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]];
    }
    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }
    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: the callback must be a function");
      for (let i = 0; i < this.#list.length; i++) apply(callback, thisArg, [this.#list[i][1], this.#list[i][0], this]);
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    static {
      linkedParams = (search, update) => {
        const params = new URLSearchParams(search);
        params.#update = update;
        return params;
      };
      resetParams = (params, search) => {
        params.#list = search === "" ? [] : formParse(search.slice(1));
      };
      isParams = (value) => value !== null && typeof value === "object" && #update in value;
    }
  }
  tag(URLSearchParams, "URLSearchParams");

  // --- URL (WHATWG URL §6.1), parsed and updated by the `url` crate --------------------------
  // Indexes into the components urlParse/urlSet return.
  const HREF = 0;
  const ORIGIN = 1;
  const PROTOCOL = 2;
  const USERNAME = 3;
  const PASSWORD = 4;
  const HOST = 5;
  const HOSTNAME = 6;
  const PORT = 7;
  const PATHNAME = 8;
  const SEARCH = 9;
  const HASH = 10;
  const parse = (url, base) => (base === undefined ? urlParse(usv(url)) : urlParse(usv(url), usv(base)));

  class URL {
    #c;
    #params = null;
    constructor(url, base = undefined) {
      required(arguments.length, 1, "URL");
      const c = parse(url, base);
      if (c === undefined) {
        const error = new TypeError(base === undefined ? `Invalid URL: ${usv(url)}` : `Invalid URL: ${usv(url)} (base ${usv(base)})`);
        // Node.js's code for it, which libraries test for.
        error.code = "ERR_INVALID_URL";
        throw error;
      }
      this.#c = c;
    }
    static canParse(url, base = undefined) {
      required(arguments.length, 1, "URL.canParse");
      return parse(url, base) !== undefined;
    }
    static parse(url, base = undefined) {
      required(arguments.length, 1, "URL.parse");
      return parse(url, base) === undefined ? null : new URL(url, base);
    }
    #set(attribute, value) {
      const c = urlSet(this.#c[HREF], attribute, usv(value));
      if (c === undefined) return false;
      this.#c = c;
      if (this.#params !== null) resetParams(this.#params, c[SEARCH]);
      return true;
    }
    get href() {
      return this.#c[HREF];
    }
    set href(value) {
      if (!this.#set("href", value)) throw new TypeError(`Invalid URL: ${usv(value)}`);
    }
    get origin() {
      return this.#c[ORIGIN];
    }
    get protocol() {
      return this.#c[PROTOCOL];
    }
    set protocol(value) {
      this.#set("protocol", value);
    }
    get username() {
      return this.#c[USERNAME];
    }
    set username(value) {
      this.#set("username", value);
    }
    get password() {
      return this.#c[PASSWORD];
    }
    set password(value) {
      this.#set("password", value);
    }
    get host() {
      return this.#c[HOST];
    }
    set host(value) {
      this.#set("host", value);
    }
    get hostname() {
      return this.#c[HOSTNAME];
    }
    set hostname(value) {
      this.#set("hostname", value);
    }
    get port() {
      return this.#c[PORT];
    }
    set port(value) {
      this.#set("port", value);
    }
    get pathname() {
      return this.#c[PATHNAME];
    }
    set pathname(value) {
      this.#set("pathname", value);
    }
    get search() {
      return this.#c[SEARCH];
    }
    set search(value) {
      this.#set("search", value);
    }
    get searchParams() {
      // The query changes through the params without re-parsing them (WHATWG "update steps").
      this.#params ??= linkedParams(this.#c[SEARCH], (serialized) => {
        const c = urlSet(this.#c[HREF], "search", serialized);
        if (c !== undefined) this.#c = c;
      });
      return this.#params;
    }
    get hash() {
      return this.#c[HASH];
    }
    set hash(value) {
      this.#set("hash", value);
    }
    toString() {
      return this.#c[HREF];
    }
    toJSON() {
      return this.#c[HREF];
    }
  }
  tag(URL, "URL");

  // --- crypto (WebCrypto): random values and digests ------------------------------------------
  const MAX_RANDOM_BYTES = 65536;
  const INTEGER_ARRAYS = [
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "BigInt64Array",
    "BigUint64Array",
  ];
  const HEX = [];
  for (let i = 0; i < 256; i++) HEX.push((i + 256).toString(16).slice(1));
  // SHA names as WebCrypto normalizes them (ASCII case-insensitive).
  const DIGESTS = { __proto__: null, "sha-1": "SHA-1", "sha-256": "SHA-256", "sha-384": "SHA-384", "sha-512": "SHA-512" };
  const bufferSource = (data, who) => {
    if (isView(data)) {
      if (is(dataViewLength, data)) {
        return new U8(apply(dataViewBuffer, data, []), apply(dataViewOffset, data, []), apply(dataViewLength, data, []));
      }
      return new U8(apply(typedArrayBuffer, data, []), apply(typedArrayOffset, data, []), apply(typedArrayByteLength, data, []));
    }
    if (is(bufferLength, data)) return new U8(data);
    throw new TypeError(`${who}: the data must be an ArrayBuffer or a view of one`);
  };

  // --- CryptoKey and HMAC (WebCrypto §29): the key's bytes stay in this heap ---------------
  const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const base64url = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
      const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
      for (let j = 0; j < chars; j++) text += B64URL[(n >> (18 - 6 * j)) & 63];
    }
    return text;
  };
  const fromBase64url = (text, who) => {
    if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
      throw new DOMException(`${who}: the JWK's "k" is not base64url`, "DataError");
    }
    const bytes = new U8(Math.floor((text.length * 6) / 8));
    let buffer = 0;
    let bits = 0;
    let at = 0;
    for (let i = 0; i < text.length; i++) {
      buffer = ((buffer << 6) | B64URL.indexOf(text[i])) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes[at++] = (buffer >> bits) & 0xff;
      }
    }
    return bytes;
  };
  const HMAC_BLOCK_BITS = { __proto__: null, "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
  const HMAC_JWK_ALG = { __proto__: null, "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };
  const algorithmName = (algorithm, who) => {
    const name = algorithm !== null && typeof algorithm === "object" ? algorithm.name : algorithm;
    if (name === undefined) throw new TypeError(`${who}: the algorithm must have a name`);
    return usv(name);
  };
  const unsupported = (algorithm, who) =>
    new DOMException(
      `${who}: the algorithm "${algorithmName(algorithm, who)}" is not supported here`,
      "NotSupportedError",
    );
  // The key algorithms, by their names in lower case.
  const KEY_ALGORITHMS = { __proto__: null, hmac: "HMAC", "aes-gcm": "AES-GCM", ed25519: "Ed25519" };
  const keyAlgorithm = (algorithm, who) => {
    const name = KEY_ALGORITHMS[algorithmName(algorithm, who).toLowerCase()];
    if (name === undefined) throw unsupported(algorithm, who);
    return name;
  };
  const AES_JWK_ALG = { __proto__: null, 128: "A128GCM", 192: "A192GCM", 256: "A256GCM" };
  const USAGES = {
    __proto__: null,
    HMAC: ["sign", "verify"],
    "AES-GCM": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    Ed25519: ["sign", "verify"],
    "Ed25519 public": ["verify"],
    "Ed25519 private": ["sign"],
  };
  const hmacParams = (algorithm, who) => {
    if (algorithm === null || typeof algorithm !== "object") throw new TypeError(`${who}: HMAC's parameters must be an object`);
    if (algorithm.hash === undefined) throw new TypeError(`${who}: HMAC's parameters must name a hash`);
    const hash = DIGESTS[algorithmName(algorithm.hash, who).toLowerCase()];
    if (hash === undefined) throw new DOMException(`${who}: unrecognized hash "${algorithmName(algorithm.hash, who)}"`, "NotSupportedError");
    let length = algorithm.length;
    if (length !== undefined) {
      length = Number(length);
      if (!Number.isInteger(length) || length < 0 || length > 0xffffffff) {
        throw new TypeError(`${who}: HMAC's length must be a whole number of bits`);
      }
    }
    return { hash, length };
  };
  const keyUsages = (usages, name, who) => {
    const list = [];
    const allowed = USAGES[name];
    for (const usage of usages) {
      const text = `${usage}`;
      if (!allowed.includes(text)) {
        throw new DOMException(`${who}: an ${name} key can only ${allowed.join(" and ")}, not "${text}"`, "SyntaxError");
      }
      if (!list.includes(text)) list.push(text);
    }
    if (list.length === 0 && !name.endsWith(" public")) {
      throw new DOMException(`${who}: a secret or private key needs at least one usage`, "SyntaxError");
    }
    return list;
  };

  const KEY_GUARD = Symbol("CryptoKey");
  let keyParts;
  class CryptoKey {
    #type;
    #extractable;
    #algorithm;
    #usages;
    #bytes;
    // What the key is used with, apart from `algorithm` (an object the plugin can change).
    #name;
    #hash;
    #curve;
    constructor(guard, type, extractable, algorithm, usages, bytes) {
      if (guard !== KEY_GUARD) throw new TypeError("Illegal constructor");
      this.#name = algorithm.name;
      this.#hash = algorithm.hash?.name;
      this.#curve = algorithm.namedCurve;
      this.#type = type;
      this.#extractable = extractable;
      this.#algorithm = algorithm;
      this.#usages = usages;
      this.#bytes = bytes;
    }
    get type() {
      return this.#type;
    }
    get extractable() {
      return this.#extractable;
    }
    get algorithm() {
      return this.#algorithm;
    }
    get usages() {
      return this.#usages;
    }
    static {
      keyParts = (key, who) => {
        if (key === null || typeof key !== "object" || !(#bytes in key)) throw new TypeError(`${who}: the key must be a CryptoKey`);
        return {
          type: key.#type,
          extractable: key.#extractable,
          name: key.#name,
          hash: key.#hash,
          curve: key.#curve,
          usages: [...key.#usages],
          bytes: key.#bytes,
        };
      };
    }
  }
  tag(CryptoKey, "CryptoKey");
  const hmacKey = (hash, bits, extractable, usages, bytes) =>
    new CryptoKey(KEY_GUARD, "secret", Boolean(extractable), { name: "HMAC", hash: { name: hash }, length: bits }, usages, bytes);
  const aesKey = (bits, extractable, usages, bytes) =>
    new CryptoKey(KEY_GUARD, "secret", Boolean(extractable), { name: "AES-GCM", length: bits }, usages, bytes);
  // The key `who` uses for `usage`, checked against `algorithm`.
  const usableKey = (algorithm, key, usage, who) => {
    const name = keyAlgorithm(algorithm, who);
    const signing = usage === "sign" || usage === "verify";
    if (signing !== (name !== "AES-GCM")) throw unsupported(algorithm, who);
    const parts = keyParts(key, who);
    if (parts.name !== name) throw new DOMException(`${who}: the key is not an ${name} key`, "InvalidAccessError");
    if (!parts.usages.includes(usage)) throw new DOMException(`${who}: the key's usages do not include "${usage}"`, "InvalidAccessError");
    return parts;
  };

  // --- Ed25519 (RFC 8032; WebCrypto's Secure Curves): public keys hold the point, private keys
  // the 32-byte seed. DER prefixes of the only SPKI and PKCS #8 forms an Ed25519 key has.
  const SPKI_ED25519 = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
  const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
  const ed25519Key = (type, extractable, usages, bytes) =>
    new CryptoKey(KEY_GUARD, type, Boolean(extractable), { name: "Ed25519" }, usages, bytes);
  const withPrefix = (prefix, bytes) => {
    const out = new U8(prefix.length + bytes.length);
    out.set(prefix);
    out.set(bytes, prefix.length);
    return out;
  };
  const withoutPrefix = (prefix, bytes, who) => {
    if (bytes.length !== prefix.length + 32 || prefix.some((b, i) => bytes[i] !== b)) {
      throw new DOMException(`${who}: not an Ed25519 key in this format`, "DataError");
    }
    return bytes.slice(prefix.length);
  };
  const importEd25519 = (kind, keyData, extractable, usages, who) => {
    if (kind === "raw" || kind === "spki") {
      const list = keyUsages(usages, "Ed25519 public", who);
      const bytes = bufferSource(keyData, who).slice();
      const point = kind === "raw" ? bytes : withoutPrefix(SPKI_ED25519, bytes, who);
      if (point.length !== 32) throw new DOMException(`${who}: an Ed25519 public key has 32 bytes`, "DataError");
      return ed25519Key("public", extractable, list, point);
    }
    if (kind === "pkcs8") {
      const list = keyUsages(usages, "Ed25519 private", who);
      return ed25519Key("private", extractable, list, withoutPrefix(PKCS8_ED25519, bufferSource(keyData, who), who));
    }
    if (kind !== "jwk") {
      throw new DOMException(`${who}: the format "${kind}" is not supported for Ed25519`, "NotSupportedError");
    }
    if (keyData === null || typeof keyData !== "object") throw new TypeError(`${who}: a JWK must be an object`);
    if (keyData.kty !== "OKP" || keyData.crv !== "Ed25519") {
      throw new DOMException(`${who}: an Ed25519 JWK has "kty" "OKP" and "crv" "Ed25519"`, "DataError");
    }
    if (keyData.alg !== undefined && keyData.alg !== "EdDSA" && keyData.alg !== "Ed25519") {
      throw new DOMException(`${who}: the JWK's "alg" is not EdDSA`, "DataError");
    }
    if (keyData.use !== undefined && keyData.use !== "sig") throw new DOMException(`${who}: the JWK's "use" is not "sig"`, "DataError");
    if (keyData.ext === false && extractable) throw new DOMException(`${who}: the JWK is not extractable`, "DataError");
    if (typeof keyData.x !== "string") throw new DOMException(`${who}: the JWK has no "x"`, "DataError");
    const x = fromBase64url(keyData.x, who);
    if (x.length !== 32) throw new DOMException(`${who}: the JWK's "x" is not 32 bytes`, "DataError");
    const isPrivate = keyData.d !== undefined;
    const list = keyUsages(usages, isPrivate ? "Ed25519 private" : "Ed25519 public", who);
    if (keyData.key_ops !== undefined) {
      const ops = [...keyData.key_ops].map((op) => `${op}`);
      if (!list.every((usage) => ops.includes(usage))) {
        throw new DOMException(`${who}: the usages are not all in the JWK's "key_ops"`, "DataError");
      }
    }
    if (!isPrivate) return ed25519Key("public", extractable, list, x);
    const d = fromBase64url(`${keyData.d}`, who);
    if (d.length !== 32) throw new DOMException(`${who}: the JWK's "d" is not 32 bytes`, "DataError");
    if (base64url(new U8(ed25519Public(d))) !== base64url(x)) {
      throw new DOMException(`${who}: the JWK's "x" is not the public key of its "d"`, "DataError");
    }
    return ed25519Key("private", extractable, list, d);
  };
  const exportEd25519 = (kind, parts, who) => {
    const isPublic = parts.type === "public";
    const point = isPublic ? parts.bytes : new U8(ed25519Public(parts.bytes));
    if (kind === "raw" && isPublic) return point.slice().buffer;
    if (kind === "spki" && isPublic) return withPrefix(SPKI_ED25519, point).buffer;
    if (kind === "pkcs8" && !isPublic) return withPrefix(PKCS8_ED25519, parts.bytes).buffer;
    if (kind === "jwk") {
      const jwk = { key_ops: parts.usages, ext: true, alg: "Ed25519", crv: "Ed25519", x: base64url(point), kty: "OKP" };
      if (!isPublic) jwk.d = base64url(parts.bytes);
      return jwk;
    }
    throw new DOMException(`${who}: a ${parts.type} Ed25519 key cannot be exported as "${kind}"`, "InvalidAccessError");
  };

  // AES-GCM's parameters: a 96-bit IV (the size every engine supports; others are refused
  // rather than hashed into one), optional additional data, a 128-bit tag.
  const aesParams = (algorithm, key, usage, who) => {
    const parts = usableKey(algorithm, key, usage, who);
    if (algorithm === null || typeof algorithm !== "object" || algorithm.iv === undefined) {
      throw new TypeError(`${who}: AES-GCM's parameters must have an iv`);
    }
    const iv = bufferSource(algorithm.iv, who).slice();
    if (iv.length !== 12) throw new DOMException(`${who}: only 96-bit (12-byte) IVs are supported`, "OperationError");
    const aad = algorithm.additionalData === undefined ? new U8(0) : bufferSource(algorithm.additionalData, who);
    if (algorithm.tagLength !== undefined && Number(algorithm.tagLength) !== 128) {
      throw new DOMException(`${who}: only 128-bit tags are supported`, "OperationError");
    }
    return { parts, iv, aad };
  };

  // --- The rest of SubtleCrypto (issue 18): AES-CBC, AES-CTR, AES-KW, PBKDF2, HKDF, ECDSA and
  // ECDH on P-256, P-384 and P-521, X25519, RSASSA-PKCS1-v1_5, RSA-PSS, RSA-OAEP. Each algorithm is a
  // handler in EXTENDED (by its name in lower case); SubtleCrypto's methods try it first. Keys
  // hold their material in this heap: secret keys the bytes, EC keys the scalar or the
  // uncompressed point, X25519 keys the 32 bytes, RSA keys their PKCS #8 or SPKI DER.
  const EXTENDED = { __proto__: null };
  const dataError = (who, what) => new DOMException(`${who}: ${what}`, "DataError");
  const operationError = (who, what) => new DOMException(`${who}: ${what}`, "OperationError");
  const notSupported = (who, what) => new DOMException(`${who}: ${what}`, "NotSupportedError");
  const extendedKey = (type, extractable, algorithm, usages, bytes) =>
    new CryptoKey(KEY_GUARD, type, Boolean(extractable), algorithm, usages, bytes);
  // `usages` checked against those `allowed` (SyntaxError), in the order given, once each.
  const checkedUsages = (usages, allowed, who, mayBeEmpty) => {
    const list = [];
    for (const usage of usages) {
      const text = `${usage}`;
      if (!allowed.includes(text)) {
        throw new DOMException(`${who}: this key can only be used to ${allowed.join(", ") || "nothing"}, not "${text}"`, "SyntaxError");
      }
      if (!list.includes(text)) list.push(text);
    }
    if (list.length === 0 && !mayBeEmpty) throw new DOMException(`${who}: a secret or private key needs at least one usage`, "SyntaxError");
    return list;
  };
  const jwkObject = (keyData, who) => {
    if (keyData === null || typeof keyData !== "object") throw new TypeError(`${who}: a JWK must be an object`);
    return keyData;
  };
  // The JWK checks every algorithm shares: "use", "key_ops", "ext".
  const checkJwk = (jwk, use, list, extractable, who) => {
    if (jwk.use !== undefined && jwk.use !== use) throw dataError(who, `the JWK's "use" is not "${use}"`);
    if (jwk.key_ops !== undefined) {
      const ops = [...jwk.key_ops].map((op) => `${op}`);
      if (!list.every((usage) => ops.includes(usage))) throw dataError(who, `the usages are not all in the JWK's "key_ops"`);
    }
    if (jwk.ext === false && extractable) throw dataError(who, "the JWK is not extractable");
  };
  const jwkBytes = (value, member, who) => {
    if (typeof value !== "string") throw dataError(who, `the JWK has no "${member}"`);
    return fromBase64url(value, who);
  };
  const hashOf = (algorithm, who, name) => {
    if (algorithm === null || typeof algorithm !== "object" || algorithm.hash === undefined) {
      throw new TypeError(`${who}: ${name}'s parameters must name a hash`);
    }
    const hash = DIGESTS[algorithmName(algorithm.hash, who).toLowerCase()];
    if (hash === undefined) throw notSupported(who, `unrecognized hash "${algorithmName(algorithm.hash, who)}"`);
    return hash;
  };
  const member = (algorithm, name, who, algorithmLabel) => {
    if (algorithm === null || typeof algorithm !== "object" || algorithm[name] === undefined) {
      throw new TypeError(`${who}: ${algorithmLabel}'s parameters must have "${name}"`);
    }
    return algorithm[name];
  };
  // deriveBits' output: `bits` of `secret` (all of it for null), the last byte's extra bits zeroed.
  const truncated = (secret, length, who) => {
    if (length === null || length === undefined) return secret.buffer;
    const bits = Number(length);
    if (bits > secret.length * 8) throw operationError(who, `the length is more than the ${secret.length * 8} bits the key agreement gives`);
    const out = secret.slice(0, Math.ceil(bits / 8));
    if (bits % 8 !== 0) out[out.length - 1] &= 0xff << (8 - (bits % 8));
    return out.buffer;
  };

  // AES-CBC, AES-CTR, AES-KW: secret keys of 128, 192 or 256 bits, raw or JWK ("oct").
  const aesHandler = (name, jwkSuffix, usages, operations) => {
    const make = (bits, extractable, list, bytes) => extendedKey("secret", extractable, { name, length: bits }, list, bytes);
    const handler = {
      name,
      import(kind, keyData, algorithm, extractable, usages_, who) {
        const list = checkedUsages(usages_, usages, who, false);
        let bytes;
        if (kind === "raw") {
          bytes = bufferSource(keyData, who).slice();
        } else if (kind === "jwk") {
          const jwk = jwkObject(keyData, who);
          if (jwk.kty !== "oct") throw dataError(who, `an ${name} JWK's "kty" must be "oct"`);
          bytes = jwkBytes(jwk.k, "k", who);
          const alg = `A${bytes.length * 8}${jwkSuffix}`;
          if (jwk.alg !== undefined && jwk.alg !== alg) throw dataError(who, `the JWK's "alg" is not ${alg}`);
          checkJwk(jwk, "enc", list, extractable, who);
        } else {
          throw notSupported(who, `the format "${kind}" is not supported for ${name} (raw and jwk are)`);
        }
        const bits = bytes.length * 8;
        if (bits !== 128 && bits !== 192 && bits !== 256) throw dataError(who, `an AES key has 128, 192 or 256 bits, not ${bits}`);
        return make(bits, extractable, list, bytes);
      },
      export(kind, parts, who) {
        if (kind === "raw") return parts.bytes.slice().buffer;
        if (kind === "jwk") {
          return { key_ops: parts.usages, ext: true, kty: "oct", k: base64url(parts.bytes), alg: `A${parts.bytes.length * 8}${jwkSuffix}` };
        }
        throw notSupported(who, `the format "${kind}" is not supported for ${name} (raw and jwk are)`);
      },
      generate(algorithm, extractable, usages_, who) {
        const list = checkedUsages(usages_, usages, who, false);
        const bits = Number(member(algorithm, "length", who, name));
        if (bits !== 128 && bits !== 192 && bits !== 256) throw operationError(who, "an AES key has 128, 192 or 256 bits");
        return make(bits, extractable, list, random(bits / 8));
      },
      keyLength(algorithm, who) {
        const bits = Number(member(algorithm, "length", who, name));
        if (bits !== 128 && bits !== 192 && bits !== 256) throw operationError(who, "an AES key has 128, 192 or 256 bits");
        return bits;
      },
    };
    return Object.assign(handler, operations);
  };
  const cbc = (encrypt) => (algorithm, parts, data, who) => {
    const iv = bufferSource(member(algorithm, "iv", who, "AES-CBC"), who);
    if (iv.length !== 16) throw operationError(who, "AES-CBC's iv must be 16 bytes");
    const out = natives.aesCbc(encrypt, parts.bytes, iv, data);
    if (out === undefined) throw operationError(who, encrypt ? "encryption failed" : "the data is not a ciphertext of this key (bad padding)");
    return out;
  };
  EXTENDED["aes-cbc"] = aesHandler("AES-CBC", "CBC", ["encrypt", "decrypt", "wrapKey", "unwrapKey"], {
    encrypt: cbc(true),
    decrypt: cbc(false),
  });
  const ctr = (algorithm, parts, data, who) => {
    const counter = bufferSource(member(algorithm, "counter", who, "AES-CTR"), who);
    if (counter.length !== 16) throw operationError(who, "AES-CTR's counter must be 16 bytes");
    const length = Number(member(algorithm, "length", who, "AES-CTR"));
    if (!(length >= 1 && length <= 128)) throw operationError(who, "AES-CTR's length must be from 1 to 128 bits");
    const out = natives.aesCtr(parts.bytes, counter, length, data);
    if (out === undefined) throw operationError(who, "the data is too long for the counter's length");
    return out;
  };
  EXTENDED["aes-ctr"] = aesHandler("AES-CTR", "CTR", ["encrypt", "decrypt", "wrapKey", "unwrapKey"], { encrypt: ctr, decrypt: ctr });
  EXTENDED["aes-kw"] = aesHandler("AES-KW", "KW", ["wrapKey", "unwrapKey"], {
    wrap(algorithm, parts, data, who) {
      if (data.length % 8 !== 0 || data.length < 16) throw operationError(who, "AES-KW wraps a multiple of 8 bytes, at least 16");
      return natives.aesKw(true, parts.bytes, data);
    },
    unwrap(algorithm, parts, data, who) {
      const out = natives.aesKw(false, parts.bytes, data);
      if (out === undefined) throw operationError(who, "the wrapped key does not authenticate under this key");
      return out;
    },
  });

  // PBKDF2 and HKDF: raw key material, never extractable.
  const kdfHandler = (name, derive) => ({
    name,
    import(kind, keyData, algorithm, extractable, usages, who) {
      if (kind !== "raw") throw notSupported(who, `the format "${kind}" is not supported for ${name} (raw is)`);
      const list = checkedUsages(usages, ["deriveKey", "deriveBits"], who, true);
      if (extractable) throw new DOMException(`${who}: a ${name} key cannot be extractable`, "SyntaxError");
      return extendedKey("secret", false, { name }, list, bufferSource(keyData, who).slice());
    },
    deriveBits(algorithm, parts, length, who) {
      if (length === null || length === undefined) throw operationError(who, `${name} needs a length`);
      const bits = Number(length);
      if (!Number.isInteger(bits) || bits < 0 || bits % 8 !== 0) throw operationError(who, `${name}'s length must be a multiple of 8`);
      return derive(algorithm, parts, bits / 8, who);
    },
  });
  EXTENDED.pbkdf2 = kdfHandler("PBKDF2", (algorithm, parts, bytes, who) => {
    const hash = hashOf(algorithm, who, "PBKDF2");
    const salt = bufferSource(member(algorithm, "salt", who, "PBKDF2"), who);
    const iterations = Number(member(algorithm, "iterations", who, "PBKDF2"));
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 0xffffffff) throw operationError(who, "PBKDF2's iterations must be at least 1");
    return natives.pbkdf2(hash, parts.bytes, salt, iterations, bytes);
  });
  EXTENDED.hkdf = kdfHandler("HKDF", (algorithm, parts, bytes, who) => {
    const hash = hashOf(algorithm, who, "HKDF");
    const salt = bufferSource(member(algorithm, "salt", who, "HKDF"), who);
    const info = bufferSource(member(algorithm, "info", who, "HKDF"), who);
    const out = natives.hkdf(hash, parts.bytes, salt, info, bytes);
    if (out === undefined) throw operationError(who, "HKDF gives at most 255 times the hash's size");
    return out;
  });

  // ECDSA and ECDH on P-256, P-384 and P-521: public keys hold the uncompressed point, private keys
  // the scalar.
  const CURVES = { __proto__: null, "P-256": { size: 32, es: "ES256" }, "P-384": { size: 48, es: "ES384" }, "P-521": { size: 66, es: "ES512" } };
  const ecHandler = (name, publicUsages, privateUsages, operations) => {
    const curveOf = (algorithm, who) => {
      const curve = member(algorithm, "namedCurve", who, name);
      if (CURVES[`${curve}`] === undefined) throw notSupported(who, `the curve "${curve}" is not supported (P-256, P-384 and P-521 are)`);
      return `${curve}`;
    };
    const make = (type, curve, extractable, list, bytes) => extendedKey(type, extractable, { name, namedCurve: curve }, list, bytes);
    const notKey = (curve, who) => dataError(who, `the data is not a ${curve} key in this format`);
    return Object.assign(
      {
        name,
        import(kind, keyData, algorithm, extractable, usages, who) {
          const curve = curveOf(algorithm, who);
          if (kind === "raw" || kind === "spki") {
            const list = checkedUsages(usages, publicUsages, who, true);
            const bytes = bufferSource(keyData, who);
            const point = kind === "raw" ? natives.ecPoint(curve, bytes) : natives.ecFromSpki(curve, bytes);
            if (point === undefined) throw notKey(curve, who);
            return make("public", curve, extractable, list, new U8(point));
          }
          if (kind === "pkcs8") {
            const list = checkedUsages(usages, privateUsages, who, false);
            const d = natives.ecFromPkcs8(curve, bufferSource(keyData, who));
            if (d === undefined) throw notKey(curve, who);
            return make("private", curve, extractable, list, new U8(d));
          }
          if (kind !== "jwk") throw notSupported(who, `the format "${kind}" is not supported for ${name}`);
          const jwk = jwkObject(keyData, who);
          if (jwk.kty !== "EC" || jwk.crv !== curve) throw dataError(who, `a ${curve} JWK has "kty" "EC" and "crv" "${curve}"`);
          if (name === "ECDSA" && jwk.alg !== undefined && jwk.alg !== CURVES[curve].es) {
            throw dataError(who, `the JWK's "alg" is not ${CURVES[curve].es}`);
          }
          const isPrivate = jwk.d !== undefined;
          const list = checkedUsages(usages, isPrivate ? privateUsages : publicUsages, who, !isPrivate);
          checkJwk(jwk, name === "ECDSA" ? "sig" : "enc", list, extractable, who);
          const size = CURVES[curve].size;
          const x = jwkBytes(jwk.x, "x", who);
          const y = jwkBytes(jwk.y, "y", who);
          if (x.length !== size || y.length !== size) throw notKey(curve, who);
          const point = natives.ecPoint(curve, withPrefix([4, ...x], y));
          if (point === undefined) throw notKey(curve, who);
          if (!isPrivate) return make("public", curve, extractable, list, new U8(point));
          const d = jwkBytes(jwk.d, "d", who);
          const derived = d.length === size ? natives.ecPublic(curve, d) : undefined;
          if (derived === undefined || base64url(new U8(derived)) !== base64url(new U8(point))) {
            throw dataError(who, `the JWK's "x" and "y" are not the public key of its "d"`);
          }
          return make("private", curve, extractable, list, d);
        },
        export(kind, parts, who) {
          const curve = parts.curve;
          const isPublic = parts.type === "public";
          const point = isPublic ? parts.bytes : new U8(natives.ecPublic(curve, parts.bytes));
          if (kind === "raw" && isPublic) return point.slice().buffer;
          if (kind === "spki" && isPublic) return natives.ecToSpki(curve, point);
          if (kind === "pkcs8" && !isPublic) return natives.ecToPkcs8(curve, parts.bytes);
          if (kind === "jwk") {
            const size = CURVES[curve].size;
            const jwk = { key_ops: parts.usages, ext: true, kty: "EC", crv: curve,
              x: base64url(point.subarray(1, 1 + size)), y: base64url(point.subarray(1 + size, 1 + 2 * size)) };
            if (!isPublic) jwk.d = base64url(parts.bytes);
            return jwk;
          }
          throw new DOMException(`${who}: a ${parts.type} ${name} key cannot be exported as "${kind}"`, "InvalidAccessError");
        },
        generate(algorithm, extractable, usages, who) {
          const curve = curveOf(algorithm, who);
          const list = checkedUsages(usages, [...publicUsages, ...privateUsages], who, true);
          let d;
          let point;
          // A random string of the scalar's size is a valid scalar but with tiny probability.
          do {
            d = random(CURVES[curve].size);
            // P-521's order is just under 2^521: the 7 bits above it are cleared.
            if (curve === "P-521") d[0] &= 1;
            point = natives.ecPublic(curve, d);
          } while (point === undefined);
          const privateList = list.filter((u) => privateUsages.includes(u));
          if (privateList.length === 0) throw new DOMException(`${who}: a private key needs at least one usage`, "SyntaxError");
          return {
            publicKey: make("public", curve, true, list.filter((u) => publicUsages.includes(u)), new U8(point)),
            privateKey: make("private", curve, extractable, privateList, d),
          };
        },
      },
      operations,
    );
  };
  EXTENDED.ecdsa = ecHandler("ECDSA", ["verify"], ["sign"], {
    sign(algorithm, parts, data, who) {
      const out = natives.ecSign(parts.curve, hashOf(algorithm, who, "ECDSA"), parts.bytes, data);
      if (out === undefined) throw operationError(who, "signing failed");
      return out;
    },
    verify(algorithm, parts, signature, data, who) {
      return natives.ecVerify(parts.curve, hashOf(algorithm, who, "ECDSA"), parts.bytes, signature, data);
    },
  });
  // The peer's public key of a key agreement: `algorithm.public`, of the same algorithm (and
  // curve) as the private key.
  const peerKey = (algorithm, parts, who) => {
    const peer = keyParts(member(algorithm, "public", who, parts.name), who);
    if (peer.type !== "public") throw new DOMException(`${who}: "public" must be a public key`, "InvalidAccessError");
    if (peer.name !== parts.name || peer.curve !== parts.curve) {
      throw new DOMException(`${who}: the public key is not an ${parts.name} key on the same curve`, "InvalidAccessError");
    }
    return peer;
  };
  EXTENDED.ecdh = ecHandler("ECDH", [], ["deriveKey", "deriveBits"], {
    deriveBits(algorithm, parts, length, who) {
      const peer = peerKey(algorithm, parts, who);
      const secret = natives.ecdh(parts.curve, parts.bytes, peer.bytes);
      if (secret === undefined) throw operationError(who, "the key agreement failed");
      return truncated(new U8(secret), length, who);
    },
  });

  // X25519 (RFC 7748; WebCrypto's Secure Curves): both keys hold 32 bytes.
  const SPKI_X25519 = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00];
  const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];
  EXTENDED.x25519 = (() => {
    const name = "X25519";
    const make = (type, extractable, list, bytes) => extendedKey(type, extractable, { name }, list, bytes);
    const strip = (prefix, bytes, who) => {
      if (bytes.length !== prefix.length + 32 || prefix.some((b, i) => bytes[i] !== b)) throw dataError(who, "not an X25519 key in this format");
      return bytes.slice(prefix.length);
    };
    const privateUsages = ["deriveKey", "deriveBits"];
    return {
      name,
      import(kind, keyData, algorithm, extractable, usages, who) {
        if (kind === "raw" || kind === "spki") {
          const list = checkedUsages(usages, [], who, true);
          const bytes = bufferSource(keyData, who).slice();
          const point = kind === "raw" ? bytes : strip(SPKI_X25519, bytes, who);
          if (point.length !== 32) throw dataError(who, "an X25519 public key has 32 bytes");
          return make("public", extractable, list, point);
        }
        if (kind === "pkcs8") {
          const list = checkedUsages(usages, privateUsages, who, false);
          return make("private", extractable, list, strip(PKCS8_X25519, bufferSource(keyData, who), who));
        }
        if (kind !== "jwk") throw notSupported(who, `the format "${kind}" is not supported for X25519`);
        const jwk = jwkObject(keyData, who);
        if (jwk.kty !== "OKP" || jwk.crv !== "X25519") throw dataError(who, `an X25519 JWK has "kty" "OKP" and "crv" "X25519"`);
        const isPrivate = jwk.d !== undefined;
        const list = checkedUsages(usages, isPrivate ? privateUsages : [], who, !isPrivate);
        checkJwk(jwk, "enc", list, extractable, who);
        const x = jwkBytes(jwk.x, "x", who);
        if (x.length !== 32) throw dataError(who, `the JWK's "x" is not 32 bytes`);
        if (!isPrivate) return make("public", extractable, list, x);
        const d = jwkBytes(jwk.d, "d", who);
        if (d.length !== 32 || base64url(new U8(natives.x25519Public(d))) !== base64url(x)) {
          throw dataError(who, `the JWK's "x" is not the public key of its "d"`);
        }
        return make("private", extractable, list, d);
      },
      export(kind, parts, who) {
        const isPublic = parts.type === "public";
        const point = isPublic ? parts.bytes : new U8(natives.x25519Public(parts.bytes));
        if (kind === "raw" && isPublic) return point.slice().buffer;
        if (kind === "spki" && isPublic) return withPrefix(SPKI_X25519, point).buffer;
        if (kind === "pkcs8" && !isPublic) return withPrefix(PKCS8_X25519, parts.bytes).buffer;
        if (kind === "jwk") {
          const jwk = { key_ops: parts.usages, ext: true, crv: "X25519", x: base64url(point), kty: "OKP" };
          if (!isPublic) jwk.d = base64url(parts.bytes);
          return jwk;
        }
        throw new DOMException(`${who}: a ${parts.type} X25519 key cannot be exported as "${kind}"`, "InvalidAccessError");
      },
      generate(algorithm, extractable, usages, who) {
        const list = checkedUsages(usages, privateUsages, who, false);
        const d = random(32);
        return {
          publicKey: make("public", true, [], new U8(natives.x25519Public(d))),
          privateKey: make("private", extractable, list, d),
        };
      },
      deriveBits(algorithm, parts, length, who) {
        const peer = peerKey(algorithm, parts, who);
        const secret = natives.x25519(parts.bytes, peer.bytes);
        if (secret === undefined) throw operationError(who, "the shared secret is all zeros (a small-order public key)");
        return truncated(new U8(secret), length, who);
      },
    };
  })();

  // RSASSA-PKCS1-v1_5, RSA-PSS, RSA-OAEP: private keys hold PKCS #8 DER, public keys SPKI DER,
  // both as the `rsa` crate re-encodes them (what exportKey returns).
  const RSA_JWK_ALG = {
    __proto__: null,
    "RSASSA-PKCS1-v1_5": { "SHA-1": "RS1", "SHA-256": "RS256", "SHA-384": "RS384", "SHA-512": "RS512" },
    "RSA-PSS": { "SHA-1": "PS1", "SHA-256": "PS256", "SHA-384": "PS384", "SHA-512": "PS512" },
    "RSA-OAEP": { "SHA-1": "RSA-OAEP", "SHA-256": "RSA-OAEP-256", "SHA-384": "RSA-OAEP-384", "SHA-512": "RSA-OAEP-512" },
  };
  const rsaHandler = (name, publicUsages, privateUsages, operations) => {
    const make = (type, hash, extractable, list, der) => {
      const info = natives.rsaInfo(der, type === "private");
      const algorithm = { name, modulusLength: info[0], publicExponent: info[1], hash: { name: hash } };
      return extendedKey(type, extractable, algorithm, list, der);
    };
    const jwkAlg = RSA_JWK_ALG[name];
    return Object.assign(
      {
        name,
        import(kind, keyData, algorithm, extractable, usages, who) {
          const hash = hashOf(algorithm, who, name);
          if (kind === "spki" || kind === "pkcs8") {
            const isPrivate = kind === "pkcs8";
            const list = checkedUsages(usages, isPrivate ? privateUsages : publicUsages, who, !isPrivate);
            const der = natives.rsaCanonical(bufferSource(keyData, who), isPrivate);
            if (der === undefined) throw dataError(who, `the data is not an RSA key in ${kind} format`);
            return make(isPrivate ? "private" : "public", hash, extractable, list, new U8(der));
          }
          if (kind !== "jwk") throw notSupported(who, `the format "${kind}" is not supported for ${name} (spki, pkcs8 and jwk are)`);
          const jwk = jwkObject(keyData, who);
          if (jwk.kty !== "RSA") throw dataError(who, `an RSA JWK's "kty" must be "RSA"`);
          if (jwk.alg !== undefined && jwk.alg !== jwkAlg[hash]) throw dataError(who, `the JWK's "alg" is not ${jwkAlg[hash]}`);
          const isPrivate = jwk.d !== undefined;
          const list = checkedUsages(usages, isPrivate ? privateUsages : publicUsages, who, !isPrivate);
          checkJwk(jwk, name === "RSA-OAEP" ? "enc" : "sig", list, extractable, who);
          const members = isPrivate ? ["n", "e", "d", "p", "q"] : ["n", "e"];
          const der = natives.rsaFromJwk(members.map((m) => jwkBytes(jwk[m], m, who)));
          if (der === undefined) throw dataError(who, "the JWK is not a valid RSA key");
          return make(isPrivate ? "private" : "public", hash, extractable, list, new U8(der));
        },
        export(kind, parts, who) {
          const isPublic = parts.type === "public";
          if (kind === "spki" && isPublic) return parts.bytes.slice().buffer;
          if (kind === "pkcs8" && !isPublic) return parts.bytes.slice().buffer;
          if (kind === "jwk") {
            const values = natives.rsaJwk(parts.bytes, !isPublic);
            const jwk = { key_ops: parts.usages, ext: true, kty: "RSA", n: base64url(values[0]), e: base64url(values[1]) };
            if (!isPublic) {
              ["d", "p", "q", "dp", "dq", "qi"].forEach((m, i) => {
                jwk[m] = base64url(values[i + 2]);
              });
            }
            jwk.alg = jwkAlg[parts.hash];
            return jwk;
          }
          throw new DOMException(`${who}: a ${parts.type} ${name} key cannot be exported as "${kind}"`, "InvalidAccessError");
        },
        generate(algorithm, extractable, usages, who) {
          const hash = hashOf(algorithm, who, name);
          const bits = Number(member(algorithm, "modulusLength", who, name));
          const exponent = bufferSource(member(algorithm, "publicExponent", who, name), who);
          const list = checkedUsages(usages, [...publicUsages, ...privateUsages], who, true);
          if (!Number.isInteger(bits) || bits < 512 || bits > 16384 || bits % 8 !== 0) {
            throw operationError(who, "the modulus length must be a multiple of 8 from 512 to 16384 bits");
          }
          const der = natives.rsaGenerate(bits, exponent);
          if (der === undefined) throw operationError(who, "no key could be generated with that public exponent");
          const privateList = list.filter((u) => privateUsages.includes(u));
          if (privateList.length === 0) throw new DOMException(`${who}: a private key needs at least one usage`, "SyntaxError");
          return {
            publicKey: make("public", hash, true, list.filter((u) => publicUsages.includes(u)), new U8(natives.rsaPublicOf(new U8(der)))),
            privateKey: make("private", hash, extractable, privateList, new U8(der)),
          };
        },
      },
      operations,
    );
  };
  const rsaSigner = (scheme) => ({
    sign(algorithm, parts, data, who) {
      const salt = scheme === "RSA-PSS" ? Number(member(algorithm, "saltLength", who, scheme)) : 0;
      const out = natives.rsaSign(scheme, parts.hash, parts.bytes, data, salt);
      if (out === undefined) throw operationError(who, "signing failed (is the salt too long for the key?)");
      return out;
    },
    verify(algorithm, parts, signature, data, who) {
      const salt = scheme === "RSA-PSS" ? Number(member(algorithm, "saltLength", who, scheme)) : 0;
      return natives.rsaVerify(scheme, parts.hash, parts.bytes, signature, data, salt);
    },
  });
  EXTENDED["rsassa-pkcs1-v1_5"] = rsaHandler("RSASSA-PKCS1-v1_5", ["verify"], ["sign"], rsaSigner("RSASSA-PKCS1-v1_5"));
  EXTENDED["rsa-pss"] = rsaHandler("RSA-PSS", ["verify"], ["sign"], rsaSigner("RSA-PSS"));
  const oaep = (encrypt) => (algorithm, parts, data, who) => {
    let label;
    if (algorithm !== null && typeof algorithm === "object" && algorithm.label !== undefined) {
      label = utf8Decode(bufferSource(algorithm.label, who));
      // The `rsa` crate takes a label as text: bytes that are not UTF-8 are refused, not changed.
      if (base64url(utf8Encode(label)) !== base64url(bufferSource(algorithm.label, who))) {
        throw operationError(who, "only labels that are UTF-8 text are supported");
      }
    }
    const out = natives.rsaOaep(encrypt, parts.hash, parts.bytes, data, label);
    if (out === undefined) throw operationError(who, encrypt ? "the data is too long for this key" : "decryption failed");
    return out;
  };
  EXTENDED["rsa-oaep"] = rsaHandler("RSA-OAEP", ["encrypt", "wrapKey"], ["decrypt", "unwrapKey"], {
    encrypt: oaep(true),
    decrypt: oaep(false),
  });

  // The handler for `algorithm` if it is one of EXTENDED's, else undefined.
  const extended = (algorithm, who) => EXTENDED[algorithmName(algorithm, who).toLowerCase()];
  // The parts of `key` for `operation` with `handler` (which must have it), `usage` checked.
  const extendedParts = (handler, operation, key, usage, who) => {
    if (typeof handler[operation] !== "function") throw notSupported(who, `${handler.name} cannot ${operation}`);
    const parts = keyParts(key, who);
    if (parts.name !== handler.name) throw new DOMException(`${who}: the key is not an ${handler.name} key`, "InvalidAccessError");
    if (!parts.usages.includes(usage)) throw new DOMException(`${who}: the key's usages do not include "${usage}"`, "InvalidAccessError");
    return parts;
  };
  // The length in bits of a key of `algorithm`, for deriveKey.
  const derivedKeyLength = (algorithm, who) => {
    const handler = extended(algorithm, who);
    if (handler !== undefined && typeof handler.keyLength === "function") return handler.keyLength(algorithm, who);
    const name = algorithmName(algorithm, who).toLowerCase();
    if (name === "aes-gcm") return EXTENDED["aes-cbc"].keyLength(algorithm, who);
    if (name === "hmac") {
      const { hash, length } = hmacParams(algorithm, who);
      return length === undefined ? HMAC_BLOCK_BITS[hash] : length;
    }
    throw notSupported(who, `a key of "${algorithmName(algorithm, who)}" cannot be derived`);
  };

  class SubtleCrypto {
    async importKey(format, keyData, algorithm, extractable, usages) {
      const who = "crypto.subtle.importKey";
      required(arguments.length, 5, who);
      const handler = extended(algorithm, who);
      if (handler !== undefined) return handler.import(`${format}`, keyData, algorithm, Boolean(extractable), usages, who);
      const name = keyAlgorithm(algorithm, who);
      const kind = `${format}`;
      if (name === "Ed25519") return importEd25519(kind, keyData, extractable, usages, who);
      const { hash, length } = name === "HMAC" ? hmacParams(algorithm, who) : {};
      const list = keyUsages(usages, name, who);
      let bytes;
      if (kind === "raw") {
        bytes = bufferSource(keyData, who).slice();
      } else if (kind === "jwk") {
        if (keyData === null || typeof keyData !== "object") throw new TypeError(`${who}: a JWK must be an object`);
        if (keyData.kty !== "oct") throw new DOMException(`${who}: an ${name} JWK's "kty" must be "oct"`, "DataError");
        if (typeof keyData.k !== "string") throw new DOMException(`${who}: the JWK has no "k"`, "DataError");
        bytes = fromBase64url(keyData.k, who);
        const alg = name === "HMAC" ? HMAC_JWK_ALG[hash] : AES_JWK_ALG[bytes.length * 8];
        if (keyData.alg !== undefined && keyData.alg !== alg) {
          throw new DOMException(`${who}: the JWK's "alg" is not ${alg}`, "DataError");
        }
        const use = name === "HMAC" ? "sig" : "enc";
        if (keyData.use !== undefined && keyData.use !== use) {
          throw new DOMException(`${who}: the JWK's "use" is not "${use}"`, "DataError");
        }
        if (keyData.key_ops !== undefined) {
          const ops = [...keyData.key_ops].map((op) => `${op}`);
          if (!list.every((usage) => ops.includes(usage))) {
            throw new DOMException(`${who}: the usages are not all in the JWK's "key_ops"`, "DataError");
          }
        }
        if (keyData.ext === false && extractable) throw new DOMException(`${who}: the JWK is not extractable`, "DataError");
      } else {
        throw new DOMException(`${who}: the format "${kind}" is not supported for HMAC (raw and jwk are)`, "NotSupportedError");
      }
      let bits = bytes.length * 8;
      if (name === "AES-GCM") {
        if (bits !== 128 && bits !== 192 && bits !== 256) {
          throw new DOMException(`${who}: an AES key has 128, 192 or 256 bits, not ${bits}`, "DataError");
        }
        return aesKey(bits, extractable, list, bytes);
      }
      if (bits === 0) throw new DOMException(`${who}: the key is empty`, "DataError");
      if (length !== undefined) {
        if (length > bits || length <= bits - 8) throw new DOMException(`${who}: the length does not match the key`, "DataError");
        bits = length;
      }
      return hmacKey(hash, bits, extractable, list, bytes);
    }
    async exportKey(format, key) {
      const who = "crypto.subtle.exportKey";
      required(arguments.length, 2, who);
      const parts = keyParts(key, who);
      if (!parts.extractable) throw new DOMException(`${who}: the key is not extractable`, "InvalidAccessError");
      const kind = `${format}`;
      const handler = EXTENDED[parts.name.toLowerCase()];
      if (handler !== undefined) {
        if (typeof handler.export !== "function") throw notSupported(who, `a ${parts.name} key cannot be exported`);
        return handler.export(kind, parts, who);
      }
      if (parts.name === "Ed25519") return exportEd25519(kind, parts, who);
      if (kind === "raw") return parts.bytes.slice().buffer;
      if (kind === "jwk") {
        const alg = parts.name === "HMAC" ? HMAC_JWK_ALG[parts.hash] : AES_JWK_ALG[parts.bytes.length * 8];
        return { key_ops: parts.usages, ext: true, kty: "oct", k: base64url(parts.bytes), alg };
      }
      throw new DOMException(`${who}: the format "${kind}" is not supported for HMAC (raw and jwk are)`, "NotSupportedError");
    }
    async generateKey(algorithm, extractable, usages) {
      const who = "crypto.subtle.generateKey";
      required(arguments.length, 3, who);
      const handler = extended(algorithm, who);
      if (handler !== undefined) {
        if (typeof handler.generate !== "function") throw notSupported(who, `${handler.name} keys cannot be generated`);
        return handler.generate(algorithm, Boolean(extractable), usages, who);
      }
      const name = keyAlgorithm(algorithm, who);
      if (name === "Ed25519") {
        const list = keyUsages(usages, name, who);
        const seed = random(32);
        const publicKey = ed25519Key("public", true, list.filter((u) => u === "verify"), new U8(ed25519Public(seed)));
        const privateUsages = list.filter((u) => u === "sign");
        if (privateUsages.length === 0) throw new DOMException(`${who}: a private key needs at least one usage`, "SyntaxError");
        return { publicKey, privateKey: ed25519Key("private", extractable, privateUsages, seed) };
      }
      if (name === "AES-GCM") {
        const list = keyUsages(usages, name, who);
        const bits = Number(algorithm.length);
        if (bits !== 128 && bits !== 192 && bits !== 256) {
          throw new DOMException(`${who}: an AES key has 128, 192 or 256 bits`, "OperationError");
        }
        return aesKey(bits, extractable, list, random(bits / 8));
      }
      const { hash, length } = hmacParams(algorithm, who);
      const list = keyUsages(usages, name, who);
      const bits = length === undefined ? HMAC_BLOCK_BITS[hash] : length;
      if (bits === 0 || bits > MAX_RANDOM_BYTES * 8) throw new DOMException(`${who}: the length is out of range`, "OperationError");
      const bytes = random(Math.ceil(bits / 8));
      return hmacKey(hash, bits, extractable, list, bytes);
    }
    async sign(algorithm, key, data) {
      const who = "crypto.subtle.sign";
      required(arguments.length, 3, who);
      const handler = extended(algorithm, who);
      if (handler !== undefined) return handler.sign(algorithm, extendedParts(handler, "sign", key, "sign", who), bufferSource(data, who), who);
      const parts = usableKey(algorithm, key, "sign", who);
      if (parts.name === "Ed25519") return ed25519Sign(parts.bytes, bufferSource(data, who));
      return hostHmac(parts.hash, parts.bytes, bufferSource(data, who));
    }
    async verify(algorithm, key, signature, data) {
      const who = "crypto.subtle.verify";
      required(arguments.length, 4, who);
      const handler = extended(algorithm, who);
      if (handler !== undefined) {
        const parts = extendedParts(handler, "verify", key, "verify", who);
        return handler.verify(algorithm, parts, bufferSource(signature, who), bufferSource(data, who), who);
      }
      const parts = usableKey(algorithm, key, "verify", who);
      if (parts.name === "Ed25519") return ed25519Verify(parts.bytes, bufferSource(signature, who), bufferSource(data, who));
      return hostHmacVerify(parts.hash, parts.bytes, bufferSource(signature, who), bufferSource(data, who));
    }
    async encrypt(algorithm, key, data) {
      const who = "crypto.subtle.encrypt";
      required(arguments.length, 3, who);
      const handler = extended(algorithm, who);
      if (handler !== undefined) return handler.encrypt(algorithm, extendedParts(handler, "encrypt", key, "encrypt", who), bufferSource(data, who), who);
      const { parts, iv, aad } = aesParams(algorithm, key, "encrypt", who);
      const plain = bufferSource(data, who);
      const out = new U8(plain.length + 16);
      out.set(plain);
      if (!aesGcmSeal(parts.bytes, iv, aad, out, plain.length)) throw new DOMException(`${who}: encryption failed`, "OperationError");
      return out.buffer;
    }
    async decrypt(algorithm, key, data) {
      const who = "crypto.subtle.decrypt";
      required(arguments.length, 3, who);
      const handler = extended(algorithm, who);
      if (handler !== undefined) return handler.decrypt(algorithm, extendedParts(handler, "decrypt", key, "decrypt", who), bufferSource(data, who), who);
      const { parts, iv, aad } = aesParams(algorithm, key, "decrypt", who);
      const sealed = bufferSource(data, who);
      if (sealed.length < 16) throw new DOMException(`${who}: the data is shorter than its tag`, "OperationError");
      const out = sealed.slice(0, sealed.length - 16);
      const tag = sealed.slice(sealed.length - 16);
      if (!aesGcmOpen(parts.bytes, iv, aad, out, tag)) {
        throw new DOMException(`${who}: the data or its additional data does not authenticate under this key`, "OperationError");
      }
      return out.buffer;
    }
    async deriveBits(algorithm, baseKey, length = null) {
      const who = "crypto.subtle.deriveBits";
      required(arguments.length, 2, who);
      const handler = extended(algorithm, who);
      if (handler === undefined) throw unsupported(algorithm, who);
      return handler.deriveBits(algorithm, extendedParts(handler, "deriveBits", baseKey, "deriveBits", who), length, who);
    }
    async deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
      const who = "crypto.subtle.deriveKey";
      required(arguments.length, 5, who);
      const handler = extended(algorithm, who);
      if (handler === undefined) throw unsupported(algorithm, who);
      const length = derivedKeyLength(derivedKeyType, who);
      const bits = handler.deriveBits(algorithm, extendedParts(handler, "deriveBits", baseKey, "deriveKey", who), length, who);
      return this.importKey("raw", bits, derivedKeyType, extractable, keyUsages);
    }
    async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
      const who = "crypto.subtle.wrapKey";
      required(arguments.length, 4, who);
      const kind = `${format}`;
      const exported = await this.exportKey(kind, key);
      const bytes = kind === "jwk" ? utf8Encode(JSON.stringify(exported)) : new U8(exported);
      const handler = extended(wrapAlgorithm, who);
      if (handler === undefined) {
        const { parts, iv, aad } = aesParams(wrapAlgorithm, wrappingKey, "wrapKey", who);
        const out = new U8(bytes.length + 16);
        out.set(bytes);
        if (!aesGcmSeal(parts.bytes, iv, aad, out, bytes.length)) throw operationError(who, "encryption failed");
        return out.buffer;
      }
      const operation = typeof handler.wrap === "function" ? "wrap" : "encrypt";
      return handler[operation](wrapAlgorithm, extendedParts(handler, operation, wrappingKey, "wrapKey", who), bytes, who);
    }
    async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
      const who = "crypto.subtle.unwrapKey";
      required(arguments.length, 7, who);
      const kind = `${format}`;
      const wrapped = bufferSource(wrappedKey, who);
      const handler = extended(unwrapAlgorithm, who);
      let bytes;
      if (handler === undefined) {
        const { parts, iv, aad } = aesParams(unwrapAlgorithm, unwrappingKey, "unwrapKey", who);
        if (wrapped.length < 16) throw operationError(who, "the data is shorter than its tag");
        const out = wrapped.slice(0, wrapped.length - 16);
        if (!aesGcmOpen(parts.bytes, iv, aad, out, wrapped.slice(wrapped.length - 16))) {
          throw operationError(who, "the wrapped key does not authenticate under this key");
        }
        bytes = out;
      } else {
        const operation = typeof handler.unwrap === "function" ? "unwrap" : "decrypt";
        bytes = new U8(handler[operation](unwrapAlgorithm, extendedParts(handler, operation, unwrappingKey, "unwrapKey", who), wrapped, who));
      }
      let keyData = bytes;
      if (kind === "jwk") {
        try {
          keyData = JSON.parse(utf8Decode(bytes));
        } catch {
          throw dataError(who, "the unwrapped data is not a JWK");
        }
      }
      return this.importKey(kind, keyData, unwrappedKeyAlgorithm, extractable, keyUsages);
    }
    async digest(algorithm, data) {
      required(arguments.length, 2, "crypto.subtle.digest");
      const name = typeof algorithm === "object" && algorithm !== null ? algorithm.name : algorithm;
      if (name === undefined) throw new TypeError("crypto.subtle.digest: the algorithm must have a name");
      const normalized = DIGESTS[usv(name).toLowerCase()];
      if (normalized === undefined) {
        throw new DOMException(`crypto.subtle.digest: unrecognized algorithm name "${usv(name)}"`, "NotSupportedError");
      }
      // Hashed now: a change to the data after the call does not change the digest.
      return hostDigest(normalized, bufferSource(data, "crypto.subtle.digest"));
    }
  }
  // WebCrypto runs each operation "in parallel" and resolves its promise in a task queued
  // afterwards: a callback attached to the returned promise runs after the microtasks queued
  // right after the call. Each method computes at once (a buffer changed after the call does not
  // change the result) and settles its promise one turn later.
  for (const name of Object.getOwnPropertyNames(SubtleCrypto.prototype)) {
    const descriptor = ownDescriptor(SubtleCrypto.prototype, name);
    const operation = descriptor.value;
    if (name === "constructor" || typeof operation !== "function") continue;
    const deferred = {
      async [name](...args) {
        return await apply(operation, this, args);
      },
    }[name];
    defineProperty(deferred, "length", { __proto__: null, value: operation.length, configurable: true });
    // A descriptor of its own (no prototype): a plugin may have put `get` or `set` on
    // Object.prototype before this script loads.
    defineProperty(SubtleCrypto.prototype, name, {
      __proto__: null,
      value: deferred,
      writable: descriptor.writable,
      enumerable: descriptor.enumerable,
      configurable: descriptor.configurable,
    });
  }
  tag(SubtleCrypto, "SubtleCrypto");
  const subtle = new SubtleCrypto();

  class Crypto {
    get subtle() {
      return subtle;
    }
    getRandomValues(array) {
      required(arguments.length, 1, "crypto.getRandomValues");
      if (!isView(array)) throw new TypeError("crypto.getRandomValues: the argument must be an integer typed array");
      const kind = is(typedArrayTag, array) ? apply(typedArrayTag, array, []) : "DataView";
      if (!INTEGER_ARRAYS.includes(kind)) {
        throw new DOMException(`crypto.getRandomValues: a ${kind} is not an integer typed array`, "TypeMismatchError");
      }
      const length = apply(typedArrayByteLength, array, []);
      if (length > MAX_RANDOM_BYTES) {
        throw new DOMException(
          `crypto.getRandomValues: the array's byte length (${length}) exceeds the number of bytes of entropy available via this API (${MAX_RANDOM_BYTES})`,
          "QuotaExceededError",
        );
      }
      new U8(apply(typedArrayBuffer, array, []), apply(typedArrayOffset, array, []), length).set(random(length));
      return array;
    }
    randomUUID() {
      // RFC 9562 version 4.
      const b = random(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      let text = "";
      for (let i = 0; i < 16; i++) {
        if (i === 4 || i === 6 || i === 8 || i === 10) text += "-";
        text += HEX[b[i]];
      }
      return text;
    }
  }
  tag(Crypto, "Crypto");
  const crypto = new Crypto();

  // --- URLPattern (WHATWG URL Pattern), on the `urlpattern` crate as Deno uses it: the crate
  // parses and canonicalizes each component into an ECMAScript regular expression, which this
  // engine's RegExp runs. Errors are TypeErrors.
  const PATTERN_COMPONENTS = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];
  const regExpExec = RegExp.prototype.exec;
  // WebIDL URLPatternInput: a USVString, or a URLPatternInit whose members are USVStrings.
  const patternInput = (input) => {
    if (input === undefined || input === null) return {};
    if (typeof input !== "object" && typeof input !== "function") return usv(input);
    const init = {};
    for (const key of [...PATTERN_COMPONENTS, "baseURL"]) {
      const value = input[key];
      if (value !== undefined) init[key] = usv(value);
    }
    return init;
  };
  const patternOptions = (options, who) => {
    if (options === undefined || options === null) return { ignoreCase: false };
    if (typeof options !== "object" && typeof options !== "function") throw new TypeError(`${who}: the options must be an object`);
    return { ignoreCase: Boolean(options.ignoreCase) };
  };
  // [values, inputs] for `test` and `exec`, or null when the input is no URL.
  const matchInput = (input, baseURL, given) => {
    const converted = patternInput(input);
    const base = given >= 2 && baseURL !== undefined ? usv(baseURL) : undefined;
    return JSON.parse(urlPatternMatchInput(JSON.stringify(converted), base));
  };
  class URLPattern {
    #components;
    #hasRegExpGroups;
    constructor(input = undefined, baseURLOrOptions = undefined, options = undefined) {
      const who = "URLPattern";
      let baseURL;
      if (typeof baseURLOrOptions === "string" || (baseURLOrOptions !== undefined && baseURLOrOptions !== null && typeof baseURLOrOptions !== "object")) {
        baseURL = usv(baseURLOrOptions);
      } else {
        options = baseURLOrOptions;
      }
      const converted = patternInput(input);
      const { ignoreCase } = patternOptions(options, who);
      if (typeof converted !== "string" && baseURL !== undefined) {
        throw new TypeError(`${who}: a base URL is only for a pattern string, not with a URLPatternInit`);
      }
      const json = urlPatternParse(JSON.stringify(converted), baseURL, ignoreCase);
      const parsed = JSON.parse(json);
      const components = { __proto__: null };
      for (const key of PATTERN_COMPONENTS) {
        const component = parsed[key];
        // The standard's flags are "v" (Unicode sets), and "i" for ignoreCase; the crate writes
        // its own parts of the expression for "u" (as Deno runs them), which "v" refuses in a
        // few places (a "-" or "[" it escapes): "u" is tried second.
        const flags = ignoreCase ? "i" : "";
        try {
          component.regexp = new RegExp(component.regexpString, `v${flags}`);
        } catch {
          try {
            component.regexp = new RegExp(component.regexpString, `u${flags}`);
          } catch (e) {
            throw new TypeError(`${who}: the ${key} pattern is not a valid regular expression: ${e.message}`);
          }
        }
        components[key] = component;
      }
      this.#components = components;
      this.#hasRegExpGroups = parsed.hasRegexpGroups;
    }
    get protocol() {
      return this.#components.protocol.patternString;
    }
    get username() {
      return this.#components.username.patternString;
    }
    get password() {
      return this.#components.password.patternString;
    }
    get hostname() {
      return this.#components.hostname.patternString;
    }
    get port() {
      return this.#components.port.patternString;
    }
    get pathname() {
      return this.#components.pathname.patternString;
    }
    get search() {
      return this.#components.search.patternString;
    }
    get hash() {
      return this.#components.hash.patternString;
    }
    get hasRegExpGroups() {
      return this.#hasRegExpGroups;
    }
    test(input = undefined, baseURL = undefined) {
      const matched = matchInput(input, baseURL, arguments.length);
      if (matched === null) return false;
      const values = matched[0];
      for (const key of PATTERN_COMPONENTS) {
        if (apply(regExpExec, this.#components[key].regexp, [values[key]]) === null) return false;
      }
      return true;
    }
    exec(input = undefined, baseURL = undefined) {
      const matched = matchInput(input, baseURL, arguments.length);
      if (matched === null) return null;
      const [values, inputs] = matched;
      if (inputs[1] === null) inputs.pop();
      const result = { inputs };
      for (const key of PATTERN_COMPONENTS) {
        const component = this.#components[key];
        const text = values[key];
        const match = apply(regExpExec, component.regexp, [text]);
        if (match === null) return null;
        const groups = {};
        const names = component.groupNameList;
        for (let i = 0; i < names.length; i++) groups[names[i]] = match[i + 1];
        result[key] = { input: text, groups };
      }
      return result;
    }
  }
  tag(URLPattern, "URLPattern");

  // --- performance (High Resolution Time), navigator, reportError ------------------------------
  class Performance {
    get timeOrigin() {
      return timeOrigin;
    }
    now() {
      return now();
    }
    toJSON() {
      return { timeOrigin };
    }
  }
  tag(Performance, "Performance");

  class Navigator {
    get userAgent() {
      return userAgent;
    }
  }
  tag(Navigator, "Navigator");

  // HTML "report the exception": there is no global error event to cancel it, so it goes to
  // the step's log as an uncaught exception, as a browser's console shows it.
  function reportError(error) {
    required(arguments.length, 1, "reportError");
    logError("Uncaught", error);
  }

  // --- Event, EventTarget (DOM §2): one target, no tree ---------------------------------------
  const NONE = 0;
  const CAPTURING_PHASE = 1;
  const AT_TARGET = 2;
  const BUBBLING_PHASE = 3;
  let dispatch;
  // DOM: `isTrusted` is [LegacyUnforgeable], an own accessor of every event sharing one getter;
  // true only for events the platform itself dispatches (`trusted`).
  let isTrusted;
  let trusted;
  class Event {
    #trusted = false;
    #type;
    #bubbles;
    #cancelable;
    #composed;
    #timeStamp;
    #target = null;
    #currentTarget = null;
    #phase = NONE;
    #canceled = false;
    #stop = false;
    #stopImmediate = false;
    #dispatching = false;
    #inPassive = false;
    constructor(type, init = undefined) {
      required(arguments.length, 1, "Event");
      if (init !== undefined && init !== null && typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Event: the options must be an object");
      }
      this.#type = `${type}`;
      this.#bubbles = Boolean(init?.bubbles);
      this.#cancelable = Boolean(init?.cancelable);
      this.#composed = Boolean(init?.composed);
      this.#timeStamp = now();
      defineProperty(this, "isTrusted", { __proto__: null, get: isTrusted, enumerable: true, configurable: false });
    }
    get type() {
      return this.#type;
    }
    get target() {
      return this.#target;
    }
    get srcElement() {
      return this.#target;
    }
    get currentTarget() {
      return this.#currentTarget;
    }
    composedPath() {
      return this.#currentTarget === null ? [] : [this.#currentTarget];
    }
    get eventPhase() {
      return this.#phase;
    }
    stopPropagation() {
      this.#stop = true;
    }
    get cancelBubble() {
      return this.#stop;
    }
    set cancelBubble(value) {
      if (value) this.#stop = true;
    }
    stopImmediatePropagation() {
      this.#stop = true;
      this.#stopImmediate = true;
    }
    get bubbles() {
      return this.#bubbles;
    }
    get cancelable() {
      return this.#cancelable;
    }
    get composed() {
      return this.#composed;
    }
    get returnValue() {
      return !this.#canceled;
    }
    set returnValue(value) {
      if (!value) this.preventDefault();
    }
    preventDefault() {
      if (this.#cancelable && !this.#inPassive) this.#canceled = true;
    }
    get defaultPrevented() {
      return this.#canceled;
    }
    get timeStamp() {
      return this.#timeStamp;
    }
    // DOM's legacy initializer: ignored while the event is dispatched.
    initEvent(type, bubbles = false, cancelable = false) {
      required(arguments.length, 1, "Event.initEvent");
      if (this.#dispatching) return;
      this.#stop = false;
      this.#stopImmediate = false;
      this.#canceled = false;
      this.#target = null;
      this.#type = `${type}`;
      this.#bubbles = Boolean(bubbles);
      this.#cancelable = Boolean(cancelable);
    }
    static {
      isTrusted = {
        get isTrusted() {
          if (!(#trusted in this)) throw new TypeError("isTrusted: not an Event");
          return this.#trusted;
        },
      };
      isTrusted = ownDescriptor(isTrusted, "isTrusted").get;
      trusted = (event) => {
        event.#trusted = true;
        return event;
      };
    }
    static {
      // DOM "dispatch" for a target with no parent: capture listeners, then the others, all at
      // the target. A listener that throws is reported (reportError) and the others still run.
      dispatch = (target, event, listeners) => {
        if (!(#type in event)) throw new TypeError("dispatchEvent: the argument must be an Event");
        if (event.#dispatching) {
          throw new DOMException("dispatchEvent: the event is already being dispatched", "InvalidStateError");
        }
        event.#dispatching = true;
        event.#target = target;
        event.#currentTarget = target;
        event.#phase = AT_TARGET;
        const list = listeners === undefined ? [] : listeners.slice();
        for (const capture of [true, false]) {
          for (const listener of list) {
            if (event.#stopImmediate) break;
            if (listener.removed || listener.capture !== capture) continue;
            if (listener.once) listener.remove();
            event.#inPassive = listener.passive;
            try {
              const callback = listener.callback;
              if (typeof callback === "function") {
                apply(callback, target, [event]);
              } else {
                const handleEvent = callback.handleEvent;
                if (typeof handleEvent !== "function") throw new TypeError("the listener's handleEvent is not a function");
                apply(handleEvent, callback, [event]);
              }
            } catch (error) {
              reportError(error);
            }
            event.#inPassive = false;
          }
        }
        event.#phase = NONE;
        event.#currentTarget = null;
        event.#dispatching = false;
        event.#stop = false;
        event.#stopImmediate = false;
        return !event.#canceled;
      };
    }
  }
  for (const [name, value] of [
    ["NONE", NONE],
    ["CAPTURING_PHASE", CAPTURING_PHASE],
    ["AT_TARGET", AT_TARGET],
    ["BUBBLING_PHASE", BUBBLING_PHASE],
  ]) {
    const descriptor = { __proto__: null, value, enumerable: true };
    defineProperty(Event, name, descriptor);
    defineProperty(Event.prototype, name, descriptor);
  }
  tag(Event, "Event");

  // `{capture, once, passive, signal}` from addEventListener's third argument.
  const listenerOptions = (options) => {
    if (typeof options === "boolean") return { capture: options, once: false, passive: false, signal: undefined };
    if (options === undefined || options === null || (typeof options !== "object" && typeof options !== "function")) {
      return { capture: Boolean(options), once: false, passive: false, signal: undefined };
    }
    const signal = options.signal;
    if (signal !== undefined && !isSignal(signal)) {
      throw new TypeError("addEventListener: options.signal must be an AbortSignal");
    }
    return { capture: Boolean(options.capture), once: Boolean(options.once), passive: Boolean(options.passive), signal };
  };
  const captureOption = (options) =>
    typeof options === "boolean" ? options : options !== null && typeof options === "object" ? Boolean(options.capture) : Boolean(options);

  // Set by the static blocks of EventTarget and AbortSignal.
  let addListener;
  let dispatchOn;
  let isSignal;
  let signalAborted;
  let signalAbort;
  let onAbort;
  let offAbort;
  class EventTarget {
    // type → listeners in order of addition.
    #listeners = new Map();
    addEventListener(type, callback, options = undefined) {
      required(arguments.length, 2, "EventTarget.addEventListener");
      const { capture, once, passive, signal } = listenerOptions(options);
      if (callback === null || callback === undefined) return;
      if (typeof callback !== "function" && typeof callback !== "object") {
        throw new TypeError("EventTarget.addEventListener: the listener must be a function or an object");
      }
      this.#add(`${type}`, callback, capture, once, passive, signal);
    }
    #add(type, callback, capture, once, passive, signal) {
      if (signal !== undefined && signalAborted(signal)) return;
      let list = this.#listeners.get(type);
      if (list === undefined) {
        list = [];
        this.#listeners.set(type, list);
      }
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      const listener = {
        __proto__: null,
        callback,
        capture,
        once,
        passive,
        removed: false,
        remove: () => {
          listener.removed = true;
          const current = this.#listeners.get(type);
          if (current !== undefined) {
            const index = current.indexOf(listener);
            if (index !== -1) current.splice(index, 1);
          }
        },
      };
      list.push(listener);
      if (signal !== undefined) onAbort(signal, listener.remove);
    }
    removeEventListener(type, callback, options = undefined) {
      required(arguments.length, 2, "EventTarget.removeEventListener");
      const capture = captureOption(options);
      const list = this.#listeners.get(`${type}`);
      const listener = list?.find((l) => l.callback === callback && l.capture === capture);
      if (listener !== undefined) listener.remove();
    }
    dispatchEvent(event) {
      required(arguments.length, 1, "EventTarget.dispatchEvent");
      if (!(event instanceof Event)) throw new TypeError("EventTarget.dispatchEvent: the argument must be an Event");
      return dispatch(this, event, this.#listeners.get(event.type));
    }
    static {
      addListener = (target, type, callback) => target.#add(type, callback, false, false, false, undefined);
      dispatchOn = (target, event) => dispatch(target, event, target.#listeners.get(event.type));
    }
  }
  tag(EventTarget, "EventTarget");

  // --- AbortController, AbortSignal (DOM §3.1) -------------------------------------------------
  const ILLEGAL = Symbol("illegal constructor guard");
  const abortError = () => new DOMException("This operation was aborted", "AbortError");
  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    // Internal abort algorithms (fetch, listeners' `signal`), run before the `abort` event.
    #algorithms = new Set();
    #onabort = null;
    #handlerAdded = false;
    // AbortSignal.any: the sources a dependent signal follows, and the dependents a source
    // aborts (weakly held: a long-lived source does not keep every `any()` result alive).
    #dependent = false;
    #sources = [];
    #dependents = [];
    constructor(key = undefined) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
      super();
    }
    get aborted() {
      return this.#aborted;
    }
    get reason() {
      return this.#reason;
    }
    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }
    get onabort() {
      return this.#onabort;
    }
    set onabort(value) {
      this.#onabort = typeof value === "function" || (typeof value === "object" && value !== null) ? value : null;
      if (!this.#handlerAdded) {
        // HTML event handlers: one listener, at the position of the first assignment.
        this.#handlerAdded = true;
        addListener(this, "abort", (event) => {
          const handler = this.#onabort;
          if (typeof handler === "function") apply(handler, this, [event]);
        });
      }
    }
    static abort(reason = undefined) {
      const signal = new AbortSignal(ILLEGAL);
      signal.#aborted = true;
      signal.#reason = reason === undefined ? abortError() : reason;
      return signal;
    }
    static timeout(milliseconds) {
      required(arguments.length, 1, "AbortSignal.timeout");
      const ms = Number(milliseconds);
      if (!Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
        throw new TypeError(`AbortSignal.timeout: the delay must be a non-negative number of milliseconds, got ${milliseconds}`);
      }
      const signal = new AbortSignal(ILLEGAL);
      setTimeout(() => signal.#abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), Math.trunc(ms));
      return signal;
    }
    static any(signals) {
      required(arguments.length, 1, "AbortSignal.any");
      const list = [...signals];
      for (const signal of list) {
        if (!isSignal(signal)) throw new TypeError("AbortSignal.any: every item must be an AbortSignal");
      }
      const result = new AbortSignal(ILLEGAL);
      for (const signal of list) {
        if (signal.#aborted) {
          result.#aborted = true;
          result.#reason = signal.#reason;
          return result;
        }
      }
      result.#dependent = true;
      for (const signal of list) {
        const sources = signal.#dependent ? signal.#sources : [signal];
        for (const source of sources) {
          if (source.#aborted || result.#sources.includes(source)) continue;
          result.#sources.push(source);
          source.#dependents.push(new WeakRef(result));
        }
      }
      return result;
    }
    // DOM "signal abort".
    #abort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? abortError() : reason;
      const dependents = [];
      for (const ref of this.#dependents) {
        const dependent = ref.deref();
        if (dependent !== undefined && !dependent.#aborted) {
          dependent.#aborted = true;
          dependent.#reason = this.#reason;
          dependents.push(dependent);
        }
      }
      this.#dependents = [];
      this.#runAbortSteps();
      for (const dependent of dependents) dependent.#runAbortSteps();
    }
    #runAbortSteps() {
      const algorithms = [...this.#algorithms];
      this.#algorithms.clear();
      for (const algorithm of algorithms) {
        try {
          algorithm();
        } catch (error) {
          reportError(error);
        }
      }
      dispatchOn(this, trusted(new Event("abort")));
    }
    static {
      isSignal = (value) => value !== null && typeof value === "object" && #aborted in value;
      signalAborted = (signal) => signal.#aborted;
      signalAbort = (signal, reason) => signal.#abort(reason);
      onAbort = (signal, algorithm) => {
        if (!signal.#aborted) signal.#algorithms.add(algorithm);
      };
      offAbort = (signal, algorithm) => signal.#algorithms.delete(algorithm);
    }
  }
  tag(AbortSignal, "AbortSignal");

  class AbortController {
    #signal = new AbortSignal(ILLEGAL);
    get signal() {
      return this.#signal;
    }
    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }
  tag(AbortController, "AbortController");

  // fetch's `signal` (stub.js): the response promise rejects with the signal's reason when it
  // aborts, and the host calls `start` made are abandoned (a queued one is never made).
  function abortable(start, signal) {
    if (!isSignal(signal)) return Promise.reject(new TypeError("fetch: init.signal must be an AbortSignal"));
    if (signalAborted(signal)) return Promise.reject(signal.reason);
    const from = callMark();
    let pending;
    try {
      pending = start();
    } catch (error) {
      return Promise.reject(error);
    }
    const to = callMark();
    return new Promise((resolve, reject) => {
      const abort = () => {
        abandonCalls(from, to);
        reject(signal.reason);
      };
      onAbort(signal, abort);
      apply(promiseThen, pending, [
        (value) => {
          offAbort(signal, abort);
          resolve(value);
        },
        (error) => {
          offAbort(signal, abort);
          reject(error);
        },
      ]);
    });
  }

  // --- Blob, File (File API), FormData (XHR §4.3) ----------------------------------------------
  // A blob's bytes are never handed out: readers get copies, so blobs (and slices sharing their
  // bytes) stay immutable.
  let isBlob;
  let blobBytesCopy;
  class Blob {
    #bytes;
    #type;
    constructor(blobParts = undefined, options = undefined) {
      // WebIDL sequence<BlobPart>: @@iterator read once, and each item converted (Blob, then
      // BufferSource, else USVString) as it is reached, before the options are read, so that a
      // conversion that changes the array is seen and the first exception is the one thrown.
      const parts = [];
      if (blobParts !== undefined) {
        if (blobParts === null || (typeof blobParts !== "object" && typeof blobParts !== "function")) {
          throw new TypeError("Blob: blobParts must be a sequence");
        }
        const method = blobParts[Symbol.iterator];
        if (typeof method !== "function") throw new TypeError("Blob: blobParts must be iterable");
        const iterator = apply(method, blobParts, []);
        if (iterator === null || (typeof iterator !== "object" && typeof iterator !== "function")) {
          throw new TypeError("Blob: blobParts' iterator must be an object");
        }
        const next = iterator.next;
        for (;;) {
          const step = apply(next, iterator, []);
          if (step === null || (typeof step !== "object" && typeof step !== "function")) {
            throw new TypeError("Blob: blobParts' iterator result must be an object");
          }
          if (step.done) break;
          const part = step.value;
          if (part !== null && typeof part === "object" && #bytes in part) {
            parts.push(part.#bytes);
          } else if (isView(part)) {
            parts.push(bufferSource(part, "Blob"));
          } else if (is(bufferLength, part)) {
            parts.push(new U8(part));
          } else {
            parts.push(usv(part));
          }
        }
      }
      if (options !== undefined && options !== null && typeof options !== "object" && typeof options !== "function") {
        throw new TypeError("Blob: options must be an object");
      }
      const endings = options?.endings === undefined ? "transparent" : `${options.endings}`;
      if (endings !== "transparent" && endings !== "native") {
        throw new TypeError(`Blob: endings must be "transparent" or "native", got "${endings}"`);
      }
      const type = options?.type === undefined ? "" : `${options.type}`;
      const chunks = [];
      let size = 0;
      for (const part of parts) {
        let bytes = part;
        if (typeof part === "string") {
          // "native" line endings: the host's, "\n" on the systems aether runs on.
          bytes = utf8Encode(endings === "native" ? part.replace(/\r\n|\r/g, "\n") : part);
        }
        chunks.push(bytes);
        size += bytes.length;
      }
      const all = new U8(size);
      let offset = 0;
      for (const chunk of chunks) {
        all.set(chunk, offset);
        offset += chunk.length;
      }
      this.#bytes = all;
      // A type with a character outside U+0020 to U+007E is no type.
      this.#type = /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
    }
    get size() {
      return this.#bytes.length;
    }
    get type() {
      return this.#type;
    }
    slice(start = undefined, end = undefined, contentType = undefined) {
      const size = this.#bytes.length;
      const clamp = (value, fallback) => {
        if (value === undefined) return fallback;
        const n = Math.trunc(Number(value)) || 0;
        return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
      };
      const from = clamp(start, 0);
      const to = clamp(end, size);
      const blob = new Blob([], { type: contentType === undefined ? "" : `${contentType}` });
      blob.#bytes = this.#bytes.subarray(from, Math.max(from, to));
      return blob;
    }
    async text() {
      return utf8Decode(this.#bytes);
    }
    async arrayBuffer() {
      return this.#bytes.slice().buffer;
    }
    async bytes() {
      return this.#bytes.slice();
    }
    // A byte stream of a copy of the bytes.
    stream() {
      return streamsOf().fromBytes(this.#bytes.slice());
    }
    static {
      isBlob = (value) => value !== null && typeof value === "object" && #bytes in value;
      blobBytesCopy = (blob) => blob.#bytes.slice();
    }
  }
  tag(Blob, "Blob");

  let isFile;
  class File extends Blob {
    #name;
    #lastModified;
    constructor(fileBits, fileName, options = undefined) {
      required(arguments.length, 2, "File");
      super(fileBits, options);
      this.#name = usv(fileName);
      const lastModified = options?.lastModified;
      this.#lastModified = lastModified === undefined ? Math.trunc(Date.now()) : Math.trunc(Number(lastModified)) || 0;
    }
    get name() {
      return this.#name;
    }
    get lastModified() {
      return this.#lastModified;
    }
    get webkitRelativePath() {
      return "";
    }
    static {
      isFile = (value) => value !== null && typeof value === "object" && #name in value;
    }
  }
  tag(File, "File");

  // XHR "create an entry": a string, or a File (a Blob becomes one named "blob").
  const formEntry = (name, value, filename, given, who) => {
    const key = usv(name);
    if (given === 3 && !isBlob(value)) throw new TypeError(`${who}: a filename is only for a Blob value`);
    if (!isBlob(value)) return [key, usv(value)];
    if (isFile(value) && filename === undefined) return [key, value];
    const fileName = filename !== undefined ? usv(filename) : isFile(value) ? value.name : "blob";
    const lastModified = isFile(value) ? value.lastModified : undefined;
    return [key, new File([value], fileName, { type: value.type, lastModified })];
  };
  let isFormData;
  let formDataEntries;
  class FormData {
    #list = [];
    constructor(form = undefined, submitter = undefined) {
      if (form !== undefined) throw new TypeError("FormData: there are no form elements to read here");
      void submitter;
    }
    append(name, value, filename = undefined) {
      required(arguments.length, 2, "FormData.append");
      this.#list.push(formEntry(name, value, filename, arguments.length, "FormData.append"));
    }
    delete(name) {
      required(arguments.length, 1, "FormData.delete");
      const key = usv(name);
      this.#list = this.#list.filter((e) => e[0] !== key);
    }
    get(name) {
      required(arguments.length, 1, "FormData.get");
      const key = usv(name);
      const entry = this.#list.find((e) => e[0] === key);
      return entry === undefined ? null : entry[1];
    }
    getAll(name) {
      required(arguments.length, 1, "FormData.getAll");
      const key = usv(name);
      return this.#list.filter((e) => e[0] === key).map((e) => e[1]);
    }
    has(name) {
      required(arguments.length, 1, "FormData.has");
      const key = usv(name);
      return this.#list.some((e) => e[0] === key);
    }
    set(name, value, filename = undefined) {
      required(arguments.length, 2, "FormData.set");
      const entry = formEntry(name, value, filename, arguments.length, "FormData.set");
      const index = this.#list.findIndex((e) => e[0] === entry[0]);
      if (index === -1) {
        this.#list.push(entry);
      } else {
        this.#list[index] = entry;
        this.#list = this.#list.filter((e, i) => i <= index || e[0] !== entry[0]);
      }
    }
    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]];
    }
    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }
    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("FormData.forEach: the callback must be a function");
      for (let i = 0; i < this.#list.length; i++) apply(callback, thisArg, [this.#list[i][1], this.#list[i][0], this]);
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    static {
      isFormData = (value) => value !== null && typeof value === "object" && #list in value;
      formDataEntries = (formData) => formData.#list.slice();
    }
  }
  tag(FormData, "FormData");

  // --- Request (Fetch §5.4), the body held in full ---------------------------------------------
  // Fetch "extract a body" for the web.js body types: `{ bytes, type }` (type null if none).
  const webBody = (body) => {
    if (isBlob(body)) return { bytes: blobBytesCopy(body), type: body.type === "" ? null : body.type };
    if (isParams(body)) return { bytes: utf8Encode(body.toString()), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    if (isFormData(body)) return multipart(body);
    return undefined;
  };
  // `{ bytes, type }`, or `{ bytes: null, stream, type: null }` for a stream body, taken unread.
  const extractBody = (body, who) => {
    const web = webBody(body);
    if (web !== undefined) return web;
    if (typeof body === "string") return { bytes: utf8Encode(usv(body)), type: "text/plain;charset=UTF-8" };
    if (isView(body) || is(bufferLength, body)) return { bytes: bufferSource(body, who).slice(), type: null };
    if (streamsLoaded() && streamsOf().isStream(body)) {
      if (streamsOf().unusable(body)) throw new TypeError(`${who}: the body stream has already been read or is locked`);
      return { bytes: null, stream: body, type: null };
    }
    throw new TypeError(`${who}: the body must be a string, a BufferSource, a Blob, FormData, URLSearchParams or a ReadableStream`);
  };
  // Fetch "package data" for `formData()`: the entries of a `multipart/form-data` or
  // `application/x-www-form-urlencoded` body, as a FormData; a TypeError for another type or a
  // malformed body.
  // WHATWG "UTF-8 decode without BOM" (what the form parsers use): a leading BOM is kept as
  // U+FEFF, where utf8Decode ("UTF-8 decode") drops it.
  const utf8DecodeWithoutBom = (bytes) =>
    bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
      ? "\uFEFF" + utf8Decode(bytes)
      : utf8Decode(bytes);
  const formDataOf = (bytes, contentType) => {
    const type = contentType === null || contentType === undefined ? "" : `${contentType}`;
    const essence = type.split(";")[0].trim().toLowerCase();
    const formData = new FormData();
    if (essence === "application/x-www-form-urlencoded") {
      for (const [name, value] of new URLSearchParams(utf8DecodeWithoutBom(bytes))) formData.append(name, value);
      return formData;
    }
    if (essence !== "multipart/form-data") {
      throw new TypeError(`formData: the body's type must be multipart/form-data or application/x-www-form-urlencoded, got "${type}"`);
    }
    const match = /;\s*boundary=("([^"]*)"|[^;\s]*)/i.exec(type);
    const boundary = match === null ? "" : match[2] ?? match[1];
    const malformed = () => new TypeError("formData: the multipart/form-data body is malformed");
    if (boundary === "") throw malformed();
    // The body as one character per byte, to find delimiters; values are sliced from `bytes`.
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    const delimiter = `--${boundary}`;
    let at = text.indexOf(delimiter);
    if (at === -1) throw malformed();
    for (;;) {
      at += delimiter.length;
      if (text.startsWith("--", at)) return formData;
      if (!text.startsWith("\r\n", at)) throw malformed();
      const headEnd = text.indexOf("\r\n\r\n", at + 2);
      if (headEnd === -1) throw malformed();
      const next = text.indexOf(`\r\n${delimiter}`, headEnd + 4);
      if (next === -1) throw malformed();
      let name;
      let filename;
      let partType = "";
      for (const line of text.slice(at + 2, headEnd).split("\r\n")) {
        const colon = line.indexOf(":");
        const field = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (field === "content-disposition") {
          const utf8 = (raw) => utf8DecodeWithoutBom(new U8([...raw].map((c) => c.charCodeAt(0))));
          const nameMatch = /;\s*name="([^"]*)"/i.exec(value);
          const fileMatch = /;\s*filename="([^"]*)"/i.exec(value);
          if (nameMatch !== null) name = utf8(nameMatch[1]);
          if (fileMatch !== null) filename = utf8(fileMatch[1]);
        } else if (field === "content-type") {
          partType = value;
        }
      }
      if (name === undefined) throw malformed();
      const content = bytes.subarray(headEnd + 4, next);
      if (filename === undefined) formData.append(name, utf8DecodeWithoutBom(content));
      else formData.append(name, new File([content], filename, { type: partType }));
      at = next + 2;
    }
  };
  // HTML "multipart/form-data encoding algorithm", names and filenames escaped as HTML does.
  const escapeField = (text) => text.replace(/\r\n|\r|\n/g, "\r\n").replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  const multipart = (formData) => {
    const hex = random(16);
    let boundary = "----aether-formdata-";
    for (let i = 0; i < 16; i++) boundary += HEX[hex[i]];
    const parts = [];
    for (const [name, value] of formDataEntries(formData)) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeField(name)}"`;
      if (typeof value === "string") {
        parts.push(`${head}\r\n\r\n${value.replace(/\r\n|\r|\n/g, "\r\n")}\r\n`);
      } else {
        head += `; filename="${escapeField(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
        parts.push(head, value, "\r\n");
      }
    }
    parts.push(`--${boundary}--\r\n`);
    return { bytes: blobBytesCopy(new Blob(parts)), type: `multipart/form-data; boundary=${boundary}` };
  };

  const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const REDIRECT_MODES = ["follow", "error", "manual"];
  let isRequest;
  let requestParts;
  class Request {
    #url;
    #method = "GET";
    #headers;
    #body = null;
    // A stream body, unread until the body is read (then `#body` stays null).
    #stream = null;
    #redirect = "follow";
    #signal;
    #used = false;
    #init = { __proto__: null };
    constructor(input, init = undefined) {
      required(arguments.length, 1, "Request");
      if (init !== undefined && init !== null && typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Request: init must be an object");
      }
      const base = isRequest(input) ? input : null;
      if (base !== null) {
        this.#url = base.#url;
        this.#method = base.#method;
        this.#redirect = base.#redirect;
        this.#init = { __proto__: null, ...base.#init };
      } else {
        const c = parse(input, undefined);
        if (c === undefined) throw new TypeError(`Request: invalid URL: ${usv(input)}`);
        // Fetch: a request's URL may not carry credentials (they would go in headers).
        if (c[USERNAME] !== "" || c[PASSWORD] !== "") {
          throw new TypeError("Request: the URL must not include credentials; send them in a header instead");
        }
        this.#url = c[HREF];
      }
      if (init?.method !== undefined) {
        const method = `${init.method}`;
        if (!TOKEN.test(method)) throw new TypeError(`Request: invalid method "${method}"`);
        const upper = method.toUpperCase();
        if (upper === "CONNECT" || upper === "TRACE" || upper === "TRACK") {
          throw new TypeError(`Request: the method "${method}" is forbidden`);
        }
        this.#method = METHODS.includes(upper) ? upper : method;
      }
      if (init?.redirect !== undefined) {
        const redirect = `${init.redirect}`;
        if (!REDIRECT_MODES.includes(redirect)) {
          throw new TypeError(`Request: redirect must be "follow", "error" or "manual", got "${redirect}"`);
        }
        this.#redirect = redirect;
      }
      for (const key of ["mode", "credentials", "cache", "referrer", "referrerPolicy", "integrity", "keepalive"]) {
        if (init?.[key] !== undefined) this.#init[key] = init[key];
      }
      const Headers = headersClass();
      this.#headers = new Headers(init?.headers !== undefined ? init.headers : base?.#headers);
      let body = null;
      let stream = null;
      if (init?.body !== undefined && init.body !== null) {
        const extracted = extractBody(init.body, "Request");
        body = extracted.bytes;
        stream = extracted.stream ?? null;
        if (extracted.type !== null && !this.#headers.has("content-type")) this.#headers.set("content-type", extracted.type);
      } else if (base !== null && (base.#body !== null || base.#stream !== null) && !(init !== undefined && init !== null && "body" in init)) {
        if (base.bodyUsed) throw new TypeError("Request: the input request's body has already been read");
        body = base.#body;
        stream = base.#stream;
        // The body moves to the new request (Fetch: the input's body is taken).
        base.#used = true;
      }
      if ((body !== null || stream !== null) && (this.#method === "GET" || this.#method === "HEAD")) {
        throw new TypeError(`Request: a ${this.#method} request cannot have a body`);
      }
      this.#body = body;
      this.#stream = stream;
      const signal = init?.signal !== undefined ? init.signal : base?.#signal;
      if (signal !== undefined && signal !== null && !isSignal(signal)) {
        throw new TypeError("Request: signal must be an AbortSignal");
      }
      this.#signal = signal === undefined || signal === null ? new AbortController().signal : AbortSignal.any([signal]);
    }
    get method() {
      return this.#method;
    }
    get url() {
      return this.#url;
    }
    get headers() {
      return this.#headers;
    }
    get redirect() {
      return this.#redirect;
    }
    get signal() {
      return this.#signal;
    }
    get mode() {
      return `${this.#init.mode ?? "cors"}`;
    }
    get credentials() {
      return `${this.#init.credentials ?? "same-origin"}`;
    }
    get cache() {
      return `${this.#init.cache ?? "default"}`;
    }
    get referrer() {
      return this.#init.referrer === undefined ? "about:client" : `${this.#init.referrer}`;
    }
    get referrerPolicy() {
      return `${this.#init.referrerPolicy ?? ""}`;
    }
    get integrity() {
      return `${this.#init.integrity ?? ""}`;
    }
    get keepalive() {
      return Boolean(this.#init.keepalive);
    }
    get destination() {
      return "";
    }
    // A `ReadableStream` of `Uint8Array`s, or null for no body.
    get body() {
      if (this.#stream === null && this.#body !== null) {
        this.#stream = streamsOf().fromBytes(this.#body);
        this.#body = null;
      }
      return this.#stream;
    }
    get bodyUsed() {
      return this.#used || (this.#stream !== null && streamsOf().disturbed(this.#stream));
    }
    clone() {
      if (this.bodyUsed || (this.#stream !== null && this.#stream.locked)) {
        throw new TypeError("Request: the body has already been read or is locked");
      }
      const copy = new Request(this.#url);
      copy.#method = this.#method;
      copy.#redirect = this.#redirect;
      copy.#init = { __proto__: null, ...this.#init };
      const Headers = headersClass();
      copy.#headers = new Headers(this.#headers);
      copy.#body = this.#body === null ? null : this.#body.slice();
      if (this.#stream !== null) {
        // Fetch "clone a body": the stream is teed, one branch each, the clone's chunks copies.
        const branches = streamsOf().cloneTee(this.#stream);
        this.#stream = branches[0];
        copy.#stream = branches[1];
      }
      copy.#signal = AbortSignal.any([this.#signal]);
      return copy;
    }
    // The body's bytes, or a promise of them for a stream body.
    #take() {
      if (this.#stream !== null && !this.#used) return streamsOf().readAll(this.#stream, "Request");
      if (this.bodyUsed) throw new TypeError("Request: the body has already been read");
      const body = this.#body ?? new U8(0);
      if (this.#body !== null) this.#used = true;
      this.#body = null;
      return body;
    }
    async text() {
      return utf8Decode(await this.#take());
    }
    async json() {
      return JSON.parse(utf8Decode(await this.#take()));
    }
    async arrayBuffer() {
      return (await this.#take()).buffer;
    }
    async bytes() {
      return this.#take();
    }
    async blob() {
      const type = this.#headers.get("content-type") ?? "";
      return new Blob([await this.#take()], { type });
    }
    async formData() {
      return formDataOf(await this.#take(), this.#headers.get("content-type"));
    }
    static {
      isRequest = (value) => value !== null && typeof value === "object" && #redirect in value;
      // What fetch sends for `request`: its body is taken.
      // A stream body is passed on unread (the prelude's fetch reads it), the request marked used.
      requestParts = (request) => ({
        method: request.#method,
        headers: request.#headers,
        body: request.#stream !== null ? ((request.#used = true), request.#stream) : request.#body === null ? undefined : request.#take(),
        redirect: request.#redirect,
        signal: request.#signal,
      });
    }
  }
  tag(Request, "Request");

  // stub.js's fetch: `undefined` when the prelude's fetch takes `input` and `init` as they are;
  // else the arguments it takes for them (Fetch: `new Request(input, init)`, then fetched).
  function fetchArguments(input, init) {
    const body = init === undefined || init === null ? undefined : init.body;
    const web = body === undefined || body === null ? undefined : webBody(body);
    if (!isRequest(input) && web === undefined) return undefined;
    const request = new Request(input, init);
    if (request.bodyUsed) throw new TypeError("fetch: the request's body has already been read");
    const parts = requestParts(request);
    return {
      __proto__: null,
      url: request.url,
      method: parts.method,
      headers: parts.headers,
      body: parts.body,
      redirect: parts.redirect,
      signal: init?.signal === undefined && !isRequest(input) ? undefined : parts.signal,
      timeoutMs: init?.timeoutMs,
    };
  }

  return {
    __proto__: null,
    Request,
    fetchArguments,
    webBody,
    formDataOf,
    // The href of `url` parsed with no base, or undefined if it is not a URL.
    parseHref: (url) => {
      const c = parse(url, undefined);
      return c === undefined ? undefined : c[HREF];
    },
    Blob,
    File,
    FormData,
    Event,
    EventTarget,
    AbortController,
    AbortSignal,
    abortable,
    URL,
    URLSearchParams,
    DOMException,
    structuredClone,
    crypto,
    performance: new Performance(),
    navigator: new Navigator(),
    reportError,
    URLPattern,
  };
})
