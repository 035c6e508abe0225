//! Every variant against the naive oracle: max and min bit-identical, mean within 1e-6 of the
//! largest magnitude, over every axis, alignment, edge rule, reduction, stride and slab
//! thickness (1, 2, 3, 5, n, n + 1, 31), on awkward shapes (1 voxel, 8-lane width -1 / exact /
//! +1 along x, odd sizes, more columns than one chunk), with NaN, infinities and -0, and on
//! non-contiguous views.

use ctprep_projection::{Align, Axis3, Edges, Reduce, SlabProjection, Variant, project, scalar, simd};
use ndarray::{Array3, ShapeBuilder, s};

const SHAPES: [[usize; 3]; 8] =
    [[1, 1, 1], [7, 3, 5], [8, 2, 9], [9, 4, 6], [5, 1, 33], [3, 11, 2], [40, 30, 9], [17, 13, 40]];

fn value(i: usize, special: bool) -> f32 {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    if special {
        match h % 41 {
            0 => return f32::NAN,
            1 => return f32::INFINITY,
            2 => return f32::NEG_INFINITY,
            3 => return -0.0,
            4 => return 0.0,
            _ => {}
        }
    }
    (h % 4000) as f32 * 0.5 - 1000.0
}

fn same(what: &str, got: &[f32], want: &[f32], reduce: Reduce, scale: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = match reduce {
            Reduce::Max | Reduce::Min => g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            Reduce::Mean => (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-6 * scale,
        };
        assert!(ok, "{what}: voxel {i}: {g} vs oracle {w}");
    }
}

fn check(shape: [usize; 3], special: bool) {
    let n_all: usize = shape.iter().product();
    let a = Array3::from_shape_vec(shape.f(), (0..n_all).map(|i| value(i, special)).collect()).expect("shape");
    let scale = a.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()));
    for axis in [Axis3::X, Axis3::Y, Axis3::Z] {
        let n = shape[axis.index()];
        let mut ks = vec![1, 2, 3, 5, n, n + 1, 31];
        ks.dedup();
        for k in ks {
            for reduce in [Reduce::Max, Reduce::Min, Reduce::Mean] {
                for align in [Align::Start, Align::Centre] {
                    for edges in [Edges::Shrink, Edges::Valid, Edges::Zero] {
                        for stride in [1, 2, 3] {
                            let p = SlabProjection::new(k)
                                .axis(axis)
                                .reduce(reduce)
                                .align(align)
                                .edges(edges)
                                .stride(stride);
                            let what = format!(
                                "{shape:?} {axis:?} k={k} {reduce} {align} {edges} stride {stride} special={special}"
                            );
                            let want = match project(a.view(), &p, Variant::Scalar) {
                                Ok((w, _)) => w,
                                Err(e) => {
                                    assert!(edges == Edges::Valid && k > n, "{what}: unexpected error {e}");
                                    continue;
                                }
                            };
                            let w = want.as_slice_memory_order().expect("contiguous");
                            // The kernels report a NaN or infinity in any slice a window covers.
                            let covered: Vec<usize> =
                                p.windows(n).expect("windows").into_iter().flatten().flat_map(|(s, e)| s..=e).collect();
                            let read_non_finite = covered
                                .iter()
                                .any(|&i| a.index_axis(ndarray::Axis(axis.index()), i).iter().any(|v| !v.is_finite()));
                            for variant in [Variant::Simd, Variant::Parallel, Variant::Auto] {
                                let (got, report) = project(a.view(), &p, variant).expect("runs");
                                assert_eq!(got.dim(), want.dim(), "{what} {variant}");
                                assert_eq!(report.non_finite, read_non_finite, "{what} {variant}");
                                same(
                                    &format!("{what} {variant}"),
                                    got.as_slice_memory_order().expect("contiguous"),
                                    w,
                                    reduce,
                                    scale,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn finite_values() {
    for shape in SHAPES {
        check(shape, false);
    }
}

#[test]
fn nan_infinities_and_negative_zero() {
    for shape in SHAPES {
        check(shape, true);
    }
}

#[test]
fn non_contiguous_views_and_chunk_boundaries() {
    // 6,300 columns along z: several column chunks for every k; with specials, a NaN or an
    // infinity in some chunks and not others.
    for special in [false, true] {
        let a = Array3::from_shape_fn((2100, 3, 40).f(), |(x, y, z)| {
            let i = x + 2100 * (y + 3 * z);
            value(i, special && i % 97 == 0)
        });
        let views = [a.slice(s![..;2, .., ..]), a.slice(s![.., .., ..;-1]), a.view().permuted_axes([2, 1, 0])];
        for v in views {
            for (reduce, k) in [(Reduce::Max, 5), (Reduce::Min, 31), (Reduce::Mean, 5)] {
                for axis in [Axis3::X, Axis3::Z] {
                    let p = SlabProjection::new(k).axis(axis).reduce(reduce).align(Align::Centre);
                    let (want, _) = project(v, &p, Variant::Scalar).expect("runs");
                    for variant in [Variant::Simd, Variant::Parallel, Variant::Auto] {
                        let (got, _) = project(v, &p, variant).expect("runs");
                        let g: Vec<f32> = got.iter().copied().collect();
                        let w: Vec<f32> = want.iter().copied().collect();
                        let what = format!("view {axis:?} k={k} {reduce} {variant} special={special}");
                        same(&what, &g, &w, reduce, 1000.0);
                    }
                }
            }
        }
    }
}

#[test]
fn classic_zero_edges_and_known_windows() {
    // The classic recipe: for i in range(n - k): out[i] = max(v[i : i + k]); the rest 0.
    let p = SlabProjection::new(3).edges(Edges::Zero);
    let w = p.windows(6).expect("windows");
    assert_eq!(w, vec![Some((0, 2)), Some((1, 3)), Some((2, 4)), None, None, None]);
    let c = SlabProjection::new(4).align(Align::Centre);
    assert_eq!(
        c.windows(5).expect("windows"),
        vec![Some((0, 1)), Some((0, 2)), Some((0, 3)), Some((1, 4)), Some((2, 4))]
    );
    assert_eq!(SlabProjection::new(3).edges(Edges::Valid).stride(2).windows(8).expect("windows").len(), 3);
    assert!(SlabProjection::new(9).edges(Edges::Valid).output_len(8).is_err());
    assert_eq!(SlabProjection::slices_for_mm(10.0, 2.5), Ok(4));
    assert_eq!(SlabProjection::slices_for_mm(1.0, 2.5), Ok(1));
    assert!(SlabProjection::slices_for_mm(0.0, 2.5).is_err());
    // The simd kernel directly, on a column with its maximum in every position.
    let src: Vec<f32> = (0..10).map(|i| ((i * 7) % 10) as f32).collect();
    let p = SlabProjection::new(4);
    let windows = p.windows(10).expect("windows");
    let mut got = vec![0f32; windows.len()];
    assert!(!simd::project(&src, (1, 10, 1), &p, &windows, &mut got), "no NaN or infinity read");
    let mut want = vec![0f32; windows.len()];
    scalar::project(&src, (1, 10, 1), &windows, Reduce::Max, &mut want);
    assert_eq!(got, want);
    assert_eq!(want[0], 7.0); // max of 0, 7, 4, 1
}

/// An output above the streaming-store threshold (64 MiB): the streamed rows, their unaligned
/// heads and tails and the fence, against the oracle, with a NaN in one chunk.
#[test]
fn outputs_large_enough_to_stream() {
    let shape = [1024, 1024, 17];
    let n_all: usize = shape.iter().product();
    let mut src: Vec<f32> = (0..n_all).map(|i| value(i, false)).collect();
    src[5 * 1024 * 1024 + 77] = f32::NAN;
    let p = SlabProjection::new(5);
    let mut want = vec![0f32; n_all];
    ctprep_projection::project_slice_into(&src, shape, &p, &mut want, Variant::Scalar).expect("runs");
    for variant in [Variant::Parallel, Variant::Auto] {
        let mut got = vec![-1f32; n_all];
        let report = ctprep_projection::project_slice_into(&src, shape, &p, &mut got, variant).expect("runs");
        assert!(report.non_finite, "{variant}: the NaN was read");
        same(&format!("large output {variant}"), &got, &want, Reduce::Max, 1000.0);
    }
}

/// Slices of 33,123 voxels (odd, not a multiple of 8 or 16) along z: the parallel variant cuts
/// the columns into ranges rather than the tasks; every mode, k, stride, with NaN and infinities
/// in some column ranges and not others.
#[test]
fn long_slices_cut_into_column_ranges() {
    let shape = [181, 183, 12];
    let n_all: usize = shape.iter().product();
    for special in [false, true] {
        // Specials only in the first 8,000 columns: one column range sees them, the other not.
        let src: Vec<f32> = (0..n_all).map(|i| value(i, special && i % (181 * 183) < 8000 && i % 7 == 0)).collect();
        assert_eq!(src.iter().any(|v| !v.is_finite()), special);
        for k in [1, 5, 12, 13, 31] {
            for reduce in [Reduce::Max, Reduce::Min, Reduce::Mean] {
                for (align, edges) in
                    [(Align::Start, Edges::Zero), (Align::Centre, Edges::Shrink), (Align::Start, Edges::Valid)]
                {
                    for stride in [1, 2] {
                        let p = SlabProjection::new(k).reduce(reduce).align(align).edges(edges).stride(stride);
                        let Ok(m) = p.output_len(shape[2]) else { continue };
                        let len = shape[0] * shape[1] * m;
                        let mut want = vec![0f32; len];
                        ctprep_projection::project_slice_into(&src, shape, &p, &mut want, Variant::Scalar)
                            .expect("runs");
                        let slice = shape[0] * shape[1];
                        let read_non_finite = p
                            .windows(shape[2])
                            .expect("windows")
                            .into_iter()
                            .flatten()
                            .any(|(s, e)| src[s * slice..(e + 1) * slice].iter().any(|v| !v.is_finite()));
                        for variant in [Variant::Parallel, Variant::Auto] {
                            let mut got = vec![-1f32; len];
                            let report = ctprep_projection::project_slice_into(&src, shape, &p, &mut got, variant)
                                .expect("runs");
                            let what =
                                format!("k={k} {reduce} {align} {edges} stride {stride} {variant} special={special}");
                            assert_eq!(report.non_finite, read_non_finite, "{what}");
                            same(&what, &got, &want, reduce, 1000.0);
                        }
                    }
                }
            }
        }
    }
}

/// The scratch rows a thread keeps between calls hold another job's values (here NaN, from a
/// wider and a narrower projection): nothing of them reaches the next job's output, for every
/// reduction.
#[test]
fn scratch_kept_from_an_earlier_job_does_not_leak() {
    use ctprep_projection::project_slice_into;
    let shape = [9, 7, 11];
    let src: Vec<f32> = (0..9 * 7 * 11).map(|i| value(i, false)).collect();
    let earlier = [[40, 30, 23], [3, 2, 40]];
    for reduce in [Reduce::Max, Reduce::Min, Reduce::Mean] {
        for align in [Align::Start, Align::Centre] {
            let p = SlabProjection::new(5).axis(Axis3::Z).reduce(reduce).align(align);
            let m = p.output_len(shape[2]).expect("fits");
            let run = |src: &[f32]| {
                let mut out = vec![0f32; 9 * 7 * m];
                project_slice_into(src, shape, &p, &mut out, Variant::Simd).expect("projects");
                out
            };
            let fresh = std::thread::scope(|s| s.spawn(|| run(&src)).join().expect("a fresh thread"));
            for e in earlier {
                let q = SlabProjection::new(7).axis(Axis3::Z).reduce(reduce).align(align);
                let mut out = vec![0f32; e[0] * e[1] * q.output_len(e[2]).expect("fits")];
                project_slice_into(&vec![f32::NAN; e.iter().product()], e, &q, &mut out, Variant::Simd)
                    .expect("projects");
                assert!(out.iter().all(|v| v.is_nan()), "the earlier job saw only NaN");
                let after = run(&src);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&after), bits(&fresh), "{reduce} {align} after {e:?}");
            }
        }
    }
}
