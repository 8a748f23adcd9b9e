//! The load thresholds (the original's `test_for_load_error`): dictionary misses, patients
//! missing a forced signal, and each file's parsed and bad line ratios.

use crate::convert::merge::Merge;
use crate::convert::output::backend;
use crate::convert::ConvertError;
use crate::error::Result;

impl Merge<'_> {
    /// The original's `test_for_load_error`.
    pub(super) fn test(&mut self, final_test: bool) -> Result<()> {
        let t = &self.options.thresholds;
        let safe = self.cfg.safe_mode != 0;
        if safe && self.missing_dict > t.allowed_unknown_category_cnt {
            return Err(backend(
                &self.cfg.path,
                "dictionary misses",
                ConvertError::DictionaryMisses {
                    count: self.missing_dict,
                    allowed: t.allowed_unknown_category_cnt,
                },
            ));
        }
        for (k, (name, _)) in self.forced.iter().enumerate() {
            let count = self.missing_forced[k];
            let over_ratio = self.pids_read > 0
                && (count as f64 / self.pids_read as f64)
                    > t.allowed_missing_pids_from_forced_ratio as f64;
            let over_count = t.allowed_missing_pids_from_forced_cnt > 0
                && count > t.allowed_missing_pids_from_forced_cnt;
            if safe && (over_ratio || over_count) {
                return Err(backend(
                    &self.cfg.path,
                    format!("FORCE_SIGNAL {name}"),
                    ConvertError::MissingForced {
                        signal: name.clone(),
                        count,
                        pids: self.pids_read,
                        ratio: t.allowed_missing_pids_from_forced_ratio,
                        max_count: t.allowed_missing_pids_from_forced_cnt,
                    },
                ));
            }
        }
        for (i, c) in self.cursors.iter().enumerate() {
            let s = &c.stats;
            // Lines of signals this load leaves out on purpose (LOAD_ONLY, SFILES) are not
            // input errors: the ratios are over the other lines. (The original counts them as
            // relevant and unparsed, so a LOAD_ONLY load of a file holding mostly other
            // signals is refused there.) Without such lines this is the original's formula.
            let relevant = s.relevant - s.skipped;
            let ratio = (s.parsed + 1) as f32 / (relevant + 1) as f32;
            let bad_ratio = (s.bad_format + 1) as f32 / (relevant + 1) as f32;
            let low = ratio < t.min_parsed_line_ratio;
            let high = bad_ratio > t.max_bad_line_ratio;
            if !(low || high) {
                continue;
            }
            let e = if high {
                ConvertError::BadRatio {
                    bad: s.bad_format,
                    relevant,
                    max: t.max_bad_line_ratio,
                }
            } else {
                ConvertError::ParsedRatio {
                    parsed: s.parsed,
                    relevant,
                    min: t.min_parsed_line_ratio,
                }
            };
            if relevant > t.ratio_min_lines {
                return Err(backend(&self.names[i], "load refused", e));
            }
            // The +1 smoothing flags every small file; warn only about real losses.
            let lost = if high {
                s.bad_format > 0
            } else {
                s.parsed < relevant
            };
            if final_test && lost {
                self.warnings.push(format!(
                    "{}: {e} (a small file: not fatal)",
                    self.names[i].display()
                ));
            }
        }
        Ok(())
    }
}
