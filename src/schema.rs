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
        let defs = value.get("$defs").cloned().unwrap_or(Value::Null);
        annotate(&mut value, &defs);
        value
    })
}

/// The schema as `sitewright schema` prints it and schemas/site.schema.json holds it.
pub(crate) fn schema_text() -> String {
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

/// Gives every property a title (from its name) and an example (from its type), so that editors
/// show both; properties that have their own keep them.
fn annotate(value: &mut Value, defs: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    let Value::Object(fields) = property else {
                        continue;
                    };
                    fields
                        .entry("title")
                        .or_insert_with(|| Value::String(title(name)));
                    if !fields.contains_key("examples") {
                        let snapshot = Value::Object(fields.clone());
                        if let Some(example) = example(&snapshot, defs, 0) {
                            fields.insert("examples".into(), Value::Array(vec![example]));
                        }
                    }
                }
            }
            map.values_mut().for_each(|v| annotate(v, defs));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| annotate(v, defs)),
        _ => {}
    }
}

/// `data_directory` as `Data directory`.
fn title(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An example value of `schema`: its own, or one built from its type.
fn example(schema: &Value, defs: &Value, depth: usize) -> Option<Value> {
    if depth > 8 {
        return None;
    }
    if let Some(first) = schema.get("examples").and_then(|e| e.get(0)) {
        return Some(first.clone());
    }
    if let Some(constant) = schema.get("const") {
        return Some(constant.clone());
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return Some(first.clone());
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next()?;
        return example(defs.get(name)?, defs, depth + 1);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema.get(key).and_then(|b| b.get(0)) {
            return example(first, defs, depth + 1);
        }
    }
    if let Some(default) = schema.get("default") {
        return Some(default.clone());
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("boolean") => Some(Value::Bool(false)),
        Some("integer") => Some(schema.get("minimum").cloned().unwrap_or(Value::from(1))),
        Some("number") => Some(Value::from(1.5)),
        Some("array") => Some(Value::Array(
            schema
                .get("items")
                .and_then(|i| example(i, defs, depth + 1))
                .into_iter()
                .collect(),
        )),
        Some("object") => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            for (name, property) in properties.into_iter().flatten() {
                if required.contains(&name.as_str())
                    && let Some(value) = example(property, defs, depth + 1)
                {
                    out.insert(name.clone(), value);
                }
            }
            Some(Value::Object(out))
        }
        _ => None,
    }
}
