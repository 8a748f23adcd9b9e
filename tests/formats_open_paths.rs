//! What `Repository::open`, `open_as` and `open_stacked` answer for every kind of path —
//! missing, a directory, empty, binary, a container, a shard manifest, MODE 0–3 configs,
//! broken configs (a parse error, no SIGNAL line, a missing signals file), a config longer
//! than the detection head, with a byte-order mark — as one table compared with the answers
//! the opens gave before a repository config was read once per open (issue #20 item 5): the
//! same outcome, error variant and message for each.
#![cfg(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar"))]

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use inframed::backend::{Container, Format};
use inframed::{Pid, Repository, Result, SignalStore};

/// One line of the table: `name: ok <format> layers=<n> signals=<n> pids=<n> patient=<n>`
/// or `name: <error variant> <message>`, with the temporary directory written `<tmp>`.
fn outcome(name: &str, r: Result<Repository>, tmp: &Path) -> String {
    let text = match r {
        Ok(repo) => {
            let pid = repo.pids().first().copied().unwrap_or(Pid(0));
            let patient = repo.patient(pid).map(|p| p.signals().len());
            format!(
                "ok {} layers={} signals={} pids={} patient={:?}",
                repo.describe().format,
                repo.layers().len(),
                repo.catalog().signals().len(),
                repo.pids().len(),
                patient.map_err(|e| e.to_string()),
            )
        }
        Err(e) => {
            let debug = format!("{e:?}");
            let variant = debug
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("")
                .to_string();
            format!("{variant} {}", common::error_chain(&e))
        }
    };
    let text = text.replace(&tmp.display().to_string(), "<tmp>");
    let text = text.replace(env!("CARGO_MANIFEST_DIR"), "<crate>");
    format!("{name}: {text}\n")
}

/// A copy of the golden repository under `dir/name` whose config is `edit(config text)`.
fn golden_copy(dir: &Path, name: &str, edit: impl FnOnce(&str) -> String) -> PathBuf {
    let to = dir.join(name);
    common::copy_dir(&common::testdata("inframed/small/repo"), &to);
    let config = to.join("small.repository");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, edit(&text)).unwrap();
    config
}

#[test]
fn every_kind_of_path_opens_or_fails_as_before() {
    let t = tempfile::tempdir().unwrap();
    let tmp = t.path();
    let mut table = String::new();
    let mut row = |name: &str, r: Result<Repository>| table.push_str(&outcome(name, r, tmp));

    let golden = common::golden_repo_path();
    row("golden", Repository::open(&golden));
    row("missing", Repository::open(tmp.join("missing.repository")));
    row(
        "missing brace list",
        Repository::open(tmp.join("train-{000..009}.tar")),
    );
    let folder = tmp.join("folder");
    std::fs::create_dir(&folder).unwrap();
    row("empty folder", Repository::open(&folder));
    let empty = tmp.join("empty.repository");
    std::fs::write(&empty, b"").unwrap();
    row("empty file", Repository::open(&empty));
    let binary = tmp.join("binary.repository");
    std::fs::write(&binary, b"MODE\t3\n\0\x01\x02").unwrap();
    row("binary file", Repository::open(&binary));
    row("gnz", Repository::open(common::testdata("gnz/dtypes.gnz")));
    let mut bad_gnz = std::fs::read(common::testdata("gnz/dtypes.gnz")).unwrap();
    bad_gnz[0] = b'X';
    std::fs::write(tmp.join("bad.gnz"), &bad_gnz).unwrap();
    row("damaged gnz", Repository::open(tmp.join("bad.gnz")));
    for mode in ["mode0_full", "mode1", "mode2"] {
        let p = common::testdata(&format!("legacy/{mode}/legacy.repository"));
        row(mode, Repository::open(&p));
    }

    // Configs: broken ways, and texts detection reads only the head of.
    let p = golden_copy(tmp, "parse", |t| format!("{t}MODE\tx\n"));
    row("parse error", Repository::open(&p));
    let p = golden_copy(tmp, "nosignal", |t| {
        t.lines()
            .filter(|l| !l.starts_with("SIGNAL"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    row("no SIGNAL line", Repository::open(&p));
    let p = golden_copy(tmp, "nosignals", |t| t.to_string());
    std::fs::remove_file(p.with_file_name("small.signals")).unwrap();
    row("signals file missing", Repository::open(&p));
    let p = golden_copy(tmp, "long", |t| {
        format!("{}{t}", "# a comment line of the config\n".repeat(1000))
    });
    row("config longer than the head", Repository::open(&p));
    let p = golden_copy(tmp, "longtail", |t| {
        format!(
            "{t}{}MODE\t9\n",
            "# a comment line of the config\n".repeat(1000)
        )
    });
    row("parse error after the head", Repository::open(&p));
    let p = golden_copy(tmp, "cut", |t| {
        // A two-byte character across byte 8192 (the detection head).
        let pad = 8190 - t.len();
        format!("{t}#{}é\n", "x".repeat(pad))
    });
    row("character across the head", Repository::open(&p));
    let p = golden_copy(tmp, "bom", |t| format!("\u{feff}{t}"));
    row("byte-order mark", Repository::open(&p));
    let p = golden_copy(tmp, "notranspose", |t| t.to_string());
    for e in std::fs::read_dir(p.parent().unwrap().join("data")).unwrap() {
        let e = e.unwrap().path();
        if e.to_string_lossy().contains("__pids__") {
            std::fs::remove_file(e).unwrap();
        }
    }
    row("no transpose", Repository::open(&p));

    // A shard manifest.
    let src = Repository::open(&golden).unwrap();
    let options = inframed::shard::ShardOptions::new(2, src.catalog()).unwrap();
    let manifest = inframed::shard::write_shards(&src, &tmp.join("shards"), &options).unwrap();
    row("manifest", Repository::open(&manifest));
    row(
        "manifest forced as config",
        Repository::open_as(&manifest, Format::Config),
    );

    // Forced formats.
    row(
        "golden as config",
        Repository::open_as(&golden, Format::Config),
    );
    row(
        "golden as gnz",
        Repository::open_as(&golden, Format::Container(Container::Gnz)),
    );
    row(
        "gnz as config",
        Repository::open_as(common::testdata("gnz/dtypes.gnz"), Format::Config),
    );
    row(
        "folder as config",
        Repository::open_as(&folder, Format::Config),
    );
    row(
        "missing as config",
        Repository::open_as(tmp.join("missing"), Format::Config),
    );
    row(
        "binary as config",
        Repository::open_as(&binary, Format::Config),
    );

    // Stacks.
    row(
        "stacked golden twice",
        Repository::open_stacked(&[&golden, &golden]),
    );
    row(
        "stacked golden and mode1",
        Repository::open_stacked(&[
            golden.clone(),
            common::testdata("legacy/mode1/legacy.repository"),
        ]),
    );
    row(
        "stacked golden and missing",
        Repository::open_stacked(&[golden.clone(), tmp.join("missing")]),
    );
    row(
        "stacked missing and empty",
        Repository::open_stacked(&[tmp.join("missing"), empty.clone()]),
    );
    row("stacked nothing", Repository::open_stacked::<&Path>(&[]));

    let mut expected = String::new();
    for line in EXPECTED.lines() {
        writeln!(expected, "{line}").unwrap();
    }
    assert_eq!(table, expected, "\n--- got ---\n{table}");
}

/// The answers of the opens before the change (commit cf3ceb5).
const EXPECTED: &str = r#"golden: ok InfraMed MODE 3 (per-signal stripped .data/.idx) layers=1 signals=14 pids=40 patient=Ok(12)
missing: Open cannot open <tmp>/missing.repository: No such file or directory (os error 2)
missing brace list: Format <tmp>/train-{000..009}.tar: name: brace list train-{000..009}.tar: <tmp>/train-000.tar does not exist
empty folder: Unsupported <tmp>/folder: unsupported format: not a container or repository config (tried trx folder: no header.json; tar dataset: no .taridx and no .tar shards; --format NAME forces one of iac, gnz, trx, itar (tar, webdataset), repository)
empty file: Unsupported <tmp>/empty.repository: unsupported format: not a container or repository config (tried iac: no IATROC magic; gnz: no GNZ1 magic; trx: not a zip; itar: no TARIDX magic, no tar header, not gzip; repository config: empty file; --format NAME forces one of iac, gnz, trx, itar (tar, webdataset), repository)
binary file: Unsupported <tmp>/binary.repository: unsupported format: not a container or repository config (tried iac: no IATROC magic; gnz: no GNZ1 magic; trx: not a zip; itar: no TARIDX magic, no tar header, not gzip; repository config: binary, not text; --format NAME forces one of iac, gnz, trx, itar (tar, webdataset), repository)
gnz: Format <crate>/testdata/gnz/dtypes.gnz: metadata "inframed": not an inframed patient file (no metadata key "inframed")
damaged gnz: Format <tmp>/bad.gnz: byte 0: bad magic [58, 4e, 5a, 31], expected "GNZ1"
mode0_full: ok InfraMed MODE 0 (full data files + INDEX packets) layers=1 signals=14 pids=40 patient=Ok(12)
mode1: ok InfraMed MODE 1 (stripped data files + INDEX packets) layers=1 signals=14 pids=40 patient=Ok(12)
mode2: ok InfraMed MODE 2 (stripped data files + INDEX packets) layers=1 signals=14 pids=40 patient=Ok(12)
parse error: Parse <tmp>/parse/small.repository:14: invalid MODE: not an integer: "x"
no SIGNAL line: Unsupported <tmp>/nosignal/small.repository: unsupported repository config without a SIGNAL line
signals file missing: Open cannot open <tmp>/nosignals/small.signals: No such file or directory (os error 2)
config longer than the head: ok InfraMed MODE 3 (per-signal stripped .data/.idx) layers=1 signals=14 pids=40 patient=Ok(12)
parse error after the head: Parse <tmp>/longtail/small.repository:1014: invalid MODE: 9 is outside 0..=3
character across the head: ok InfraMed MODE 3 (per-signal stripped .data/.idx) layers=1 signals=14 pids=40 patient=Ok(12)
byte-order mark: ok InfraMed MODE 3 (per-signal stripped .data/.idx) layers=1 signals=14 pids=40 patient=Ok(12)
no transpose: ok InfraMed MODE 3 (per-signal stripped .data/.idx) layers=1 signals=14 pids=40 patient=Ok(12)
manifest: ok inframed shards (2 × InfraMed MODE 3 (per-signal stripped .data/.idx)) layers=1 signals=14 pids=40 patient=Ok(12)
manifest forced as config: ok inframed shards (2 × InfraMed MODE 3 (per-signal stripped .data/.idx)) layers=1 signals=14 pids=40 patient=Ok(12)
golden as config: ok InfraMed MODE 3 (per-signal stripped .data/.idx) layers=1 signals=14 pids=40 patient=Ok(12)
golden as gnz: Format <crate>/testdata/inframed/small/repo/small.repository: byte 0: bad magic [44, 45, 53, 43], expected "GNZ1"
gnz as config: Unsupported <crate>/testdata/gnz/dtypes.gnz: unsupported repository config without a SIGNAL line
folder as config: Open cannot open <tmp>/folder: Is a directory (os error 21)
missing as config: Open cannot open <tmp>/missing: No such file or directory (os error 2)
binary as config: Unsupported <tmp>/binary.repository: unsupported repository config without a SIGNAL line
stacked golden twice: ok InfraMed MODE 3 (per-signal stripped .data/.idx) + InfraMed MODE 3 (per-signal stripped .data/.idx) layers=2 signals=14 pids=40 patient=Ok(12)
stacked golden and mode1: ok InfraMed MODE 3 (per-signal stripped .data/.idx) + InfraMed MODE 1 (stripped data files + INDEX packets) layers=2 signals=14 pids=40 patient=Ok(12)
stacked golden and missing: Open cannot open <tmp>/missing: No such file or directory (os error 2)
stacked missing and empty: Open cannot open <tmp>/missing: No such file or directory (os error 2)
stacked nothing: InvalidInput invalid argument: no repository given
"#;
