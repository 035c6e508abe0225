//! Property test: whatever the input, our deflate output decodes back to it in two independent
//! inflaters (zlib-rs through flate2, and libdeflate), through every path that makes it: the run
//! encoder alone, one piece at each level, and the parallel writer.

use std::io::Read;

use proptest::prelude::*;

/// Random bytes, or runs of a few 4-byte words broken by noise (the shape of windowed volumes),
/// 0 to 300 kB: more than one run-encoder block (256 KiB) and several stored blocks.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let random = proptest::collection::vec(any::<u8>(), 0..300_000);
    let runs = proptest::collection::vec(
        (any::<[u8; 4]>(), 1usize..20_000, proptest::collection::vec(any::<u8>(), 0..64)),
        0..40,
    )
    .prop_map(|parts| {
        let mut v = Vec::new();
        for (word, repeat, noise) in parts {
            for _ in 0..repeat / 4 {
                v.extend_from_slice(&word);
            }
            v.extend_from_slice(&noise);
        }
        v.truncate(300_000);
        v
    });
    prop_oneof![random, runs]
}

/// Raw deflate through both inflaters.
fn inflate_raw(stream: &[u8], len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut a = vec![0u8; len];
    let n = libdeflater::Decompressor::new().deflate_decompress(stream, &mut a).expect("libdeflate decodes");
    a.truncate(n);
    let mut b = vec![0u8; len + 1];
    let mut z = flate2::Decompress::new(false);
    let status = z.decompress(stream, &mut b, flate2::FlushDecompress::Finish).expect("zlib decodes");
    assert_eq!(status, flate2::Status::StreamEnd, "zlib does not see the stream end");
    b.truncate(z.total_out() as usize);
    (a, b)
}

/// A gzip file through both inflaters.
fn gunzip(file: &[u8], len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut a = vec![0u8; len];
    let n = libdeflater::Decompressor::new().gzip_decompress(file, &mut a).expect("libdeflate decodes");
    a.truncate(n);
    let mut b = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut b).expect("zlib decodes");
    (a, b)
}

proptest! {
    // Up to 300 kB per case through 21 encodings: 64 cases take about 3 s in the test profile.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn run_encoder_round_trips(data in input(), cut in 1usize..200_000) {
        // Fragments cut anywhere, each on its own, the last one final.
        let mut stream = Vec::new();
        let pieces: Vec<&[u8]> = if data.is_empty() { vec![&data[..]] } else { data.chunks(cut).collect() };
        for (i, p) in pieces.iter().enumerate() {
            ctprep_gzip::deflate::compress(p, &mut stream, i + 1 == pieces.len());
        }
        let (a, b) = inflate_raw(&stream, data.len());
        prop_assert!(a == data, "libdeflate decodes different bytes");
        prop_assert!(b == data, "zlib decodes different bytes");
    }

    #[test]
    fn every_level_round_trips(data in input(), prefix in proptest::collection::vec(any::<u8>(), 0..1000)) {
        let mut want = prefix.clone();
        want.extend_from_slice(&data);
        for level in 0..=9 {
            let mut file = Vec::new();
            ctprep_gzip::write_gzip(&mut file, &prefix, &data, level).expect("compresses");
            let (a, b) = gunzip(&file, want.len());
            prop_assert!(a == want, "level {}: libdeflate decodes different bytes", level);
            prop_assert!(b == want, "level {}: zlib decodes different bytes", level);
            // The same data as pieces added one by one.
            let mut file = Vec::new();
            let mut member = ctprep_gzip::GzipMember::start(&mut file, &prefix).expect("starts");
            let mut piece = ctprep_gzip::Piece::default();
            for chunk in data.chunks(100_003) {
                piece.compress(chunk, level).expect("compresses");
                member.add(&mut file, &piece).expect("adds");
            }
            member.end(&mut file).expect("ends");
            let (a, b) = gunzip(&file, want.len());
            prop_assert!(a == want && b == want, "level {}: pieces decode to different bytes", level);
        }
    }
}
