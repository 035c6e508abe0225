//! The README's library example runs (on a phantom), and is word for word the one in
//! `examples/stages.rs`.

#[path = "../examples/stages.rs"]
#[allow(dead_code)]
mod stages;

/// The lines between the markers of `examples/stages.rs`, without their indentation.
fn example_lines() -> Vec<String> {
    let src = include_str!("../examples/stages.rs");
    let body: Vec<&str> = src
        .lines()
        .skip_while(|l| !l.contains("README example begins."))
        .skip(1)
        .take_while(|l| !l.contains("README example ends."))
        .collect();
    body.iter().map(|l| l.strip_prefix("    ").unwrap_or(l).trim_end().to_owned()).collect()
}

#[test]
fn readme_example_runs_on_a_phantom() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = ctprep_phantom::Phantom::new([40, 36, 12]).spacing_mm([0.8, 0.8, 2.5]).ct().expect("phantom");
    ctprep_io::write_nifti(&ct, dir.path().join("ct.nii.gz"), &ctprep_io::WriteOptions::new()).expect("writes");
    std::env::set_current_dir(dir.path()).expect("cd");
    stages::stages().expect("the README example runs");
}

#[test]
fn readme_shows_the_example() {
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let Ok(text) = std::fs::read_to_string(&readme) else {
        eprintln!("SKIPPED readme_shows_the_example: {} is absent (a packaged crate)", readme.display());
        return;
    };
    let block: Vec<String> = text
        .lines()
        .skip_while(|l| !l.contains("<!-- example: checked by crates/ctprep-pipeline/tests/readme.rs -->"))
        .skip(2)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| l.trim_end().to_owned())
        .collect();
    assert!(!block.is_empty(), "README.md has no example after its marker");
    assert_eq!(block, example_lines(), "README.md's example differs from examples/stages.rs");
}
