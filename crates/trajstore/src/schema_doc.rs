//! The document of `GET /api/schema`: the summary columns as the column table declares
//! them (`trajstore_model::COLUMNS`), with their filter parameters, sort and statistics,
//! so that the UI and other clients read them instead of keeping copies.

use serde_json::{json, Value};
use trajstore_model::{filter_names, Statistic, COLUMNS};
use trajstore_query::{filter_params, FilterValue};

fn value_type(v: FilterValue) -> &'static str {
    match v {
        FilterValue::Wildcard => "wildcard",
        FilterValue::Substring => "substring",
        FilterValue::TextList => "text_list",
        FilterValue::Integer => "integer",
        FilterValue::Number => "number",
        FilterValue::Boolean => "boolean",
        FilterValue::Timestamp => "timestamp",
    }
}

/// `{"columns": [{"name", "type", "label", "nullable", "sortable", "filters": [{"name",
/// "value"}], "in_list", "statistics": [...]}], "filters": [...], "sort": [...]}`.
pub fn schema_document() -> Value {
    let params = filter_params();
    let value_of = |name: &str| params.iter().find(|p| p.name == name).map(|p| value_type(p.value));
    let columns: Vec<Value> = COLUMNS
        .iter()
        .map(|c| {
            let filters: Vec<Value> =
                filter_names(c).into_iter().map(|(name, _)| json!({"value": value_of(&name), "name": name})).collect();
            let mut statistics: Vec<String> = match c.statistic {
                Statistic::Off => Vec::new(),
                _ => {
                    ["mean", "median", "p90", "min", "max", "nulls"].iter().map(|a| format!("{}_{a}", c.name)).collect()
                }
            };
            if c.statistic == Statistic::SummaryAndSum {
                statistics.push(format!("{}_sum", c.name));
            }
            let ty = serde_json::to_value(c.ty).unwrap_or(Value::Null);
            json!({
                "name": c.name,
                "type": ty,
                "label": c.label,
                "nullable": c.nullable,
                "sortable": c.sortable,
                "filters": filters,
                "in_list": c.in_list,
                "statistics": statistics,
            })
        })
        .collect();
    let filters: Vec<Value> = params.iter().map(|p| json!({"name": p.name, "value": value_type(p.value)})).collect();
    let sort: Vec<&str> = trajstore_query::SortField::ALL.iter().map(|f| f.column()).collect();
    json!({"columns": columns, "filters": filters, "sort": sort})
}
