//! The three file parsers never panic, whatever the text: bad input is an error with a place.
//! (STYLE's fuzz targets "manifest and pipeline parsers that never panic", as properties; a
//! cargo-fuzz target can reuse the same entry points.)

use std::path::Path;

use aether_manifest::{Manifest, PipelineFile, SourceFile, parse_policy};
use proptest::prelude::*;

fn file(name: &str, text: String) -> SourceFile {
    SourceFile {
        path: name.into(),
        text,
    }
}

/// Text that looks like the files often enough to reach the deeper validation paths.
fn near_miss(fragments: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(fragments).prop_map(str::to_owned),
            any::<String>()
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

const JSON: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"name\"",
    "\"version\"",
    "\"1.0.0\"",
    "\"permissions\"",
    "\"filesystem\"",
    "\"read\"",
    "\"/**\"",
    "\"../x\"",
    "\"env\"",
    "\"A_*\"",
    "\"network\"",
    "\"domains\"",
    "\"*.\"",
    "\"[::1]:0\"",
    "\"limits\"",
    "\"memory\"",
    "\"99999999999GiB\"",
];
const TOML: &[&str] = &[
    "[filesystem]\n",
    "read = [",
    "\"/**\"",
    "]\n",
    "[network]\n",
    "allow_private = [\"::/0\"]\n",
    "[[windows]]\n",
    "days = [\"mon\"]\n",
    "start = \"25:00\"\n",
    "timezone = \"Mars/Base\"\n",
    "applies_to = 3\n",
    "[limits]\n",
    "max_memory = \"0x10\"\n",
    "[integrity]\n",
    "trusted_keys = [\"RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\", \"RW\"]\n",
    "require_signatures = true\n",
];
const YAML: &[&str] = &[
    "name: x\n",
    "steps:\n",
    "  - id: a\n",
    "    plugin: ./p\n",
    "    needs: [a, a]\n",
    "    with: ${{ steps.a.output }}\n",
    "    timeout: 99999999999h\n",
    "&a [*a]\n",
    "- *a\n",
    "    isolation: none\n",
    "\t",
    "---\n",
];

proptest! {
    #[test]
    fn manifest_parser_never_panics(text in near_miss(JSON)) {
        if let Err(errors) = Manifest::parse(file("m.json", text), Path::new("/p"), Path::new("/ws")) {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|e| e.loc.is_some()), "{errors:?}");
        }
    }

    #[test]
    fn policy_parser_never_panics(text in near_miss(TOML)) {
        if let Err(errors) = parse_policy(&file("p.toml", text), Path::new("/ws")) {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|e| e.loc.is_some()), "{errors:?}");
        }
    }

    #[test]
    fn pipeline_parser_never_panics(text in near_miss(YAML)) {
        if let Err(errors) = PipelineFile::parse(file("/ws/pipeline.yaml", text)) {
            prop_assert!(!errors.is_empty());
        }
    }
}
