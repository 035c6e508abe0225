//! Tests of the images: the display convention against a reoriented oracle, grey levels, sheets,
//! PNG bytes and streamed captures.

use ctprep_core::Affine;
use ctprep_intensity::{Output, Window, WindowMap};
use ctprep_io::{AxCodes, Volume, VoxelData};

use crate::*;

/// A RAS volume of `shape` whose value is 1 at `marker` and 0 elsewhere.
fn marker_volume(shape: [usize; 3], marker: [usize; 3]) -> Volume {
    let mut v = vec![0.0f32; shape.iter().product()];
    v[marker[0] + shape[0] * (marker[1] + shape[1] * marker[2])] = 1.0;
    let a = Affine::from_spacing_origin([0.7, 0.9, 2.0], [-3.0, 4.0, 10.0]);
    Volume::new(VoxelData::from_vec(v), &shape, a).expect("valid")
}

fn codes(s: &str) -> AxCodes {
    s.parse().expect("axis codes")
}

/// Where the single bright pixel of an image is.
fn bright(g: &Gray) -> Option<(usize, usize)> {
    let i = g.values.iter().position(|&v| v == 1.0)?;
    Some((i % g.width, i / g.width))
}

const ORDERS: [&str; 8] = ["RAS", "LPS", "PIR", "ASL", "ILP", "SRA", "LAI", "PSR"];

#[test]
fn plane_names_parse() {
    for (s, p) in [("axial", Plane::Axial), ("Z", Plane::Axial), ("coronal", Plane::Coronal), ("y", Plane::Coronal)] {
        assert_eq!(s.parse::<Plane>(), Ok(p));
    }
    assert_eq!("SAGITTAL".parse::<Plane>(), Ok(Plane::Sagittal));
    assert_eq!("x".parse::<Plane>(), Ok(Plane::Sagittal));
    assert!("transverse".parse::<Plane>().is_err());
    assert_eq!("16".parse::<Bits>(), Ok(Bits::Sixteen));
    assert!("12".parse::<Bits>().is_err());
}

/// A marker at a known RAS index lands where the convention says, in every storage order.
#[test]
fn marker_lands_where_the_convention_says() {
    let shape = [5, 6, 7];
    // x = 4 (toward the patient's right), y = 1 (posterior), z = 5 (superior).
    let m = [4, 1, 5];
    let ras = marker_volume(shape, m);
    for order in ORDERS {
        let v = ras.to_axcodes(codes(order)).expect("reorients");
        assert_eq!(v.axcodes_string(), order);
        // Axial slice z: the patient's right on the left (col = nx-1-x), anterior up (row = ny-1-y).
        let g = v.slice_image(Plane::Axial, m[2]).expect("in range");
        assert_eq!((g.width, g.height), (5, 6), "{order}");
        assert_eq!(bright(&g), Some((0, 4)), "{order} axial");
        // Coronal slice y: right on the left, superior up (row = nz-1-z).
        let g = v.slice_image(Plane::Coronal, m[1]).expect("in range");
        assert_eq!((g.width, g.height), (5, 7), "{order}");
        assert_eq!(bright(&g), Some((0, 1)), "{order} coronal");
        // Sagittal slice x: anterior on the left (col = ny-1-y), superior up.
        let g = v.slice_image(Plane::Sagittal, m[0]).expect("in range");
        assert_eq!((g.width, g.height), (6, 7), "{order}");
        assert_eq!(bright(&g), Some((4, 1)), "{order} sagittal");
        // The neighbouring slices do not hold it.
        assert_eq!(bright(&v.slice_image(Plane::Axial, m[2] - 1).expect("in range")), None);
    }
}

/// The oracle: reorient the whole volume to RAS, then index it naively.
fn naive(v: &Volume, plane: Plane, n: usize) -> Gray {
    let ras = v.to_closest_canonical().expect("oriented");
    let [nx, ny, nz] = ras.dims3().expect("3-D");
    let vals = ras.scaled_f32();
    let at = |x: usize, y: usize, z: usize| vals[x + nx * (y + ny * z)];
    let (w, h) = match plane {
        Plane::Axial => (nx, ny),
        Plane::Coronal => (nx, nz),
        Plane::Sagittal => (ny, nz),
    };
    let mut out = Vec::with_capacity(w * h);
    for r in 0..h {
        for c in 0..w {
            out.push(match plane {
                Plane::Axial => at(nx - 1 - c, ny - 1 - r, n),
                Plane::Coronal => at(nx - 1 - c, n, nz - 1 - r),
                Plane::Sagittal => at(n, ny - 1 - c, nz - 1 - r),
            });
        }
    }
    Gray { width: w, height: h, values: out }
}

fn counting_volume(shape: [usize; 3]) -> Volume {
    let n: usize = shape.iter().product();
    let v: Vec<i16> = (0..n).map(|i| i as i16).collect();
    Volume::new(VoxelData::from_vec(v), &shape, Affine::from_spacing_origin([1.0, 1.5, 2.5], [0.0; 3]))
        .expect("valid")
        .with_scaling(0.5, -10.0)
        .expect("valid scaling")
}

#[test]
fn every_slice_matches_the_reoriented_oracle() {
    let ras = counting_volume([4, 3, 5]);
    for order in ORDERS {
        let v = ras.to_axcodes(codes(order)).expect("reorients");
        let flat = v.scaled_f32();
        for plane in Plane::ALL {
            let layout = v.slice_layout(plane).expect("oriented");
            assert_eq!(layout.slice_count(), [4, 3, 5][plane.normal_axis()]);
            for n in 0..layout.slice_count() {
                let want = naive(&v, plane, n);
                let got = v.slice_image(plane, n).expect("in range");
                assert_eq!(got, want, "{order} {plane} {n}");
                let raw = slice_image(&flat, v.dims3().expect("3-D"), v.affine(), plane, n).expect("in range");
                assert_eq!(raw, want, "{order} {plane} {n} from f32");
                // The same picture from the RAS volume: storage order does not matter.
                assert_eq!(got, ras.slice_image(plane, n).expect("in range"));
            }
        }
    }
}

#[test]
fn voxel_index_names_the_stored_voxel() {
    let v = counting_volume([4, 3, 5]).to_axcodes(codes("PIR")).expect("reorients");
    let layout = v.slice_layout(Plane::Coronal).expect("oriented");
    let g = v.slice_image(Plane::Coronal, 1).expect("in range");
    let raw = v.data().as_slice::<i16>().expect("i16");
    let shape = v.dims3().expect("3-D");
    for row in 0..g.height {
        for col in 0..g.width {
            let [i, j, k] = layout.voxel_index(1, col, row);
            let stored = raw[i + shape[0] * (j + shape[1] * k)];
            assert_eq!(g.values[row * g.width + col], f32::from(stored) * 0.5 - 10.0);
        }
    }
}

#[test]
fn oblique_affines_use_the_closest_axes() {
    let ras = counting_volume([4, 3, 5]);
    for order in ["RAS", "LPS", "PIR"] {
        let v = ras.to_axcodes(codes(order)).expect("reorients");
        // Rotate the world by 20 degrees about z: still closest to the same axes.
        let (c, s) = (20f64.to_radians().cos(), 20f64.to_radians().sin());
        let rot = Affine::from_parts([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], [0.0; 3]);
        let oblique = v.clone().with_affine(rot.matmul(v.affine())).expect("valid");
        assert_eq!(oblique.axcodes_string(), order);
        for plane in Plane::ALL {
            assert_eq!(oblique.slice_image(plane, 1).expect("in range"), v.slice_image(plane, 1).expect("in range"));
        }
    }
}

#[test]
fn out_of_range_and_degenerate_inputs_are_errors() {
    let v = counting_volume([4, 3, 5]);
    let err = v.slice_image(Plane::Axial, 5).expect_err("past the end");
    assert!(matches!(err, RenderError::InvalidRequest { .. }), "{err:?}");
    assert!(err.to_string().contains("slice 5 is out of range: the axial plane has 5 slices, 0 to 4"), "{err}");
    let flat = Affine::from_spacing_origin([1.0, 1.0, 0.0], [0.0; 3]);
    let err = slice_image(&[0.0; 60], [4, 3, 5], &flat, Plane::Coronal, 0).expect_err("degenerate");
    assert!(err.to_string().contains("degenerate axis (axis codes RA?)"), "{err}");
    let err = slice_image(&[0.0; 59], [4, 3, 5], &Affine::IDENTITY, Plane::Coronal, 0).expect_err("short");
    assert!(err.to_string().contains("59 values"), "{err}");
    assert!(slice_image(&[], [0, 3, 5], &Affine::IDENTITY, Plane::Axial, 0).is_err());
    let layout = SliceLayout::new([4, 3, 5], &Affine::IDENTITY, Plane::Axial).expect("valid");
    assert!(layout.slice_into(&[0.0; 60], 0, &mut [0.0; 11]).is_err());
}

#[test]
fn grey_levels_round_half_to_even_clamp_and_zero_nan() {
    let g = Gray { width: 8, height: 1, values: vec![0.0, 0.5, 1.0, f32::NAN, -0.2, 1.7, f32::INFINITY, 0.25] };
    let p8 = PixelMap::new().apply(&g);
    assert_eq!(p8.values, [0, 128, 255, 0, 0, 255, 255, 64]);
    let p16 = PixelMap::new().bits(Bits::Sixteen).apply(&g);
    assert_eq!(p16.values, [0, 32768, 65535, 0, 0, 65535, 65535, 16384]);
    // Ties go to even: 1, 3, 5 HU in a 0..510 window are 0.5, 1.5, 2.5 grey levels.
    let w = Window::new(0.0, 510.0).expect("valid");
    let g = Gray { width: 4, height: 1, values: vec![1.0, 3.0, 5.0, -1000.0] };
    assert_eq!(PixelMap::new().window(w).apply(&g).values, [0, 2, 2, 0]);
    // The same numbers `ctprep window --dtype u8` computes.
    let map = WindowMap::for_output::<u8>(w, None, None).expect("valid");
    for v in [1.0f32, 3.0, 5.0, 77.0, 300.5] {
        assert_eq!(PixelMap::new().window(w).level(v), u16::from(u8::from_mapped(map.apply_as(f64::from(v), true))));
    }
}

#[test]
fn sheet_layout_and_errors() {
    let v = counting_volume([4, 3, 5]);
    let opts = SheetOptions::new().rows(2).cols(2).start(1).every(1);
    let map = PixelMap::new().window(Window::new(-10.0, 20.0).expect("valid"));
    let s = v.contact_sheet(Plane::Axial, &opts, &map).expect("fits");
    assert_eq!((s.width, s.height), (2 * 4 + 2, 2 * 3 + 2));
    assert_eq!(opts.size(4, 3), Some((10, 8)));
    // Panel 3 (bottom right) is slice 4, separators are grey.
    let want = map.apply(&v.slice_image(Plane::Axial, 4).expect("in range"));
    for r in 0..3 {
        assert_eq!(s.values[(5 + r) * 10 + 6..][..4], want.values[r * 4..][..4]);
    }
    assert!(s.values[4..6].iter().all(|&x| x == 128));
    assert!(s.values[3 * 10..5 * 10].iter().all(|&x| x == 128));
    // Past the end: says what exists and what was asked.
    let err = v.contact_sheet(Plane::Axial, &SheetOptions::new(), &map).expect_err("5 slices only");
    assert!(
        err.to_string().contains("needs slices 10, 13, ..., 115, but the axial plane has 5 slices, 0 to 4"),
        "{err}"
    );
    assert!(v.contact_sheet(Plane::Axial, &opts.rows(0), &map).is_err());
    assert!(v.contact_sheet(Plane::Axial, &opts.every(0), &map).is_err());
    let huge = SheetOptions::new().rows(usize::MAX).cols(3);
    let err = v.contact_sheet(Plane::Axial, &huge, &map).expect_err("overflows");
    assert!(err.to_string().contains("past any volume"), "{err}");
}

#[test]
fn numbers_are_drawn_in_the_corner() {
    let v =
        Volume::new(VoxelData::from_vec(vec![0.5f32; 40 * 30 * 20]), &[40, 30, 20], Affine::IDENTITY).expect("valid");
    let opts = SheetOptions::new().rows(1).cols(2).start(7).every(11);
    let plain = v.contact_sheet(Plane::Axial, &opts, &PixelMap::new()).expect("fits");
    let s = v.contact_sheet(Plane::Axial, &opts.numbers(true), &PixelMap::new()).expect("fits");
    // "7" in the first panel: its box (5 x 7) and the digit's top bar.
    assert_eq!(s.values[0], 0);
    assert_eq!(&s.values[82 + 1..82 + 4], &[255, 255, 255]);
    assert_eq!(s.values[82 + 4], 0, "the box's margin is black");
    assert_eq!(s.values[82 + 5], 128, "mid grey (0.5) right of the box");
    // "18" in the second panel, whose box is 9 wide.
    let x0 = 40 + SEPARATOR_PX;
    assert_eq!(s.values[82 + x0 + 8], 0);
    assert_eq!(s.values[82 + x0 + 9], 128, "mid grey (0.5) right of the box");
    // Outside the boxes the sheet is unchanged.
    let diff = s.values.iter().zip(&plain.values).filter(|(a, b)| a != b).count();
    assert_eq!(diff, 5 * 7 + 9 * 7);
}

#[test]
fn png_bytes_round_trip_and_are_deterministic() {
    let px = Pixels { width: 3, height: 2, bits: Bits::Sixteen, values: vec![0, 1, 256, 32768, 65535, 7] };
    let a = encode_png(&px).expect("encodes");
    assert_eq!(a, encode_png(&px).expect("encodes"));
    let mut dec = png::Decoder::new(std::io::Cursor::new(&a)).read_info().expect("a PNG");
    let mut buf = vec![0; dec.output_buffer_size().expect("size")];
    let info = dec.next_frame(&mut buf).expect("one frame");
    assert_eq!((info.width, info.height, info.bit_depth), (3, 2, png::BitDepth::Sixteen));
    let back: Vec<u16> = buf[..info.buffer_size()].chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
    assert_eq!(back, px.values);
    let bad = Pixels { bits: Bits::Eight, ..px.clone() };
    assert!(encode_png(&bad).expect_err("65535 in 8 bits").to_string().contains("does not fit 8 bits"));
    assert!(encode_png(&Pixels { width: 0, height: 0, bits: Bits::Eight, values: vec![] }).is_err());

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("x.png");
    write_png(&path, &px).expect("writes");
    assert_eq!(std::fs::read(&path).expect("reads"), a);
    // A failed write leaves nothing behind.
    let missing = dir.path().join("no/such/dir/x.png");
    assert!(write_png(&missing, &px).is_err());
    assert!(write_png(dir.path().join("y.png"), &bad).is_err());
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("lists").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["x.png"]);
}

/// Slices kept from a volume streamed in slabs of any size, in any storage order and any
/// plane (shapes with sides of 1 too), give the images and sheets of the whole volume bit for
/// bit; slices not kept, slabs not of whole slices, and slices out of range are errors.
#[test]
fn captured_slices_equal_the_whole_volume_images() {
    let map = PixelMap::new();
    for shape in [[4, 3, 5], [1, 3, 4], [3, 1, 4], [5, 4, 1], [6, 5, 7]] {
        let ras = counting_volume(shape);
        for order in ORDERS {
            let v = ras.to_axcodes(codes(order)).expect("reorients");
            let vals = v.scaled_f32();
            let vshape = v.dims3().expect("3-D");
            let plane_len = vshape[0] * vshape[1];
            for plane in Plane::ALL {
                let layout = SliceLayout::new(vshape, v.affine(), plane).expect("layout");
                let count = layout.slice_count();
                let sheet = SheetOptions::new().rows(1).cols(count.min(2)).start(0).every(1).numbers(true);
                let keep = [layout.middle(), 0, 1.min(count - 1)];
                for slab in [1, 2, vshape[2]] {
                    let mut c = SliceCapture::new(vshape, v.affine(), plane, &keep).expect("capture");
                    // Slabs in reverse order: the capture does not care.
                    let starts: Vec<usize> = (0..vshape[2]).step_by(slab).collect();
                    for &z0 in starts.iter().rev() {
                        let z1 = (z0 + slab).min(vshape[2]);
                        c.take(z0, &vals[z0 * plane_len..z1 * plane_len]).expect("takes");
                    }
                    for n in keep {
                        let want = slice_image(&vals, vshape, v.affine(), plane, n).expect("slice");
                        assert_eq!(c.image(n).expect("kept"), want, "{shape:?} {order} {plane} {n}");
                    }
                    let want = contact_sheet(&vals, vshape, v.affine(), plane, &sheet, &map).expect("sheet");
                    assert_eq!(c.sheet(&sheet, &map).expect("kept"), want, "{shape:?} {order} {plane} sheet");
                    if count > 2 {
                        assert!(c.image(count - 1).is_err(), "slice {} was not kept", count - 1);
                    }
                    assert!(c.image(count).is_err());
                    assert!(c.take(0, &vec![0.0; plane_len + 1]).is_err(), "not whole slices");
                    assert!(c.take(vshape[2], &vals[..plane_len]).is_err(), "past the last slice");
                }
                assert!(SliceCapture::new(vshape, v.affine(), plane, &[count]).is_err());
            }
        }
    }
}

/// Grids compare by their corner voxels; a degenerate (NaN) affine is never close.
#[test]
fn corners_apart_measures_the_farthest_corner() {
    let a = Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0; 3]);
    assert_eq!(corners_apart_mm([4, 5, 6], &a, &a), 0.0);
    let shifted = Affine::from_spacing_origin([0.8, 0.8, 2.5], [0.0, 0.02, 0.0]);
    assert!((corners_apart_mm([4, 5, 6], &a, &shifted) - 0.02).abs() < 1e-12);
    // 1% longer z steps: the far corner moves 5 * 0.025 mm.
    let longer = Affine::from_spacing_origin([0.8, 0.8, 2.525], [0.0; 3]);
    assert!((corners_apart_mm([4, 5, 6], &a, &longer) - 0.125).abs() < 1e-12);
    let nan = Affine::from_spacing_origin([0.8, f64::NAN, 2.5], [0.0; 3]);
    assert!(corners_apart_mm([4, 5, 6], &a, &nan).is_nan());
}
