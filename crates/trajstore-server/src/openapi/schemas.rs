//! Schemas of the documents that are not built from a typed struct: a whole trajectory
//! (JSON text written by `Trajectory::to_json`, described from the summary row's schema),
//! and the statistics and curves documents (JSON values built in `trajstore`'s
//! `stats.rs`; described from the same column lists).

use std::borrow::Cow;

use trajstore::Summary;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::params::enumeration;

fn nullable(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
}

fn count() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))
}

fn any_object() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object)
}

/// The summary row's schema, as an object to change.
fn summary_object() -> Object {
    match Summary::schema() {
        RefOr::T(Schema::Object(o)) => o,
        _ => unreachable!("the summary row is an object"),
    }
}

/// One whole trajectory: the summary row's fields (absent ones left out) without
/// `question`, which stays inside `task`, plus `task` and `steps`; fields the model does
/// not know are kept as they were sent.
pub struct Trajectory;

impl PartialSchema for Trajectory {
    fn schema() -> RefOr<Schema> {
        let mut t = summary_object();
        t.properties.shift_remove("question");
        t.properties.insert("task".into(), RefOr::T(Schema::default()));
        let step = any_object().description(Some("one step: a message, its tool calls and results"));
        t.properties.insert("steps".into(), ArrayBuilder::new().items(step).into());
        let range = ObjectBuilder::new()
            .property("from", count())
            .property("to", count())
            .property("total", count())
            .required("from")
            .required("to")
            .required("total")
            .description(Some("with ?steps=FROM:TO: which steps of how many"));
        t.properties.insert("steps_range".into(), range.into());
        t.required = ["trajectory_id", "step_count", "is_bookmarked", "tags", "steps"].map(String::from).to_vec();
        t.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
        t.description = Some("one whole trajectory in the native format".into());
        RefOr::T(Schema::Object(t))
    }
}

impl ToSchema for Trajectory {
    fn name() -> Cow<'static, str> {
        "Trajectory".into()
    }
}

/// The statistics of one group of trajectories (`Accumulator::finish`).
fn group_statistics() -> ObjectBuilder {
    let ratio = || nullable(Type::Number);
    let rule = ObjectBuilder::new()
        .property("is_success", count().description(Some("decided by is_success")))
        .property("reward_threshold", count().description(Some("decided by reward >= threshold")))
        .property("unlabelled", count())
        .property("threshold", ObjectBuilder::new().schema_type(Type::Number))
        .description(Some("how success was decided"));
    let mut s = ObjectBuilder::new()
        .property("count", count())
        .property("success_count", count())
        .property("success_rate", ratio())
        .property("success_rule", rule)
        .property("tasks", count())
        .property("samples_per_task_min", nullable(Type::Integer))
        .property("samples_per_task_mean", ratio())
        .property("samples_per_task_max", nullable(Type::Integer));
    for metric in trajstore::STAT_METRICS {
        let (metric, statistic) = (metric.name, metric.statistic);
        for stat in ["mean", "median", "p90", "min", "max"] {
            s = s.property(format!("{metric}_{stat}"), ratio());
        }
        s = s.property(format!("{metric}_nulls"), count());
        if statistic == trajstore::Statistic::SummaryAndSum {
            s = s.property(format!("{metric}_sum"), ratio());
        }
    }
    let reasons = any_object().additional_properties(Some(count())).description(Some("count per termination_reason"));
    s.property("termination_reasons", reasons)
        .property("reward_histogram", ArrayBuilder::new().items(count()).description(Some("10 bins, or none")))
        .property(
            "reward_histogram_edges",
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Number)).description(Some("11 edges")),
        )
        .required("count")
        .description(Some("plus pass@K and pass^K (number or null) and tasks_skipped@K (integer) for each k asked"))
        .additional_properties(Some(pass_at_k()))
}

/// `pass@K`, `pass^K` (numbers or null) and `tasks_skipped@K` (integers).
fn pass_at_k() -> ObjectBuilder {
    nullable(Type::Number)
}

/// The document of `GET /api/statistics`.
pub struct Statistics;

impl PartialSchema for Statistics {
    fn schema() -> RefOr<Schema> {
        let mut group = group_statistics()
            .description(Some("one group: its value of each group_by column, then its statistics (as overall)"));
        for (column, is_integer) in trajstore::group_columns() {
            group = group.property(*column, nullable(if *is_integer { Type::Integer } else { Type::String }));
        }
        ObjectBuilder::new()
            .property("overall", group_statistics())
            .property("groups", ArrayBuilder::new().items(group))
            .required("overall")
            .required("groups")
            .into()
    }
}

impl ToSchema for Statistics {
    fn name() -> Cow<'static, str> {
        "Statistics".into()
    }
}

/// The document of `GET /api/curves`.
pub struct Curves;

impl PartialSchema for Curves {
    fn schema() -> RefOr<Schema> {
        let columns = || trajstore::group_columns().iter().map(|(c, _)| *c);
        let mut point = ObjectBuilder::new()
            .property("x", ObjectBuilder::new().schema_type(Type::Integer))
            .property("count", count());
        for k in trajstore::CURVE_FIGURES.iter().filter(|k| **k != "count") {
            point = point.property(*k, nullable(Type::Number));
        }
        point = point
            .property("groups", count().description(Some("prompt groups (data_id) at this point")))
            .property(
                "no_gradient_share",
                nullable(Type::Number).description(Some("share of the groups whose rewards are all equal")),
            )
            .property(
                "all_fail_share",
                nullable(Type::Number).description(Some("share of the groups where no sample succeeded")),
            )
            .property(
                "termination_reason_shares",
                ObjectBuilder::new()
                    .additional_properties(Some(ObjectBuilder::new().schema_type(Type::Number)))
                    .description(Some("share of the point's trajectories per termination reason")),
            );
        // A series of an integer column holds integers.
        let series_value = SchemaType::from_iter([Type::String, Type::Integer, Type::Null]);
        point = point.property(
            "series",
            ObjectBuilder::new().schema_type(series_value).description(Some("the series column's value")),
        );
        let point = point
            .required("x")
            .required("series")
            .required("count")
            .additional_properties(Some(pass_at_k()))
            .description(Some("one (series, x) point; plus pass@K and pass^K for each k asked"));
        let series = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
        ObjectBuilder::new()
            .property("x", enumeration(trajstore::CURVE_X.iter().copied()))
            .property(
                "series",
                series.enum_values(Some(columns().map(serde_json::Value::from).chain([serde_json::Value::Null]))),
            )
            .property("points", ArrayBuilder::new().items(point))
            .required("x")
            .required("series")
            .required("points")
            .into()
    }
}

impl ToSchema for Curves {
    fn name() -> Cow<'static, str> {
        "Curves".into()
    }
}

/// The body of `POST /api/trajectories`: one record or an array of them. Described by
/// the one field every record needs; the native format's other fields are in the README.
pub struct NewTrajectories;

impl PartialSchema for NewTrajectories {
    fn schema() -> RefOr<Schema> {
        // One record is checked whole (a bad one is refused); in an array each record is
        // checked on its own and a bad one is reported in the 207 answer, so any array
        // (even an empty one) is a valid request.
        let record = ObjectBuilder::new()
            .property("trajectory_id", ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"\S")))
            .required("trajectory_id")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
            .description(Some("a trajectory in the native format (only trajectory_id is required)"));
        let records = ArrayBuilder::new().description(Some("records, each stored or reported on its own"));
        OneOfBuilder::new().item(record).item(records).into()
    }
}

/// A tag: not empty, no comma (the `tags` filter separates tags with commas), no white
/// space at either end.
pub struct Tag;

impl PartialSchema for Tag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^,\s](?:[^,]*[^,\s])?$")).into()
    }
}

impl ToSchema for Tag {
    fn name() -> Cow<'static, str> {
        "Tag".into()
    }
}

impl ToSchema for NewTrajectories {
    fn name() -> Cow<'static, str> {
        "NewTrajectories".into()
    }
}
