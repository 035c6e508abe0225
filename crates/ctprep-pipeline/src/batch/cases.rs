//! The cases of a batch: manifests (CSV, JSON Lines), folders with label patterns, case ids,
//! and shards.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BatchError, FAILED_SUFFIX, RESERVED_NAMES};
use crate::stem_of;

/// The file name extensions a folder is scanned for.
const IMAGE_EXTENSIONS: [&str; 4] = [".nii.gz", ".nii", ".nrrd", ".nhdr"];
/// A manifest larger than this is refused before it is read (a million cases take ~200 MB).
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// One case of a dataset: an image and optionally its label map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The name of the case's folder in the output folder.
    pub id: String,
    /// The image (NIfTI or NRRD).
    pub image: PathBuf,
    /// Its label map.
    pub label: Option<PathBuf>,
    /// With a DICOM folder as the image that holds several series: the one to read (its index
    /// as `ctprep info` lists them).
    pub series: Option<usize>,
}

/// The cases of `source`, sorted by id: a folder scanned for `*.nii`, `*.nii.gz`, `*.nrrd`,
/// `*.nhdr` and, with the `dicom` feature, for DICOM series in it and below (one case per
/// series, see the README) (id: the file's stem; with `label_pattern`, such as `{stem}_seg.nrrd` or
/// `../labels/{stem}.nii.gz`, each image's label is that path, and files that are another
/// image's label are not cases), or a manifest: `.csv` with a header naming the columns `id`,
/// `image` and optionally `label`, or `.jsonl` with one object per line with those keys (other
/// columns and keys are ignored). Relative paths are relative to the manifest's folder. Ids
/// must be unique and usable as folder names.
pub fn cases_from(source: &Path, label_pattern: Option<&str>) -> Result<Vec<Case>, BatchError> {
    let mut cases = if source.is_dir() {
        scan_folder(source, label_pattern)?
    } else {
        if label_pattern.is_some() {
            return Err(BatchError::new(
                source,
                "a label pattern applies to a folder of images; a manifest names each label in its `label` column",
            ));
        }
        let lower = source.to_string_lossy().to_ascii_lowercase();
        let text = read_manifest_text(source)?;
        let base = match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if lower.ends_with(".csv") {
            read_csv(source, &text, &base)?
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            read_jsonl(source, &text, &base)?
        } else {
            return Err(BatchError::new(
                source,
                "not a folder, a .csv or a .jsonl manifest (the kind is told by the name's extension)",
            ));
        }
    };
    if cases.is_empty() {
        return Err(BatchError::new(source, "no cases"));
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &cases {
        check_id(&c.id).map_err(|why| BatchError::new(source, format!("case id {:?}: {why}", c.id)))?;
    }
    if let Some(w) = cases.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(BatchError::new(
            source,
            format!("case id {:?} twice ({} and {})", w[0].id, w[0].image.display(), w[1].image.display()),
        ));
    }
    Ok(cases)
}

/// Whether `id` can name a case folder: not empty, at most 200 bytes, no path separator or
/// control character, not hidden (`.`: temporaries start so), not one of [`RESERVED_NAMES`], not
/// ending in [`FAILED_SUFFIX`].
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty".to_owned());
    }
    if id.len() > 200 {
        return Err("longer than 200 bytes".to_owned());
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err("holds a path separator or a control character".to_owned());
    }
    if id.starts_with('.') {
        return Err("starts with '.' (hidden; ctprep's temporaries start so)".to_owned());
    }
    if RESERVED_NAMES.contains(&id) || id.ends_with(FAILED_SUFFIX) {
        return Err("is a name the batch's own files take".to_owned());
    }
    Ok(())
}

fn read_manifest_text(path: &Path) -> Result<String, BatchError> {
    let meta = std::fs::metadata(path).map_err(|e| BatchError::new(path, format!("cannot read: {e}")))?;
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(BatchError::new(path, format!("{} bytes: larger than a manifest can be (1 GiB)", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| BatchError::new(path, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| BatchError::new(path, format!("not UTF-8 text (byte {} is not)", e.utf8_error().valid_up_to())))?;
    // A byte order mark, as spreadsheet programs write.
    Ok(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
}

/// `case` with its paths, as written in a manifest, taken relative to `base` unless absolute.
fn resolved(case: Case, base: &Path) -> Case {
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    Case { image: resolve(case.image), label: case.label.map(resolve), ..case }
}

fn read_csv(path: &Path, text: &str, base: &Path) -> Result<Vec<Case>, BatchError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| BatchError::new(path, format!("header line: {e}")))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id), Some(image)) = (column("id"), column("image")) else {
        return Err(BatchError::new(
            path,
            format!(
                "the header line must name the columns id and image (and optionally label); it has: {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let label = column("label");
    let mut cases = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| BatchError::new(path, e.to_string()))?;
        let line = r.position().map_or(0, csv::Position::line);
        let field = |i: usize| r.get(i).unwrap_or("");
        if (0..r.len()).all(|i| field(i).is_empty()) {
            continue;
        }
        let case = case_of(field(id), field(image), label.map(field))
            .map_err(|why| BatchError::new(path, format!("line {line}: {why}")))?;
        cases.push(resolved(case, base));
    }
    Ok(cases)
}

/// A case from a manifest's fields (paths not yet resolved); an empty label is none.
fn case_of(id: &str, image: &str, label: Option<&str>) -> Result<Case, String> {
    if id.is_empty() {
        return Err("empty id".to_owned());
    }
    if image.is_empty() {
        return Err(format!("case {id:?}: empty image path"));
    }
    Ok(Case {
        id: id.to_owned(),
        image: PathBuf::from(image),
        label: label.filter(|l| !l.is_empty()).map(PathBuf::from),
        series: None,
    })
}

fn read_jsonl(path: &Path, text: &str, base: &Path) -> Result<Vec<Case>, BatchError> {
    #[derive(Deserialize)]
    struct Line {
        id: serde_json::Value,
        image: String,
        #[serde(default)]
        label: Option<String>,
    }
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| BatchError::new(path, format!("line {}: {why}", n + 1));
        let l: Line = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        // Numeric ids, as pandas writes them, are taken as their text.
        let id = match l.id {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(at(format!("id {other}: expected a string or a number"))),
        };
        let case = case_of(id.trim(), l.image.trim(), l.label.as_deref().map(str::trim)).map_err(at)?;
        cases.push(resolved(case, base));
    }
    Ok(cases)
}

fn scan_folder(dir: &Path, label_pattern: Option<&str>) -> Result<Vec<Case>, BatchError> {
    if let Some(p) = label_pattern
        && !p.contains("{stem}")
    {
        return Err(BatchError::new(
            dir,
            format!("label pattern {p:?} has no {{stem}}: every image would share one label"),
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| BatchError::new(dir, format!("cannot list: {e}")))?;
    let mut images = Vec::new();
    for e in entries {
        let e = e.map_err(|e| BatchError::new(dir, format!("cannot list: {e}")))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let lower = name.to_ascii_lowercase();
        let is_image = IMAGE_EXTENSIONS.iter().any(|x| lower.ends_with(x) && lower.len() > x.len());
        if is_image && !name.starts_with('.') && e.path().is_file() {
            images.push(e.path());
        }
    }
    images.sort();
    let label_of = |img: &Path| label_pattern.map(|p| dir.join(p.replace("{stem}", &stem_of(img))));
    let labels: HashSet<PathBuf> = images.iter().filter_map(|i| label_of(i)).collect();
    if let Some(p) = label_pattern
        && images.iter().any(|i| label_of(i).as_ref() == Some(i))
    {
        return Err(BatchError::new(dir, format!("label pattern {p:?} names the images themselves")));
    }
    let cases: Vec<Case> = images
        .iter()
        .filter(|i| !labels.contains(*i))
        .map(|i| Case { id: stem_of(i), image: i.clone(), label: label_of(i), series: None })
        .collect::<Vec<Case>>();
    #[cfg(feature = "dicom")]
    let cases = [cases, dicom_cases(dir)?].concat();
    if cases.is_empty() {
        #[cfg(feature = "dicom")]
        let what = "no .nii, .nii.gz, .nrrd or .nhdr images in this folder, and no DICOM files in it or below";
        #[cfg(not(feature = "dicom"))]
        let what = "no .nii, .nii.gz, .nrrd or .nhdr images in this folder";
        return Err(BatchError::new(dir, what));
    }
    Ok(cases)
}

/// How deep [`dicom_cases`] looks below the batch's folder.
#[cfg(feature = "dicom")]
const MAX_DICOM_DEPTH: usize = 16;

/// The DICOM series in `root` and every folder below it (found by content; hidden entries and
/// symbolic links to folders are not followed): one case per series, its id the folder's
/// path relative to `root` with `_` for the separators (`root`'s own name for `root`), plus
/// `_series<i>` where a folder holds several. A folder whose series cannot be told apart (a
/// corrupt file among them) is one case, which fails with that error when run.
#[cfg(feature = "dicom")]
fn dicom_cases(root: &Path) -> Result<Vec<Case>, BatchError> {
    let mut folders = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| BatchError::new(&dir, format!("cannot list: {e}")))?;
        let mut holds_dicom = false;
        for e in entries {
            let e = e.map_err(|e| BatchError::new(&dir, format!("cannot list: {e}")))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let lower = name.to_ascii_lowercase();
            let Ok(kind) = e.file_type() else { continue };
            if name.starts_with('.') || IMAGE_EXTENSIONS.iter().any(|x| lower.ends_with(x)) {
                continue;
            }
            if kind.is_dir() {
                if depth < MAX_DICOM_DEPTH {
                    stack.push((e.path(), depth + 1));
                }
            } else if !holds_dicom && kind.is_file() && ctprep_dicom::is_dicom(&e.path()) {
                holds_dicom = true;
            }
        }
        if holds_dicom {
            folders.push(dir);
        }
    }
    folders.sort();
    let mut cases = Vec::new();
    for dir in folders {
        let rel: Vec<String> = dir
            .strip_prefix(root)
            .unwrap_or(&dir)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let id = if rel.is_empty() { stem_of(root) } else { rel.join("_") };
        match ctprep_dicom::find(&dir) {
            Ok(found) if found.series.len() > 1 => cases.extend((0..found.series.len()).map(|i| Case {
                id: format!("{id}_series{i}"),
                image: dir.clone(),
                label: None,
                series: Some(i),
            })),
            Ok(found) if found.series.is_empty() => {}
            _ => cases.push(Case { id, image: dir, label: None, series: None }),
        }
    }
    Ok(cases)
}

/// One share of a dataset for one machine or array task: the cases whose index in the list
/// sorted by id is `index` modulo `count`. Shards are disjoint and together cover every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// Shard `index` of `count` (`index < count`).
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: needs 0 <= I < N"));
        }
        Ok(Shard { index, count })
    }

    /// The shard a scheduler's environment gives, and where it came from: a Slurm job array
    /// task (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, with `SLURM_ARRAY_TASK_MIN` and
    /// `SLURM_ARRAY_TASK_STEP` when set), or a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`,
    /// with the job's completions count passed as `JOB_COMPLETIONS`). `None` outside either.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Shard, &'static str)>, String> {
        let num = |name: &str| -> Result<Option<usize>, String> {
            var(name)
                .map(|v| v.trim().parse::<usize>().map_err(|_| format!("{name}={v:?} is not a whole number")))
                .transpose()
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count =
                num("SLURM_ARRAY_TASK_COUNT")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let index = id.checked_sub(min).ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")? / step;
            return Shard::new(index, count).map(|s| Some((s, "SLURM_ARRAY_TASK_ID"))).map_err(|e| {
                format!("{e} (from SLURM_ARRAY_TASK_ID; an array of N tasks over a batch is --array=0-<N-1>)")
            });
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("JOB_COMPLETIONS")?.ok_or(
                "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not: pass the job's completions count as \
                 JOB_COMPLETIONS in its environment",
            )?;
            return Shard::new(index, count).map(|s| Some((s, "JOB_COMPLETION_INDEX")));
        }
        Ok(None)
    }

    /// The cases of this shard, from `cases` sorted by id (as [`cases_from`] returns them).
    pub fn select(self, cases: &[Case]) -> Vec<Case> {
        cases.iter().enumerate().filter(|(i, _)| i % self.count == self.index).map(|(_, c)| c.clone()).collect()
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: expected I/N, e.g. 0/4 (shard I of N, from 0)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        Shard::new(i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).expect("writes");
    }

    #[test]
    fn manifests_csv_and_jsonl() {
        let d = tempfile::tempdir().expect("dir");
        let m = d.path().join("cases.csv");
        write(
            &m,
            "\u{feff}ID, image ,label,site\nb,scans/b.nii.gz,,x\n\"a,1\",/abs/a.nrrd,\"labels/a, seg.nrrd\",y\n\n",
        );
        let cases = cases_from(&m, None).expect("reads");
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].id, "a,1");
        assert_eq!(cases[0].image, Path::new("/abs/a.nrrd"));
        assert_eq!(cases[0].label.as_deref(), Some(d.path().join("labels/a, seg.nrrd").as_path()));
        assert_eq!((cases[1].image.clone(), cases[1].label.clone()), (d.path().join("scans/b.nii.gz"), None));

        let j = d.path().join("cases.jsonl");
        write(&j, "{\"id\": 7, \"image\": \"x.nii\"}\n\n{\"id\": \"y\", \"image\": \"y.nii\", \"label\": null}\n");
        let cases = cases_from(&j, None).expect("reads");
        assert_eq!(cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["7", "y"]);

        for (name, text, why) in [
            ("a.csv", "id,path\nx,y\n", "must name the columns id and image"),
            ("b.csv", "id,image\nx,a.nii\nx,b.nii\n", "twice"),
            ("c.csv", "id,image\n../up,a.nii\n", "path separator"),
            ("d.csv", "id,image\n.hidden,a.nii\n", "starts with '.'"),
            ("e.csv", "id,image\nsummary.json,a.nii\n", "batch's own files"),
            ("f.csv", "id,image\nx,\n", "line 2: case \"x\": empty image"),
            ("g.csv", "id,image\nx,a.nii,extra\n", "line: 2, byte: 9): found record with 3 fields"),
            ("h.jsonl", "{\"id\": \"x\"}\n", "line 1: missing field `image`"),
            ("i.jsonl", "{\"id\": [1], \"image\": \"a\"}\n", "expected a string or a number"),
            ("j.txt", "id,image\n", "not a folder, a .csv or a .jsonl"),
            ("k.csv", "id,image\n", "no cases"),
        ] {
            let p = d.path().join(name);
            write(&p, text);
            let e = cases_from(&p, None).expect_err(name).to_string();
            assert!(e.contains(why) && e.contains(name), "{name}: {e}");
        }
        let e = cases_from(&m, Some("{stem}_seg.nrrd")).expect_err("pattern on a manifest").to_string();
        assert!(e.contains("label pattern applies to a folder"), "{e}");
        assert!(cases_from(&d.path().join("missing.csv"), None).is_err());
    }

    #[test]
    fn folders_pair_labels_by_pattern() {
        let d = tempfile::tempdir().expect("dir");
        for n in ["ct1.nii.gz", "ct1_seg.nrrd", "ct2.NRRD", ".hidden.nii", "notes.txt", "ct3.nhdr", "ct3.raw"] {
            write(&d.path().join(n), "");
        }
        std::fs::create_dir(d.path().join("sub.nii")).expect("mkdir");
        let all = cases_from(d.path(), None).expect("scans");
        assert_eq!(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ct1", "ct1_seg", "ct2", "ct3"]);
        let paired = cases_from(d.path(), Some("{stem}_seg.nrrd")).expect("scans");
        assert_eq!(paired.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ct1", "ct2", "ct3"]);
        assert_eq!(paired[0].label.as_deref(), Some(d.path().join("ct1_seg.nrrd").as_path()));
        assert_eq!(paired[1].label.as_deref(), Some(d.path().join("ct2_seg.nrrd").as_path()), "missing: fails later");
        assert!(cases_from(d.path(), Some("seg.nrrd")).expect_err("no {stem}").to_string().contains("no {stem}"));
        let empty = tempfile::tempdir().expect("dir");
        assert!(cases_from(empty.path(), None).expect_err("empty").to_string().contains("no .nii"));
        write(&d.path().join("ct2.nii"), "");
        assert!(cases_from(d.path(), None).expect_err("two ct2").to_string().contains("\"ct2\" twice"));
    }

    #[test]
    fn shards_split_and_come_from_the_environment() {
        let cases: Vec<Case> = (0..10)
            .map(|i| Case { id: format!("c{i}"), image: PathBuf::from("x"), label: None, series: None })
            .collect();
        let mut seen: Vec<String> = Vec::new();
        for i in 0..3 {
            let s: Shard = format!("{i}/3").parse().expect("parses");
            seen.extend(s.select(&cases).into_iter().map(|c| c.id));
        }
        seen.sort();
        assert_eq!(seen, cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
        assert_eq!(Shard::new(1, 3).map(|s| s.select(&cases).len()), Ok(3));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        fn env(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
            let pairs = pairs.to_vec();
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        }
        assert_eq!(Shard::from_env(env(&[])), Ok(None));
        assert_eq!(
            Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")])),
            Ok(Some((Shard { index: 2, count: 4 }, "SLURM_ARRAY_TASK_ID")))
        );
        let from_one = [("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1")];
        assert_eq!(Shard::from_env(env(&from_one)).map(|s| s.map(|s| s.0)), Ok(Some(Shard { index: 3, count: 4 })));
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4")])).is_err());
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
        assert!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1")])).expect_err("no count").contains("JOB_COMPLETIONS")
        );
        assert_eq!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1"), ("JOB_COMPLETIONS", "2")])).map(|s| s.map(|s| s.0)),
            Ok(Some(Shard { index: 1, count: 2 }))
        );
    }
}
