//! Regression tests for what an outside tester broke (absurd options and geometry corners):
//! each ran for ever, panicked or aborted before.

mod common;

use common::{ctprep, s, stderr};
use std::path::Path;

use ctprep_core::Affine;
use ctprep_io::{WriteOptions, read_nifti, write_nifti};
use ctprep_phantom::Phantom;

/// An int16 phantom CT of `shape` and `spacing`, written to `dir/ct.nii.gz`.
fn ct_file(dir: &Path, shape: [usize; 3], spacing: [f64; 3]) -> std::path::PathBuf {
    let ct = Phantom::new(shape).spacing_mm(spacing).ct().expect("phantom");
    let path = dir.join("ct.nii.gz");
    write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
    path
}

/// A small int16 CT, written to `dir/ct.nii.gz`.
fn small_ct(dir: &Path) -> std::path::PathBuf {
    ct_file(dir, [24, 20, 9], [1.5, 1.5, 3.0])
}

/// A small `.nii` at `dir/name` with the header bytes at each offset replaced.
fn patched_nii(dir: &Path, name: &str, patches: &[(usize, &[u8])]) -> std::path::PathBuf {
    let ct = Phantom::new([8, 6, 4]).ct().expect("phantom");
    let path = dir.join(name);
    write_nifti(&ct, &path, &WriteOptions::new()).expect("writes");
    let mut bytes = std::fs::read(&path).expect("reads");
    for (at, b) in patches {
        bytes[*at..*at + b.len()].copy_from_slice(b);
    }
    std::fs::write(&path, &bytes).expect("writes");
    path
}

fn voxels(p: &Path) -> Vec<u32> {
    read_nifti(p).expect("reads").scaled_f32().iter().map(|v| v.to_bits()).collect()
}

/// A slab thicker than twice the axis gives the same windows as one of 2n + 1 (or 2n + 2, the
/// same parity) slices: `--slab 18446744073709551615` and `--slab-mm 1e30` finish with that
/// output instead of panicking in the kernels.
#[test]
fn absurd_mip_slabs_give_the_thickest_useful_slab() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = |name: &str| dir.path().join(name);
    for (align, edges) in [("start", "shrink"), ("centre", "shrink"), ("centre", "zero"), ("start", "zero")] {
        // 9 slices: 19 is the first thickness past 2n + 1 = 19 with every window whole.
        let want = out(&format!("want_{align}_{edges}.nii.gz"));
        let o = ctprep(&["mip", s(&ct), s(&want), "--slab", "19", "--align", align, "--edges", edges, "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        for slab in [["--slab", "18446744073709551615"], ["--slab-mm", "1e30"], ["--slab", "1001"]] {
            let got = out("got.nii.gz");
            let o = ctprep(&["mip", s(&ct), s(&got), slab[0], slab[1], "--align", align, "--edges", edges, "--quiet"]);
            assert!(o.status.success(), "{slab:?} {align} {edges}: {}", stderr(&o));
            assert_eq!(voxels(&got), voxels(&want), "{slab:?} {align} {edges}");
        }
    }
    // Whole volumes too (along x, by mean: not streamed).
    let o = ctprep(&[
        "mip",
        s(&ct),
        s(&out("x.nii.gz")),
        "--slab",
        "18446744073709551615",
        "--axis",
        "x",
        "--reduce",
        "mean",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A z spacing of 1e-30 mm makes any `--slab-mm` an absurd number of slices.
#[test]
fn a_near_zero_spacing_with_slab_mm_finishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = Phantom::new([16, 12, 7]).ct().expect("phantom");
    let flat = ct.with_affine(Affine::from_spacing_origin([1.0, 1.0, 1e-30], [0.0; 3])).expect("affine");
    let path = dir.path().join("flat.nii.gz");
    write_nifti(&flat, &path, &WriteOptions::new()).expect("writes");
    let o = ctprep(&["mip", s(&path), s(&dir.path().join("m.nii.gz")), "--slab-mm", "10", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `ctprep run --mip-mm 1e30` (or `--mip 18446744073709551615`) ran for ever and left an empty
/// temporary file; now its MIP is that of the thickest useful slab.
#[test]
fn run_with_an_absurd_mip_finishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let json = |args: &[&str]| -> serde_json::Value {
        let o = ctprep(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let base = dir.path().join("want");
    let doc = json(&["run", s(&ct), "--out", s(&base), "--save", "mip", "--mip", "1", "--json"]);
    let n = doc["output_shape"][2].as_u64().expect("shape") as usize;
    let cap = (2 * n + 1).to_string();
    json(&["run", s(&ct), "--out", s(&base), "--save", "mip", "--mip", &cap, "--json"]);
    let want = voxels(&base.join("ct_mip.nii.gz"));
    for mip in [["--mip", "18446744073709551615"], ["--mip-mm", "1e30"]] {
        let d = dir.path().join(mip[0].trim_start_matches('-'));
        json(&["run", s(&ct), "--out", s(&d), "--save", "mip", mip[0], mip[1], "--json"]);
        assert_eq!(voxels(&d.join("ct_mip.nii.gz")), want, "{mip:?}");
        let left: Vec<_> = std::fs::read_dir(&d).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 1, "{mip:?}: {left:?}");
    }
}

/// `demo --shape 100000,100000,100000` aborted on the allocation and `--shape
/// 18446744073709551615,2,2` panicked on the capacity; both are now refused (exit 1, one line)
/// before anything is allocated or created.
#[test]
fn demo_refuses_shapes_beyond_the_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    for shape in ["100000,100000,100000", "18446744073709551615,2,2"] {
        let out = dir.path().join("demo");
        let o = ctprep(&["demo", s(&out), "--shape", shape]);
        assert_eq!(o.status.code(), Some(1), "{shape}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("more than the limit") && e.lines().count() == 1, "{shape}: {e}");
        assert!(!out.exists(), "{shape}: the folder was created");
    }
}

/// A run that fails before writing anything removes the output folder it created.
#[test]
fn a_failed_run_leaves_no_new_empty_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = dir.path().join("new").join("out");
    // 1e-9 mm spacing: a grid far beyond the limits, refused while planning.
    let o = ctprep(&["run", s(&ct), "--out", s(&out), "--spacing", "1e-9", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!out.exists(), "left {}", out.display());
}

/// `--window=-1e308,1e308` was accepted and mapped every voxel to 0 (its width overflows).
#[test]
fn windows_of_infinite_width_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = dir.path().join("w.nii.gz");
    let o = ctprep(&["window", s(&ct), s(&out), "--window=-1e308,1e308"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("finite width"), "{}", stderr(&o));
    assert!(!out.exists());
    let o = ctprep(&["run", s(&ct), "--out", s(&dir.path().join("r")), "--window=-1e308,1e308"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A zero z spacing is the file's fault: exit 1 and one line naming it, not a usage error.
#[test]
fn a_zero_spacing_is_bad_input_not_bad_usage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = Phantom::new([16, 12, 7]).ct().expect("phantom");
    let mut a = Affine::from_spacing_origin([1.0, 1.0, 1.0], [0.0; 3]);
    a.0[2][2] = 0.0;
    let flat = ct.with_affine(a).expect("affine");
    let path = dir.path().join("flat.nii.gz");
    write_nifti(&flat, &path, &WriteOptions::new()).expect("writes");
    let o = ctprep(&["mip", s(&path), s(&dir.path().join("m.nii.gz")), "--slab-mm", "10"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("flat.nii.gz") && e.lines().count() == 1, "{e}");
    let o = ctprep(&["mip", s(&path), s(&dir.path().join("m.nii.gz")), "--slab-mm", "-3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Every file of `dir` with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut f: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("reads")))
        .collect();
    f.sort();
    f
}

/// A run that fails while placing its outputs kept deleting the previous run's (5 of 6 lost
/// when one output path was a folder); now the earlier outputs stay, byte for byte, and no
/// temporary file is left.
#[test]
fn a_run_failing_at_its_last_step_keeps_the_earlier_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = dir.path().join("out");
    let o = ctprep(&["run", s(&ct), "--out", s(&out), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = files(&out);
    assert_eq!(before.len(), 6);
    // The MIP's path becomes a folder: the next run cannot place its MIP there.
    let mip = out.join("ct_mip.nii.gz");
    std::fs::remove_file(&mip).expect("removes");
    std::fs::create_dir(&mip).expect("mkdir");
    let o = ctprep(&["run", s(&ct), "--out", s(&out), "--window", "-500,500", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let after = files(&out);
    let want: Vec<_> = before.into_iter().filter(|(n, _)| n != "ct_mip.nii.gz").collect();
    assert_eq!(after.iter().map(|f| &f.0).collect::<Vec<_>>(), want.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert!(after == want, "an earlier output changed");
    // And with the way clear, the new run replaces them all.
    std::fs::remove_dir(&mip).expect("rmdir");
    let o = ctprep(&["run", s(&ct), "--out", s(&out), "--window", "-500,500", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let now = files(&out);
    assert_eq!(now.len(), 6);
    assert!(now.iter().zip(&want).any(|(a, b)| a.1 != b.1), "the new window changed the outputs");
}

/// Temporary files of a process that no longer runs (killed while writing) are removed by the
/// next run in that folder; those of running processes and other files are not.
#[test]
fn the_next_run_removes_what_a_killed_run_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    // pid 1 always runs; 2^31 - 1 never does (Linux pids stay below 2^22).
    let stale = out.join(".ctprep-2147483647-abc123.tmp");
    let live = out.join(".ctprep-1-abc123.tmp");
    let other = out.join(".ctprep-notes.tmp");
    for p in [&stale, &live, &other] {
        std::fs::write(p, b"partial").expect("writes");
    }
    let o = ctprep(&["run", s(&ct), "--out", s(&out), "--save", "mip", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    if Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "the dead process's temporary file is still there");
    }
    assert!(live.exists() && other.exists());
}

/// SIGTERM and SIGINT in the middle of a run left hidden temporary files of up to 147 MB; now
/// the run removes them, exits 130, and the previous run's outputs stay as they were.
#[test]
fn interrupted_runs_leave_no_temporaries_and_keep_earlier_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = ct_file(dir.path(), [192, 192, 60], [0.8, 0.8, 2.5]);
    let out = dir.path().join("out");
    let o = ctprep(&["run", s(&path), "--out", s(&out), "--spacing", "0.5", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = files(&out);
    let mut interrupted = 0;
    for (signal, after_ms) in [("-TERM", 150), ("-INT", 300), ("-TERM", 600)] {
        let mut child = common::ctprep_command()
            .args(["run", s(&path), "--out", s(&out), "--spacing", "0.5", "--window", "-500,500", "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starts");
        std::thread::sleep(std::time::Duration::from_millis(after_ms));
        let _ = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status();
        let status = child.wait().expect("ends");
        let left: Vec<String> = std::fs::read_dir(&out)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".ctprep-"))
            .collect();
        assert!(left.is_empty(), "{signal} after {after_ms} ms: {left:?}");
        if status.code() == Some(130) {
            interrupted += 1;
            assert!(files(&out) == before, "{signal} after {after_ms} ms changed the earlier outputs");
        }
    }
    assert!(interrupted > 0, "no run was interrupted: make the input larger");
}

/// A `.nii` whose `vox_offset` (100) points inside its header was read from byte 352 without a
/// word; nibabel refuses it, and so does ctprep now (exit 1, naming the file and the field).
#[test]
fn a_vox_offset_inside_the_header_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = patched_nii(dir.path(), "low.nii", &[(108, &100f32.to_le_bytes())]); // vox_offset
    let o = ctprep(&["info", s(&path)]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("low.nii") && e.contains("vox_offset = 100"), "{e}");
}

/// `convert` copied an invalid `sform_code` (99) into both codes of its output; a code the
/// standard does not define is now written as 2 (aligned), the affine unchanged.
#[test]
fn convert_writes_only_valid_transform_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = patched_nii(dir.path(), "odd.nii", &[(254, &99i16.to_le_bytes())]); // sform_code
    let out = dir.path().join("out.nii");
    let o = ctprep(&["convert", s(&path), s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (read_nifti(&path).expect("reads"), read_nifti(&out).expect("reads"));
    assert_eq!((b.header().sform_code, b.header().qform_code), (2, 1));
    assert!(a.affine().max_abs_diff(b.affine()) < 1e-6);
}

/// A file name holding a newline or an escape sequence broke the one-line error or reached the
/// terminal; control characters are now escaped as Rust's `{:?}` escapes them.
#[test]
fn errors_stay_on_one_line_whatever_the_file_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad\nname\u{1b}[31m.nii");
    std::fs::write(&path, b"not a nifti file").expect("writes");
    let o = ctprep(&["info", path.to_str().expect("utf-8")]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(!e.contains('\u{1b}') && e.contains("bad\\nname\\u{1b}[31m.nii"), "{e}");
}

/// A NaN quaternion was reported as a problem of `qoffset_x/y/z`; the error now names
/// `quatern_b/c/d`.
#[test]
fn a_nan_quaternion_is_named_as_such() {
    let dir = tempfile::tempdir().expect("temp dir");
    // sform_code 0 (the qform is used), quatern_b NaN.
    let path = patched_nii(dir.path(), "q.nii", &[(254, &0i16.to_le_bytes()), (256, &f32::NAN.to_le_bytes())]);
    let o = ctprep(&["info", s(&path)]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("quatern_b/c/d") && !e.contains("qoffset"), "{e}");
}

/// Runs killed with SIGKILL at moments spread over a run, each followed by the clean-up the
/// next run in the folder does first (`remove_stale_temporaries`): the folder then holds either
/// the previous run's complete outputs or the new run's, never a mix, never a partial file.
#[test]
fn sigkill_at_any_moment_leaves_one_run_s_complete_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = ct_file(dir.path(), [320, 320, 120], [0.78, 0.78, 2.5]);
    let args = |out: &Path, window: &str| -> Vec<String> {
        ["run", s(&path), "--out", s(out), "--window", window, "--quiet"].map(str::to_owned).to_vec()
    };
    // The two complete outcomes: the previous options' outputs and the new ones'.
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    let o = ctprep(&args(&old, "-100,1000").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let started = std::time::Instant::now();
    let o = ctprep(&args(&new, "-500,500").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let run_time = started.elapsed();
    let (old_files, new_files) = (files(&old), files(&new));
    assert_ne!(old_files, new_files);
    let out = dir.path().join("out");
    let mut outcomes = [0; 2];
    for fraction in [0.1, 0.4, 0.7, 0.9, 0.97, 1.02] {
        // The previous outputs in place, then a new run killed part of the way through.
        let o = ctprep(&args(&out, "-100,1000").iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", stderr(&o));
        let mut child = common::ctprep_command()
            .args(args(&out, "-500,500"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starts");
        std::thread::sleep(run_time.mul_f64(fraction));
        let _ = child.kill();
        let _ = child.wait();
        ctprep_io::remove_stale_temporaries(&out);
        let now = files(&out);
        let hidden: Vec<_> = now.iter().filter(|f| f.0.starts_with('.')).map(|f| &f.0).collect();
        assert!(hidden.is_empty(), "killed at {fraction}: {hidden:?} left");
        if now == old_files {
            outcomes[0] += 1;
        } else {
            assert!(now == new_files, "killed at {fraction}: a mix of the two runs' outputs, or a partial file");
            outcomes[1] += 1;
        }
    }
    // Both outcomes are met: the kills fall before and after the new run's outputs are placed.
    assert!(outcomes[0] > 0, "{outcomes:?}");
}

/// The peak resident memory (VmHWM) of `cmd` in bytes, read from /proc while it runs (the high
/// water mark only grows, so the last reading before it exits is its peak, give or take the
/// last few milliseconds), or `None` where there is no /proc.
fn peak_rss(cmd: &mut std::process::Command) -> Option<(u64, std::process::ExitStatus)> {
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().ok()?;
    let status = Path::new(&format!("/proc/{}/status", child.id())).to_path_buf();
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))
            && let Some(kb) = kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        {
            peak = peak.max(kb * 1024);
        }
        if let Ok(Some(st)) = child.try_wait() {
            return (peak > 0).then_some((peak, st));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Finding 6: resampling a small file onto a fine grid streams the output instead of
/// allocating it whole (it grew past 4 GB for `--spacing 0.2` on a 0.5 MB CT). Two fine grids,
/// of about 390 and 760 MB of float32: the second's peak memory may exceed the first's by the
/// buffers that grow with a slice, never by the 370 MB more of output.
#[test]
fn resampling_onto_a_fine_grid_streams_its_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = dir.path().join("fine.nii.gz");
    let mut runs = Vec::new();
    for spacing in ["0.0625", "0.05"] {
        let mut cmd = common::ctprep_command();
        cmd.args(["resample", s(&ct), s(&out), "--spacing", spacing, "--quiet", "--gzip-level", "0"]);
        let Some((peak, status)) = peak_rss(&mut cmd) else {
            eprintln!("SKIPPED resampling_onto_a_fine_grid_streams_its_output: no /proc to read memory use from");
            return;
        };
        assert!(status.success(), "--spacing {spacing}");
        let header = ctprep_io::SliceReader::open(&out).expect("the output reads");
        let whole = header.shape().iter().product::<usize>() as u64 * 4;
        eprintln!("--spacing {spacing}: peak {} MB for an output of {} MB", peak >> 20, whole >> 20);
        runs.push((peak, whole));
    }
    let [(peak_a, whole_a), (peak_b, whole_b)] = runs[..] else { unreachable!() };
    assert!(whole_a > 350 << 20 && whole_b > 700 << 20, "the outputs are large: {whole_a} and {whole_b} bytes");
    assert!(peak_b < whole_b / 2, "peak {} MB for a {} MB output", peak_b >> 20, whole_b >> 20);
    let grew = peak_b.saturating_sub(peak_a);
    assert!(
        grew < (whole_b - whole_a) / 4,
        "{} MB more output took {} MB more memory",
        (whole_b - whole_a) >> 20,
        grew >> 20
    );
}

/// Finding 7: failed runs left an empty `--out` folder they had created. The commands that
/// write one file never create folders: a missing one is an error naming it, and nothing is
/// left behind.
#[test]
fn single_file_commands_create_no_folders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let missing = dir.path().join("a");
    let out = |name: &str| missing.join("b").join(name);
    let (o_nii, o_png) = (out("o.nii.gz"), out("o.png"));
    let commands: [&[&str]; 6] = [
        &["window", s(&ct), s(&o_nii), "--window", "-100,300"],
        &["mip", s(&ct), s(&o_nii), "--slab", "3"],
        &["resample", s(&ct), s(&o_nii), "--spacing", "2"],
        &["convert", s(&ct), s(&o_nii)],
        &["png", s(&ct), s(&o_png)],
        &["sheet", s(&ct), s(&o_png), "--rows", "1", "--cols", "2", "--start", "0"],
    ];
    for args in commands {
        let o = ctprep(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("does not exist") && err.contains(s(&missing.join("b"))), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
}

/// A reader that stops early (`ctprep info ct.nii.gz | head -1`) made `println!` panic with
/// "failed printing to stdout: Broken pipe" (exit 101). It is not an error.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    for args in [vec!["info", s(&ct)], vec!["info", s(&ct), "--json"]] {
        let mut child = common::ctprep_command()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starts");
        // Close the read end before ctprep has read its input and printed anything.
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("finishes");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}

/// Found by the run_options fuzz target: `--threads 1714` started a pool of 1714 threads (over
/// 30 s under the sanitizer). More than 4 threads per core is a usage error.
#[test]
fn absurd_thread_counts_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ct = small_ct(dir.path());
    let out = dir.path().join("o.nii.gz");
    for cmd in [vec!["window", s(&ct), s(&out), "--window", "-100,300"], vec!["run", s(&ct), "--out", s(dir.path())]] {
        let mut args = cmd.clone();
        args.extend(["--threads", "1714", "--quiet"]);
        let o = ctprep(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--threads 1714"), "{}", stderr(&o));
        let mut args = cmd;
        args.extend(["--threads", "3", "--quiet"]);
        let o = ctprep(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
}
