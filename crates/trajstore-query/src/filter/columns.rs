//! The in-memory side of filters: the view of columnar rows that every filter kind is
//! evaluated over. The server's in-memory index implements [`Columns`]; the kinds build
//! their row tests from it, so that the index has no filter logic of its own.

/// A test of one row, built once per query and called once per row.
pub type RowTest<'a> = Box<dyn Fn(usize) -> bool + 'a>;

/// The code of a null value in a [`Coded`] column.
pub const NULL_CODE: u32 = u32::MAX;

/// A dictionary-coded string column: `values` distinct and in byte order, `codes[row]`
/// the index of the row's value in them, or [`NULL_CODE`].
#[derive(Clone, Copy)]
pub struct Coded<'a> {
    pub values: &'a [Box<str>],
    pub codes: &'a [u32],
}

impl<'a> Coded<'a> {
    /// `Ok(code)` of `value`, or `Err(position)` where it would be inserted.
    pub fn find(&self, value: &str) -> Result<u32, u32> {
        self.values.binary_search_by(|v| v.as_ref().cmp(value)).map(|c| c as u32).map_err(|p| p as u32)
    }

    /// The rows whose value passes `keep`, testing each distinct value once (a column of a
    /// million rows often holds a few thousand values).
    pub fn test_each_value(self, keep: impl Fn(&str) -> bool) -> RowTest<'a> {
        let pass: Vec<bool> = self.values.iter().map(|v| keep(v)).collect();
        let codes = self.codes;
        Box::new(move |i| codes[i] != NULL_CODE && pass[codes[i] as usize])
    }

    /// Which codes stand for one of `wanted` (a binary search each, not a pass over every
    /// distinct value).
    pub fn codes_of<'w>(&self, wanted: impl IntoIterator<Item = &'w str>) -> Vec<bool> {
        let mut pass = vec![false; self.values.len()];
        for c in wanted.into_iter().filter_map(|w| self.find(w).ok()) {
            pass[c as usize] = true;
        }
        pass
    }
}

/// A column of string lists coded like [`Coded`]: row i holds the values of
/// `codes[offsets[i]..offsets[i + 1]]` (null items left out).
#[derive(Clone, Copy)]
pub struct CodedLists<'a> {
    pub values: &'a [Box<str>],
    pub offsets: &'a [u32],
    pub codes: &'a [u32],
}

impl<'a> CodedLists<'a> {
    /// The values of one row.
    pub fn row(&self, i: usize) -> impl Iterator<Item = &'a str> + 'a {
        let (values, codes) = (self.values, self.codes);
        codes[self.offsets[i] as usize..self.offsets[i + 1] as usize].iter().map(move |&c| values[c as usize].as_ref())
    }

    /// The rows holding any of `wanted`.
    pub fn test_any<'w>(self, wanted: impl IntoIterator<Item = &'w str>) -> RowTest<'a> {
        let pass = Coded { values: self.values, codes: &[] }.codes_of(wanted);
        let (offsets, codes) = (self.offsets, self.codes);
        Box::new(move |i| codes[offsets[i] as usize..offsets[i + 1] as usize].iter().any(|&c| pass[c as usize]))
    }
}

/// Columnar rows as the filter kinds read them. Each accessor returns `None` for a column
/// the implementation does not hold in that form; a kind then tries another form, and a
/// filter none of whose forms is held cannot be evaluated in memory (the caller asks the
/// store instead). The per-row accessors are closures, not trait objects, so that a row
/// test compiles down to direct reads of the arrays.
pub trait Columns {
    /// The number of rows.
    fn rows(&self) -> usize;
    fn coded(&self, column: &'static str) -> Option<Coded<'_>>;
    fn coded_lists(&self, column: &'static str) -> Option<CodedLists<'_>>;
    fn strings<'a>(&'a self, column: &'static str) -> Option<impl Fn(usize) -> Option<&'a str> + 'a>;
    fn floats(&self, column: &'static str) -> Option<impl Fn(usize) -> Option<f64> + '_>;
    fn ints(&self, column: &'static str) -> Option<impl Fn(usize) -> Option<i64> + '_>;
    fn bools(&self, column: &'static str) -> Option<impl Fn(usize) -> Option<bool> + '_>;
}
