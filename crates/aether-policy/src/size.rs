//! Sizes and durations as written in manifests and policies (SPEC §2 "Sizes", "Durations").
//!
//! Parsing is strict: an ASCII integer immediately followed by a unit, nothing else (no spaces,
//! signs, decimals or exponents). Overflow is an error, never a wrap or a clamp, because a limit
//! that silently became small or huge would be a different limit than the one written.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A number of bytes. Ordering is by byte count.
///
/// Its serde form is the plain number of bytes (`268435456`), as the worker socket carries
/// [`Limits`](crate::Limits); the text form of manifests and policies (`256MB`) is
/// [`parse_size`]'s.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// One kibibyte, 1024 bytes.
    pub const KIB: u64 = 1 << 10;
    /// One mebibyte, 1024² bytes.
    pub const MIB: u64 = 1 << 20;
    /// One gibibyte, 1024³ bytes.
    pub const GIB: u64 = 1 << 30;
    /// One kilobyte, 1000 bytes.
    pub const KB: u64 = 1_000;
    /// One megabyte, 1000² bytes.
    pub const MB: u64 = 1_000_000;
    /// One gigabyte, 1000³ bytes.
    pub const GB: u64 = 1_000_000_000;

    /// `n` mebibytes; panics at compile time (in const context) on overflow.
    pub const fn mib(n: u64) -> ByteSize {
        ByteSize(n * Self::MIB)
    }

    /// `n` gibibytes; panics at compile time (in const context) on overflow.
    pub const fn gib(n: u64) -> ByteSize {
        ByteSize(n * Self::GIB)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

/// Units largest first, binary before decimal: `Display` picks the first that divides exactly.
const DISPLAY_UNITS: [(u64, &str); 6] = [
    (ByteSize::GIB, "GiB"),
    (ByteSize::MIB, "MiB"),
    (ByteSize::KIB, "KiB"),
    (ByteSize::GB, "GB"),
    (ByteSize::MB, "MB"),
    (ByteSize::KB, "KB"),
];

/// Human form for messages: `256 MiB`, `1 GB`, `1500 B` (an exact binary unit when one divides,
/// else an exact decimal unit, else bytes; zero is `0 B`). The alternate form (`{:#}`) leaves out
/// the space (`256MiB`) and is what [`parse_size`] accepts back.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if f.alternate() { "" } else { " " };
        if self.0 != 0 {
            for (factor, unit) in DISPLAY_UNITS {
                if self.0.is_multiple_of(factor) {
                    return write!(f, "{}{sep}{unit}", self.0 / factor);
                }
            }
        }
        write!(f, "{}{sep}B", self.0)
    }
}

/// A size that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeError {
    /// Not an integer followed by a known unit.
    #[error("expected a size such as `256MB` or `1GiB`, found `{found}`")]
    Invalid {
        /// The text as written.
        found: String,
    },
    /// Well-formed but more than `u64::MAX` bytes.
    #[error("size `{found}` is too large: at most 18446744073709551615 bytes")]
    Overflow {
        /// The text as written.
        found: String,
    },
}

/// A duration that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Not an integer followed by `ms`, `s`, `m` or `h`.
    #[error("expected a duration such as `30s`, `500ms`, `5m` or `1h`, found `{found}`")]
    Invalid {
        /// The text as written.
        found: String,
    },
    /// Well-formed but too long to represent.
    #[error("duration `{found}` is too large")]
    Overflow {
        /// The text as written.
        found: String,
    },
}

/// Splits `text` into a non-empty run of ASCII digits and the rest. `None` if it does not start
/// with a digit.
fn split_number(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (end > 0).then(|| text.split_at(end))
}

/// Parses a size: an integer with `B`, `KB`, `MB`, `GB` (powers of 10), `KiB`, `MiB`, `GiB`
/// (powers of 2), or no unit (bytes). Units are case-sensitive (`mb` or `Mb` could mean bits).
pub fn parse_size(text: &str) -> Result<ByteSize, SizeError> {
    let invalid = || SizeError::Invalid {
        found: text.to_owned(),
    };
    let (digits, unit) = split_number(text).ok_or_else(invalid)?;
    let factor = match unit {
        "" | "B" => 1,
        "KB" => ByteSize::KB,
        "MB" => ByteSize::MB,
        "GB" => ByteSize::GB,
        "KiB" => ByteSize::KIB,
        "MiB" => ByteSize::MIB,
        "GiB" => ByteSize::GIB,
        _ => return Err(invalid()),
    };
    let overflow = || SizeError::Overflow {
        found: text.to_owned(),
    };
    let n: u64 = digits.parse().map_err(|_| overflow())?;
    n.checked_mul(factor).map(ByteSize).ok_or_else(overflow)
}

/// Parses a duration: an integer with `ms`, `s`, `m` or `h`. A unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid {
        found: text.to_owned(),
    };
    let overflow = || DurationError::Overflow {
        found: text.to_owned(),
    };
    let (digits, unit) = split_number(text).ok_or_else(invalid)?;
    let secs_factor = match unit {
        "ms" => {
            let n: u64 = digits.parse().map_err(|_| overflow())?;
            return Ok(Duration::from_millis(n));
        }
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(invalid()),
    };
    let n: u64 = digits.parse().map_err(|_| overflow())?;
    n.checked_mul(secs_factor)
        .map(Duration::from_secs)
        .ok_or_else(overflow)
}

/// A duration shown in the largest unit that divides it exactly (`1h`, `5m`, `30s`, `1500ms`),
/// the form [`parse_duration`] accepts back when it is whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if !d.subsec_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{}ns", d.as_nanos());
        }
        if d.subsec_nanos() != 0 || d.as_secs() == 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let s = d.as_secs();
        if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_parse() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("1", 1),
            ("17B", 17),
            ("1KB", 1_000),
            ("256MB", 256_000_000),
            ("1GB", 1_000_000_000),
            ("1KiB", 1024),
            ("256MiB", 256 << 20),
            ("255MiB", 255 << 20),
            ("4GiB", 4 << 30),
            ("007MB", 7_000_000),
            ("18446744073709551615", u64::MAX),
            ("18446744073709551615B", u64::MAX),
            ("17179869183GiB", 17_179_869_183 << 30),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_size(text), Ok(ByteSize(want)), "{text}");
        }
    }

    #[test]
    fn sizes_rejected() {
        let invalid = [
            "",
            "MB",
            "256 MB",
            " 256MB",
            "256MB ",
            "-1",
            "+1",
            "1.5GB",
            "1e3",
            "256mb",
            "256Mb",
            "256mib",
            "256M",
            "256K",
            "1TB",
            "12 parsecs",
            "0x10",
            "1_000",
            "１MB",
            "256MBB",
        ];
        for text in invalid {
            assert!(
                matches!(parse_size(text), Err(SizeError::Invalid { .. })),
                "{text:?}"
            );
        }
        let overflow = [
            "18446744073709551616",
            "17179869184GiB",
            "99999999999999999999999MB",
        ];
        for text in overflow {
            assert!(
                matches!(parse_size(text), Err(SizeError::Overflow { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn size_error_message() {
        assert_eq!(
            parse_size("12 parsecs").unwrap_err().to_string(),
            "expected a size such as `256MB` or `1GiB`, found `12 parsecs`"
        );
    }

    #[test]
    fn sizes_display() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1, "1 B"),
            (1500, "1500 B"),
            (1000, "1 KB"),
            (1024, "1 KiB"),
            (256 << 20, "256 MiB"),
            (255 << 20, "255 MiB"),
            ((256 << 20) + 1, "268435457 B"),
            (1_000_000_000, "1 GB"),
            (4 << 30, "4 GiB"),
            (2_048_000, "2000 KiB"),
            (16 << 20, "16 MiB"),
        ];
        for &(n, want) in cases {
            assert_eq!(ByteSize(n).to_string(), want);
        }
        assert_eq!(format!("{:#}", ByteSize::mib(256)), "256MiB");
    }

    #[test]
    fn boundary_pair_ordering() {
        assert!(ByteSize::mib(255) < ByteSize::mib(256));
        assert!(parse_size("256MiB").unwrap() > parse_size("255MiB").unwrap());
        assert!(parse_size("256MB").unwrap() < parse_size("256MiB").unwrap());
    }

    #[test]
    fn durations_parse() {
        let cases: &[(&str, Duration)] = &[
            ("0ms", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("18446744073709551615s", Duration::from_secs(u64::MAX)),
            ("18446744073709551615ms", Duration::from_millis(u64::MAX)),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        let invalid = [
            "", "30", "s", "30 s", "1.5s", "-1s", "30S", "30sec", "1d", "1h30m", "30s ", "+1s",
        ];
        for text in invalid {
            assert!(
                matches!(parse_duration(text), Err(DurationError::Invalid { .. })),
                "{text:?}"
            );
        }
        for text in [
            "18446744073709551615m",
            "5124095576030432h",
            "99999999999999999999s",
        ] {
            assert!(
                matches!(parse_duration(text), Err(DurationError::Overflow { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn durations_display() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_nanos(5), "5ns"),
        ];
        for &(d, want) in cases {
            assert_eq!(HumanDuration(d).to_string(), want);
        }
    }

    proptest! {
        #[test]
        fn size_display_round_trips(n in any::<u64>()) {
            let x = ByteSize(n);
            prop_assert_eq!(parse_size(&format!("{x:#}")), Ok(x));
        }

        #[test]
        fn size_display_round_trips_round_units(n in 0u64..100_000, unit in 0usize..6) {
            let x = ByteSize(n * DISPLAY_UNITS[unit].0);
            prop_assert_eq!(parse_size(&format!("{x:#}")), Ok(x));
        }

        #[test]
        fn duration_display_round_trips(ms in any::<u64>()) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&HumanDuration(d).to_string()), Ok(d));
        }
    }
}

/// The instant `timeout` after `start`, saturating: a timeout too large for the clock (a manifest
/// may ask for `5000000000000000h`) means "a century from now" instead of an overflow panic.
/// Reads no clock: `start` is an argument.
pub fn deadline_after(
    start: std::time::Instant,
    timeout: std::time::Duration,
) -> std::time::Instant {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
    start.checked_add(timeout.min(CENTURY)).unwrap_or(start)
}

#[cfg(test)]
mod deadline_tests {
    use std::time::{Duration, Instant};

    use super::deadline_after;

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the test needs some instant; the function itself reads no clock"
    )]
    fn a_huge_timeout_saturates_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(
            deadline_after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let far = deadline_after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(50 * 365 * 24 * 3600));
    }
}
