//! Time units of time channels and conversions between them (chrono-validated).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// The time unit of a signal's time channels (`TIMEUNIT` in the config, per-signal override in
/// the signals file).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum TimeUnit {
    /// 0: undefined.
    Undefined,
    /// 1: int `YYYYMMDD` (the default).
    #[default]
    Date,
    /// 2: years since 1900.
    Years,
    /// 3: months since 1900-01-01.
    Months,
    /// 4: days since 1900-01-01.
    Days,
    /// 5: hours since 1900-01-01.
    Hours,
    /// 6: minutes since 1900-01-01.
    Minutes,
    /// 7: `YYYYMMDDHHMI` date-time strings (input only).
    DateTimeString,
}

/// A time text or number that is not valid in its unit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not a number or date text.
    #[error("not a time: {0:?}")]
    Syntax(String),
    /// Looks like a date but is not one (e.g. 20230231).
    #[error("not a valid date: {0:?}")]
    InvalidDate(String),
    /// Unknown time unit code.
    #[error("unknown time unit {0}")]
    UnknownUnit(i64),
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1900, 1, 1)
        .expect("valid")
        .and_time(NaiveTime::MIN)
}

impl TimeUnit {
    /// From the numeric code used in config and signals files.
    ///
    /// # Errors
    /// [`TimeError::UnknownUnit`] outside 0–7.
    pub fn from_code(code: i64) -> Result<TimeUnit, TimeError> {
        Ok(match code {
            0 => TimeUnit::Undefined,
            1 => TimeUnit::Date,
            2 => TimeUnit::Years,
            3 => TimeUnit::Months,
            4 => TimeUnit::Days,
            5 => TimeUnit::Hours,
            6 => TimeUnit::Minutes,
            7 => TimeUnit::DateTimeString,
            _ => return Err(TimeError::UnknownUnit(code)),
        })
    }

    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Converts a calendar date-time into this unit's integer.
    pub fn from_datetime(self, dt: NaiveDateTime) -> i64 {
        let since = dt - epoch();
        match self {
            TimeUnit::Date | TimeUnit::Undefined => {
                dt.year() as i64 * 10000 + dt.month() as i64 * 100 + dt.day() as i64
            }
            TimeUnit::Years => dt.year() as i64 - 1900,
            TimeUnit::Months => (dt.year() as i64 - 1900) * 12 + dt.month0() as i64,
            TimeUnit::Days => since.num_days(),
            TimeUnit::Hours => since.num_hours(),
            TimeUnit::Minutes => since.num_minutes(),
            TimeUnit::DateTimeString => {
                (dt.year() as i64 * 10000 + dt.month() as i64 * 100 + dt.day() as i64) * 10000
                    + dt.hour() as i64 * 100
                    + dt.minute() as i64
            }
        }
    }

    /// Parses a time text into this unit's integer.
    ///
    /// Accepted: `YYYYMMDD`, `YYYY-MM-DD`, `YYYYMMDDHHMM`, `YYYY-MM-DD HH:MM[:SS]` (validated as
    /// real dates), and, for units other than Date, a plain integer already in the unit.
    ///
    /// # Errors
    /// [`TimeError`] for text that is not a time or an impossible date such as `20230231`.
    ///
    /// # Examples
    /// ```
    /// use inframed::TimeUnit;
    /// assert_eq!(TimeUnit::Date.parse("2019-03-01")?, 20190301);
    /// assert_eq!(TimeUnit::Days.parse("19000102")?, 1);
    /// assert!(TimeUnit::Date.parse("20230231").is_err());
    /// # Ok::<_, inframed::TimeError>(())
    /// ```
    pub fn parse(self, text: &str) -> Result<i64, TimeError> {
        let t = text.trim();
        let digits = t.bytes().all(|b| b.is_ascii_digit());
        if digits && t.len() == 8 {
            return Ok(self.from_datetime(parse_ymd(t)?.and_time(NaiveTime::MIN)));
        }
        if digits && t.len() == 12 {
            let dt = NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M")
                .map_err(|_| TimeError::InvalidDate(t.to_string()))?;
            return Ok(self.from_datetime(dt));
        }
        if t.len() >= 10 && t.as_bytes()[4] == b'-' {
            for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
                if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
                    return Ok(self.from_datetime(dt));
                }
            }
            let d = NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| TimeError::InvalidDate(t.to_string()))?;
            return Ok(self.from_datetime(d.and_time(NaiveTime::MIN)));
        }
        if self != TimeUnit::Date {
            if let Ok(v) = t.parse::<i64>() {
                return Ok(v);
            }
        }
        Err(TimeError::Syntax(t.to_string()))
    }
}

fn parse_ymd(t: &str) -> Result<NaiveDate, TimeError> {
    let n: u32 = t.parse().map_err(|_| TimeError::Syntax(t.to_string()))?;
    NaiveDate::from_ymd_opt((n / 10000) as i32, (n / 100) % 100, n % 100)
        .ok_or_else(|| TimeError::InvalidDate(t.to_string()))
}

/// Checks that an int is a real `YYYYMMDD` date.
pub fn is_valid_date(yyyymmdd: i64) -> bool {
    (0..=99_991_231).contains(&yyyymmdd)
        && NaiveDate::from_ymd_opt(
            (yyyymmdd / 10000) as i32,
            ((yyyymmdd / 100) % 100) as u32,
            (yyyymmdd % 100) as u32,
        )
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(TimeUnit::Date.parse("20070327"), Ok(20070327));
        assert_eq!(TimeUnit::Years.parse("20070327"), Ok(107));
        assert_eq!(TimeUnit::Months.parse("19000301"), Ok(2));
        assert_eq!(TimeUnit::Minutes.parse("190001020130"), Ok(24 * 60 + 90));
        assert_eq!(TimeUnit::Hours.parse("1900-01-02 05:00"), Ok(29));
        assert_eq!(TimeUnit::Minutes.parse("42"), Ok(42));
        assert!(TimeUnit::Date.parse("42").is_err());
        assert!(TimeUnit::Date.parse("20230231").is_err());
        assert!(TimeUnit::Date.parse("2023-13-01").is_err());
        assert!(TimeUnit::from_code(9).is_err());
        assert!(is_valid_date(20240229) && !is_valid_date(20230229));
    }
}
