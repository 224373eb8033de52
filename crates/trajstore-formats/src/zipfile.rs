//! Just enough of the zip format to read Inspect's `.eval` logs: the central directory,
//! and members that are stored or deflated. Every offset is bounds-checked, so a damaged
//! archive is an error, never a panic.

use std::io::Read;

struct Entry {
    name: String,
    method: u16,
    compressed_size: u64,
    local_header: u64,
}

pub struct Archive<'a> {
    bytes: &'a [u8],
    entries: Vec<Entry>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A member larger than this is refused (Inspect samples are kilobytes to megabytes).
const MAX_MEMBER: u64 = 1 << 30;

impl<'a> Archive<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Self, String> {
        const EOCD: u32 = 0x0605_4b50;
        // The end-of-central-directory record is 22 bytes plus a comment of up to 64 KiB.
        let lowest = bytes.len().saturating_sub(22 + 0xFFFF);
        let eocd = (lowest..bytes.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(bytes, i) == Some(EOCD))
            .ok_or("no zip directory (truncated archive?)")?;
        let count = u16_at(bytes, eocd + 10).ok_or("truncated zip directory")? as usize;
        let mut at = u32_at(bytes, eocd + 16).ok_or("truncated zip directory")? as usize;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            if u32_at(bytes, at) != Some(0x0201_4b50) {
                return Err("damaged zip directory".into());
            }
            let field = |off| u16_at(bytes, at + off).ok_or_else(|| "truncated zip directory".to_string());
            let method = field(10)?;
            let compressed_size = u32_at(bytes, at + 20).ok_or("truncated zip directory")? as u64;
            let (name_len, extra_len, comment_len) = (field(28)? as usize, field(30)? as usize, field(32)? as usize);
            let local_header = u32_at(bytes, at + 42).ok_or("truncated zip directory")? as u64;
            let name = bytes.get(at + 46..at + 46 + name_len).ok_or("truncated zip directory")?;
            if compressed_size == u32::MAX as u64 || local_header == u32::MAX as u64 {
                return Err("zip64 archives are not supported".into());
            }
            entries.push(Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                method,
                compressed_size,
                local_header,
            });
            at += 46 + name_len + extra_len + comment_len;
        }
        Ok(Archive { bytes, entries })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The uncompressed content of member `name`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let e = self.entries.iter().find(|e| e.name == name).ok_or_else(|| format!("{name}: no such member"))?;
        let at = e.local_header as usize;
        if u32_at(self.bytes, at) != Some(0x0403_4b50) {
            return Err(format!("{name}: damaged member header"));
        }
        let name_len = u16_at(self.bytes, at + 26).ok_or("truncated member")? as usize;
        let extra_len = u16_at(self.bytes, at + 28).ok_or("truncated member")? as usize;
        let start = at + 30 + name_len + extra_len;
        let data = self
            .bytes
            .get(start..start + e.compressed_size as usize)
            .ok_or_else(|| format!("{name}: truncated member"))?;
        match e.method {
            0 => Ok(data.to_vec()),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_MEMBER)
                    .read_to_end(&mut out)
                    .map_err(|err| format!("{name}: {err}"))?;
                Ok(out)
            }
            m => Err(format!("{name}: unsupported compression method {m}")),
        }
    }
}

/// A zip archive laid out as an Inspect `.eval` log.
pub fn looks_like_inspect(bytes: &[u8]) -> bool {
    Archive::open(bytes)
        .is_ok_and(|a| a.names().any(|n| n == "header.json" || n.starts_with("_journal/") || n.starts_with("samples/")))
}
