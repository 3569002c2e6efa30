//! Discord's official OpenAPI description as the fake's oracle: every request's method and path
//! is matched against the spec's path templates and its parameters and JSON body are validated
//! against the operation's schemas (Draft 2020-12), and so is every answer the fake gives.
//!
//! The spec is read from `shared/data/discord/openapi.json` beside the repository, once per test
//! binary; each operation's validator is compiled on first use and kept.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, ValidationError, Validator};
use serde_json::{Value, json};

/// Where the spec lives inside the registry; `$ref`s in it (`#/components/…`) resolve against it.
const SPEC_URI: &str = "https://discord-openapi.invalid/openapi.json";
const SPEC_FILE: &str = "shared/data/discord/openapi.json";

pub static SPEC: LazyLock<Spec> = LazyLock::new(Spec::load);

/// Places where serenity's encoding and the spec disagree while Discord accepts both. Each
/// rewrites one field into the spec's form before validation, so the rest of the body is still
/// checked and the field's value must still make sense.
struct Allowance {
    operation: &'static str,
    field: &'static str,
    /// Turns serenity's form into the spec's, or `None` when the value is wrong either way.
    rewrite: fn(&Value) -> Option<Value>,
}

const ALLOWANCES: &[Allowance] = &[
    // Permission bit sets are decimal strings everywhere in Discord's API and serenity sends
    // them so; the spec types this one field as an integer. Discord takes the string.
    Allowance {
        operation: "bulk_set_application_commands",
        field: "default_member_permissions",
        rewrite: decimal_string_as_integer,
    },
    Allowance {
        operation: "bulk_set_guild_application_commands",
        field: "default_member_permissions",
        rewrite: decimal_string_as_integer,
    },
    // A new file's attachment names its `files[n]` part by `n`; Discord's own upload examples
    // and serenity send it as an integer (`"id": 0`), the spec types every attachment id as a
    // snowflake string. Discord takes both.
    Allowance {
        operation: "create_message",
        field: "attachments",
        rewrite: attachment_ids_as_strings,
    },
    Allowance {
        operation: "update_message",
        field: "attachments",
        rewrite: attachment_ids_as_strings,
    },
    Allowance {
        operation: "execute_webhook",
        field: "attachments",
        rewrite: attachment_ids_as_strings,
    },
    Allowance {
        operation: "update_webhook_message",
        field: "attachments",
        rewrite: attachment_ids_as_strings,
    },
    Allowance {
        operation: "update_original_webhook_message",
        field: "attachments",
        rewrite: attachment_ids_as_strings,
    },
    Allowance {
        operation: "create_interaction_response",
        field: "data",
        rewrite: data_attachment_ids_as_strings,
    },
];

/// Discord's Invalid Form Body answers name each field's problem with a string code
/// (`BASE_TYPE_MAX_LENGTH`); the spec reuses its top-level `Error` there, whose `code` is an
/// integer. The fake answers as Discord does and checks the rest of the shape.
fn field_error_codes_as_integers(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(list)) = map.get_mut("_errors") {
                for e in list {
                    if e["code"].is_string() {
                        e["code"] = json!(0);
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "_errors" {
                    field_error_codes_as_integers(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(field_error_codes_as_integers),
        _ => {}
    }
}

fn decimal_string_as_integer(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => s.parse::<u64>().ok().map(Value::from),
        other => Some(other.clone()),
    }
}

/// `attachments` with integer ids (a file's index) as the spec's snowflake strings.
fn attachment_ids_as_strings(v: &Value) -> Option<Value> {
    let mut v = v.clone();
    if let Value::Array(items) = &mut v {
        for item in items {
            if let Some(id) = item.get("id").and_then(Value::as_u64) {
                item["id"] = Value::String(id.to_string());
            }
        }
    }
    Some(v)
}

/// An interaction response's `data.attachments`, as [`attachment_ids_as_strings`].
fn data_attachment_ids_as_strings(v: &Value) -> Option<Value> {
    let mut v = v.clone();
    if let Some(attachments) = v.get("attachments") {
        let rewritten = attachment_ids_as_strings(attachments)?;
        v["attachments"] = rewritten;
    }
    Some(v)
}

/// One thing wrong with a request, placed where Discord's `errors` object would put it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where in the request: a body path (`["content"]`, `["components", "0"]`) or a parameter.
    pub field: Vec<String>,
    /// Discord's error code for the field (`BASE_TYPE_MAX_LENGTH`, …).
    pub code: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(field: &[&str], code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            field: field.iter().map(|s| s.to_string()).collect(),
            code,
            message: message.into(),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}: {} ({})", self.field.join("."), self.message, self.code)
    }
}

/// Discord's answer to an invalid request: 50035 with the problems nested by field.
pub fn invalid_form_body(problems: &[Problem]) -> Value {
    let mut errors = json!({});
    // A node holds either its own `_errors` or its fields' errors, never both: problems with
    // the body as a whole are only listed when no field has one.
    let any_field = problems.iter().any(|p| !p.field.is_empty());
    for p in problems
        .iter()
        .filter(|p| !(any_field && p.field.is_empty()))
    {
        let mut node = &mut errors;
        for segment in &p.field {
            node = node
                .as_object_mut()
                .expect("error nodes are objects")
                .entry(segment.clone())
                .or_insert_with(|| json!({}));
        }
        let list = node
            .as_object_mut()
            .expect("error nodes are objects")
            .entry("_errors")
            .or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.push(json!({"code": p.code, "message": p.message}));
        }
    }
    json!({"code": 50035, "message": "Invalid Form Body", "errors": errors})
}

/// A request matched to the spec's operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The spec's `operationId`, e.g. `create_message`.
    pub id: String,
    /// The spec's path template, e.g. `/channels/{channel_id}/messages`.
    pub template: String,
    /// JSON pointer to the operation object inside the spec.
    pointer: String,
    /// Path parameters by name, as they appeared in the request.
    pub params: HashMap<String, String>,
}

impl Operation {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

enum Segment {
    Literal(String),
    Param(String),
}

struct Route {
    template: String,
    segments: Vec<Segment>,
}

pub struct Spec {
    doc: Value,
    registry: Registry<'static>,
    routes: Vec<Route>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// The spec file: found by walking up from this crate, so any checkout with `shared/` beside
/// (or above) it works; `SUPPORTBOT_DISCORD_OPENAPI` names another.
pub fn spec_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SUPPORTBOT_DISCORD_OPENAPI") {
        return PathBuf::from(p);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|dir| dir.join(SPEC_FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Discord's OpenAPI description was not found at {SPEC_FILE} in any folder above {}; \
                 set SUPPORTBOT_DISCORD_OPENAPI to its path",
                here.display()
            )
        })
}

impl Spec {
    fn load() -> Spec {
        let path = spec_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(SPEC_URI, doc.clone())
            .and_then(|b| b.prepare())
            .expect("the spec is a valid schema resource");
        let routes = doc["paths"]
            .as_object()
            .expect("the spec has paths")
            .keys()
            .map(|template| Route {
                template: template.clone(),
                segments: template
                    .trim_start_matches('/')
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_string()),
                            None => Segment::Literal(s.to_string()),
                        },
                    )
                    .collect(),
            })
            .collect();
        Spec {
            doc,
            registry,
            routes,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The operation for `method` on `path` (`/api/v10/…`). Literal segments win over
    /// parameters (`/users/@me` over `/users/{user_id}`), as Discord's router does.
    pub fn find(&self, method: &str, path: &str) -> Option<Operation> {
        let rest = path.strip_prefix("/api/v10/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        let method = method.to_ascii_lowercase();
        let mut best: Option<(usize, &Route, HashMap<String, String>)> = None;
        for route in &self.routes {
            if route.segments.len() != parts.len() {
                continue;
            }
            let mut params = HashMap::new();
            let mut literals = 0;
            let matched = route
                .segments
                .iter()
                .zip(&parts)
                .all(|(seg, part)| match seg {
                    Segment::Literal(l) => {
                        literals += 1;
                        l == part
                    }
                    Segment::Param(name) => {
                        params.insert(name.clone(), (*part).to_string());
                        !part.is_empty()
                    }
                });
            if !matched || self.doc["paths"][&route.template][&method].is_null() {
                continue;
            }
            if best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
                best = Some((literals, route, params));
            }
        }
        let (_, route, params) = best?;
        let op = &self.doc["paths"][&route.template][&method];
        Some(Operation {
            id: op["operationId"].as_str().unwrap_or_default().to_string(),
            template: route.template.clone(),
            pointer: format!("/paths/{}/{method}", escape_pointer(&route.template)),
            params,
        })
    }

    fn at(&self, pointer: &str) -> &Value {
        self.doc.pointer(pointer).unwrap_or(&Value::Null)
    }

    /// Follows a `$ref` inside the spec; returns the target's pointer.
    fn deref(&self, pointer: String) -> String {
        match self.at(&pointer)["$ref"].as_str() {
            Some(r) => r.trim_start_matches('#').to_string(),
            None => pointer,
        }
    }

    fn validator(&self, pointer: &str) -> Arc<Validator> {
        let mut cache = self.validators.lock().expect("validator cache poisoned");
        if let Some(v) = cache.get(pointer) {
            return Arc::clone(v);
        }
        let schema = json!({"$ref": format!("{SPEC_URI}#{}", fragment(pointer))});
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("compile the spec's schema at {pointer}: {e}"));
        let validator = Arc::new(validator);
        cache.insert(pointer.to_string(), Arc::clone(&validator));
        validator
    }

    fn validate(&self, pointer: &str, value: &Value, prefix: &[String]) -> Vec<Problem> {
        let validator = self.validator(pointer);
        validator
            .iter_errors(value)
            .map(|e| problem(&e, prefix))
            .collect()
    }

    /// The parameter objects of an operation (path-level first, operation-level overriding).
    fn parameters(&self, op: &Operation) -> Vec<(String, String, String)> {
        let path_item = format!("/paths/{}", escape_pointer(&op.template));
        let mut out: Vec<(String, String, String)> = Vec::new();
        for base in [path_item, op.pointer.clone()] {
            let Some(list) = self.at(&format!("{base}/parameters")).as_array() else {
                continue;
            };
            for i in 0..list.len() {
                let p = self.deref(format!("{base}/parameters/{i}"));
                let param = self.at(&p);
                let (name, place) = (
                    param["name"].as_str().unwrap_or_default().to_string(),
                    param["in"].as_str().unwrap_or_default().to_string(),
                );
                out.retain(|(n, w, _)| !(n == &name && w == &place));
                out.push((name, place, format!("{p}/schema")));
            }
        }
        out
    }

    /// Everything the spec says is wrong with a request: path parameters, query parameters and
    /// the JSON body (`None` when the request had none).
    pub fn check_request(
        &self,
        op: &Operation,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> Vec<Problem> {
        self.check_request_as(op, query, body, "application/json")
    }

    /// [`Spec::check_request`] for a body sent as `media` (`multipart/form-data`: the form's
    /// `payload_json`), checked against the schema the spec gives that media type.
    pub fn check_request_as(
        &self,
        op: &Operation,
        query: Option<&str>,
        body: Option<&Value>,
        media: &str,
    ) -> Vec<Problem> {
        let params = self.parameters(op);
        let mut problems = Vec::new();
        for (name, value) in &op.params {
            match params.iter().find(|(n, w, _)| n == name && w == "path") {
                Some((_, _, schema)) => problems.extend(self.validate(
                    schema,
                    &json!(value),
                    std::slice::from_ref(name),
                )),
                None => problems.push(Problem::new(
                    &[name],
                    "UNKNOWN_PARAMETER",
                    "the spec does not describe this path parameter",
                )),
            }
        }
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match params.iter().find(|(n, w, _)| n == name && w == "query") {
                Some((_, _, schema)) => {
                    let typed = query_value(self.at(schema), value);
                    problems.extend(self.validate(schema, &typed, &[name.to_string()]));
                }
                None => problems.push(Problem::new(
                    &[name],
                    "UNKNOWN_QUERY_PARAMETER",
                    "the spec does not describe this query parameter",
                )),
            }
        }
        let request_body = format!("{}/requestBody", op.pointer);
        match (self.at(&request_body).is_null(), body) {
            (true, None) => {}
            (true, Some(_)) => problems.push(Problem::new(
                &[],
                "UNEXPECTED_BODY",
                "this operation takes no body",
            )),
            (false, None) => {
                if self.at(&format!("{request_body}/required")) == &json!(true) {
                    problems.push(Problem::new(
                        &[],
                        "BASE_TYPE_REQUIRED",
                        "this operation needs a JSON body",
                    ));
                }
            }
            (false, Some(body)) => {
                let schema = format!("{request_body}/content/{}/schema", escape_pointer(media));
                if self.at(&schema).is_null() {
                    problems.push(Problem::new(
                        &[],
                        "UNSUPPORTED_CONTENT_TYPE",
                        format!("this operation takes no {media} body"),
                    ));
                } else {
                    let body = allow(&op.id, body);
                    problems.extend(self.validate(&schema, &body, &[]));
                }
            }
        }
        problems
    }

    /// Whether an answer the fake gives is one the spec documents for this operation.
    pub fn check_response(
        &self,
        op: &Operation,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let responses = format!("{}/responses", op.pointer);
        let key = [
            status.to_string(),
            format!("{}XX", status / 100),
            "default".into(),
        ]
        .into_iter()
        .find(|k| !self.at(&format!("{responses}/{k}")).is_null())
        .ok_or_else(|| format!("status {status} is not a documented answer"))?;
        let response = self.deref(format!("{responses}/{key}"));
        let schema = format!("{response}/content/application~1json/schema");
        match (self.at(&schema).is_null(), body) {
            (true, None) => Ok(()),
            (true, Some(_)) => Err(format!("status {status} has no body in the spec")),
            (false, None) => Err(format!("status {status} needs a JSON body")),
            (false, Some(body)) => {
                let mut body = body.clone();
                if let Some(errors) = body.get_mut("errors") {
                    field_error_codes_as_integers(errors);
                }
                let problems = self.validate(&schema, &body, &[]);
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems
                        .iter()
                        .map(Problem::describe)
                        .collect::<Vec<_>>()
                        .join("; "))
                }
            }
        }
    }
}

/// Applies the allow-list to one request body (a list of commands or one object).
fn allow(operation: &str, body: &Value) -> Value {
    let mut body = body.clone();
    for a in ALLOWANCES.iter().filter(|a| a.operation == operation) {
        let objects: Vec<&mut Value> = match &mut body {
            Value::Array(items) => items.iter_mut().collect(),
            other => vec![other],
        };
        for object in objects {
            if let Some(v) = object.get_mut(a.field)
                && let Some(rewritten) = (a.rewrite)(v)
            {
                *v = rewritten;
            }
        }
    }
    body
}

/// A query string value typed as its schema says (`true` for booleans, numbers for integers).
fn query_value(schema: &Value, raw: &str) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"boolean") {
        match raw {
            "true" | "True" => return json!(true),
            "false" | "False" => return json!(false),
            _ => {}
        }
    }
    if types.contains(&"integer")
        && let Ok(n) = raw.parse::<i64>()
    {
        return json!(n);
    }
    json!(raw)
}

fn problem(e: &ValidationError<'_>, prefix: &[String]) -> Problem {
    let mut field: Vec<String> = prefix.to_vec();
    field.extend(e.instance_path().iter().map(|s| s.to_string()));
    let code = match e.kind() {
        ValidationErrorKind::MaxLength { .. } | ValidationErrorKind::MaxItems { .. } => {
            "BASE_TYPE_MAX_LENGTH"
        }
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MinItems { .. } => {
            "BASE_TYPE_MIN_LENGTH"
        }
        ValidationErrorKind::Required { .. } => "BASE_TYPE_REQUIRED",
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            "BASE_TYPE_CHOICES"
        }
        ValidationErrorKind::Maximum { .. } | ValidationErrorKind::Minimum { .. } => {
            "NUMBER_TYPE_OUT_OF_RANGE"
        }
        _ => "BASE_TYPE_INVALID",
    };
    let mut message = shorten(&e.to_string());
    // A failed `oneOf`/`anyOf` says little by itself: name what each branch disliked.
    if let ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } =
        e.kind()
    {
        let reasons: Vec<String> = context
            .iter()
            .flatten()
            .take(6)
            .map(|inner| format!("{} {}", inner.instance_path(), shorten(&inner.to_string())))
            .collect();
        message = format!("no variant fits: {}", reasons.join(" | "));
    }
    Problem {
        field,
        code,
        message,
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 200 {
        text.to_string()
    } else {
        text.chars().take(199).collect::<String>() + "…"
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer as a URI fragment: the spec's templates carry `{` and `}`.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for c in pointer.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}
