//! MEDS (Medical Event Data Standard, 0.4) export and import.
//!
//! A MEDS dataset is a folder holding `data/**/*.parquet` (one row per event: `subject_id`
//! `int64`, `time` `timestamp[us]` (null for static events), `code` `string`,
//! `numeric_value` `float32` (nullable), then any extra columns; every subject in one file,
//! its rows contiguous and sorted by time), `metadata/dataset.json`,
//! `metadata/codes.parquet` (`code`, `description`, `parent_codes` `list<string>`) and
//! optionally `metadata/subject_splits.parquet` (`subject_id`, `split`).
//!
//! [`export_meds`] writes a repository as such a dataset; [`import_meds`] reads one into a
//! MODE 3 repository. The mapping between signals and codes is in `docs/meds.md`.

mod export;
mod import;
mod mapping;
mod read;
mod rows;
mod scan;

pub use export::{export_meds, MedsExportOptions, MedsExportSummary};
pub use import::{import_meds, MedsImportOptions, MedsImportSummary};
pub use mapping::{Mapping, MappingKind, MappingRule};

/// The MEDS version whose schema this module writes and reads.
pub const MEDS_VERSION: &str = "0.4.0";

/// The separator between a categorical signal's name and a dictionary name in a code
/// (`DIAGNOSIS//ICD10:E11.9`).
pub const CODE_SEPARATOR: &str = "//";

/// The MEDS code of an element of `signal`: the signal name, or, for the dictionary name
/// `name` of a categorical value, `SIGNAL//name` (the name itself when it already starts with
/// `SIGNAL/`, as an imported `ICD10CM/E11.9` does).
///
/// # Examples
/// ```
/// use inframed::meds::code_of;
/// assert_eq!(code_of("Hemoglobin", None), "Hemoglobin");
/// assert_eq!(code_of("GENDER", Some("Male")), "GENDER//Male");
/// assert_eq!(code_of("ICD10CM", Some("ICD10CM/E11.9")), "ICD10CM/E11.9");
/// ```
pub fn code_of(signal: &str, name: Option<&str>) -> String {
    match name {
        None => signal.to_string(),
        Some(n) => {
            if n.strip_prefix(signal).is_some_and(|r| r.starts_with('/')) {
                n.to_string()
            } else {
                format!("{signal}{CODE_SEPARATOR}{n}")
            }
        }
    }
}

/// The inverse split used by the import's default rule: `(signal, dictionary name)` of a code
/// without numeric values. `SIG//name` → (`SIG`, `name`); `VOCAB/x` → (`VOCAB`, `VOCAB/x`);
/// a code without `/` → `None` (a value-less signal of its own).
///
/// # Examples
/// ```
/// use inframed::meds::split_code;
/// assert_eq!(split_code("GENDER//Male"), Some(("GENDER", "Male")));
/// assert_eq!(split_code("ICD10CM/E11.9"), Some(("ICD10CM", "ICD10CM/E11.9")));
/// assert_eq!(split_code("MEDS_BIRTH"), None);
/// ```
pub fn split_code(code: &str) -> Option<(&str, &str)> {
    if let Some(i) = code.find(CODE_SEPARATOR) {
        if i > 0 && i + CODE_SEPARATOR.len() < code.len() {
            return Some((&code[..i], &code[i + CODE_SEPARATOR.len()..]));
        }
    }
    match code.find('/') {
        Some(i) if i > 0 && i + 1 < code.len() => Some((&code[..i], code)),
        _ => None,
    }
}
