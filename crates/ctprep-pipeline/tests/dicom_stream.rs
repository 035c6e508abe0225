//! A DICOM series streamed through the pipeline (its slices decoded as the slabs need them):
//! the same outputs as the series read whole, and no stall when every thread of rayon's global
//! pool is itself running a pipeline (the decoding must not wait for those threads).
#![cfg(feature = "dicom")]

use std::time::Duration;

use ctprep_pipeline::input::{DicomOptions, pipeline_input};
use ctprep_pipeline::{Input, Outputs, Pipeline, ReadMode, Recipe};
use rayon::prelude::*;

fn series(dir: &std::path::Path) -> std::path::PathBuf {
    let ct = ctprep_phantom::Phantom::new([40, 36, 96])
        .spacing_mm([0.75, 0.75, 1.5])
        .stored(ctprep_phantom::StoredType::I16)
        .seed(9)
        .ct()
        .expect("phantom");
    let folder = dir.join("series");
    std::fs::create_dir(&folder).expect("made");
    ctprep_phantom::dicom::write_dicom_series(&ct, &folder, ctprep_phantom::dicom::PixelEncoding::Native)
        .expect("written");
    folder
}

#[test]
fn a_streamed_series_writes_what_the_whole_series_gives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = series(dir.path());
    let recipe = Recipe::corrected().spacing_mm([1.1; 3]);
    let run = |input: Input, out: &str| {
        let outputs = Outputs::new(dir.path().join(out)).stem("ct");
        Pipeline::new().run(input, &recipe, &outputs).expect("runs")
    };
    let (input, _, after) = pipeline_input(&folder, &DicomOptions::default()).expect("opens");
    assert!(!after.done(), "the run has slices to read");
    let streamed = run(input, "a");
    assert!(after.done(), "every slice read");
    assert!(matches!(streamed.read, ReadMode::Streamed(ctprep_io::Decoding::Slices)), "{:?}", streamed.read);
    let (whole, _) = ctprep_pipeline::input::read_volume_with(&folder, &DicomOptions::default()).expect("reads");
    let from_memory = run(Input::volume(whole, "ct"), "b");
    assert!(matches!(from_memory.read, ReadMode::Whole));
    for (a, b) in streamed.outputs.iter().zip(&from_memory.outputs) {
        let (x, y) = (std::fs::read(&a.path).expect("written"), std::fs::read(&b.path).expect("written"));
        assert!(x == y, "{} differs from {}", a.path.display(), b.path.display());
    }
    assert_eq!(streamed.outputs.len(), from_memory.outputs.len());
}

#[test]
fn series_stream_while_every_global_thread_runs_a_pipeline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = series(dir.path());
    let root = dir.path().to_path_buf();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // More pipelines than the global pool has threads, each started on one of them.
        let n = rayon::current_num_threads() * 2;
        let r: Vec<bool> = (0..n)
            .into_par_iter()
            .map(|i| {
                let (input, _, _) = pipeline_input(&folder, &DicomOptions::default()).expect("opens");
                let outputs = Outputs::new(root.join(format!("o{i}"))).stem("ct");
                let report = Pipeline::new().run(input, &Recipe::corrected().spacing_mm([1.1; 3]), &outputs);
                report.is_ok_and(|r| matches!(r.read, ReadMode::Streamed(_)))
            })
            .collect();
        let _ = done.send(r);
    });
    let r = wait.recv_timeout(Duration::from_secs(120)).expect("the pipelines finish (no stall)");
    assert!(r.iter().all(|&ok| ok), "{r:?}");
}

/// An input whose run never read it (or failed part way) leaves nothing to wait for once its
/// reader is gone: the CLI lets go of its `AfterRead` then (a long-lived Python process keeps
/// nothing of failed runs); a file the pipeline opens itself has nothing to say after the read.
#[test]
fn after_read_is_done_once_the_reader_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = series(dir.path());
    let (input, _, after) = pipeline_input(&folder, &DicomOptions::default()).expect("opens");
    assert!(!after.done() && after.notes().is_empty(), "the reader may still read");
    drop(input);
    assert!(after.done() && after.notes().is_empty(), "nothing left to read the rest");
    let file = dir.path().join("ct.nii");
    let ct = ctprep_phantom::Phantom::new([5, 4, 3]).ct().expect("phantom");
    ctprep_io::write_nifti(&ct, &file, &ctprep_io::WriteOptions::new()).expect("written");
    let (_, _, after) = pipeline_input(&file, &DicomOptions::default()).expect("opens");
    assert!(after.done(), "a file the pipeline reads itself");
}
