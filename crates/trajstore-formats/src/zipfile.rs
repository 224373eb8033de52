//! Reading Inspect's `.eval` logs (zip archives of JSON members) through the `zip` crate,
//! behind the two calls the Inspect module needs. A damaged archive or member is an error
//! naming it, never a panic, and no member is inflated beyond a fixed size.

use std::io::{Cursor, Read};

/// A member larger than this is refused (Inspect samples are kilobytes to megabytes).
const MAX_MEMBER: u64 = 1 << 30;

pub struct Archive<'a> {
    zip: std::cell::RefCell<zip::ZipArchive<Cursor<&'a [u8]>>>,
    names: Vec<String>,
}

impl<'a> Archive<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Self, String> {
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip archive: {e}"))?;
        // In the archive's own order (Inspect's sample order), which `file_names` does not keep.
        let names = (0..zip.len())
            .filter_map(|i| zip.name_for_index(i))
            .map(|n| n.map(|n| n.into_owned()).map_err(|e| format!("damaged zip directory: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Archive { zip: std::cell::RefCell::new(zip), names })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The uncompressed content of member `name`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let mut zip = self.zip.borrow_mut();
        let member = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let mut out = Vec::new();
        member.take(MAX_MEMBER + 1).read_to_end(&mut out).map_err(|e| format!("{name}: {e}"))?;
        if out.len() as u64 > MAX_MEMBER {
            return Err(format!("{name}: member larger than {MAX_MEMBER} bytes"));
        }
        Ok(out)
    }
}

/// A zip archive laid out as an Inspect `.eval` log.
pub fn looks_like_inspect(bytes: &[u8]) -> bool {
    Archive::open(bytes)
        .is_ok_and(|a| a.names().any(|n| n == "header.json" || n.starts_with("_journal/") || n.starts_with("samples/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixture_in_order_and_refuses_damaged_archives() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/inspect.eval");
        let bytes = std::fs::read(path).unwrap();
        let archive = Archive::open(&bytes).unwrap();
        let names: Vec<&str> = archive.names().collect();
        assert!(names.contains(&"header.json"), "{names:?}");
        assert!(serde_json::from_slice::<serde_json::Value>(&archive.read("header.json").unwrap()).is_ok());
        assert!(archive.read("nope.json").unwrap_err().starts_with("nope.json: "));
        assert!(looks_like_inspect(&bytes));
        for cut in [10, bytes.len() / 2, bytes.len() - 5] {
            assert!(!looks_like_inspect(&bytes[..cut]), "cut at {cut}");
        }
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 3;
        damaged[mid..mid + 64].fill(0);
        if let Ok(a) = Archive::open(&damaged) {
            // The directory survived; a member whose data was hit must fail, not panic.
            for name in names {
                let _ = a.read(name);
            }
        }
    }
}
