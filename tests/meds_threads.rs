//! `convert --from-meds` on several threads (`MedsImportOptions::threads`): every file of the
//! output (repository, dictionaries, error file) is byte for byte the one a single-threaded
//! import writes, on the fixtures (interleaved files, bad rows, text values) and on exports
//! of a synthetic repository (more than 8 files of small row groups; one file of row groups
//! larger than a decoded batch); the first unsorted subject is reported alike.
#![cfg(feature = "arrow")]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use inframed::convert::ConvertError;
use inframed::meds::{
    export_meds, import_meds, MedsExportOptions, MedsImportOptions, MedsImportSummary,
};
use inframed::synth::{self, SynthOptions};
use inframed::{Error, Repository};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn import(meds: &Path, out: &Path, threads: usize) -> inframed::Result<MedsImportSummary> {
    let o = MedsImportOptions {
        threads: Some(threads),
        ..Default::default()
    };
    import_meds(meds, out, &o)
}

/// Imports `meds` with 1, 2 and 3 threads and compares the outputs; returns the summary.
fn same_on_every_thread_count(meds: &Path) -> MedsImportSummary {
    let tmp = tempfile::tempdir().unwrap();
    let one = import(meds, &tmp.path().join("1"), 1).unwrap();
    let want = files(&tmp.path().join("1"));
    assert!(want.len() > 3, "{:?}", want.keys());
    for threads in [2, 3] {
        let out = tmp.path().join(threads.to_string());
        let s = import(meds, &out, threads).unwrap();
        let got = files(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &want {
            assert!(
                got[name] == *bytes,
                "{}: {name:?} differs with {threads} threads",
                meds.display()
            );
        }
        let config = one.config.file_name().unwrap();
        assert_eq!(s.config, out.join(config));
        assert_eq!(
            MedsImportSummary {
                config: one.config.clone(),
                ..s
            },
            one
        );
    }
    one
}

#[test]
fn the_fixtures_import_alike_on_one_two_and_three_threads() {
    let s = same_on_every_thread_count(Path::new("testdata/meds/small"));
    assert_eq!(s.subjects, 6);
    let s = same_on_every_thread_count(Path::new("testdata/meds/text"));
    assert!(s.text_values > 0 && s.bad_rows > 0);
    let s = same_on_every_thread_count(Path::new("testdata/meds/bad"));
    assert_eq!(s.bad_rows, 3);
}

#[test]
fn synthetic_exports_import_alike_on_one_two_and_three_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let o = SynthOptions {
        patients: 1000,
        seed: 7,
        mean_events: 60,
    };
    let repo =
        Repository::open(synth::write_repository(&tmp.path().join("repo"), &o).unwrap()).unwrap();
    // Many files (more than 8: one row group a file ahead), many small row groups.
    let many = tmp.path().join("many");
    let e = MedsExportOptions {
        subjects_per_file: 100,
        row_group_rows: 500,
        ..Default::default()
    };
    let sa = export_meds(&repo, &many, &e).unwrap();
    assert!(sa.data_files.len() > 8);
    let s = same_on_every_thread_count(&many);
    assert_eq!(s.subjects, 1000);
    // One file whose row groups hold more rows than a decoded batch (4 096).
    let one = tmp.path().join("one");
    let e = MedsExportOptions {
        row_group_rows: 40_000,
        ..Default::default()
    };
    let sb = export_meds(&repo, &one, &e).unwrap();
    assert_eq!(sb.data_files.len(), 1);
    let f = File::open(&sb.data_files[0]).unwrap();
    let meta =
        parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&f, Default::default()).unwrap();
    let groups = meta.metadata().row_groups();
    assert!(groups.len() >= 2 && groups[0].num_rows() > 2 * 4_096);
    let s2 = same_on_every_thread_count(&one);
    assert_eq!(s2.events, s.events);
}

/// A MEDS folder of one data file: `(subject, code)` rows, row groups of `group` rows.
fn dataset(dir: &Path, subjects: &[i64], group: usize) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let n = subjects.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(subjects.to_vec())),
        Arc::new(TimestampMicrosecondArray::from(vec![
            1_600_000_000_000_000i64;
            n
        ])),
        Arc::new(StringArray::from(vec!["MEDS_BIRTH"; n])),
        Arc::new(arrow_array::Float32Array::from(vec![None::<f32>; n])),
    ];
    let batch = RecordBatch::try_from_iter(
        ["subject_id", "time", "code", "numeric_value"]
            .into_iter()
            .zip(cols),
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let f = File::create(dir.join("data/0.parquet")).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn an_unsorted_file_is_the_same_error_on_every_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    // Descending inside row group 1; across the boundary of row groups 0 and 1.
    for (name, subjects, want) in [
        (
            "inside",
            vec![1, 2, 3, 4, 6, 5, 7, 8],
            ("row group 1 row 1", 5, 6),
        ),
        (
            "across",
            vec![1, 2, 3, 9, 5, 6, 7, 8],
            ("row group 1 row 0", 5, 9),
        ),
    ] {
        let d = tmp.path().join(name);
        dataset(&d, &subjects, 4);
        let mut msgs = Vec::new();
        for threads in [1, 2, 3] {
            let out = tmp.path().join(format!("{name}{threads}"));
            let e = import(&d, &out, threads).unwrap_err();
            assert!(!out.exists(), "{}", out.display());
            let (at, subject, previous) = want;
            assert!(
                matches!(
                    &e,
                    Error::Convert {
                        context,
                        source: ConvertError::MedsUnsorted { subject: s, previous: p },
                        ..
                    } if context == at && *s == subject && *p == previous
                ),
                "{name}: {e}: {:?}",
                std::error::Error::source(&e)
            );
            msgs.push(e.to_string());
        }
        assert!(msgs.iter().all(|m| *m == msgs[0]), "{msgs:?}");
    }
}
