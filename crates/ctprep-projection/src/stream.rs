//! Output rows written with non-temporal (streaming) stores, for outputs far larger than the
//! caches: a plain store first reads the destination line into cache (read for ownership), so
//! a kernel writing 300 MB of output moves 600 MB; a streaming store writes the line without
//! reading it, as `memcpy` does for large copies. Used only by the runtime-dispatched rows
//! ([`crate::dispatch`]) and only when the output is large ([`STREAM_MIN_BYTES`]): a streamed
//! line is not in cache afterwards.
//!
//! SSE (`movntps`, 16 bytes) is part of x86-64's baseline, so nothing is detected at run time;
//! elsewhere these functions use plain stores.
#![allow(unsafe_code)] // SSE intrinsics on raw pointers; each block states why it is in bounds.

/// Outputs of at least this many bytes are written with streaming stores (the L3 cache of
/// the development machine is 32 MiB; an output that fits stays cached for whoever reads it).
pub const STREAM_MIN_BYTES: usize = 64 << 20;

/// Whether an output buffer is large enough to be written with streaming stores.
pub(crate) fn worth_it(dst: &[f32]) -> bool {
    std::mem::size_of_val(dst) >= STREAM_MIN_BYTES
}

/// `acc = pick(acc, canon(input))`, `out = pick(suffix, acc)`, `out` streamed; returns the OR of
/// `non_finite_bits` over `input` (see [`crate::simd::RowOps::advance`]).
pub(crate) fn advance<const MAX: bool>(acc: &mut [f32], input: &[f32], suffix: &[f32], out: &mut [f32]) -> u32 {
    let n = acc.len();
    assert!(input.len() >= n && suffix.len() >= n && out.len() >= n, "rows of equal length");
    let scalar = |acc: &mut [f32], out: &mut [f32], c: usize| {
        let v = input[c] + 0.0;
        let a = crate::dispatch::pick::<MAX>(acc[c], v);
        acc[c] = a;
        out[c] = crate::dispatch::pick::<MAX>(suffix[c], a);
        crate::simd::non_finite_bits(input[c])
    };
    let (head, body) = aligned_body(out, n);
    let mut bits = 0;
    for c in 0..head {
        bits |= scalar(acc, out, c);
    }
    bits |= body_advance::<MAX>(acc, input, suffix, out, head, body);
    for c in head + body..n {
        bits |= scalar(acc, out, c);
    }
    bits
}

/// `dst = src`, `dst` streamed.
pub(crate) fn copy(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    assert!(src.len() >= n, "rows of equal length");
    let (head, body) = aligned_body(dst, n);
    dst[..head].copy_from_slice(&src[..head]);
    body_copy(dst, src, head, body);
    dst[head + body..].copy_from_slice(&src[head + body..n]);
}

/// Orders the streaming stores before any later store, so that whoever is told the output is
/// done (another thread, through rayon's synchronisation) sees them.
pub(crate) fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` is part of SSE, in x86-64's baseline; it touches no memory.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

/// Where the 16-byte-aligned part of `out[..n]` starts and how many values it holds (a multiple
/// of 4).
fn aligned_body(out: &[f32], n: usize) -> (usize, usize) {
    let head = out.as_ptr().align_offset(16).min(n);
    (head, (n - head) / 4 * 4)
}

#[cfg(target_arch = "x86_64")]
fn body_advance<const MAX: bool>(
    acc: &mut [f32],
    input: &[f32],
    suffix: &[f32],
    out: &mut [f32],
    start: usize,
    len: usize,
) -> u32 {
    use std::arch::x86_64::*;
    assert!(start + len <= acc.len() && start + len <= input.len() && start + len <= suffix.len());
    assert!(
        start + len <= out.len() && (len == 0 || out[start..].as_ptr().align_offset(16) == 0) && len.is_multiple_of(4)
    );
    // SAFETY: SSE is in x86-64's baseline. Every pointer offset `c + 3` is below `start + len`,
    // within each slice (asserted above); `out + c` is 16-byte aligned for `_mm_stream_ps`
    // (start aligned, steps of 16 bytes). Unaligned loads and stores for the other rows.
    unsafe {
        let zero = _mm_setzero_ps();
        let mut bits = zero;
        let (a_ptr, i_ptr, s_ptr, o_ptr) = (acc.as_mut_ptr(), input.as_ptr(), suffix.as_ptr(), out.as_mut_ptr());
        let mut c = start;
        while c < start + len {
            // + 0.0 reads -0.0 as +0.0; v - v is +0.0 for finite v, NaN otherwise.
            let v = _mm_add_ps(_mm_loadu_ps(i_ptr.add(c)), zero);
            bits = _mm_or_ps(bits, _mm_sub_ps(v, v));
            let prev = _mm_loadu_ps(a_ptr.add(c));
            let s = _mm_loadu_ps(s_ptr.add(c));
            // pick(a, v) = v if v beats a, else a: maxps(v, a) returns its first operand when
            // it is greater, else the second.
            let (a, o) = if MAX {
                let a = _mm_max_ps(v, prev);
                (a, _mm_max_ps(a, s))
            } else {
                let a = _mm_min_ps(v, prev);
                (a, _mm_min_ps(a, s))
            };
            _mm_storeu_ps(a_ptr.add(c), a);
            _mm_stream_ps(o_ptr.add(c), o);
            c += 4;
        }
        let mut lanes = [0f32; 4];
        _mm_storeu_ps(lanes.as_mut_ptr(), bits);
        lanes.iter().fold(0, |m, l| m | l.to_bits())
    }
}

#[cfg(target_arch = "x86_64")]
fn body_copy(dst: &mut [f32], src: &[f32], start: usize, len: usize) {
    use std::arch::x86_64::*;
    assert!(start + len <= dst.len() && start + len <= src.len());
    assert!((len == 0 || dst[start..].as_ptr().align_offset(16) == 0) && len.is_multiple_of(4));
    // SAFETY: as in `body_advance`: offsets below `start + len`, `dst + c` 16-byte aligned.
    unsafe {
        let (s_ptr, d_ptr) = (src.as_ptr(), dst.as_mut_ptr());
        let mut c = start;
        while c < start + len {
            _mm_stream_ps(d_ptr.add(c), _mm_loadu_ps(s_ptr.add(c)));
            c += 4;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn body_advance<const MAX: bool>(
    acc: &mut [f32],
    input: &[f32],
    suffix: &[f32],
    out: &mut [f32],
    start: usize,
    len: usize,
) -> u32 {
    let r = start..start + len;
    crate::dispatch::advance_plain::<MAX>(&mut acc[r.clone()], &input[r.clone()], &suffix[r.clone()], &mut out[r])
}

#[cfg(not(target_arch = "x86_64"))]
fn body_copy(dst: &mut [f32], src: &[f32], start: usize, len: usize) {
    dst[start..start + len].copy_from_slice(&src[start..start + len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of every length 0..=13 starting at every alignment 0..4 of the output, against the
    /// plain loop, with -0.0 and equal values.
    #[test]
    fn streamed_rows_equal_plain_rows() {
        let value = |i: usize| match i % 7 {
            0 => -0.0,
            1 => 0.0,
            _ => ((i * 37) % 11) as f32 - 5.0,
        };
        for len in 0..=13 {
            for shift in 0..4 {
                let input: Vec<f32> = (0..len).map(|i| value(i + 3)).collect();
                let suffix: Vec<f32> = (0..len).map(|i| value(i * 5 + 1) + 0.0).collect();
                let acc0: Vec<f32> = (0..len).map(|i| value(i * 3 + 2) + 0.0).collect();
                let mut out = vec![9f32; len + shift];
                let mut acc = acc0.clone();
                let bits = advance::<true>(&mut acc, &input, &suffix, &mut out[shift..]);
                assert_eq!(bits, 0, "finite rows");
                for c in 0..len {
                    let a = crate::dispatch::pick::<true>(acc0[c], input[c] + 0.0);
                    assert_eq!(acc[c].to_bits(), a.to_bits(), "len {len} shift {shift} acc {c}");
                    let o = crate::dispatch::pick::<true>(suffix[c], a);
                    assert_eq!(out[shift + c].to_bits(), o.to_bits(), "len {len} shift {shift} out {c}");
                }
                let mut acc = acc0.clone();
                advance::<false>(&mut acc, &input, &suffix, &mut out[shift..]);
                for c in 0..len {
                    let a = crate::dispatch::pick::<false>(acc0[c], input[c] + 0.0);
                    assert_eq!(out[shift + c].to_bits(), crate::dispatch::pick::<false>(suffix[c], a).to_bits());
                }
                copy(&mut out[shift..], &input);
                fence();
                assert_eq!(&out[shift..], &input[..], "len {len} shift {shift} copy");
            }
        }
    }

    #[test]
    fn non_finite_inputs_are_reported_wherever_they_are() {
        for len in 1..=9 {
            for at in 0..len {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut input = vec![1f32; len];
                    input[at] = bad;
                    let (mut acc, suffix, mut out) = (vec![0f32; len], vec![0f32; len], vec![0f32; len + 1]);
                    assert_ne!(advance::<true>(&mut acc, &input, &suffix, &mut out[1..]), 0, "{len} {at} {bad}");
                }
            }
        }
    }
}
