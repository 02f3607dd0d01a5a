//! `TextDecoder` on `encoding_rs` (issue 18, encoding.rs): the legacy encodings, streaming, BOM
//! handling, errors, and the bound on streams decoded at once. The web-platform-tests measure
//! the rest (tests/wpt.rs, `encoding/`).

use std::sync::Arc;

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepSpec, run_step};
use serde_json::{Value, json};

struct OneModule(&'static str);

impl Host for OneModule {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: self.0.into(),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            _ => Err(HostError::Failed {
                type_error: false,
                message: "not in this test".into(),
            }),
        }
    }
}

fn ok(source: &'static str) -> Value {
    let spec = StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: Value::Null,
        limits: Limits::default(),
        sample: false,
    };
    match run_step(spec, Arc::new(OneModule(source))).result {
        Ok(text) => serde_json::from_str(text.get()).expect("json"),
        Err(e) => panic!("step failed: {e}"),
    }
}

// See: https://github.com/web-platform-tests/wpt/tree/master/encoding
// (textdecoder-labels, textdecoder-fatal-single-byte, iso-2022-jp-decoder,
// textdecoder-streaming, textdecoder-byte-order-marks)
#[test]
fn issue_18_text_decoder_decodes_every_encoding_in_streams() {
    let out = ok(r#"
        export default () => {
          const bytes = (...b) => new Uint8Array(b);
          const error = (f) => { try { f(); return null; } catch (e) { return e.name; } };
          // A multi-byte sequence split across calls, and ISO-2022-JP's mode kept between them.
          const utf8 = new TextDecoder();
          const split = utf8.decode(bytes(0xe2, 0x82), { stream: true }) + utf8.decode(bytes(0xac));
          const jis = new TextDecoder("iso-2022-jp");
          const kana = jis.decode(bytes(0x1b, 0x24, 0x42), { stream: true })
            + jis.decode(bytes(0x24, 0x22), { stream: true }) + jis.decode(bytes(0x1b, 0x28, 0x42));
          return [
            new TextDecoder("latin1").encoding,
            new TextDecoder(" Shift_JIS ").encoding,
            new TextDecoder("windows-1252").decode(bytes(0x80, 0xe9)),
            new TextDecoder("shift_jis").decode(bytes(0x82, 0xa0)),
            new TextDecoder("gbk").decode(bytes(0xc4, 0xe3)),
            split,
            kana,
            // A BOM of the decoder's own encoding is dropped; another encoding's is not.
            new TextDecoder("utf-16le").decode(bytes(0xff, 0xfe, 0x61, 0x00)),
            new TextDecoder("utf-16le", { ignoreBOM: true }).decode(bytes(0xff, 0xfe, 0x61, 0x00)).length,
            new TextDecoder().decode(bytes(0xfe, 0xff)).length,
            // An unfinished sequence at the end of a stream is U+FFFD, or an error when fatal.
            new TextDecoder().decode(bytes(0xe2, 0x82)),
            error(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes(0xe2, 0x82))),
            error(() => new TextDecoder("replacement")),
            error(() => new TextDecoder("utf-Ⅷ")),
          ];
        }"#);
    assert_eq!(
        out,
        json!([
            "windows-1252",
            "shift_jis",
            "€é",
            "あ",
            "你",
            "€",
            "あ",
            "a",
            2,
            2,
            "\u{fffd}",
            "TypeError",
            "RangeError",
            "RangeError"
        ])
    );
}

/// A stream's decoder is held natively until the stream ends; a plugin that starts streams
/// and never ends them is stopped at the bound (a `RangeError`), not left to grow host memory
/// outside its ceiling. Ending a stream frees its place.
#[test]
fn issue_18_open_text_decoder_streams_are_bounded() {
    let out = ok(r#"
        export default () => {
          const open = [];
          let error = null;
          for (let i = 0; i < 1100 && error === null; i++) {
            const d = new TextDecoder();
            try { d.decode(new Uint8Array([0x61]), { stream: true }); open.push(d); }
            catch (e) { error = [e.name, open.length]; }
          }
          open[0].decode();
          open.push(new TextDecoder());
          open[open.length - 1].decode(new Uint8Array([0x62]), { stream: true });
          return error;
        }"#);
    assert_eq!(out, json!(["RangeError", 1024]));
}
