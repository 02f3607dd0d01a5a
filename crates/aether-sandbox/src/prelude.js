// Web-standard globals written in JavaScript (see bindings.rs). This file is one function
// expression: it is called once with the native helpers, which only its closures keep.
(function (natives) {
  "use strict";
  const encode = natives.encode;
  const decode = natives.decode;
  const apply = Reflect.apply;
  const isView = ArrayBuffer.isView;
  const U8 = Uint8Array;
  const AB = ArrayBuffer;
  const toWellFormed = String.prototype.toWellFormed;
  const utf8 = (value) => apply(toWellFormed, String(value), []);
  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, writable: true, enumerable: false, configurable: true });

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

  const LABELS = ["utf-8", "utf8", "unicode-1-1-utf-8"];
  class TextDecoder {
    #fatal;
    #ignoreBOM;
    constructor(label = "utf-8", options = undefined) {
      const normalized = String(label).trim().toLowerCase();
      if (!LABELS.includes(normalized)) {
        throw new RangeError(`TextDecoder: unsupported encoding "${label}" (only utf-8 is)`);
      }
      this.#fatal = Boolean(options?.fatal);
      this.#ignoreBOM = Boolean(options?.ignoreBOM);
    }
    get encoding() {
      return "utf-8";
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }
    decode(input = undefined, options = undefined) {
      if (options?.stream) {
        throw new TypeError("TextDecoder.decode: streaming is not supported");
      }
      if (input === undefined) return "";
      let bytes;
      if (input instanceof U8) bytes = input;
      else if (isView(input)) bytes = new U8(input.buffer, input.byteOffset, input.byteLength);
      else if (input instanceof AB) bytes = new U8(input);
      else throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or a view of one");
      return decode(bytes, this.#fatal, this.#ignoreBOM);
    }
  }

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
})
