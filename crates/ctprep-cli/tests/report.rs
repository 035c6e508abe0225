//! `ctprep report` and `batch --report`: the page's data against the outputs it describes (label
//! volumes counted from the label output, thumbnails that exist, statuses, warnings), folders
//! written before figures existed (made again from the outputs, the same bytes), and bad
//! folders (no records, a corrupt record, outputs gone) that still get a page. The page itself
//! is opened in a browser by `python/tests/test_report.py`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{ctprep, s, stderr};
use ctprep_io::{Affine, WriteOptions, read_volume, write_nifti, write_volume};
use ctprep_phantom::Phantom;
use serde_json::Value;

/// The JSON block of a report page.
fn page_data(page: &Path) -> Value {
    let html = std::fs::read_to_string(page).expect("page");
    let start = r#"<script id="ctprep-data" type="application/json">"#;
    let at = html.find(start).expect("data block") + start.len();
    let end = at + html[at..].find("</script>").expect("end of the block");
    serde_json::from_str(&html[at..end]).expect("the block is JSON")
}

fn case<'a>(data: &'a Value, id: &str) -> &'a Value {
    data["cases"].as_array().expect("cases").iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id}"))
}

/// Three phantom cases with labels, one whose label lies 3 mm off its image's grid, one
/// corrupt image; the manifest.
fn dataset(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let mut csv = String::from("id,image,label\n");
    for i in 0..3 {
        let p = Phantom::new([40, 36, 12]).spacing_mm([0.8, 0.8, 2.5]).seed(i + 1);
        let ct = p.ct().expect("ct");
        let mut label = p.labels().expect("labels");
        if i == 2 {
            let mut r = label.affine().rows();
            r[0][3] += 3.0;
            label = label.with_affine(Affine::from_rows(r)).expect("finite");
        }
        write_nifti(&ct, data.join(format!("c{i}.nii.gz")), &WriteOptions::new()).expect("writes");
        write_volume(&label, data.join(format!("c{i}_seg.nii.gz")), &WriteOptions::new()).expect("writes");
        csv.push_str(&format!("case{i},c{i}.nii.gz,c{i}_seg.nii.gz\n"));
    }
    std::fs::write(data.join("bad.nii.gz"), "not a volume").expect("writes");
    csv.push_str("broken,bad.nii.gz,\n");
    let manifest = data.join("cases.csv");
    std::fs::write(&manifest, csv).expect("writes");
    manifest
}

/// Every thumbnail and full-size image of the cases in `out`, by path.
fn images(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(out).expect("dir").flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(e.path()).expect("dir").flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.contains("_thumb_") || name.contains("_view_") {
                m.insert(
                    format!("{}/{name}", e.file_name().to_string_lossy()),
                    std::fs::read(f.path()).expect("reads"),
                );
            }
        }
    }
    m
}

#[test]
fn the_page_describes_every_case_as_its_outputs_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dataset(dir.path());
    let out = dir.path().join("out");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--report", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "one case fails: {}", stderr(&o));
    assert!(stderr(&o).contains("report.html (4 cases"), "{}", stderr(&o));
    let data = page_data(&out.join("report.html"));
    assert_eq!(data["cases"].as_array().map(Vec::len), Some(4));
    assert_eq!((data["summary"]["done"].as_u64(), data["summary"]["failed"].as_u64()), (Some(3), Some(1)));
    let broken = case(&data, "broken");
    assert_eq!(broken["status"], "failed");
    assert!(broken["error"].as_str().expect("error").contains("not a NIfTI"), "{broken}");
    for i in 0..3 {
        let id = format!("case{i}");
        let c = case(&data, &id);
        assert_eq!(c["status"], "done", "{c}");
        assert_eq!(c["shape_in"], serde_json::json!([40, 36, 12]));
        // Three planes, each thumbnail and full-size image there, the thumbnail at most 160 px.
        let thumbs = c["thumbs"].as_array().expect("thumbs");
        assert_eq!(thumbs.len(), 3, "{c}");
        for t in thumbs {
            for key in ["src", "full"] {
                assert!(out.join(t[key].as_str().expect("path")).is_file(), "{t}");
            }
            assert!(t["w"].as_u64().expect("w").max(t["h"].as_u64().expect("h")) <= 160, "{t}");
        }
        // The label volumes are the label output's voxel counts times the voxel volume.
        let label = read_volume(out.join(&id).join(format!("c{i}_label.nii.gz"))).expect("label output");
        let ml = label.affine().det3().abs() / 1000.0;
        let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
        for v in &label.scaled_f32() {
            *counts.entry(*v as i64).or_insert(0) += 1;
        }
        counts.remove(&0);
        let listed: Vec<(i64, u64, f64)> = c["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|l| (l["v"].as_i64().expect("v"), l["n"].as_u64().expect("n"), l["ml"].as_f64().expect("ml")))
            .collect();
        assert!(!listed.is_empty());
        assert_eq!(listed.iter().map(|l| (l.0, l.1)).collect::<Vec<_>>(), counts.into_iter().collect::<Vec<_>>());
        for (_, n, got) in listed {
            assert!((got - n as f64 * ml).abs() <= 0.005 + 1e-9, "{got} ml for {n} voxels");
        }
        let [lo, hi] = [0, 1].map(|k| c["hu"][k].as_f64().expect("HU range"));
        assert!(lo < -900.0 && hi > 100.0, "{c}");
        let warned = c["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with("label shifted")));
        assert_eq!(warned, i == 2, "case{i}: {}", c["warnings"]);
        assert_eq!(c["warning_kinds"], if i == 2 { serde_json::json!(["label"]) } else { serde_json::json!([]) });
    }
    assert_eq!(data["summary"]["with_warnings"].as_u64(), Some(1));

    // A folder of an older ctprep: no figures in the records, no images. `report` makes them
    // from the outputs: the same images, the same figures.
    let before = images(&out);
    assert_eq!(before.len(), 18);
    let mut figures = BTreeMap::new();
    for i in 0..3 {
        let path = out.join(format!("case{i}/ctprep.json"));
        let mut record: Value = serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
        figures.insert(i, record["figures"].take());
        record.as_object_mut().expect("object").remove("figures");
        std::fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("writes");
    }
    for k in before.keys() {
        std::fs::remove_file(out.join(k)).expect("removes");
    }
    let o = ctprep(&["report", s(&out), "--json", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let done: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((done["cases"].as_u64(), done["rendered"].as_u64()), (Some(4), Some(3)), "{done}");
    assert!(images(&out) == before, "images made from the outputs differ from the batch's");
    for i in 0..3 {
        let record: Value =
            serde_json::from_slice(&std::fs::read(out.join(format!("case{i}/ctprep.json"))).expect("reads"))
                .expect("json");
        assert_eq!(record["figures"], figures[&i], "case{i}");
    }
    // Nothing missing now: a second report only assembles.
    let o = ctprep(&["report", s(&out), "--json", "--quiet"]);
    let done: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(done["rendered"].as_u64(), Some(0), "{done}");
}

#[test]
fn bad_folders_still_get_a_page_that_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No such folder: an error naming it, no page.
    let nowhere = dir.path().join("nowhere");
    let o = ctprep(&["report", s(&nowhere)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nowhere") && stderr(&o).contains("not a folder"), "{}", stderr(&o));
    // An empty folder: a page with no cases that says why.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = ctprep(&["report", s(&empty), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let data = page_data(&empty.join("report.html"));
    assert_eq!(data["cases"].as_array().map(Vec::len), Some(0));
    assert!(data["notes"][0].as_str().expect("note").contains("no case records"), "{data}");

    let manifest = dataset(dir.path());
    let out = dir.path().join("out");
    let o = ctprep(&["batch", s(&manifest), "--out", s(&out), "--quiet", "--save", "volume"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A record from elsewhere that is not a record; a case whose outputs and images are gone.
    std::fs::write(out.join("case0/ctprep.json"), "{\"id\": \"case0\", \"ctprep_version\": \"9.9\"}").expect("writes");
    for e in std::fs::read_dir(out.join("case1")).expect("dir").flatten() {
        if e.file_name() != "ctprep.json" {
            std::fs::remove_file(e.path()).expect("removes");
        }
    }
    // A record of another ctprep version that still reads: shown, and said so.
    let path = out.join("case2/ctprep.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
    record["ctprep_version"] = "0.0.1".into();
    std::fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("writes");
    let o = ctprep(&["report", s(&out), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let data = page_data(&out.join("report.html"));
    assert_eq!(data["cases"].as_array().map(Vec::len), Some(4));
    assert!(case(&data, "case2")["missing"][0].as_str().is_some_and(|m| m.contains("ctprep 0.0.1")), "{data}");

    // A record that names a case elsewhere, or images outside its folder, cannot make the
    // report read, write or link there: the folder names the case and images are remade.
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).expect("mkdir");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
    record["id"] = "../victim".into();
    record["figures"]["views"][0]["thumb"] = "../../../../../../etc/hostname".into();
    record["figures"]["views"][1]["full"] = "/etc/hostname".into();
    std::fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("writes");
    // And a batch list that cannot be read: the cases are the folders' records.
    std::fs::write(out.join("cases.json"), "{\"ids\": 5}").expect("writes");
    let o = ctprep(&["report", s(&out), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&victim).expect("dir").count(), 0, "the report wrote outside the folder");
    let data = page_data(&out.join("report.html"));
    assert!(data["notes"][0].as_str().is_some_and(|n| n.contains("cases.json")), "{}", data["notes"]);
    let ids: Vec<&str> = data["cases"].as_array().expect("cases").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["broken", "case0", "case1", "case2"]);
    let c2 = case(&data, "case2");
    for t in c2["thumbs"].as_array().expect("thumbs") {
        for key in ["src", "full"] {
            let p = t[key].as_str().expect("path");
            assert!(p.starts_with("case2/") && !p.contains(".."), "{p}");
            assert!(out.join(p).is_file(), "{p}");
        }
    }
    assert_eq!(c2["thumbs"].as_array().map(Vec::len), Some(3), "{c2}");
    let record: Value = serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("json");
    assert_eq!(record["figures"]["views"][0]["thumb"], "c2_thumb_axial.png");
    let c0 = case(&data, "case0");
    assert_eq!(c0["status"], "failed");
    assert!(c0["error"].as_str().expect("error").contains("not a ctprep record"), "{c0}");
    let c1 = case(&data, "case1");
    let missing: Vec<&str> = c1["missing"].as_array().expect("missing").iter().filter_map(Value::as_str).collect();
    assert!(missing.iter().any(|m| m.starts_with("thumbnails:")), "{missing:?}");
    assert!(missing.iter().any(|m| m.starts_with("label:")), "{missing:?}");
    assert_eq!(c1["thumbs"].as_array().map(Vec::len), Some(0));
    assert_eq!(case(&data, "case2")["thumbs"].as_array().map(Vec::len), Some(3));
    assert!(
        !std::fs::read_dir(&out)
            .expect("dir")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".ctprep-"))
    );
}

#[test]
fn report_with_shards_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dataset(dir.path());
    let out = dir.path().join("out");
    for extra in [&["--shard", "0/2"][..], &["--slurm"][..]] {
        let o = ctprep(&[&["batch", s(&manifest), "--out", s(&out), "--report"][..], extra].concat());
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(!out.join("report.html").exists());
    }
    let o = ctprep_env_shard(&manifest, &out);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ctprep report"), "{}", stderr(&o));
}

/// `batch --report` inside a Slurm array task (its shard from the environment).
fn ctprep_env_shard(manifest: &Path, out: &Path) -> std::process::Output {
    common::ctprep_command()
        .args(["batch", s(manifest), "--out", s(out), "--report"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .expect("runs")
}

/// Infinite values in the output keep the record readable (JSON has no infinity): the range
/// is left out and the card warns.
#[test]
fn infinite_values_leave_the_record_readable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let ct = Phantom::new([20, 16, 8]).ct().expect("ct");
    let mut values = ct.scaled_f32();
    values[100] = f32::INFINITY;
    let shape = ct.shape().to_vec();
    let hot = ct.derived(ctprep_io::VoxelData::from_vec(values), &shape, *ct.affine()).expect("volume");
    write_nifti(&hot, data.join("hot.nii.gz"), &WriteOptions::new()).expect("writes");
    let out = dir.path().join("out");
    let o = ctprep(&["batch", s(&data), "--out", s(&out), "--report", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let record: Value =
        serde_json::from_slice(&std::fs::read(out.join("hot/ctprep.json")).expect("reads")).expect("json");
    assert_eq!((record["run"]["hu"]["infinite"].as_bool(), record["run"]["hu"]["range"].is_null()), (Some(true), true));
    let c = &page_data(&out.join("report.html"))["cases"][0];
    assert_eq!(c["status"], "done", "{c}");
    assert!(c["warning_kinds"].as_array().expect("kinds").iter().any(|k| k == "not-finite"), "{c}");
    // A rerun skips it: its record reads back.
    let o = ctprep(&["batch", s(&data), "--out", s(&out), "--quiet"]);
    assert!(o.status.success() && stderr(&o).contains("1 skipped"), "{}", stderr(&o));
}
