//! The README's library example: read a CT, resample it to 1 mm, window it, project it, and
//! print each stage's report. Run it in a folder holding an int16 `ct.nii.gz`:
//! `cargo run --release -p ctprep-pipeline --example stages`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    stages()
}

/// The stages one by one; the lines between the markers are the README's example, word for
/// word (`tests/readme.rs` checks both that they run and that they match).
pub(crate) fn stages() -> Result<(), Box<dyn std::error::Error>> {
    // README example begins.
    use ctprep_intensity::{Exec, Range, Window, WindowMap};
    use ctprep_projection::SlabProjection;
    use ctprep_resample::{GridConvention, Trilinear, plan_spacing};

    let ct = ctprep_io::read_nifti("ct.nii.gz")?; // int16 as stored, nibabel's affine
    let (slope, inter) = ct.scaling().map_or((1.0, 0.0), |s| (s.slope, s.inter));
    let plan = plan_spacing(ct.dims3()?, ct.affine(), [1.0; 3], GridConvention::FirstCentre)?;
    let trilinear = Trilinear::new().scaling(slope, inter);
    let (hu, r) = ctprep_resample::resample_linear(ct.view3::<i16>()?, &plan, &trilinear, Exec::default())?;
    println!("resample: {r}"); // e.g. "dispatched (avx2), 2 threads, separable path"
    let map = WindowMap::new(Window::new(-100.0, 1000.0)?, Range::UNIT, None)?;
    let (unit, r) = ctprep_intensity::window::<f32, f32>(hu.view(), &map, Exec::default())?;
    println!("window: {r}");
    let (mip, r) = ctprep_projection::project(unit.view(), &SlabProjection::new(5), Exec::default())?;
    println!("mip: {r}, {:?} voxels", mip.dim());
    // README example ends.
    Ok(())
}
