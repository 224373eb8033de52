//! A list request: filters, sort, order, page or cursor.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::sql::{column, float_literal, int_condition, string_literal};
use trajstore_model::{ColumnType, SORTABLE_COLUMNS};

use crate::{FilterSet, QueryError};

pub const MAX_PAGE_SIZE: u64 = 1000;
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// A column a list can be sorted by: one of the sortable columns of the column table
/// (`trajstore_model::COLUMNS`), so no user text reaches ORDER BY. Written as the
/// column's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortField(&'static str);

/// The type of a sort column's values, which decides how a cursor value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortType {
    Str,
    Int,
    Float,
    Bool,
}

impl SortField {
    /// Every sortable column, in table order.
    pub const ALL: &'static [SortField] = &{
        let mut out = [SortField(""); SORTABLE_COLUMNS.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = SortField(SORTABLE_COLUMNS[i].name);
            i += 1;
        }
        out
    };
    pub const TRAJECTORY_ID: SortField = SortField("trajectory_id");
    pub const CREATED_AT: SortField = SortField("created_at");

    pub fn column(self) -> &'static str {
        self.0
    }

    pub fn value_type(self) -> SortType {
        match trajstore_model::Column::named(self.0).map(|c| c.ty) {
            Some(ColumnType::Int | ColumnType::Time) => SortType::Int,
            Some(ColumnType::Float) => SortType::Float,
            Some(ColumnType::Bool) => SortType::Bool,
            _ => SortType::Str,
        }
    }

    pub fn parse(s: &str) -> Result<Self, QueryError> {
        SortField::ALL.iter().copied().find(|f| f.column() == s).ok_or_else(|| {
            QueryError::new(
                "sort",
                format!(
                    "cannot sort by {s:?}; sortable columns: {}",
                    SortField::ALL.iter().map(|f| f.column()).collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

impl Serialize for SortField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for SortField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        SortField::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn parse(s: &str) -> Result<Self, QueryError> {
        match s.to_ascii_lowercase().as_str() {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(QueryError::new("order", format!("expected asc or desc, got {s:?}"))),
        }
    }
}

/// The sort value of the last row of a page, as a cursor carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A keyset position: the next page starts strictly after (`value`, `id`) in the order
/// (`sort`, `order`, then `trajectory_id` ascending), nulls last. Unlike an offset, it
/// stays right while rows are added before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: SortField,
    #[serde(rename = "o")]
    pub order: Order,
    #[serde(rename = "v")]
    pub value: SortValue,
    #[serde(rename = "i")]
    pub id: String,
}

impl Cursor {
    /// An opaque URL-safe token.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serialises"))
    }

    pub fn decode(token: &str) -> Result<Self, QueryError> {
        let bad = || {
            QueryError::new(
                "cursor",
                "not a cursor returned by this server (expected the next_cursor of an earlier page)",
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
        let mut cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // JSON cannot tell 2.0 from 2: bring the value to the column's type.
        cursor.value = match (cursor.sort.value_type(), cursor.value) {
            (_, SortValue::Null) => SortValue::Null,
            (SortType::Float, SortValue::Int(i)) => SortValue::Float(i as f64),
            (SortType::Float, v @ SortValue::Float(_)) => v,
            (SortType::Int, v @ SortValue::Int(_)) => v,
            (SortType::Bool, v @ SortValue::Bool(_)) => v,
            (SortType::Str, v @ SortValue::Str(_)) => v,
            _ => return Err(bad()),
        };
        if let SortValue::Float(f) = cursor.value {
            if !f.is_finite() {
                return Err(bad());
            }
            cursor.value = SortValue::Float(f + 0.0); // -0.0 as 0.0, as stored
        }
        Ok(cursor)
    }

    fn value_literal(&self) -> String {
        match &self.value {
            SortValue::Null => "NULL".into(),
            SortValue::Bool(b) => b.to_string(),
            SortValue::Int(i) => i.to_string(),
            SortValue::Float(f) => float_literal(*f),
            SortValue::Str(s) => string_literal(s),
        }
    }

    /// The condition "after this cursor" in the order (sort, order nulls last, id asc).
    pub fn keyset_sql(&self) -> String {
        let id = column("trajectory_id");
        let last_id = string_literal(&self.id);
        if self.sort == SortField::TRAJECTORY_ID {
            let op = if self.order == Order::Asc { ">" } else { "<" };
            return format!("{id} {op} {last_id}");
        }
        let col = column(self.sort.column());
        if self.value == SortValue::Null {
            return format!("{col} IS NULL AND {id} > {last_id}");
        }
        let op = if self.order == Order::Asc { ">" } else { "<" };
        if let SortValue::Int(v) = self.value {
            let (beyond, equal) = (int_condition(&col, op, v), int_condition(&col, "=", v));
            return format!("{beyond} OR ({equal} AND {id} > {last_id}) OR {col} IS NULL");
        }
        let v = self.value_literal();
        format!("{col} {op} {v} OR ({col} = {v} AND {id} > {last_id}) OR {col} IS NULL")
    }
}

/// Everything a list page needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub filters: FilterSet,
    pub sort: SortField,
    pub order: Order,
    /// 1-based; ignored when `cursor` is set.
    pub page: u64,
    pub page_size: u64,
    pub cursor: Option<Cursor>,
}

impl Default for ListRequest {
    fn default() -> Self {
        ListRequest {
            filters: FilterSet::default(),
            sort: SortField::CREATED_AT,
            order: Order::Desc,
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
            cursor: None,
        }
    }
}

impl ListRequest {
    /// Parses `page`, `page_size`, `sort`, `order`, `cursor` and every filter from one
    /// list of pairs (an HTTP query string). Anything else is an error naming it, and so
    /// is a second `page`, `page_size`, `sort`, `order` or `cursor` (one would silently
    /// win); a repeated filter is one more condition, all of which must hold.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, QueryError> {
        const SINGLE: [&str; 5] = ["page", "page_size", "sort", "order", "cursor"];
        let mut req = ListRequest::default();
        let mut filters = Vec::new();
        let mut seen = [false; SINGLE.len()];
        for (name, value) in pairs {
            if let Some(i) = SINGLE.iter().position(|s| *s == name) {
                if std::mem::replace(&mut seen[i], true) {
                    return Err(QueryError::new(name, "given more than once"));
                }
            }
            match name {
                "page" => req.page = parse_count("page", value, 1, u64::MAX / MAX_PAGE_SIZE)?,
                "page_size" => req.page_size = parse_count("page_size", value, 1, MAX_PAGE_SIZE)?,
                "sort" => req.sort = SortField::parse(value)?,
                "order" => req.order = Order::parse(value)?,
                "cursor" if value.is_empty() => {}
                "cursor" => req.cursor = Some(Cursor::decode(value)?),
                _ => filters.push((name, value)),
            }
        }
        req.filters = FilterSet::parse(filters)?;
        if let Some(c) = &req.cursor {
            if c.sort != req.sort || c.order != req.order {
                return Err(QueryError::new(
                    "cursor",
                    format!(
                        "the cursor was made for sort={} order={:?}; repeat those parameters or drop the cursor",
                        c.sort.column(),
                        c.order
                    )
                    .to_lowercase(),
                ));
            }
        }
        Ok(req)
    }

    pub fn offset(&self) -> u64 {
        if self.cursor.is_some() {
            0
        } else {
            (self.page - 1) * self.page_size
        }
    }

    /// The filter predicate including the cursor's keyset bound.
    pub fn where_sql(&self) -> Option<String> {
        let keyset = self.cursor.as_ref().map(Cursor::keyset_sql);
        self.filters.sql_with(keyset.as_deref())
    }

    /// A text that identifies this request's result for a given dataset version.
    pub fn cache_key(&self) -> String {
        format!(
            "list|{}|{}|{:?}|{}|{}|{}",
            self.where_sql().unwrap_or_default(),
            self.sort.column(),
            self.order,
            self.offset(),
            self.page_size,
            self.cursor.is_some()
        )
    }
}

pub fn parse_count(name: &str, value: &str, min: u64, max: u64) -> Result<u64, QueryError> {
    match value.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(QueryError::new(name, format!("expected an integer from {min} to {max}, got {value:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paging_and_rejects_bad_values() {
        let r = ListRequest::parse([
            ("page", "3"),
            ("page_size", "50"),
            ("sort", "reward"),
            ("order", "ASC"),
            ("training_id", "r"),
        ])
        .unwrap();
        assert_eq!(
            (r.page, r.page_size, r.sort, r.order, r.offset()),
            (3, 50, SortField::parse("reward").unwrap(), Order::Asc, 100)
        );
        for (k, v) in [
            ("page", "0"),
            ("page_size", "1001"),
            ("sort", "steps"),
            ("sort", "reward; drop"),
            ("order", "up"),
            ("cursor", "!!"),
            ("bogus", "1"),
        ] {
            assert_eq!(ListRequest::parse([(k, v)]).unwrap_err().parameter, k);
        }
    }

    #[test]
    fn cursors_round_trip_and_render_keysets() {
        let c = Cursor {
            sort: SortField::parse("reward").unwrap(),
            order: Order::Desc,
            value: SortValue::Float(2.0),
            id: "it's".into(),
        };
        let back = Cursor::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.keyset_sql(),
            "`reward` < 2.0 OR (`reward` = 2.0 AND `trajectory_id` > 'it''s') OR `reward` IS NULL"
        );
        let n = Cursor { value: SortValue::Null, ..c.clone() };
        assert_eq!(n.keyset_sql(), "`reward` IS NULL AND `trajectory_id` > 'it''s'");
        let mismatch = ListRequest::parse([("cursor", c.encode().as_str())]).unwrap_err();
        assert_eq!(mismatch.parameter, "cursor");
        let wrong_type = Cursor { sort: SortField::parse("epoch_id").unwrap(), value: SortValue::Str("x".into()), ..c };
        assert!(Cursor::decode(&wrong_type.encode()).is_err());
    }
}
