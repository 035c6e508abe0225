//! The B-spline kernels against the oracle: every kernel and thread count, on the awkward
//! shapes, stored types with a scaling, non-contiguous views, NaN, every order and mode, axis-
//! aligned and oblique maps. Bound: `1e-5 · max(1, |fill|, max |real input or output value|)`
//! (the fast kernels work in `f32`; the oracle in `f64`). And a streamed slab against the whole output: within `1e-6` of
//! the data's range once the slab's window is cut inside the volume (the prefilter's halo).

use ctprep_resample::{
    Affine, Exec, Grid, GridConvention, Kernel, Mode, Plan, Resampler, Sampling, Threads, Voxel, plan_like,
    plan_spacing, resample_spline, resample_spline_slice_into, spline_input_slices_for,
};
use ctprep_testdata::kernels::{AWKWARD_SHAPES, execs, finite_values, values, views};
use ndarray::{Array3, ShapeBuilder};

fn oblique(shape: [usize; 3]) -> Grid {
    let (s, c) = (0.35f64.sin(), 0.35f64.cos());
    Grid {
        shape: [shape[0] + 2, shape[1] + 1, shape[2].max(2)],
        affine: Affine::from_rows([
            [0.9 * c, 0.0, -0.8 * s, -0.7],
            [0.0, 1.1, 0.0, 0.4],
            [0.9 * s, 0.0, 0.8 * c, -0.3],
            [0.0, 0.0, 0.0, 1.0],
        ]),
    }
}

fn plans(shape: [usize; 3]) -> Vec<Plan> {
    let a = Affine::from_spacing_origin([0.78, 0.9, 2.5], [3.0, -2.0, 1.0]);
    let mut out = vec![
        plan_spacing(shape, &a, [0.55, 1.3, 1.1], GridConvention::FirstCentre).expect("plans"),
        plan_spacing(shape, &a, [1.0, 0.7, 3.1], GridConvention::Centred).expect("plans"),
    ];
    out.push(plan_like(shape, &Affine::IDENTITY, oblique(shape)).expect("plans"));
    out
}

fn options() -> Vec<Sampling> {
    let mut out = vec![
        Sampling::new().order(3),
        Sampling::new().orders([3, 1, 0]),
        Sampling::new().orders([0, 3, 3]),
        Sampling::new().order(3).fill(Some(-1024.0)),
        Sampling::new().order(1).mode(Some(Mode::Reflect)),
        Sampling::new().order(3).clip_input_range(true),
        // Fill taps next to a NaN: weight 0 must not read it.
        Sampling::new().order(1).mode(Some(Mode::Constant)).fill(Some(7.0)),
        Sampling::new().order(0).mode(Some(Mode::Constant)).fill(Some(7.0)),
    ];
    for m in Mode::ALL {
        let fill = (m == Mode::Constant).then_some(-3000.0);
        out.push(Sampling::new().order(3).mode(Some(m)).fill(fill));
    }
    out
}

fn check<T: Voxel>(data: &Array3<T>, what: &str, scaling: (f64, f64)) {
    for (view_name, view) in views(data) {
        // Each view is a volume of its own: the oracle runs on it too (it copies it first).
        let shape = [view.dim().0, view.dim().1, view.dim().2];
        for plan in plans(shape) {
            for opts in options() {
                let opts = opts.scaling(scaling.0, scaling.1);
                let (want, _) = resample_spline(view, &plan, &opts, Exec::SCALAR).expect("oracle");
                let real = view.iter().map(|v| (v.to_f64() * scaling.0 + scaling.1).abs() as f32);
                let fill = opts.get_fill().map_or(0.0, f32::abs);
                let scale = want
                    .iter()
                    .copied()
                    .chain(real)
                    .filter(|v| v.is_finite())
                    .fold(fill.max(1.0), |m, v| m.max(v.abs()));
                for exec in execs() {
                    let (got, report) = resample_spline(view, &plan, &opts, exec).expect("resamples");
                    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                        let ok = if w.is_nan() { g.is_nan() } else { (g - w).abs() <= 1e-5 * scale };
                        assert!(
                            ok,
                            "{what} {shape:?} {view_name} {opts:?} {exec:?} ({report}): voxel {i}: {g} vs oracle {w}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_kernel_matches_the_oracle_on_awkward_shapes() {
    for (n, shape) in AWKWARD_SHAPES.iter().enumerate() {
        let [x, y, z] = *shape;
        let len = x * y * z;
        let ints: Vec<i16> = values(len, n as u64);
        check(&Array3::from_shape_vec((x, y, z).f(), ints).expect("shape"), "int16", (1.0, 0.0));
        let bytes: Vec<u8> = values(len, 7 + n as u64);
        check(&Array3::from_shape_vec((x, y, z).f(), bytes).expect("shape"), "uint8 scaled", (2.5, -1024.0));
        let floats = finite_values(len, 11 + n as u64);
        check(&Array3::from_shape_vec((x, y, z).f(), floats).expect("shape"), "float32", (1.0, 0.0));
    }
}

/// A NaN sample makes every prefiltered line through it NaN (scipy's too: cubic along every
/// axis, the whole volume; cubic along z alone, its z line): every kernel gives NaN where the
/// oracle does, and the same values elsewhere.
#[test]
fn nan_spreads_as_in_the_oracle() {
    let mut v = finite_values(9 * 8 * 7, 3);
    v[4 + 9 * (3 + 8 * 2)] = f32::NAN;
    v[9 * (5 + 8 * 4)] = f32::NAN; // at x = 0, where constant mode's fill taps sit
    let data = Array3::from_shape_vec((9, 8, 7).f(), v).expect("shape");
    check(&data, "float32 with NaN", (1.0, 0.0));
    let plan = &plans([9, 8, 7])[0];
    let (out, _) = resample_spline(data.view(), plan, &Sampling::new().order(3), Exec::default()).expect("resamples");
    assert!(out.iter().all(|v| v.is_nan()), "cubic along every axis: NaN everywhere, as scipy");
    // Far outside (beyond what an i64 holds): no panic, every kernel as the oracle.
    let far = plan_like(
        [9, 8, 7],
        &Affine::IDENTITY,
        Grid { shape: [3, 2, 2], affine: Affine::from_spacing_origin([1e30, 1.0, 1.0], [1e19, 0.0, 0.0]) },
    )
    .expect("plans");
    for opts in options() {
        let (want, _) = resample_spline(data.view(), &far, &opts, Exec::SCALAR).expect("oracle");
        for exec in execs() {
            let (got, _) = resample_spline(data.view(), &far, &opts, exec).expect("resamples");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(
                    g.to_bits() == w.to_bits() || (g - w).abs() <= 1e-3 * w.abs().max(1.0),
                    "{opts:?} {exec:?}: {g} vs {w}"
                );
            }
        }
    }
    let z_only = Sampling::new().orders([1, 1, 3]);
    let (out, _) = resample_spline(data.view(), plan, &z_only, Exec::default()).expect("resamples");
    let nan = out.iter().filter(|v| v.is_nan()).count();
    assert!(nan > 0 && nan < out.len() / 4, "cubic along z alone: the NaN's z line only ({nan} of {})", out.len());
}

/// Slab by slab, as `run` streams: each slab from only the input slices it needs, with a fresh
/// or a reused resampler, equals the whole output within 1e-6 of the range (the prefilter's
/// window is cut 13 slices past the taps); bit for bit along axes that are not cubic along z.
/// Anti-aliased too: each slab smooths only the slices it reads (bit for bit the whole
/// volume's smoothing), from the input slices their Gaussian reads.
#[test]
fn slabs_from_part_of_the_input_match_the_whole() {
    let shape = [11, 9, 90];
    let src: Vec<i16> = (0..11 * 9 * 90).map(|i| ((i * 7919) % 3000) as i16 - 1024).collect();
    let a = Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0; 3]);
    let one = [1.0; 3];
    // Anti-aliased: smoothed along x and y only (z grows), and along z too (z shrinks).
    let shrink = [1.6, 1.0, 6.0];
    for (opts, exact, target) in [
        (Sampling::new().order(3), false, one),
        (Sampling::new().order(3).mode(Some(Mode::Mirror)), false, one),
        (Sampling::new().order(3).mode(Some(Mode::Constant)).fill(Some(-1024.0)), false, one),
        (Sampling::new().orders([3, 3, 0]), true, one),
        (Sampling::new().orders([3, 3, 1]).mode(Some(Mode::Wrap)), true, one),
        (Sampling::new().order(3).mode(Some(Mode::Wrap)), true, one),
        (Sampling::new().order(3).antialias(true), false, one),
        (Sampling::new().order(3).antialias(true), false, shrink),
        (Sampling::new().orders([3, 3, 0]).mode(Some(Mode::Reflect)).antialias(true), true, shrink),
        (Sampling::new().order(1).mode(Some(Mode::Constant)).fill(Some(-1024.0)).antialias(true), true, shrink),
    ] {
        let plan = plan_spacing(shape, &a, target, GridConvention::FirstCentre).expect("plans");
        let [mx, my, mz] = plan.grid.shape;
        let mut whole = vec![0f32; plan.output_len()];
        resample_spline_slice_into(&src, &plan, &opts, &mut whole, Exec::new().threads(Threads::One))
            .expect("resamples");
        let mut kept = Resampler::new();
        let mut cut_inside = false;
        for slab in [1, 5, 16, 37] {
            for z0 in (0..mz).step_by(slab) {
                let zs = z0..(z0 + slab).min(mz);
                let need = spline_input_slices_for(&plan, &opts, zs.clone(), Kernel::Auto);
                cut_inside |= need.start > 0 && need.end < 90;
                let part = &src[need.start * 99..need.end * 99];
                let mut out = vec![0f32; zs.len() * mx * my];
                let exec = Exec::new().threads(Threads::One);
                kept.spline_slices_from(part, need.start, &plan, &opts, zs.clone(), &mut out, exec).expect("slab");
                let w = &whole[zs.start * mx * my..zs.end * mx * my];
                for (i, (g, w)) in out.iter().zip(w).enumerate() {
                    let tol = if exact { 0.0 } else { 1e-6 * 4000.0 };
                    assert!((g - w).abs() <= tol, "{opts:?} slab {zs:?}: voxel {i}: {g} vs whole {w}");
                }
            }
        }
        // A wrapping z reads both ends of the axis: its slabs read every slice.
        let wraps = opts.get_mode() == Some(Mode::Wrap) && opts.get_orders()[2] == 3;
        assert_eq!(cut_inside, !wraps, "{opts:?}: some slab's window is cut inside the volume");
    }
}

/// Anti-aliased slabs of a grid that reaches past the input along z (SimpleITK's fill rule):
/// slabs wholly outside read no input slice, and every slab equals the whole output within the
/// prefilter's halo.
#[test]
fn antialiased_slabs_past_the_input_match_the_whole() {
    let shape = [12, 10, 40];
    let src: Vec<i16> = (0..12 * 10 * 40).map(|i| ((i * 7919) % 3000) as i16 - 1024).collect();
    let a = Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0; 3]);
    // 1.6 x 1.6 x 6 mm, starting 30 mm below the input and ending 30 mm past it.
    let grid = Grid { shape: [6, 5, 27], affine: Affine::from_spacing_origin([1.6, 1.6, 6.0], [0.0, 0.0, -30.0]) };
    let plan = plan_like(shape, &a, grid).expect("plans");
    let opts = Sampling::new().order(3).fill(Some(-1024.0)).antialias(true);
    let [mx, my, mz] = plan.grid.shape;
    let mut whole = vec![0f32; plan.output_len()];
    resample_spline_slice_into(&src, &plan, &opts, &mut whole, Exec::new().threads(Threads::One)).expect("resamples");
    let mut kept = Resampler::new();
    let mut empty = 0;
    for z0 in 0..mz {
        let zs = z0..z0 + 1;
        let need = spline_input_slices_for(&plan, &opts, zs.clone(), Kernel::Auto);
        empty += usize::from(need.is_empty());
        // A slab that reads nothing may be handed no slices from anywhere (here slice 7 on).
        let first = if need.is_empty() { 7 } else { need.start };
        let part = &src[first * 120..need.end.max(first) * 120];
        let mut out = vec![0f32; mx * my];
        let exec = Exec::new().threads(Threads::One);
        kept.spline_slices_from(part, first, &plan, &opts, zs.clone(), &mut out, exec).expect("slab");
        for (i, (g, w)) in out.iter().zip(&whole[z0 * mx * my..(z0 + 1) * mx * my]).enumerate() {
            assert!((g - w).abs() <= 1e-6 * 4000.0, "slab {zs:?}: voxel {i}: {g} vs whole {w}");
        }
    }
    assert!(empty > 0, "some slabs lie wholly outside the input");
}
