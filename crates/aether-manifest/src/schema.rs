//! JSON Schemas (2020-12) of the three files users write, for editors and CI (SPEC §7
//! `aether schema`).
//!
//! Each schema is derived with `schemars` from the very serde definitions the parsers
//! deserialize into, so a field the parser accepts is a field the schema describes. A schema
//! checks shape only: patterns, sizes and durations are compiled by the parsers, which stay
//! the authority (a file the schema accepts may still be refused, never the reverse for a
//! field's presence or type).

/// `aether-plugin.json` sizes: an integer with `B`, `KB`, `MB`, `GB`, `KiB`, `MiB`, `GiB`, or
/// none (bytes), as [`aether_policy::parse_size`] reads them.
pub(crate) const SIZE: &str = r"^[0-9]+(B|KB|MB|GB|KiB|MiB|GiB)?$";
/// Durations: an integer with `ms`, `s`, `m` or `h`, as [`aether_policy::parse_duration`]
/// reads them.
pub(crate) const DURATION: &str = r"^[0-9]+(ms|s|m|h)$";

/// Which file a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// `aether-plugin.json`.
    Manifest,
    /// `aether-policy.toml`.
    Policy,
    /// `pipeline.yaml`.
    Pipeline,
}

impl SchemaKind {
    /// Every kind, in a stable order.
    pub const ALL: [SchemaKind; 3] = [
        SchemaKind::Manifest,
        SchemaKind::Policy,
        SchemaKind::Pipeline,
    ];

    /// The file name under which the schema is committed (`schemas/<name>`).
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Manifest => "aether-plugin.schema.json",
            SchemaKind::Policy => "aether-policy.schema.json",
            SchemaKind::Pipeline => "pipeline.schema.json",
        }
    }

    /// The schema as a JSON value.
    pub fn schema(self) -> serde_json::Value {
        match self {
            SchemaKind::Manifest => crate::plugin::schema(),
            SchemaKind::Policy => crate::policy_file::schema(),
            SchemaKind::Pipeline => crate::pipeline_file::schema(),
        }
        .to_value()
    }

    /// The schema as pretty-printed JSON text ending in a newline: exactly what
    /// `aether schema` prints and what `schemas/` holds.
    pub fn text(self) -> String {
        // Serializing a `Value` cannot fail (string keys only).
        let mut text = serde_json::to_string_pretty(&self.schema()).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `schemas/` equal the generated ones. To regenerate after changing a
    /// definition: `AETHER_UPDATE_SCHEMAS=1 cargo test -p aether-manifest schema`.
    #[test]
    fn issue_17_committed_schemas_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        for kind in SchemaKind::ALL {
            let path = dir.join(kind.file_name());
            if std::env::var_os("AETHER_UPDATE_SCHEMAS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, kind.text()).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == kind.text(),
                "{} is not the generated schema: run `AETHER_UPDATE_SCHEMAS=1 cargo test -p aether-manifest schema`",
                path.display()
            );
        }
    }

    #[test]
    fn schemas_are_2020_12_and_closed() {
        for kind in SchemaKind::ALL {
            let s = kind.schema();
            assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
            assert_eq!(s["additionalProperties"], false, "{kind:?}");
        }
        let m = SchemaKind::Manifest.schema();
        assert_eq!(m["required"], serde_json::json!(["name", "version"]));
        assert_eq!(
            m["properties"]["$schema"]["type"],
            serde_json::json!(["string", "null"])
        );
    }
}
