//! Dictionary coding of string columns, with codes in byte order of the values: a filter
//! tests each distinct value once and a sort compares integers.

use arrow_array::{Array, ListArray, StringArray};
use trajstore_query::{Coded, CodedLists, NULL_CODE as NULL};
use trajstore_stats::FastMap;

use crate::{Error, Result};

/// Dictionary-coded strings: a code per row, codes numbered in byte order of the values.
pub(super) struct Dict {
    pub(super) values: Vec<Box<str>>,
    pub(super) codes: Vec<u32>,
}

impl Dict {
    pub(super) fn build<'a>(rows: usize, value: impl Fn(usize) -> Option<&'a str>) -> Dict {
        let mut seen: FastMap<&'a str, u32> = FastMap::default();
        let mut values: Vec<&'a str> = Vec::new();
        let mut codes = Vec::with_capacity(rows);
        for i in 0..rows {
            codes.push(match value(i) {
                None => NULL,
                Some(v) => *seen.entry(v).or_insert_with(|| {
                    values.push(v);
                    (values.len() - 1) as u32
                }),
            });
        }
        // Renumber in value order, so that comparing codes compares the values.
        let mut order: Vec<u32> = (0..values.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| values[a as usize].cmp(values[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (r, &c) in order.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        for c in codes.iter_mut().filter(|c| **c != NULL) {
            *c = rank[*c as usize];
        }
        Dict { values: order.iter().map(|&c| Box::from(values[c as usize])).collect(), codes }
    }

    pub(super) fn from_array(a: &StringArray) -> Dict {
        Dict::build(a.len(), |i| a.is_valid(i).then(|| a.value(i)))
    }

    /// `Ok(code)` of `value`, or `Err(position)` where it would be inserted.
    pub(super) fn find(&self, value: &str) -> std::result::Result<u32, u32> {
        self.values.binary_search_by(|v| v.as_ref().cmp(value)).map(|c| c as u32).map_err(|p| p as u32)
    }

    pub(super) fn view(&self) -> Coded<'_> {
        Coded { values: &self.values, codes: &self.codes }
    }

    /// Bytes held (approximately).
    pub(super) fn bytes(&self) -> usize {
        self.codes.len() * 4 + self.values.iter().map(|v| v.len() + 16).sum::<usize>()
    }

    pub(super) fn value(&self, row: usize) -> Option<&str> {
        let c = self.codes[row];
        (c != NULL).then(|| self.values[c as usize].as_ref())
    }
}

/// Tags: row i has `codes[offsets[i]..offsets[i+1]]`.
pub(super) struct TagIndex {
    offsets: Vec<u32>,
    codes: Vec<u32>,
    dict: Dict,
}

impl TagIndex {
    pub(super) fn build(list: &ListArray) -> Result<TagIndex> {
        let values = list
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Internal("tags are not strings".into()))?;
        let dict = Dict::from_array(values);
        let raw = list.value_offsets();
        let mut offsets = Vec::with_capacity(list.len() + 1);
        let mut codes = Vec::new();
        offsets.push(0u32);
        for i in 0..list.len() {
            if list.is_valid(i) {
                codes.extend(dict.codes[raw[i] as usize..raw[i + 1] as usize].iter().filter(|&&c| c != NULL));
            }
            offsets.push(codes.len() as u32);
        }
        Ok(TagIndex { offsets, codes, dict })
    }

    pub(super) fn view(&self) -> CodedLists<'_> {
        CodedLists { values: &self.dict.values, offsets: &self.offsets, codes: &self.codes }
    }

    pub(super) fn bytes(&self) -> usize {
        (self.offsets.len() + self.codes.len()) * 4 + self.dict.bytes()
    }
}
