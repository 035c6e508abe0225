//! `report.html`: one static page that shows every case of a batch's output folder: a card per
//! case (thumbnails with the label drawn over them, shapes, HU range, label volumes, warnings,
//! status, time) under a summary, sortable and filterable in the page. The page is a template
//! (`report.html` beside this file: CSS and script inline, nothing fetched) with the cases' data
//! as one JSON block; it only assembles what the records hold, and makes the thumbnails of
//! cases whose records lack them (folders written before, or whose images were removed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::figures::{FIGURES_VERSION, Figures, make_figures};
use super::records::{Record, Row, Status, Summary, read_json, write_file};
use super::{BatchError, RECORD};
use crate::progress::{Progress, Shown, Stage};
use crate::stem_of;

/// The page's file name in the output folder.
pub const REPORT: &str = "report.html";
const TEMPLATE: &str = include_str!("report.html");
const TOKEN: &str = "CTPREP_DATA";
/// Label values listed per case in the page (the largest; the record keeps them all).
const PAGE_LABELS: usize = 24;
/// Warnings per case in the page, and characters per line.
const PAGE_WARNINGS: usize = 8;
const LINE_CHARS: usize = 240;

/// Warn when more than this share of the output lies above the window's top (bone or metal
/// flattened to 1)...
const ABOVE_WARN: f64 = 0.01;
/// ...or below its bottom (air outside the body is usually most of a CT's box, so only a
/// window that flattens nearly everything is suspect).
const BELOW_WARN: f64 = 0.9;
/// The lowest HU of a CT reaches air (-1000); an output whose lowest value stays above this
/// was probably not rescaled to HU.
const NOT_HU_ABOVE: f32 = -500.0;

/// What [`write_report`] did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportOutcome {
    /// The page written.
    pub path: PathBuf,
    /// Cases on it.
    pub cases: usize,
    /// Cases whose thumbnails and figures were made now.
    pub rendered: usize,
    /// Cases with at least one warning.
    pub with_warnings: usize,
}

/// Writes `out/report.html` from the records in `out` (atomically: a temporary file renamed).
/// `summary` is the statuses of a batch that just ran (with its skipped cases); without it they
/// come from the records ([`Summary::of_records`]). Cases whose records lack figures (or whose
/// images are gone) get them now, `jobs` at a time, one part of [`Stage::Figures`] each. A
/// folder without records still gets a page that says so. Errs only when `out` is not a
/// folder or the page cannot be written.
pub fn write_report(
    out: &Path,
    summary: Option<&Summary>,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<ReportOutcome, BatchError> {
    if !out.is_dir() {
        return Err(BatchError::new(out, "not a folder (the --out folder of a batch)"));
    }
    let mut notes = Vec::new();
    let of_records;
    let summary = match summary {
        Some(s) => s,
        None => {
            of_records = match Summary::of_records(out) {
                Ok(s) => s,
                // A batch's list that cannot be read: the cases are the records found.
                Err(e) => {
                    notes.push(e.to_string());
                    Summary::of_records_listed(out, false).unwrap_or_else(|e2| {
                        if e2.to_string() != e.to_string() {
                            notes.push(e2.to_string());
                        }
                        Summary::of(Vec::new(), 0.0)
                    })
                }
            };
            &of_records
        }
    };
    if summary.not_listed > 0 {
        notes.push(format!(
            "{} case folders or failure records of cases not in the batch's list ({}) are left out",
            summary.not_listed,
            super::CASES
        ));
    }
    // The records of the cases that have one, and which of them need figures made.
    let mut records: Vec<Option<Result<Record, String>>> = summary
        .rows
        .par_iter()
        .map(|r| {
            // Only a plain case id names a folder here (a list or record could say "../x").
            let path = out.join(&r.id).join(RECORD);
            (matches!(r.status, Status::Done | Status::Skipped) && super::check_id(&r.id).is_ok())
                .then(|| read_json::<Record>(&path).map_err(|e| e.why))
        })
        .collect();
    let todo: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(i, r)| matches!(r, Some(Ok(rec)) if needs_figures(&out.join(&summary.rows[*i].id), rec)))
        .map(|(i, _)| i)
        .collect();
    let mut rendered = 0;
    if !todo.is_empty() {
        let shown = Shown::start(progress, Stage::Figures, Some(todo.len() as u64));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build()
            .map_err(|e| BatchError::new(out, format!("cannot start {jobs} threads: {e}")))?;
        let made: Vec<(usize, Figures)> = pool.install(|| {
            todo.par_iter()
                .filter_map(|&i| {
                    let Some(Ok(rec)) = &records[i] else { return None };
                    let id = &summary.rows[i].id;
                    let dir = out.join(id);
                    // A batch running this case holds its lock: its record is being replaced.
                    let Ok(Some(_lock)) = ctprep_io::NameLock::take(out, id) else {
                        shown.advance();
                        return None;
                    };
                    let stem = rec
                        .inputs
                        .iter()
                        .find(|f| f.role == "image")
                        .map_or("ct".to_owned(), |f| stem_of(Path::new(&f.path)));
                    let fig = make_figures(&dir, &stem, &rec.outputs, None, 1);
                    // Kept in the record, so the next page only assembles; a record that
                    // cannot be rewritten still shows its figures now.
                    let _ = store_figures(&dir.join(RECORD), &fig);
                    shown.advance();
                    Some((i, fig))
                })
                .collect()
        });
        drop(shown);
        rendered = made.len();
        for (i, fig) in made {
            if let Some(Ok(rec)) = &mut records[i] {
                rec.figures = Some(fig);
            }
        }
    }
    let cases: Vec<Value> = summary.rows.iter().zip(&records).map(|(row, rec)| case_json(row, rec.as_ref())).collect();
    let with_warnings = cases.iter().filter(|c| c["warnings"].as_array().is_some_and(|w| !w.is_empty())).count();
    let s = summary;
    let data = json!({
        "ctprep_version": super::VERSION,
        "folder": std::path::absolute(out).unwrap_or_else(|_| out.to_owned()).display().to_string(),
        "generated_unix_s": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        "notes": notes,
        "summary": {
            "cases": s.cases, "done": s.done, "skipped": s.skipped, "failed": s.failed,
            "missing": s.missing, "busy": s.busy, "with_warnings": with_warnings,
            "total_s": s.wall_s, "cases_per_min": s.cases_per_min, "total_is_sum": s.of_records,
        },
        "palette": ctprep_render::PALETTE,
        "cases": cases,
    });
    let page = page_of(&data)?;
    let path = out.join(REPORT);
    write_file(&path, page.as_bytes())?;
    Ok(ReportOutcome { path, cases: summary.rows.len(), rendered, with_warnings })
}

/// The template with `data` in its JSON block, written so that no string in it can end the
/// script element (`</` and `<!--` escaped, which JSON reads back unchanged).
fn page_of(data: &Value) -> Result<String, BatchError> {
    let json = serde_json::to_string(data).map_err(|e| BatchError::new(Path::new(REPORT), e.to_string()))?;
    let json = json.replace("</", "<\\/").replace("<!--", "<\\u0021--");
    Ok(TEMPLATE.replacen(TOKEN, &json, 1))
}

/// Whether a case's figures must be made: none recorded, of another version, or an image gone
/// (or named as anything but a file of the case's folder).
fn needs_figures(dir: &Path, rec: &Record) -> bool {
    let there = |name: &str| plain_name(name) && dir.join(name).is_file();
    match &rec.figures {
        None => true,
        Some(f) => f.version != FIGURES_VERSION || f.views.iter().any(|v| !there(&v.thumb) || !there(&v.full)),
    }
}

/// Whether `name` is one plain file name (no folder, no `..`, not absolute), as a case's
/// outputs and images are named in its record.
pub(crate) fn plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(std::path::Component::Normal(_))) && parts.next().is_none() && !name.contains('\\')
}

/// Puts `fig` into the record at `path`, keeping every other field as it is.
fn store_figures(path: &Path, fig: &Figures) -> Result<(), BatchError> {
    let mut v: Value = read_json(path)?;
    let obj = v.as_object_mut().ok_or_else(|| BatchError::new(path, "not a ctprep record"))?;
    obj.insert("figures".to_owned(), serde_json::to_value(fig).map_err(|e| BatchError::new(path, e.to_string()))?);
    let bytes = serde_json::to_vec_pretty(&v).map_err(|e| BatchError::new(path, e.to_string()))?;
    write_file(path, &bytes)
}

/// One line of at most [`LINE_CHARS`] characters.
fn line(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    match s.char_indices().nth(LINE_CHARS) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// A case's entry in the page's data (see the template for its fields).
fn case_json(row: &Row, rec: Option<&Result<Record, String>>) -> Value {
    let mut c = json!({
        "id": row.id, "status": row.status.name(), "error": row.error.as_deref().map(line),
        "thumbs": [], "labels": [], "warnings": [], "missing": [],
        "seconds": (row.seconds > 0.0).then_some(row.seconds),
        "timings": row.timings_s.iter().take(8).map(|(k, v)| (line(k), *v)).collect::<BTreeMap<_, _>>(),
    });
    let rec = match rec {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            c["missing"] = json!([line(&format!("record: {e}"))]);
            return c;
        }
        None => return c,
    };
    let run = &rec.run;
    let mut missing: Vec<String> = Vec::new();
    if rec.ctprep_version != super::VERSION {
        missing.push(format!("record: written by ctprep {} (this is {})", rec.ctprep_version, super::VERSION));
    }
    let image = rec.inputs.iter().find(|f| f.role == "image").map(|f| f.path.clone());
    let label = rec.inputs.iter().find(|f| f.role == "label").map(|f| f.path.clone());
    let mut warnings: Vec<(&str, String)> = Vec::new();
    if let Some(l) = &run.label
        && l.verdict != "aligned"
    {
        let how = if l.differences.is_empty() { String::new() } else { format!(": {}", l.differences.join("; ")) };
        warnings.push(("label", format!("label {}{how}", l.verdict)));
    }
    if let Some(deg) = run.input_shear_degrees.filter(|d| *d > 0.01) {
        warnings.push(("shear", format!("input sheared by {deg:.2} degrees (a tilted gantry?)")));
    }
    match &run.hu {
        Some(hu) => {
            if let Some([lo, _]) = hu.range
                && lo > NOT_HU_ABOVE
            {
                warnings.push(("not-hu", format!("lowest value {lo}: not in HU (no air)? check the scaling")));
            }
            if hu.infinite {
                warnings.push(("not-finite", "the output holds infinite values".to_owned()));
            }
            if hu.range.is_none() && !hu.infinite {
                warnings.push(("nan", "every output value is NaN".to_owned()));
            } else if hu.nan_voxels > 0 {
                warnings.push(("nan", format!("{} NaN voxels", hu.nan_voxels)));
            }
            if hu.above_window > ABOVE_WARN {
                warnings.push((
                    "clipped",
                    format!("window clips {:.1} % of voxels above its top", hu.above_window * 100.0),
                ));
            }
            if hu.below_window > BELOW_WARN {
                warnings.push((
                    "clipped",
                    format!("window clips {:.1} % of voxels below its bottom", hu.below_window * 100.0),
                ));
            }
            c["hu"] = json!(hu.range);
            c["clip"] = json!([hu.below_window, hu.above_window]);
        }
        None => missing.push("HU range: not recorded (a record written before ctprep counted it)".to_owned()),
    }
    match &rec.figures {
        Some(f) => {
            let dir = &row.id;
            c["thumbs"] = f
                .views
                .iter()
                .filter(|v| plain_name(&v.thumb) && plain_name(&v.full))
                .map(|v| {
                    json!({"plane": v.plane, "src": format!("{dir}/{}", v.thumb), "full": format!("{dir}/{}", v.full),
                           "w": v.width, "h": v.height})
                })
                .collect();
            let mut labels = f.labels.clone();
            if label.is_some() && labels.is_empty() && f.missing.iter().all(|m| !m.starts_with("label")) {
                warnings.push(("empty-label", "label map empty (all 0) on the output grid".to_owned()));
            }
            if labels.len() > PAGE_LABELS {
                missing
                    .push(format!("labels: the largest {PAGE_LABELS} of {} listed (the record has all)", labels.len()));
                labels.sort_by(|a, b| b.voxels.cmp(&a.voxels).then(a.value.cmp(&b.value)));
                labels.truncate(PAGE_LABELS);
                labels.sort_by_key(|l| l.value);
            }
            c["labels"] = labels
                .iter()
                .map(|l| json!({"v": l.value, "ml": (l.ml * 100.0).round() / 100.0, "n": l.voxels}))
                .collect();
            c["layers"] = json!(f.label_layers);
            missing.extend(f.missing.iter().cloned());
        }
        None => missing.push("thumbnails: not made".to_owned()),
    }
    let mut kinds: Vec<&str> = warnings.iter().map(|w| w.0).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let total = warnings.len();
    let mut lines: Vec<String> = warnings.iter().take(PAGE_WARNINGS).map(|w| line(&w.1)).collect();
    if total > PAGE_WARNINGS {
        lines.push(format!("and {} more", total - PAGE_WARNINGS));
    }
    c["warnings"] = lines.into();
    c["warning_kinds"] = kinds.into();
    let more = missing.len().saturating_sub(PAGE_WARNINGS);
    missing.truncate(PAGE_WARNINGS);
    if more > 0 {
        missing.push(format!("and {more} more"));
    }
    c["missing"] = missing.iter().map(|m| line(m)).collect();
    c["image"] = json!(image.as_deref().map(line));
    c["label"] = json!(label.as_deref().map(line));
    c["shape_in"] = json!(run.input_shape);
    c["spacing_in"] = json!(run.input_spacing_mm.map(|s| s.map(|v| (v * 1e4).round() / 1e4)));
    c["axcodes_in"] = json!(run.input_axcodes.as_deref().map(line));
    c["shape_out"] = json!(run.output_shape);
    c["spacing_out"] = json!(run.output_spacing_mm.map(|v| (v * 1e4).round() / 1e4));
    c["axcodes"] = json!(line(&run.axcodes));
    c["window"] = json!(run.window);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No string in the data can end the script element or open a comment in it, and the
    /// block reads back as the same data.
    #[test]
    fn the_data_block_cannot_end_its_script_element() {
        let nasty = "a</script><script>alert(1)</script><!-- </SCRIPT x";
        let data = json!({"cases": [{"id": nasty, "error": nasty}]});
        let page = page_of(&data).expect("page");
        let start = r#"<script id="ctprep-data" type="application/json">"#;
        let at = page.find(start).expect("block") + start.len();
        let end = at + page[at..].find("</script>").expect("end");
        let block = &page[at..end];
        assert!(!block.contains("</") && !block.contains("<!--"), "{block}");
        assert_eq!(serde_json::from_str::<Value>(block).expect("json"), data);
        assert_eq!(TEMPLATE.matches(TOKEN).count(), 1);
    }

    #[test]
    fn lines_are_cut_at_a_character_boundary() {
        let long = "é".repeat(LINE_CHARS + 5);
        let cut = line(&format!("{long}\nmore"));
        assert_eq!(cut.chars().count(), LINE_CHARS + 3);
        assert_eq!(line("a\nb"), "a b");
    }
}
