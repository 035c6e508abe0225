//! A parallel single-member gzip writer for large buffers, with a fast deflate encoder for data
//! made of long runs of one 4-byte value and noise (windowed float volumes).
//!
//! - [`write_gzip`] writes one gzip member: an optional prefix as stored (uncompressed) blocks,
//!   so a reader can find it without inflating anything, then the data in [`PIECE_BYTES`]-byte
//!   pieces compressed in parallel (rayon). Each piece is a raw deflate fragment that refers to
//!   nothing before it and ends in a sync flush, so the concatenation is one deflate stream and
//!   the file is a single member that every gzip reader reads, including those that stop after
//!   the first member. The bytes do not depend on the thread count.
//! - [`Piece`] and [`GzipMember`] are the same machinery for a producer that computes its data
//!   slab by slab: compress pieces on any thread ([`Piece::compress`]), add them to the member
//!   in order ([`GzipMember::add`]); the CRC-32s of the pieces are joined, never recomputed.
//! - [`GzipReader`] is a streaming decoder of any gzip stream (libdeflate's techniques, the
//!   32 KiB window carried in a bounded buffer), checked against flate2 and fuzzed against it.
//! - [`deflate::compress`] is the run encoder (runs of a repeated 4-byte word plus
//!   Huffman-coded literals), chosen per piece at level 1 where a sample shows it compresses
//!   within 5 % of zlib's level-2 matcher; elsewhere zlib-rs compresses.
//!
//! Levels: 0 stores; 2-9 are zlib's levels; 1 (the fastest) is zlib's level-2 matcher or the run
//! encoder, whichever a sample of each piece favours. zlib's own level 1 (`deflate_quick`) is
//! not used: its files are much larger on CT (docs/GZIP.md).
//!
//! ```
//! use std::io::Read;
//!
//! let data: Vec<u8> = (0..100_000u32).map(|i| if i % 1000 < 900 { 0 } else { i as u8 }).collect();
//! let mut file = Vec::new();
//! ctprep_gzip::write_gzip(&mut file, b"a stored prefix", &data, 1)?;
//!
//! let mut back = Vec::new();
//! flate2::read::GzDecoder::new(&file[..]).read_to_end(&mut back)?;
//! assert_eq!(&back[..15], b"a stored prefix");
//! assert_eq!(&back[15..], &data[..]);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Errors are [`std::io::Error`]s: those of the writer, and a refusal of zlib-rs (which does not
//! happen with these settings but is not hidden).
#![deny(unsafe_code)] // Only `multiversion`'s generated dispatch (in `inflate`) and the libdeflate call (`pieces::Decoder`).

pub mod deflate;
mod index;
mod inflate;
mod pieces;

pub use inflate::GzipReader;
pub use pieces::{decode_indexed_whole, decode_one_member_whole};

use std::io::{Seek, Write};

/// Data bytes per independently compressed piece: large enough that starting each piece with
/// an empty dictionary costs nothing measurable, small enough that a few pieces per thread keep
/// the threads busy and the buffers small.
pub const PIECE_BYTES: usize = 4 << 20;

/// Data bytes per independent fragment of a piece (a piece is compressed as fragments of this
/// size, each starting with an empty dictionary, with the encoder chosen once for the piece): the
/// unit a reader decodes whole, so its buffers stay small. Starting every 1 MiB afresh costs
/// 0.1 % of the file on the bench CT.
pub const FRAGMENT_BYTES: usize = 1 << 20;

/// The most bytes one stored deflate block holds.
pub(crate) const STORED_MAX: usize = 65_535;

/// Writes one gzip member holding `stored_prefix` then `data` to `w`: the prefix as stored
/// (uncompressed) deflate blocks, then the data in [`PIECE_BYTES`]-byte pieces compressed in
/// parallel (rayon), four per thread at a time, and written in order while the next batch
/// compresses. `level` is 0-9 (above 9 is 9); see the [crate docs](crate) for what 1 means.
pub fn write_gzip(w: &mut (impl Write + Send), stored_prefix: &[u8], data: &[u8], level: u32) -> std::io::Result<()> {
    let member = GzipMember::start(w, stored_prefix)?;
    let member = write_pieces(w, member, data, level)?;
    member.end(w)
}

/// [`write_gzip`] with a piece index in the header, so that [`GzipReader`] decodes the pieces
/// in parallel (other readers skip it): the index is completed at the end, so `w` must seek.
pub fn write_gzip_indexed(
    w: &mut (impl Write + Seek + Send),
    stored_prefix: &[u8],
    data: &[u8],
    level: u32,
) -> std::io::Result<()> {
    let member = GzipMember::start_indexed(w, stored_prefix, data.len() as u64)?;
    let member = write_pieces(w, member, data, level)?;
    member.end_indexed(w)
}

/// Compresses `data` in parallel pieces into `member`.
fn write_pieces(
    w: &mut (impl Write + Send),
    mut member: GzipMember,
    data: &[u8],
    level: u32,
) -> std::io::Result<GzipMember> {
    use rayon::prelude::*;
    let pieces = data.len().div_ceil(PIECE_BYTES);
    // Pieces are compressed a batch at a time; while one batch is written out (in order, with its
    // CRCs combined) the next is compressed, so the threads do not wait for the file.
    let batch = 4 * rayon::current_num_threads().max(1);
    let compress_batch = |first: usize, bufs: &mut Vec<Piece>| -> std::io::Result<()> {
        let n = batch.min(pieces.saturating_sub(first));
        bufs.resize_with(n, Piece::default);
        bufs.par_iter_mut().enumerate().try_for_each(|(j, out)| {
            let i = first + j;
            out.compress(&data[i * PIECE_BYTES..((i + 1) * PIECE_BYTES).min(data.len())], level)
        })
    };
    let mut ready = Vec::new();
    let mut next = Vec::new();
    compress_batch(0, &mut ready)?;
    for first in (batch..pieces + batch).step_by(batch) {
        let (written, compressed) =
            rayon::join(|| ready.iter().try_for_each(|p| member.add(w, p)), || compress_batch(first, &mut next));
        written?;
        compressed?;
        std::mem::swap(&mut ready, &mut next);
    }
    Ok(member)
}

/// The CRC-32 (gzip's) and length of a run of bytes: libdeflate's vectorised CRC (an order of
/// magnitude faster than a table CRC, which showed in `ctprep run`'s profile), runs joined with
/// zlib-rs's `crc32_combine`.
#[derive(Clone, Copy, Debug, Default)]
struct Crc32 {
    sum: u32,
    len: u64,
}

impl Crc32 {
    fn update(&mut self, bytes: &[u8]) {
        let mut c = libdeflater::Crc::with_initial(self.sum);
        c.update(bytes);
        self.sum = c.sum();
        self.len += bytes.len() as u64;
    }

    /// Appends the run `next` describes.
    fn combine(&mut self, next: &Crc32) {
        self.sum = zlib_rs::crc32::crc32_combine(self.sum, next.sum, next.len);
        self.len += next.len;
    }
}

/// A gzip member being written: the CRC and length of what its deflate stream holds so far,
/// and the piece index being recorded.
pub struct GzipMember {
    crc: Crc32,
    index: Option<index::IndexWriter>,
}

impl std::fmt::Debug for GzipMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipMember").field("len", &self.crc.len).finish()
    }
}

impl GzipMember {
    /// Writes the gzip header (no name, mtime 0, so equal data gives equal bytes), then
    /// `stored_prefix` as stored (uncompressed) deflate blocks, none final.
    pub fn start(w: &mut impl Write, stored_prefix: &[u8]) -> std::io::Result<GzipMember> {
        GzipMember::start_with(w, stored_prefix, None)
    }

    /// [`GzipMember::start`] for a member that will hold `data_len` bytes after the prefix, with
    /// a piece index in its header (an extra field that other readers skip; [`GzipReader`]
    /// reads it to decode the pieces in parallel). [`GzipMember::end`] completes the index,
    /// which is why `w` must seek. More data than announced leaves the index empty.
    pub fn start_indexed(
        w: &mut (impl Write + Seek),
        stored_prefix: &[u8],
        data_len: u64,
    ) -> std::io::Result<GzipMember> {
        let at = w.stream_position()?;
        GzipMember::start_with(w, stored_prefix, index::IndexWriter::reserve(at, data_len))
    }

    fn start_with(
        w: &mut impl Write,
        stored_prefix: &[u8],
        index: Option<(Vec<u8>, index::IndexWriter)>,
    ) -> std::io::Result<GzipMember> {
        // gzip header: magic, deflate, flags (FEXTRA with an index), mtime 0, no extra flags,
        // OS unknown.
        let flags = if index.is_some() { 0x04 } else { 0 };
        w.write_all(&[0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255])?;
        let index = index.map(|(field, writer)| w.write_all(&field).map(|()| writer)).transpose()?;
        for chunk in stored_prefix.chunks(STORED_MAX) {
            w.write_all(&stored_block_header(chunk.len() as u16, false))?;
            w.write_all(chunk)?;
        }
        let mut crc = Crc32::default();
        crc.update(stored_prefix);
        let mut member = GzipMember { crc, index };
        if let Some(index) = &mut member.index {
            let blocks = stored_prefix.len().div_ceil(STORED_MAX) as u64;
            index.add_prefix(stored_prefix.len() as u64 + 5 * blocks, stored_prefix.len() as u64);
        }
        Ok(member)
    }

    /// Writes a compressed piece (a fragment ending in a sync flush) as the next data.
    pub fn add(&mut self, w: &mut impl Write, piece: &Piece) -> std::io::Result<()> {
        w.write_all(&piece.bytes)?;
        self.crc.combine(&piece.crc);
        if let Some(index) = &mut self.index {
            for &(comp, raw) in &piece.fragments {
                index.add_fragment(u64::from(comp), u64::from(raw));
            }
        }
        Ok(())
    }

    /// Ends the deflate stream (an empty final stored block) and the member (CRC-32, ISIZE).
    /// The piece index of a member started with [`GzipMember::start_indexed`] then stays empty
    /// (valid, but no help to a reader): end it with [`GzipMember::end_indexed`].
    pub fn end(mut self, w: &mut impl Write) -> std::io::Result<()> {
        self.index = None;
        self.write_end(w)
    }

    /// [`GzipMember::end`], then completes the piece index of an indexed member (seeking back
    /// to its header, then to the end again).
    pub fn end_indexed(mut self, w: &mut (impl Write + Seek)) -> std::io::Result<()> {
        let index = self.index.take();
        self.write_end(w)?;
        match index {
            Some(index) => index.complete(w),
            None => Ok(()),
        }
    }

    fn write_end(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&stored_block_header(0, true))?;
        w.write_all(&self.crc.sum.to_le_bytes())?;
        // ISIZE: the uncompressed length modulo 2^32.
        w.write_all(&(self.crc.len as u32).to_le_bytes())
    }
}

/// Data compressed for a [`GzipMember`]: independent raw deflate fragments, each ended by a sync
/// flush, with the CRC-32 of the data. Reusable: compressing again keeps the allocation.
#[derive(Debug, Default)]
pub struct Piece {
    bytes: Vec<u8>,
    crc: Crc32,
    /// Compressed and data bytes of each independent fragment, in order.
    fragments: Vec<(u32, u32)>,
}

impl Piece {
    /// How many data bytes it holds (before compression).
    pub fn len(&self) -> usize {
        self.crc.len as usize
    }

    /// Whether it holds no data bytes.
    pub fn is_empty(&self) -> bool {
        self.crc.len == 0
    }

    /// The compressed bytes.
    pub fn compressed(&self) -> &[u8] {
        &self.bytes
    }

    /// Replaces the contents with `data` compressed at `level` (0-9, above 9 is 9), as
    /// independent [`FRAGMENT_BYTES`]-byte fragments, each ended by a sync flush, the encoder
    /// chosen per [`PIECE_BYTES`]. Any thread may compress any piece.
    pub fn compress(&mut self, data: &[u8], level: u32) -> std::io::Result<()> {
        self.bytes.clear();
        self.fragments.clear();
        self.crc = Crc32::default();
        // Room for the worst case at once: growing by doubling as fragments arrive left
        // buffers up to twice as large.
        let fragments = data.len().div_ceil(FRAGMENT_BYTES).max(1);
        self.bytes.reserve_exact(zlib_rs::compress_bound(data.len()) + 16 * fragments);
        // One zlib state serves every fragment (reset in between).
        let mut zlib: Option<(zlib_rs::Deflate, zlib_rs::DeflateConfig)> = None;
        for piece in data.chunks(PIECE_BYTES) {
            let encoder = piece_encoder(piece, level);
            for fragment in piece.chunks(FRAGMENT_BYTES) {
                self.crc.update(fragment);
                let start = self.bytes.len();
                compress_piece(fragment, &mut self.bytes, encoder, &mut zlib)?;
                // A fragment is at most FRAGMENT_BYTES of data, and compressed at most its
                // worst-case bound: both fit.
                self.fragments.push(((self.bytes.len() - start) as u32, fragment.len() as u32));
            }
        }
        Ok(())
    }
}

/// The 5 bytes starting a stored deflate block of `len` bytes.
fn stored_block_header(len: u16, last: bool) -> [u8; 5] {
    let [l0, l1] = len.to_le_bytes();
    let [n0, n1] = (!len).to_le_bytes();
    [u8::from(last), l0, l1, n0, n1]
}

/// How one piece is compressed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PieceEncoder {
    /// Our runs + Huffman encoder ([`deflate`]).
    Runs,
    /// zlib-rs with this configuration.
    Zlib(zlib_rs::DeflateConfig),
}

/// How much larger than zlib's matcher (on the samples) the run encoder may be and still be
/// chosen at level 1 (the matcher is several times slower). A looser bound trades file size for
/// speed on int16 CT; docs/GZIP.md has the figures behind this one.
const RUNS_SLACK_PERCENT: usize = 5;

/// The encoder for `piece` at gzip level `level` (see the [crate docs](crate)).
fn piece_encoder(piece: &[u8], level: u32) -> PieceEncoder {
    use zlib_rs::{DeflateConfig, Strategy};
    let config = |level: u32| DeflateConfig {
        level: level as i32,
        window_bits: -15,
        strategy: Strategy::Default,
        ..DeflateConfig::default()
    };
    if level != 1 {
        return PieceEncoder::Zlib(config(level.min(9)));
    }
    let matcher = config(2);
    // Four 16 KiB samples spread over the piece, compressed both ways.
    const SAMPLE: usize = 16 << 10;
    if piece.len() < 4 * SAMPLE {
        return PieceEncoder::Zlib(matcher);
    }
    let step = (piece.len() - SAMPLE) / 3;
    let samples = || (0..4).map(|k| &piece[k * step..k * step + SAMPLE]);
    let mut out = vec![0u8; zlib_rs::compress_bound(SAMPLE)];
    let zlib: usize = samples().map(|s| deflate_len(s, &mut out, matcher).unwrap_or(usize::MAX / 8)).sum();
    let runs: usize = samples()
        .map(|s| {
            out.clear();
            crate::deflate::compress(s, &mut out, true);
            out.len()
        })
        .sum();
    // A few hundred bytes either way on 64 KiB of samples (all-zero data: 132 against 264) are
    // no reason for the slower encoder.
    let close = runs <= zlib + 4 * SAMPLE / 64;
    if close || runs.saturating_mul(100) <= zlib.saturating_mul(100 + RUNS_SLACK_PERCENT) {
        PieceEncoder::Runs
    } else {
        PieceEncoder::Zlib(matcher)
    }
}

/// The length of `input` compressed on its own with `config` (into `out`, large enough).
fn deflate_len(input: &[u8], out: &mut [u8], config: zlib_rs::DeflateConfig) -> Option<usize> {
    let mut d = zlib_rs::Deflate::new_with_config(config);
    match d.compress(input, out, zlib_rs::DeflateFlush::Finish) {
        Ok(zlib_rs::Status::StreamEnd) => Some(d.total_out() as usize),
        _ => None,
    }
}

/// Appends `piece` to `out` as a raw deflate fragment that refers to nothing before it, ended
/// by a sync flush.
/// `zlib` is a state to reuse (reset first) when its configuration is `encoder`'s.
fn compress_piece(
    piece: &[u8],
    out: &mut Vec<u8>,
    encoder: PieceEncoder,
    zlib: &mut Option<(zlib_rs::Deflate, zlib_rs::DeflateConfig)>,
) -> std::io::Result<()> {
    let config = match encoder {
        PieceEncoder::Runs => {
            crate::deflate::compress(piece, out, false);
            return Ok(());
        }
        PieceEncoder::Zlib(config) => config,
    };
    // Room for the worst case (stored blocks) plus the flush marker.
    let start = out.len();
    out.resize(start + zlib_rs::compress_bound(piece.len()) + 16, 0);
    let d = match zlib {
        Some((d, c)) if *c == config => {
            d.reset();
            d
        }
        _ => &mut zlib.insert((zlib_rs::Deflate::new_with_config(config), config)).0,
    };
    d.compress(piece, &mut out[start..], zlib_rs::DeflateFlush::SyncFlush)
        .map_err(|e| std::io::Error::other(format!("deflate: {e:?}")))?;
    if d.total_in() as usize != piece.len() {
        return Err(std::io::Error::other("deflate did not finish a piece in its worst-case bound"));
    }
    out.truncate(start + d.total_out() as usize);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Bytes with zero runs (a clipped background) in the first half and noisy int16 "tissue" in
    /// the second, `len` long.
    fn mixed(len: usize) -> Vec<u8> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i < len / 2 {
                    if (i / 4096).is_multiple_of(3) { (state >> 56) as u8 } else { 0 }
                } else if i % 2 == 0 {
                    (40 + (state >> 61)) as u8
                } else {
                    0
                }
            })
            .collect()
    }

    fn gunzip_single_member(bytes: &[u8]) -> Vec<u8> {
        // `GzDecoder` stops after the first member: the whole content must be in it.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("valid gzip");
        out
    }

    #[test]
    fn parallel_pieces_make_one_member_independent_of_threads() {
        let head = vec![7u8; 70_000]; // two stored blocks
        for len in [0, 1, PIECE_BYTES - 1, PIECE_BYTES, 2 * PIECE_BYTES + 12_345] {
            let data = mixed(len);
            for level in [0, 1, 2, 6] {
                let write = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
                    let mut out = Vec::new();
                    pool.install(|| write_gzip(&mut out, &head, &data, level)).expect("compresses");
                    out
                };
                let one = write(1);
                assert_eq!(one, write(2), "len {len} level {level}: bytes depend on the thread count");
                let back = gunzip_single_member(&one);
                assert_eq!(back.len(), head.len() + len, "len {len} level {level}");
                assert!(back[..head.len()] == head[..] && back[head.len()..] == data[..], "len {len} level {level}");
            }
        }
        let mut out = Vec::new();
        write_gzip(&mut out, &[], &[], 1).expect("empty");
        assert!(gunzip_single_member(&out).is_empty());
    }

    /// Pieces compressed one by one and added to a member give the bytes `write_gzip` gives.
    #[test]
    fn pieces_added_in_order_equal_the_parallel_writer() {
        let data = mixed(2 * PIECE_BYTES + 999);
        let mut whole = Vec::new();
        write_gzip(&mut whole, b"head", &data, 1).expect("compresses");
        let mut out = Vec::new();
        let mut member = GzipMember::start(&mut out, b"head").expect("starts");
        let mut piece = Piece::default();
        for chunk in data.chunks(PIECE_BYTES) {
            piece.compress(chunk, 1).expect("compresses");
            assert_eq!(piece.len(), chunk.len());
            member.add(&mut out, &piece).expect("adds");
        }
        member.end(&mut out).expect("ends");
        assert_eq!(out, whole);
    }

    #[test]
    fn level_one_uses_the_run_encoder_only_where_it_pays() {
        let data = mixed(2 * PIECE_BYTES);
        let (zeros, tissue) = data.split_at(PIECE_BYTES);
        let zlib = |encoder| match encoder {
            PieceEncoder::Zlib(c) => (c.level, c.strategy),
            PieceEncoder::Runs => panic!("expected zlib, got the run encoder"),
        };
        assert_eq!(piece_encoder(zeros, 1), PieceEncoder::Runs);
        // All zeros: both encoders take a few hundred bytes, the matcher half as many; no reason
        // for the slower one.
        assert_eq!(piece_encoder(&vec![0u8; PIECE_BYTES / 2], 1), PieceEncoder::Runs);
        assert_eq!(zlib(piece_encoder(tissue, 1)), (2, zlib_rs::Strategy::Default));
        assert_eq!(zlib(piece_encoder(zeros, 6)), (6, zlib_rs::Strategy::Default));
        assert_eq!(zlib(piece_encoder(zeros, 0)).0, 0);
    }
}

/// The examples of this crate's README.md, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
