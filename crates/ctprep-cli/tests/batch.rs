//! `ctprep batch` end to end: outputs identical to `ctprep run`, records, resuming, failure
//! isolation, shards, `kill -9` and SIGTERM at any moment, the Slurm script.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{ctprep, ctprep_command, s, stderr};
use ctprep_core::Affine;
use ctprep_io::{WriteOptions, write_nifti};
use ctprep_phantom::Phantom;

/// Writes `n` phantoms (`case0.nii.gz`, ...) and their label maps (`case0_seg.nii.gz`) into
/// `dir`, each with its own noise.
fn dataset(dir: &Path, n: usize, shape: [usize; 3]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for i in 0..n {
        let p = Phantom::new(shape).spacing_mm([0.8, 0.8, 2.5]).seed(i as u64 + 1);
        write_nifti(&p.ct().expect("ct"), dir.join(format!("case{i}.nii.gz")), &WriteOptions::new()).expect("writes");
        write_nifti(&p.labels().expect("labels"), dir.join(format!("case{i}_seg.nii.gz")), &WriteOptions::new())
            .expect("writes");
    }
}

/// Every file under `dir` (relative path -> bytes), records left out unless `records`.
fn tree(dir: &Path, records: bool) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).expect("inside").display().to_string();
            let name = e.file_name().to_string_lossy().into_owned();
            if !records && (name == "ctprep.json" || name.starts_with("summary.") || name.ends_with(".failed.json")) {
                continue;
            }
            out.insert(rel, std::fs::read(&p).expect("reads"));
        }
    }
    out
}

/// The names under `dir`, at any depth, that are ctprep temporaries.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".ctprep-") {
                found.push(e.path().display().to_string());
            } else if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    found
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("reads")).expect("json")
}

fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Each case folder holds what `ctprep run` writes for that case, byte for byte, and a
/// record whose hashes are those of the files; a rerun skips every case.
#[test]
fn a_folder_batch_writes_what_run_writes_and_records_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 3, [40, 36, 12]);
    let out = dir.path().join("out");
    let o = ctprep(&["batch", s(&data), "--out", s(&out), "--label-pattern", "{stem}_seg.nii.gz", "--mip", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("cases 3: 3 done, 0 skipped, 0 failed"), "{}", stderr(&o));
    for i in 0..3 {
        let id = format!("case{i}");
        let single = dir.path().join(format!("run{i}"));
        let image = data.join(format!("{id}.nii.gz"));
        let label = data.join(format!("{id}_seg.nii.gz"));
        let o = ctprep(&["run", s(&image), "--label", s(&label), "--out", s(&single), "--mip", "3", "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut got = tree(&out.join(&id), false);
        // The report's images: what `png --label` draws of the outputs, full size and thumbnail.
        let images: Vec<String> =
            got.keys().filter(|k| k.contains("_thumb_") || k.contains("_view_")).cloned().collect();
        assert_eq!(images.len(), 6, "{images:?}");
        for plane in ["axial", "coronal", "sagittal"] {
            let png = dir.path().join(format!("{id}_{plane}.png"));
            let o = ctprep(&[
                "png",
                s(&out.join(&id).join(format!("{id}_window.nii.gz"))),
                s(&png),
                "--plane",
                plane,
                "--label",
                s(&out.join(&id).join(format!("{id}_label.nii.gz"))),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(got[&format!("{id}_view_{plane}.png")] == std::fs::read(&png).expect("reads"), "{id} {plane}");
        }
        images.iter().for_each(|k| drop(got.remove(k)));
        assert_eq!(got.len(), 7, "{:?}", got.keys());
        assert!(got == tree(&single, false), "{id}: batch and run differ");
        let record = json(&out.join(&id).join("ctprep.json"));
        assert_eq!(record["id"], id.as_str());
        assert_eq!(record["recipe"]["mip"]["slices"], 3);
        let inputs = record["inputs"].as_array().expect("inputs");
        assert_eq!(inputs[0]["blake3"], b3(&std::fs::read(&image).expect("reads")).as_str());
        assert_eq!(inputs[1]["role"], "label");
        for o in record["outputs"].as_array().expect("outputs") {
            let name = o["path"].as_str().expect("name");
            assert_eq!(o["blake3"], b3(&got[name]).as_str(), "{name}");
        }
        assert!(record["run"]["outputs"]["mip"][0].as_str().expect("path").ends_with(&format!("{id}/{id}_mip.nii.gz")));
        assert_eq!(record["run"]["label"]["verdict"], "aligned");
    }
    let summary = json(&out.join("summary.json"));
    assert_eq!((summary["cases"].as_u64(), summary["done"].as_u64()), (Some(3), Some(3)));
    let csv = std::fs::read_to_string(out.join("summary.csv")).expect("csv");
    assert!(csv.starts_with("id,status,seconds,input_bytes,read_s,stream_s,png_s,total_s,error\ncase0,done,"), "{csv}");

    let before = tree(&out, true);
    let o = ctprep(&["batch", s(&data), "--out", s(&out), "--label-pattern", "{stem}_seg.nii.gz", "--mip", "3"]);
    assert!(o.status.success() && stderr(&o).contains("0 done, 3 skipped"), "{}", stderr(&o));
    let after = tree(&out, true);
    let records = |t: &BTreeMap<String, Vec<u8>>| t.iter().filter(|(k, _)| k.ends_with("ctprep.json")).count();
    assert_eq!(records(&after), 3);
    assert!(
        before.iter().filter(|(k, _)| !k.starts_with("summary")).all(|(k, v)| after.get(k) == Some(v)),
        "a skipped case changed"
    );
}

/// A rerun redoes exactly the cases whose input, recipe or outputs changed; --force redoes all.
#[test]
fn a_rerun_redoes_what_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 3, [24, 20, 8]);
    let out = dir.path().join("out");
    let batch = |extra: &[&str]| {
        let mut args = vec!["batch", s(&data), "--out", s(&out), "--save", "mip,png", "--quiet"];
        args.extend_from_slice(extra);
        let o = ctprep(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let rows = json(&out.join("summary.json"))["rows"].as_array().expect("rows").clone();
        rows.iter().map(|r| r["status"].as_str().expect("status").to_owned()).collect::<Vec<_>>().join(",")
    };
    // The label files are cases too here (no pattern): six cases.
    assert_eq!(batch(&[]), "done,done,done,done,done,done");
    assert_eq!(batch(&[]), "skipped,skipped,skipped,skipped,skipped,skipped");
    // A new input under the same name.
    let p = Phantom::new([24, 20, 8]).spacing_mm([0.8, 0.8, 2.5]).seed(99);
    write_nifti(&p.ct().expect("ct"), data.join("case1.nii.gz"), &WriteOptions::new()).expect("writes");
    // An output removed.
    std::fs::remove_file(out.join("case2/case2_mip_axial.png")).expect("removes");
    assert_eq!(batch(&[]), "skipped,skipped,done,skipped,done,skipped");
    // The label tolerance matters only to cases with a label: none here.
    assert_eq!(batch(&["--label-tolerance", "0.5"]), "skipped,skipped,skipped,skipped,skipped,skipped");
    assert_eq!(batch(&["--window", "-500,500"]), "done,done,done,done,done,done");
    assert_eq!(batch(&["--window", "-500,500", "--force"]), "done,done,done,done,done,done");
}

/// A corrupt image, a missing file and a label that does not overlap its image each fail
/// their case with a record and a row; the others are done, the exit status is 1; a case
/// that fails keeps its earlier outputs, and its failure record goes when it succeeds again.
#[test]
fn bad_cases_fail_alone_and_keep_earlier_outputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 2, [24, 20, 8]);
    std::fs::write(data.join("corrupt.nii.gz"), b"\x1f\x8b\x08\x00 not really gzip").expect("writes");
    let far = Phantom::new([24, 20, 8]).labels().expect("labels");
    let far = far.with_affine(Affine::from_spacing_origin([1.0; 3], [900.0, 0.0, 0.0])).expect("finite");
    write_nifti(&far, data.join("far_seg.nii.gz"), &WriteOptions::new()).expect("writes");
    std::fs::copy(data.join("case0.nii.gz"), data.join("far.nii.gz")).expect("copies");
    let manifest = dir.path().join("cases.csv");
    std::fs::write(
        &manifest,
        "id,image,label\ncase0,data/case0.nii.gz,data/case0_seg.nii.gz\ncase1,data/case1.nii.gz,\n\
         corrupt,data/corrupt.nii.gz,\nmissing,data/nothing.nii.gz,\nfar,data/far.nii.gz,data/far_seg.nii.gz\n",
    )
    .expect("writes");
    let out = dir.path().join("out");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--save", "mip"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("cases 5: 2 done, 0 skipped, 3 failed") && e.contains("error: 3 of 5 cases not done (3 failed)"),
        "{e}"
    );
    for (id, why) in [("corrupt", "corrupt.nii.gz"), ("missing", "nothing.nii.gz"), ("far", "cannot be placed")] {
        let f = json(&out.join(format!("{id}.failed.json")));
        assert!(f["error"].as_str().expect("error").contains(why), "{id}: {f}");
        assert!(e.contains(&format!("failed {id}: ")), "{e}");
        assert!(!out.join(id).exists());
    }
    let rows = json(&out.join("summary.json"))["rows"].clone();
    assert_eq!(rows.as_array().map(Vec::len), Some(5));

    // case0's image goes bad after a good run: the run fails, the folder stays as it was.
    let before = tree(&out.join("case0"), true);
    let good = std::fs::read(data.join("case0.nii.gz")).expect("reads");
    std::fs::write(data.join("case0.nii.gz"), &good[..good.len() / 2]).expect("truncates");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--save", "mip", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(tree(&out.join("case0"), true) == before, "the failed case changed its earlier outputs");
    assert!(out.join("case0.failed.json").exists());
    std::fs::write(data.join("case0.nii.gz"), &good).expect("restores");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--save", "mip", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "the three bad ones still fail");
    assert!(!out.join("case0.failed.json").exists(), "case0 is done again: its failure record goes");
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    // The summary of the records agrees.
    std::fs::write(data.join("case0.nii.gz"), &good[..good.len() / 2]).expect("truncates");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--save", "mip", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let o = ctprep(&["batch", "--summary", s(&out), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (summary["done"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(4)),
        "case0 failed after its record"
    );
    std::fs::write(data.join("case0.nii.gz"), &good).expect("restores");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--save", "mip", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let o = ctprep(&["batch", "--summary", s(&out), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((summary["done"].as_u64(), summary["failed"].as_u64()), (Some(2), Some(3)));
}

/// Shards split the cases between them (by --shard or Slurm's variables); the summary of all
/// the records says every case is done, each once; outputs equal those of one batch.
#[test]
fn shards_together_are_the_whole_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 5, [24, 20, 8]);
    let whole = dir.path().join("whole");
    let o = ctprep(&["batch", s(&data), "--out", s(&whole), "--label-pattern", "{stem}_seg.nii.gz", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sharded = dir.path().join("sharded");
    let args = ["batch", s(&data), "--out", s(&sharded), "--label-pattern", "{stem}_seg.nii.gz", "--quiet"];
    let o = ctprep_command().args(args).args(["--shard", "0/3"]).output().expect("runs");
    assert!(o.status.success() && stderr(&o).contains("shard 0/3 (from --shard): 2 of 5 cases"), "{}", stderr(&o));
    for task in ["2", "3"] {
        let o = ctprep_command()
            .args(args)
            .env("SLURM_ARRAY_TASK_ID", task)
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .output()
            .expect("runs");
        assert!(o.status.success() && stderr(&o).contains("(from SLURM_ARRAY_TASK_ID)"), "{}", stderr(&o));
    }
    assert!(!sharded.join("summary.json").exists(), "a shard writes no summary");
    let o = ctprep(&["batch", "--summary", s(&sharded), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((summary["cases"].as_u64(), summary["done"].as_u64()), (Some(5), Some(5)));
    assert!(tree(&sharded, false) == tree(&whole, false), "sharded outputs differ from one batch's");
    let o = ctprep_command().args(args).env("SLURM_ARRAY_TASK_ID", "3").env("SLURM_ARRAY_TASK_COUNT", "3").output();
    assert_eq!(o.expect("runs").status.code(), Some(2), "task 3 of 0..2 is a usage error");
}

/// `kill -9` at any moment, then a rerun, gives exactly the outputs of an uninterrupted batch
/// and no temporaries; in between, every case folder present is complete (its record's hashes
/// are its files'). SIGTERM removes the temporaries itself and exits 130. The rounds start
/// from a complete batch of another window, so that the signals also catch case folders being
/// replaced (the earlier one moved aside).
#[test]
fn killed_at_any_moment_a_rerun_finishes_the_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 6, [96, 80, 30]);
    let reference = dir.path().join("reference");
    let t0 = std::time::Instant::now();
    // A fine grid, so that the batch takes long enough to be caught at every step.
    let grid = ["--spacing", "0.4", "--label-pattern", "{stem}_seg.nii.gz", "--quiet"];
    // Timed with the interrupted runs' `--jobs 2`: timed on one job, runs on two finish before
    // late signals.
    let o = ctprep_command()
        .args(["batch", s(&data), "--out", s(&reference), "--jobs", "2"])
        .args(grid)
        .output()
        .expect("runs");
    let whole = t0.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = tree(&reference, false);
    let out = dir.path().join("out");
    let args = ["batch", s(&data), "--out", s(&out), "--jobs", "2"];
    let earlier = |out: &Path| {
        let o = ctprep_command().args(args).args(grid).args(["--window", "-500,500"]).output().expect("runs");
        assert!(o.status.success() && out.join("case0").is_dir(), "{}", stderr(&o));
    };
    earlier(&out);
    // At moments spread over an uninterrupted batch's time: while cases are hashed, run,
    // recorded and placed. Each signal must land: a run that finishes first (a resumed run has
    // less left to do, and shared machines vary) is repeated from the other window's outputs
    // with the moments brought forward.
    let (mut pace, mut rounds) = (whole, 0);
    for (signal, share) in
        [("-KILL", 0.1), ("-TERM", 0.25), ("-KILL", 0.4), ("-TERM", 0.55), ("-KILL", 0.7), ("-KILL", 0.85)]
    {
        loop {
            rounds += 1;
            assert!(rounds <= 40, "{signal} at {share} of the batch never landed (pace {pace} s of {whole} s)");
            let after_ms = (share * pace * 1000.0) as u64;
            let mut child = ctprep_command()
                .args(args)
                .args(grid)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("starts");
            std::thread::sleep(std::time::Duration::from_millis(after_ms));
            let _ = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status();
            let status = child.wait().expect("ends");
            if status.success() {
                std::fs::remove_dir_all(&out).expect("removes");
                earlier(&out);
                pace *= 0.7;
                continue;
            }
            if signal == "-TERM" {
                assert_eq!(status.code(), Some(130));
                assert!(temporaries(&out).is_empty(), "SIGTERM after {after_ms} ms left {:?}", temporaries(&out));
            }
            // Every case folder there is complete.
            for e in std::fs::read_dir(&out).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !e.path().is_dir() {
                    continue;
                }
                let record = json(&e.path().join("ctprep.json"));
                for o in record["outputs"].as_array().expect("outputs") {
                    let bytes = std::fs::read(e.path().join(o["path"].as_str().expect("name"))).expect("output there");
                    assert_eq!(o["blake3"], b3(&bytes).as_str(), "{name} after {signal} at {after_ms} ms");
                }
            }
            break;
        }
    }
    let o = ctprep_command().args(args).args(grid).output().expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    let got = tree(&out, false);
    let differ: Vec<&String> = want.keys().chain(got.keys()).filter(|k| want.get(*k) != got.get(*k)).collect();
    assert!(differ.is_empty(), "the resumed batch differs from the uninterrupted one: {differ:?}");
}

/// `--slurm` writes an array script that runs this batch's options on each task's shard, with
/// absolute paths; its options are checked.
#[test]
fn the_slurm_script_passes_the_recipe_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 3, [16, 16, 4]);
    let out = dir.path().join("out");
    let o = ctprep_command()
        .current_dir(dir.path())
        .args(["batch", "data", "--out", "out", "--slurm", "--window=-500,500", "--save", "mip,png", "--quiet"])
        .args(["--label-pattern", "{stem}_seg.nii.gz", "--sbatch-args", "-p cpu --time=01:00:00", "--force"])
        .args(["--jobs", "1", "--threads", "2", "--kernel", "wide"])
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let path = out.join("ctprep-batch.sbatch");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), s(&path));
    let script = std::fs::read_to_string(&path).expect("script");
    let abs = |p: &Path| std::fs::canonicalize(p).expect("exists");
    for want in [
        "#!/bin/sh\n".to_owned(),
        "#SBATCH --array=0-2\n".to_owned(),
        "#SBATCH -p cpu\n#SBATCH --time=01:00:00\n".to_owned(),
        format!("#SBATCH --output={}/slurm-logs/%A_%a.log\n", abs(&out).display()),
        format!(" batch {} --out {} ", abs(&data).display(), abs(&out).display()),
        "--window=-500,500".to_owned(),
        "--save=mip --save=png".to_owned(),
        "'--label-pattern={stem}_seg.nii.gz'".to_owned(),
        "--jobs=1".to_owned(),
        "--threads=2".to_owned(),
        "--kernel=wide".to_owned(),
    ] {
        assert!(script.contains(&want), "{want:?} not in\n{script}");
    }
    let exec = script.lines().find(|l| l.starts_with("exec ")).expect("an exec line");
    assert!(!exec.contains("--force") && !exec.contains("--slurm") && !exec.contains("--sbatch"), "{exec}");
    assert_eq!(exec.matches("--quiet").count(), 1, "{exec}");
    assert!(exec.ends_with(r#" --shard "$SLURM_ARRAY_TASK_ID/3""#), "{exec}");
    assert_eq!(json(&out.join("cases.json"))["ids"].as_array().map(Vec::len), Some(3), "the case list is written");
    for bad in [&["--sbatch-args", "'-p x'"][..], &["--array-size", "0"], &["--submit"]] {
        let mut a = vec!["batch", s(&data), "--out", s(&out)];
        if bad[0] != "--submit" {
            a.push("--slurm");
        }
        a.extend_from_slice(bad);
        assert_eq!(ctprep(&a).status.code(), Some(2), "{bad:?}");
    }
}

/// Usage errors name the option; a missing source says so.
#[test]
fn nonsense_options_are_usage_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 1, [8, 8, 4]);
    let out = dir.path().join("out");
    for (extra, code, why) in [
        (&["--shard", "2/2"][..], 2, "needs 0 <= I < N"),
        (&["--jobs", "0"], 2, "--jobs"),
        (&["--jobs", "100000"], 2, "--jobs 100000: more than"),
        (&["--threads", "100000"], 2, "--threads 100000: more than"),
        (&["--label-tolerance=-1"], 2, "--label-tolerance"),
        (&["--summary", "x"], 2, "cannot be used with"),
        (&["--label-pattern", "seg.nii"], 1, "no {stem}"),
        (&["--label-pattern", "{stem}.nii.gz"], 1, "names the images themselves"),
        (&["--slurm", "--sbatch-args", "--array=1-3"], 2, "the array is --array-size's"),
        (&["--slurm", "--sbatch-args", "-a 1"], 2, "the array is --array-size's"),
    ] {
        let mut a = vec!["batch", s(&data), "--out", s(&out)];
        a.extend_from_slice(extra);
        let o = ctprep(&a);
        assert!(o.status.code() == Some(code) && stderr(&o).contains(why), "{extra:?}: {}", stderr(&o));
    }
    let spaced = dir.path().join("with space");
    let o = ctprep(&["batch", s(&data), "--out", s(&spaced), "--slurm"]);
    assert!(o.status.code() == Some(2) && stderr(&o).contains("no '%' or spaces"), "{}", stderr(&o));
    let o = ctprep(&["batch", s(&dir.path().join("nothing.csv")), "--out", s(&out)]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("nothing.csv"), "{}", stderr(&o));
    let o = ctprep(&["batch", "--summary", s(&data)]);
    assert!(o.status.code() == Some(1) && stderr(&o).contains("no case records"), "{}", stderr(&o));
}

/// A case another process holds the lock of is left to it (`busy`, exit 1); the summary of the
/// records counts the cases of the batch's list with no record as missing, and leaves out the
/// records of cases no longer in the list.
#[test]
fn busy_and_missing_cases_are_not_done() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 3, [16, 16, 4]);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let held = ctprep_io::NameLock::take(&out, "case1").expect("locks").expect("free");
    let o = ctprep(&["batch", s(&data), "--out", s(&out), "--save", "mip", "--label-pattern", "{stem}_seg.nii.gz"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("2 done, 0 skipped, 0 failed, 1 busy elsewhere") && e.contains("1 of 3 cases not done"), "{e}");
    assert!(!out.join("case1").exists());
    drop(held);
    let o = ctprep(&["batch", s(&data), "--out", s(&out), "--save", "mip", "--label-pattern", "{stem}_seg.nii.gz"]);
    assert!(o.status.success() && stderr(&o).contains("1 done, 2 skipped"), "{}", stderr(&o));
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));

    // One shard of a new batch: the other cases are missing from the summary.
    let sharded = dir.path().join("sharded");
    let o = ctprep(&["batch", s(&data), "--out", s(&sharded), "--save", "mip", "--shard", "0/3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        sharded.join("gone.failed.json"),
        serde_json::to_vec(&json(&out.join("summary.json"))).expect("json"),
    )
    .expect("writes");
    let o = ctprep(&["batch", "--summary", s(&sharded)]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("cases 6: 2 done, 0 skipped, 0 failed, 4 missing") && e.contains("missing: case0_seg, case1, "),
        "{e}"
    );
    assert!(e.contains("1 records of cases not in the batch's list left out"), "{e}");
}

/// Outputs are named after the image: a case whose image was renamed (same bytes) is run again
/// under the new name, not skipped with the old names.
#[test]
fn a_renamed_image_is_run_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    dataset(&data, 1, [16, 16, 4]);
    let manifest = dir.path().join("cases.jsonl");
    let out = dir.path().join("out");
    for (name, status) in [("case0", "done"), ("case0", "skipped"), ("renamed", "done")] {
        if name != "case0" {
            std::fs::copy(data.join("case0.nii.gz"), data.join(format!("{name}.nii.gz"))).expect("copies");
        }
        std::fs::write(&manifest, format!("{{\"id\": \"x\", \"image\": \"data/{name}.nii.gz\"}}\n")).expect("writes");
        let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--save", "mip", "--json", "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(summary["rows"][0]["status"], status, "{name}");
        assert!(out.join(format!("x/{name}_mip.nii.gz")).exists());
    }
    assert!(!out.join("x/case0_mip.nii.gz").exists(), "the old names went with the old folder");
}
