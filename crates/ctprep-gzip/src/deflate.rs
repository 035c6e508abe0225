//! A fast deflate encoder for volumes ("runs + Huffman"): runs of a repeated 4-byte word
//! (distance-4 matches) and Huffman-coded literals, nothing else.
//!
//! Windowed float volumes are mostly two kinds of data: long runs of one value (the clipped
//! background, 0.0 or 1.0) and noisy tissue whose low mantissa bytes hardly repeat. zlib's
//! matchers spend their time searching for matches the noise does not have; this encoder only
//! looks for runs, one word compare per 4 bytes, and codes everything else as literals with a
//! Huffman code made for each 256 KiB block (stored instead when that would be smaller). The
//! output is plain deflate (RFC 1951): dynamic blocks whose distance code is always complete, so
//! every inflater reads it. On windowed float volumes (long runs of one clipped value) it is
//! several times faster than zlib-rs's run-length strategy and no larger; on int16 CT, whose
//! noise zlib's matcher does find, it is much larger, which is why the writer samples each
//! piece first (see the [crate docs](crate); figures in docs/GZIP.md).

use crate::{STORED_MAX, stored_block_header};

/// Input bytes per deflate block: each block gets its own Huffman codes.
const BLOCK: usize = 256 << 10;

/// Appends to `out` the raw deflate encoding of `input`, a stream fragment that refers to no
/// bytes before `input`. When `last`, the fragment ends the stream (a final block); otherwise it
/// ends with a sync flush (an empty stored block), byte-aligned, so another fragment may follow.
pub fn compress(input: &[u8], out: &mut Vec<u8>, last: bool) {
    let mut w = BitWriter::new(out);
    let mut start = 0;
    while start < input.len() {
        let end = (start + BLOCK).min(input.len());
        block(input, start, end, &mut w);
        start = end;
    }
    if last {
        // An empty final block with the fixed code: BFINAL 1, BTYPE 01, end of block (7 zero bits).
        w.put(0b011, 3);
        w.put(0, 7);
        w.align();
    } else {
        // Sync flush: an empty stored block, not final.
        stored_block_start(&mut w, 0);
    }
    w.finish();
}

/// Starts a stored block of `len` bytes, not final: BFINAL 0 and BTYPE 00, padding to the byte,
/// then LEN and NLEN.
fn stored_block_start(w: &mut BitWriter, len: u16) {
    w.put(0, 3);
    w.align();
    w.bytes(&stored_block_header(len, false)[1..]);
}

/// One segment of a block: `lit` literal bytes, then a run of `run` bytes repeating the 4 bytes before it.
#[derive(Clone, Copy)]
struct Seg {
    lit: u32,
    run: u32,
}

/// The shortest match length of each length symbol 257..=285 (RFC 1951, 3.2.5).
const LEN_BASE: [u32; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
/// The extra bits after each length symbol 257..=285.
const LEN_EXTRA: [u32; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];

/// (length symbol - 257, extra bits, base) for a match length 3..=258.
fn length_code(len: u32) -> (usize, u32, u32) {
    let i = LEN_BASE.partition_point(|&b| b <= len) - 1;
    (i, LEN_EXTRA[i], LEN_BASE[i])
}

/// Splits a run of `len` bytes into match lengths of 3..=258.
fn for_each_match(mut len: u32, mut f: impl FnMut(u32)) {
    while len >= 258 + 3 {
        f(258);
        len -= 258;
    }
    if len > 258 {
        f(len - 3);
        len = 3;
    }
    f(len);
}

/// The longest literal/length code: four literals (56 bits) fit between two flushes.
const LIT_MAX_BITS: u32 = 14;

/// The distance code of 4 (code 3, no extra bits).
const DIST4: usize = 3;

fn block(input: &[u8], start: usize, end: usize, w: &mut BitWriter) {
    // Pass 1: find the runs (word compares at 4-byte steps from the piece start) and count symbols.
    let mut segs: Vec<Seg> = Vec::new();
    let mut hist = [[0u32; 256]; 4];
    let mut lit_freq = [0u32; 286];
    let mut lit_start = start;
    // Word-aligned (relative to the input) positions only; the tail is literals.
    let words_end = start + (end - start) / 4 * 4;
    let (words, _) = input.as_chunks::<4>();
    // A run needs the 4 bytes before it; the first word of the input has none.
    let mut j = start / 4 + usize::from(start == 0);
    let last_word = words_end / 4;
    let mut n_match = 0u32;
    while j < last_word {
        let v = words[j];
        if v != words[j - 1] {
            hist[0][v[0] as usize] += 1;
            hist[1][v[1] as usize] += 1;
            hist[2][v[2] as usize] += 1;
            hist[3][v[3] as usize] += 1;
            j += 1;
            continue;
        }
        let run_start = j;
        j += 1;
        while j < last_word && words[j] == v {
            j += 1;
        }
        let run = 4 * (j - run_start) as u32;
        segs.push(Seg { lit: (4 * run_start - lit_start) as u32, run });
        for_each_match(run, |l| {
            lit_freq[257 + length_code(l).0] += 1;
            n_match += 1;
        });
        lit_start = 4 * j;
    }
    // Bytes not scanned as words (the first word of the input, the tail) are literals too.
    let head_lits = if start == 0 { 4.min(words_end) } else { 0 };
    for &b in &input[start..start + head_lits] {
        lit_freq[b as usize] += 1;
    }
    for &b in &input[words_end..end] {
        lit_freq[b as usize] += 1;
    }
    segs.push(Seg { lit: (end - lit_start) as u32, run: 0 });
    for b in 0..256 {
        lit_freq[b] += hist[0][b] + hist[1][b] + hist[2][b] + hist[3][b];
    }
    lit_freq[256] = 1;

    // 14 bits at most (deflate allows 15), so four literals fit between flushes; the limit
    // costs nothing measurable on volume data.
    let lit_len = huffman_lengths(&lit_freq, LIT_MAX_BITS);
    let mut dist_len = [0u8; 30];
    // Always a complete distance code of two 1-bit codes (every inflater accepts it).
    dist_len[0] = 1;
    dist_len[DIST4] = 1;

    // Cost in bits of this block with these codes, against storing it.
    let mut bits: u64 = 0;
    for s in 0..286 {
        bits += lit_freq[s] as u64 * lit_len[s] as u64;
    }
    for s in 257..286 {
        bits += lit_freq[s] as u64 * u64::from(LEN_EXTRA[s - 257]);
    }
    bits += n_match as u64; // one bit of distance each
    let header = Header::new(&lit_len, &dist_len);
    bits += header.bits;
    let stored_bits = ((end - start) as u64 + 5 * (end - start).div_ceil(STORED_MAX) as u64 + 1) * 8;
    if bits >= stored_bits {
        for chunk in input[start..end].chunks(STORED_MAX) {
            stored_block_start(w, chunk.len() as u16);
            w.bytes(chunk);
        }
        return;
    }

    // Pass 2: write the block, `bits` long.
    w.room(bits as usize / 8 + 16);
    w.put(0b100, 3); // BFINAL 0, BTYPE 10 (dynamic)
    header.write(w);
    let lit_code = canonical_codes(&lit_len);
    let dist_code = canonical_codes(&dist_len);
    let (dc, dl) = (dist_code[DIST4], dist_len[DIST4] as u32);
    // Literal (code, length) pairs packed for the hot loop.
    let mut table = [(0u64, 0u32); 256];
    for b in 0..256 {
        table[b] = (lit_code[b] as u64, lit_len[b] as u32);
    }
    // The output has room for the whole block (`room` above): the hot loop keeps the bit state
    // in locals and writes through a plain slice, with no room checks.
    let mut f = w.fast();
    let mut pos = start;
    for s in &segs {
        let lits = &input[pos..pos + s.lit as usize];
        // Four literals (at most 56 bits) between flushes.
        let (quads, rest) = lits.as_chunks::<4>();
        for q in quads {
            for &b in q {
                let (c, l) = table[b as usize];
                f.add(c, l);
            }
            f.flush();
        }
        for &b in rest {
            let (c, l) = table[b as usize];
            f.add(c, l);
        }
        f.flush();
        pos += s.lit as usize;
        if s.run > 0 {
            for_each_match(s.run, |len| {
                let (i, extra, base) = length_code(len);
                let sym = 257 + i;
                f.add(u64::from(lit_code[sym] as u32 | ((len - base) << lit_len[sym])), lit_len[sym] as u32 + extra);
                f.add(dc as u64, dl);
                f.flush();
            });
            pos += s.run as usize;
        }
    }
    f.add(lit_code[256] as u64, lit_len[256] as u32);
    f.flush();
    let state = f.state();
    w.resume(state);
}

/// A [`BitWriter`]'s state in locals over its pre-sized output (see [`BitWriter::fast`]).
struct FastBits<'b> {
    buf: &'b mut [u8],
    len: usize,
    acc: u64,
    n: u32,
}

impl FastBits<'_> {
    /// As [`BitWriter::add`].
    #[inline(always)]
    fn add(&mut self, bits: u64, n: u32) {
        self.acc |= bits << self.n;
        self.n += n;
    }

    /// As [`BitWriter::flush`], within the room made beforehand.
    #[inline(always)]
    fn flush(&mut self) {
        self.buf[self.len..self.len + 8].copy_from_slice(&self.acc.to_le_bytes());
        let bytes = self.n / 8;
        self.len += bytes as usize;
        // Fewer than 64 bits are ever pending, so the shift is below 64.
        self.acc >>= 8 * bytes;
        self.n -= 8 * bytes;
    }

    /// Bytes written, accumulator and pending bits, for [`BitWriter::resume`].
    fn state(&self) -> (usize, u64, u32) {
        (self.len, self.acc, self.n)
    }
}

/// The order in which code length code lengths are sent.
const CL_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// A dynamic block header: the code lengths, sent with a code length code (lengths 0-15 only).
struct Header {
    nlit: usize,
    ndist: usize,
    lens: Vec<u8>,
    cl_len: [u8; 19],
    ncl: usize,
    bits: u64,
}

impl Header {
    fn new(lit_len: &[u8; 286], dist_len: &[u8; 30]) -> Header {
        let nlit = 257.max(lit_len.iter().rposition(|&l| l != 0).map_or(0, |p| p + 1));
        let ndist = 1.max(dist_len.iter().rposition(|&l| l != 0).map_or(0, |p| p + 1));
        let mut lens = lit_len[..nlit].to_vec();
        lens.extend_from_slice(&dist_len[..ndist]);
        let mut freq = [0u32; 19];
        for &l in &lens {
            freq[l as usize] += 1;
        }
        let cl_len = huffman_lengths(&freq, 7);
        let ncl = 4.max(CL_ORDER.iter().rposition(|&s| cl_len[s] != 0).map_or(0, |p| p + 1));
        let bits = 14 + 3 * ncl as u64 + lens.iter().map(|&l| cl_len[l as usize] as u64).sum::<u64>();
        Header { nlit, ndist, lens, cl_len, ncl, bits }
    }

    fn write(&self, w: &mut BitWriter) {
        w.put((self.nlit - 257) as u32, 5);
        w.put((self.ndist - 1) as u32, 5);
        w.put((self.ncl - 4) as u32, 4);
        for &s in &CL_ORDER[..self.ncl] {
            w.put(self.cl_len[s] as u32, 3);
        }
        let codes = canonical_codes(&self.cl_len);
        for &l in &self.lens {
            w.put(codes[l as usize] as u32, self.cl_len[l as usize] as u32);
        }
    }
}

/// Huffman code lengths (at most `max` bits) for symbols with frequencies `freq`; unused symbols
/// get 0. At least two symbols get a code (a complete code), even when fewer are used.
fn huffman_lengths<const N: usize>(freq: &[u32; N], max: u32) -> [u8; N] {
    let mut syms: Vec<(u32, usize)> = freq.iter().enumerate().filter(|&(_, &f)| f > 0).map(|(s, &f)| (f, s)).collect();
    // Pad to two symbols with unused ones (frequency 0 counts as 1 below).
    let mut s = 0;
    while syms.len() < 2 {
        if !syms.iter().any(|&(_, x)| x == s) {
            syms.push((0, s));
        }
        s += 1;
    }
    syms.sort_unstable();
    let n = syms.len();
    // Two-queue Huffman over the sorted leaves; depth of each leaf via parent links.
    let mut weight: Vec<u64> = syms.iter().map(|&(f, _)| f.max(1) as u64).collect();
    let mut parent = vec![0usize; 2 * n - 1];
    let (mut leaf, mut node) = (0usize, n);
    // The lighter of the next leaf and the next internal node (internal nodes `node..next` exist).
    let take = |weight: &[u64], leaf: &mut usize, node: &mut usize, next: usize| -> usize {
        if *leaf < n && (*node >= next || weight[*leaf] <= weight[*node]) {
            *leaf += 1;
            *leaf - 1
        } else {
            *node += 1;
            *node - 1
        }
    };
    for next in n..2 * n - 1 {
        let a = take(&weight, &mut leaf, &mut node, next);
        let b = take(&weight, &mut leaf, &mut node, next);
        weight.push(weight[a] + weight[b]);
        parent[a] = next;
        parent[b] = next;
    }
    let mut depth = vec![0u32; 2 * n - 1];
    for i in (0..2 * n - 2).rev() {
        depth[i] = depth[parent[i]] + 1;
    }
    // Count leaves per length, then limit lengths to `max` keeping the code complete.
    let mut count = [0u32; 64];
    for &d in &depth[..n] {
        count[d as usize] += 1;
    }
    let max = max as usize;
    for l in max + 1..64 {
        count[max] += count[l];
        count[l] = 0;
    }
    let mut total: u64 = (1..=max).map(|l| (count[l] as u64) << (max - l)).sum();
    while total > 1 << max {
        count[max] -= 1;
        for l in (1..max).rev() {
            if count[l] != 0 {
                count[l] -= 1;
                count[l + 1] += 2;
                break;
            }
        }
        total -= 1;
    }
    // Longest codes to the rarest symbols (syms is sorted by ascending frequency).
    let mut out = [0u8; N];
    let mut k = 0;
    for l in (1..=max).rev() {
        for _ in 0..count[l] {
            out[syms[k].1] = l as u8;
            k += 1;
        }
    }
    out
}

/// Canonical Huffman codes for `lens`, bit-reversed for LSB-first output.
fn canonical_codes<const N: usize>(lens: &[u8; N]) -> [u16; N] {
    let mut count = [0u16; 16];
    for &l in lens {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for l in 1..16 {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    let mut out = [0u16; N];
    for (s, &l) in lens.iter().enumerate() {
        if l != 0 {
            let c = next[l as usize];
            next[l as usize] += 1;
            out[s] = c.reverse_bits() >> (16 - l);
        }
    }
    out
}

/// An LSB-first bit writer appending to a byte vector: whole bytes are stored 8 at a time from
/// the accumulator (the vector is kept 8 bytes longer than what is written; see [`BitWriter::room`])
/// and the length is cut back in [`BitWriter::finish`].
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bytes written (the vector may be longer).
    len: usize,
    acc: u64,
    /// Bits in `acc` not yet counted in `len`: fewer than 8 after a flush.
    n: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> BitWriter<'a> {
        let len = out.len();
        let mut w = BitWriter { out, len, acc: 0, n: 0 };
        w.room(64);
        w
    }

    /// Makes room for `bytes` more bytes of output.
    fn room(&mut self, bytes: usize) {
        let want = self.len + bytes + 8;
        if self.out.len() < want {
            // Within the capacity, zero only what is asked for: bytes zeroed and never written
            // stay resident while the buffer waits to be written out.
            let grow = if self.out.capacity() >= want { want } else { want.max(self.out.len() * 5 / 4) };
            self.out.resize(grow, 0);
        }
    }

    /// Adds the low `n` bits of `bits` to the accumulator, without flushing: at most 56 bits may
    /// be added between flushes.
    #[inline(always)]
    fn add(&mut self, bits: u64, n: u32) {
        self.acc |= bits << self.n;
        self.n += n;
    }

    /// Moves the accumulator's whole bytes to the output.
    #[inline(always)]
    fn flush(&mut self) {
        if self.out.len() < self.len + 8 {
            self.room(4096);
        }
        let mut f = self.fast();
        f.flush();
        let state = f.state();
        self.resume(state);
    }

    /// Appends the low `n` bits of `bits` (n <= 32).
    #[inline(always)]
    fn put(&mut self, bits: u32, n: u32) {
        self.add(u64::from(bits), n);
        self.flush();
    }

    /// Pads with zero bits to a byte boundary.
    fn align(&mut self) {
        self.flush();
        if self.n > 0 {
            self.len += 1;
        }
        self.acc = 0;
        self.n = 0;
    }

    /// Appends whole bytes (after [`BitWriter::align`]).
    fn bytes(&mut self, b: &[u8]) {
        debug_assert_eq!(self.n, 0);
        self.room(b.len());
        self.out[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// The state as locals over the output, for a hot loop that stays within room made
    /// beforehand with [`BitWriter::room`] (a flush past it panics); [`BitWriter::resume`] takes
    /// the state back.
    fn fast(&mut self) -> FastBits<'_> {
        FastBits { buf: &mut self.out[..], len: self.len, acc: self.acc, n: self.n }
    }

    /// Continues from a [`FastBits`]' final state ([`FastBits::state`]).
    fn resume(&mut self, (len, acc, n): (usize, u64, u32)) {
        (self.len, self.acc, self.n) = (len, acc, n);
    }

    /// Cuts the output back to the bytes written.
    fn finish(self) {
        self.out.truncate(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift byte stream.
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect()
    }

    /// `data` cut into `piece`-byte fragments, each compressed on its own and concatenated, then
    /// decoded by libdeflate and by zlib-rs (through flate2): both must give `data` back.
    fn round_trip(data: &[u8], piece: usize, what: &str) -> usize {
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = if data.is_empty() { vec![data] } else { data.chunks(piece).collect() };
        for (i, p) in pieces.iter().enumerate() {
            compress(p, &mut out, i + 1 == pieces.len());
        }
        let mut back = vec![0u8; data.len()];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(&out, &mut back)
            .unwrap_or_else(|e| panic!("{what}: libdeflate rejects the stream: {e:?}"));
        assert!(n == data.len() && back == data, "{what}: libdeflate decodes different bytes");
        let mut back = vec![0u8; data.len() + 1];
        let mut z = flate2::Decompress::new(false);
        let status = z.decompress(&out, &mut back, flate2::FlushDecompress::Finish);
        assert_eq!(status.ok(), Some(flate2::Status::StreamEnd), "{what}: zlib does not see the stream end");
        assert!(
            z.total_out() as usize == data.len() && back[..data.len()] == *data,
            "{what}: zlib decodes different bytes"
        );
        out.len()
    }

    #[test]
    fn decodes_exactly_on_awkward_inputs() {
        // Lengths around the word size, the stored block limit and the block size.
        for len in [0, 1, 2, 3, 4, 5, 7, 8, 9, 300, 65_535, 65_536, 70_001, BLOCK - 1, BLOCK, BLOCK + 3, 2 * BLOCK + 7]
        {
            let random = noise(len, 1 + len as u64);
            let zeros = vec![0u8; len];
            // Runs of one float (1.0) broken by noise every few KiB, not aligned to anything.
            let floats: Vec<u8> =
                (0..len).map(|i| if (i / 3001) % 2 == 0 { [0, 0, 0x80, 0x3f][i % 4] } else { random[i] }).collect();
            // Mostly zeros with a rare byte: very skewed literal frequencies (long codes).
            let skewed: Vec<u8> =
                random.iter().enumerate().map(|(i, &r)| if r < 2 { (i % 251) as u8 } else { 0 }).collect();
            // Few distinct bytes, no runs of a whole word.
            let small: Vec<u8> = random.iter().map(|&r| r % 3).collect();
            for (name, data) in
                [("random", &random), ("zeros", &zeros), ("floats", &floats), ("skewed", &skewed), ("small", &small)]
            {
                // Tiny pieces (each its own fragment) only on the shorter inputs: one block per 5 bytes.
                let tiny = if len <= 70_001 { 5 } else { 100_003 };
                for piece in [1 << 20, 100_003, tiny] {
                    round_trip(data, piece, &format!("{name}, {len} bytes, pieces of {piece}"));
                }
            }
        }
    }

    #[test]
    fn runs_are_coded_as_matches_and_noise_never_grows_much() {
        let zeros = vec![0u8; 1 << 20];
        assert!(round_trip(&zeros, 1 << 20, "zeros") < 2_000, "a zero run must cost about a bit per 258 bytes");
        let random = noise(1 << 20, 7);
        let size = round_trip(&random, 1 << 20, "random");
        // Incompressible blocks are stored: 5 bytes per 65,535 plus a little.
        assert!(size <= random.len() + random.len() / 10_000 + 64, "random data grew to {size}");
    }

    /// Byte frequencies that drive the literal code to its 14-bit limit, with no runs: the rarest
    /// literals come four in a row, the most bits the hot loop holds between flushes.
    #[test]
    fn longest_literal_codes_round_trip() {
        // Byte b appears about 2^-(b/2) as often as byte 0: a Huffman code of 20+ bits unlimited.
        let mut data = Vec::new();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        while data.len() < 600_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let b = (state.trailing_zeros() as u8).min(40) * 3 + (state >> 62) as u8 % 3;
            data.push(b);
        }
        // Runs of the rarest bytes, four at a time (not a repeated word: they differ).
        for k in 0..200 {
            let at = k * 2_999;
            data[at..at + 4].copy_from_slice(&[118, 119, 120, 117]);
        }
        let mut lit_freq = [0u32; 286];
        for &b in &data[..BLOCK.min(data.len())] {
            lit_freq[b as usize] += 1;
        }
        assert_eq!(huffman_lengths(&lit_freq, LIT_MAX_BITS).iter().max(), Some(&(LIT_MAX_BITS as u8)));
        round_trip(&data, 1 << 20, "longest codes");
    }

    #[test]
    fn huffman_lengths_are_limited_and_complete() {
        // Fibonacci frequencies force an unlimited Huffman code far past 15 bits.
        let mut freq = [0u32; 286];
        let (mut a, mut b) = (1u32, 1u32);
        for f in freq.iter_mut().take(30) {
            *f = a;
            (a, b) = (b, a.saturating_add(b));
        }
        for max in [7, LIT_MAX_BITS, 15] {
            let lens = huffman_lengths(&freq, max);
            assert!(lens.iter().all(|&l| u32::from(l) <= max), "a length above {max}");
            let kraft: f64 = lens.iter().filter(|&&l| l > 0).map(|&l| 0.5f64.powi(i32::from(l))).sum();
            assert!((kraft - 1.0).abs() < 1e-12, "max {max}: Kraft sum {kraft}, not a complete code");
            assert_eq!(lens.iter().filter(|&&l| l > 0).count(), 30);
        }
        // One used symbol still gets a complete two-code.
        let mut one = [0u32; 19];
        one[5] = 9;
        let lens = huffman_lengths(&one, 7);
        assert_eq!((lens[5], lens.iter().filter(|&&l| l == 1).count()), (1, 2));
    }
}
