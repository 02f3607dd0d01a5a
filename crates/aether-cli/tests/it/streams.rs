//! The stream globals of SPEC §5 (issue 18): WHATWG Streams, `Response`/`Request` bodies as
//! streams, text and compression streams. Each script runs as a plugin in both isolation tiers,
//! which must agree, and under `node` too, whose output is the reference.

use std::process::Command;

use serde_json::{Value, json};

use crate::Ws;
use crate::run::{output, run};
use crate::web::{in_both_tiers, net_workspace, same_as_node};

const STREAMS: &str = r#"
const out = {};
const names = ["ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest",
  "ReadableByteStreamController", "ReadableStreamDefaultController", "WritableStream", "WritableStreamDefaultWriter",
  "WritableStreamDefaultController", "TransformStream", "TransformStreamDefaultController", "ByteLengthQueuingStrategy",
  "CountQueuingStrategy", "TextEncoderStream", "TextDecoderStream", "CompressionStream", "DecompressionStream"];
out.globals = names.map((n) => [n, typeof globalThis[n], Object.getOwnPropertyDescriptor(globalThis, n).enumerable]);
const all = async (stream) => { const got = []; for await (const x of stream) got.push(x); return got; };

// Default stream: pull, highWaterMark, desiredSize, cancel reason.
let pulls = 0;
const counted = new ReadableStream({ pull(c) { pulls++; c.enqueue(pulls); if (pulls === 3) c.close(); } }, new CountQueuingStrategy({ highWaterMark: 2 }));
out.counted = [await all(counted), pulls];
let reason;
const cancelled = new ReadableStream({ cancel(r) { reason = r; } });
await cancelled.cancel("why");
out.cancelled = reason;

// Byte stream with a BYOB reader.
const bytes = new ReadableStream({
  type: "bytes",
  autoAllocateChunkSize: 4,
  pull(c) {
    const req = c.byobRequest;
    const v = req.view;
    for (let i = 0; i < v.byteLength; i++) v[i] = i + 1;
    req.respond(Math.min(3, v.byteLength));
    if (++this.n === 3) c.close();
  },
  n: 0,
});
const byob = bytes.getReader({ mode: "byob" });
const reads = [];
for (;;) {
  const { done, value } = await byob.read(new Uint8Array(8));
  if (done) break;
  reads.push([value.constructor.name, [...value]]);
}
out.byob = reads;
const minRead = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2])); c.enqueue(new Uint8Array([3, 4, 5])); c.close(); } });
const m = await minRead.getReader({ mode: "byob" }).read(new Uint16Array(2));
out.typed = [m.value.constructor.name, m.value.length, m.value.byteLength];

// tee, pipeTo, pipeThrough, WritableStream backpressure, ReadableStream.from.
const [left, right] = ReadableStream.from(["a", "b", "c"]).tee();
out.tee = [await all(left), await all(right)];
const written = [];
const sizes = [];
const ws = new WritableStream({ write(chunk) { written.push(chunk); } }, new ByteLengthQueuingStrategy({ highWaterMark: 4 }));
const writer = ws.getWriter();
sizes.push(writer.desiredSize);
writer.write(new Uint8Array(3));
sizes.push(writer.desiredSize);
await writer.ready;
await writer.close();
out.writable = [written.map((c) => c.length), sizes];
const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); }, flush(c) { c.enqueue("!"); } });
out.pipeThrough = await all(ReadableStream.from(["x", "y"]).pipeThrough(upper));
const sink = [];
await ReadableStream.from((async function* () { yield 1; yield 2; })()).pipeTo(new WritableStream({ write(c) { sink.push(c); } }));
out.pipeTo = sink;
const controller = new AbortController();
const pending = new ReadableStream({ start(c) { c.enqueue(1); } }).pipeTo(new WritableStream(), { signal: controller.signal });
controller.abort(new Error("stop"));
out.aborted = await pending.then(() => "resolved", (e) => e.message);
const errored = new ReadableStream({ start(c) { c.error(new TypeError("bad")); } });
out.errored = await errored.getReader().read().then(() => "ok", (e) => [e.name, e.message]);
const locked = new ReadableStream();
locked.getReader();
out.locked = [locked.locked, (() => { try { locked.getReader(); return "ok"; } catch (e) { return e.name; } })()];
out.tags = [new ReadableStream(), new WritableStream(), new TransformStream(), new CountQueuingStrategy({ highWaterMark: 1 })]
  .map((x) => Object.prototype.toString.call(x));
out.illegal = (() => { try { new ReadableStreamDefaultController(); return "ok"; } catch (e) { return e.name; } })();
return out;
"#;

// See: https://streams.spec.whatwg.org/ and the WPT's streams/ (readable-byte-streams,
// piping, transform-streams, queuing-strategies)
#[test]
fn issue_18_streams_match_node() {
    let out = same_as_node(STREAMS);
    assert_eq!(out["byob"][0], json!(["Uint8Array", [1, 2, 3]]));
    assert_eq!(out["tee"], json!([["a", "b", "c"], ["a", "b", "c"]]));
}

const TEXT_STREAMS: &str = r#"
const all = async (stream) => { const got = []; for await (const x of stream) got.push(x); return got; };
const out = {};
const enc = new TextEncoderStream();
const w = enc.writable.getWriter();
// A surrogate pair split across two chunks, and a lone one at the end.
w.write("a\uD83D");
w.write("\uDE00b");
w.write("\uD800");
w.close();
out.encoded = (await all(enc.readable)).map((c) => [...c]);
out.encoding = [enc.encoding, new TextDecoderStream().encoding, new TextDecoderStream("latin1").encoding,
  new TextDecoderStream(" UTF-16LE ").encoding];
// A three-byte character split across chunks, and a BOM.
const chunks = [[0xef, 0xbb, 0xbf, 0x68, 0xe2], [0x82], [0xac, 0x21]];
const decode = async (options, input = chunks) =>
  (await all(ReadableStream.from(input.map((c) => new Uint8Array(c))).pipeThrough(new TextDecoderStream("utf-8", options)))).join("|");
out.decoded = [await decode(undefined), await decode({ ignoreBOM: true })];
out.replaced = await decode(undefined, [[0x61, 0xff, 0x62], [0xe2, 0x82]]);
out.fatal = await decode({ fatal: true }, [[0x61, 0xff]]).then(() => "ok", (e) => e.name);
out.truncatedFatal = await decode({ fatal: true }, [[0xe2, 0x82]]).then(() => "ok", (e) => e.name);
out.utf16 = (await all(ReadableStream.from([new Uint8Array([0x68, 0]), new Uint8Array([0x69])]).pipeThrough(new TextDecoderStream("utf-16le")))).join("|");
out.badLabel = (() => { try { new TextDecoderStream("nope"); return "ok"; } catch (e) { return e.name; } })();
out.notBytes = await all(ReadableStream.from(["text"]).pipeThrough(new TextDecoderStream())).then(() => "ok", (e) => e.name);
const d = new TextDecoderStream("utf-8", { fatal: true, ignoreBOM: true });
// (Node 20 tags them "[object Object]"; Deno and the standard's WebIDL, as we do, by name.)
out.flags = [d.fatal, d.ignoreBOM];
return out;
"#;

// See: https://encoding.spec.whatwg.org/#interface-textdecoderstream and the WPT's
// encoding/streams/
#[test]
fn issue_18_text_streams_match_node() {
    let out = same_as_node(TEXT_STREAMS);
    assert_eq!(out["decoded"], json!(["h|€!", "\u{feff}h|€!"]));
}

const COMPRESSION: &str = r#"
const all = async (stream) => { const got = []; for await (const x of stream) got.push(x); return got; };
const join = (chunks) => { const n = chunks.reduce((s, c) => s + c.length, 0); const b = new Uint8Array(n); let o = 0; for (const c of chunks) { b.set(c, o); o += c.length; } return b; };
const unbase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
const out = {};
for (const format of ["gzip", "deflate", "deflate-raw"]) {
  const source = ReadableStream.from([new TextEncoder().encode(text.slice(0, 100)), new TextEncoder().encode(text.slice(100))]);
  const compressed = join(await all(source.pipeThrough(new CompressionStream(format))));
  const back = await new Response(new Response(compressed).body.pipeThrough(new DecompressionStream(format))).text();
  out[format] = [back === text, compressed.length < text.length];
}
// Made by Node's zlib (gzipSync, deflateSync, deflateRawSync).
const fromZlib = {
  gzip: "H4sIAAAAAAAAAwvJSFUoLM1MzlZIKsovz1NIy69QyCrNLShWyC9LLVIoyUhVyEmsqlRIyU/XUwgZVTyqeFQxtRUDAOZKZrCEAwAA",
  deflate: "eJxLSU3LSSxJVSjLTFTIy09JVajKyUwCAFZ4B80=",
  "deflate-raw": "K0osV0hJTctJLElVKMtMVMjLT0lVqMrJTAIA",
};
for (const [format, data] of Object.entries(fromZlib)) {
  const bytes = unbase64(data);
  // One byte at a time: the decompressor keeps its state between chunks.
  const source = ReadableStream.from([...bytes].map((b) => new Uint8Array([b])));
  out["zlib " + format] = (await all(source.pipeThrough(new DecompressionStream(format)).pipeThrough(new TextDecoderStream()))).join("");
}
out.badFormat = (() => { try { new CompressionStream("brotli"); return "ok"; } catch (e) { return e.name; } })();
out.empty = (await all(ReadableStream.from([]).pipeThrough(new CompressionStream("gzip")).pipeThrough(new DecompressionStream("gzip")))).length;
return out;
"#;

// See: https://compression.spec.whatwg.org/ and the WPT's compression/
// (decompression-corrupt-input, decompression-split-chunk)
#[test]
fn issue_18_compression_streams_match_node() {
    let out = same_as_node(COMPRESSION);
    assert_eq!(out["gzip"], json!([true, true]));
}

/// Bad input errors the stream with a TypeError, as the standard says (Node 20 rejects with its
/// zlib `Error`, accepts data after the end and a string chunk: Deno and browsers, as we do,
/// follow the standard).
const COMPRESSION_ERRORS: &str = r#"
const unbase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const fail = (format, chunks, Stream = DecompressionStream) =>
  new Response(ReadableStream.from(chunks).pipeThrough(new Stream(format))).arrayBuffer().then(() => "ok", (e) => e.name);
const gz = unbase64("H4sIAAAAAAAAAwvJSFUoLM1MzlZIKsovz1NIy69QyCrNLShWyC9LLVIoyUhVyEmsqlRIyU/XUwgZVTyqeFQxtRUDAOZKZrCEAwAA");
const zl = unbase64("eJxLSU3LSSxJVSjLTFTIy09JVajKyUwCAFZ4B80=");
return [
  await fail("gzip", [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])]),
  await fail("gzip", [gz.subarray(0, gz.length - 6)]),
  await fail("deflate-raw", [zl.subarray(2, 8)]),
  await fail("deflate", [zl, new Uint8Array([1, 2, 3])]),
  await fail("gzip", ["text"], CompressionStream),
  await fail("gzip", [gz]),
  // Output before data after the end is still given, then the stream errors (WPT
  // decompression-extra-input).
  await (async () => {
    const ds = new DecompressionStream("deflate");
    const reader = ds.readable.getReader();
    ds.writable.getWriter().write(new Uint8Array([...zl, 0])).catch(() => {});
    const { value } = await reader.read();
    return [new TextDecoder().decode(value), await reader.read().then(() => "ok", (e) => e.name)];
  })(),
];
"#;

// See: the WPT's compression/decompression-corrupt-input.any.js,
// decompression-extra-input.any.js and decompression-buffersource.any.js
#[test]
fn issue_18_corrupt_truncated_or_trailing_input_is_a_type_error() {
    let out = in_both_tiers(COMPRESSION_ERRORS);
    assert_eq!(
        out,
        json!([
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "ok",
            ["deflate via node zlib", "TypeError"]
        ])
    );
}

/// What our gzip and zlib output is, as base64: Node's zlib must inflate it.
const OUR_COMPRESSION: &str = r#"
const join = (chunks) => { const n = chunks.reduce((s, c) => s + c.length, 0); const b = new Uint8Array(n); let o = 0; for (const c of chunks) { b.set(c, o); o += c.length; } return b; };
const out = {};
for (const format of ["gzip", "deflate", "deflate-raw"]) {
  const chunks = [];
  for await (const c of ReadableStream.from(["aether ", "streams ", "aether streams"]).pipeThrough(new TextEncoderStream()).pipeThrough(new CompressionStream(format))) chunks.push(c);
  out[format] = btoa(String.fromCharCode(...join(chunks)));
}
return out;
"#;

// See: RFC 1952 (gzip), RFC 1950 (zlib), RFC 1951 (deflate): what we write, zlib reads
#[test]
fn issue_18_gzip_round_trip_with_node_zlib() {
    let out = in_both_tiers(OUR_COMPRESSION);
    let script = format!(
        "const zlib = require('zlib'); const o = {out};\n\
         process.stdout.write(JSON.stringify([zlib.gunzipSync(Buffer.from(o.gzip, 'base64')).toString(),\n\
         zlib.inflateSync(Buffer.from(o.deflate, 'base64')).toString(),\n\
         zlib.inflateRawSync(Buffer.from(o['deflate-raw'], 'base64')).toString()]));"
    );
    match Command::new("node").args(["-e", &script]).output() {
        Ok(node) => {
            assert!(
                node.status.success(),
                "{}",
                String::from_utf8_lossy(&node.stderr)
            );
            let inflated: Value = serde_json::from_slice(&node.stdout).unwrap();
            assert_eq!(inflated, json!(vec!["aether streams aether streams"; 3]));
        }
        Err(_) => eprintln!("node is not installed: our output was not checked with zlib"),
    }
}

const BODIES: &str = r#"
const all = async (stream) => { const got = []; for await (const x of stream) got.push(x); return got; };
const out = {};
const r = new Response("hello");
const body = r.body;
out.body = [Object.prototype.toString.call(body), body === r.body, r.bodyUsed];
const chunks = await all(body);
out.read = [chunks.map((c) => c.constructor.name), r.bodyUsed, await r.text().then(() => "ok", (e) => e.name)];
out.none = [new Response(null).body, new Response().bodyUsed, await new Response(null).text()];
const streamed = new Response(ReadableStream.from([new Uint8Array([104, 105]), new Uint8Array([33])]), { headers: { "x-a": "1" } });
out.streamed = [streamed.headers.get("content-type"), await streamed.text(), streamed.bodyUsed];
out.notBytes = await new Response(ReadableStream.from(["str"])).text().then(() => "ok", (e) => e.name);
const blob = new Response(new Blob(["b"], { type: "text/x-b" }));
out.blob = [blob.headers.get("content-type"), await blob.text()];
const form = new FormData();
form.append("k", "v");
form.append("f", new File(["file body"], "f.txt", { type: "text/plain" }));
const formResponse = new Response(form);
const parsed = await formResponse.formData();
const file = parsed.get("f");
out.form = [formResponse.headers.get("content-type").startsWith("multipart/form-data; boundary="), parsed.get("k"),
  file.name, file.type, await file.text()];
const params = new Response(new URLSearchParams("a=1&b=two"));
out.params = [params.headers.get("content-type"), [...(await params.formData())]];
out.buffers = [await new Response(new Uint16Array([0x6968])).text(), await new Response(new TextEncoder().encode("ab").buffer).text()];
const b = await new Response("bytes", { headers: { "content-type": "text/y" } }).blob();
out.toBlob = [b.type, b.size, await b.text(), [...await new Response("ab").bytes()], (await new Response("ab").arrayBuffer()).byteLength];
const original = new Response(ReadableStream.from([new Uint8Array([49]), new Uint8Array([50])]), { status: 201 });
const copy = original.clone();
out.clone = [copy.status, await original.text(), await copy.text()];
const used = new Response("x");
await used.text();
out.cloneUsed = (() => { try { used.clone(); return "ok"; } catch (e) { return e.name; } })();
out.nullStatus = (() => { try { new Response("x", { status: 204 }); return "ok"; } catch (e) { return e.name; } })();
out.lockedBody = (() => { const s = new ReadableStream(); s.getReader(); try { new Response(s); return "ok"; } catch (e) { return e.name; } })();
const req = new Request("https://a.test/", { method: "POST", body: ReadableStream.from([new Uint8Array([120])]), duplex: "half" });
out.request = [Object.prototype.toString.call(req.body), req.bodyUsed, await req.text(), req.bodyUsed];
const req2 = new Request("https://a.test/", { method: "POST", body: "abc" });
const req2copy = req2.clone();
out.requestBody = [(await all(req2.body)).length, req2.bodyUsed, await req2copy.text(), new Request("https://a.test/").body];
const formReq = new Request("https://a.test/", { method: "POST", body: new URLSearchParams("x=1") });
out.requestForm = [...(await formReq.formData())];
return out;
"#;

// See: https://fetch.spec.whatwg.org/#body-mixin and the WPT's fetch/api/response and
// fetch/api/request (response-clone, response-consume-stream, request-consume)
#[test]
fn issue_18_response_and_request_bodies_match_node() {
    let out = same_as_node(BODIES);
    assert_eq!(out["read"], json!([["Uint8Array"], true, "TypeError"]));
    assert_eq!(out["clone"], json!([201, "12", "12"]));
}

// See: https://developer.mozilla.org/en-US/docs/Web/API/TextDecoderStream (a fetch body piped
// through a TextDecoderStream); a stream body is sent by fetch, read in full first
#[test]
fn issue_18_fetch_bodies_are_streams() {
    let server = crate::fetch::Server::start();
    for tier in ["thread", "process"] {
        let ws = net_workspace(
            tier,
            server.port,
            r#"
const response = await fetch(input.base + "/echo", {
  method: "POST",
  body: ReadableStream.from(["streamed ", "body"]).pipeThrough(new TextEncoderStream()),
  duplex: "half",
});
let text = "";
for await (const piece of response.body.pipeThrough(new TextDecoderStream())) text += piece;
const request = new Request(input.base + "/echo", { method: "PUT", body: ReadableStream.from([new Uint8Array([65, 66])]), duplex: "half" });
const viaRequest = await (await fetch(request)).text();
const ok = await fetch(input.base + "/ok");
return [text.startsWith("POST /echo"), text.toLowerCase().includes("content-length: 13"), response.bodyUsed,
  viaRequest.startsWith("PUT /echo"), request.bodyUsed, await ok.clone().text(), await ok.text()];
"#,
        );
        let (out, v) = run(&ws);
        assert_eq!(out.code, Some(0), "{tier}: {}\n{v:#}", out.stderr);
        assert_eq!(
            output(&v, "s"),
            &json!([true, true, true, true, true, "hello", "hello"]),
            "{tier}"
        );
    }
}

// See: https://en.wikipedia.org/wiki/Zip_bomb and the Compression standard's security
// considerations: a small input that inflates past the plugin's ceiling stops the plugin
#[test]
fn issue_18_a_decompression_bomb_hits_the_memory_ceiling() {
    for tier in ["thread", "process"] {
        let ws = Ws::new();
        ws.js_plugin(
            "bomb",
            r#"{"name": "bomb", "version": "1.0.0", "limits": {"memory": "64MiB"}}"#,
            r#"export default async () => {
  // 256 MiB of zeros, compressed to about 256 KiB, one 1 MiB chunk (the same one) at a time.
  const zeros = new Uint8Array(1 << 20);
  let n = 0;
  const source = new ReadableStream({ pull(c) { if (n++ < 256) c.enqueue(zeros); else c.close(); } });
  const parts = [];
  for await (const part of source.pipeThrough(new CompressionStream("gzip"))) parts.push(part);
  const bomb = new Blob(parts);
  let inflated = 0;
  const kept = [];
  try {
    for await (const part of bomb.stream().pipeThrough(new DecompressionStream("gzip"))) { kept.push(part); inflated += part.length; }
  } catch (e) {
    return ["caught", e.name, inflated];
  }
  return ["inflated", inflated, bomb.size];
};
"#,
        );
        ws.write(
            "aether-policy.toml",
            &format!("[isolation]\ndefault = \"{tier}\"\n"),
        );
        ws.write(
            "pipeline.yaml",
            "name: bomb\npolicy: ./aether-policy.toml\nsteps:\n  - id: bomb\n    plugin: ./plugins/bomb\n",
        );
        let out = ws.aether(&["run", "pipeline.yaml", "--output", "json"]);
        out.no_panic();
        let run = out.json();
        assert_eq!(run["steps"][0]["status"], "failed", "{tier}: {run:#}");
        assert_eq!(
            run["steps"][0]["error"], "memory limit of 64 MiB exceeded",
            "{tier}"
        );
    }
}

// See: SPEC §5 "The grant is checked first" (issue 15): a stream body that fails is a bad
// argument like any other, so an ungranted URL is still a PermissionDenied with its violation
#[test]
fn issue_18_a_failing_stream_body_to_an_ungranted_url_is_denied_first() {
    let server = crate::fetch::Server::start();
    let other = crate::fetch::Server::start();
    for tier in ["thread", "process"] {
        let ws = net_workspace(
            tier,
            server.port,
            &format!(
                r#"
const failing = () => new ReadableStream({{ pull(c) {{ c.error(new TypeError("broken")); }} }});
const send = (url) => fetch(url, {{ method: "POST", body: failing(), duplex: "half" }})
  .then(() => "ok", (e) => [e.name, e.capability ?? null, e.message === "broken"]);
return [await send("http://127.0.0.1:{}/ok"), await send(input.base + "/ok")];
"#,
                other.port
            ),
        );
        let (out, v) = run(&ws);
        assert_eq!(
            output(&v, "s"),
            &json!([
                ["PermissionDenied", "network", false],
                ["TypeError", null, true]
            ]),
            "{tier}: {}",
            out.stderr
        );
    }
}
