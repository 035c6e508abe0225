//! `ctprep info` on DICOM input: every series of the folder (index, UID, description, slices,
//! size, spacing), the files skipped and why, and for the series read (the only one, the one
//! given file belongs to, or `--series`) its acquisition fields and geometry, then the volume
//! as `info` shows any volume.

use std::fmt::Write as _;
use std::path::Path;

use ctprep_dicom::{Found, Series, find};

use crate::commands::{CmdResult, fmt_num};
use crate::progress::step;

/// The series `info` details: the one `file` belongs to, else the only one.
fn detailed<'a>(found: &'a Found, path: &Path) -> Option<&'a Series> {
    if path.is_file() {
        return found.series.iter().find(|s| s.files.iter().any(|f| f.path == path));
    }
    (found.series.len() == 1).then(|| &found.series[0])
}

fn transfer_syntax_name(uid: &str) -> String {
    use dicom_transfer_syntax_registry::TransferSyntaxIndex;
    dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(uid)
        .map_or_else(|| "unknown".to_string(), |t| t.name().to_string())
}

fn series_json(i: usize, s: &Series) -> serde_json::Value {
    let f = &s.files[0];
    let g = s.geometry();
    serde_json::json!({
        "index": i,
        "series_uid": s.uid,
        "series_description": s.description,
        "modality": s.modality,
        "slices": s.slices.len(),
        "files": s.files.len(),
        "rows": f.rows,
        "columns": f.columns,
        "transfer_syntax": f.transfer_syntax,
        "transfer_syntax_name": transfer_syntax_name(&f.transfer_syntax),
        "spacing": g.as_ref().ok().map(|g| g.spacing),
        "gantry_tilt_degrees": g.as_ref().ok().map(|g| g.tilt_degrees),
        "slice_step_spread": g.as_ref().ok().map(|g| g.step_spread),
        "geometry_error": g.as_ref().err().map(|e| e.to_string()),
    })
}

pub(crate) fn info(path: &Path, json: bool) -> CmdResult {
    let found = step("read", || find(path))?;
    let options = crate::input::dicom();
    let one = match &options.series {
        Some(pick) => Some(found.pick(path, &pick.parse().unwrap_or_default())?),
        None => detailed(&found, path),
    };
    let read_options = ctprep_dicom::ReadOptions {
        fill_padding: options.fill_padding,
        uneven: if options.resample_uneven { ctprep_dicom::Uneven::Linear } else { ctprep_dicom::Uneven::Error },
    };
    let read = one.map(|s| step("read", || s.read_with(&read_options))).transpose()?;
    let (volume, padding) = match read {
        Some((v, p)) => (Some(v), p),
        None => (None, None),
    };
    if json {
        let mut doc = match &volume {
            Some(v) => serde_json::to_value(crate::commands::info_json(path, v))?,
            None => serde_json::json!({ "path": path.display().to_string() }),
        };
        doc["format"] = "dicom".into();
        doc["dicom"] = serde_json::json!({
            "series": found.series.iter().enumerate().map(|(i, s)| series_json(i, s)).collect::<Vec<_>>(),
            "detailed": one.and_then(|s| found.series.iter().position(|x| std::ptr::eq(x, s))),
            "skipped": found.skipped.iter().map(|k| serde_json::json!({"path": k.path.display().to_string(), "why": k.why})).collect::<Vec<_>>(),
            "not_dicom": found.not_dicom.len(),
            "padding": padding.map(|p| serde_json::json!({
                "value": p.real, "stored": p.value, "voxels": p.voxels, "filled_with": p.filled,
            })),
        });
        crate::sayln!("{}", serde_json::to_string(&doc)?)?;
        return Ok(());
    }
    let mut s = String::new();
    let _ = writeln!(s, "{}", path.display());
    let files: usize = found.series.iter().map(|x| x.files.len()).sum();
    let _ = writeln!(
        s,
        "  format      dicom ({files} image files in {} series, {} skipped, {} not DICOM)",
        found.series.len(),
        found.skipped.len(),
        found.not_dicom.len()
    );
    for (i, x) in found.series.iter().enumerate() {
        let _ = writeln!(s, "  series {i:<4} {}", x.summary());
    }
    for k in &found.skipped {
        let _ = writeln!(s, "  skipped     {}: {}", k.path.display(), k.why);
    }
    if let (Some(x), Some(v)) = (one, &volume) {
        let f = &x.files[0];
        let g = x.geometry_with(read_options.uneven)?;
        let _ = writeln!(s, "  series      {} \"{}\", modality {}", x.uid, x.description, x.modality);
        let _ = writeln!(s, "  transfer    {} ({})", f.transfer_syntax, transfer_syntax_name(&f.transfer_syntax));
        let _ = writeln!(
            s,
            "  slices      {} along the normal, step {} mm from the positions (steps within {} % of the median)",
            x.slices.len(),
            fmt_num(g.spacing[2]),
            fmt_num(g.step_spread * 100.0)
        );
        let _ = writeln!(s, "  gantry tilt {}°", fmt_num(g.tilt_degrees));
        if let Some(p) = padding {
            let what = match p.filled {
                Some(v) => format!("; set to {}", fmt_num(v)),
                None if p.voxels > 0 => " (outside the field of view; --fill-padding V sets them)".to_string(),
                None => String::new(),
            };
            let _ = writeln!(s, "  padding     PixelPaddingValue {}: {} voxels{what}", fmt_num(p.real), p.voxels);
        }
        for note in [&g.single_slice_note, &g.resampled].into_iter().flatten() {
            let _ = writeln!(s, "  note        {note}");
        }
        if !x.modality.eq_ignore_ascii_case("CT") {
            let _ = writeln!(s, "  note        modality {}: HU windows may not apply", x.modality);
        }
        // The volume as any volume, without the NIfTI-only lines.
        for line in crate::commands::info_text(path, v).lines().skip(1) {
            let key = line.trim_start();
            if key.starts_with("format") || key.starts_with("qform") {
                continue;
            }
            let _ = writeln!(s, "{line}");
        }
    } else if found.series.len() > 1 {
        let _ = writeln!(s, "  (several series: `--series INDEX|UID` picks one for the other commands)");
    }
    crate::say!("{s}")?;
    Ok(())
}
