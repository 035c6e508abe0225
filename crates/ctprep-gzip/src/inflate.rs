//! A streaming gzip decoder in the manner of libdeflate: a 64-bit bit buffer refilled a word at
//! a time, one table look-up per literal or length (a second only for codes longer than the
//! main table), matches copied eight bytes at a time, the 32 KiB window kept in the output
//! buffer between reads. Memory: the input buffer, 32 KiB of history and the output chunk,
//! whatever the stream's size. Concatenated members are read one after the other.
#![allow(unsafe_code)] // multiversion's generated dispatch calls `#[target_feature]` functions.
//!
//! ```
//! use std::io::Read;
//!
//! let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
//! let mut gz = Vec::new();
//! ctprep_gzip::write_gzip(&mut gz, &[], &data, 1)?;
//! let mut back = Vec::new();
//! ctprep_gzip::GzipReader::new(&gz[..]).read_to_end(&mut back)?;
//! assert_eq!(back, data);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read};

use crate::index::{self, Segment};
use crate::pieces::{Decoder, FINAL_BLOCK, Job, Part, Workers};

/// History a match may reach back into.
const WINDOW: usize = 32 << 10;
/// Output decoded between slides of the window.
const CHUNK: usize = 1 << 20;
/// Room kept after the write position while the fast loop runs: the longest match (258) and
/// the copy's eight-byte overshoot.
const SLACK: usize = 258 + 16;
/// The input buffer.
const IN_BYTES: usize = 256 << 10;
/// The most compressed bytes of a member decoded whole: deflate expands at most 1032-fold, so
/// its trailer's length (mod 2^32) is then exact.
const MAX_WHOLE_MEMBER: usize = (1 << 32) / 1032;
/// Bits of the main look-up of the literal/length and distance tables.
const LITLEN_BITS: u32 = 11;
const DIST_BITS: u32 = 8;

// A table entry (u32): bits 0-4 the bits to consume (the codeword's length plus its extra
// bits), 5-7 flags, 8-12 the codeword's length (a subtable pointer: the subtable's index bits),
// 16-31 the value (literal, length or distance base, or a subtable's offset). 0 is an unused
// code. One shift consumes a length or distance with its extra bits, which are the bits above
// the codeword in the bits before the shift.
const LITERAL: u32 = 0x20;
const SUBTABLE: u32 = 0x40;
const END: u32 = 0x80;

const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// The order code-length code lengths come in.
const CLEN_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the gzip stream ends early (truncated file)")
}

/// Where the decoder is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a member's header (or at the end of the input, between members).
    Member,
    /// Before a block's header.
    Block,
    /// In a compressed block.
    Codes,
    /// In a stored block, this many bytes left.
    Stored(usize),
    /// After the last block of a member: its trailer.
    Trailer,
    /// Independent pieces decoded whole ([`Pieces`]).
    Pieces,
    /// The input is over.
    Done,
}

/// A streaming gzip decoder over any reader ([`Read`]): the decoded bytes of every member.
/// The source is boxed, so that the decoding loop is compiled once, whatever it reads from.
pub struct GzipReader<'a> {
    src: Box<dyn Read + Send + 'a>,
    input: Vec<u8>,
    ipos: usize,
    iend: usize,
    src_done: bool,
    /// Zero bytes fed to the bit buffer past the end of the input.
    overrun: usize,
    bits: u64,
    nbits: u32,
    /// History and output: bytes before `rpos` are given out, `rpos..wpos` wait to be.
    out: Vec<u8>,
    rpos: usize,
    wpos: usize,
    /// Bytes before `acc` are counted into the member's length and CRC.
    acc: usize,
    /// Bytes of the current member counted so far.
    member_len: u64,
    crc: libdeflater::Crc,
    state: State,
    last_block: bool,
    litlen: Vec<u32>,
    dist: Vec<u32>,
    members: u64,
    /// Where the history of the current stream starts in `out`: no match reaches before it.
    base: usize,
    /// Threads that decode independent pieces ahead of the reader (1: the reader decodes them).
    threads: usize,
    pieces: Option<Box<Pieces>>,
    /// Independent pieces decoded whole so far.
    whole: u64,
    /// The error a read gave: every later read gives it again.
    failed: Option<(io::ErrorKind, String)>,
}

/// Where independent pieces come from.
#[derive(Debug)]
enum PieceSource {
    /// The segments of a member's piece index, from this one on.
    Index { segments: Vec<Segment>, next: usize },
    /// Members whose headers give their size, while they come.
    Members,
}

/// What follows the pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// The rest of the indexed member's deflate stream, then its trailer.
    IndexTail,
    /// Another member's header (or the end).
    Member,
    /// A member whose header is read and whose stream is ready to decode.
    Block,
}

/// Independent pieces being decoded whole: the one being given out, those in flight.
struct Pieces {
    source: PieceSource,
    /// No more jobs from the source.
    ended: bool,
    after: After,
    workers: Option<Workers>,
    serial: Option<Decoder>,
    /// The decoded job being given out: `out[pos..len]` is left.
    cur: Job,
    len: usize,
    pos: usize,
    spare: Vec<Job>,
    /// Jobs made so far.
    jobs: u64,
    /// CRC-32 and length of what the index's segments decoded to.
    crc: u32,
    total: u64,
    /// Why reading the next job's input failed, while jobs before it are in flight.
    failed: Option<io::Error>,
    /// Worker threads were asked for and could not start.
    no_workers: bool,
}

impl std::fmt::Debug for Pieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces")
            .field("source", &self.source)
            .field("ended", &self.ended)
            .field("workers", &self.workers)
            .field("jobs", &self.jobs)
            .finish()
    }
}

/// What getting the next piece did.
enum Step {
    /// Decoded straight into the caller's buffer: this many bytes.
    Served(usize),
    /// Decoded into `Pieces::cur`.
    Filled,
    /// No pieces are left.
    Finished,
}

impl std::fmt::Debug for GzipReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipReader")
            .field("members", &self.members)
            .field("state", &self.state)
            .field("member_len", &self.member_len)
            .finish()
    }
}

impl<'a> GzipReader<'a> {
    /// A decoder reading the gzip stream from `src`.
    pub fn new(src: impl Read + Send + 'a) -> GzipReader<'a> {
        GzipReader {
            src: Box::new(src),
            input: vec![0; IN_BYTES],
            ipos: 0,
            iend: 0,
            src_done: false,
            overrun: 0,
            bits: 0,
            nbits: 0,
            // Allocated when a stream is first decoded: pieces never need it.
            out: Vec::new(),
            rpos: 0,
            wpos: 0,
            acc: 0,
            member_len: 0,
            crc: libdeflater::Crc::new(),
            state: State::Member,
            last_block: false,
            litlen: Vec::new(),
            dist: Vec::new(),
            members: 0,
            base: 0,
            threads: 1,
            pieces: None,
            whole: 0,
            failed: None,
        }
    }

    /// Whether the stream is being decoded in independent pieces (a piece index, BGZF or mgzip
    /// members) rather than as one serial stream, as far as it was read (a member's header
    /// tells).
    pub fn in_pieces(&self) -> bool {
        self.state == State::Pieces || self.whole > 0
    }

    /// How many independent pieces (segments of a piece index, sized members) were decoded
    /// whole so far; the rest of the stream was decoded serially.
    pub fn pieces_decoded(&self) -> u64 {
        self.whole
    }

    /// The worker threads decoding pieces ahead of the reader (0: the reading thread decodes
    /// them, or none were met yet).
    pub fn worker_threads(&self) -> usize {
        self.pieces.as_ref().and_then(|p| p.workers.as_ref()).map_or(0, Workers::count)
    }

    /// Decodes independent pieces (those a piece index records, as ctprep writes them, and
    /// BGZF or mgzip members) on `threads` worker threads ahead of the reader, at most one piece
    /// (4-8 MiB decoded) per thread in flight; 0 or 1 decodes them on the reading thread, as
    /// [`GzipReader::new`] does. Other streams are decoded serially either way.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> GzipReader<'a> {
        self.set_threads(threads);
        self
    }

    /// [`GzipReader::threads`] on a reader in place; it applies from the next member.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Reads more input after the unread bytes (moved to the front, keeping eight bytes
    /// before them so that whole bytes can go back from the bit buffer). Returns whether any came.
    fn fill(&mut self) -> io::Result<bool> {
        if self.src_done {
            return Ok(false);
        }
        let keep = self.ipos.saturating_sub(8);
        if keep > 0 {
            self.input.copy_within(keep..self.iend, 0);
            self.ipos -= keep;
            self.iend -= keep;
        }
        // Back to the usual size after a member was put back (`unread`).
        if self.input.len() > IN_BYTES && self.iend <= IN_BYTES / 2 {
            self.input.truncate(IN_BYTES);
            self.input.shrink_to_fit();
        }
        loop {
            match self.src.read(&mut self.input[self.iend..]) {
                Ok(0) => {
                    self.src_done = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.iend += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// At least `n` unread input bytes when the input has them (fewer only at its end).
    fn want_input(&mut self, n: usize) -> io::Result<()> {
        while self.iend - self.ipos < n && self.fill()? {}
        Ok(())
    }

    /// Fills the bit buffer to at least 56 bits: a word at a time where eight input bytes are
    /// at hand, else byte by byte, with zero bytes past the end of the input (counted: using
    /// them is a truncated stream, found when the member ends or the overrun grows).
    #[inline(always)]
    fn refill(&mut self) -> io::Result<()> {
        if self.iend - self.ipos >= 8 {
            let word = u64::from_le_bytes(self.input[self.ipos..self.ipos + 8].try_into().unwrap_or([0; 8]));
            self.bits |= word << self.nbits;
            self.ipos += ((63 - self.nbits) >> 3) as usize;
            self.nbits |= 56;
            return Ok(());
        }
        self.refill_slow()
    }

    #[cold]
    fn refill_slow(&mut self) -> io::Result<()> {
        while self.nbits <= 56 {
            if self.ipos == self.iend && !self.fill()? {
                self.overrun += 1;
                if self.overrun > 16 {
                    return Err(truncated());
                }
            } else {
                self.bits |= u64::from(self.input[self.ipos]) << self.nbits;
                self.ipos += 1;
            }
            self.nbits += 8;
        }
        Ok(())
    }

    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let v = (self.bits & ((1u64 << n) - 1)) as u32;
        self.bits >>= n;
        self.nbits -= n;
        v
    }

    /// `n` bits (at most 32), refilling first.
    fn bits(&mut self, n: u32) -> io::Result<u32> {
        if self.nbits < n {
            self.refill()?;
        }
        Ok(self.take(n))
    }

    /// Gives the whole bytes left in the bit buffer back to the input (dropping the bits of a
    /// partial byte), so that byte-aligned reads continue where the bits stopped.
    fn align(&mut self) -> io::Result<()> {
        let drop = self.nbits % 8;
        self.take(drop);
        let back = (self.nbits / 8) as usize;
        if back < self.overrun {
            return Err(truncated());
        }
        self.ipos -= back - self.overrun;
        self.overrun = 0;
        self.bits = 0;
        self.nbits = 0;
        Ok(())
    }

    fn byte(&mut self) -> io::Result<u8> {
        self.want_input(1)?;
        if self.ipos == self.iend {
            return Err(truncated());
        }
        self.ipos += 1;
        Ok(self.input[self.ipos - 1])
    }

    /// A member's header; `false` at the end of the input (no more members).
    fn member_header(&mut self) -> io::Result<bool> {
        self.want_input(10)?;
        if self.ipos == self.iend {
            // No input at all is no gzip stream (gzip and zlib say so too).
            return if self.members == 0 {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the gzip stream is empty"))
            } else {
                Ok(false)
            };
        }
        if self.iend - self.ipos < 10 {
            return Err(truncated());
        }
        let h: [u8; 10] = self.input[self.ipos..self.ipos + 10].try_into().unwrap_or([0; 10]);
        if h[0] != 0x1f || h[1] != 0x8b {
            return Err(bad(if self.members == 0 {
                "not a gzip stream (no 1f 8b magic)".to_owned()
            } else {
                "bytes after the last gzip member that are not another member".to_owned()
            }));
        }
        if h[2] != 8 {
            return Err(bad(format!("gzip compression method {} (only 8, deflate, exists)", h[2])));
        }
        let flags = h[3];
        if flags & 0xe0 != 0 {
            return Err(bad(format!("gzip header flags {flags:#04x}: reserved bits set")));
        }
        self.ipos += 10;
        let mut segments = None;
        if flags & 0x04 != 0 {
            let xlen = usize::from(self.byte()?) | usize::from(self.byte()?) << 8;
            let mut extra = Vec::with_capacity(xlen);
            for _ in 0..xlen {
                extra.push(self.byte()?);
            }
            segments = index::parse(&extra);
        }
        for flag in [0x08, 0x10] {
            if flags & flag != 0 {
                while self.byte()? != 0 {}
            }
        }
        if flags & 0x02 != 0 {
            self.byte()?;
            self.byte()?;
        }
        self.start_member_stream();
        if let Some(segments) = segments {
            self.start_pieces(PieceSource::Index { segments, next: 0 }, After::IndexTail);
        }
        Ok(true)
    }

    /// A member's deflate stream begins (its header read).
    fn start_member_stream(&mut self) {
        self.members += 1;
        self.member_len = 0;
        self.crc = libdeflater::Crc::new();
        self.last_block = false;
        self.base = self.wpos;
    }

    fn start_pieces(&mut self, source: PieceSource, after: After) {
        let recycled = self.pieces.take();
        let p = match recycled {
            Some(mut p) => {
                p.source = source;
                p.after = after;
                p.ended = false;
                p.len = 0;
                p.pos = 0;
                p.crc = 0;
                p.total = 0;
                p.jobs = 0;
                p
            }
            None => Box::new(Pieces {
                source,
                ended: false,
                after,
                workers: None,
                serial: None,
                cur: Job::default(),
                len: 0,
                pos: 0,
                spare: Vec::new(),
                jobs: 0,
                crc: 0,
                total: 0,
                failed: None,
                no_workers: false,
            }),
        };
        self.pieces = Some(p);
        self.state = State::Pieces;
    }

    /// Moves exactly `n` bytes of input (buffered first, then from the source) to the end of `dst`.
    fn take_input(&mut self, n: usize, dst: &mut Vec<u8>) -> io::Result<()> {
        debug_assert!(self.ipos <= self.iend);
        let buffered = n.min(self.iend.saturating_sub(self.ipos));
        dst.extend_from_slice(&self.input[self.ipos..self.ipos + buffered]);
        self.ipos += buffered;
        let start = dst.len();
        dst.resize(start + n - buffered, 0);
        let mut at = start;
        while at < dst.len() {
            match self.src.read(&mut dst[at..]) {
                Ok(0) => {
                    dst.truncate(at);
                    return Err(truncated());
                }
                Ok(k) => at += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Puts `bytes` back before the unread input.
    fn unread(&mut self, bytes: &[u8]) {
        let rest = self.iend - self.ipos;
        // Room to read into after them (`fill` shrinks the buffer again once they are used).
        let mut input = vec![0; bytes.len() + rest + IN_BYTES];
        input[..bytes.len()].copy_from_slice(bytes);
        input[bytes.len()..bytes.len() + rest].copy_from_slice(&self.input[self.ipos..self.iend]);
        self.input = input;
        self.ipos = 0;
        self.iend = bytes.len() + rest;
    }

    /// The header length and total size of the member at the input's position when its header
    /// is at hand and gives its size (BGZF's `BC`, mgzip's `IG` subfield) small enough to hold.
    fn sized_member(&mut self) -> io::Result<Option<(usize, usize)>> {
        // Only as much input as the header needs (names of up to 1 KiB), so that a reader on a
        // pipe is not kept waiting for more.
        self.want_input(12)?;
        let h = &self.input[self.ipos..self.iend];
        if h.len() < 12 || h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || h[3] & 0xe4 != 0x04 {
            return Ok(None);
        }
        let xlen = usize::from(u16::from_le_bytes([h[10], h[11]]));
        self.want_input(12 + xlen + 1024)?;
        let h = &self.input[self.ipos..self.iend];
        let flags = h[3];
        let Some(extra) = h.get(12..12 + xlen) else { return Ok(None) };
        let mut total = None;
        let mut rest = extra;
        while rest.len() >= 4 {
            let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
            let Some(data) = rest.get(4..4 + len) else { return Ok(None) };
            total = match (&rest[..2], data.len()) {
                (b"BC", 2) => Some(usize::from(u16::from_le_bytes([data[0], data[1]])) + 1),
                (b"IG", 4) => Some(u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize),
                _ => total,
            };
            rest = &rest[4 + len..];
        }
        let mut hlen = 12 + xlen;
        for flag in [0x08, 0x10] {
            if flags & flag != 0 {
                let Some(nul) = h.get(hlen..).and_then(|t| t.iter().position(|&b| b == 0)) else { return Ok(None) };
                hlen += nul + 1;
            }
        }
        if flags & 0x02 != 0 {
            hlen += 2;
        }
        if hlen > h.len() {
            return Ok(None);
        }
        // A member compressed more than 4 MiB may decode to 4 GiB or more, which its trailer's
        // length (mod 2^32) cannot tell: such members are streamed.
        let fits = |t: usize| t >= hlen + 8 && t - hlen <= MAX_WHOLE_MEMBER;
        Ok(total.filter(|&t| fits(t)).map(|t| (hlen, t)))
    }

    /// Fills `job` (its buffers reused) with the next job of the pieces' source, its input
    /// read; `false` when the source is done.
    fn fill_job(&mut self, p: &mut Pieces, job: &mut Job) -> io::Result<bool> {
        if p.ended {
            return Ok(false);
        }
        job.clear();
        job.number = p.jobs;
        match &mut p.source {
            PieceSource::Index { segments, next } => {
                let Some(&seg) = segments.get(*next) else {
                    p.ended = true;
                    return Ok(false);
                };
                *next += 1;
                self.take_input(seg.comp as usize, &mut job.input)?;
                job.input.extend_from_slice(&FINAL_BLOCK);
                job.parts.push(Part { comp: seg.comp as usize + FINAL_BLOCK.len(), raw: seg.raw as usize, crc: None });
            }
            PieceSource::Members => {
                while job.raw() < crate::FRAGMENT_BYTES {
                    let Some((hlen, total)) = self.sized_member()? else {
                        p.ended = true;
                        break;
                    };
                    self.ipos += hlen;
                    let start = job.input.len();
                    let whole = match self.take_input(total - hlen, &mut job.input) {
                        Ok(()) => true,
                        // The input ends before the size the header gives: the member is streamed,
                        // which tells a truncated member from a wrong size.
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
                        Err(e) => return Err(e),
                    };
                    let (crc, raw) = match job.input[job.input.len().saturating_sub(8)..] {
                        [a, b, c, d, e, f, g, h] if whole => {
                            (u32::from_le_bytes([a, b, c, d]), u32::from_le_bytes([e, f, g, h]) as usize)
                        }
                        _ => (0, usize::MAX),
                    };
                    if raw as u64 > index::MAX_SEGMENT {
                        // Too large to hold decoded, or cut short: this member is streamed, after
                        // the pieces.
                        let member = job.input.split_off(start);
                        self.unread(&member);
                        self.start_member_stream();
                        p.after = After::Block;
                        p.ended = true;
                        break;
                    }
                    job.input.truncate(job.input.len() - 8);
                    job.parts.push(Part { comp: total - hlen - 8, raw, crc: Some(crc) });
                    self.members += 1;
                }
                if job.parts.is_empty() {
                    return Ok(false);
                }
            }
        }
        p.jobs += 1;
        Ok(true)
    }

    /// Makes the next piece ready: decoded into `dst` when it fits there and no thread
    /// decodes ahead, else into the pieces' current job.
    fn next_piece(&mut self, dst: &mut [u8]) -> io::Result<Step> {
        let mut p = self.pieces.take().ok_or_else(|| bad("no pieces"))?;
        let r = self.next_piece_of(&mut p, dst);
        self.pieces = Some(p);
        r
    }

    fn next_piece_of(&mut self, p: &mut Pieces, dst: &mut [u8]) -> io::Result<Step> {
        // Threads asked for after the first pieces (`set_threads` once a header is read) apply
        // from the next piece: pieces are independent.
        if p.workers.is_none() && self.threads > 1 && !p.no_workers {
            p.workers = Workers::start(self.threads);
            // None could start: the reading thread decodes, without trying again.
            p.no_workers = p.workers.is_none();
        }
        let job = match p.workers.take() {
            Some(mut w) => {
                let job = self.dispatch_and_receive(p, &mut w);
                p.workers = Some(w);
                match job? {
                    Some(job) => job,
                    None => return Ok(Step::Finished),
                }
            }
            None => {
                // One job's buffers serve on this thread: the current one is given out.
                let mut job = std::mem::take(&mut p.cur);
                (p.len, p.pos) = (0, 0);
                if !self.fill_job(p, &mut job)? {
                    p.cur = job;
                    return Ok(Step::Finished);
                }
                let d = p.serial.get_or_insert_with(Decoder::new);
                let raw = job.raw();
                if raw <= dst.len() && raw > 0 {
                    let crc = job.decode_into(d, &mut dst[..raw]).map_err(bad)?;
                    self.whole += job.parts.len() as u64;
                    p.crc = zlib_rs::crc32::crc32_combine(p.crc, crc, raw as u64);
                    p.total += raw as u64;
                    p.cur = job;
                    return Ok(Step::Served(raw));
                }
                job.decode_in_place(d);
                job
            }
        };
        let raw = job.raw();
        let crc = match &job.result {
            Some(Ok(crc)) => *crc,
            Some(Err(why)) => return Err(bad(why.clone())),
            None => return Err(bad("a piece was not decoded")),
        };
        self.whole += job.parts.len() as u64;
        p.crc = zlib_rs::crc32::crc32_combine(p.crc, crc, raw as u64);
        p.total += raw as u64;
        let old = std::mem::replace(&mut p.cur, job);
        if old.out.capacity() > 0 || old.input.capacity() > 0 {
            p.spare.push(old);
        }
        p.len = raw;
        p.pos = 0;
        Ok(Step::Filled)
    }

    /// Keeps every worker busy, then takes the oldest job back; `None` when none is left.
    fn dispatch_and_receive(&mut self, p: &mut Pieces, w: &mut Workers) -> io::Result<Option<Job>> {
        while w.in_flight() < w.count() && p.failed.is_none() {
            let mut job = p.spare.pop().unwrap_or_default();
            match self.fill_job(p, &mut job) {
                Ok(true) => w.send(job)?,
                Ok(false) => {
                    p.spare.push(job);
                    break;
                }
                // Reported once the pieces before it are given out.
                Err(e) => p.failed = Some(e),
            }
        }
        if w.in_flight() == 0 {
            return p.failed.take().map_or(Ok(None), Err);
        }
        w.receive().map(Some)
    }

    /// The pieces are over: continue with what follows them.
    fn end_pieces(&mut self) {
        let Some(p) = self.pieces.as_ref() else { return };
        self.state = match p.after {
            After::IndexTail => {
                // The rest of the member's stream starts with an empty history.
                self.member_len = p.total;
                self.crc = libdeflater::Crc::with_initial(p.crc);
                self.base = self.wpos;
                State::Block
            }
            After::Member => State::Member,
            After::Block => State::Block,
        };
    }

    /// Gives out decoded pieces: `None` when the pieces are over (the state moved on).
    fn read_pieces(&mut self, dst: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            if let Some(p) = self.pieces.as_mut()
                && p.pos < p.len
            {
                let n = dst.len().min(p.len - p.pos);
                dst[..n].copy_from_slice(&p.cur.out[p.pos..p.pos + n]);
                p.pos += n;
                return Ok(Some(n));
            }
            match self.next_piece(dst)? {
                Step::Served(n) => return Ok(Some(n)),
                Step::Filled => {}
                Step::Finished => {
                    self.end_pieces();
                    return Ok(None);
                }
            }
        }
    }

    fn trailer(&mut self) -> io::Result<()> {
        self.align()?;
        let mut t = [0u8; 8];
        for b in &mut t {
            *b = self.byte()?;
        }
        let (crc, isize) = (u32::from_le_bytes([t[0], t[1], t[2], t[3]]), u32::from_le_bytes([t[4], t[5], t[6], t[7]]));
        if isize != self.member_len as u32 {
            return Err(bad(format!(
                "gzip member {}: its trailer says {} bytes (mod 2^32), {} were decoded",
                self.members, isize, self.member_len
            )));
        }
        if crc != self.crc.sum() {
            return Err(bad(format!("gzip member {}: CRC-32 mismatch (corrupt data)", self.members)));
        }
        Ok(())
    }

    /// A block's header: the stored length, or the tables of a compressed block.
    fn block_header(&mut self) -> io::Result<()> {
        self.want_input(1 << 10)?;
        self.last_block = self.bits(1)? == 1;
        match self.bits(2)? {
            0 => {
                self.align()?;
                let mut h = [0u8; 4];
                for b in &mut h {
                    *b = self.byte()?;
                }
                let (len, nlen) = (u16::from_le_bytes([h[0], h[1]]), u16::from_le_bytes([h[2], h[3]]));
                if len != !nlen {
                    return Err(bad("a stored block's length and its complement disagree (corrupt data)"));
                }
                self.state = State::Stored(usize::from(len));
            }
            1 => {
                let mut lens = [0u8; 320];
                lens[..144].fill(8);
                lens[144..256].fill(9);
                lens[256..280].fill(7);
                lens[280..288].fill(8);
                lens[288..320].fill(5);
                self.tables(&lens[..288], &lens[288..])?;
                self.state = State::Codes;
            }
            2 => {
                self.dynamic_header()?;
                self.state = State::Codes;
            }
            _ => return Err(bad("a deflate block of type 3 (reserved: corrupt data)")),
        }
        Ok(())
    }

    fn dynamic_header(&mut self) -> io::Result<()> {
        let hlit = self.bits(5)? as usize + 257;
        let hdist = self.bits(5)? as usize + 1;
        let hclen = self.bits(4)? as usize + 4;
        if hlit > 286 || hdist > 30 {
            return Err(bad(format!("a block declares {hlit} length codes and {hdist} distance codes (corrupt data)")));
        }
        let mut clen = [0u8; 19];
        for &i in &CLEN_ORDER[..hclen] {
            clen[i] = self.bits(3)? as u8;
        }
        let ctable = build(&clen, 7, |s| (s as u32) << 16 | LITERAL)?;
        let mut lens = [0u8; 316];
        let mut i = 0;
        while i < hlit + hdist {
            if self.nbits < 16 {
                self.refill()?;
            }
            let e = ctable[(self.bits & 0x7f) as usize];
            if e == 0 {
                return Err(bad("an unused code-length code (corrupt data)"));
            }
            self.take(e & 0x1f);
            let sym = (e >> 16) as u8;
            let (value, repeat) = match sym {
                0..=15 => (sym, 1),
                16 => {
                    if i == 0 {
                        return Err(bad("a repeat of the previous code length at the first one (corrupt data)"));
                    }
                    (lens[i - 1], 3 + self.bits(2)? as usize)
                }
                17 => (0, 3 + self.bits(3)? as usize),
                _ => (0, 11 + self.bits(7)? as usize),
            };
            if i + repeat > hlit + hdist {
                return Err(bad("code lengths run past the codes' count (corrupt data)"));
            }
            lens[i..i + repeat].fill(value);
            i += repeat;
        }
        if lens[256] == 0 {
            return Err(bad("a block without an end-of-block code (corrupt data)"));
        }
        let (ll, dl) = lens[..hlit + hdist].split_at(hlit);
        self.tables(ll, dl)
    }

    fn tables(&mut self, litlen: &[u8], dist: &[u8]) -> io::Result<()> {
        self.litlen = build(litlen, LITLEN_BITS, |s| match s {
            0..=255 => (s as u32) << 16 | LITERAL,
            256 => END,
            257..=285 => u32::from(LENGTH_BASE[s - 257]) << 16 | u32::from(LENGTH_EXTRA[s - 257]) << 8,
            _ => 0,
        })?;
        self.dist = build(dist, DIST_BITS, |s| match s {
            0..=29 => u32::from(DIST_BASE[s]) << 16 | u32::from(DIST_EXTRA[s]) << 8,
            _ => 0,
        })?;
        Ok(())
    }

    /// Decodes symbols of the current block until it ends or `out_end` is reached:
    /// the fast loop while 16 input bytes are at hand (state in locals, the bit buffer refilled
    /// a word at a time, two literals per refill where the table allows), then symbol by
    /// symbol with careful refills near the end of the input.
    fn codes(&mut self, out_end: usize) -> io::Result<()> {
        loop {
            if self.iend - self.ipos < 16 {
                self.want_input(IN_BYTES / 2)?;
            }
            if self.iend - self.ipos >= 16 {
                match self.codes_fast(out_end)? {
                    Some(done) => {
                        if done {
                            self.state = if self.last_block { State::Trailer } else { State::Block };
                        }
                        return Ok(());
                    }
                    None => continue,
                }
            }
            // Near the end of the input: one symbol, carefully.
            if self.wpos >= out_end {
                return Ok(());
            }
            if self.symbol_slow()? {
                self.state = if self.last_block { State::Trailer } else { State::Block };
                return Ok(());
            }
        }
    }

    /// The fast loop ([`fast_loop`]) on this decoder's state.
    fn codes_fast(&mut self, out_end: usize) -> io::Result<Option<bool>> {
        if self.litlen.len() < 1 << LITLEN_BITS || self.dist.len() < 1 << DIST_BITS {
            return Err(bad("no decoding tables"));
        }
        let mut regs = Regs { bits: self.bits, nbits: self.nbits, ipos: self.ipos, wpos: self.wpos };
        // Where the member starts in the buffer (0: before it): no match reaches further back.
        let start = self.base;
        let r = fast_loop(&mut regs, &self.input[..self.iend], &mut self.out, out_end, &self.litlen, &self.dist, start);
        (self.bits, self.nbits, self.ipos, self.wpos) = (regs.bits, regs.nbits, regs.ipos, regs.wpos);
        r
    }

    /// One symbol (a literal, a match or the end of the block) with careful refills; `true` at
    /// the end of the block.
    fn symbol_slow(&mut self) -> io::Result<bool> {
        self.refill()?;
        let mut e = self.litlen[(self.bits & ((1 << LITLEN_BITS) - 1)) as usize];
        if e & LITERAL == 0 && e & SUBTABLE != 0 {
            self.take(LITLEN_BITS);
            e = self.litlen[(e >> 16) as usize + (self.bits & ((1 << ((e >> 8) & 0x1f)) - 1)) as usize];
        }
        if e == 0 {
            return Err(bad("an invalid literal/length code (corrupt data)"));
        }
        let extra = self.take(e & 0x1f) >> ((e >> 8) & 0x1f);
        if e & LITERAL != 0 {
            self.out[self.wpos] = (e >> 16) as u8;
            self.wpos += 1;
            return Ok(false);
        }
        if e & END != 0 {
            return Ok(true);
        }
        let len = (e >> 16) as usize + extra as usize;
        self.refill()?;
        let mut d = self.dist[(self.bits & ((1 << DIST_BITS) - 1)) as usize];
        if d & SUBTABLE != 0 {
            self.take(DIST_BITS);
            d = self.dist[(d >> 16) as usize + (self.bits & ((1 << ((d >> 8) & 0x1f)) - 1)) as usize];
        }
        if d == 0 {
            return Err(bad("an invalid distance code (corrupt data)"));
        }
        let dist = (d >> 16) as usize + (self.take(d & 0x1f) >> ((d >> 8) & 0x1f)) as usize;
        let start = self.base;
        if dist > self.wpos - start {
            return Err(bad(format!("a match {dist} bytes back, before the start of the data (corrupt data)")));
        }
        copy_match(&mut self.out, self.wpos, dist, len);
        self.wpos += len;
        Ok(false)
    }

    /// Copies stored bytes until `out_end`.
    fn stored(&mut self, left: usize, out_end: usize) -> io::Result<()> {
        let mut left = left;
        while left > 0 && self.wpos < out_end {
            self.want_input(1)?;
            let have = self.iend - self.ipos;
            if have == 0 {
                return Err(truncated());
            }
            let n = left.min(have).min(out_end - self.wpos);
            self.out[self.wpos..self.wpos + n].copy_from_slice(&self.input[self.ipos..self.ipos + n]);
            self.ipos += n;
            self.wpos += n;
            left -= n;
        }
        self.state = match (left, self.last_block) {
            (0, true) => State::Trailer,
            (0, false) => State::Block,
            (n, _) => State::Stored(n),
        };
        Ok(())
    }

    /// Decodes until there are bytes to give out or the stream is over, about `want` of them
    /// (at least a window's worth), so that an error lies in the read that reaches it.
    fn decode(&mut self, want: usize) -> io::Result<()> {
        while self.rpos == self.wpos && self.state != State::Done {
            if self.out.is_empty() && !matches!(self.state, State::Member | State::Pieces) {
                self.out = vec![0; WINDOW + CHUNK + SLACK];
            }
            if !self.out.is_empty() && self.wpos >= self.out.len() - SLACK {
                // Keep the window, move it to the front (every byte is counted and given out).
                let from = self.wpos - WINDOW;
                self.out.copy_within(from..self.wpos, 0);
                self.wpos -= from;
                self.rpos -= from;
                self.acc -= from;
                self.base = self.base.saturating_sub(from);
            }
            match self.state {
                State::Member => {
                    if self.sized_member()?.is_some() {
                        self.start_pieces(PieceSource::Members, After::Member);
                        return Ok(());
                    }
                    if !self.member_header()? {
                        self.state = State::Done;
                    } else if self.state == State::Member {
                        self.state = State::Block;
                    }
                }
                State::Pieces => return Ok(()),
                State::Block => self.block_header()?,
                State::Codes => self.codes(self.out_end(want))?,
                State::Stored(n) => self.stored(n, self.out_end(want))?,
                State::Trailer => {
                    self.trailer()?;
                    self.state = State::Member;
                }
                State::Done => {}
            }
            self.account();
        }
        Ok(())
    }

    /// Where decoding about `want` bytes stops.
    fn out_end(&self, want: usize) -> usize {
        (self.wpos + want.max(WINDOW)).min(self.out.len() - SLACK)
    }

    /// Counts the bytes decoded since the last call into the member's length and CRC.
    fn account(&mut self) {
        if self.acc < self.wpos {
            self.crc.update(&self.out[self.acc..self.wpos]);
            self.member_len += (self.wpos - self.acc) as u64;
            self.acc = self.wpos;
        }
    }
}

impl Read for GzipReader<'_> {
    /// After an error every read gives that error again: the stream does not go on past it.
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, why)) = &self.failed {
            return Err(io::Error::new(*kind, why.clone()));
        }
        let r = self.read_inner(dst);
        if let Err(e) = &r
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.failed = Some((e.kind(), e.to_string()));
        }
        r
    }
}

impl GzipReader<'_> {
    fn read_inner(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        loop {
            if self.state == State::Pieces {
                if let Some(n) = self.read_pieces(dst)? {
                    return Ok(n);
                }
                continue;
            }
            self.decode(dst.len())?;
            if self.state != State::Pieces || self.rpos < self.wpos {
                break;
            }
        }
        let n = dst.len().min(self.wpos - self.rpos);
        dst[..n].copy_from_slice(&self.out[self.rpos..self.rpos + n]);
        self.rpos += n;
        Ok(n)
    }
}

/// The registers of the fast loop.
struct Regs {
    bits: u64,
    nbits: u32,
    ipos: usize,
    wpos: usize,
}

/// The fast loop over `input` (its end: the end of the bytes read) into `out` up to `out_end`:
/// `Some(true)` at the end of the block, `Some(false)` when `out_end` is reached, `None` when
/// fewer than 16 input bytes are left. Compiled for BMI2 too (its `shrx` shifts by a register
/// without touching the flags: 8 % faster here), chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt", "x86_64+bmi1+bmi2"))]
fn fast_loop(
    r: &mut Regs,
    input: &[u8],
    out: &mut [u8],
    out_end: usize,
    litlen: &[u32],
    dist_table: &[u32],
    start: usize,
) -> io::Result<Option<bool>> {
    let (mut bits, mut nbits, mut ipos, mut wpos) = (r.bits, r.nbits, r.ipos, r.wpos);
    let iend = input.len();
    let Ok(lit_main) = <&[u32; 1 << LITLEN_BITS]>::try_from(&litlen[..1 << LITLEN_BITS]) else {
        return Err(bad("no literal/length table"));
    };
    let Ok(dist_main) = <&[u32; 1 << DIST_BITS]>::try_from(&dist_table[..1 << DIST_BITS]) else {
        return Err(bad("no distance table"));
    };
    macro_rules! refill {
        () => {
            let word = u64::from_le_bytes(input[ipos..ipos + 8].try_into().unwrap_or([0; 8]));
            bits |= word << nbits;
            ipos += ((63 - nbits) >> 3) as usize;
            nbits |= 56;
        };
    }
    let result = loop {
        if ipos + 16 > iend {
            break Ok(None);
        }
        if wpos >= out_end {
            break Ok(Some(false));
        }
        refill!();
        let mut e = lit_main[(bits & ((1 << LITLEN_BITS) - 1)) as usize];
        if e & LITERAL == 0 && e & SUBTABLE != 0 {
            bits >>= LITLEN_BITS;
            nbits -= LITLEN_BITS;
            e = litlen[(e >> 16) as usize + (bits & ((1 << ((e >> 8) & 0x1f)) - 1)) as usize];
        }
        if e & LITERAL != 0 {
            bits >>= e & 0x1f;
            nbits -= e & 0x1f;
            out[wpos] = (e >> 16) as u8;
            wpos += 1;
            // At least 41 bits are left: two more literals need no refill.
            let e2 = lit_main[(bits & ((1 << LITLEN_BITS) - 1)) as usize];
            if e2 & LITERAL != 0 {
                bits >>= e2 & 0x1f;
                nbits -= e2 & 0x1f;
                out[wpos] = (e2 >> 16) as u8;
                wpos += 1;
                let e3 = lit_main[(bits & ((1 << LITLEN_BITS) - 1)) as usize];
                if e3 & LITERAL != 0 {
                    bits >>= e3 & 0x1f;
                    nbits -= e3 & 0x1f;
                    out[wpos] = (e3 >> 16) as u8;
                    wpos += 1;
                }
            }
            continue;
        }
        if e == 0 {
            break Err(bad("an invalid literal/length code (corrupt data)"));
        }
        if e & END != 0 {
            bits >>= e & 0x1f;
            nbits -= e & 0x1f;
            break Ok(Some(true));
        }
        // A length and its extra bits in one shift (at most 20 bits: 36 are left).
        let saved = bits;
        bits >>= e & 0x1f;
        nbits -= e & 0x1f;
        let len = (e >> 16) as usize + ((saved & ((1u64 << (e & 0x1f)) - 1)) >> ((e >> 8) & 0x1f)) as usize;
        let mut d = dist_main[(bits & ((1 << DIST_BITS) - 1)) as usize];
        if d & SUBTABLE != 0 {
            bits >>= DIST_BITS;
            nbits -= DIST_BITS;
            d = dist_table[(d >> 16) as usize + (bits & ((1 << ((d >> 8) & 0x1f)) - 1)) as usize];
        }
        if d == 0 {
            break Err(bad("an invalid distance code (corrupt data)"));
        }
        let saved = bits;
        bits >>= d & 0x1f;
        nbits -= d & 0x1f;
        let dist = (d >> 16) as usize + ((saved & ((1u64 << (d & 0x1f)) - 1)) >> ((d >> 8) & 0x1f)) as usize;
        if dist > wpos - start {
            break Err(bad(format!("a match {dist} bytes back, before the start of the data (corrupt data)")));
        }
        copy_match(out, wpos, dist, len);
        wpos += len;
    };
    (r.bits, r.nbits, r.ipos, r.wpos) = (bits, nbits, ipos, wpos);
    result
}

/// Copies `len` bytes from `dist` back to `at`, eight bytes at a time (the buffer has
/// [`SLACK`] bytes of room past `at + len`, which the last word may overwrite). A distance
/// under 8 repeats a pattern: after its first bytes, every byte equals the one a multiple of
/// the distance of at least 8 back, so the words copy from there.
#[inline(always)]
fn copy_match(out: &mut [u8], at: usize, dist: usize, len: usize) {
    let mut i = 0;
    let step = if dist >= 8 {
        dist
    } else if dist == 1 {
        let b = out[at - 1];
        out[at..at + len].fill(b);
        return;
    } else {
        let step = dist * 8usize.div_ceil(dist);
        while i < step.min(len) {
            out[at + i] = out[at + i - dist];
            i += 1;
        }
        step
    };
    if i == 0 && step >= 16 {
        // Most matches are short: 16 bytes at once cover them without a loop branch.
        let w: [u8; 16] = out[at - step..at - step + 16].try_into().unwrap_or([0; 16]);
        out[at..at + 16].copy_from_slice(&w);
        i = 16;
    }
    while i < len {
        let w: [u8; 8] = out[at + i - step..at + i - step + 8].try_into().unwrap_or([0; 8]);
        out[at + i..at + i + 8].copy_from_slice(&w);
        i += 8;
    }
}

/// The decoding table of the canonical Huffman code with code lengths `lens` (0: unused): a
/// main table of `2^bits` entries indexed by the next `bits` input bits, then subtables for
/// longer codes. `payload(symbol)` gives an entry's flags, extra bits and value; the codeword
/// length is added. A code that is over-subscribed, or incomplete beyond a lone one-bit code,
/// is corrupt data.
fn build(lens: &[u8], bits: u32, payload: impl Fn(usize) -> u32) -> io::Result<Vec<u32>> {
    let mut count = [0u32; 16];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let max = (1..16).rev().find(|&l| count[l] > 0).unwrap_or(0);
    let mut left: i64 = 1;
    for &c in &count[1..] {
        left = (left << 1) - i64::from(c);
        if left < 0 {
            return Err(bad("an over-subscribed Huffman code (corrupt data)"));
        }
    }
    let used: u32 = count.iter().sum();
    if left > 0 && !(used <= 1 && max <= 1) {
        return Err(bad("an incomplete Huffman code (corrupt data)"));
    }
    // Codes in canonical order: by length, then symbol.
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for l in 1..16 {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    let mut order: Vec<(u8, usize)> = lens.iter().enumerate().filter(|(_, l)| **l > 0).map(|(s, l)| (*l, s)).collect();
    order.sort_unstable();
    let main = 1usize << bits;
    let mut table = vec![0u32; main];
    // Per length, how many codes of that length are still to place (for subtable sizes).
    let mut remaining = count;
    let mut sub_prefix = usize::MAX;
    let (mut sub_start, mut sub_bits) = (0usize, 0u32);
    for (l, s) in order {
        let l32 = u32::from(l);
        let c = next[usize::from(l)];
        next[usize::from(l)] += 1;
        let rev = (c.reverse_bits() >> (32 - l32)) as usize;
        remaining[usize::from(l)] -= 1;
        // A symbol the format does not define (lengths 286-287, distances 30-31) stays 0:
        // decoding it is corrupt data.
        let p = payload(s);
        // The payload names its extra bits in 8-12; the entry holds the codeword's length there.
        let entry = |cw: u32| if p == 0 { 0 } else { (p & !0x1f00) | (cw + ((p >> 8) & 0x1f)) | cw << 8 };
        if l32 <= bits {
            let e = entry(l32);
            let mut i = rev;
            while i < main {
                table[i] = e;
                i += 1 << l;
            }
            continue;
        }
        let prefix = rev & (main - 1);
        if prefix != sub_prefix {
            // A new subtable: as many index bits as the codes sharing this prefix need.
            sub_prefix = prefix;
            // zlib's rule, over the codes still to place (this one included).
            let mut sb = l32 - bits;
            let mut room: i64 = 1 << sb;
            while bits + sb < max as u32 {
                let here = (bits + sb) as usize;
                room -= i64::from(remaining[here]) + i64::from(here == usize::from(l));
                if room <= 0 {
                    break;
                }
                sb += 1;
                room <<= 1;
            }
            sub_bits = sb;
            sub_start = table.len();
            table.resize(sub_start + (1 << sb), 0);
            table[prefix] = (sub_start as u32) << 16 | sub_bits << 8 | SUBTABLE | bits;
        }
        let tail = rev >> bits;
        let e = entry(l32 - bits);
        let mut i = tail;
        while i < 1 << sub_bits {
            table[sub_start + i] = e;
            i += 1 << (l32 - bits);
        }
    }
    Ok(table)
}
