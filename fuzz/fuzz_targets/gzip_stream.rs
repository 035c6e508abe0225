//! ctprep-gzip's streaming decoder (`GzipReader`) against flate2 (zlib-rs), an independent
//! decoder: any bytes as a gzip stream must give the same bytes from both or fail in both (never
//! a panic); the same bytes gzipped by flate2 (level, read size and thread count from the first
//! byte) must come back exactly, as must (one input in eight) the bytes written by ctprep-gzip
//! with a piece index. One difference is allowed: a piece index or a BGZF / mgzip size
//! field that contradicts the stream is refused here ("piece ..."), where flate2 ignores it.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;

fn ours(gz: &[u8], chunk: usize, threads: usize) -> std::io::Result<Vec<u8>> {
    let mut r = ctprep_gzip::GzipReader::new(gz).threads(threads);
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 64 << 20 {
            return Err(std::io::Error::other("more than 64 MiB"));
        }
    }
}

fn theirs(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz).take(64 << 20).read_to_end(&mut out)?;
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let chunk = [1, 7, 300, 4096, 1 << 20][usize::from(first >> 5) % 5];
    let threads = 1 + usize::from((first >> 4) & 1);
    match (ours(rest, chunk, threads), theirs(rest)) {
        (Ok(a), Ok(b)) => assert!(a == b, "both decoders read it, differently"),
        (Ok(_), Err(e)) => panic!("read here, flate2 refuses it: {e}"),
        (Err(e), Ok(b)) if b.len() < 64 << 20 && !e.to_string().starts_with("piece ") => {
            panic!("flate2 reads it, refused here: {e}")
        }
        _ => {}
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(u32::from(first % 10)));
    e.write_all(rest).expect("compresses");
    let gz = e.finish().expect("finishes");
    assert_eq!(ours(&gz, chunk, threads).expect("decodes flate2's stream"), rest);
    // One input in eight: the bytes repeated past one fragment, written with a piece index by
    // ctprep-gzip, come back exactly through the piece decoder.
    if first % 8 == 0 && !rest.is_empty() {
        let data: Vec<u8> =
            rest.iter().copied().cycle().take(ctprep_gzip::FRAGMENT_BYTES + 1 + usize::from(first)).collect();
        let mut gz = std::io::Cursor::new(Vec::new());
        ctprep_gzip::write_gzip_indexed(&mut gz, &rest[..rest.len().min(100)], &data, 1).expect("compresses");
        let back = ours(gz.get_ref(), chunk, threads).expect("decodes its own stream");
        assert!(back.len() == rest.len().min(100) + data.len() && back[rest.len().min(100)..] == data[..]);
    }
});
