//! ctprep-gzip's encoders on any data: the run encoder's raw deflate and `write_gzip`'s member
//! (any level, with a stored prefix) inflate, with an independent decoder (miniz_oxide), to
//! exactly the input, and the gzip trailer holds its CRC-32 and length.
//!
//! The first byte chooses the level (0-9) and how many times the rest is repeated (up to
//! about 300 KiB of data), so inputs reach past the encoder's 256 KiB blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniz_oxide::inflate::decompress_to_vec;

fuzz_target!(|input: &[u8]| {
    let Some((&control, body)) = input.split_first() else { return };
    let level = u32::from(control % 10);
    let repeat = if body.is_empty() {
        1
    } else {
        (usize::from(control / 10) * (12 << 10)).div_ceil(body.len()).clamp(1, 600 << 10)
    };
    let data: Vec<u8> = body.iter().copied().cycle().take(body.len() * repeat).collect();

    for last in [true, false] {
        let mut raw = Vec::new();
        ctprep_gzip::deflate::compress(&data, &mut raw, last);
        if !last {
            // A sync-flushed fragment: end the stream with an empty final stored block.
            raw.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        let back = decompress_to_vec(&raw).expect("the run encoder's deflate inflates");
        assert!(back == data, "the run encoder's deflate gives the input back ({} bytes)", data.len());
    }

    let prefix = &body[..body.len().min(7)];
    let mut gz = Vec::new();
    ctprep_gzip::write_gzip(&mut gz, prefix, &data, level).expect("gzip into memory");
    assert!(gz.len() >= 18 && gz[..3] == [0x1f, 0x8b, 8], "a gzip header");
    let flags = gz[3];
    assert_eq!(flags, 0, "no optional header fields");
    let (deflate, trailer) = gz[10..].split_at(gz.len() - 18);
    let back = decompress_to_vec(deflate).expect("write_gzip's member inflates");
    let mut want = prefix.to_vec();
    want.extend_from_slice(&data);
    assert!(back == want, "write_gzip gives the prefix and data back at level {level}");
    let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
    assert_eq!(crc, crc32fast::hash(&want), "the trailer's CRC-32");
    assert_eq!(len, want.len() as u32, "the trailer's length");
});
