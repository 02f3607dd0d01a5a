//! Execution windows (SPEC §3 `[[windows]]`): the times at which plugins a window applies to may
//! start.
//!
//! "Now" is an argument: nothing here reads a clock. Time zones come from the tz database
//! compiled into the binary (jiff's bundled copy), so that a check gives the same answer on
//! every machine and reads no file; a caller that prefers the system database can resolve the
//! zone itself and use [`Window::new`].
//!
//! Semantics: `start` is inclusive and `end` exclusive, both wall-clock times in the window's
//! zone; an `end` at or before `start` runs past midnight and belongs to the day of its start.
//! A wall-clock time that does not exist (a DST gap) is taken as the instant just after the gap
//! by the same offset (jiff's "compatible" rule, as in RFC 5545 and Temporal), and an ambiguous
//! one (a DST fold) as its first occurrence.

use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, ZonedDateTime};
use thiserror::Error;

use crate::risk::RiskClass;

/// Which plugins a window applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppliesTo {
    /// `"high-risk"`: high-risk plugins.
    HighRisk,
    /// `"medium-risk"`: medium- and high-risk plugins.
    MediumRisk,
    /// A list of plugin names.
    Plugins(Vec<String>),
}

impl AppliesTo {
    /// Whether a plugin with this name and risk class is subject to the window.
    pub fn applies(&self, plugin: &str, risk: RiskClass) -> bool {
        match self {
            AppliesTo::HighRisk => risk == RiskClass::High,
            AppliesTo::MediumRisk => risk >= RiskClass::Medium,
            AppliesTo::Plugins(names) => names.iter().any(|n| n == plugin),
        }
    }
}

/// A window that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    /// `applies_to` is not `high-risk` or `medium-risk`.
    #[error(
        "expected `applies_to` to be `high-risk`, `medium-risk` or a list of plugin names, found `{found}`"
    )]
    AppliesTo {
        /// The text as written.
        found: String,
    },
    /// A day that is not `mon` … `sun`.
    #[error(
        "expected a day such as `mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`, found `{found}`"
    )]
    Day {
        /// The text as written.
        found: String,
    },
    /// No days at all: the window would never open.
    #[error("a window needs at least one day in `days`")]
    NoDays,
    /// A time that is not `HH:MM` (24-hour).
    #[error("expected a time such as `01:00` or `23:30`, found `{found}`")]
    Time {
        /// The text as written.
        found: String,
    },
    /// A time zone not in the tz database.
    #[error("unknown time zone `{found}`: expected an IANA name such as `UTC` or `Europe/Paris`")]
    TimeZone {
        /// The text as written.
        found: String,
    },
}

/// One `[[windows]]` entry. Invariant: at least one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    applies_to: AppliesTo,
    /// Indexed by `Weekday::to_monday_zero_offset()`.
    days: [bool; 7],
    start: Time,
    end: Time,
    timezone: TimeZone,
}

/// Parses `mon` … `sun` (lowercase, as in SPEC §3).
pub fn parse_day(text: &str) -> Result<Weekday, WindowError> {
    Ok(match text {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => {
            return Err(WindowError::Day {
                found: text.to_owned(),
            });
        }
    })
}

/// Parses `HH:MM`, two digits each, `00:00` to `23:59`.
pub fn parse_time(text: &str) -> Result<Time, WindowError> {
    let err = || WindowError::Time {
        found: text.to_owned(),
    };
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return Err(err());
    }
    let two = |s: &[u8]| -> Option<i8> {
        (s[0].is_ascii_digit() && s[1].is_ascii_digit())
            .then(|| ((s[0] - b'0') * 10 + (s[1] - b'0')) as i8)
    };
    let (h, m) = (two(&b[..2]).ok_or_else(err)?, two(&b[3..]).ok_or_else(err)?);
    Time::new(h, m, 0, 0).map_err(|_| err())
}

/// Resolves an IANA time zone name in the bundled tz database (no file is read).
pub fn parse_timezone(name: &str) -> Result<TimeZone, WindowError> {
    TimeZoneDatabase::bundled()
        .get(name)
        .map_err(|_| WindowError::TimeZone {
            found: name.to_owned(),
        })
}

impl Window {
    /// A window from parsed parts. `None` if `days` is empty.
    pub fn new(
        applies_to: AppliesTo,
        days: &[Weekday],
        start: Time,
        end: Time,
        timezone: TimeZone,
    ) -> Option<Window> {
        let mut set = [false; 7];
        for d in days {
            set[d.to_monday_zero_offset() as usize] = true;
        }
        days.first().map(|_| Window {
            applies_to,
            days: set,
            start,
            end,
            timezone,
        })
    }

    /// A window from the policy's strings: `applies_to` (`high-risk`, `medium-risk`; a list of
    /// names is passed as [`AppliesTo::Plugins`] through [`Window::parse_for`]), days (`mon` …),
    /// `HH:MM` times and an IANA zone.
    pub fn parse(
        applies_to: &str,
        days: &[&str],
        start: &str,
        end: &str,
        timezone: &str,
    ) -> Result<Window, WindowError> {
        let applies_to = match applies_to {
            "high-risk" => AppliesTo::HighRisk,
            "medium-risk" => AppliesTo::MediumRisk,
            other => {
                return Err(WindowError::AppliesTo {
                    found: other.to_owned(),
                });
            }
        };
        Window::parse_for(applies_to, days, start, end, timezone)
    }

    /// Like [`Window::parse`] with `applies_to` already decided.
    pub fn parse_for(
        applies_to: AppliesTo,
        days: &[&str],
        start: &str,
        end: &str,
        timezone: &str,
    ) -> Result<Window, WindowError> {
        let days: Vec<Weekday> = days
            .iter()
            .map(|d| parse_day(d))
            .collect::<Result<_, _>>()?;
        let (start, end) = (parse_time(start)?, parse_time(end)?);
        let timezone = parse_timezone(timezone)?;
        Window::new(applies_to, &days, start, end, timezone).ok_or(WindowError::NoDays)
    }

    /// Which plugins the window applies to.
    pub fn applies_to(&self) -> &AppliesTo {
        &self.applies_to
    }

    /// The time zone of `start` and `end`.
    pub fn timezone(&self) -> &TimeZone {
        &self.timezone
    }

    /// The days on which the window opens, Monday first.
    pub fn days(&self) -> Vec<Weekday> {
        (0..7i8)
            .filter(|&i| self.days[i as usize])
            .filter_map(|i| Weekday::from_monday_zero_offset(i).ok())
            .collect()
    }

    /// The instants `[open, close)` of the window that starts on `date`, if it starts that day.
    fn occurrence(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.days[date.weekday().to_monday_zero_offset() as usize] {
            return None;
        }
        let open = self
            .timezone
            .to_ambiguous_timestamp(date.to_datetime(self.start))
            .compatible()
            .ok()?;
        let end_date = if self.end <= self.start {
            date.tomorrow().ok()?
        } else {
            date
        };
        let close = self
            .timezone
            .to_ambiguous_timestamp(end_date.to_datetime(self.end))
            .compatible()
            .ok()?;
        Some((open, close))
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let today = now.to_zoned_datetime(self.timezone.clone()).date();
        // A window that started yesterday may still be open past midnight.
        [today.yesterday().ok(), Some(today)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.occurrence(d))
            .any(|(open, close)| open <= now && now < close)
    }

    /// The first opening strictly after `now`, in the window's zone.
    pub fn next_open(&self, now: Timestamp) -> Option<ZonedDateTime> {
        let mut date = now.to_zoned_datetime(self.timezone.clone()).date();
        // Eight days cover every weekday once more, even across a DST change.
        for _ in 0..9 {
            if let Some((open, _)) = self.occurrence(date)
                && open > now
            {
                return Some(open.to_zoned_datetime(self.timezone.clone()));
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// A run refused because it is outside every window that applies to the plugin.
#[derive(Debug, Clone, PartialEq, Error)]
pub struct WindowRefusal {
    /// The plugin's name.
    pub plugin: String,
    /// The next instant it may start, in the zone of the window that opens first (`None` only
    /// if no window ever opens again within the representable range).
    pub next_open: Option<ZonedDateTime>,
}

/// `plugin `x` may run only inside its execution window; next window opens 2026-11-25 01:00 UTC`
impl fmt::Display for WindowRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin `{}` may run only inside its execution window",
            self.plugin
        )?;
        if let Some(next) = &self.next_open {
            write!(
                f,
                "; next window opens {}",
                next.strftime("%Y-%m-%d %H:%M %Z")
            )?;
        }
        Ok(())
    }
}

/// Whether `plugin` (of class `risk`) may start at `now`: yes if no window applies to it or one
/// of those that apply is open (several windows: any of them).
pub fn check_windows(
    windows: &[Window],
    plugin: &str,
    risk: RiskClass,
    now: Timestamp,
) -> Result<(), WindowRefusal> {
    let applicable: Vec<&Window> = windows
        .iter()
        .filter(|w| w.applies_to.applies(plugin, risk))
        .collect();
    if applicable.is_empty() || applicable.iter().any(|w| w.is_open(now)) {
        return Ok(());
    }
    let next_open = applicable
        .iter()
        .filter_map(|w| w.next_open(now))
        .min_by_key(|z| z.timestamp());
    Err(WindowRefusal {
        plugin: plugin.to_owned(),
        next_open,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn nightly(days: &[&str], start: &str, end: &str, tz: &str) -> Window {
        Window::parse("high-risk", days, start, end, tz).unwrap()
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_time("01:00"), Ok(Time::constant(1, 0, 0, 0)));
        assert_eq!(parse_time("23:59"), Ok(Time::constant(23, 59, 0, 0)));
        for bad in [
            "24:00", "1:00", "01:60", "01-00", "0100", "01:00:00", "+1:00", "", "aa:bb",
        ] {
            assert!(
                matches!(parse_time(bad), Err(WindowError::Time { .. })),
                "{bad}"
            );
        }
        for bad in ["Mon", "monday", "", "xyz"] {
            assert!(
                matches!(parse_day(bad), Err(WindowError::Day { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Window::parse("high-risk", &[], "01:00", "02:00", "UTC"),
            Err(WindowError::NoDays)
        ));
        assert!(matches!(
            Window::parse("low-risk", &["mon"], "01:00", "02:00", "UTC"),
            Err(WindowError::AppliesTo { .. })
        ));
        assert!(matches!(
            Window::parse("high-risk", &["mon"], "01:00", "02:00", "Mars/Olympus"),
            Err(WindowError::TimeZone { .. })
        ));
        let w = nightly(&["fri", "mon", "mon"], "01:00", "02:00", "europe/paris");
        assert_eq!(w.days(), vec![Weekday::Monday, Weekday::Friday]);
        assert_eq!(w.timezone().iana_name(), Some("Europe/Paris"));
    }

    #[test]
    fn applies_to() {
        let cases: &[(AppliesTo, &str, RiskClass, bool)] = &[
            (AppliesTo::HighRisk, "x", RiskClass::High, true),
            (AppliesTo::HighRisk, "x", RiskClass::Medium, false),
            (AppliesTo::MediumRisk, "x", RiskClass::High, true),
            (AppliesTo::MediumRisk, "x", RiskClass::Medium, true),
            (AppliesTo::MediumRisk, "x", RiskClass::Low, false),
            (
                AppliesTo::Plugins(vec!["x".into()]),
                "x",
                RiskClass::Low,
                true,
            ),
            (
                AppliesTo::Plugins(vec!["x".into()]),
                "y",
                RiskClass::High,
                false,
            ),
        ];
        for (a, name, risk, want) in cases {
            assert_eq!(a.applies(name, *risk), *want, "{a:?} {name} {risk}");
        }
    }

    #[test]
    fn open_and_closed() {
        // 2026-11-23 is a Monday.
        let w = nightly(&WEEKDAYS, "01:00", "05:00", "UTC");
        let cases = [
            ("2026-11-23T00:59:59Z", false),
            ("2026-11-23T01:00:00Z", true),
            ("2026-11-23T04:59:59.999Z", true),
            ("2026-11-23T05:00:00Z", false),
            ("2026-11-28T02:00:00Z", false), // Saturday
            ("2026-11-27T02:00:00Z", true),  // Friday
        ];
        for (now, want) in cases {
            assert_eq!(w.is_open(ts(now)), want, "{now}");
        }
    }

    #[test]
    fn past_midnight_belongs_to_start_day() {
        // Friday 22:00 to Saturday 02:00 only: Saturday night is not a window.
        let w = nightly(&["fri"], "22:00", "02:00", "UTC");
        let cases = [
            ("2026-11-27T21:59:00Z", false),
            ("2026-11-27T22:00:00Z", true),
            ("2026-11-28T01:59:59Z", true),
            ("2026-11-28T02:00:00Z", false),
            ("2026-11-28T23:00:00Z", false),
            ("2026-11-27T01:00:00Z", false), // Friday early morning belongs to Thursday
        ];
        for (now, want) in cases {
            assert_eq!(w.is_open(ts(now)), want, "{now}");
        }
        // end == start: a full 24 hours from the start.
        let w = nightly(&["mon"], "10:00", "10:00", "UTC");
        assert!(w.is_open(ts("2026-11-24T09:59:00Z")));
        assert!(!w.is_open(ts("2026-11-24T10:00:00Z")));
        assert!(!w.is_open(ts("2026-11-23T09:59:00Z")));
    }

    #[test]
    fn time_zones() {
        // 01:00–05:00 in Paris (UTC+1 in November) is 00:00–04:00 UTC.
        let w = nightly(&WEEKDAYS, "01:00", "05:00", "Europe/Paris");
        assert!(w.is_open(ts("2026-11-23T00:00:00Z")));
        assert!(!w.is_open(ts("2026-11-23T04:00:00Z")));
        // In July Paris is UTC+2: 23:00Z Sunday is 01:00 Monday.
        assert!(w.is_open(ts("2026-07-19T23:00:00Z")));
    }

    #[test]
    fn dst_gap_and_fold() {
        // Europe/Paris springs forward on 2026-03-29 (Sunday) 02:00 → 03:00.
        let w = nightly(&["sun"], "02:30", "04:00", "Europe/Paris");
        // 02:30 does not exist: the window opens at 03:30 local (01:30Z).
        assert!(!w.is_open(ts("2026-03-29T01:29:59Z")));
        assert!(w.is_open(ts("2026-03-29T01:30:00Z")));
        assert!(!w.is_open(ts("2026-03-29T02:00:00Z")));
        let next = w.next_open(ts("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(next.timestamp(), ts("2026-03-29T01:30:00Z"));
        // Falls back on 2026-10-25 03:00 → 02:00: 02:30 happens twice, the first is taken.
        let w = nightly(&["sun"], "02:30", "02:45", "Europe/Paris");
        assert!(w.is_open(ts("2026-10-25T00:30:00Z")));
        assert!(!w.is_open(ts("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn refusal_names_next_opening() {
        let windows = vec![nightly(&WEEKDAYS, "01:00", "05:00", "UTC")];
        // Tuesday 2026-11-24 12:00: next is Wednesday 01:00.
        let err =
            check_windows(&windows, "x", RiskClass::High, ts("2026-11-24T12:00:00Z")).unwrap_err();
        assert_eq!(err.plugin, "x");
        assert_eq!(
            err.next_open.as_ref().unwrap().timestamp(),
            ts("2026-11-25T01:00:00Z")
        );
        assert_eq!(
            err.to_string(),
            "plugin `x` may run only inside its execution window; next window opens 2026-11-25 01:00 UTC"
        );
        // Friday after the window: next is Monday.
        let err =
            check_windows(&windows, "x", RiskClass::High, ts("2026-11-27T05:00:00Z")).unwrap_err();
        assert_eq!(
            err.next_open.unwrap().timestamp(),
            ts("2026-11-30T01:00:00Z")
        );
        // Inside: allowed. Not applicable: allowed.
        assert_eq!(
            check_windows(&windows, "x", RiskClass::High, ts("2026-11-24T01:00:00Z")),
            Ok(())
        );
        assert_eq!(
            check_windows(&windows, "x", RiskClass::Medium, ts("2026-11-24T12:00:00Z")),
            Ok(())
        );
        assert_eq!(
            check_windows(&[], "x", RiskClass::High, ts("2026-11-24T12:00:00Z")),
            Ok(())
        );
    }

    #[test]
    fn several_windows_any_and_earliest_next() {
        let windows = vec![
            nightly(&["mon"], "01:00", "02:00", "UTC"),
            Window::parse_for(
                AppliesTo::Plugins(vec!["x".into()]),
                &["tue"],
                "12:00",
                "13:00",
                "UTC",
            )
            .unwrap(),
            Window::parse("medium-risk", &["wed"], "00:00", "00:30", "Asia/Tokyo").unwrap(),
        ];
        // Tuesday 12:30 UTC: the plugin-named window is open.
        assert_eq!(
            check_windows(&windows, "x", RiskClass::High, ts("2026-11-24T12:30:00Z")),
            Ok(())
        );
        // For another plugin, the earliest next opening is Wednesday 00:00 Tokyo = Tue 15:00Z.
        let err =
            check_windows(&windows, "y", RiskClass::High, ts("2026-11-24T12:30:00Z")).unwrap_err();
        let next = err.next_open.unwrap();
        assert_eq!(next.timestamp(), ts("2026-11-24T15:00:00Z"));
        assert_eq!(next.time_zone().iana_name(), Some("Asia/Tokyo"));
        // A medium-risk plugin is held only by the medium-risk window.
        let err = check_windows(&windows, "y", RiskClass::Medium, ts("2026-11-23T01:30:00Z"))
            .unwrap_err();
        assert_eq!(
            err.next_open.unwrap().timestamp(),
            ts("2026-11-24T15:00:00Z")
        );
    }
}
