//! The piece index: an extra subfield of the gzip header (RFC 1952, FEXTRA) in which the writer
//! records where the independent pieces of its one member lie, so that a reader can decode them
//! separately (in parallel, each with libdeflate's whole-buffer decoder) instead of as one
//! serial stream. Readers that do not know the subfield skip it, as RFC 1952 asks.
//!
//! Subfield `SI1 = 'c'`, `SI2 = 't'`, then its length (u16), then, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, 1 |
//! | 1 | flags, 0 |
//! | 2 | `count`: segments recorded |
//! | 8 x capacity | per segment: compressed bytes (u32), decoded bytes (u32); unused entries zero |
//!
//! The segments tile the member's deflate stream from its first byte: each starts on a byte
//! boundary, refers to nothing before it, and ends where the next starts (after a sync flush,
//! or after stored blocks). What follows the last segment (the final, empty block) is decoded
//! as an ordinary stream. A `count` of 0 records nothing. The header is written before the data
//! and completed once the data is written, so the writer reserves the entries up front.

use std::io::{self, Seek, SeekFrom, Write};

/// The subfield's identifier.
pub(crate) const ID: [u8; 2] = *b"ct";
pub(crate) const VERSION: u8 = 1;
/// Bytes before the entries.
const HEAD: usize = 4;
/// The most entries the gzip header's extra field (65,535 bytes, four of them the subfield's
/// identifier and length) has room for.
const MAX_ENTRIES: usize = (u16::MAX as usize - 4 - HEAD) / 8;
/// The most decoded bytes one segment may announce: a reader holds a few segments at a time.
pub(crate) const MAX_SEGMENT: u64 = 64 << 20;

/// One segment: compressed and decoded bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) comp: u64,
    pub(crate) raw: u64,
}

/// The index a writer fills while it adds pieces.
#[derive(Debug)]
pub(crate) struct IndexWriter {
    /// Where the entries start in the output.
    at: u64,
    capacity: usize,
    /// A segment is closed once it holds this many decoded bytes.
    target: u64,
    closed: Vec<Segment>,
    open: Segment,
    /// Set when what was added does not fit the reservation: nothing is recorded.
    overflow: bool,
}

impl IndexWriter {
    /// The entries to reserve and the segment size for `data_len` bytes of data after a
    /// prefix; `None` when the data is too large to index.
    fn plan(data_len: u64) -> Option<(usize, u64)> {
        // One fragment has nothing to decode in parallel; small files stay as they were.
        let fragment = crate::FRAGMENT_BYTES as u64;
        if data_len <= fragment {
            return None;
        }
        let pieces = data_len.div_ceil(fragment);
        // The prefix, each closed segment (at most `capacity - 2` of them, each at least `target`
        // long), the last open one.
        let capacity = usize::try_from(pieces + 3).ok()?.min(MAX_ENTRIES);
        let target = fragment.max(data_len.div_ceil(capacity as u64 - 2));
        // A segment holds less than `target` plus one fragment.
        (target + fragment <= MAX_SEGMENT).then_some((capacity, target))
    }

    /// The extra field to write in the header (its XLEN first) for `data_len` bytes of data,
    /// and the writer that completes it; `None` (no extra field) when the data is too large to
    /// index. `at` is where the header starts in the output.
    pub(crate) fn reserve(at: u64, data_len: u64) -> Option<(Vec<u8>, IndexWriter)> {
        let (capacity, target) = IndexWriter::plan(data_len)?;
        let len = HEAD + 8 * capacity;
        let mut field = Vec::with_capacity(6 + len);
        field.extend_from_slice(&((4 + len) as u16).to_le_bytes());
        field.extend_from_slice(&ID);
        field.extend_from_slice(&(len as u16).to_le_bytes());
        field.extend_from_slice(&[VERSION, 0, 0, 0]);
        field.resize(6 + len, 0);
        // The gzip header's fixed 10 bytes, XLEN, the identifier and length, then our head.
        let at = at + 10 + 6 + HEAD as u64;
        let writer =
            IndexWriter { at, capacity, target, closed: Vec::new(), open: Segment::default(), overflow: false };
        Some((field, writer))
    }

    /// Records stored bytes (the prefix): a segment of their own.
    pub(crate) fn add_prefix(&mut self, comp: u64, raw: u64) {
        if raw > 0 {
            self.close();
            self.open = Segment { comp, raw };
            self.close();
        }
    }

    /// Records one independent fragment.
    pub(crate) fn add_fragment(&mut self, comp: u64, raw: u64) {
        self.open.comp += comp;
        self.open.raw += raw;
        if self.open.raw >= self.target {
            self.close();
        }
    }

    fn close(&mut self) {
        if self.open.raw > 0 || self.open.comp > 0 {
            let seg = std::mem::take(&mut self.open);
            if seg.raw > MAX_SEGMENT || seg.comp > u64::from(u32::MAX) || self.closed.len() == self.capacity {
                self.overflow = true;
            } else {
                self.closed.push(seg);
            }
        }
    }

    /// Writes the entries into the reserved header, then returns to the end of the output.
    pub(crate) fn complete(mut self, w: &mut (impl Write + Seek)) -> io::Result<()> {
        self.close();
        let count = if self.overflow { 0 } else { self.closed.len() };
        let mut bytes = Vec::with_capacity(2 + 8 * count);
        bytes.extend_from_slice(&(count as u16).to_le_bytes());
        for s in &self.closed[..count] {
            bytes.extend_from_slice(&(s.comp as u32).to_le_bytes());
            bytes.extend_from_slice(&(s.raw as u32).to_le_bytes());
        }
        let end = w.stream_position()?;
        // `count` sits two bytes into the head, the entries right after it.
        w.seek(SeekFrom::Start(self.at - 2))?;
        w.write_all(&bytes)?;
        w.seek(SeekFrom::Start(end))?;
        Ok(())
    }
}

/// The segments a header's extra field records, when it holds a valid piece index with at
/// least one segment. Anything else (other subfields, another version, entries out of bounds)
/// is no index: the member is then decoded as one stream, which is always correct.
pub(crate) fn parse(extra: &[u8]) -> Option<Vec<Segment>> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let data = rest.get(4..4 + len)?;
        if rest[..2] == ID {
            return parse_subfield(data);
        }
        rest = &rest[4 + len..];
    }
    None
}

fn parse_subfield(data: &[u8]) -> Option<Vec<Segment>> {
    if data.len() < HEAD || data[0] != VERSION {
        return None;
    }
    let count = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let entries = data.get(HEAD..HEAD + 8 * count)?;
    let segments: Vec<Segment> = entries
        .chunks_exact(8)
        .map(|e| Segment {
            comp: u64::from(u32::from_le_bytes([e[0], e[1], e[2], e[3]])),
            raw: u64::from(u32::from_le_bytes([e[4], e[5], e[6], e[7]])),
        })
        .collect();
    // Stored blocks hold at most 65,535 bytes behind five bytes of header: no honest segment is
    // much larger compressed than decoded, and none is empty or larger than a reader will hold.
    let sane = |s: &Segment| s.comp > 0 && s.raw <= MAX_SEGMENT && s.comp <= s.raw + s.raw / 64 + 4096;
    (!segments.is_empty() && segments.iter().all(sane)).then_some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_segments_bounded_and_entries_within_the_header() {
        let piece = crate::FRAGMENT_BYTES as u64;
        assert_eq!(IndexWriter::plan(0), None);
        assert_eq!(IndexWriter::plan(piece), None);
        assert_eq!(IndexWriter::plan(piece + 1), Some((5, piece)));
        assert_eq!(IndexWriter::plan(10 * piece), Some((13, piece)));
        // 64 GiB: the entries are capped, the segments grow.
        let (capacity, target) = IndexWriter::plan(64 << 30).expect("indexable");
        assert_eq!(capacity, MAX_ENTRIES);
        assert!(target > piece && (64u64 << 30).div_ceil(target) + 2 <= capacity as u64);
        assert_eq!(IndexWriter::plan(1 << 50), None);
    }

    #[test]
    fn completed_entries_parse_back() {
        let mut out = std::io::Cursor::new(vec![0u8; 10]);
        out.set_position(0);
        let (field, mut w) = IndexWriter::reserve(0, 5 << 20).expect("indexed");
        out.get_mut().extend_from_slice(&field);
        out.set_position(out.get_ref().len() as u64);
        w.add_prefix(357, 352);
        // Fragments are joined until a segment holds a fragment's worth.
        w.add_fragment(1000, 1 << 19);
        w.add_fragment(900, 600_000);
        w.add_fragment(10, 20);
        w.complete(&mut out).expect("completes");
        let bytes = out.into_inner();
        let segments = parse(&bytes[12..]).expect("an index");
        let joined = Segment { comp: 1900, raw: (1 << 19) + 600_000 };
        assert_eq!(segments, [Segment { comp: 357, raw: 352 }, joined, Segment { comp: 10, raw: 20 }]);
        // Other subfields before ours are skipped; a foreign subfield alone is no index.
        let mut other = vec![b'A', b'p', 2, 0, 9, 9];
        other.extend_from_slice(&bytes[12..]);
        assert_eq!(parse(&other), Some(segments));
        assert_eq!(parse(&[b'A', b'p', 2, 0, 9, 9]), None);
    }

    #[test]
    fn overflow_records_nothing() {
        let mut out = std::io::Cursor::new(Vec::new());
        let (field, mut w) = IndexWriter::reserve(0, 5 << 20).expect("indexed");
        out.write_all(&[0; 10]).and_then(|()| out.write_all(&field)).expect("writes");
        // Far more data than announced: more segments than reserved.
        for _ in 0..9 {
            w.add_fragment(10, crate::FRAGMENT_BYTES as u64);
        }
        w.complete(&mut out).expect("completes");
        assert_eq!(parse(&out.into_inner()[12..]), None);
    }
}
