//! The API reference page: the OpenAPI document rendered as one self-contained HTML page,
//! so that it reads without any script or download (the machines Baomi runs on are often
//! closed to the internet).

use serde_json::Value;

/// Renders `openapi` (an OpenAPI document as JSON) as an HTML page.
pub fn render(openapi: &Value) -> String {
    let title = text(&openapi["info"]["title"]);
    let version = text(&openapi["info"]["version"]);
    let mut html = String::new();
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str(&format!(
        "<title>{} {} API</title>",
        esc(&title),
        esc(&version)
    ));
    html.push_str(
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
         padding:0 1rem;color:#222}code,pre{font:13px ui-monospace,monospace}\
         .op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
         .m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}\
         table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:2px 8px;\
         text-align:left;vertical-align:top}</style></head><body>",
    );
    html.push_str(&format!(
        "<h1>{} API <small>{}</small></h1><p>{}</p><p>Machine-readable: \
         <a href=\"/openapi.json\">/openapi.json</a>. Authenticate with \
         <code>Authorization: Bearer &lt;API key or subject token&gt;</code>. Errors are \
         <code>application/problem+json</code> with a stable <code>code</code>.</p>",
        esc(&title),
        esc(&version),
        esc(&text(&openapi["info"]["description"]))
    ));
    html.push_str("<h2>Operations</h2>");
    if let Some(paths) = openapi["paths"].as_object() {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                html.push_str(&operation(method, path, op));
            }
        }
    }
    html.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = openapi["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            html.push_str(&schema_table(name, schema));
        }
    }
    html.push_str("</body></html>");
    html
}

fn operation(method: &str, path: &str, op: &Value) -> String {
    let mut out = format!(
        "<div class=\"op\" id=\"{}-{}\"><p><span class=\"m\">{}</span><code>{}</code> — {}</p>",
        esc(method),
        esc(path),
        esc(method),
        esc(path),
        esc(&text(&op["summary"]))
    );
    let description = text(&op["description"]);
    if !description.is_empty() {
        out.push_str(&format!("<p>{}</p>", esc(&description)));
    }
    if let Some(params) = op["parameters"].as_array() {
        out.push_str("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>");
        for p in params {
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&text(&p["name"])),
                esc(&text(&p["in"])),
                esc(&text(&p["description"]))
            ));
        }
        out.push_str("</table>");
    }
    if let Some(body) = op["requestBody"]["content"].as_object() {
        for (media, content) in body {
            out.push_str(&format!(
                "<p>Body ({}): {}</p>",
                esc(media),
                schema_ref(&content["schema"])
            ));
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        out.push_str("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>");
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| schema_ref(&c["schema"]))
                .unwrap_or_default();
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                esc(&text(&r["description"])),
                body
            ));
        }
        out.push_str("</table>");
    }
    out.push_str("</div>");
    out
}

fn schema_table(name: &str, schema: &Value) -> String {
    let mut out = format!(
        "<h3 id=\"schema-{}\">{}</h3><p>{}</p>",
        esc(name),
        esc(name),
        esc(&text(&schema["description"]))
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema["properties"].as_object() {
        out.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
        for (field, p) in props {
            let mark = if required.contains(&field.as_str()) {
                " (required)"
            } else {
                ""
            };
            out.push_str(&format!(
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                esc(field),
                mark,
                type_of(p),
                esc(&text(&p["description"]))
            ));
        }
        out.push_str("</table>");
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> = values.iter().map(text).collect();
        out.push_str(&format!(
            "<p>One of: <code>{}</code></p>",
            esc(&names.join(", "))
        ));
    }
    out
}

fn type_of(p: &Value) -> String {
    if p["$ref"].is_string() {
        return schema_ref(p);
    }
    if let Some(all) = p["allOf"].as_array().or(p["oneOf"].as_array()) {
        let parts: Vec<String> = all.iter().map(type_of).collect();
        return parts.join(" | ");
    }
    match &p["type"] {
        Value::String(t) if t == "array" => format!("array of {}", type_of(&p["items"])),
        Value::String(t) => esc(t),
        Value::Array(ts) => esc(&ts.iter().map(text).collect::<Vec<_>>().join(" | ")),
        _ => "any".to_owned(),
    }
}

fn schema_ref(schema: &Value) -> String {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or(r);
            format!("<a href=\"#schema-{}\">{}</a>", esc(name), esc(name))
        }
        None => type_of_plain(schema),
    }
}

fn type_of_plain(schema: &Value) -> String {
    match &schema["type"] {
        Value::String(t) => esc(t),
        _ => String::new(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_operations_and_escapes_text() {
        let doc = serde_json::json!({
            "info": {"title": "Baomi", "version": "1", "description": "<b>x</b>"},
            "paths": {"/v1/keys": {"post": {"summary": "Create", "responses": {"201": {"description": "ok"}}}}},
            "components": {"schemas": {"K": {"properties": {"id": {"type": "string"}}, "required": ["id"]}}}
        });
        let html = render(&doc);
        assert!(html.contains("<code>/v1/keys</code>"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.contains("(required)"));
    }
}
