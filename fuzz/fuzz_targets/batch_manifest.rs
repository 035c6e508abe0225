//! Batch manifests on any bytes, as `.csv` and as `.jsonl`: no panic; cases come back only with
//! unique, valid ids (usable as folder names), sorted, and the same bytes read twice give the
//! same cases.
#![no_main]

use ctprep_fuzz::file;
use ctprep_pipeline::batch::{cases_from, check_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["cases.csv", "cases.jsonl"] {
        let p = file(name, data);
        let Ok(cases) = cases_from(&p, None) else { continue };
        assert!(!cases.is_empty());
        for c in &cases {
            assert_eq!(check_id(&c.id), Ok(()), "{:?}", c.id);
            assert!(!c.image.as_os_str().is_empty());
        }
        assert!(cases.windows(2).all(|w| w[0].id < w[1].id), "sorted and unique");
        assert_eq!(cases_from(&p, None).ok(), Some(cases), "the same bytes, the same cases");
    }
});
