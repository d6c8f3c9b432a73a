//! The JSON Schema of the site spec, generated from the spec types so that the two cannot drift.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::spec::Site;

/// The schema as a JSON value; generated once per process.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::schema_for!(Site);
        let mut value = serde_json::to_value(schema).expect("a generated schema is valid JSON");
        drop_null(&mut value);
        value
    })
}

/// The schema as `sitewright schema` prints it and schemas/site.schema.json holds it.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(schema()).expect("a JSON value serialises");
    text.push('\n');
    text
}

/// schemars writes an optional field as "T or null". A spec leaves such a field out instead, and
/// without the `null` branch a mistake inside T is reported where it is, not as "not T or null".
fn drop_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(branches)) = map.get("anyOf") {
                let kept: Vec<&Value> = branches.iter().filter(|b| !is_null_schema(b)).collect();
                if kept.len() == 1 && branches.len() == 2 {
                    let kept = kept[0].clone();
                    map.remove("anyOf");
                    merge_under(map, kept);
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").is_some_and(|t| t == "null")
        || schema.get("const").is_some_and(Value::is_null)
}

/// Adds `inner`'s keywords to `outer`, keeping `outer`'s own (its description wins).
fn merge_under(outer: &mut Map<String, Value>, inner: Value) {
    if let Value::Object(inner) = inner {
        for (key, value) in inner {
            outer.entry(key).or_insert(value);
        }
    }
}
