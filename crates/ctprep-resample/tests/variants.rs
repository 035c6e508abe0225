//! Every kernel × threads against the per-voxel oracle: nearest bit-identical, linear within
//! `1e-5 · max(1, max |value|)` (`int16` on the general path: `4.81e-3 ·`, for the AVX2
//! kernel's `f32` steps) with NaN exactly where the oracle has NaN. Plans: every
//! convention up and down, flips and crops onto other grids (separable), oblique and permuted
//! grids (general), with and without a fill value; output rows of 1, 7, 8, 9 and 17 voxels
//! (8-lane width -1 / exact / +1), single voxels and single slices; input shapes from the
//! shared awkward table (ctprep-testdata's property test); stored types i16 with scaling, u8,
//! f32 with NaN; contiguous and non-contiguous input views.

use ctprep_resample::{
    Affine, Exec, Grid, GridConvention, Kernel, Path, Plan, Resampler, Threads, Trilinear, Voxel, plan_like,
    plan_spacing, resample_linear, resample_nearest,
};
use ctprep_testdata::kernels::{execs, mix, values, views};
use ndarray::{Array3, ArrayView3, ShapeBuilder, s};

fn hash(i: usize) -> u64 {
    mix(i as u64) >> 40
}

fn rot_z(deg: f64) -> [[f64; 3]; 3] {
    let (s, c) = deg.to_radians().sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

fn input_affine() -> Affine {
    Affine::from_rows([[-0.78, 0.0, 0.0, 30.0], [0.0, -0.9, 0.0, 20.0], [0.0, 0.0, 2.5, -40.0], [0.0, 0.0, 0.0, 1.0]])
}

/// Plans from an input of `shape` (affine [`input_affine`]): (name, plan, separable?).
fn plans(shape: [usize; 3]) -> Vec<(String, Plan, bool)> {
    let a = input_affine();
    let mut out = Vec::new();
    for c in GridConvention::ALL {
        for t in [[1.0, 1.0, 1.0], [0.5, 0.33, 1.1], [2.3, 1.7, 5.0]] {
            out.push((format!("{c} to {t:?}"), plan_spacing(shape, &a, t, c).expect("plans"), true));
        }
    }
    let centre = a.apply(shape.map(|n| (n as f64 - 1.0) / 2.0));
    let grid = |lin: [[f64; 3]; 3], m: [usize; 3]| {
        // Centred on the input's centre, a little larger than it so some samples fall outside.
        let half: [f64; 3] = std::array::from_fn(|r| (0..3).map(|c| lin[r][c] * (m[c] as f64 - 1.0) / 2.0).sum());
        let origin: [f64; 3] = std::array::from_fn(|r| centre[r] - half[r]);
        Grid { shape: m, affine: Affine::from_parts(lin, origin) }
    };
    for m in [[1, 1, 1], [7, 3, 5], [8, 2, 9], [9, 4, 6], [17, 5, 3]] {
        // A flipped, cropped grid: x and y increase the other way (still separable).
        let flipped = grid([[0.7, 0.0, 0.0], [0.0, 1.1, 0.0], [0.0, 0.0, -1.9]], m);
        out.push((format!("flipped {m:?}"), plan_like(shape, &a, flipped).expect("plans"), true));
        // Oblique: 5 degrees about z.
        let r = rot_z(5.0);
        let lin = std::array::from_fn(|i| std::array::from_fn(|j| r[i][j] * [0.9, 0.8, 2.0][j]));
        out.push((format!("oblique {m:?}"), plan_like(shape, &a, grid(lin, m)).expect("plans"), false));
        // Permuted: output x runs along the input's z.
        let perm = grid([[0.0, -0.8, 0.0], [0.0, 0.0, -1.0], [2.0, 0.0, 0.0]], m);
        out.push((format!("permuted {m:?}"), plan_like(shape, &a, perm).expect("plans"), false));
    }
    out
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol;
        assert!(ok, "{what}: voxel {i}: {g} vs oracle {w}");
    }
}

fn check_linear<T: Voxel>(
    what: &str,
    src: ArrayView3<'_, T>,
    opts: &Trilinear,
    plans: &[(String, Plan, bool)],
    exec: Exec,
) {
    let (slope, inter) = opts.get_scaling();
    // The scaling is applied in f32 after interpolating: its rounding scales with the terms
    // (slope * stored, inter), not with their sum, which may cancel.
    let scale = src
        .iter()
        .flat_map(|v| [(slope * v.to_f64() + inter).abs(), (slope * v.to_f64()).abs(), inter.abs()])
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    for (name, plan, separable) in plans {
        let (want, r) = resample_linear(src, plan, opts, Exec::SCALAR).expect("oracle");
        assert_eq!((r.kernel, r.path, r.threads), (Kernel::Scalar, Path::General, 1));
        let (got, r) = resample_linear(src, plan, opts, exec).expect("resamples");
        assert_ne!(r.kernel, Kernel::Auto);
        if exec.kernel != Kernel::Scalar {
            assert_eq!(r.path == Path::Separable, *separable, "{what} {name}: path");
        }
        let w = want.as_slice_memory_order().expect("x-fastest");
        // The AVX2 int16 kernel of the general path steps positions in f32 (within 8e-4 voxel
        // per axis of the oracle's, tested exactly in the crate): a trilinear value moves by at
        // most 8e-4 times the difference between neighbours (at most 2 max) per axis.
        let tol = if *separable || T::NAME != "int16" { 1e-5 } else { 3.0 * 8e-4 * 2.0 + 1e-5 };
        close(
            &format!("{what} {name} {exec}"),
            got.as_slice_memory_order().expect("x-fastest"),
            w,
            (tol * scale) as f32,
        );
    }
}

fn check_nearest<T: Voxel>(
    what: &str,
    src: ArrayView3<'_, T>,
    fill: Option<T>,
    plans: &[(String, Plan, bool)],
    exec: Exec,
) {
    for (name, plan, _) in plans {
        let (want, _) = resample_nearest(src, plan, fill, Exec::SCALAR).expect("oracle");
        let (got, _) = resample_nearest(src, plan, fill, exec).expect("resamples");
        // Compared bit for bit, so NaN fill values count as equal.
        let same = got.iter().zip(want.iter()).all(|(g, w)| g.to_f64().to_bits() == w.to_f64().to_bits());
        assert!(same && got.dim() == want.dim(), "{what} {name} {exec}: differs from the oracle");
    }
}

/// One input shape through one kernel × threads: linear (i16 scaled, with and without a fill
/// value, through every view; f32 with NaN; u8 with a fractional slope) and nearest.
fn check(shape: [usize; 3], seed: u64, exec: Exec) {
    let n: usize = shape.iter().product();
    let plans = plans(shape);
    let ct =
        Array3::from_shape_vec(shape.f(), values::<i16>(n, seed).iter().map(|v| v % 3000).collect()).expect("shape");
    for fill in [None, Some(-1024.0)] {
        let opts = Trilinear::new().fill(fill).scaling(1.0, -24.0);
        for (view, src) in views(&ct) {
            let shape = [src.dim().0, src.dim().1, src.dim().2];
            let plans = if view == "contiguous" { plans.clone() } else { self::plans(shape) };
            check_linear(&format!("i16 {shape:?} {view} fill {fill:?}"), src, &opts, &plans, exec);
        }
    }
    let nan = Array3::from_shape_vec(shape.f(), values::<f32>(n, seed)).expect("shape");
    let nan = nan.mapv(|v| if v.is_infinite() { 0.0 } else { v });
    check_linear(&format!("f32+NaN {shape:?}"), nan.view(), &Trilinear::new(), &plans, exec);
    let u8s = Array3::from_shape_vec(shape.f(), values::<u8>(n, seed)).expect("shape");
    check_linear(&format!("u8 {shape:?}"), u8s.view(), &Trilinear::new().scaling(7.1098, -1024.0), &plans, exec);
    let labels = u8s.mapv(|v| v % 6);
    check_nearest(&format!("u8 {shape:?}"), labels.view(), None, &plans, exec);
    check_nearest(&format!("u8 {shape:?} fill"), labels.view(), Some(255), &plans, exec);
    check_nearest(&format!("f32 {shape:?}"), nan.view(), Some(f32::NAN), &plans, exec);
}

ctprep_testdata::oracle_proptests!(every_kernel_and_thread_count, check);

/// A resampler reused across calls of different plans and kernels gives what a fresh one does.
#[test]
fn a_reused_resampler_equals_a_fresh_one() {
    let mut kept = Resampler::new();
    for (i, shape) in [[17, 13, 11], [9, 4, 6], [40, 12, 5], [7, 3, 5]].into_iter().enumerate() {
        let n: usize = shape.iter().product();
        let src: Vec<i16> = values(n, i as u64);
        for (name, plan, _) in plans(shape) {
            for exec in execs() {
                let opts = Trilinear::new().fill(Some(-1024.0));
                let mut a = vec![f32::NAN; plan.output_len()];
                let mut b = vec![0f32; plan.output_len()];
                let ra = kept.linear_slice_into(&src, &plan, &opts, &mut a, exec).expect("kept");
                let rb = Resampler::new().linear_slice_into(&src, &plan, &opts, &mut b, exec).expect("fresh");
                assert_eq!(ra, rb);
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} {exec}");
            }
        }
    }
}

#[test]
fn non_contiguous_views_resample_like_their_copies() {
    let big = Array3::from_shape_fn((21, 14, 12).f(), |(x, y, z)| ((x * 7 + y * 3 + z * 11) % 97) as f32 - 40.0);
    // Every other voxel along x, reversed y: not x-fastest contiguous.
    let view = big.slice(s![..;2, ..;-1, 1..]);
    let copy = view.to_owned();
    let shape = [view.dim().0, view.dim().1, view.dim().2];
    for (name, plan, _) in plans(shape) {
        for variant in execs() {
            let opts = Trilinear::new().fill(Some(-1.0));
            let (a, _) = resample_linear(view, &plan, &opts, variant).expect("view");
            let (b, _) = resample_linear(copy.view(), &plan, &opts, variant).expect("copy");
            assert!(a == b, "{name} {variant}: a view and its copy differ");
            let (a, _) = resample_nearest(view, &plan, None, variant).expect("view");
            let (b, _) = resample_nearest(copy.view(), &plan, None, variant).expect("copy");
            assert!(a == b, "{name} {variant}: nearest on a view and its copy differ");
        }
    }
}

#[test]
fn constant_stays_constant_and_identity_is_exact() {
    let a = input_affine();
    let shape = [9, 8, 7];
    let constant = Array3::from_elem(shape.f(), -1000i16);
    for (name, plan, _) in plans(shape) {
        for variant in execs() {
            let (out, _) = resample_linear(constant.view(), &plan, &Trilinear::new(), variant).expect("resamples");
            assert!(out.iter().all(|&v| v == -1000.0), "{name} {variant}: a constant volume changed");
        }
    }
    // Onto its own grid: every voxel is copied exactly.
    let ct = Array3::from_shape_fn(shape.f(), |(x, y, z)| (x * 100 + y * 10 + z) as i16 - 500);
    let plan = plan_like(shape, &a, Grid { shape, affine: a }).expect("plans");
    for variant in execs() {
        let (out, _) =
            resample_linear(ct.view(), &plan, &Trilinear::new().fill(Some(7.0)), variant).expect("resamples");
        assert_eq!(out.dim(), (9, 8, 7));
        for ((x, y, z), v) in ct.indexed_iter() {
            assert_eq!(out[[x, y, z]], f32::from(*v), "{variant} at {x},{y},{z}");
        }
    }
}

#[test]
fn bad_buffers_and_scaling_are_errors() {
    let a = input_affine();
    let plan = plan_spacing([4, 4, 4], &a, [1.0; 3], GridConvention::Seed).expect("plans");
    let src = vec![0i16; 63];
    let mut dst = vec![0f32; plan.output_len()];
    assert!(
        ctprep_resample::resample_linear_slice_into(&src, &plan, &Trilinear::new(), &mut dst, Exec::new()).is_err()
    );
    let src = vec![0i16; 64];
    let bad = Trilinear::new().scaling(f64::NAN, 0.0);
    assert!(ctprep_resample::resample_linear_slice_into(&src, &plan, &bad, &mut dst, Exec::new()).is_err());
    let mut short = vec![0i16; 3];
    assert!(ctprep_resample::resample_nearest_slice_into(&src, &plan, None, &mut short, Exec::new()).is_err());
}

/// Output slices resampled on their own (`resample_linear_slices_into`) are bit-identical to the
/// same slices of the whole output, for every variant and every range (empty, one slice, the
/// first, the last, the whole, ranges starting between cached input slices), on a rayon pool and
/// through one resampler kept across every call; ranges past the end or buffers of the wrong
/// size are errors.
#[test]
fn output_slices_alone_equal_the_whole_output() {
    use ctprep_resample::{resample_linear_slice_into, resample_linear_slices_into};
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
    let mut kept = Resampler::new();
    for shape in [[1, 1, 1], [9, 4, 6], [17, 13, 11]] {
        let n: usize = shape.iter().product();
        let src: Vec<i16> = (0..n).map(|i| (hash(i) % 3000) as i16 - 1024).collect();
        let opts = Trilinear::new().scaling(1.0, -24.0);
        for (name, plan, _) in plans(shape) {
            let [mx, my, mz] = plan.grid.shape;
            let plane = mx * my;
            for variant in execs() {
                let mut whole = vec![0f32; plan.output_len()];
                resample_linear_slice_into(&src, &plan, &opts, &mut whole, variant).expect("resamples");
                let mut ranges = vec![0..0, 0..1, 0..mz, mz - 1..mz, mz / 2..mz, mz / 3..(mz / 3 + 2).min(mz)];
                ranges.extend((0..mz).step_by(3).map(|s| s..(s + 3).min(mz)));
                for zs in ranges {
                    let mut part = vec![f32::NAN; zs.len() * plane];
                    let run = |part: &mut Vec<f32>| {
                        resample_linear_slices_into(&src, &plan, &opts, zs.clone(), part, variant).expect("slices")
                    };
                    for how in ["here", "pool", "kept"] {
                        part.fill(f32::NAN);
                        let r = match how {
                            "here" => run(&mut part),
                            "pool" => pool.install(|| run(&mut part)),
                            _ => kept
                                .linear_slices_into(&src, &plan, &opts, zs.clone(), &mut part, variant)
                                .expect("slices"),
                        };
                        assert_ne!(r.kernel, Kernel::Auto);
                        if variant.threads == Threads::One {
                            assert_eq!(r.threads, 1, "asked to stay on one thread");
                        }
                        let want = &whole[zs.start * plane..zs.end * plane];
                        let same = part.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{name} {variant} slices {zs:?} ({how})");
                    }
                }
                let mut one = vec![0f32; plane];
                assert!(resample_linear_slices_into(&src, &plan, &opts, mz..mz + 1, &mut one, variant).is_err());
                assert!(resample_linear_slices_into(&src, &plan, &opts, 0..1, &mut one[1..], variant).is_err());
            }
        }
    }
}

/// Output slices resampled from only the input slices `input_slices_for` names
/// (`resample_linear_slices_from`, the part copied out on its own) are bit-identical to the same
/// slices of the whole output, for every variant, range and plan, with and without a fill value;
/// one slice fewer on either side is an error, not a wrong answer. The named slices are exact:
/// at most two per output slice when the input's z follows the output's z alone (spacing
/// changes, flips, rotations about z), every slice for the permuted grid.
#[test]
fn output_slices_from_part_of_the_input_equal_the_whole_output() {
    use ctprep_resample::{input_slices_for, resample_linear_slice_into, resample_linear_slices_from};
    for shape in [[1, 1, 1], [9, 4, 6], [17, 13, 11]] {
        let n: usize = shape.iter().product();
        let plane_in = shape[0] * shape[1];
        let src: Vec<i16> = (0..n).map(|i| (hash(i) % 3000) as i16 - 1024).collect();
        for opts in [Trilinear::new().scaling(1.0, -24.0), Trilinear::new().fill(Some(-2000.0))] {
            for (name, plan, _) in plans(shape) {
                let [mx, my, mz] = plan.grid.shape;
                let plane = mx * my;
                let z_only = !name.starts_with("permuted");
                for variant in execs() {
                    let mut whole = vec![0f32; plan.output_len()];
                    resample_linear_slice_into(&src, &plan, &opts, &mut whole, variant).expect("resamples");
                    let mut ranges = vec![0..0, 0..1, 0..mz, mz - 1..mz, mz / 2..mz];
                    ranges.extend((0..mz).step_by(3).map(|s| s..(s + 3).min(mz)));
                    for zs in ranges {
                        let need = input_slices_for(&plan, &opts, zs.clone());
                        if z_only && zs.len() == 1 {
                            assert!(need.len() <= 2, "{name}: slice {zs:?} reads input slices {need:?}");
                        }
                        if !z_only && !zs.is_empty() {
                            assert_eq!(need, 0..shape[2], "{name}");
                        }
                        let part: Vec<i16> = src[need.start * plane_in..need.end * plane_in].to_vec();
                        let mut got = vec![f32::NAN; zs.len() * plane];
                        resample_linear_slices_from(&part, need.start, &plan, &opts, zs.clone(), &mut got, variant)
                            .expect("slices from part of the input");
                        let want = &whole[zs.start * plane..zs.end * plane];
                        let same = got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{name} {variant} slices {zs:?} from input slices {need:?}");
                        if !need.is_empty() {
                            let short_end = &src[need.start * plane_in..(need.end - 1) * plane_in];
                            let r = resample_linear_slices_from(
                                short_end,
                                need.start,
                                &plan,
                                &opts,
                                zs.clone(),
                                &mut got,
                                variant,
                            );
                            assert!(r.is_err(), "{name}: input slices {need:?} without the last");
                            let short_start = &src[(need.start + 1) * plane_in..need.end * plane_in];
                            let r = resample_linear_slices_from(
                                short_start,
                                need.start + 1,
                                &plan,
                                &opts,
                                zs.clone(),
                                &mut got,
                                variant,
                            );
                            assert!(r.is_err(), "{name}: input slices {need:?} without the first");
                        }
                    }
                    let ragged = &src[..plane_in.max(2) - 1];
                    if plane_in > 1 {
                        assert!(resample_linear_slices_from(ragged, 0, &plan, &opts, 0..0, &mut [], variant).is_err());
                    }
                }
            }
        }
    }
}
