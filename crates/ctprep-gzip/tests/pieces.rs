//! Independent pieces decoded whole, on the reading thread or on worker threads: ctprep's own
//! indexed members (whole and streamed writers), BGZF and mgzip members. Each is read against
//! flate2 (which skips the index), on 1-3 threads and in read sizes below and above a piece;
//! forged indexes, corrupt pieces and truncations give an error or the right bytes, never
//! other bytes and never a panic.

use std::io::{Cursor, Read, Write};

use ctprep_gzip::{FRAGMENT_BYTES, GzipMember, GzipReader, PIECE_BYTES, Piece};

mod common;
use common::{read_in_chunks, theirs};

fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 3 {
            0 => v.extend(std::iter::repeat_n((x >> 8) as u8, (x >> 16) as usize % 3000)),
            1 => v.extend((0..(x >> 20) % 64).map(|i| (x >> (i % 56)) as u8)),
            _ => v.extend_from_slice(b"the quick brown fox jumps over the lazy dog "),
        }
    }
    v.truncate(n);
    v
}

fn indexed(prefix: &[u8], d: &[u8], level: u32) -> Vec<u8> {
    let mut gz = Cursor::new(Vec::new());
    ctprep_gzip::write_gzip_indexed(&mut gz, prefix, d, level).expect("writes");
    gz.into_inner()
}

/// Everything `gz` decodes to with `threads`, in reads of `chunk` bytes, and how many pieces
/// were decoded whole.
fn ours(gz: &[u8], threads: usize, chunk: usize) -> std::io::Result<(Vec<u8>, u64)> {
    let mut r = GzipReader::new(gz).threads(threads);
    let out = read_in_chunks(&mut r, chunk)?;
    Ok((out, r.pieces_decoded()))
}

#[test]
fn indexed_members_decode_alike_on_any_thread_count_and_read_size() {
    let head = vec![7u8; 70_000]; // two stored blocks: the prefix is a segment of its own
    let cases = [(0, 1), (100_000, 3), (FRAGMENT_BYTES, 4), (FRAGMENT_BYTES + 1, 2), (2 * PIECE_BYTES + 12_345, 5)];
    for (n, seed) in cases {
        let d = data(n, seed);
        for (prefix, level) in [(&head[..], 1), (&b""[..], 6), (&b"hdr"[..], 0)] {
            let gz = indexed(prefix, &d, level);
            let want = theirs(&gz).expect("flate2 skips the index");
            assert!(want.len() == prefix.len() + n && want[prefix.len()..] == d[..], "n {n} level {level}");
            // One fragment or less is not indexed.
            let fragments = n.div_ceil(FRAGMENT_BYTES) as u64;
            let segments = if n > FRAGMENT_BYTES { u64::from(!prefix.is_empty()) + fragments } else { 0 };
            for threads in [1, 2, 3] {
                for chunk in [4096, 5 << 20, 9 << 20] {
                    let (got, pieces) = ours(&gz, threads, chunk).expect("decodes");
                    assert!(got == want, "n {n} level {level} threads {threads} chunk {chunk}");
                    assert_eq!(pieces, segments, "n {n} level {level} threads {threads} chunk {chunk}");
                }
            }
        }
    }
}

#[test]
fn streamed_members_coalesce_small_pieces_and_decode_alike() {
    let sizes = [1, 5 << 20, 3, PIECE_BYTES, 777_777, 100, 2 << 20];
    let d = data(sizes.iter().sum(), 6);
    let mut gz = Cursor::new(Vec::new());
    let mut member = GzipMember::start_indexed(&mut gz, b"head", d.len() as u64).expect("starts");
    let mut piece = Piece::default();
    let mut at = 0;
    for n in sizes {
        piece.compress(&d[at..at + n], 1).expect("compresses");
        member.add(&mut gz, &piece).expect("adds");
        at += n;
    }
    member.end_indexed(&mut gz).expect("ends");
    let gz = gz.into_inner();
    let want = theirs(&gz).expect("flate2 reads it");
    assert!(want[..4] == *b"head" && want[4..] == d[..]);
    for threads in [1, 2] {
        let (got, pieces) = ours(&gz, threads, 1 << 20).expect("decodes");
        assert!(got == want, "threads {threads}");
        // The prefix, then segments of at least a fragment's worth each (small ones are joined).
        assert!((2..=2 + (d.len() / FRAGMENT_BYTES) as u64).contains(&pieces), "{pieces} pieces");
    }

    // Ended without its index: valid, decoded as one stream.
    let mut gz = Cursor::new(Vec::new());
    let mut member = GzipMember::start_indexed(&mut gz, b"", d.len() as u64).expect("starts");
    piece.compress(&d, 1).expect("compresses");
    member.add(&mut gz, &piece).expect("adds");
    member.end(&mut gz).expect("ends");
    let gz = gz.into_inner();
    assert_eq!(ours(&gz, 2, 1 << 20).expect("decodes"), (d.clone(), 0));
}

#[test]
fn indexed_members_among_other_members() {
    let (a, b, c) = (data(5 << 20, 7), data(200_000, 8), data(PIECE_BYTES + 5, 9));
    let mut gz = indexed(b"", &a, 1);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(&b).expect("compresses");
    gz.extend(e.finish().expect("finishes"));
    gz.extend(indexed(b"p", &c, 1));
    let want = theirs(&gz).expect("reads");
    for threads in [1, 2] {
        let (got, pieces) = ours(&gz, threads, 3 << 20).expect("decodes");
        assert!(got == want, "threads {threads}");
        // Five segments, a plain member, a prefix and five segments.
        assert_eq!(pieces, 5 + 6, "threads {threads}");
    }
}

/// Where the entries of the piece index start in a file `indexed` wrote.
const ENTRIES: usize = 10 + 2 + 4 + 4;

#[test]
fn forged_indexes_give_the_right_bytes_or_an_error() {
    let d = data(2 * FRAGMENT_BYTES + 999, 10);
    let gz = indexed(b"prefix", &d, 1);
    let want = theirs(&gz).expect("reads");
    let count = usize::from(u16::from_le_bytes([gz[ENTRIES - 2], gz[ENTRIES - 1]]));
    assert_eq!(count, 4, "prefix + three segments");
    // The file's bytes or an error; how many read.
    let check = |m: &[u8], what: &str| {
        let mut read = 0;
        for threads in [1, 2] {
            if let Ok((got, _)) = ours(m, threads, 1 << 20) {
                assert!(got == want, "{what}, threads {threads}: other bytes than the file's");
                read += 1;
            }
        }
        read
    };
    // Every bit of the head and the entries in turn (the version, flags, count, sizes).
    for i in ENTRIES - 4..ENTRIES + 8 * count {
        for bit in [0x01u8, 0x02, 0x10, 0x80] {
            let mut m = gz.clone();
            m[i] ^= bit;
            let read = check(&m, &format!("byte {i} bit {bit:#x}"));
            // Another version is no index, flags are not read: the file decodes as one stream.
            if i < ENTRIES - 2 {
                assert_eq!(read, 2, "byte {i} bit {bit:#x}: the version or flags of the index");
            }
        }
    }
    // Two segments' entries swapped; sizes moved from one segment to the next.
    let mut m = gz.clone();
    let (first, second) = (ENTRIES + 8, ENTRIES + 16);
    for k in 0..8 {
        m.swap(first + k, second + k);
    }
    check(&m, "swapped");
    for delta in [1u32, 4096] {
        let mut m = gz.clone();
        let comp = |m: &[u8], at: usize| u32::from_le_bytes(m[at..at + 4].try_into().expect("4 bytes"));
        let (a, b) = (comp(&m, first), comp(&m, second));
        m[first..first + 4].copy_from_slice(&(a + delta).to_le_bytes());
        m[second..second + 4].copy_from_slice(&(b - delta).to_le_bytes());
        check(&m, &format!("boundary moved by {delta}"));
    }
}

#[test]
fn corrupt_and_truncated_pieces_fail_clearly() {
    let d = data(3 * PIECE_BYTES, 11);
    let gz = indexed(b"", &d, 1);
    for threads in [1, 2, 3] {
        let mut m = gz.clone();
        let mid = m.len() / 2;
        for b in &mut m[mid..mid + 64] {
            *b ^= 0x5a;
        }
        let e = ours(&m, threads, 1 << 20).expect_err("corrupt");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("piece"), "{e}");
        for cut in [ENTRIES + 20, gz.len() / 3, gz.len() - 20, gz.len() - 4] {
            let e = ours(&gz[..cut], threads, 1 << 20).expect_err("truncated");
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
        }
        let mut bad_crc = gz.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        let e = ours(&bad_crc, threads, 1 << 20).expect_err("crc");
        assert!(e.to_string().contains("CRC-32"), "{e}");
        // After an error, every read gives it again: no bytes past a gap.
        let mut r = GzipReader::new(&m[..]).threads(threads);
        let mut buf = vec![0u8; 1 << 20];
        let first = loop {
            match r.read(&mut buf) {
                Ok(0) => panic!("read to the end"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let again = r.read(&mut buf).expect_err("stays failed");
        assert_eq!((again.kind(), again.to_string()), (first.kind(), first.to_string()));
    }
}

#[test]
fn threads_set_after_the_header_apply_to_the_pieces() {
    // As `SliceReader` does: the header read on one thread, then threads asked for.
    let d = data(6 * FRAGMENT_BYTES, 14);
    let gz = indexed(b"head", &d, 1);
    let mut r = GzipReader::new(&gz[..]);
    let mut head = [0u8; 4];
    r.read_exact(&mut head).expect("the prefix");
    assert_eq!(r.worker_threads(), 0);
    r.set_threads(2);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("decodes");
    assert!(head == *b"head" && rest == d);
    assert_eq!(r.worker_threads(), 2, "two workers decoded the pieces");
    assert_eq!(r.pieces_decoded(), 7);
}

#[test]
fn short_and_odd_headers_never_panic() {
    // FEXTRA and FHCRC with a BGZF size, cut inside the header's CRC (a panic once).
    let cut = [0x1f, 0x8b, 8, 6, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0, 0x63, 0];
    for n in 0..=cut.len() {
        for threads in [1, 2] {
            assert!(ours(&cut[..n], threads, 7).is_err(), "{n} bytes");
        }
    }
    assert!(theirs(&cut).is_err());
}

/// A member with `extra` as its extra field and optionally a name, holding `d`.
fn member_with(d: &[u8], name: Option<&[u8]>, extra: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(d).expect("compresses");
    let body = e.finish().expect("finishes");
    let header_len = 10 + 2 + extra(0).len() + name.map_or(0, |n| n.len() + 1);
    let total = header_len + body.len() + 8;
    let x = extra(total);
    let mut m = vec![0x1f, 0x8b, 8, 0x04 | if name.is_some() { 0x08 } else { 0 }, 0, 0, 0, 0, 0, 255];
    m.extend_from_slice(&(x.len() as u16).to_le_bytes());
    m.extend_from_slice(&x);
    if let Some(n) = name {
        m.extend_from_slice(n);
        m.push(0);
    }
    m.extend_from_slice(&body);
    let mut crc = flate2::Crc::new();
    crc.update(d);
    m.extend_from_slice(&crc.sum().to_le_bytes());
    m.extend_from_slice(&(d.len() as u32).to_le_bytes());
    assert_eq!(m.len(), total);
    m
}

/// BGZF: members of at most 64 KiB, each with its size less one in a `BC` subfield, then the
/// empty end-of-file member.
fn bgzf(d: &[u8]) -> Vec<u8> {
    let bc = |total: usize| {
        let mut x = b"BC\x02\x00".to_vec();
        x.extend_from_slice(&(total.saturating_sub(1) as u16).to_le_bytes());
        x
    };
    let mut out: Vec<u8> = d.chunks(60_000).flat_map(|c| member_with(c, None, bc)).collect();
    out.extend(member_with(b"", None, bc));
    out
}

/// mgzip: members with their whole size in an `IG` subfield, and a file name.
fn mgzip(d: &[u8], block: usize) -> Vec<u8> {
    let ig = |total: usize| {
        let mut x = b"IG\x04\x00".to_vec();
        x.extend_from_slice(&(total as u32).to_le_bytes());
        x
    };
    d.chunks(block).flat_map(|c| member_with(c, Some(b"volume.nii"), ig)).collect()
}

#[test]
fn bgzf_and_mgzip_members_decode_whole() {
    let d = data(3 << 20, 12);
    for (gz, members) in [(bgzf(&d), d.len().div_ceil(60_000) + 1), (mgzip(&d, 1 << 20), 3)] {
        let want = theirs(&gz).expect("reads");
        assert!(want == d);
        for threads in [1, 2] {
            for chunk in [1000, 4 << 20] {
                let (got, pieces) = ours(&gz, threads, chunk).expect("decodes");
                assert!(got == d, "threads {threads} chunk {chunk}");
                assert_eq!(pieces, members as u64, "threads {threads} chunk {chunk}");
            }
        }
    }
    // An mgzip member too large to hold decoded (more than 64 MiB) is streamed between the
    // others.
    let big = vec![0u8; (64 << 20) + 1];
    let mut gz = mgzip(&d[..100_000], 50_000);
    gz.extend(mgzip(&big, big.len()));
    gz.extend(mgzip(&d[..10], 10));
    let (got, pieces) = ours(&gz, 2, 1 << 20).expect("decodes");
    let end = 100_000 + big.len();
    assert!(got.len() == end + 10 && got[..100_000] == d[..100_000] && got[100_000..end] == big[..]);
    assert!(got[end..] == d[..10]);
    assert_eq!(pieces, 3);

    // A last member whose size says more than the file holds is streamed: read as flate2 reads it.
    let mut overstated = bgzf(&d[..200_000]);
    let last = overstated.len() - 28;
    overstated[last + 16..last + 18].copy_from_slice(&u16::MAX.to_le_bytes());
    let want = theirs(&overstated).expect("flate2 ignores the size");
    for threads in [1, 2] {
        assert!(ours(&overstated, threads, 4096).expect("streamed").0 == want, "threads {threads}");
    }
    // A member of more compressed bytes than a 32-bit length can vouch for is streamed.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..5 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let mut gz = mgzip(&d[..10_000], 10_000);
    gz.extend(mgzip(&noise, noise.len()));
    let (got, pieces) = ours(&gz, 2, 1 << 20).expect("decodes");
    assert!(got[..10_000] == d[..10_000] && got[10_000..] == noise[..]);
    assert_eq!(pieces, 1, "only the small member decoded whole");

    // A wrong size or CRC in a member: an error, never a panic.
    let gz = bgzf(&d[..500_000]);
    for at in [16, 17] {
        for bit in [0x01u8, 0x80] {
            let mut m = gz.clone();
            m[at] ^= bit;
            for threads in [1, 2] {
                if let Ok((got, _)) = ours(&m, threads, 4096) {
                    assert!(got == d[..500_000], "BSIZE byte {at} bit {bit:#x}: other bytes");
                }
            }
        }
    }
    let mut m = gz.clone();
    let first_trailer = usize::from(u16::from_le_bytes([gz[16], gz[17]])) + 1 - 8;
    m[first_trailer] ^= 1;
    let e = ours(&m, 2, 4096).expect_err("crc");
    assert!(e.to_string().contains("CRC-32"), "{e}");
    // Bytes between the end of the deflate data and the trailer, counted in BSIZE: flate2
    // refuses them, and so does the piece decoder (the stream must end where the size says).
    let mut m = gz[..first_trailer].to_vec();
    m.extend_from_slice(b"xyz");
    m.extend_from_slice(&gz[first_trailer..]);
    let bsize = u16::from_le_bytes([gz[16], gz[17]]) + 3;
    m[16..18].copy_from_slice(&bsize.to_le_bytes());
    assert!(theirs(&m).is_err());
    for threads in [1, 2] {
        let e = ours(&m, threads, 4096).expect_err("a gap");
        assert!(e.to_string().contains("ends after"), "{e}");
    }
}

#[test]
fn whole_files_decode_their_pieces_in_parallel_or_not_at_all() {
    let whole = |gz: &[u8], len: usize, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let mut out = vec![0u8; len];
        pool.install(|| ctprep_gzip::decode_indexed_whole(gz, &mut out)).map(|()| out)
    };
    for (n, prefix) in [(FRAGMENT_BYTES + 1, &b""[..]), (3 * PIECE_BYTES + 777, &b"a 352-byte head"[..])] {
        let d = data(n, 15);
        let gz = indexed(prefix, &d, 1);
        let want = theirs(&gz).expect("reads");
        for threads in [1, 2, 3] {
            assert!(whole(&gz, want.len(), threads).expect("indexed") == want, "n {n} threads {threads}");
        }
        // Not its size, not indexed, corrupt, truncated: no answer (the caller decodes otherwise).
        assert!(whole(&gz, want.len() + 1, 2).is_none());
        let mut plain = Vec::new();
        ctprep_gzip::write_gzip(&mut plain, prefix, &d, 1).expect("writes");
        assert!(whole(&plain, want.len(), 2).is_none());
        let mut bad = gz.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x10;
        assert!(whole(&bad, want.len(), 2).is_none());
        assert!(whole(&gz[..gz.len() - 1], want.len(), 2).is_none());
        // A forged entry: the file's bytes or no answer, never other bytes.
        for i in ENTRIES..ENTRIES + 24 {
            let mut m = gz.clone();
            m[i] ^= 0x04;
            if let Some(got) = whole(&m, want.len(), 2) {
                assert!(got == want, "byte {i}: other bytes");
            }
        }
    }
}
