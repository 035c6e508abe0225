//! `ctprep tune` and the profile `auto` follows: written, read back, followed exactly, and
//! ignored with one warning when it is truncated, hand-edited into nonsense or measured
//! elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{s, stderr};
use serde_json::Value;

fn ctprep_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = common::ctprep_command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("ctprep runs")
}

/// A small CT for `run`.
fn ct(dir: &Path) -> PathBuf {
    let ct = ctprep_phantom::Phantom::new([48, 40, 20]).ct().expect("phantom");
    let p = dir.join("ct.nii.gz");
    ctprep_io::write_nifti(&ct, &p, &ctprep_io::WriteOptions::new()).expect("writes");
    p
}

/// `run --json` with these extra global arguments: (kernel_sources, variants, stderr).
fn run_json(dir: &Path, global: &[&str], env: &[(&str, &Path)]) -> (Value, Value, String) {
    let input = ct(dir);
    let out = dir.join("out");
    let mut args: Vec<&str> = global.to_vec();
    args.extend(["run", s(&input), "--out", s(&out), "--save", "mip", "--json", "--quiet"]);
    let o = ctprep_env(&args, env);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("json");
    (doc["kernel_sources"].clone(), doc["variants"].clone(), stderr(&o))
}

fn tune_quick(path: &Path) -> Value {
    let o = ctprep_env(&["tune", "--quick", "--output", s(path), "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: Value = serde_json::from_slice(&o.stdout).expect("json on stdout");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("json file");
    assert_eq!(printed, written, "--json prints what is written");
    written
}

#[test]
fn tune_writes_a_profile_that_auto_follows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("profile.json");
    let doc = tune_quick(&path);
    assert_eq!(doc["ctprep_profile"], 1);
    assert!(doc["fingerprint"]["cores"].as_u64().is_some_and(|c| c >= 1));
    for stage in ["window_int", "window_float", "mip", "resample"] {
        let st = &doc["stages"][stage];
        let classes = st["classes"].as_array().expect("classes");
        assert_eq!(classes.len(), 2, "{stage}: two size classes with --quick");
        for c in classes {
            let figs = c["figures"].as_array().expect("figures");
            assert!(figs.iter().any(|f| f["kernel"] == "scalar"), "{stage}: the oracle is measured");
            assert!(c["copy_s"].as_f64().is_some_and(|t| t > 0.0), "{stage}: the copy baseline");
            let best = figs.iter().map(|f| f["median_s"].as_f64().expect("median")).fold(f64::INFINITY, f64::min);
            let w = &c["winner"];
            let won = figs.iter().find(|f| f["kernel"] == w["kernel"] && f["threads"] == w["threads"]).expect("winner");
            // The fastest wins unless it is within 5% of the fallback rule's own choice, which
            // is then kept (the difference being noise).
            let won_s = won["median_s"].as_f64().expect("median");
            assert!(won_s == best || best >= won_s * 0.95, "{stage}: {won_s} picked, {best} fastest");
        }
        assert_eq!(st["picks"].as_array().map(Vec::len), Some(2));
    }
    let (sources, _, err) = run_json(dir.path(), &["--profile", s(&path)], &[]);
    assert_eq!(sources["window"], "profile", "{sources}");
    assert_eq!(sources["resample"], "profile", "{sources}");
    assert_eq!(sources["mip"], "profile", "{sources}");
    assert!(!err.contains("warning"), "{err}");
    // Without a profile: the fallback rule; with both knobs given: as asked.
    let (sources, _, _) = run_json(dir.path(), &[], &[]);
    assert_eq!(sources["window"], "fallback");
    let input = ct(dir.path());
    let o = ctprep_env(
        &[
            "--profile",
            s(&path),
            "run",
            s(&input),
            "--out",
            s(&dir.path().join("o2")),
            "--kernel",
            "wide",
            "--threads",
            "1",
            "--json",
            "--quiet",
        ],
        &[],
    );
    let doc: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["kernel_sources"]["window"], "asked");
}

/// A hand-edited profile is followed exactly: the scalar window kernel where it says so.
#[test]
fn auto_runs_exactly_what_the_profile_says() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("profile.json");
    let mut doc = tune_quick(&path);
    // run's stages run on one thread each (on their slab's worker): they take each pick's
    // best one-thread kernel, whatever the best pair's kernel is.
    for stage in ["window_float", "mip"] {
        for p in doc["stages"][stage]["picks"].as_array_mut().expect("picks") {
            p["kernel"] = Value::from("wide");
            p["threads"] = Value::from(2);
            p["single_thread_kernel"] = Value::from("scalar");
        }
    }
    for p in doc["stages"]["resample"]["picks"].as_array_mut().expect("picks") {
        p["single_thread_kernel"] = Value::from("wide");
    }
    std::fs::write(&path, serde_json::to_string(&doc).expect("json")).expect("writes");
    let (sources, variants, _) = run_json(dir.path(), &["--profile", s(&path)], &[]);
    assert!(variants["window"].as_str().is_some_and(|v| v.starts_with("scalar")), "{variants}");
    assert!(variants["mip"].as_str().is_some_and(|v| v.starts_with("scalar")), "{variants}");
    assert!(variants["resample"].as_str().is_some_and(|v| v.starts_with("wide")), "{variants}");
    assert_eq!(sources["window"], "profile");
    // The same profile through CTPREP_PROFILE, and from the config folder.
    let (_, variants, _) = run_json(dir.path(), &[], &[("CTPREP_PROFILE", &path)]);
    assert!(variants["window"].as_str().is_some_and(|v| v.starts_with("scalar")), "{variants}");
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("ctprep")).expect("folder");
    std::fs::copy(&path, config.join("ctprep/profile.json")).expect("copies");
    let (_, variants, _) = run_json(dir.path(), &[], &[("XDG_CONFIG_HOME", &config)]);
    assert!(variants["window"].as_str().is_some_and(|v| v.starts_with("scalar")), "{variants}");
}

/// Profiles that cannot be followed: each is ignored with exactly one warning that names the
/// file and says why; the run succeeds on the fallback rule.
#[test]
fn unusable_profiles_fall_back_with_one_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("profile.json");
    let good = tune_quick(&path);
    let text = serde_json::to_string(&good).expect("json");
    let mut other = good.clone();
    other["fingerprint"]["cpu"] = Value::from("A CPU from elsewhere");
    let mut turbo = good.clone();
    turbo["stages"]["mip"]["picks"][0]["kernel"] = Value::from("turbo");
    let mut zero = good.clone();
    zero["stages"]["mip"]["picks"][0]["threads"] = Value::from(0);
    let mut future = good;
    future["ctprep_profile"] = Value::from(99);
    let cases = [
        ("truncated", text[..text.len() / 2].to_owned(), "not a ctprep profile"),
        ("other machine", other.to_string(), "another machine"),
        ("unknown kernel", turbo.to_string(), "turbo"),
        ("zero threads", zero.to_string(), "0 threads"),
        ("other format", future.to_string(), "format 99"),
    ];
    for (what, body, why) in cases {
        let p = dir.path().join("bad.json");
        std::fs::write(&p, body).expect("writes");
        let (sources, _, err) = run_json(dir.path(), &["--profile", s(&p)], &[]);
        assert_eq!(sources["window"], "fallback", "{what}");
        assert_eq!(err.matches("warning").count(), 1, "{what}: {err}");
        assert!(err.contains("bad.json") && err.contains(why), "{what}: {err}");
    }
    // A missing file named on purpose is said too; the default path missing is not.
    let (_, _, err) = run_json(dir.path(), &["--profile", s(&dir.path().join("missing.json"))], &[]);
    assert!(err.contains("missing.json") && err.contains("cannot read"), "{err}");
    let (_, _, err) = run_json(dir.path(), &[], &[]);
    assert!(!err.contains("warning"), "{err}");
}
