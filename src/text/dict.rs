//! Dictionaries: `SECTION` namespaces, `DEF code name`, `SET set member`, and the signals file
//! read as a dictionary (`SIGNAL name sid …` acts as `DEF sid name`).

use std::path::Path;
use std::sync::OnceLock;

use hashbrown::{HashMap, HashSet};

use crate::error::Result;
use crate::text::{lines, parse_error, parse_int, ParseError};
use crate::Warning;

/// The section of files that have no `SECTION` line.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// One dictionary line that changed a section, in the order read. Replaying these events
/// rebuilds the section exactly (used to serialize dictionaries into containers).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DictEvent {
    /// `DEF code name` (or a signals-file `SIGNAL name sid`).
    Def(i32, String),
    /// `SET set member` whose names were both defined.
    Set(String, String),
}

/// One dictionary section (the namespace of one categorical signal, or `DEFAULT`).
#[derive(Clone, Debug, Default)]
pub struct Section {
    names: Vec<String>,
    events: Vec<DictEvent>,
    name_to_code: HashMap<String, i32>,
    code_to_name: HashMap<i32, String>,
    code_names: HashMap<i32, Vec<String>>,
    used: HashSet<String>,
    direct: HashSet<(i32, i32)>,
    set_members: HashMap<i32, Vec<i32>>,
    closure: OnceLock<HashMap<i32, HashSet<i32>>>,
}

impl Section {
    /// The section's names (the first is its primary name).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The lines that built this section, in order.
    pub fn events(&self) -> &[DictEvent] {
        &self.events
    }

    /// name → code (the last DEF of that name wins).
    pub fn code(&self, name: &str) -> Option<i32> {
        self.name_to_code.get(name).copied()
    }

    /// code → name (the last DEF read for that code wins).
    pub fn name(&self, code: i32) -> Option<&str> {
        self.code_to_name.get(&code).map(String::as_str)
    }

    /// All names first defined with `code`, in first-seen order (what the original joins with `|`).
    pub fn names_of(&self, code: i32) -> &[String] {
        self.code_names.get(&code).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every defined code, ascending.
    pub fn codes(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.code_to_name.keys().copied().collect();
        v.sort_unstable();
        v
    }

    fn apply(&mut self, event: DictEvent) -> bool {
        match &event {
            DictEvent::Def(code, name) => {
                if self.name_to_code.get(name) == Some(code)
                    && self.code_to_name.get(code) == Some(name)
                {
                    // A repeat of the current definition changes nothing; keep the log minimal
                    // (stacking the same dictionaries twice must not double every DEF).
                    return true;
                }
                self.name_to_code.insert(name.clone(), *code);
                self.code_to_name.insert(*code, name.clone());
                if self.used.insert(name.clone()) {
                    self.code_names.entry(*code).or_default().push(name.clone());
                }
            }
            DictEvent::Set(set, member) => {
                let (Some(&s), Some(&m)) =
                    (self.name_to_code.get(set), self.name_to_code.get(member))
                else {
                    return false;
                };
                if !self.direct.insert((s, m)) {
                    return true; // already a member: nothing changes
                }
                self.set_members.entry(s).or_default().push(m);
                self.closure = OnceLock::new();
            }
        }
        self.events.push(event);
        true
    }

    fn closure(&self) -> &HashMap<i32, HashSet<i32>> {
        self.closure.get_or_init(|| {
            let mut out: HashMap<i32, HashSet<i32>> = HashMap::new();
            for &set in self.set_members.keys() {
                let mut seen: HashSet<i32> = HashSet::new();
                let mut stack = vec![set];
                while let Some(s) = stack.pop() {
                    for &m in self.set_members.get(&s).map(Vec::as_slice).unwrap_or(&[]) {
                        if seen.insert(m) {
                            stack.push(m);
                        }
                    }
                }
                out.insert(set, seen);
            }
            out
        })
    }

    /// Whether `member` is in `set`, directly or through nested sets, or is the set itself
    /// (as the original's `is_in_set`). A hash lookup in a closure computed once per section.
    pub fn in_set(&self, member: i32, set: i32) -> bool {
        member == set
            || self
                .closure()
                .get(&set)
                .is_some_and(|m| m.contains(&member))
    }

    /// Every code in `set` at any depth (the set itself excluded).
    pub fn set_members(&self, set: i32) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .closure()
            .get(&set)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// A lookup table over codes for "in any of these sets" (the original's
    /// `prep_sets_lookup_table`): index by code, `true` where the code is one of the sets or
    /// a member at any depth. Unknown set names are returned in the error.
    ///
    /// # Errors
    /// The names that are not defined in this section.
    pub fn set_lookup_table(&self, sets: &[&str]) -> Result<SetLookup, Vec<String>> {
        let unknown: Vec<String> = sets
            .iter()
            .filter(|s| self.code(s).is_none())
            .map(|s| s.to_string())
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let mut codes: HashSet<i32> = HashSet::new();
        for s in sets {
            let c = self.code(s).expect("checked");
            codes.insert(c);
            codes.extend(self.closure().get(&c).into_iter().flatten().copied());
        }
        Ok(SetLookup::new(codes))
    }

    /// Serializes the section as dictionary text that reads back to the same section.
    pub fn to_text(&self) -> String {
        let mut out = format!("SECTION\t{}\n", self.names.join(","));
        for e in &self.events {
            match e {
                DictEvent::Def(c, n) => out.push_str(&format!("DEF\t{c}\t{n}\n")),
                DictEvent::Set(s, m) => out.push_str(&format!("SET\t{s}\t{m}\n")),
            }
        }
        out
    }
}

/// A dense code → bool table (for codes ≥ 0), with a hash set for the rest.
#[derive(Clone, Debug)]
pub struct SetLookup {
    table: Vec<bool>,
    negative: HashSet<i32>,
}

impl SetLookup {
    fn new(codes: HashSet<i32>) -> Self {
        let max = codes
            .iter()
            .copied()
            .filter(|&c| c >= 0)
            .max()
            .unwrap_or(-1);
        let mut table = vec![false; (max + 1) as usize];
        let mut negative = HashSet::new();
        for c in codes {
            if c >= 0 {
                table[c as usize] = true;
            } else {
                negative.insert(c);
            }
        }
        SetLookup { table, negative }
    }

    /// Whether `code` is in the looked-up sets.
    #[inline]
    pub fn contains(&self, code: i32) -> bool {
        if code >= 0 {
            self.table.get(code as usize).copied().unwrap_or(false)
        } else {
            self.negative.contains(&code)
        }
    }
}

/// All dictionary sections of a repository.
#[derive(Clone, Debug, Default)]
pub struct Dictionaries {
    sections: Vec<Section>,
    ids: HashMap<String, usize>,
}

impl Dictionaries {
    /// Sections in order of first appearance.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The section with this name (any of its names).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.ids.get(name).map(|&i| &self.sections[i])
    }

    /// The section id (order of first appearance) of a name.
    pub fn section_id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    fn section_for(&mut self, header: &str) -> usize {
        let names: Vec<&str> = header.split([' ', ',', ';', ':', '/']).collect();
        let existing = names.iter().rev().find_map(|n| self.ids.get(*n).copied());
        let id = match existing {
            Some(id) => id,
            None => {
                self.sections.push(Section::default());
                self.sections.len() - 1
            }
        };
        for n in names {
            if self.ids.insert(n.to_string(), id).is_none() {
                self.sections[id].names.push(n.to_string());
            }
        }
        id
    }

    /// Reads one dictionary file's text into the sections; `path` names it in errors.
    /// Returns warnings for `SET` lines naming undefined names (dropped, as the original does).
    ///
    /// # Errors
    /// [`crate::Error::Parse`] naming `path:line` for a `DEF` or `SIGNAL` line with a missing
    /// field or a non-integer code.
    pub fn load(&mut self, path: &Path, text: &str) -> Result<Vec<Warning>> {
        let mut header = DEFAULT_SECTION.to_string();
        for (n, line) in lines(text) {
            if n > 100 {
                break;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() >= 2 && f[0].starts_with("SECTION") {
                header = f[1].trim().to_string();
                break;
            }
        }
        let id = self.section_for(&header);
        let mut warnings = Vec::new();
        for (n, line) in lines(text) {
            let line = line.trim();
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 2 {
                continue;
            }
            let need3 = |what| {
                if f.len() < 3 {
                    Err(parse_error(
                        path,
                        n,
                        what,
                        ParseError::TooFewFields {
                            expected: 3,
                            found: f.len(),
                        },
                    ))
                } else {
                    Ok(())
                }
            };
            let code = |field: &str, what| -> Result<i32> {
                let v = parse_int(field).map_err(|e| parse_error(path, n, what, e))?;
                i32::try_from(v).map_err(|_| {
                    parse_error(
                        path,
                        n,
                        what,
                        ParseError::Range {
                            value: v,
                            min: i32::MIN as i64,
                            max: i32::MAX as i64,
                        },
                    )
                })
            };
            if f[0].starts_with("DEF") {
                need3("DEF line")?;
                let c = code(f[1], "DEF code")?;
                self.sections[id].apply(DictEvent::Def(c, f[2].to_string()));
            } else if f[0].starts_with("SIGNAL") {
                need3("SIGNAL line")?;
                let c = code(f[2], "SIGNAL id")?;
                self.sections[id].apply(DictEvent::Def(c, f[1].to_string()));
            } else if f[0].starts_with("SET") {
                need3("SET line")?;
                if !self.sections[id].apply(DictEvent::Set(f[1].to_string(), f[2].to_string())) {
                    warnings.push(Warning {
                        path: path.into(),
                        line: n,
                        message: format!(
                            "SET line with undefined elements: {} {} (dropped)",
                            f[1], f[2]
                        ),
                    });
                }
            }
        }
        Ok(warnings)
    }

    /// Merges `other` into `self` (sections matched by name, events replayed in order), as
    /// reading `other`'s files after `self`'s would.
    pub fn merge(&mut self, other: &Dictionaries) {
        for s in &other.sections {
            let id = self.section_for(&s.names.join(","));
            if self.sections[id].events == s.events {
                // The same dictionary again (layers built from one source): replaying it would
                // leave every lookup unchanged but repeat each DEF in exported texts.
                continue;
            }
            for e in &s.events {
                self.sections[id].apply(e.clone());
            }
        }
    }

    /// One dictionary text per section (see [`Section::to_text`]), in section order.
    pub fn to_texts(&self) -> Vec<(String, String)> {
        self.sections
            .iter()
            .map(|s| (s.names[0].clone(), s.to_text()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(d: &mut Dictionaries, name: &str, text: &str) -> Vec<Warning> {
        d.load(Path::new(name), text).unwrap()
    }

    #[test]
    fn defs_sets_sections() {
        let mut d = Dictionaries::default();
        load(
            &mut d,
            "s.signals",
            "SIGNAL\tGENDER\t100\t16:x\nSIGNAL\tDIAGNOSIS\t2000\t16:y\n",
        );
        load(
            &mut d,
            "dict.gender",
            "SECTION\tGENDER\nDEF\t1\t1\nDEF\t2\t2\nDEF\t1\tMale\nDEF\t2\tFemale\nDEF\t1\tM\n",
        );
        load(&mut d, "dict.diag", "SECTION\tDIAGNOSIS\nDEF\t10000\tE11\nDEF\t10000\tType_2_diabetes\nDEF\t10001\tE119\nDEF\t10002\tI10\n");
        let w = load(
            &mut d,
            "dict.sets",
            "SECTION\tDIAGNOSIS,DIAG\nDEF\t20013\tDIABETES_ALL\nSET\tE11\tE119\nSET\tDIABETES_ALL\tE11\nSET\tNOPE\tE11\n",
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, 5);
        assert_eq!(d.section_id("DEFAULT"), Some(0));
        assert_eq!(d.section_id("GENDER"), Some(1));
        assert_eq!(d.section_id("DIAG"), Some(2));
        let g = d.section("GENDER").unwrap();
        assert_eq!(g.name(1), Some("M"));
        assert_eq!(g.names_of(1), ["1", "Male", "M"]);
        assert_eq!(g.code("Female"), Some(2));
        let dx = d.section("DIAGNOSIS").unwrap();
        assert!(dx.in_set(10001, 20013), "nested set");
        assert!(dx.in_set(10000, 10000), "reflexive");
        assert!(!dx.in_set(10002, 20013));
        assert_eq!(dx.set_members(20013), [10000, 10001]);
        let lut = dx.set_lookup_table(&["DIABETES_ALL"]).unwrap();
        assert!(
            lut.contains(10001) && lut.contains(20013) && !lut.contains(10002) && !lut.contains(-5)
        );
        assert_eq!(dx.set_lookup_table(&["X"]).unwrap_err(), ["X"]);
        assert_eq!(d.section("DEFAULT").unwrap().code("DIAGNOSIS"), Some(2000));
    }

    #[test]
    fn serialization_replays_exactly() {
        let mut d = Dictionaries::default();
        load(
            &mut d,
            "a",
            "SECTION\tX\nDEF\t1\ta\nDEF\t2\ta\nDEF\t1\tb\nSET\ta\tb\nDEF\t3\tc\n",
        );
        let mut e = Dictionaries::default();
        for (name, text) in d.to_texts() {
            load(&mut e, &name, &text);
        }
        let (x, y) = (d.section("X").unwrap(), e.section("X").unwrap());
        assert_eq!(x.events(), y.events());
        // `a` was first seen with code 1, so only code 1 lists it (the original's `used` map).
        assert_eq!(
            (y.code("a"), y.name(1), y.names_of(2)),
            (Some(2), Some("b"), &[][..])
        );
        assert_eq!(y.names_of(1), ["a", "b"]);
        assert!(y.in_set(1, 2));
    }

    #[test]
    fn merging_the_same_dictionary_twice_changes_nothing() {
        let mut d = Dictionaries::default();
        load(
            &mut d,
            "g",
            "SECTION\tGENDER\nDEF\t1\t1\nDEF\t1\tMale\nDEF\t1\tM\n",
        );
        let copy = d.clone();
        d.merge(&copy);
        assert_eq!(
            d.section("GENDER").unwrap().events(),
            copy.section("GENDER").unwrap().events()
        );
        let mut other = Dictionaries::default();
        load(&mut other, "h", "SECTION\tGENDER\nDEF\t1\tMan\n");
        d.merge(&other);
        assert_eq!(d.section("GENDER").unwrap().name(1), Some("Man"));
        assert_eq!(
            d.section("GENDER").unwrap().names_of(1),
            ["1", "Male", "M", "Man"]
        );
    }

    #[test]
    fn bad_lines() {
        let mut d = Dictionaries::default();
        let e = d
            .load(Path::new("dict.x"), "SECTION\tX\nDEF\tone\tname\n")
            .unwrap_err();
        assert_eq!(e.to_string(), "dict.x:2: invalid DEF code");
        let e = d.load(Path::new("dict.x"), "DEF\t1\n").unwrap_err();
        assert_eq!(e.to_string(), "dict.x:1: invalid DEF line");
    }
}
