//! The OpenAPI 3.1 document of the API, built from the same lists the parsers use
//! (filter names, sort columns), so it cannot drift from what the server accepts.

use serde_json::{json, Value};
use trajstore::{Format, SortField, FILTER_NAMES};

fn query_param(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn filter_params() -> Vec<Value> {
    FILTER_NAMES
        .iter()
        .filter(|n| **n != "metadata.KEY")
        .map(|n| query_param(n, json!({"type": "string"}), "a query-engine filter (see the README for its semantics)"))
        .collect()
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

pub fn document() -> Value {
    let sorts: Vec<&str> = SortField::ALL.iter().map(|f| f.column()).collect();
    let mut list_params = vec![
        query_param("page", json!({"type": "integer", "minimum": 1}), "1-based page number"),
        query_param("page_size", json!({"type": "integer", "minimum": 1, "maximum": 1000}), "rows per page"),
        query_param("sort", json!({"type": "string", "enum": sorts}), "sort column"),
        query_param("order", json!({"type": "string", "enum": ["asc", "desc"]}), "sort order"),
        query_param("cursor", json!({"type": "string"}), "next_cursor of the previous page"),
    ];
    list_params.extend(filter_params());
    let mut stats_params = vec![
        query_param("group_by", json!({"type": "string"}), "comma-separated: training_id, agent_name, data_id, termination_reason, source, epoch_id, iteration_id, sample_id, step_count"),
        query_param("k", json!({"type": "string"}), "comma-separated k of pass@k, e.g. 1,4,8"),
        query_param("success_threshold", json!({"type": "number"}), "reward at or above which a trajectory without is_success succeeds"),
    ];
    stats_params.extend(filter_params());
    let mut curve_params = vec![
        query_param("x", json!({"type": "string", "enum": ["epoch_id", "iteration_id"]}), "x axis"),
        query_param("series", json!({"type": "string"}), "one line per value of this column"),
        query_param("k", json!({"type": "string"}), "comma-separated k"),
    ];
    curve_params.extend(filter_params());
    let mut export_params =
        vec![query_param("format", json!({"type": "string", "enum": ["jsonl", "parquet", "atif"]}), "output format")];
    export_params.extend(filter_params());
    let formats: Vec<&str> = std::iter::once("auto").chain(Format::ALL.iter().map(|f| f.name())).collect();
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let with_filters = |mut v: Vec<Value>| {
        v.extend(filter_params());
        v
    };
    let k =
        query_param("k", json!({"type": "integer", "minimum": 1, "maximum": 1000}), "how many results (default 10)");
    let search_params = with_filters(vec![
        json!({"name": "q", "in": "query", "required": true, "schema": {"type": "string"}, "description": "words that must all occur (question, messages, tool arguments, tool outputs)"}),
        query_param(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 1000}),
            "how many results (default 20)",
        ),
    ]);
    let similar_text_params = with_filters(vec![
        json!({"name": "text", "in": "query", "required": true, "schema": {"type": "string"}, "description": "text to find trajectories similar to"}),
        k.clone(),
    ]);
    let similar_id_params = with_filters(vec![id.clone(), k]);
    let ok = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"type": "object"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "trajstore", "version": env!("CARGO_PKG_VERSION"), "description": "Store and explore LLM-agent trajectories."},
        "paths": {
            "/api/trajectories": {
                "get": {"summary": "A filtered, sorted page of summary rows with the exact total", "parameters": list_params, "responses": {"200": ok("a page"), "400": error_response("bad parameter")}},
                "post": {"summary": "Add one trajectory or an array (de-duplicated)", "requestBody": {"content": {"application/json": {"schema": {}}}}, "responses": {"200": ok("import result"), "207": ok("some records rejected"), "400": error_response("bad body")}}
            },
            "/api/trajectories/{id}": {
                "get": {"summary": "One whole trajectory", "parameters": [id, query_param("steps", json!({"type": "string"}), "FROM:TO, a slice of the steps")], "responses": {"200": ok("the record"), "404": error_response("not found")}},
                "patch": {"summary": "Change is_bookmarked, tags or notes", "parameters": [id], "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"is_bookmarked": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}}, "notes": {"type": ["string", "null"]}}, "additionalProperties": false}}}}, "responses": {"200": ok("the summary row"), "400": error_response("bad body"), "404": error_response("not found")}},
                "delete": {"summary": "Delete one trajectory", "parameters": [id], "responses": {"204": {"description": "deleted"}, "404": error_response("not found")}}
            },
            "/api/compare": {"get": {"summary": "Whole records of up to 10 trajectories, for side-by-side comparison", "parameters": [query_param("ids", json!({"type": "string"}), "comma-separated trajectory ids")], "responses": {"200": ok("{data, missing}"), "400": error_response("bad ids")}}},
            "/api/search": {"get": {"summary": "Full-text search (BM25): {data: [summary rows with score, step, snippet]}", "parameters": search_params, "responses": {"200": ok("hits"), "400": error_response("bad parameter")}}},
            "/api/similar": {"get": {"summary": "Trajectories similar in meaning to a text: {data: [summary rows with distance], not_embedded}", "parameters": similar_text_params, "responses": {"200": ok("hits"), "400": error_response("bad parameter"), "503": error_response("embedding model unavailable")}}},
            "/api/trajectories/{id}/similar": {"get": {"summary": "Trajectories similar in meaning to this one (itself excluded)", "parameters": similar_id_params, "responses": {"200": ok("hits"), "404": error_response("not found"), "503": error_response("embedding model unavailable")}}},
            "/api/statistics": {"get": {"summary": "Success, pass@k, pass^k and aggregates, overall and per group", "parameters": stats_params, "responses": {"200": ok("statistics"), "400": error_response("bad parameter")}}},
            "/api/curves": {"get": {"summary": "Points of training curves", "parameters": curve_params, "responses": {"200": ok("points"), "400": error_response("bad parameter")}}},
            "/api/imports": {
                "get": {"summary": "Recent import tasks", "responses": {"200": ok("tasks")}},
                "post": {"summary": "Start a background import: {\"path\", \"format\"?, \"labels\"?} of a server file, or the file as the body (?format=auto|NAME)", "parameters": [query_param("format", json!({"type": "string", "enum": formats}), "input format of an uploaded body (auto detects it per file)")], "responses": {"202": ok("task_id"), "400": error_response("bad request"), "403": error_response("path outside the import roots")}}
            },
            "/api/imports/{task_id}": {"get": {"summary": "Status and progress of an import", "parameters": [{"name": "task_id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": ok("task"), "404": error_response("not found")}}},
            "/api/export": {"get": {"summary": "Every matching trajectory, streamed", "parameters": export_params, "responses": {"200": {"description": "JSONL or Parquet"}, "400": error_response("bad parameter")}}},
            "/api/health": {"get": {"summary": "Liveness, dataset version, cache counters", "responses": {"200": ok("health")}}},
            "/api/version": {"get": {"summary": "The server version", "responses": {"200": ok("version")}}}
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "parameter": {"type": ["string", "null"]}}, "required": ["code", "message"]}}, "required": ["error"]}}}
    })
}
