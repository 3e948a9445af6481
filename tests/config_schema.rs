//! The checked-in JSON Schema is what the code generates.

#[test]
fn checked_in_schema_is_current() {
    let generated = journeyd::config::schema_text();
    if std::env::var("BLESS").is_ok_and(|v| v == "1") {
        std::fs::write("docs/journey.schema.json", &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string("docs/journey.schema.json").unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/journey.schema.json is out of date; regenerate it with `cargo run -- schema > docs/journey.schema.json`"
    );
}

#[test]
fn schema_is_draft_07_and_closed() {
    let schema = journeyd::config::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["definitions"]["step"]["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["name", "steps"]));
}
