//! Property tests of the geometry maths: the affine inverse, and reorientation round trips over
//! all 48 axis orders (every voxel keeps its world position).

use ctprep_io::{Affine, AxCodes, Volume, VoxelData};
use proptest::prelude::*;

/// A rotation from a unit quaternion (any non-zero `q`, normalised).
fn rotation(q: [f64; 4]) -> [[f64; 3]; 3] {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let [w, x, y, z] = q.map(|v| v / n);
    [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ]
}

/// Every axis order: the 6 permutations of the axes, each pointing either way.
fn all_axcodes() -> Vec<AxCodes> {
    let letters = [['R', 'L'], ['A', 'P'], ['S', 'I']];
    let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let mut out = Vec::new();
    for p in perms {
        for flips in 0..8 {
            let s: String = (0..3).map(|i| letters[p[i]][(flips >> i) & 1]).collect();
            out.push(s.parse().expect("axis codes"));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `inverse` undoes the affine: on the matrix, and on points.
    #[test]
    fn affine_inverse_round_trips(
        q in prop::array::uniform4(-1.0f64..1.0).prop_filter("non-zero", |q| q.iter().map(|v| v * v).sum::<f64>() > 1e-3),
        spacing in prop::array::uniform3(0.01f64..100.0),
        t in prop::array::uniform3(-1e4f64..1e4),
        p in prop::array::uniform3(-1e3f64..1e3),
    ) {
        let r = rotation(q);
        let lin: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| r[i][j] * spacing[j]));
        let a = Affine::from_parts(lin, t);
        let inv = a.inverse().expect("invertible");
        prop_assert!(inv.matmul(&a).max_abs_diff(&Affine::IDENTITY) < 1e-9);
        let back = inv.apply(a.apply(p));
        prop_assert!((0..3).all(|i| (back[i] - p[i]).abs() < 1e-7 * (1.0 + p[i].abs())), "{back:?} vs {p:?}");
    }

    /// Reoriented to any axis order and back, a volume is the same; and every voxel of the
    /// reoriented volume sits at the world position of the input voxel whose value it holds.
    #[test]
    fn reorientation_round_trips_keep_world_positions(
        shape in prop::array::uniform3(1usize..6),
        spacing in prop::array::uniform3(0.5f64..3.0),
        origin in prop::array::uniform3(-100.0f64..100.0),
        from in 0usize..48,
        to in 0usize..48,
    ) {
        let codes = all_axcodes();
        let ras = Affine::from_spacing_origin(spacing, origin);
        let n: usize = shape.iter().product();
        let start = Volume::new(VoxelData::from_vec((0..n as u32).collect::<Vec<u32>>()), &shape, ras)
            .expect("volume")
            .to_axcodes(codes[from])
            .expect("reorients");
        let moved = start.to_axcodes(codes[to]).expect("reorients");
        prop_assert_eq!(moved.axcodes_string(), codes[to].to_string());
        let back = moved.to_axcodes(codes[from]).expect("reorients");
        prop_assert_eq!(back.shape(), start.shape());
        prop_assert_eq!(back.data().as_slice::<u32>(), start.data().as_slice::<u32>());
        prop_assert!(back.affine().max_abs_diff(start.affine()) < 1e-9);
        // World positions: value v sits at the same point in both.
        let place = |v: &Volume| -> Vec<[f64; 3]> {
            let s = v.dims3().expect("3-D");
            let vals = v.data().as_slice::<u32>().expect("u32");
            let mut at = vec![[0.0; 3]; vals.len()];
            for (idx, &val) in vals.iter().enumerate() {
                let ijk = [idx % s[0], (idx / s[0]) % s[1], idx / (s[0] * s[1])];
                at[val as usize] = v.affine().apply(ijk.map(|c| c as f64));
            }
            at
        };
        for (p, q) in place(&start).iter().zip(place(&moved)) {
            prop_assert!((0..3).all(|i| (p[i] - q[i]).abs() < 1e-9), "{p:?} vs {q:?}");
        }
    }
}

#[test]
fn there_are_48_distinct_orders() {
    let mut names: Vec<String> = all_axcodes().iter().map(|c| c.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 48);
}
