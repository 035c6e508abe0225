//! Every kernel × threads against the naive oracle: max and min bit-identical, mean within
//! 1e-6 of the largest magnitude, over every axis, alignment, edge rule, reduction, stride and
//! slab thickness (1, 2, 3, 5, n, n + 1, 31), on the shared awkward shapes and values with
//! NaN, infinities and -0 (ctprep-testdata's property test), on more columns than one chunk,
//! and on non-contiguous views.

use ctprep_projection::{
    Align, Axis3, Edges, Exec, Kernel, Projector, Reduce, SlabProjection, Threads, project, scalar, simd,
};
use ctprep_testdata::kernels::{execs, finite_values, mix, values, views};
use ndarray::{Array3, ShapeBuilder, s};

fn value(i: usize, special: bool) -> f32 {
    let h = mix(i as u64) >> 40;
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

/// One shape through one kernel × threads: every axis, reduction and edge rule, with a slab
/// thickness, alignment and stride drawn from `seed`, on finite values (the fast path) and on
/// values with NaN, infinities and -0 (the exact fallback), through every view.
fn check(shape: [usize; 3], seed: u64, exec: Exec) {
    let n_all: usize = shape.iter().product();
    for special in [false, true] {
        let data = if special { values::<f32>(n_all, seed) } else { finite_values(n_all, seed) };
        let a = Array3::from_shape_vec(shape.f(), data).expect("shape");
        let scale = a.iter().filter(|v| v.is_finite()).fold(1f32, |m, v| m.max(v.abs()));
        for (view, v) in views(&a) {
            let vshape = [v.dim().0, v.dim().1, v.dim().2];
            for axis in [Axis3::X, Axis3::Y, Axis3::Z] {
                let n = vshape[axis.index()];
                let ks = [1, 2, 3, 5, n, n + 1, 31];
                let k = ks[(mix(seed ^ axis.index() as u64) % ks.len() as u64) as usize];
                let align = if seed.is_multiple_of(2) { Align::Start } else { Align::Centre };
                let stride = 1 + (seed / 2 % 3) as usize;
                for reduce in [Reduce::Max, Reduce::Min, Reduce::Mean] {
                    for edges in [Edges::Shrink, Edges::Valid, Edges::Zero] {
                        let p =
                            SlabProjection::new(k).axis(axis).reduce(reduce).align(align).edges(edges).stride(stride);
                        let what =
                            format!("{shape:?} {view} {axis:?} k={k} {reduce} {align} {edges} stride {stride} {exec}");
                        let want = match project(v, &p, Exec::SCALAR) {
                            Ok((w, _)) => w,
                            Err(e) => {
                                assert!(edges == Edges::Valid && k > n, "{what}: unexpected error {e}");
                                continue;
                            }
                        };
                        // The kernels report a NaN or infinity in any slice a window covers.
                        let covered: Vec<usize> =
                            p.windows(n).expect("windows").into_iter().flatten().flat_map(|(s, e)| s..=e).collect();
                        let read_non_finite = covered
                            .iter()
                            .any(|&i| v.index_axis(ndarray::Axis(axis.index()), i).iter().any(|v| !v.is_finite()));
                        let (got, report) = project(v, &p, exec).expect("runs");
                        assert_eq!(got.dim(), want.dim(), "{what}");
                        if exec.kernel != Kernel::Scalar {
                            assert_eq!(report.non_finite, read_non_finite, "{what}");
                        }
                        let g: Vec<f32> = got.iter().copied().collect();
                        let w: Vec<f32> = want.iter().copied().collect();
                        same(&what, &g, &w, reduce, scale);
                    }
                }
            }
        }
    }
}

ctprep_testdata::oracle_proptests!(every_kernel_and_thread_count, check);

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
                    let (want, _) = project(v, &p, Exec::SCALAR).expect("runs");
                    for variant in execs() {
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
    ctprep_projection::project_slice_into(&src, shape, &p, &mut want, Exec::SCALAR).expect("runs");
    for variant in [Exec::new(), Exec::new().threads(Threads::One), Exec::new().threads(Threads::count(3))] {
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
                        ctprep_projection::project_slice_into(&src, shape, &p, &mut want, Exec::SCALAR).expect("runs");
                        let slice = shape[0] * shape[1];
                        let read_non_finite = p
                            .windows(shape[2])
                            .expect("windows")
                            .into_iter()
                            .flatten()
                            .any(|(s, e)| src[s * slice..(e + 1) * slice].iter().any(|v| !v.is_finite()));
                        for variant in execs().into_iter().filter(|e| e.threads != Threads::One) {
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

/// The scratch rows a projector keeps between calls hold another job's values (here NaN, from a
/// wider and a narrower projection): nothing of them reaches the next job's output, for every
/// reduction and kernel.
#[test]
fn scratch_kept_from_an_earlier_job_does_not_leak() {
    let shape = [9, 7, 11];
    let src: Vec<f32> = (0..9 * 7 * 11).map(|i| value(i, false)).collect();
    let earlier = [[40, 30, 23], [3, 2, 40]];
    for reduce in [Reduce::Max, Reduce::Min, Reduce::Mean] {
        for align in [Align::Start, Align::Centre] {
            let p = SlabProjection::new(5).axis(Axis3::Z).reduce(reduce).align(align);
            let m = p.output_len(shape[2]).expect("fits");
            for exec in execs() {
                let run = |src: &[f32], projector: &mut Projector| {
                    let mut out = vec![0f32; 9 * 7 * m];
                    projector.project_slice_into(src, shape, &p, &mut out, exec).expect("projects");
                    out
                };
                let fresh = run(&src, &mut Projector::new());
                let mut kept = Projector::new();
                for e in earlier {
                    let q = SlabProjection::new(7).axis(Axis3::Z).reduce(reduce).align(align);
                    let mut out = vec![0f32; e[0] * e[1] * q.output_len(e[2]).expect("fits")];
                    kept.project_slice_into(&vec![f32::NAN; e.iter().product()], e, &q, &mut out, exec)
                        .expect("projects");
                    assert!(out.iter().all(|v| v.is_nan()), "the earlier job saw only NaN");
                    let after = run(&src, &mut kept);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&after), bits(&fresh), "{reduce} {align} {exec} after {e:?}");
                }
            }
        }
    }
}

#[test]
fn short_rows_go_through_transposed_tiles_bit_for_bit() {
    // Rows of fewer than 32 values (along x; along y of thin volumes) are projected in tiles
    // transposed to rows of about 128 values: outer counts below, at and around one tile and
    // several, partial last tiles, one job and several, with NaN and infinities in some.
    let cases = [
        ((40, 7, 37), Axis3::X), // rows of 1, 259 outer: two full tiles and a partial one
        ((9, 128, 1), Axis3::X), // exactly one tile
        ((9, 129, 1), Axis3::X), // one tile and one lane
        ((6, 1, 1), Axis3::X),   // a single lane
        ((3, 50, 45), Axis3::Y), // rows of 3: 42 lanes per tile
        ((31, 20, 9), Axis3::Y), // rows of 31: 4 lanes per tile
        ((2, 300, 2), Axis3::Z), // rows of 600: not tiled, for contrast
        ((0, 5, 5), Axis3::Y),   // empty volumes: nothing to tile
        ((5, 0, 5), Axis3::Y),
        ((0, 5, 5), Axis3::X),
        ((100_000, 3, 1), Axis3::X), // a long axis: tiles of two lanes, within the tile bound
        ((200_000, 2, 1), Axis3::X), // longer than a tile of two lanes: the row kernels
    ];
    for (shape, axis) in cases {
        let a = Array3::from_shape_fn(shape.f(), |(x, y, z)| {
            let i = x + shape.0 * (y + shape.1 * z);
            value(i, i % 53 == 0)
        });
        for (reduce, k, align, edges) in [
            (Reduce::Max, 5, Align::Centre, Edges::Shrink),
            (Reduce::Min, 3, Align::Start, Edges::Zero),
            (Reduce::Mean, 4, Align::Centre, Edges::Shrink),
            (Reduce::Max, 2, Align::Start, Edges::Valid),
        ] {
            let p = SlabProjection::new(k).axis(axis).reduce(reduce).align(align).edges(edges);
            let Ok((want, _)) = project(a.view(), &p, Exec::SCALAR) else { continue };
            let n = a.len_of(ndarray::Axis(axis.index()));
            let covered: Vec<usize> =
                p.windows(n).expect("windows").into_iter().flatten().flat_map(|(s, e)| s..=e).collect();
            let read_non_finite =
                covered.iter().any(|&i| a.index_axis(ndarray::Axis(axis.index()), i).iter().any(|v| !v.is_finite()));
            for exec in execs() {
                let (got, report) = project(a.view(), &p, exec).expect("runs");
                let what = format!("{shape:?} {axis:?} k={k} {reduce} {align} {edges} {exec}");
                assert_eq!(got.dim(), want.dim(), "{what}");
                if exec.kernel != Kernel::Scalar {
                    assert_eq!(report.non_finite, read_non_finite, "{what}");
                }
                let g: Vec<f32> = got.iter().copied().collect();
                let w: Vec<f32> = want.iter().copied().collect();
                same(&what, &g, &w, reduce, 1000.0);
            }
        }
    }
}
