//! The query parameters of the document: the filters, from `trajstore::filter_params()`
//! alone, and those of the library's requests (list, statistics, curves), whose parsers
//! live in the library. Each schema admits exactly the values the parser takes, so that
//! a schema-valid request is never refused and a schema-invalid one always is.

use trajstore::{FilterParam, FilterValue, Order, SortField};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::IntoParams;

/// Epoch seconds a timestamp filter takes (years 0 to 9999).
const EPOCH_SECONDS: (f64, f64) = (-62_167_219_200.0, 253_402_300_799.0);

/// A query parameter.
pub fn query(name: &str, required: bool, schema: impl Into<RefOr<Schema>>, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required { Required::True } else { Required::False })
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

/// A query parameter whose values are comma-separated: `k=1,4,8`.
pub fn comma_list(name: &str, required: bool, items: ArrayBuilder, description: &str) -> Parameter {
    let mut p = query(name, required, items, description);
    p.style = Some(ParameterStyle::Form);
    p.explode = Some(false);
    p
}

pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub fn enumeration<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    string().enum_values(Some(values))
}

pub fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
}

/// A finite number.
pub fn number() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .minimum(Some(f64::MIN))
        .maximum(Some(f64::MAX))
}

/// The filter parameter `p`, its schema from the type of its value.
fn filter(p: &FilterParam) -> Parameter {
    let (schema, what): (RefOr<Schema>, _) = match p.value {
        FilterValue::Wildcard => (string().into(), "exact text; `*` matches any run of characters"),
        FilterValue::Substring => {
            (string().min_length(Some(1)).into(), "text found anywhere in the value, ignoring case")
        }
        // At least one value once split at commas and trimmed.
        FilterValue::TextList => {
            (string().pattern(Some(r"[^\s,]")).into(), "comma-separated values, any of which matches")
        }
        FilterValue::Integer => (integer(i64::MIN, i64::MAX).into(), "an integer"),
        FilterValue::Number => (number().into(), "a number"),
        FilterValue::Boolean => (ObjectBuilder::new().schema_type(Type::Boolean).into(), "true or false"),
        FilterValue::Timestamp => (
            AnyOfBuilder::new()
                .item(number().minimum(Some(EPOCH_SECONDS.0)).maximum(Some(EPOCH_SECONDS.1)))
                .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
                .into(),
            "epoch seconds or an RFC 3339 date",
        ),
    };
    query(&p.name, false, schema, &format!("filter: {what}"))
}

/// Every query-engine filter. `metadata.KEY=VALUE` (any key of the metadata object) is
/// said in each operation's description: OpenAPI has no parameter with a variable name.
pub struct Filters;

impl IntoParams for Filters {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        trajstore::filter_params().iter().map(filter).collect()
    }
}

/// `k` of pass@k and pass^k.
fn ks() -> Parameter {
    let k = integer(1, 1024);
    comma_list(
        "k",
        false,
        ArrayBuilder::new().items(k).min_items(Some(1)),
        "comma-separated k of pass@k and pass^k (default 1)",
    )
}

pub fn success_threshold() -> Parameter {
    query(
        "success_threshold",
        false,
        number(),
        "reward at or above which a trajectory without is_success succeeds (default 1)",
    )
}

fn group_column() -> ObjectBuilder {
    enumeration(trajstore::group_columns().iter().map(|(c, _)| *c))
}

/// The parameters of `trajstore::ListRequest`.
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let max_page = (u64::MAX / trajstore::MAX_PAGE_SIZE) as i64;
        vec![
            query("page", false, integer(1, max_page), "1-based page number (default 1)"),
            query("page_size", false, integer(1, trajstore::MAX_PAGE_SIZE as i64), "rows per page (default 20)"),
            query("sort", false, enumeration(SortField::ALL.iter().map(|f| f.column())), "sort column (default created_at)"),
            query("order", false, enumeration(orders()), "sort order (default desc)"),
            query(
                "cursor",
                false,
                string(),
                "the next_cursor of the previous page, with the same sort and order (only tokens the server gave are valid)",
            ),
        ]
    }
}

pub fn orders() -> impl Iterator<Item = &'static str> {
    [Order::Asc, Order::Desc].into_iter().map(|o| if o == Order::Asc { "asc" } else { "desc" })
}

/// The parameters of `trajstore::StatsRequest`.
pub struct StatsParams;

impl IntoParams for StatsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let group_by =
            ArrayBuilder::new().items(group_column()).max_items(Some(trajstore::MAX_GROUP_BY)).unique_items(true);
        vec![
            comma_list("group_by", false, group_by, "comma-separated columns to group by (at most 4, each once)"),
            ks(),
            success_threshold(),
        ]
    }
}

/// The parameters of `trajstore::CurveRequest`.
pub struct CurveParams;

impl IntoParams for CurveParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let columns = trajstore::group_columns().iter().map(|(c, _)| *c);
        vec![
            query("x", false, enumeration(trajstore::CURVE_X.iter().copied()), "the x axis (default epoch_id)"),
            query(
                "series",
                false,
                enumeration(columns.chain(["none", ""])),
                "one line per value of this column (default training_id; none or empty: one line)",
            ),
            ks(),
            success_threshold(),
        ]
    }
}

/// The parameters of `trajstore::ToolsRequest` (besides the filters).
pub struct ToolsParams;

impl IntoParams for ToolsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![success_threshold()]
    }
}

/// The parameters of `trajstore::FailureModesRequest` (besides the filters).
pub struct FailureModeParams;

impl IntoParams for FailureModeParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let k = AnyOfBuilder::new().item(enumeration(["auto"])).item(
            ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(2)).maximum(Some(trajstore::MAX_K as f64)),
        );
        let parts = ArrayBuilder::new().items(enumeration(trajstore::TEXT_PARTS.iter().copied())).min_items(Some(1));
        vec![
            query("k", false, k, "the number of clusters, or auto (the default): chosen by silhouette over 2 to 12"),
            query("seed", false, integer(0, i64::MAX), "the seed of k-means (default 42)"),
            comma_list("text", false, parts, "the parts of each trajectory's failure text (default: all)"),
            query("max_chars", false, integer(0, 10_000), "characters kept of each part (default 400)"),
            query(
                "include_successful",
                false,
                enumeration(["true", "false"]),
                "also cluster the trajectories that succeeded",
            ),
            query(
                "llm_labels",
                false,
                enumeration(["true", "false"]),
                "labels written by the server's language model (--llm-endpoint) instead of the distinctive words; \
                 400 when it has none",
            ),
            success_threshold(),
        ]
    }
}
