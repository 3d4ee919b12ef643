//! The OpenAPI document as the contract: what the server enforces, stated where a generated
//! client can check it.
//!
//! The routes describe their own shapes and their own problems. This module adds, after the
//! routes are merged, what is enforced in one place for every operation, and so is stated
//! in one place here:
//! - the problem responses every operation (or every operation with a body, or behind
//!   authentication) can give, declared once under `components/responses`;
//! - text without NUL, which the request middleware (path, query) and the JSON extractor
//!   (body) refuse everywhere;
//! - the constraints the domain types check (identifiers' patterns, lengths, item counts,
//!   ranges), taken from the same constants and limits the validators use.

use baomi_vault::{FieldType, SubjectId};
use serde_json::{Map, Value, json};

use crate::service::Limits;

/// Text in a path, a query or a JSON body: anything but NUL (`\x00`), which the server
/// refuses everywhere because PostgreSQL cannot store it.
pub const TEXT_PATTERN: &str = r"^[^\x00]*$";

/// Text that must say something: not empty, not only white space, no NUL.
///
/// White space is Unicode's `White_Space`, what `str::trim` strips, spelled out: `\s`
/// means something else in each regex dialect (Python's adds `\x1c`–`\x1f`, ECMAScript's
/// adds U+FEFF and drops U+0085), and a fuzzer reading the document uses its own.
const NON_BLANK_PATTERN: &str = concat!(
    r"^[^\x00]*",
    r"[^\x00\t\n\x0b\x0c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"[^\x00]*$"
);

/// A key's binding to a certificate's public key (`CertificateBinding::normalized`).
const SPKI_SHA256_PATTERN: &str = r"^[0-9A-Fa-f]{64}$";

/// A subject id ([`SubjectId::parse`]).
const SUBJECT_ID_PATTERN: &str = r"^[A-Za-z0-9._:-]{1,128}$";

/// A purpose id (`PurposeId::parse`).
const PURPOSE_ID_PATTERN: &str = r"^[a-z0-9][a-z0-9_.-]{0,63}$";

/// A keyring name (`KeyringName::parse`).
const KEYRING_PATTERN: &str = r"^[a-z0-9][a-z0-9_-]{0,63}$";

/// A masking policy's name (`baomi_masking::policy::valid_name`) and a PI category in the
/// field catalogue.
const LOWER_NAME_PATTERN: &str = r"^[a-z0-9_.-]{1,64}$";

/// A masking role (`auth::grant::valid_masking_role`).
const MASKING_ROLE_PATTERN: &str = r"^[A-Za-z0-9_-]{1,64}$";

/// A language tag as the notice checks it: BCP 47's letters, digits and hyphens.
const LANGUAGE_PATTERN: &str = r"^[A-Za-z0-9-]{1,35}$";

/// A problem response every operation (or every operation of a kind) can give.
struct Shared {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    applies: fn(&Map<String, Value>) -> bool,
}

const SHARED: &[Shared] = &[
    Shared {
        status: "400",
        name: "BadRequest",
        description: "`request.invalid_path`, `request.invalid_query` (an unknown, missing or \
                      malformed parameter, or a NUL), `request.malformed_json` or \
                      `request.unreadable_body`",
        applies: |_| true,
    },
    Shared {
        status: "401",
        name: "Unauthorized",
        description: "`auth.missing`, `auth.malformed`, `auth.invalid_key`, \
                      `auth.invalid_token` or `auth.token_expired`: no credential, or one \
                      Baomi does not accept",
        applies: |op| {
            op.get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty())
        },
    },
    Shared {
        status: "414",
        name: "UriTooLong",
        description: "`request.uri_too_long`: the path and query string together are over \
                      32 KiB",
        applies: |_| true,
    },
    Shared {
        status: "431",
        name: "HeadersTooLarge",
        description: "`request.headers_too_large`: the request's headers are over 32 KiB",
        applies: |_| true,
    },
    Shared {
        status: "413",
        name: "PayloadTooLarge",
        description: "`request.too_large`: the body (or its declared `Content-Length`) is \
                      over the server's limit",
        applies: |op| op.contains_key("requestBody"),
    },
    Shared {
        status: "415",
        name: "UnsupportedMediaType",
        description: "`request.unsupported_media_type`: send the body as \
                      `Content-Type: application/json`",
        applies: |op| op.contains_key("requestBody"),
    },
    Shared {
        status: "422",
        name: "InvalidBody",
        description: "`request.invalid_body` or `request.invalid_field`: the body is JSON \
                      but not of the documented shape (the detail names the field, never the \
                      value sent)",
        applies: |op| op.contains_key("requestBody"),
    },
    Shared {
        status: "500",
        name: "Internal",
        description: "`internal`: a fault in Baomi; the detail says nothing more and the \
                      request id finds it in the server's log",
        applies: |_| true,
    },
    Shared {
        status: "503",
        name: "Unavailable",
        description: "`service.database_unavailable` or `request.timeout`: retry later \
                      (idempotent calls only)",
        applies: |_| true,
    },
];

/// Where a constraint applies.
#[derive(Debug, Clone, Copy)]
enum At {
    /// A property of a component schema (`""`: the schema itself).
    Field(&'static str, &'static str),
    /// A path or query parameter of every operation of a path.
    Param(&'static str, &'static str),
    /// One operation (path, method).
    Operation(&'static str, &'static str),
}

/// Every constraint the domain checks on one field, with the values the server uses.
fn constraints(limits: &Limits) -> Vec<(At, Value)> {
    use At::{Field, Operation, Param};
    let subject = json!({ "pattern": SUBJECT_ID_PATTERN, "maxLength": SubjectId::MAX_LEN });
    let purpose = json!({ "pattern": PURPOSE_ID_PATTERN });
    let keyring = json!({ "pattern": KEYRING_PATTERN });
    let field = json!({ "pattern": field_pattern() });
    let policy = json!({ "pattern": LOWER_NAME_PATTERN });
    let batch = json!({ "minItems": 1, "maxItems": limits.max_batch_items });
    let page = json!({ "minimum": 1, "maximum": crate::service::requests::MAX_LIST });
    let note = |max: usize| json!({ "pattern": NON_BLANK_PATTERN, "maxLength": max });
    let non_blank = json!({ "pattern": NON_BLANK_PATTERN });
    let one_of = |names: &[&str]| json!({ "enum": names });
    let suites: Vec<&str> = baomi_vault::Suite::ALL.iter().map(|s| s.as_str()).collect();
    let mut all = vec![
        // Subjects, purposes, keyrings and policies, wherever they are named.
        (Param("/v1/subjects/{id}", "id"), subject.clone()),
        (Param("/v1/subjects/{id}/data", "id"), subject.clone()),
        (Param("/v1/subjects/{id}/consents", "id"), subject.clone()),
        (
            Param("/v1/subjects/{id}/erasure-certificate", "id"),
            subject.clone(),
        ),
        (
            Param("/v1/subjects/{id}/consents/{purpose}", "id"),
            subject.clone(),
        ),
        (
            Field("CiphertextRequestItem", "subject_id"),
            subject.clone(),
        ),
        (Field("EncryptRequestItem", "subject_id"), subject.clone()),
        (Field("DecisionRequest", "subject_id"), subject.clone()),
        (Field("MintToken", "subject_id"), subject.clone()),
        (Field("MaskRequest", "subject_id"), subject),
        (Param("/v1/purposes/{id}", "id"), purpose.clone()),
        (
            Param("/v1/subjects/{id}/consents/{purpose}", "purpose"),
            purpose.clone(),
        ),
        (
            Param("/v1/me/consents/{purpose}", "purpose"),
            purpose.clone(),
        ),
        (Param("/v1/subjects/{id}/data", "purpose"), purpose.clone()),
        (
            Param("/v1/subjects/{id}/data", "view"),
            one_of(&["masked", "plain"]),
        ),
        (Field("DecisionRequest", "purpose"), purpose.clone()),
        (Field("DecryptRequest", "purpose"), purpose.clone()),
        (Field("DetokenizeRequest", "purpose"), purpose.clone()),
        (Field("EncryptRequest", "purpose"), purpose.clone()),
        (Field("SearchRequest", "purpose"), purpose.clone()),
        (Field("Grant", "purpose"), purpose.clone()),
        (Field("PurposeGrantBody", "purpose"), purpose.clone()),
        (Field("MaskRequest", "purpose"), purpose.clone()),
        (
            Field("CreateKey", "purposes"),
            json!({ "items": purpose, "maxItems": crate::service::keys::MAX_PURPOSES }),
        ),
        (
            Field("GrantsBody", "purposes"),
            json!({ "items": purpose, "maxItems": crate::service::keys::MAX_PURPOSES }),
        ),
        (
            Field("CreateKey", "grants"),
            json!({ "maxItems": crate::service::keys::MAX_PURPOSES }),
        ),
        (
            Field("GrantsBody", "grants"),
            json!({ "maxItems": crate::service::keys::MAX_PURPOSES }),
        ),
        (
            Field("NoticeText", "purposes"),
            json!({ "items": purpose.clone(), "minItems": 1 }),
        ),
        (Param("/v1/keyrings/{name}", "name"), keyring.clone()),
        (Param("/v1/keyrings/{name}/rotate", "name"), keyring.clone()),
        (Field("CreateKeyring", "name"), keyring.clone()),
        (Field("EncryptRequest", "keyring"), keyring.clone()),
        (Field("SearchRequest", "keyring"), keyring.clone()),
        (Field("PutData", "keyring"), keyring.clone()),
        (Field("StoreManyRequest", "keyring"), keyring),
        (Param("/v1/policies/{name}", "name"), policy.clone()),
        (Field("DecryptRequest", "policy"), policy.clone()),
        (Field("DetokenizeRequest", "policy"), policy.clone()),
        (Field("MaskRequest", "policy"), policy),
        // Fields: a known type, optionally labelled.
        (Field("CiphertextRequestItem", "field"), field.clone()),
        (Field("EncryptRequestItem", "field"), field.clone()),
        (Field("SearchRequest", "field"), field.clone()),
        (
            Field("PutData", "fields"),
            json!({
                "propertyNames": field.clone(),
                "minProperties": 1,
                "maxProperties": crate::service::stored::MAX_FIELDS,
            }),
        ),
        (
            Field("PutData", "free_form"),
            json!({ "items": field.clone() }),
        ),
        (
            Field("PutData", "searchable"),
            json!({ "items": field.clone() }),
        ),
        (
            Field("StoreManyRequest", "free_form"),
            json!({ "items": field.clone() }),
        ),
        (
            Field("StoreManyRequest", "searchable"),
            json!({ "items": field }),
        ),
        (
            Field("PutCatalogue", "fields"),
            json!({
                "additionalProperties": { "pattern": LOWER_NAME_PATTERN },
                "maxProperties": crate::auth::catalogue::MAX_ENTRIES,
            }),
        ),
        // Batches and pages.
        (Field("EncryptRequest", "items"), batch.clone()),
        (Field("DecryptRequest", "items"), batch.clone()),
        (Field("RewrapRequest", "items"), batch.clone()),
        (Field("StoreManyRequest", "subjects"), batch.clone()),
        (Field("DetokenizeRequest", "tokens"), batch),
        (Param("/v1/audit/events", "limit"), page.clone()),
        (Param("/v1/audit/alerts", "limit"), page.clone()),
        (Param("/v1/requests", "limit"), page.clone()),
        (Param("/v1/me/access-log", "limit"), page),
        // Keys, tokens and keyrings.
        (
            Field("CreateKey", "name"),
            json!({ "minLength": 1, "maxLength": crate::service::keys::MAX_NAME_LEN }),
        ),
        (
            Field("CreateKey", "masking_roles"),
            json!({
                "items": { "pattern": MASKING_ROLE_PATTERN },
                "maxItems": crate::service::keys::MAX_MASKING_ROLES,
            }),
        ),
        (
            Field("GrantsBody", "masking_roles"),
            json!({
                "items": { "pattern": MASKING_ROLE_PATTERN },
                "maxItems": crate::service::keys::MAX_MASKING_ROLES,
            }),
        ),
        (Field("PurposeGrantBody", "views"), json!({ "minItems": 1 })),
        // Quotas and their break-glass raises.
        (Field("RaiseBody", "purpose"), purpose.clone()),
        (
            Field("RaiseBody", "reason"),
            note(crate::service::keys::MAX_REASON_LEN),
        ),
        (
            Field("RaiseBody", "seconds"),
            json!({ "minimum": 1, "maximum": crate::service::keys::MAX_RAISE_SECS }),
        ),
        (Field("RaiseBody", "quota"), json!({ "minProperties": 1 })),
        (
            Field("MaskRequest", "role"),
            json!({ "pattern": MASKING_ROLE_PATTERN }),
        ),
        (
            Field("MintToken", "ttl_seconds"),
            json!({ "minimum": 1, "maximum": limits.subject_token_max_ttl_secs }),
        ),
        (
            Field("CreateKeyring", "rotation_period_days"),
            json!({ "minimum": 1 }),
        ),
        (
            Field("UpdateKeyring", "rotation_period_days"),
            json!({ "minimum": 1 }),
        ),
        (
            Field("UpdateKeyring", "min_decryption_version"),
            json!({ "minimum": 1 }),
        ),
        (Field("CreateKeyring", "suite"), one_of(&suites)),
        (Field("RotateKeyring", "suite"), one_of(&suites)),
        // Consent and rights requests.
        (Field("PurposeDefinition", "description"), note(2000)),
        (
            Field("PurposeDefinition", "categories"),
            json!({ "minItems": 1 }),
        ),
        (
            Field("PurposeDefinition", "retention_days"),
            json!({ "minimum": 1 }),
        ),
        (
            Field("PiCategory", "name"),
            json!({ "minLength": 1, "maxLength": 64 }),
        ),
        (Field("Recipient", "name"), note(2000)),
        (Field("Recipient", "contact"), note(2000)),
        (
            Field("NoticeText", "language"),
            json!({ "pattern": LANGUAGE_PATTERN }),
        ),
        (Field("NoticeText", "text"), note(200_000)),
        (Field("NoticeRef", "version"), json!({ "minimum": 1 })),
        (Field("Grant", "channel"), note(2000)),
        (Field("Grant", "evidence"), note(2000)),
        (
            Field("Grant", "expires_at"),
            json!({ "format": "date-time" }),
        ),
        (Field("Guardian", "id"), non_blank.clone()),
        (Field("Guardian", "relation"), non_blank.clone()),
        (Field("Guardian", "verification"), non_blank),
        (Field("NewRequest", "note"), json!({ "maxLength": 2000 })),
        (Field("CloseRequest", "resolution"), note(2000)),
        (
            Field("CloseRequest", "status"),
            one_of(&["completed", "rejected"]),
        ),
        (
            Param("/v1/requests", "status"),
            one_of(&["open", "approved", "closing", "completed", "rejected"]),
        ),
        // The audit trail.
        (
            Param("/v1/audit/events", "outcome"),
            one_of(&["allowed", "denied"]),
        ),
        (
            Param("/v1/audit/events", "from"),
            json!({ "format": "date-time" }),
        ),
        (
            Param("/v1/audit/events", "to"),
            json!({ "format": "date-time" }),
        ),
        (
            Param("/v1/audit/events/{seq}", "seq"),
            json!({ "minimum": 0 }),
        ),
        (
            Param("/v1/audit/proofs/inclusion", "seq"),
            json!({ "minimum": 0 }),
        ),
        (
            Param("/v1/audit/proofs/inclusion", "size"),
            json!({ "minimum": 1 }),
        ),
        (
            Param("/v1/audit/proofs/consistency", "from"),
            json!({ "minimum": 1 }),
        ),
        (
            Param("/v1/audit/proofs/consistency", "to"),
            json!({ "minimum": 1 }),
        ),
        (
            Param("/v1/audit/proofs/consistency", "note"),
            json!({ "maxLength": super::audit::MAX_NOTE_CHARS }),
        ),
        // Masking: exactly one input, of a known type.
        (Field("MaskRequest", "type"), one_of(&pi_types())),
        (Field("DetectRequest", "json"), any_json()),
        (Field("MaskRequest", "json"), any_json()),
        (Field("MaskResponse", "json"), any_json()),
        (
            Operation("/v1/policies/{name}", "put"),
            json_body(json!({ "$ref": "#/components/schemas/MaskingPolicy", "type": null })),
        ),
        (
            Operation("/v1/keyrings/{name}/rotate", "post"),
            json!({ "requestBody": { "required": false } }),
        ),
        (
            Field("PolicyView", "policy"),
            json!({ "$ref": "#/components/schemas/MaskingPolicy", "type": null }),
        ),
        (Param("/v1/notices/{id}", "id"), purpose.clone()),
        (Field("NoticeRef", "id"), purpose.clone()),
        (
            Field("PutCatalogue", "fields"),
            json!({ "propertyNames": field.clone() }),
        ),
    ];
    for limit in crate::auth::quota::Limit::ALL {
        all.push((
            Field("QuotaLimits", limit.as_str()),
            json!({ "maximum": crate::auth::quota::MAX_LIMIT }),
        ));
    }
    for schema in ["DetectRequest", "MaskRequest"] {
        all.push((
            Field(schema, ""),
            exactly_one_of(&["text", "json", "value"]),
        ));
    }
    all
}

/// A field name: a [`FieldType`], optionally followed by `.` and a label.
fn field_pattern() -> String {
    let types: Vec<&str> = FieldType::ALL.iter().map(|t| t.as_str()).collect();
    format!(r"^({})(\.[a-z0-9_]{{1,32}})?$", types.join("|"))
}

/// An operation's JSON request body, patched with `schema`.
fn json_body(schema: Value) -> Value {
    json!({ "requestBody": { "content": { "application/json": { "schema": schema } } } })
}

/// The names of the masking PI types.
fn pi_types() -> Vec<&'static str> {
    baomi_masking::PiType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect()
}

/// Any JSON value, without NUL in its text (the extractor's rule, stated for a
/// free-form document).
fn any_json() -> Value {
    json!({ "type": null, "$ref": "#/components/schemas/JsonDocument" })
}

/// The schema of a free-form JSON document whose text holds no NUL.
fn json_document() -> Value {
    let me = json!({ "$ref": "#/components/schemas/JsonDocument" });
    json!({
        "description": "Any JSON value; no string in it, key or value, holds a NUL.",
        "anyOf": [
            { "type": "null" },
            { "type": "string", "pattern": TEXT_PATTERN },
            { "type": "number" },
            { "type": "boolean" },
            { "type": "array", "items": me },
            {
                "type": "object",
                "additionalProperties": me,
                "propertyNames": { "pattern": TEXT_PATTERN },
            },
        ],
    })
}

/// A masking policy (`baomi_masking::Policy`): its shape, names and limits. Whether each
/// rule's JSON paths parse and each operator suits its type is checked on `PUT` (422
/// `masking.invalid_policy`).
fn masking_policy() -> Value {
    let types = pi_types();
    let name = json!({ "type": "string", "minLength": 1, "maxLength": 64 });
    let count = json!({ "type": "integer", "minimum": 0 });
    let operator = |op: &str, properties: Value, required: &[&str]| {
        let mut properties = properties;
        properties["op"] = json!({ "const": op });
        let mut required: Vec<&str> = required.to_vec();
        required.push("op");
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        })
    };
    let mut operators: Vec<Value> = ["keep", "default", "redact", "hash", "encrypt", "tokenize"]
        .iter()
        .map(|op| operator(op, json!({}), &[]))
        .collect();
    operators.extend([
        operator(
            "mask",
            json!({
                "first": count, "last": count,
                "with": { "type": "string", "minLength": 1, "maxLength": 1 },
            }),
            &[],
        ),
        operator(
            "replace",
            json!({ "label": { "type": ["string", "null"], "maxLength": 64 } }),
            &[],
        ),
        operator(
            "generalize",
            json!({
                "to": { "enum": ["year", "age_band", "province", "city", "district", "bucket", "network"] },
                "width": { "type": ["integer", "null"], "minimum": 0 },
            }),
            &["to"],
        ),
        operator(
            "date_shift",
            json!({ "max_days": { "type": "integer", "minimum": 0, "maximum": u32::MAX } }),
            &["max_days"],
        ),
        operator("truncate", json!({ "keep": count }), &["keep"]),
    ]);
    let operator = json!({ "oneOf": operators });
    json!({
        "description": "A masking policy: rules tried in order, the first whose roles and \
                        purposes match applies (see docs/masking.md).",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "description": { "type": "string" },
            "rules": {
                "type": "array",
                "maxItems": baomi_masking::policy::MAX_RULES,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "roles": { "type": "array", "items": name },
                        "purposes": { "type": "array", "items": name },
                        "scan": { "enum": ["all", "paths"] },
                        "types": {
                            "type": "object",
                            "propertyNames": { "enum": types },
                            "additionalProperties": operator,
                        },
                        "fields": {
                            "type": "array",
                            "maxItems": baomi_masking::policy::MAX_FIELDS,
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["path", "operator"],
                                "properties": {
                                    "path": { "type": "string" },
                                    "type": { "enum": types },
                                    "operator": operator,
                                },
                            },
                        },
                    },
                },
            },
        },
    })
}

/// Exactly one of `names` present and not null (a request with two is refused).
fn exactly_one_of(names: &[&str]) -> Value {
    let branches: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({
                "required": [name],
                "properties": { *name: { "not": { "type": "null" } } },
            })
        })
        .collect();
    json!({ "oneOf": branches })
}

/// A key's binding to a client certificate: exactly one of its public key's hash or its
/// subject.
fn certificate_binding() -> Value {
    let only = |name: &str, schema: Value| {
        json!({ "type": "object", "additionalProperties": false, "required": [name],
                "properties": { name: schema } })
    };
    json!({
        "description": "A client certificate, named by the SHA-256 of its SubjectPublicKeyInfo \
            (hex) or by its subject (`C=CN, O=Example Pay, CN=payments`).",
        "oneOf": [
            only("spki_sha256", json!({ "type": "string", "pattern": SPKI_SHA256_PATTERN })),
            only("subject", json!({ "type": "string", "pattern": NON_BLANK_PATTERN,
                "maxLength": crate::auth::client_certificate::MAX_SUBJECT })),
        ]
    })
}

/// The merged document, with everything this module states applied.
pub fn apply(doc: &mut Value, limits: &Limits) {
    unsigned_ranges(doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert("JsonDocument".to_owned(), json_document());
        schemas.insert("MaskingPolicy".to_owned(), masking_policy());
        schemas.insert("CertificateBinding".to_owned(), certificate_binding());
    }
    for (at, patch) in constraints(limits) {
        let targets = find(doc, at);
        debug_assert!(
            !targets.is_empty(),
            "the contract names {at:?}, not in the document"
        );
        for target in targets {
            merge(target, patch.clone());
            allow_null_in_enum(target);
        }
    }
    shared_problems(doc);
    text_without_nul(doc);
}

/// The schemas a constraint applies to: a component's property, or a parameter in each
/// operation of a path (each operation has its own copy).
fn find(doc: &mut Value, at: At) -> Vec<&mut Value> {
    match at {
        At::Field(schema, property) => {
            let mut pointer = format!("/components/schemas/{schema}");
            if !property.is_empty() {
                pointer.push_str("/properties/");
                pointer.push_str(property);
            }
            doc.pointer_mut(&pointer).into_iter().collect()
        }
        At::Operation(path, method) => doc
            .pointer_mut(&format!(
                "/paths/{}/{method}",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .into_iter()
            .collect(),
        At::Param(path, name) => doc
            .get_mut("paths")
            .and_then(|paths| paths.get_mut(path))
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
            .flat_map(|params| params.iter_mut())
            .filter(|param| param["name"] == name)
            .filter_map(|param| param.get_mut("schema"))
            .collect(),
    }
}

/// A nullable field with an enumeration of values: null stays allowed.
fn allow_null_in_enum(schema: &mut Value) {
    let nullable = schema["type"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut)
        && nullable
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

/// Merges `patch` into `target`: objects member by member, anything else replaced; a null
/// in the patch removes the member.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

/// Declares the shared problem responses once, under `components/responses`, and refers to
/// them from each operation that can give them and does not describe them itself.
fn shared_problems(doc: &mut Value) {
    let responses = doc
        .pointer_mut("/components")
        .and_then(Value::as_object_mut)
        .map(|c| c.entry("responses").or_insert_with(|| json!({})));
    if let Some(responses) = responses.and_then(Value::as_object_mut) {
        for shared in SHARED {
            responses.insert(
                shared.name.to_owned(),
                json!({
                    "description": shared.description,
                    "content": { super::error::PROBLEM_JSON: {
                        "schema": { "$ref": "#/components/schemas/Problem" },
                    } },
                }),
            );
        }
    }
    for op in operations(doc) {
        let applying: Vec<&Shared> = SHARED.iter().filter(|s| (s.applies)(op)).collect();
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for shared in applying {
            responses.entry(shared.status).or_insert_with(
                || json!({ "$ref": format!("#/components/responses/{}", shared.name) }),
            );
        }
    }
}

/// Every operation of the document.
fn operations(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| {
            matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch")
        })
        .filter_map(|(_, op)| op.as_object_mut())
}

/// utoipa writes `u32` and `u64` as `int32` and `int64` from 0, whose upper bounds are
/// `i32`'s and `i64`'s: states the unsigned ranges (before the constraints add minimums of
/// their own to signed integers).
fn unsigned_ranges(doc: &mut Value) {
    each_object(doc, &mut |object| {
        let unsigned = object
            .get("minimum")
            .and_then(Value::as_i64)
            .is_some_and(|min| min >= 0);
        let max = match object.get("format").and_then(Value::as_str) {
            Some("int32") if unsigned => Some(json!(u32::MAX)),
            Some("int64") if unsigned => Some(json!(u64::MAX)),
            _ => None,
        };
        if let Some(max) = max {
            object.remove("format");
            object.entry("maximum").or_insert(max);
        }
    });
}

/// Calls `f` on every JSON object in `doc`, outermost first.
fn each_object(doc: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    match doc {
        Value::Object(object) => {
            f(object);
            object.values_mut().for_each(|v| each_object(v, f));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| each_object(v, f)),
        _ => {}
    }
}

/// Gives every string schema without a pattern, an enumeration or a format the NUL-free
/// [`TEXT_PATTERN`], and every map's keys it, everywhere in the document.
fn text_without_nul(doc: &mut Value) {
    each_object(doc, &mut |object| {
        let is_string = match object.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
            _ => false,
        };
        if is_string
            && !object.contains_key("pattern")
            && !object.contains_key("enum")
            && !object.contains_key("format")
        {
            object.insert("pattern".to_owned(), json!(TEXT_PATTERN));
        }
        let open_map = object
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false));
        if open_map {
            let names = object.entry("propertyNames").or_insert_with(|| json!({}));
            if let Some(names) = names.as_object_mut() {
                names.entry("pattern").or_insert(json!(TEXT_PATTERN));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::auth::client_certificate::CertificateBinding;
    use baomi_consent::{NoticeText, PurposeId};
    use baomi_vault::{FieldName, KeyringName};
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;

    /// A validator the server runs.
    type Validator = fn(&str) -> bool;

    /// Each pattern the document states, with the validator the server runs.
    fn pairs() -> Vec<(String, Validator)> {
        vec![
            (SUBJECT_ID_PATTERN.into(), |s| SubjectId::parse(s).is_ok()),
            (PURPOSE_ID_PATTERN.into(), |s| PurposeId::parse(s).is_ok()),
            (KEYRING_PATTERN.into(), |s| KeyringName::parse(s).is_ok()),
            (LOWER_NAME_PATTERN.into(), baomi_masking::policy::valid_name),
            (
                MASKING_ROLE_PATTERN.into(),
                crate::auth::grant::valid_masking_role,
            ),
            (field_pattern(), |s| FieldName::parse(s).is_ok()),
            (LANGUAGE_PATTERN.into(), |s| {
                let notice = NoticeText {
                    language: s.to_owned(),
                    text: "notice".to_owned(),
                    purposes: vec!["marketing".to_owned()],
                };
                notice.validate().is_ok()
            }),
            (TEXT_PATTERN.into(), |s| !s.contains('\0')),
            (SPKI_SHA256_PATTERN.into(), |s| {
                CertificateBinding::SpkiSha256(s.to_owned())
                    .normalized()
                    .is_ok()
            }),
            (NON_BLANK_PATTERN.into(), |s| {
                !s.contains('\0') && !s.trim().is_empty()
            }),
        ]
    }

    fn check(text: &str) {
        for (pattern, valid) in pairs() {
            let matches = Regex::new(&pattern).unwrap().is_match(text);
            assert_eq!(
                matches,
                valid(text),
                "{pattern} and its validator on {text:?}"
            );
        }
    }

    #[test]
    fn patterns_agree_with_the_validators_at_the_edges() {
        for text in [
            "",
            "a",
            "A",
            "0",
            "-",
            ".",
            "_",
            ":",
            "a.b",
            "a b",
            "é",
            "\0",
            "a\0",
            "mobile",
            "mobile.home",
            "mobile.",
            "mobile.Home",
            "bank_card.x_1",
            "zh-CN",
            "Zh-cn-x",
            "marketing",
            "Marketing",
            "0day",
            "-x",
            " ",
            "\u{85}",
            "\u{a0}",
            "\u{3000}",
            "\u{1c}",
            "\u{feff}",
            "\u{200b}",
            " \t\n\u{b}\u{c}\r\u{2028}\u{2029}\u{202f}\u{205f}\u{1680}\u{2000}\u{200a}",
            "\u{3000}x\u{85}",
            "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789",
            "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef012345678",
            "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef012345678g",
        ] {
            check(text);
        }
        for len in [31, 32, 33, 35, 36, 63, 64, 65, 127, 128, 129] {
            check(&"a".repeat(len));
            check(&format!("mobile.{}", "a".repeat(len)));
        }
    }

    proptest! {
        #[test]
        fn patterns_agree_with_the_validators(
            text in "[a-zA-Z0-9._:\\- \u{0}é\u{85}\u{a0}\u{3000}\u{1c}\u{feff}\t]{0,70}|mobile\\.[a-z0-9_A.]{0,34}|[a-z]{60,130}"
        ) {
            check(&text);
        }
    }

    #[test]
    fn every_constraint_finds_its_place_in_the_document() {
        let limits = crate::service::Limits::from_config(&crate::config::Config::default());
        let mut doc = serde_json::to_value(crate::app::routes_description()).unwrap();
        for (at, _) in constraints(&limits) {
            assert!(
                !find(&mut doc, at).is_empty(),
                "{at:?} is not in the document"
            );
        }
    }

    /// A subject id in a path is checked by the server (422 otherwise): every route under
    /// `/v1/subjects/{id}` states the pattern, so that a client, or a fuzzer, knows it.
    #[test]
    fn every_subject_path_states_the_subject_pattern() {
        let limits = crate::service::Limits::from_config(&crate::config::Config::default());
        let doc = crate::app::openapi(&limits);
        let subject = SUBJECT_ID_PATTERN;
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/v1/subjects/{id}") {
                continue;
            }
            for op in item.as_object().unwrap().values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" && p["name"] == "id" {
                        assert_eq!(p["schema"]["pattern"], subject, "{path}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked >= 6, "{checked} subject paths");
    }

    #[test]
    fn shared_problems_reach_every_operation_that_can_give_them() {
        let limits = crate::service::Limits::from_config(&crate::config::Config {
            max_batch_items: 250,
            ..crate::config::Config::default()
        });
        let mut doc = crate::app::openapi(&limits);
        let mut seen = 0;
        for op in operations(&mut doc) {
            seen += 1;
            let responses = &op["responses"];
            for status in ["400", "414", "431", "500", "503"] {
                assert!(responses.get(status).is_some(), "{status} missing");
            }
            if op.contains_key("requestBody") {
                for status in ["413", "415", "422"] {
                    assert!(responses.get(status).is_some(), "{status} missing");
                }
            }
            if op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty())
            {
                assert!(responses.get("401").is_some());
            }
        }
        assert!(seen > 50, "{seen} operations");
        // The configured batch limit is the documented one.
        assert_eq!(
            doc["components"]["schemas"]["EncryptRequest"]["properties"]["items"]["maxItems"],
            250
        );
    }
}
