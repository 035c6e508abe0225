//! `ctprep report` over a batch folder of 1,000 finished cases: it only assembles (reads each
//! record, writes one page), and 10 of them made again from their outputs (records without
//! figures, as an older ctprep left them), next to a copy of the records' bytes.
//!
//! The cases are one real batch case (a 96x80x30 phantom with its label map, every product)
//! copied under 1,000 ids. Run: `cargo bench -p ctprep-benches --bench report`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctprep_io::{WriteOptions, write_nifti};
use ctprep_pipeline::batch::{Batch, RECORD, cases_from, write_report};
use ctprep_pipeline::{NoProgress, Recipe};

const CASES: usize = 1000;

fn copy_case(from: &Path, to: &Path, id: &str) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("case").flatten() {
        let name = e.file_name().to_string_lossy().replace("case", id);
        std::fs::copy(e.path(), to.join(name)).expect("copies");
    }
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(to.join(RECORD)).expect("record")).expect("json");
    record["id"] = id.into();
    let fix = |v: &mut serde_json::Value| {
        if let Some(s) = v.as_str() {
            *v = s.replace("case", id).into();
        }
    };
    for f in record["outputs"].as_array_mut().expect("outputs") {
        fix(&mut f["path"]);
    }
    for f in record["inputs"].as_array_mut().expect("inputs") {
        fix(&mut f["path"]);
    }
    for v in record["figures"]["views"].as_array_mut().expect("views") {
        fix(&mut v["thumb"]);
        fix(&mut v["full"]);
    }
    std::fs::write(to.join(RECORD), serde_json::to_vec_pretty(&record).expect("json")).expect("writes");
}

fn report(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let p = ctprep_phantom::Phantom::new([96, 80, 30]).spacing_mm([0.8, 0.8, 2.5]);
    write_nifti(&p.ct().expect("ct"), data.join("case.nii.gz"), &WriteOptions::new()).expect("writes");
    write_nifti(&p.labels().expect("labels"), data.join("case_seg.nii.gz"), &WriteOptions::new()).expect("writes");
    let one = tmp.path().join("one");
    let cases = cases_from(&data, Some("{stem}_seg.nii.gz")).expect("cases");
    Batch::new(Recipe::corrected()).run(&cases, &cases, &one, &NoProgress).expect("runs");
    let out = tmp.path().join("out");
    let ids: Vec<String> = (0..CASES).map(|i| format!("c{i:05}")).collect();
    for id in &ids {
        copy_case(&one.join("case"), &out.join(id), id);
    }
    let list = serde_json::json!({"ctprep_version": ctprep_pipeline::batch::VERSION, "ids": ids});
    std::fs::write(out.join("cases.json"), list.to_string()).expect("writes");
    let bytes: u64 = ids.iter().map(|id| std::fs::metadata(out.join(id).join(RECORD)).expect("record").len()).sum();

    let mut g = c.benchmark_group("report");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(bytes));
    let size = format!("{CASES}_cases");
    let all: Vec<u8> = vec![1; bytes as usize];
    let mut to = vec![0u8; bytes as usize];
    g.bench_function(BenchmarkId::new("copy", &size), |b| b.iter(|| to.copy_from_slice(black_box(&all))));
    g.bench_function(BenchmarkId::new("assemble", &size), |b| {
        b.iter(|| write_report(&out, None, 2, &NoProgress).expect("report"));
        let done = write_report(&out, None, 2, &NoProgress).expect("report");
        assert_eq!((done.cases, done.rendered), (CASES, 0));
    });
    // Ten records without figures: made from the outputs on every iteration.
    let old: Vec<&String> = ids.iter().take(10).collect();
    let strip = || {
        for id in &old {
            let path = out.join(id).join(RECORD);
            let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("r")).expect("json");
            r.as_object_mut().expect("object").remove("figures");
            std::fs::write(&path, r.to_string()).expect("writes");
        }
    };
    g.bench_function(BenchmarkId::new("assemble_and_make_10", &size), |b| {
        b.iter_batched(
            strip,
            |()| write_report(&out, None, 2, &NoProgress).expect("report"),
            criterion::BatchSize::PerIteration,
        );
        strip();
        assert_eq!(write_report(&out, None, 2, &NoProgress).expect("report").rendered, 10);
    });
    g.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
