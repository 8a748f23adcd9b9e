//! Packs written by inframed for the original reader: raw packs (each codec, extra columns with
//! non-ASCII text and nulls, a multi-batch index, an empty pack), text packs of both adapters
//! and patient packs. The test reads them back with inframed; with `INFRAMED_IAC_INTEROP_DIR`
//! set, it also leaves them there with `written.json`, for `testdata/iac/check_with_original.py`
//! (the by-hand check with iatro-base-iac 0.1.4; see testdata/iac/README.md).
#![cfg(feature = "iac")]

mod common;

use std::path::Path;

use inframed::backend::iac::{
    build_clinical_text_pack, build_clinical_text_pair_pack, build_pack, build_records,
    ClinicalDoc, ClinicalTextPairDoc, Codec, DocMeta, IpcTable, Pack, PatientText,
    PatientTextPairs, TextPackReader,
};
use serde_json::{json, Map, Value};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"first".to_vec(),
        Vec::new(),
        (0..=255u8).cycle().take(777).collect(),
        "naïve 病案文书\n".repeat(30).into_bytes(),
        vec![0; 1000],
    ]
}

fn fixture_pack(name: &str) -> Pack {
    let z = std::fs::read(common::testdata(&format!("iac/{name}.iac.zst"))).unwrap();
    Pack::from_bytes(zstd::decode_all(&z[..]).unwrap()).unwrap()
}

/// The caller columns of a fixture's index table (its offset/length/crc32 get replaced).
fn caller_index(name: &str) -> IpcTable {
    fixture_pack(name).index_table().clone()
}

fn write_all(dir: &Path) -> Value {
    let mut written = Map::new();
    let extras = json!({
        "dataset": "inframed → iatro ünïcödé 病案",
        "floats": [0.1, 1.0, -0.0, 1e16, 1.5e-7],
        "nested": {"b": [1, 2], "a": null},
    });
    let slides = fixture_pack("none_extras").slide_table().clone();
    for (name, codec, index) in [
        ("raw_none", Codec::None, caller_index("none_extras")),
        ("raw_brotli", Codec::brotli(), caller_index("brotli")),
        (
            "raw_brotli_q5",
            Codec::Brotli {
                quality: 5,
                lgwin: 18,
            },
            caller_index("none_extras"),
        ),
        ("raw_zstd", Codec::zstd(), caller_index("brotli")),
    ] {
        let path = dir.join(format!("{name}.iac"));
        build_records(
            &path,
            "raw_bytes",
            &codec,
            &slides,
            &index,
            payloads(),
            extras.as_object(),
            true,
        )
        .unwrap();
        let pack = Pack::open(&path).unwrap();
        pack.verify().unwrap();
        for (row, p) in payloads().iter().enumerate() {
            assert_eq!(
                &pack.read_payload(row).unwrap()[..],
                &p[..],
                "{name} row {row}"
            );
        }
        written.insert(
            name.into(),
            json!({
                "kind": "raw",
                "index_batches": index.batches().len(),
                "decoded": payloads().iter().map(|p| hex(p)).collect::<Vec<_>>(),
            }),
        );
    }
    // Pre-declared crc32/offset columns (replaced in place) and an empty pack.
    let path = dir.join("raw_predeclared.iac");
    let pre = caller_index("streaming_predeclared");
    let three: Vec<&[u8]> = vec![b"alpha", b"", b"gamma!"];
    let header = json!({"payload_type": "raw_bytes", "codec": "none"});
    build_pack(
        &path,
        header.as_object().unwrap(),
        &slides,
        &pre,
        &three,
        true,
    )
    .unwrap();
    written.insert(
        "raw_predeclared".into(),
        json!({"kind": "raw", "index_batches": 2, "decoded": three.iter().map(|p| hex(p)).collect::<Vec<_>>()}),
    );
    let empty = fixture_pack("empty");
    let path = dir.join("raw_empty.iac");
    build_pack(
        &path,
        header.as_object().unwrap(),
        empty.slide_table(),
        empty.index_table(),
        Vec::<Vec<u8>>::new(),
        true,
    )
    .unwrap();
    assert_eq!(Pack::open(&path).unwrap().num_records(), 0);
    written.insert(
        "raw_empty".into(),
        json!({"kind": "raw", "index_batches": 0, "decoded": []}),
    );

    // Text adapters.
    let pairs = vec![
        PatientTextPairs {
            patient_id: "P1".into(),
            institution: "医院".into(),
            docs: vec![
                ClinicalTextPairDoc {
                    meta: DocMeta {
                        doc_type: "入院记录".into(),
                        episode_index: 2,
                        ..DocMeta::new("d1")
                    },
                    source_text: "入院记录：患者男，65岁。\n第二行".into(),
                    compressed_text: "男65岁".into(),
                },
                ClinicalTextPairDoc {
                    meta: DocMeta::new("d2"),
                    source_text: String::new(),
                    compressed_text: "only summary".into(),
                },
            ],
        },
        PatientTextPairs {
            patient_id: "P2".into(),
            institution: String::new(),
            docs: vec![],
        },
    ];
    let path = dir.join("text_pair.iac");
    build_clinical_text_pair_pack(&path, &pairs, 11, None, true).unwrap();
    let r = TextPackReader::open_pairs(&path).unwrap();
    assert_eq!(r.read_patient_pairs("P1").unwrap(), pairs[0]);
    let docs_json = |p: &PatientTextPairs| -> Value {
        json!({"patient_id": p.patient_id, "institution": p.institution, "docs": p.docs.iter().map(|d| json!({
            "doc_id": d.meta.doc_id, "source_text": d.source_text, "compressed_text": d.compressed_text,
            "doc_type": d.meta.doc_type, "encounter": d.meta.encounter, "doc_category": d.meta.doc_category,
            "source": d.meta.source, "doc_timestamp": d.meta.doc_timestamp, "episode_index": d.meta.episode_index,
        })).collect::<Vec<_>>()})
    };
    written.insert(
        "text_pair".into(),
        json!({"kind": "text_pair", "patients": pairs.iter().map(docs_json).collect::<Vec<_>>()}),
    );
    let texts = vec![PatientText {
        patient_id: "T1".into(),
        institution: "H".into(),
        docs: vec![ClinicalDoc {
            meta: DocMeta::new("a"),
            text: "第一份文书".into(),
        }],
    }];
    let path = dir.join("text.iac");
    build_clinical_text_pack(&path, &texts, 9, true).unwrap();
    assert_eq!(
        TextPackReader::open_single(&path)
            .unwrap()
            .read_patient_text("T1")
            .unwrap(),
        texts[0]
    );
    written.insert(
        "text".into(),
        json!({"kind": "text", "patients": [{"patient_id": "T1", "institution": "H", "docs": [
            {"doc_id": "a", "text": "第一份文书", "doc_type": "", "encounter": "", "doc_category": "",
             "source": "", "doc_timestamp": "", "episode_index": -1}]}]}),
    );

    // Patient packs of the golden repository (the script compares them with medpython's
    // get_sig output, testdata/inframed/small/expected.json).
    let golden = common::golden_repo();
    for (name, codec) in [
        ("patient_none", "none"),
        ("patient_brotli", "brotli"),
        ("patient_zstd", "zstd"),
    ] {
        let options = inframed::backend::ExportOptions {
            codec: Some(codec.into()),
            ..Default::default()
        };
        inframed::backend::iac::export(&golden, &dir.join(format!("{name}.iac")), &options)
            .unwrap();
        written.insert(name.into(), json!({"kind": "patient"}));
    }
    Value::Object(written)
}

#[test]
fn packs_for_the_original_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("INFRAMED_IAC_INTEROP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let written = write_all(&dir);
    std::fs::write(
        dir.join("written.json"),
        serde_json::to_string_pretty(&written).unwrap(),
    )
    .unwrap();
    // Multi-batch index tables keep their batches.
    let p = Pack::open(dir.join("raw_brotli.iac")).unwrap();
    assert_eq!(p.index_table().batches().len(), 5);
    let p = Pack::open(dir.join("raw_predeclared.iac")).unwrap();
    let names: Vec<&str> = p
        .index_table()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["crc32", "key", "offset", "length"]);
}
