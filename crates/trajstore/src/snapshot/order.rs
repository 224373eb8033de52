//! Sorting and paging over the snapshot: every row's position in a sort packed into one
//! integer, so that a page is a bounded heap of integers.

use std::collections::BinaryHeap;

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, StringArray};
use trajstore_query::{Cursor, Order, SortField, SortValue, NULL_CODE as NULL};

use super::Snapshot;

/// A cursor value or id against a dictionary: `2*code+1` for a stored value, `2*p` for an
/// absent one that sorts between codes p-1 and p; rows then compare correctly with it.
fn half_rank(found: std::result::Result<u32, u32>) -> u64 {
    match found {
        Ok(c) => 2 * c as u64 + 1,
        Err(p) => 2 * p as u64,
    }
}

/// Order-preserving integer images of sort values (ascending).
fn int_key(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}
fn float_key(v: f64) -> u64 {
    // Arrow orders floats by total order; this is that order as unsigned integers.
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b ^ (1 << 63)
    }
}

/// A row's position in a sort: nulls last, then the value (inverted when descending),
/// then the id's rank. Unique per row, so it also orders pages and cursors.
fn pack(value: Option<u64>, descending: bool, id: u64) -> u128 {
    match value {
        None => (1u128 << 127) | id as u128,
        Some(v) => (((if descending { !v } else { v }) as u128) << 40) | id as u128,
    }
}

impl Snapshot {
    /// The sort position of each row (see [`pack`]).
    fn sort_key<'a>(&'a self, sort: SortField, descending: bool) -> Box<dyn Fn(usize) -> u128 + 'a> {
        let id_rank = &self.fixed.id_rank;
        let id = move |i: usize| 2 * id_rank[i] as u64 + 1;
        let column = sort.column();
        if sort == SortField::TRAJECTORY_ID {
            return Box::new(move |i| pack(Some(id(i)), descending, 0));
        }
        if let Some(dict) = self.dict(column) {
            return Box::new(move |i| {
                pack((dict.codes[i] != NULL).then(|| 2 * dict.codes[i] as u64 + 1), descending, id(i))
            });
        }
        if let Some(a) = self.array::<Int64Array>(column) {
            return Box::new(move |i| pack(a.is_valid(i).then(|| int_key(a.value(i))), descending, id(i)));
        }
        if let Some(a) = self.array::<Float64Array>(column) {
            return Box::new(move |i| pack(a.is_valid(i).then(|| float_key(a.value(i))), descending, id(i)));
        }
        if let Some(a) = self.array::<BooleanArray>(column) {
            return Box::new(move |i| pack(a.is_valid(i).then(|| a.value(i) as u64), descending, id(i)));
        }
        unreachable!("every sort field is a summary column of a known type")
    }

    /// The sort position of a cursor: rows after it have larger positions.
    fn cursor_key(&self, c: &Cursor) -> u128 {
        let ids = self.array::<StringArray>("trajectory_id").expect("the id column");
        let id = half_rank(
            self.fixed
                .by_id
                .binary_search_by(|&r| ids.value(r as usize).cmp(&c.id))
                .map(|p| p as u32)
                .map_err(|p| p as u32),
        );
        let descending = c.order == Order::Desc;
        if c.sort == SortField::TRAJECTORY_ID {
            return pack(Some(id), descending, 0);
        }
        let value = match &c.value {
            SortValue::Null => None,
            SortValue::Str(s) => Some(self.dict(c.sort.column()).map_or(0, |d| half_rank(d.find(s)))),
            SortValue::Int(v) => Some(int_key(*v)),
            SortValue::Float(v) => Some(float_key(*v)),
            SortValue::Bool(b) => Some(*b as u64),
        };
        pack(value, descending, id)
    }

    /// Rows `offset..offset+limit` of `rows` in the order (sort, order, id), after the
    /// cursor if there is one. A bounded heap keeps only the best `offset+limit`.
    pub fn page(
        &self,
        rows: &[u32],
        sort: SortField,
        order: Order,
        cursor: Option<&Cursor>,
        offset: usize,
        limit: usize,
    ) -> Vec<u32> {
        let key = self.sort_key(sort, order == Order::Desc);
        let after = cursor.map(|c| self.cursor_key(c));
        let window = offset.saturating_add(limit).min(rows.len());
        if window == 0 {
            return Vec::new();
        }
        let mut heap: BinaryHeap<(u128, u32)> = BinaryHeap::with_capacity(window + 1);
        for &r in rows {
            let k = key(r as usize);
            if after.is_some_and(|a| k <= a) {
                continue;
            }
            if heap.len() < window {
                heap.push((k, r));
            } else if let Some(mut top) = heap.peek_mut() {
                if k < top.0 {
                    *top = (k, r);
                }
            }
        }
        heap.into_sorted_vec().into_iter().skip(offset).map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_values_nulls_last_and_ties_by_id() {
        let asc = |v: Option<u64>, id| pack(v, false, id);
        let desc = |v: Option<u64>, id| pack(v, true, id);
        assert!(asc(Some(float_key(-1.5)), 9) < asc(Some(float_key(0.0)), 1));
        assert!(asc(Some(float_key(0.0)), 1) < asc(Some(float_key(2.0)), 1));
        assert!(desc(Some(float_key(2.0)), 9) < desc(Some(float_key(0.0)), 1));
        assert!(asc(Some(int_key(i64::MAX)), 9) < asc(None, 1) && desc(Some(int_key(i64::MIN)), 9) < desc(None, 1));
        assert!(asc(Some(int_key(-3)), 3) < asc(Some(int_key(-3)), 5));
        assert!(asc(None, 3) < asc(None, 5));
    }
}
