// Web-standard globals written in JavaScript (see bindings.rs), loaded on first use by
// stub.js. This file is one function expression: it is called once with the native helpers
// (and the stub's `define`), which only its closures keep, and returns `{ fetch, process, listen }`,
// the functions behind the stub's `fetch`, `aether.process.run` and `aether.listen`.
//
// Nothing here is a security boundary: every argument reaches the host through a native helper
// that checks it again. A plugin that tampers with built-in prototypes only confuses itself.
//
// SPEC §5, the grant is checked first: when fetch, aether.process.run or aether.listen find an
// argument wrong but the call names a target (the URL; the command and cwd; the hostname), they
// hand the host that target with what is wrong (`grantFirst`): the host decides, so a target
// outside the grant is the host's PermissionDenied and its violation, and only a covered one
// gets the error thrown here.
(function (natives) {
  "use strict";
  const encode = natives.encode;
  const decode = natives.decode;
  const hostFetch = natives.fetch;
  const hostPluginFile = natives.pluginFile;
  const hostFetchMalformed = natives.fetchMalformed;
  const hostRun = natives.run;
  const hostListen = natives.listen;
  const hostAccept = natives.accept;
  const hostRespond = natives.respond;
  const hostClose = natives.close;
  const apply = Reflect.apply;
  const isView = ArrayBuffer.isView;
  const U8 = Uint8Array;
  const AB = ArrayBuffer;
  const toWellFormed = String.prototype.toWellFormed;
  const utf8 = (value) => apply(toWellFormed, String(value), []);
  const define = natives.define;
  // stub.js's loaders of streams.rs's and web.rs's globals, and whether each is loaded: a
  // stream, a Blob, FormData or URLSearchParams body can exist only once its script is.
  const streamsOf = natives.streams;
  const streamsLoaded = natives.streamsLoaded;
  const webOf = natives.web;
  const webLoaded = natives.webLoaded;

  // What `error` says, for the host (it answers a covered target with this as a TypeError).
  const problemOf = (error) => {
    try {
      return utf8(error instanceof Error ? error.message : error);
    } catch {
      return "invalid argument";
    }
  };
  // The call's other arguments threw `error`: `ask(problem)` has the host check the target
  // first. Throws the host's PermissionDenied if the target is outside the grant, else `error`
  // itself, as the call always did.
  const grantFirst = (error, ask) => {
    let reply;
    try {
      reply = ask(problemOf(error));
    } catch (denied) {
      if (denied?.name === "PermissionDenied") throw denied;
      throw error;
    }
    if (reply instanceof Promise) {
      return reply.then(
        () => { throw error; },
        (denied) => { throw denied?.name === "PermissionDenied" ? denied : error; },
      );
    }
    throw error;
  };

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      return encode(utf8(input));
    }
    encodeInto(source, destination) {
      if (!(destination instanceof U8)) {
        throw new TypeError("TextEncoder.encodeInto: destination must be a Uint8Array");
      }
      let read = 0;
      let written = 0;
      for (const ch of utf8(source)) {
        const bytes = encode(ch);
        if (written + bytes.length > destination.length) break;
        destination.set(bytes, written);
        written += bytes.length;
        read += ch.length;
      }
      return { read, written };
    }
  }

  // WHATWG Encoding §7: every encoding of the standard, on encoding.rs's decoders. A stream
  // (`decode(bytes, { stream: true })` calls, ended by one without) keeps its decoder there,
  // by number; one the plugin drops mid-stream is closed when it is collected.
  const decoderEncoding = natives.decoderEncoding;
  const decodeOnce = natives.decodeOnce;
  const decoderOpen = natives.decoderOpen;
  const decoderFeed = natives.decoderFeed;
  const decoderClose = natives.decoderClose;
  const openStreams =
    typeof FinalizationRegistry === "function" ? new FinalizationRegistry((id) => decoderClose(id)) : undefined;
  class TextDecoder {
    #encoding;
    #fatal;
    #ignoreBOM;
    #stream = 0;
    constructor(label = "utf-8", options = undefined) {
      const text = `${label}`;
      // Every label is ASCII; anything else names no encoding.
      const encoding = /^[\x00-\x7f]*$/.test(text) ? decoderEncoding(text) : undefined;
      if (encoding === undefined) {
        throw new RangeError(`TextDecoder: "${text}" is not the label of a supported encoding`);
      }
      if (options !== undefined && options !== null && typeof options !== "object" && typeof options !== "function") {
        throw new TypeError("TextDecoder: options must be an object");
      }
      this.#encoding = encoding;
      this.#fatal = Boolean(options?.fatal);
      this.#ignoreBOM = Boolean(options?.ignoreBOM);
    }
    get encoding() {
      return this.#encoding;
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }
    decode(input = undefined, options = undefined) {
      if (options !== undefined && options !== null && typeof options !== "object" && typeof options !== "function") {
        throw new TypeError("TextDecoder.decode: options must be an object");
      }
      const stream = Boolean(options?.stream);
      let bytes;
      if (input === undefined) bytes = new U8(0);
      else if (input instanceof U8) bytes = input;
      else if (isView(input)) bytes = new U8(input.buffer, input.byteOffset, input.byteLength);
      else if (input instanceof AB || (typeof SharedArrayBuffer === "function" && input instanceof SharedArrayBuffer)) {
        bytes = new U8(input);
      } else throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or a view of one");
      if (this.#stream === 0) {
        if (!stream) return decodeOnce(this.#encoding, bytes, this.#fatal, this.#ignoreBOM);
        this.#stream = decoderOpen(this.#encoding, this.#ignoreBOM);
        openStreams?.register(this, this.#stream, this);
      }
      const id = this.#stream;
      if (!stream) {
        this.#stream = 0;
        openStreams?.unregister(this);
      }
      try {
        return decoderFeed(id, bytes, this.#fatal, !stream);
      } catch (error) {
        // A fatal error ends the stream (the native side has dropped its decoder).
        if (this.#stream === id) {
          this.#stream = 0;
          openStreams?.unregister(this);
        }
        throw error;
      }
    }
  }

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);

  // --- Headers (WHATWG Fetch §5.2), names kept in lower case -----------------------------
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const headerName = (name) => {
    const text = String(name);
    if (!TOKEN.test(text)) throw new TypeError(`Headers: invalid header name "${text}"`);
    return text.toLowerCase();
  };
  // WebIDL ByteString: a string whose code units all fit a byte.
  const byteString = (value) => {
    const text = `${value}`;
    if (/[^\x00-\xff]/.test(text)) throw new TypeError("Headers: a header name or value must be bytes (no character above U+00FF)");
    return text;
  };
  const headerValue = (value) => {
    const text = byteString(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\r\n]/.test(text)) throw new TypeError("Headers: a header value may not contain NUL, CR or LF");
    return text;
  };

  let sortedHeaders;
  let freezeHeaders;
  class Headers {
    #list = [];
    // Fetch's "immutable" guard (the headers of `Response.error()` and `Response.redirect()`):
    // every change is a TypeError.
    #immutable = false;
    constructor(init = undefined) {
      if (init === undefined) return;
      // WebIDL: `null` is neither a sequence nor a record.
      if (init === null || (typeof init !== "object" && typeof init !== "function")) {
        throw new TypeError("Headers: init must be an object, a list of pairs or a Headers");
      }
      if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const items = [...pair];
          if (items.length !== 2) throw new TypeError("Headers: each pair must have exactly two items");
          this.append(items[0], items[1]);
        }
      } else {
        // WebIDL record<ByteString, ByteString>: each own key's descriptor, then its value, in
        // order (a Proxy sees exactly these traps); the whole record before the first append.
        const pairs = [];
        for (const key of Reflect.ownKeys(init)) {
          const descriptor = Reflect.getOwnPropertyDescriptor(init, key);
          if (descriptor === undefined || !descriptor.enumerable) continue;
          if (typeof key === "symbol") throw new TypeError("Headers: a header name may not be a symbol");
          pairs.push([byteString(key), byteString(init[key])]);
        }
        for (const [name, value] of pairs) this.append(name, value);
      }
    }
    append(name, value) {
      const entry = [headerName(name), headerValue(value)];
      this.#mutable();
      this.#list.push(entry);
    }
    #mutable() {
      if (this.#immutable) throw new TypeError("Headers: these headers are immutable and cannot be changed");
    }
    delete(name) {
      const key = headerName(name);
      this.#mutable();
      this.#list = this.#list.filter((entry) => entry[0] !== key);
    }
    get(name) {
      const key = headerName(name);
      const values = this.#list.filter((entry) => entry[0] === key).map((entry) => entry[1]);
      return values.length === 0 ? null : values.join(", ");
    }
    getSetCookie() {
      return this.#list.filter((entry) => entry[0] === "set-cookie").map((entry) => entry[1]);
    }
    has(name) {
      const key = headerName(name);
      return this.#list.some((entry) => entry[0] === key);
    }
    set(name, value) {
      const key = headerName(name);
      const text = headerValue(value);
      this.#mutable();
      this.#list = this.#list.filter((entry) => entry[0] !== key);
      this.#list.push([key, text]);
    }
    // Fetch "sort and combine": the pairs the iterators walk, recomputed at each step (WebIDL
    // pair iterators see changes made while iterating).
    #sorted() {
      const names = [...new Set(this.#list.map((entry) => entry[0]))].sort();
      const pairs = [];
      for (const name of names) {
        if (name === "set-cookie") {
          for (const value of this.getSetCookie()) pairs.push([name, value]);
        } else {
          pairs.push([name, this.get(name)]);
        }
      }
      return pairs;
    }
    entries() {
      return new HeadersIterator(this, "entries");
    }
    keys() {
      return new HeadersIterator(this, "keys");
    }
    values() {
      return new HeadersIterator(this, "values");
    }
    forEach(callback, thisArg = undefined) {
      for (const [name, value] of this.#sorted()) apply(callback, thisArg, [value, name, this]);
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    static {
      sortedHeaders = (headers) => headers.#sorted();
      freezeHeaders = (headers) => {
        headers.#immutable = true;
      };
    }
  }
  // WebIDL's default iterator objects: `next` on a prototype whose own prototype is
  // %IteratorPrototype% (generators put %GeneratorPrototype% in between).
  class HeadersIterator {
    #headers;
    #kind;
    #index = 0;
    constructor(headers, kind) {
      this.#headers = headers;
      this.#kind = kind;
    }
    next() {
      if (!(#index in this)) throw new TypeError("next: not a Headers iterator");
      const pairs = sortedHeaders(this.#headers);
      if (this.#index >= pairs.length) return { value: undefined, done: true };
      const [name, value] = pairs[this.#index++];
      const kind = this.#kind;
      return { value: kind === "keys" ? name : kind === "values" ? value : [name, value], done: false };
    }
  }
  // %IteratorPrototype%, reached without calling anything the plugin can replace (this runs
  // after plugin code; descriptors have no prototype for the same reason).
  const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf((function* () {}).prototype));
  Object.setPrototypeOf(HeadersIterator.prototype, IteratorPrototype);
  Object.defineProperty(HeadersIterator.prototype, Symbol.toStringTag, {
    __proto__: null,
    value: "Headers Iterator",
    configurable: true,
  });
  // WebIDL operations are enumerable.
  Object.defineProperty(HeadersIterator.prototype, "next", { __proto__: null, enumerable: true });

  // --- Response (WHATWG Fetch §5.5), the body held in full ---------------------------------
  const bodyBytes = (body, who, what = "body") => {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") return encode(utf8(body));
    if (isView(body)) return new U8(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    if (body instanceof AB) return new U8(body.slice(0));
    throw new TypeError(`${who}: ${what} must be a string, an ArrayBuffer or a typed array`);
  };

  // Fetch "extract a body": `{ bytes, stream, type }` (one of `bytes` and `stream` null, `type`
  // null if the body implies none), or null for no body. A stream is taken as it is, unread.
  const extractBody = (body, who) => {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") return { bytes: encode(utf8(body)), stream: null, type: "text/plain;charset=UTF-8" };
    if (isView(body) || body instanceof AB) return { bytes: bodyBytes(body, who), stream: null, type: null };
    if (streamsLoaded() && streamsOf().isStream(body)) {
      if (streamsOf().unusable(body)) throw new TypeError(`${who}: the body stream has already been read or is locked`);
      return { bytes: null, stream: body, type: null };
    }
    const web = webLoaded() ? webOf().webBody(body) : undefined;
    if (web !== undefined) return { bytes: web.bytes, stream: null, type: web.type };
    throw new TypeError(
      `${who}: body must be a string, an ArrayBuffer, a typed array, a Blob, FormData, URLSearchParams or a ReadableStream`,
    );
  };

  let responseFromHost;
  // The body readers of WHATWG Fetch's Body mixin, shared by `Response` and the requests of
  // `aether.listen`: each reads the body once, through the class's own `take` (the bytes, or
  // a promise of them when the body is a stream).
  const READERS = [
    ["bytes", (bytes) => bytes],
    ["arrayBuffer", (bytes) => bytes.buffer],
    ["text", (bytes) => decode(bytes, false, false)],
    ["json", (bytes) => JSON.parse(decode(bytes, false, false))],
    ["blob", (bytes, headers) => new (webOf().Blob)([bytes], { type: headers.get("content-type") ?? "" })],
    ["formData", (bytes, headers) => webOf().formDataOf(bytes, headers.get("content-type"))],
  ];
  const bodyReaders = (Class, take) => {
    for (const [name, read] of READERS) {
      const method = {
        async [name]() {
          return read(await take(this), this.headers);
        },
      }[name];
      Object.defineProperty(Class.prototype, name, {
        __proto__: null,
        value: method,
        writable: true,
        enumerable: false,
        configurable: true,
      });
    }
  };

  class Response {
    #status = 200;
    #statusText = "";
    #headers;
    // The body, held in full until `body` makes it a stream (most are read in full, and a
    // stream costs loading streams.js); `#stream` once it is one.
    #body = null;
    #stream = null;
    #hasBody = false;
    #url = "";
    #redirected = false;
    #used = false;
    // Fetch's response type: "default" for one made here, "basic" for one fetched, "error".
    #type = "default";
    constructor(body = null, init = undefined) {
      if (init?.status !== undefined) {
        const status = Number(init.status);
        if (!Number.isInteger(status) || status < 200 || status > 599) {
          throw new RangeError(`Response: status must be an integer from 200 to 599, got ${init.status}`);
        }
        this.#status = status;
      }
      if (init?.statusText !== undefined) {
        const statusText = String(init.statusText);
        // HTTP's reason-phrase: tabs, spaces, visible ASCII and obs-text bytes.
        if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText)) {
          throw new TypeError(`Response: statusText must be an HTTP reason phrase, got ${JSON.stringify(statusText)}`);
        }
        this.#statusText = statusText;
      }
      this.#headers = new Headers(init?.headers);
      const extracted = extractBody(body, "Response");
      if (extracted !== null) {
        if (NULL_BODY_STATUSES.includes(this.#status)) {
          throw new TypeError(`Response: a response with status ${this.#status} cannot have a body`);
        }
        this.#hasBody = true;
        this.#body = extracted.bytes;
        this.#stream = extracted.stream;
        if (extracted.type !== null && !this.#headers.has("content-type")) {
          this.#headers.set("content-type", extracted.type);
        }
      }
    }
    get type() {
      return this.#type;
    }
    get status() {
      return this.#status;
    }
    get statusText() {
      return this.#statusText;
    }
    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }
    get url() {
      return this.#url;
    }
    get redirected() {
      return this.#redirected;
    }
    get headers() {
      return this.#headers;
    }
    // A `ReadableStream` of `Uint8Array`s, or null for no body.
    get body() {
      if (!this.#hasBody) return null;
      if (this.#stream === null) {
        this.#stream = this.#used ? streamsOf().usedStream() : streamsOf().fromBytes(this.#body);
        this.#body = null;
      }
      return this.#stream;
    }
    get bodyUsed() {
      return this.#stream === null ? this.#used : streamsOf().disturbed(this.#stream);
    }
    #take() {
      if (this.#stream !== null) return streamsOf().readAll(this.#stream, "Response");
      if (this.#used) throw new TypeError("Response: the body has already been read");
      if (!this.#hasBody) return new U8(0);
      this.#used = true;
      const body = this.#body;
      this.#body = null;
      return body;
    }
    clone() {
      if (this.bodyUsed || (this.#stream !== null && this.#stream.locked)) {
        throw new TypeError("Response: the body has already been read or is locked");
      }
      const copy = new Response(null, { headers: this.#headers });
      copy.#hasBody = this.#hasBody;
      if (this.#stream !== null) {
        // Fetch "clone a body": the stream is teed, one branch each, the clone's chunks copies.
        const branches = streamsOf().cloneTee(this.#stream);
        this.#stream = branches[0];
        copy.#stream = branches[1];
      } else if (this.#body !== null) {
        copy.#body = new U8(this.#body);
      }
      copy.#status = this.#status;
      copy.#statusText = this.#statusText;
      copy.#url = this.#url;
      copy.#redirected = this.#redirected;
      copy.#type = this.#type;
      return copy;
    }
    // Fetch's static constructors: a network error, a redirect to a URL, and a JSON body.
    static error() {
      const response = new Response(null);
      response.#type = "error";
      response.#status = 0;
      freezeHeaders(response.#headers);
      return response;
    }
    static redirect(url, status = 302) {
      const href = webOf().parseHref(url);
      if (href === undefined) throw new TypeError(`Response.redirect: invalid URL: ${utf8(url)}`);
      const code = Number(status);
      if (!REDIRECT_STATUSES.includes(code)) {
        throw new RangeError(`Response.redirect: status must be 301, 302, 303, 307 or 308, got ${status}`);
      }
      const response = new Response(null, { status: code });
      response.#headers.set("location", href);
      freezeHeaders(response.#headers);
      return response;
    }
    static json(data, init = undefined) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the data cannot be serialized as JSON");
      const response = new Response(encode(text), init);
      if (!response.#headers.has("content-type")) response.#headers.set("content-type", "application/json");
      return response;
    }
    static {
      bodyReaders(Response, (response) => response.#take());
      responseFromHost = (r) => {
        const response = new Response(null, { headers: r.headers });
        response.#status = r.status;
        response.#statusText = r.statusText;
        response.#body = r.body;
        response.#hasBody = true;
        response.#url = r.url;
        response.#redirected = r.redirected;
        response.#type = "basic";
        return response;
      };
    }
  }

  // Fetch "null body status": a response with one of these has no body.
  const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
  // Fetch "redirect status".
  const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

  // --- fetch (SPEC §5): through the host's gateway, which checks every hop -----------------
  const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
  const REDIRECTS = ["follow", "manual", "error"];
  const milliseconds = (value, who) => {
    if (value === undefined) return undefined;
    const ms = Number(value);
    if (!Number.isFinite(ms) || ms < 0) {
      throw new TypeError(`${who}: timeoutMs must be a non-negative number, got ${value}`);
    }
    return ms;
  };
  // The request `init` describes, or a throw: what fetch checks besides the URL.
  const fetchInit = (init) => {
    let method = init?.method === undefined ? "GET" : utf8(init.method);
    if (NORMALIZED_METHODS.includes(method.toUpperCase())) method = method.toUpperCase();
    const headers = new Headers(init?.headers);
    const body = extractBody(init?.body, "fetch");
    if (body !== null && (method === "GET" || method === "HEAD")) {
      throw new TypeError(`fetch: a ${method} request cannot have a body`);
    }
    if (body !== null && body.type !== null && !headers.has("content-type")) {
      headers.set("content-type", body.type);
    }
    const redirect = init?.redirect === undefined ? "follow" : String(init.redirect);
    if (!REDIRECTS.includes(redirect)) {
      throw new TypeError(`fetch: redirect must be "follow", "manual" or "error", got "${redirect}"`);
    }
    const timeoutMs = milliseconds(init?.timeoutMs, "fetch");
    const pairs = [...headers].map(([name, value]) => [name, utf8(value)]);
    return { method, headers: pairs, body, redirect, timeoutMs };
  };
  async function fetch(input, init = undefined) {
    const url = typeof input === "object" && input !== null && typeof input.url === "string" ? input.url : String(input);
    // A file of the plugin itself (SPEC §5): its verified bytes, no grant, no network.
    if (url.slice(0, 14).toLowerCase() === "aether-plugin:") {
      const method = init?.method === undefined ? "GET" : String(init.method).toUpperCase();
      if (method !== "GET" && method !== "HEAD") {
        throw new TypeError(`fetch: an aether-plugin: URL can only be read with GET, not ${method}`);
      }
      return responseFromHost(hostPluginFile(url));
    }
    let r;
    try {
      r = fetchInit(init);
    } catch (error) {
      return grantFirst(error, (problem) => hostFetchMalformed(url, problem));
    }
    // A stream body is read in full (in the engine's heap, under the memory ceiling) before the
    // host call: the gateway sends a body whose length it knows. A stream that fails is, like
    // any other bad argument, the host's PermissionDenied first if the URL is not granted.
    let body = r.body === null ? undefined : r.body.bytes;
    if (r.body !== null && r.body.stream !== null) {
      try {
        body = await streamsOf().readAll(r.body.stream, "fetch");
      } catch (error) {
        return grantFirst(error, (problem) => hostFetchMalformed(url, problem));
      }
    }
    const reply = await hostFetch(url, r.method, r.headers, body, r.redirect, r.timeoutMs);
    return responseFromHost(reply);
  }

  // --- aether.process.run (SPEC §5): a confined child, started and checked by the host -------
  async function run(command, args = [], options = undefined) {
    if (typeof command !== "string") {
      throw new TypeError(`aether.process.run: the command must be a string, got ${typeof command}`);
    }
    // Lone surrogates as U+FFFD (WebIDL USVString), like a path: one command, checked first.
    const program = utf8(command);
    // The targets: the command, and the working directory when it is a string.
    let cwd;
    let r;
    try {
      const given = options?.cwd;
      if (typeof given === "string") cwd = given;
      if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
        throw new TypeError("aether.process.run: args must be an array of strings");
      }
      const stdin = bodyBytes(options?.stdin, "aether.process.run", "stdin") ?? new U8(0);
      const timeoutMs = milliseconds(options?.timeoutMs, "aether.process.run");
      if (given !== undefined && cwd === undefined) {
        throw new TypeError("aether.process.run: cwd must be a string");
      }
      const list = [];
      for (const a of args) list.push(utf8(a));
      r = { args: list, stdin, timeoutMs };
    } catch (error) {
      return grantFirst(error, (problem) => hostRun(program, [], new U8(0), undefined, cwd, problem));
    }
    return hostRun(program, r.args, r.stdin, r.timeoutMs, cwd);
  }

  // --- aether.listen (SPEC §5): aether binds, accepts and parses; the plugin sees requests ---
  // Not a global: only `accept()` makes these.
  class IncomingRequest {
    #id;
    #method;
    #url;
    #headers;
    #body;
    #used = false;
    constructor(r) {
      this.#id = r.id;
      this.#method = r.method;
      this.#url = r.url;
      this.#headers = new Headers(r.headers);
      this.#body = r.body;
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
    get bodyUsed() {
      return this.#used;
    }
    #take() {
      if (this.#used) throw new TypeError("request: the body has already been read");
      this.#used = true;
      const body = this.#body;
      this.#body = null;
      return body;
    }
    static {
      bodyReaders(IncomingRequest, (request) => request.#take());
    }
    respond(status = 200, headers = undefined, body = undefined) {
      const code = Number(status);
      if (!Number.isInteger(code)) throw new TypeError(`respond: the status must be an integer, got ${status}`);
      const list = new Headers(headers);
      const bytes = bodyBytes(body, "respond");
      if (typeof body === "string" && !list.has("content-type")) {
        list.set("content-type", "text/plain;charset=UTF-8");
      }
      hostRespond(this.#id, code, [...list], bytes ?? new U8(0));
    }
  }

  function listen(options) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("aether.listen: the argument must be an object {hostname, port}");
    }
    const { hostname, port } = options;
    if (hostname !== undefined && typeof hostname !== "string") {
      throw new TypeError(`aether.listen: hostname must be a string, got ${typeof hostname}`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      const error = new TypeError(`aether.listen: port must be an integer from 1 to 65535, got ${String(port)}`);
      // Port 0 here: no port named; the host checks the hostname against every granted port.
      grantFirst(error, (problem) => hostListen(hostname, 0, problem));
    }
    const id = hostListen(hostname, port);
    return Object.freeze({
      async accept() {
        const r = await hostAccept(id);
        return r === undefined ? null : new IncomingRequest(r);
      },
      close() {
        hostClose(id);
      },
    });
  }

  define("Headers", Headers);
  define("Response", Response);
  return { fetch, process: { run }, listen };
})
