//! Filtered, globally sorted pages with exact totals and keyset cursors.

use std::sync::Arc;

use serde::Serialize;
use trajstore_model::{Cell, Summary};
use trajstore_query::{Cursor, ListRequest, Order, SortField, SortValue};

use crate::{Cached, Result, Trajstore};

/// One page: the document of `trajstore query --json` and `GET /api/trajectories`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub data: Vec<Summary>,
    /// Rows matching the filters (all pages together).
    pub total: u64,
    /// The page number; `null` in cursor mode.
    pub page: Option<u64>,
    pub page_size: u64,
    /// Pass as `cursor` to get the rows after this page; `null` after the last page.
    pub next_cursor: Option<String>,
}

fn sort_value(row: &Summary, field: SortField) -> SortValue {
    let Some(column) = trajstore_model::Column::named(field.column()) else { return SortValue::Null };
    match (column.summary_get)(row) {
        Cell::Str(v) => v.map_or(SortValue::Null, |v| SortValue::Str(v.to_string())),
        Cell::Int(v) => v.map_or(SortValue::Null, SortValue::Int),
        Cell::Float(v) => v.map_or(SortValue::Null, SortValue::Float),
        Cell::Bool(v) => v.map_or(SortValue::Null, SortValue::Bool),
        Cell::List(_) | Cell::Json(_) => SortValue::Null,
    }
}

impl Trajstore {
    /// The exact number of rows matching `req`'s filters (cached by version).
    pub async fn count(&self, filters: &trajstore_query::FilterSet) -> Result<u64> {
        let version = self.version().await?;
        let sql = filters.to_sql();
        let key = format!("count|{}", sql.as_deref().unwrap_or(""));
        if let Some(Cached::Count(n)) = self.cache.get(version, &key) {
            return Ok(n);
        }
        let from_memory = match self.snapshot(version).await {
            Some(s) => {
                let filters = filters.clone();
                crate::on_blocking_thread(move || s.select(&filters).map(|rows| rows.len() as u64)).await?
            }
            None => None,
        };
        let n = match from_memory {
            Some(n) => n,
            None => self.store.count(sql).await?,
        };
        self.cache.insert(version, &key, Cached::Count(n), key.len() + 16);
        Ok(n)
    }

    /// One page of summary rows: sorted over the whole filtered set, with the exact total.
    pub async fn list(&self, req: &ListRequest) -> Result<Arc<Page>> {
        let version = self.version().await?;
        let key = req.cache_key();
        if let Some(Cached::Page(p)) = self.cache.get(version, &key) {
            return Ok(p);
        }
        let descending = req.order == Order::Desc;
        // In cursor mode one row more tells whether another page follows.
        let fetch = if req.cursor.is_some() { req.page_size + 1 } else { req.page_size };
        let from_memory = match self.snapshot(version).await {
            Some(s) => {
                let req = req.clone();
                crate::on_blocking_thread(move || {
                    let matches = s.select(&req.filters)?;
                    let rows = s.page(
                        &matches,
                        req.sort,
                        req.order,
                        req.cursor.as_ref(),
                        req.offset() as usize,
                        fetch as usize,
                    );
                    Some(s.summaries(&rows).map(|rows| (rows, matches.len() as u64)))
                })
                .await?
                .transpose()?
            }
            None => None,
        };
        let (mut rows, total) = match from_memory {
            Some(found) => found,
            None => futures::try_join!(
                async {
                    Ok::<_, crate::Error>(
                        self.store.list(req.where_sql(), req.sort.column(), descending, req.offset(), fetch).await?,
                    )
                },
                self.count(&req.filters)
            )?,
        };
        let more = if req.cursor.is_some() {
            rows.len() as u64 > req.page_size
        } else {
            req.offset() + (rows.len() as u64) < total
        };
        rows.truncate(req.page_size as usize);
        let next_cursor = match rows.last() {
            Some(last) if more => Some(
                Cursor {
                    sort: req.sort,
                    order: req.order,
                    value: sort_value(last, req.sort),
                    id: last.trajectory_id.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        let bytes: usize = rows
            .iter()
            .map(|r| 400 + r.question.as_ref().map_or(0, String::len) + r.notes.as_ref().map_or(0, String::len))
            .sum();
        let page = Arc::new(Page {
            data: rows,
            total,
            page: req.cursor.is_none().then_some(req.page),
            page_size: req.page_size,
            next_cursor,
        });
        self.cache.insert(version, &key, Cached::Page(page.clone()), bytes + key.len());
        Ok(page)
    }
}
