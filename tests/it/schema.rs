//! The checked-in schema is `sitewright schema`'s output, and it describes every property.

use std::fs;

use serde_json::Value;

use crate::support::{Sitewright, repo};

#[test]
fn the_checked_in_schema_is_current() {
    let printed = Sitewright::new().arg("schema").run();
    printed.code(0);
    let checked_in = fs::read_to_string(repo().join("schemas/site.schema.json")).unwrap();
    assert!(
        printed.stdout == checked_in,
        "schemas/site.schema.json is stale: run `cargo run -- schema > schemas/site.schema.json`"
    );
}

fn undescribed(path: &str, schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    for field in ["title", "description", "examples"] {
                        let present = property
                            .get(field)
                            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()));
                        if !present {
                            out.push(format!("{path}/properties/{name}: {field}"));
                        }
                    }
                }
            }
            for (key, value) in map {
                undescribed(&format!("{path}/{key}"), value, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                undescribed(&format!("{path}/{i}"), item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_schema_has_a_title_and_every_property_a_title_a_description_and_an_example() {
    let schema: Value =
        serde_json::from_str(&fs::read_to_string(repo().join("schemas/site.schema.json")).unwrap())
            .unwrap();
    let mut missing = Vec::new();
    undescribed("", &schema, &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:#?}"
    );
}

#[test]
fn every_fixture_names_the_schema_for_editors() {
    for entry in fs::read_dir(repo().join("fixtures")).unwrap() {
        let spec = entry.unwrap().path().join("site.yaml");
        let first = fs::read_to_string(&spec).unwrap();
        assert!(
            first.starts_with("# yaml-language-server: $schema=../../schemas/site.schema.json\n"),
            "{} lacks the schema line",
            spec.display()
        );
    }
}
