//! The JSON Schema of the site spec, generated from the spec types so that the two cannot drift.

use std::sync::OnceLock;

use serde_json::Value;

use crate::spec::Site;

/// The schema as a JSON value; generated once per process.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::schema_for!(Site);
        serde_json::to_value(schema).expect("a generated schema is valid JSON")
    })
}

/// The schema as `sitewright schema` prints it and schemas/site.schema.json holds it.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(schema()).expect("a JSON value serialises");
    text.push('\n');
    text
}
