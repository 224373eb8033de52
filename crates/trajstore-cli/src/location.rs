//! Where the store is, and how to reach it: `--db` and the object-store flags, given to
//! every command that opens the store.

use trajstore::{Error, Result, Trajstore, TrajstoreBuilder};

/// The store's location and the settings of its object store.
pub struct Location {
    uri: String,
    storage_options: Vec<(String, String)>,
    single_writer: bool,
}

impl Location {
    /// `--storage-option KEY=VALUE` flags as pairs; the error names the flag.
    pub fn new(uri: String, storage_options: &[String], single_writer: bool) -> Result<Location> {
        let storage_options = storage_options
            .iter()
            .map(|o| match o.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
                _ => Err(Error::invalid("--storage-option", format!("expected KEY=VALUE, got {o:?}"))),
            })
            .collect::<Result<_>>()?;
        Ok(Location { uri, storage_options, single_writer })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A builder for this store with the object-store settings applied.
    pub fn builder(&self) -> TrajstoreBuilder {
        Trajstore::builder(&self.uri).storage_options(self.storage_options.clone()).single_writer(self.single_writer)
    }

    pub async fn open(&self) -> Result<Trajstore> {
        self.builder().open().await
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_options_are_key_value_pairs() {
        let loc = Location::new("s3://b/p".into(), &["aws_region=us-east-1".into(), "k==v".into()], false).unwrap();
        assert_eq!(loc.storage_options, vec![("aws_region".into(), "us-east-1".into()), ("k".into(), "=v".into())]);
        for bad in ["no-equals", "=value"] {
            let e = Location::new("s3://b/p".into(), &[bad.into()], false).err().expect("refused");
            assert!(e.to_string().starts_with("--storage-option: expected KEY=VALUE"), "{e}");
        }
    }
}
