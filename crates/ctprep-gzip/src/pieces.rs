//! Independent pieces of a gzip stream decoded whole by libdeflate, on the reading thread or
//! ahead of it on worker threads: the segments of a member with a piece index ([`crate::index`])
//! and runs of small members whose headers give their size (BGZF, mgzip).

use std::io;
use std::ptr::NonNull;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// The two bytes of an empty final block with fixed codes, appended to a segment (which ends in
/// a sync flush, not a final block) so that libdeflate's whole-stream decoder stops there.
pub(crate) const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// libdeflate's whole-buffer decoder through its `_ex` entry point, which also gives how many
/// input bytes the stream took: a piece must end exactly where its index or header says.
pub(crate) struct Decoder(NonNull<libdeflate_sys::libdeflate_decompressor>);

// SAFETY: a libdeflate decompressor is plain memory with no thread affinity; `&mut self` keeps
// one thread at a time on it.
#[allow(unsafe_code)]
unsafe impl Send for Decoder {}

impl Decoder {
    #[allow(unsafe_code)]
    pub(crate) fn new() -> Decoder {
        // SAFETY: no preconditions; a null return (out of memory) is checked.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Decoder(NonNull::new(p).expect("libdeflate could not allocate a decompressor (out of memory)"))
    }

    /// Decodes the raw deflate stream at the start of `input` into `out`: the input bytes it
    /// took and the bytes it wrote, or why it failed.
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), &'static str> {
        self.run(libdeflate_sys::libdeflate_deflate_decompress_ex, input, out)
    }

    /// Decodes the gzip member at the start of `input` into `out` (its CRC-32 and length
    /// checked), as [`Decoder::decode`].
    fn gzip(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), &'static str> {
        self.run(libdeflate_sys::libdeflate_gzip_decompress_ex, input, out)
    }

    /// One of libdeflate's `_ex` decoders (raw deflate or gzip: the same signature).
    #[allow(unsafe_code)]
    fn run(&mut self, f: ExDecoder, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), &'static str> {
        let (mut took, mut wrote) = (0usize, 0usize);
        // SAFETY: the pointers and lengths come from live slices; libdeflate reads at most
        // `input.len()` bytes and writes at most `out.len()`, and fills the two counts.
        let r = unsafe {
            f(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut took,
                &mut wrote,
            )
        };
        match r {
            libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => Ok((took, wrote)),
            libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                Err("decodes to more bytes than announced")
            }
            _ => Err("corrupt deflate data"),
        }
    }
}

/// The signature of libdeflate's `_ex` decoders.
type ExDecoder = unsafe extern "C" fn(
    *mut libdeflate_sys::libdeflate_decompressor,
    *const std::ffi::c_void,
    usize,
    *mut std::ffi::c_void,
    usize,
    *mut usize,
    *mut usize,
) -> libdeflate_sys::libdeflate_result;

/// A gzip file of one member decoded whole by libdeflate into `out` (its CRC-32 and length
/// checked): the bytes written. `None` when it does not decode, or when the member ends before
/// the file does (more members, or trailing bytes, which a stream reader decodes or refuses):
/// the caller then reads it as a stream, which also names any error.
pub fn decode_one_member_whole(gz: &[u8], out: &mut [u8]) -> Option<usize> {
    let (took, wrote) = Decoder::new().gzip(gz, out).ok()?;
    (took == gz.len()).then_some(wrote)
}

impl Drop for Decoder {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoder")
    }
}

/// One deflate stream of a job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Part {
    /// Its bytes in the job's input.
    pub(crate) comp: usize,
    /// The bytes it decodes to.
    pub(crate) raw: usize,
    /// The CRC-32 its member's trailer gives, checked once decoded (for whole members).
    pub(crate) crc: Option<u32>,
}

/// Compressed parts and the buffer they decode into. Reused: buffers keep their allocations.
#[derive(Debug, Default)]
pub(crate) struct Job {
    pub(crate) input: Vec<u8>,
    pub(crate) parts: Vec<Part>,
    pub(crate) out: Vec<u8>,
    /// Which job of the stream this is (for messages).
    pub(crate) number: u64,
    /// What it decoded to: the CRC-32 of all its output, or why it failed.
    pub(crate) result: Option<Result<u32, String>>,
}

impl Job {
    pub(crate) fn raw(&self) -> usize {
        self.parts.iter().map(|p| p.raw).sum()
    }

    pub(crate) fn clear(&mut self) {
        self.input.clear();
        self.parts.clear();
        self.result = None;
    }

    /// Decodes into `self.out` (grown to the job's size, never shrunk).
    pub(crate) fn decode_in_place(&mut self, d: &mut Decoder) {
        let raw = self.raw();
        if self.out.len() < raw {
            self.out.resize(raw, 0);
        }
        let mut out = std::mem::take(&mut self.out);
        self.result = Some(self.decode_into(d, &mut out[..raw]));
        self.out = out;
    }

    /// Decodes into `out`, exactly the job's size: the CRC-32 of `out`.
    pub(crate) fn decode_into(&self, d: &mut Decoder, out: &mut [u8]) -> Result<u32, String> {
        let (mut at_in, mut at_out, mut crc) = (0, 0, 0u32);
        for (i, p) in self.parts.iter().enumerate() {
            let input = &self.input[at_in..at_in + p.comp];
            let dst = &mut out[at_out..at_out + p.raw];
            let what = || match self.parts.len() {
                1 => format!("piece {}", self.number + 1),
                _ => format!("piece {}, member {}", self.number + 1, i + 1),
            };
            match d.decode(input, dst) {
                Ok((took, n)) if n == p.raw && took == p.comp => {}
                Ok((_, n)) if n != p.raw => {
                    return Err(format!("{}: {n} bytes decoded where {} were announced", what(), p.raw));
                }
                Ok((took, _)) => {
                    return Err(format!(
                        "{}: its deflate data ends after {took} of the {} bytes announced",
                        what(),
                        p.comp
                    ));
                }
                Err(why) => return Err(format!("{}: {why}", what())),
            }
            let part_crc = libdeflater::crc32(dst);
            if p.crc.is_some_and(|c| c != part_crc) {
                return Err(format!("{}: CRC-32 mismatch (corrupt data)", what()));
            }
            crc = if at_out == 0 { part_crc } else { zlib_rs::crc32::crc32_combine(crc, part_crc, p.raw as u64) };
            at_in += p.comp;
            at_out += p.raw;
        }
        Ok(crc)
    }
}

/// Threads that decode jobs ahead of the reader: job `k` goes to worker `k % n`, and comes back
/// from it in order, so each worker holds at most one job and the reader at most `n` in flight.
pub(crate) struct Workers {
    jobs: Vec<SyncSender<Job>>,
    done: Vec<Receiver<Job>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    sent: u64,
    received: u64,
}

impl Workers {
    /// `n` worker threads, or `None` when none could be started.
    pub(crate) fn start(n: usize) -> Option<Workers> {
        let mut w = Workers { jobs: Vec::new(), done: Vec::new(), handles: Vec::new(), sent: 0, received: 0 };
        for _ in 0..n {
            let (job_tx, job_rx) = sync_channel::<Job>(1);
            let (done_tx, done_rx) = sync_channel::<Job>(1);
            let spawned = std::thread::Builder::new().name("ctprep-gunzip".into()).spawn(move || {
                let mut d = Decoder::new();
                for mut job in job_rx {
                    job.decode_in_place(&mut d);
                    if done_tx.send(job).is_err() {
                        return;
                    }
                }
            });
            match spawned {
                Ok(h) => {
                    w.jobs.push(job_tx);
                    w.done.push(done_rx);
                    w.handles.push(h);
                }
                Err(_) => break,
            }
        }
        (!w.jobs.is_empty()).then_some(w)
    }

    pub(crate) fn count(&self) -> usize {
        self.jobs.len()
    }

    pub(crate) fn in_flight(&self) -> usize {
        (self.sent - self.received) as usize
    }

    pub(crate) fn send(&mut self, job: Job) -> io::Result<()> {
        let k = (self.sent % self.jobs.len() as u64) as usize;
        self.jobs[k].send(job).map_err(|_| io::Error::other("a gzip decoding thread stopped"))?;
        self.sent += 1;
        Ok(())
    }

    /// The oldest job in flight, decoded.
    pub(crate) fn receive(&mut self) -> io::Result<Job> {
        let k = (self.received % self.jobs.len() as u64) as usize;
        let job = self.done[k].recv().map_err(|_| io::Error::other("a gzip decoding thread stopped"))?;
        self.received += 1;
        Ok(job)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Closing the channels ends the workers' loops (a worker decoding finishes that job).
        self.jobs.clear();
        self.done.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("threads", &self.jobs.len()).field("in_flight", &self.in_flight()).finish()
    }
}

/// Where a gzip member's header ends, and the piece index it carries, if any.
fn header_and_index(gz: &[u8]) -> Option<(usize, Vec<crate::index::Segment>)> {
    if gz.len() < 10 || gz[..3] != [0x1f, 0x8b, 8] || gz[3] & 0xe0 != 0 {
        return None;
    }
    let flags = gz[3];
    let mut at = 10;
    let mut segments = None;
    if flags & 0x04 != 0 {
        let xlen = usize::from(u16::from_le_bytes([*gz.get(10)?, *gz.get(11)?]));
        segments = crate::index::parse(gz.get(12..12 + xlen)?);
        at = 12 + xlen;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            at += gz.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    Some((at, segments?))
}

/// Decodes `gz`, a whole gzip file of one member carrying a piece index (as ctprep writes
/// them), into `out`, exactly its decoded size, its pieces on rayon's threads; the member's
/// CRC-32 and length are checked. `None` when the file is not such a file or anything does not
/// match: the caller then decodes it another way, which also names the error.
pub fn decode_indexed_whole(gz: &[u8], out: &mut [u8]) -> Option<()> {
    use rayon::prelude::*;
    let (start, segments) = header_and_index(gz)?;
    // The segments, then the empty final stored block and the trailer, and nothing else.
    let comp: u64 = segments.iter().map(|s| s.comp).sum();
    let raw: u64 = segments.iter().map(|s| s.raw).sum();
    let end = start.checked_add(usize::try_from(comp).ok()?)?;
    if raw != out.len() as u64 || gz.get(end..)?.len() != 5 + 8 || gz[end..end + 5] != [1, 0, 0, 0xff, 0xff] {
        return None;
    }
    let mut jobs = Vec::with_capacity(segments.len());
    let (mut at, mut rest) = (start, out);
    for s in &segments {
        let (dst, tail) = std::mem::take(&mut rest).split_at_mut(s.raw as usize);
        jobs.push((&gz[at..at + s.comp as usize], dst));
        at += s.comp as usize;
        rest = tail;
    }
    let crcs: Vec<Option<u32>> = jobs
        .into_par_iter()
        .map_init(Decoder::new, |d, (input, dst)| {
            let mut bytes = Vec::with_capacity(input.len() + FINAL_BLOCK.len());
            bytes.extend_from_slice(input);
            bytes.extend_from_slice(&FINAL_BLOCK);
            match d.decode(&bytes, dst) {
                Ok((took, n)) if took == bytes.len() && n == dst.len() => Some(libdeflater::crc32(dst)),
                _ => None,
            }
        })
        .collect();
    let mut crc = 0u32;
    for (c, s) in crcs.into_iter().zip(&segments) {
        crc = zlib_rs::crc32::crc32_combine(crc, c?, s.raw);
    }
    let t = &gz[end + 5..];
    let (want_crc, want_len) =
        (u32::from_le_bytes([t[0], t[1], t[2], t[3]]), u32::from_le_bytes([t[4], t[5], t[6], t[7]]));
    (crc == want_crc && want_len == raw as u32).then_some(())
}

#[cfg(test)]
mod tests {
    use super::decode_one_member_whole;

    /// One member decodes whole; a second member after it, or trailing bytes, leave the file to
    /// the stream reader (the fuzzer's case: a first member holding the whole volume, then a
    /// corrupt one that the whole-buffer decoder used to ignore).
    #[test]
    fn one_member_whole_or_nothing() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut one = Vec::new();
        crate::write_gzip(&mut one, &[], &data, 6).expect("writes");
        let mut out = vec![0u8; data.len()];
        assert_eq!(decode_one_member_whole(&one, &mut out), Some(data.len()));
        assert_eq!(out, data);
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert_eq!(decode_one_member_whole(&two, &mut out), None);
        let mut trailing = one.clone();
        trailing.push(0);
        assert_eq!(decode_one_member_whole(&trailing, &mut out), None);
        let mut corrupt = one.clone();
        let crc_at = corrupt.len() - 8;
        corrupt[crc_at] ^= 1;
        assert_eq!(decode_one_member_whole(&corrupt, &mut out), None);
    }
}
