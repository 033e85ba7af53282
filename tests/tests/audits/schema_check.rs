//! Validation against the JSON schema kept in the repository.

use std::sync::OnceLock;

pub(crate) fn validate(value: &serde_json::Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let path = core_data_ops::paths::repo_root().join("docs/schema/audit.schema.json");
        let text = std::fs::read_to_string(&path).expect("read the audit schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON schema")
    });
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "report does not match the schema: {errors:#?}\n{value:#}");
}
