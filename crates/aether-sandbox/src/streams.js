// The stream globals of streams.rs, loaded on first use by the stand-ins stub.js makes. This
// function expression is the default export of a module whose body is the vendored
// web-streams-polyfill (vendor/web-streams-polyfill/ponyfill.mjs, unmodified): the WHATWG
// Streams classes it declares at the module's top level are in scope here. Called once with
// the native helpers (which only its closures keep); returns the globals as `{ name: value }`,
// plus the helpers the prelude's `Response` and web.js's `Request` use for their bodies.
//
// Nothing here is a security boundary: no native helper it uses reaches the host. A plugin
// that tampers with built-in prototypes only confuses itself.
(function (natives) {
  "use strict";
  const utf8Encode = natives.utf8Encode;
  const decoderNew = natives.decoderNew;
  const flateNew = natives.flateNew;
  const isView = ArrayBuffer.isView;
  const U8 = Uint8Array;
  const AB = ArrayBuffer;
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const toWellFormed = String.prototype.toWellFormed;
  const byteLength = Object.getOwnPropertyDescriptor(AB.prototype, "byteLength").get;
  const tag = (Class, name) =>
    defineProperty(Class.prototype, Symbol.toStringTag, { __proto__: null, value: name, configurable: true });

  // A BufferSource's bytes, in place; a TypeError for anything else.
  const bytesOf = (chunk, who) => {
    if (isView(chunk)) return new U8(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    try {
      apply(byteLength, chunk, []);
    } catch {
      throw new TypeError(`${who}: the chunk must be an ArrayBuffer or a view of one`);
    }
    return new U8(chunk);
  };
  const EMPTY = new U8(0);

  // WebIDL: the prototype of a ReadableStream's async iterators inherits %AsyncIteratorPrototype%
  // (which gives them @@asyncIterator) and has only `next` and `return` of its own; the
  // polyfill's is a plain object with its own @@asyncIterator.
  {
    const iteratorPrototype = Object.getPrototypeOf(apply(ReadableStream.prototype.values, new ReadableStream(), []));
    const asyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
    delete iteratorPrototype[Symbol.asyncIterator];
    Object.setPrototypeOf(iteratorPrototype, asyncIteratorPrototype);
  }

  // --- TextEncoderStream, TextDecoderStream (WHATWG Encoding §7) -------------------------------
  class TextEncoderStream {
    #transform;
    constructor() {
      // A high surrogate ending one chunk waits for the low one that may begin the next.
      let pending = "";
      this.#transform = new TransformStream({
        transform(chunk, controller) {
          let text = pending + `${chunk}`;
          pending = "";
          const last = text.charCodeAt(text.length - 1);
          if (last >= 0xd800 && last <= 0xdbff) {
            pending = text.slice(-1);
            text = text.slice(0, -1);
          }
          if (text.length > 0) controller.enqueue(utf8Encode(apply(toWellFormed, text, [])));
        },
        flush(controller) {
          if (pending !== "") controller.enqueue(new U8([0xef, 0xbf, 0xbd]));
        },
      });
    }
    get encoding() {
      return this.#transform === undefined ? "" : "utf-8";
    }
    get readable() {
      return this.#transform.readable;
    }
    get writable() {
      return this.#transform.writable;
    }
  }
  tag(TextEncoderStream, "TextEncoderStream");

  class TextDecoderStream {
    #transform;
    #encoding;
    #fatal;
    #ignoreBOM;
    constructor(label = "utf-8", options = undefined) {
      if (options !== undefined && options !== null && typeof options !== "object" && typeof options !== "function") {
        throw new TypeError("TextDecoderStream: options must be an object");
      }
      const fatal = Boolean(options?.fatal);
      const ignoreBOM = Boolean(options?.ignoreBOM);
      // `[name, decode]`: `decode(bytes, last)` → the text so far (a TypeError where `fatal` and
      // the bytes are malformed), bytes of a split character kept for the next call.
      const decoder = decoderNew(`${label}`, fatal, ignoreBOM);
      if (decoder === undefined) {
        throw new RangeError(`TextDecoderStream: the encoding "${label}" is not supported`);
      }
      const decode = decoder[1];
      this.#encoding = decoder[0];
      this.#fatal = fatal;
      this.#ignoreBOM = ignoreBOM;
      this.#transform = new TransformStream({
        transform(chunk, controller) {
          const text = decode(bytesOf(chunk, "TextDecoderStream"), false);
          if (text.length > 0) controller.enqueue(text);
        },
        flush(controller) {
          const text = decode(EMPTY, true);
          if (text.length > 0) controller.enqueue(text);
        },
      });
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
    get readable() {
      return this.#transform.readable;
    }
    get writable() {
      return this.#transform.writable;
    }
  }
  tag(TextDecoderStream, "TextDecoderStream");

  // --- CompressionStream, DecompressionStream (WHATWG Compression) ----------------------------
  // `flateNew(format, compress)` → `step(bytes | undefined)`, or `undefined` for another format:
  // `step(bytes)` → the output chunks (Uint8Array) so far, `step(undefined)` → the last ones.
  // Corrupt or truncated input, or data after the end, gives the output made before it and an
  // `error`: a TypeError thrown after enqueueing that output, which errors the stream.
  const flateStream = (format, compress, who) => {
    const step = flateNew(`${format}`, compress);
    if (step === undefined) {
      throw new TypeError(`${who}: the format must be "gzip", "deflate" or "deflate-raw", got "${format}"`);
    }
    return new TransformStream({
      transform(chunk, controller) {
        const out = step(bytesOf(chunk, who));
        for (let i = 0; i < out.length; i++) controller.enqueue(out[i]);
        if (out.error !== undefined) throw new TypeError(out.error);
      },
      flush(controller) {
        const out = step(undefined);
        for (let i = 0; i < out.length; i++) controller.enqueue(out[i]);
        if (out.error !== undefined) throw new TypeError(out.error);
      },
    });
  };
  class CompressionStream {
    #transform;
    constructor(format) {
      if (arguments.length < 1) throw new TypeError("CompressionStream: 1 argument required, but only 0 present");
      this.#transform = flateStream(format, true, "CompressionStream");
    }
    get readable() {
      return this.#transform.readable;
    }
    get writable() {
      return this.#transform.writable;
    }
  }
  tag(CompressionStream, "CompressionStream");
  class DecompressionStream {
    #transform;
    constructor(format) {
      if (arguments.length < 1) throw new TypeError("DecompressionStream: 1 argument required, but only 0 present");
      this.#transform = flateStream(format, false, "DecompressionStream");
    }
    get readable() {
      return this.#transform.readable;
    }
    get writable() {
      return this.#transform.writable;
    }
  }
  tag(DecompressionStream, "DecompressionStream");

  // --- Bodies (WHATWG Fetch §5): what Response and Request use ---------------------------------
  const isStream = (value) => value instanceof ReadableStream;
  // Fetch "unusable": disturbed (read from or cancelled) or locked.
  const disturbed = (stream) => stream._disturbed === true;
  const unusable = (stream) => disturbed(stream) || stream.locked;
  // A byte stream of `bytes` (none: an empty, closed one).
  const fromBytes = (bytes) =>
    new ReadableStream({
      type: "bytes",
      start(controller) {
        if (bytes.length > 0) controller.enqueue(bytes);
        controller.close();
      },
    });
  // Fetch "fully read body": every chunk, which must be a Uint8Array, joined. The bytes are
  // held in the engine's heap, under the plugin's memory ceiling.
  const readAll = async (stream, who) => {
    if (unusable(stream)) throw new TypeError(`${who}: the body has already been read or is locked`);
    const reader = stream.getReader();
    const chunks = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof U8)) {
        const error = new TypeError(`${who}: the body stream gave a chunk that is not a Uint8Array`);
        reader.cancel(error).catch(() => {});
        throw error;
      }
      chunks.push(value);
      size += value.length;
    }
    if (chunks.length === 1) return chunks[0].slice();
    const all = new U8(size);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return all;
  };
  // A disturbed, locked empty stream: a body already read in full without its stream (Fetch's
  // "consume body" reads through a reader, which keeps the stream locked).
  const usedStream = () => {
    const stream = fromBytes(EMPTY);
    stream.getReader().cancel().catch(() => {});
    return stream;
  };

  // Fetch "clone a body": ReadableStreamTee with cloneForBranch2, the second branch's chunks
  // copies of the first's (ArrayBuffers and views are copied; a reader that changes a chunk does
  // not change the other branch's). Other chunks, which a body cannot have, are passed as they are.
  const cloneChunk = (chunk) => {
    if (isView(chunk)) {
      const bytes = new U8(chunk.buffer, chunk.byteOffset, chunk.byteLength).slice();
      const View = Object.getPrototypeOf(chunk).constructor;
      return chunk instanceof DataView ? new DataView(bytes.buffer) : new View(bytes.buffer);
    }
    try {
      apply(byteLength, chunk, []);
    } catch {
      return chunk;
    }
    return chunk.slice(0);
  };
  // The copy is made as the chunk leaves `stream` (each chunk is paired with its copy before the
  // tee), so a reader of the first branch that changes a chunk cannot change the second's.
  const mapped = (map) =>
    new TransformStream({
      transform(chunk, controller) {
        controller.enqueue(map(chunk));
      },
    });
  const cloneTee = (stream) => {
    const [first, second] = stream.pipeThrough(mapped((chunk) => [chunk, cloneChunk(chunk)])).tee();
    return [first.pipeThrough(mapped((pair) => pair[0])), second.pipeThrough(mapped((pair) => pair[1]))];
  };

  return {
    __proto__: null,
    ReadableStream,
    ReadableStreamDefaultReader,
    ReadableStreamBYOBReader,
    ReadableStreamBYOBRequest,
    ReadableByteStreamController,
    ReadableStreamDefaultController,
    WritableStream,
    WritableStreamDefaultWriter,
    WritableStreamDefaultController,
    TransformStream,
    TransformStreamDefaultController,
    ByteLengthQueuingStrategy,
    CountQueuingStrategy,
    TextEncoderStream,
    TextDecoderStream,
    CompressionStream,
    DecompressionStream,
    isStream,
    disturbed,
    unusable,
    fromBytes,
    readAll,
    usedStream,
    cloneTee,
  };
})
