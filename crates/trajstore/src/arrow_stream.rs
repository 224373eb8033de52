//! Summary rows as an Arrow IPC stream, for readers that take Arrow without JSON
//! (pyarrow, pandas, DuckDB, Polars): `GET /api/trajectories?format=arrow`.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use trajstore_model::{Cell, Column, ColumnType, Summary, COLUMNS};

use crate::{Error, Result};

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Times (stored as microseconds since the epoch) are UTC timestamps here, so that a
/// DataFrame gets dates, as the JSON list gets RFC 3339 text.
const UTC: &str = "UTC";

/// The schema of the summary columns, in the column table's order. Every field may be
/// null: a reader should not have to know which ones the store fills.
pub fn summary_schema() -> SchemaRef {
    let field = |c: &Column| {
        let ty = match c.ty {
            ColumnType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            ty => trajstore_store::arrow_type(ty),
        };
        Field::new(c.name, ty, true)
    };
    Arc::new(Schema::new(COLUMNS.iter().map(field).collect::<Vec<_>>()))
}

fn summary_column(c: &Column, rows: &[Summary]) -> ArrayRef {
    macro_rules! build {
        ($builder:expr, |$cell:ident| $value:expr) => {{
            let mut b = $builder;
            for r in rows {
                let $cell = (c.summary_get)(r);
                b.append_option($value);
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    match c.ty {
        ColumnType::Str => build!(StringBuilder::new(), |cell| match cell {
            Cell::Str(v) => v,
            _ => None,
        }),
        ColumnType::Json => build!(StringBuilder::new(), |cell| match cell {
            Cell::Json(v) => v.map(|v| v.to_string()),
            Cell::Str(v) => v.map(str::to_string),
            _ => None,
        }),
        ColumnType::Int => build!(Int64Builder::new(), |cell| match cell {
            Cell::Int(v) => v,
            _ => None,
        }),
        ColumnType::Time => build!(TimestampMicrosecondBuilder::new().with_timezone(UTC), |cell| match cell {
            Cell::Int(v) => v,
            _ => None,
        }),
        ColumnType::Float => build!(Float64Builder::new(), |cell| match cell {
            Cell::Float(v) => v,
            _ => None,
        }),
        ColumnType::Bool => build!(BooleanBuilder::new(), |cell| match cell {
            Cell::Bool(v) => v,
            _ => None,
        }),
        ColumnType::StrList => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in rows {
                if let Cell::List(values) = (c.summary_get)(r) {
                    for v in values {
                        b.values().append_value(v);
                    }
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
    }
}

/// The rows as one record batch of [`summary_schema`].
pub fn summary_batch(rows: &[Summary]) -> Result<RecordBatch> {
    let columns = COLUMNS.iter().map(|c| summary_column(c, rows)).collect();
    RecordBatch::try_new(summary_schema(), columns).map_err(|e| Error::internal("building summary rows", e))
}

/// A whole Arrow IPC stream (schema, one batch, end marker) of the rows.
pub fn summaries_ipc(rows: &[Summary]) -> Result<Vec<u8>> {
    let batch = summary_batch(rows)?;
    let mut w = StreamWriter::try_new(Vec::new(), &batch.schema()).map_err(|e| Error::internal("writing arrow", e))?;
    w.write(&batch).map_err(|e| Error::internal("writing arrow", e))?;
    w.into_inner().map_err(|e| Error::internal("writing arrow", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;
    use arrow_ipc::reader::StreamReader;

    #[test]
    fn summary_rows_read_back_from_the_stream() {
        let demo = trajstore_model::demo::DemoConfig::with_total(7, 3);
        let rows: Vec<Summary> = demo
            .lines()
            .take(7)
            .map(|line| Summary::from(&trajstore_model::Trajectory::from_json(line.as_bytes()).unwrap()))
            .collect();
        let bytes = summaries_ipc(&rows).unwrap();
        let batches: Vec<RecordBatch> =
            StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.num_rows(), 7);
        assert_eq!(batch.num_columns(), COLUMNS.len());
        let ids = batch.column_by_name("trajectory_id").unwrap().as_string::<i32>();
        let rewards = batch.column_by_name("reward").unwrap().as_primitive::<Float64Type>();
        let steps = batch.column_by_name("step_count").unwrap().as_primitive::<Int64Type>();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(ids.value(i), r.trajectory_id);
            assert_eq!(rewards.is_null(i), r.reward.is_none());
            if let Some(reward) = r.reward {
                assert_eq!(rewards.value(i), reward);
            }
            assert_eq!(steps.value(i), r.step_count);
        }
    }
}
