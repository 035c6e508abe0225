//! The streaming decoder against flate2 (zlib-rs): the same bytes from streams of every kind
//! (stored, fixed and dynamic blocks at every level, ctprep's own sync-flushed pieces, empty
//! members, concatenated members), read in any chunk sizes; and clear errors, never a panic, on
//! truncated, corrupted and trailing-garbage streams.

use std::io::Write;

use ctprep_gzip::GzipReader;

mod common;
use common::{read_in_chunks, theirs};

/// Deterministic test data: runs, noise, text-like repeats.
fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 4 {
            0 => v.extend(std::iter::repeat_n((x >> 8) as u8, (x >> 16) as usize % 300)),
            1 => v.extend((0..(x >> 20) % 64).map(|i| (x >> (i % 56)) as u8)),
            2 if v.len() > 40_000 => {
                let back = 1 + (x >> 24) as usize % 32_768.min(v.len() - 1);
                let start = v.len() - back;
                for i in 0..(x >> 40) as usize % 300 {
                    v.push(v[start + i % back]);
                }
            }
            _ => v.extend_from_slice(b"the quick brown fox jumps over the lazy dog "),
        }
    }
    v.truncate(n);
    v
}

fn gzip(d: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(d).expect("compresses");
    e.finish().expect("finishes")
}

/// Reads all of `gz` with reads of `chunk` bytes.
fn ours(gz: &[u8], chunk: usize) -> std::io::Result<Vec<u8>> {
    read_in_chunks(&mut GzipReader::new(gz), chunk)
}

#[test]
fn every_level_and_chunk_size() {
    for (n, seed) in [(0, 1), (1, 2), (100, 3), (65_536, 4), (3 << 20, 5)] {
        let d = data(n, seed);
        for level in [0, 1, 6, 9] {
            let gz = gzip(&d, level);
            for chunk in [1, 7, 4096, 1 << 20, 5 << 20] {
                if chunk < 4096 && n > 100_000 {
                    continue;
                }
                assert!(ours(&gz, chunk).expect("decodes") == d, "n {n} level {level} chunk {chunk}");
            }
        }
    }
}

#[test]
fn ctprep_s_own_members_and_concatenations() {
    let d = data(9 << 20, 7);
    for level in [0, 1, 2, 6] {
        let mut gz = Vec::new();
        ctprep_gzip::write_gzip(&mut gz, b"a stored prefix", &d, level).expect("writes");
        let want = theirs(&gz).expect("flate2 reads it");
        assert!(ours(&gz, 1 << 16).expect("decodes") == want, "level {level}");
    }
    // Members one after the other, an empty one among them.
    let mut gz = gzip(b"first ", 6);
    gz.extend(gzip(b"", 6));
    gz.extend(gzip(&data(200_000, 9), 1));
    assert_eq!(ours(&gz, 999).expect("decodes"), theirs(&gz).expect("reads"));
}

#[test]
fn broken_streams_fail_clearly() {
    let d = data(300_000, 11);
    let gz = gzip(&d, 6);
    let e = ours(&gz[..gz.len() / 2], 4096).expect_err("truncated");
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    let e = ours(&gz[..gz.len() - 3], 4096).expect_err("no full trailer");
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    let mut bad_crc = gz.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    assert!(ours(&bad_crc, 4096).expect_err("crc").to_string().contains("CRC-32"));
    let mut bad_len = gz.clone();
    let at = bad_len.len() - 4;
    bad_len[at] ^= 1;
    assert!(ours(&bad_len, 4096).expect_err("isize").to_string().contains("trailer says"));
    let mut garbage = gz.clone();
    garbage.extend_from_slice(b"garbage!!!!!");
    assert!(ours(&garbage, 4096).expect_err("trailing").to_string().contains("after the last gzip member"));
    assert!(ours(b"not gzip at all", 10).expect_err("magic").to_string().contains("magic"));
    assert_eq!(ours(b"", 10).expect_err("empty").kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(theirs(b"").is_err(), "flate2 refuses an empty stream too");
    // Every byte of a small stream flipped in turn: an error or flate2's own answer, never a panic.
    let small = gzip(&data(5_000, 13), 9);
    for i in 0..small.len() {
        for bit in [0x01u8, 0x10, 0x80] {
            let mut m = small.clone();
            m[i] ^= bit;
            match (ours(&m, 333), theirs(&m)) {
                (Ok(a), Ok(b)) => assert!(a == b, "byte {i} bit {bit:#x}: both read it, differently"),
                (Ok(_), Err(e)) => panic!("byte {i} bit {bit:#x}: read here, flate2 says {e}"),
                _ => {}
            }
        }
    }
}
