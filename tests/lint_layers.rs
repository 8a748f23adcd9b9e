//! The library's module layers (issue #15 item 4), checked on the source text so that a new
//! `use crate::…` against the grain fails `cargo test` rather than waiting for a review:
//!
//! - every top-level module of `src/` sits in one layer of [`LAYERS`] (a new module must be
//!   placed there), and uses only modules of its own or lower layers;
//! - no two modules use each other, directly or through others (no cycle);
//! - `lib.rs` defines nothing (modules and re-exports only);
//! - no file in `src/` is over 800 lines;
//! - every test file is named `<area>_<what>.rs`.
//!
//! An edge is any `crate::<module>` in a module's files (doc links included, unit tests
//! after `#[cfg(test)]` not); `src/cli/` is the CLI, above everything. `scripts/module-graph`
//! prints the same edges for reading.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Lowest first. `target` (which outputs a writer may replace) reads repository configs, so
/// it sits above `text`; `meds` holds the MEDS importer, a converter that shares the
/// converter's thresholds and errors, so it sits beside `convert`. `layout` (element layouts
/// and their parser, which use nothing of the crate) sits beside `error`, so that
/// `Error::WrongType` carries the stored `Layout` itself rather than its text.
const LAYERS: &[&[&str]] = &[
    &["error", "ids", "time", "mmap", "atomic", "layout"],
    &["element", "cast", "text"],
    &["catalog", "signal"],
    &["store", "target"],
    &["native"],
    &["backend", "arrow", "shard", "synth"],
    &["repository"],
    &["convert", "meds", "fuzzing"],
    &["cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None`: `lib.rs`, `main.rs`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Module → the modules it names through `crate::`.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        let Some(from) = module_of(rel) else {
            continue;
        };
        let text = fs::read_to_string(&f).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap();
        let set = out.entry(from.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            // Not a path when part of a longer identifier (`my_crate::`).
            if text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let to: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !to.is_empty() && to != from {
                set.insert(to);
            }
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn every_module_has_a_layer_and_uses_only_its_own_or_lower_ones() {
    let edges = edges();
    let mut problems = Vec::new();
    for (from, tos) in &edges {
        let Some(lf) = layer_of(from) else {
            problems.push(format!("module {from} is in no layer of LAYERS"));
            continue;
        };
        for to in tos {
            match layer_of(to) {
                None => problems.push(format!("{from} -> {to}: {to} is in no layer")),
                Some(lt) if lt > lf => problems.push(format!(
                    "{from} (layer {lf}) -> {to} (layer {lt}): a back edge"
                )),
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_two_modules_use_each_other() {
    let edges = edges();
    // Depth-first search from each module: reaching itself again is a cycle.
    for start in edges.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for to in edges.get(&m).into_iter().flatten() {
                if to == start {
                    panic!("a cycle: {} -> {start}", path.join(" -> "));
                }
                if seen.insert(to.clone()) {
                    let mut p = path.clone();
                    p.push(to.clone());
                    stack.push((to.clone(), p));
                }
            }
        }
    }
}

#[test]
fn lib_rs_holds_only_modules_and_re_exports() {
    let text = fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut in_use = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with("//") || t.starts_with('#') {
            continue;
        }
        let starts = [
            "mod ",
            "pub mod ",
            "pub(crate) mod ",
            "pub use ",
            "pub(crate) use ",
            "use ",
        ]
        .iter()
        .any(|p| t.starts_with(p));
        // A `use` item over several lines: its continuation lines are names.
        assert!(
            starts || in_use,
            "src/lib.rs:{}: defines something: {line}",
            n + 1
        );
        in_use = (starts || in_use) && !t.trim_end().ends_with(';');
    }
}

#[test]
fn no_source_file_is_over_800_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > 800)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "split by job: {long:?}");
}

#[test]
fn test_files_are_named_area_what() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let odd: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.contains('_'))
        .collect();
    assert!(
        odd.is_empty(),
        "tests/ files not named <area>_<what>.rs: {odd:?}"
    );
}
