//! `Intl` (ECMA-402) and the locale-sensitive methods of the built-ins (`Date`, `Number`,
//! `BigInt`, `String` and `Array`'s `toLocale*` and `localeCompare`), on ICU4X 2.x with its
//! compiled CLDR data. Time zone offsets come from jiff's bundled tz database, the one the
//! policy's execution windows use (`aether_policy::window`).
//!
//! intl.js parses the options as ECMA-402 says and keeps the objects' state; the formatting is
//! done here, by the native helpers below, each called with the resolved locale (a BCP 47 tag
//! whose `-u-` keywords carry the preferences: `ca`, `nu`, `hc`, `kn`, `kf`), the resolved
//! options and the value. Parts come back flattened, `[type, value, type, value...]`.
//!
//! Cost: like web.rs's globals, `Intl` is a stand-in on the global object until first used
//! (made by stub.js), and so are the built-ins' locale methods, so a sandbox that never
//! formats anything never evaluates intl.js nor touches ICU data. The data is compiled into the
//! binary (read-only statics), nothing is loaded at run time.
//!
//! Host-side memory: each call builds its ICU4X formatter (a few small structures borrowing
//! the static data), formats, and drops it; what it returns goes into the plugin's heap, under
//! its ceiling. The one thing kept is an `Intl.Collator`'s ICU4X collator, inside its native
//! compare function: a few dozen bytes pointing into the static data, not worth metering. A call's transient copies are the size of its
//! arguments (strings the plugin's heap already holds), except `segment`'s boundaries, 16
//! bytes a segment: intl.js asks for them a window of 8,192 code units at a time.
//!
//! What ICU4X lacks, and what is done instead, is listed in `docs/intl.md`: units outside
//! [`UNITS`] throw a `RangeError`. `NumberFormat` rounds by ECMA-402's rules itself
//! (`round`) and puts its digits into the text ICU4X's style formatters write around them
//! (which round by rules of their own).

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use icu::calendar::Iso;
use icu::collator::Collator;
use icu::collator::options::{AlternateHandling, CaseLevel, CollatorOptions, Strength};
use icu::datetime::DateTimeFormatter;
use icu::datetime::fieldbag::{DateTimeFieldBag, field};
use icu::datetime::fieldsets::builder::{DateFields, FieldSetBuilder, ZoneStyle};
use icu::datetime::options::{Length, TimePrecision};
use icu::decimal::input::Decimal;
use icu::decimal::options::{DecimalFormatterOptions, GroupingStrategy};
use icu::decimal::{CompactDecimalFormatter, DecimalFormatter};
use icu::experimental::dimension::currency::CurrencyType;
use icu::experimental::dimension::currency::formatter::CurrencyFormatter;
use icu::experimental::dimension::percent::formatter::PercentFormatter;
use icu::experimental::dimension::units::categorized_formatter::CategorizedFormatter;
use icu::experimental::dimension::units::options::{UnitsFormatterOptions, Width};
use icu::experimental::relativetime::options::Numeric;
use icu::experimental::relativetime::{RelativeTimeFormatter, RelativeTimeFormatterOptions};
use icu::list::ListFormatter;
use icu::list::options::{ListFormatterOptions, ListLength};
use icu::locale::{Locale, LocaleCanonicalizer, LocaleExpander};
use icu::plurals::{PluralCategory, PluralRuleType, PluralRules};
use icu::segmenter::options::{SentenceBreakInvariantOptions, WordBreakInvariantOptions};
use icu::segmenter::{GraphemeClusterSegmenter, SentenceSegmenter, WordSegmenter};
use icu::time::zone::UtcOffset;
use icu::time::{DateTime, TimeZone, TimeZoneInfo, ZonedDateTime};
use rquickjs::{Ctx, Exception, Function, Object, Result, Value};
use writeable::{Part, PartsWrite, Writeable};

use crate::bindings::Script;

/// `Intl` and the built-ins' locale methods.
static INTL: Script = Script {
    name: "aether:intl",
    source: include_str!("intl.js"),
    module: concat!("export default ", include_str!("intl.js"), ";\n"),
    bytecode: OnceLock::new(),
};

/// Compiles intl.js's bytecode now, if it is not yet (see [`crate::prepare`]).
pub(crate) fn prepare() {
    INTL.bytecode();
}

/// What stub.js needs to load `Intl` (a lazy global, lazy.rs): `{ load, captured }`; `load()`
/// evaluates intl.js and returns `{ Intl, locale }`, `locale` being the built-ins' locale
/// methods.
pub(crate) fn install<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    // The native helpers are made only when intl.js loads.
    let load = Function::new(ctx.clone(), |ctx: Ctx<'js>| -> Result<Object<'js>> {
        let natives = natives(&ctx)?;
        INTL.function(&ctx)?.call((natives,))
    })?;
    let stub = Object::new(ctx.clone())?;
    stub.set("load", load)?;
    stub.set("captured", Object::new(ctx.clone())?)?;
    Ok(stub)
}

/// A `RangeError` with `message`.
fn range<T>(ctx: &Ctx<'_>, message: &str) -> Result<T> {
    Err(Exception::throw_range(ctx, message))
}

/// Parses a tag intl.js has already canonicalized.
fn locale(ctx: &Ctx<'_>, tag: &str) -> Result<Locale> {
    match Locale::try_from_str(tag) {
        Ok(locale) => Ok(locale),
        Err(_) => range(
            ctx,
            &format!("incorrect locale information provided: `{tag}`"),
        ),
    }
}

fn natives<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "canonicalize",
        Function::new(ctx.clone(), |tag: String| -> Option<String> {
            canonicalize(&tag)
        })?,
    )?;
    natives.set(
        "expand",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, tag: String, maximize: bool| -> Result<String> {
                let mut locale = locale(&ctx, &tag)?;
                let expander = LocaleExpander::new_extended();
                if maximize {
                    expander.maximize(&mut locale.id);
                } else {
                    expander.minimize(&mut locale.id);
                }
                Ok(locale.to_string())
            },
        )?,
    )?;
    natives.set(
        "hasData",
        Function::new(ctx.clone(), |tag: String| has_data(&tag))?,
    )?;
    natives.set(
        "timeZone",
        Function::new(ctx.clone(), |name: String| time_zone_name(&name))?,
    )?;
    natives.set(
        "dateTimeParts",
        Function::new(ctx.clone(), date_time_parts)?,
    )?;
    natives.set(
        "dateTimeResolve",
        Function::new(ctx.clone(), date_time_resolve)?,
    )?;
    natives.set("numberParts", Function::new(ctx.clone(), number_parts)?)?;
    natives.set("pluralSelect", Function::new(ctx.clone(), plural_select)?)?;
    natives.set(
        "pluralCategories",
        Function::new(ctx.clone(), plural_categories)?,
    )?;
    natives.set("collator", Function::new(ctx.clone(), collator)?)?;
    natives.set(
        "relativeTimeParts",
        Function::new(ctx.clone(), relative_time_parts)?,
    )?;
    natives.set("listParts", Function::new(ctx.clone(), list_parts)?)?;
    natives.set("segment", Function::new(ctx.clone(), segment)?)?;
    natives.set("caseMap", Function::new(ctx.clone(), case_map)?)?;
    natives.set(
        "supportedValues",
        Function::new(ctx.clone(), supported_values)?,
    )?;
    Ok(natives)
}

/// The canonical form of a BCP 47 language tag (ECMA-402 CanonicalizeUnicodeLocaleId), or
/// `None` if it is not a well-formed one.
fn canonicalize(tag: &str) -> Option<String> {
    // ICU4X also reads `_` as a separator and `root`; ECMA-402 rejects both.
    if tag.contains('_') || tag.is_empty() || tag.eq_ignore_ascii_case("root") {
        return None;
    }
    let mut locale = Locale::try_from_str(tag).ok()?;
    LocaleCanonicalizer::new_extended().canonicalize(&mut locale);
    Some(locale.to_string())
}

/// Whether ICU4X has data of its own for `tag`'s language (rather than only the root's): what
/// `supportedLocalesOf` and locale negotiation accept. Month names tell: the root's are
/// `M01`..`M12`, every language with data has its own (decimal symbols or plural rules would
/// not do: ICU4X's data drops what equals the root's, as Japanese's do).
fn has_data(tag: &str) -> bool {
    let Ok(locale) = Locale::try_from_str(tag) else {
        return false;
    };
    if locale.id.language.is_unknown() {
        return false;
    }
    let Ok(formatter) =
        DateTimeFormatter::try_new((&locale).into(), icu::datetime::fieldsets::M::long())
    else {
        return false;
    };
    let Ok(date) = icu::calendar::Date::try_new_iso(2024, 3, 9) else {
        return false;
    };
    let month = formatter.format(&date).to_string();
    !month.contains("M03")
}

/// The IANA name of a time zone as jiff's tz database spells it (`UTC` for its aliases), or
/// `None` if it has no such zone.
fn time_zone_name(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "UTC"
            | "ETC/UTC"
            | "GMT"
            | "ETC/GMT"
            | "ETC/UCT"
            | "UCT"
            | "ETC/UNIVERSAL"
            | "ETC/ZULU"
            | "ZULU"
            | "UNIVERSAL"
            | "ETC/GMT0"
            | "GMT0"
            | "ETC/GREENWICH"
            | "GREENWICH"
            | "ETC/GMT+0"
            | "ETC/GMT-0"
            | "GMT+0"
            | "GMT-0"
    ) {
        return Some("UTC".to_owned());
    }
    let zone = jiff::tz::TimeZone::get(name).ok()?;
    zone.iana_name().map(str::to_owned)
}

/// Collects what a [`Writeable`] writes with its parts' spans (byte offsets).
#[derive(Default)]
struct Parts {
    text: String,
    /// In the order they end: a part ends after the parts nested in it.
    spans: Vec<(usize, usize, Part)>,
}

impl fmt::Write for Parts {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text.push_str(s);
        Ok(())
    }
}

impl PartsWrite for Parts {
    type SubPartsWrite = Self;
    fn with_part(
        &mut self,
        part: Part,
        mut f: impl FnMut(&mut Self::SubPartsWrite) -> fmt::Result,
    ) -> fmt::Result {
        let start = self.text.len();
        f(self)?;
        self.spans.push((start, self.text.len(), part));
        Ok(())
    }
}

impl Parts {
    fn of(writeable: &impl Writeable) -> Self {
        let mut parts = Self::default();
        // Writing to a String cannot fail.
        let _ = writeable.write_to_parts(&mut parts);
        parts
    }

    /// The text cut where the ECMA-402 type changes: `label` gets the parts covering a byte,
    /// outermost first, and returns its type and an id (bytes of one type but different ids,
    /// such as two list elements, stay apart); `None` is a literal.
    fn flatten(
        &self,
        label: impl Fn(&[(usize, Part)]) -> Option<(&'static str, usize)>,
    ) -> Vec<(&'static str, String)> {
        let mut covering: Vec<Vec<(usize, Part)>> = vec![Vec::new(); self.text.len()];
        // Reversed, outer parts come before the parts nested in them.
        for (id, (start, end, part)) in self.spans.iter().enumerate().rev() {
            for stack in &mut covering[*start..*end] {
                stack.push((id, *part));
            }
        }
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let mut last: Option<(&'static str, Option<usize>)> = None;
        for (index, ch) in self.text.char_indices() {
            let (kind, id) = match label(&covering[index]) {
                Some((kind, id)) => (kind, Some(id)),
                None => ("literal", None),
            };
            match (&last, out.last_mut()) {
                (Some(previous), Some((_, text))) if *previous == (kind, id) => text.push(ch),
                _ => out.push((kind, ch.to_string())),
            }
            last = Some((kind, id));
        }
        out
    }
}

/// Flattens `[(type, value)...]` as intl.js takes it.
fn flat(parts: Vec<(&'static str, String)>) -> Vec<String> {
    parts
        .into_iter()
        .flat_map(|(kind, value)| [kind.to_owned(), value])
        .collect()
}

/// The innermost part of `category` in `stack`.
fn innermost<'a>(stack: &'a [(usize, Part)], category: &str) -> Option<&'a (usize, Part)> {
    stack
        .iter()
        .rev()
        .find(|(_, part)| part.category == category)
}

/// A string option of `options`, `None` if absent.
fn option(options: &Object<'_>, name: &str) -> Result<Option<String>> {
    let value: Value = options.get(name)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    Ok(Some(options.get(name)?))
}

/// `dateTimeParts(locale, options, timeZone, epochMs)`: `options` holds the resolved
/// component options (`weekday`, `era`, `year`, `month`, `day`, `dayPeriod`, `hour`, `minute`,
/// `second`, `fractionalSecondDigits`, `timeZoneName`) or `dateStyle`/`timeStyle`.
fn date_time_parts<'js>(
    ctx: Ctx<'js>,
    tag: String,
    options: Object<'js>,
    zone: String,
    epoch_ms: f64,
) -> Result<Vec<String>> {
    let locale = locale(&ctx, &tag)?;
    let input = zoned(&ctx, &zone, epoch_ms)?;
    let builder = field_set_builder(&ctx, &options)?;
    let month = option(&options, "month")?;
    let textual_month = matches!(month.as_deref(), Some("short" | "long" | "narrow"));
    let mut parts = date_time_format(&ctx, &locale, builder.clone(), &input)?;
    // ICU4X picks a length's stock pattern, and some locales' medium dates are numeric
    // (de-DE "dd.MM.y"): a month asked for as text then comes out as digits. The long
    // pattern has the month as text in every locale.
    if textual_month
        && parts
            .iter()
            .any(|(kind, value)| *kind == "month" && all_digits(value))
    {
        let mut long = builder;
        long.length = Some(Length::Long);
        parts = date_time_format(&ctx, &locale, long, &input)?;
    }
    let year = option(&options, "year")?;
    let day = option(&options, "day")?;
    for (kind, value) in &mut parts {
        // `2-digit` is two digits, as ICU4C's pattern generator makes it (adjustFieldTypes),
        // whatever the stock pattern ICU4X picked has. (`numeric` is left as that pattern has
        // it: whether ICU4C drops a `dd`'s padding depends on the locale's availableFormats,
        // which ICU4X does not ship; docs/intl.md lists where it differs.)
        let wanted = match *kind {
            "year" => year.as_deref(),
            "month" => month.as_deref(),
            "day" => day.as_deref(),
            _ => None,
        };
        if all_digits(value) {
            match (wanted, *kind) {
                (Some("2-digit"), "year") => {
                    let digits: Vec<char> = value.chars().collect();
                    if digits.len() > 2 {
                        *value = digits[digits.len() - 2..].iter().collect();
                    }
                }
                (Some("2-digit"), _) if value.chars().count() == 1 => {
                    let zero = zero_of(value.chars().next().unwrap_or('0'));
                    value.insert(0, zero);
                }
                _ => {}
            }
        }
    }
    Ok(flat(parts))
}

/// Whether `text` is all decimal digits (of any of the numbering systems [`digit_in`] knows).
fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| zero_of(c) != c || is_zero(c))
}

/// Whether `c` is the digit zero of a numbering system [`digit_in`] knows.
fn is_zero(c: char) -> bool {
    matches!(
        c,
        '0' | '\u{660}' | '\u{6F0}' | '\u{966}' | '\u{9E6}' | '\u{1040}' | '\u{E50}'
    )
}

/// The zero of the numbering system digit `c` belongs to, or `c` itself if it is no digit.
fn zero_of(c: char) -> char {
    for zero in [
        '0', '\u{660}', '\u{6F0}', '\u{966}', '\u{9E6}', '\u{1040}', '\u{E50}',
    ] {
        let z = u32::from(zero);
        if (z..z + 10).contains(&u32::from(c)) {
            return zero;
        }
    }
    c
}

/// `input` formatted with `builder`'s field set, as ECMA-402 parts.
fn date_time_format(
    ctx: &Ctx<'_>,
    locale: &Locale,
    builder: FieldSetBuilder,
    input: &ZonedDateTime<Iso, TimeZoneInfo<icu::time::zone::models::AtTime>>,
) -> Result<Vec<(&'static str, String)>> {
    let field_set = match builder.build_composite() {
        Ok(field_set) => field_set,
        Err(error) => {
            return range(
                ctx,
                &format!("these date-time options cannot be combined: {error}"),
            );
        }
    };
    let formatter = match DateTimeFormatter::try_new(locale.into(), field_set) {
        Ok(formatter) => formatter,
        Err(error) => {
            return range(
                ctx,
                &format!("no date-time format for these options: {error}"),
            );
        }
    };
    let parts = Parts::of(&formatter.format(input));
    Ok(parts.flatten(|stack| {
        let (id, part) = innermost(stack, "datetime")?;
        let kind = match part.value {
            "era" => "era",
            "year" | "extendedYear" => "year",
            "relatedYear" => "relatedYear",
            "yearName" => "yearName",
            "month" => "month",
            "day" => "day",
            "weekday" => "weekday",
            "dayPeriod" => "dayPeriod",
            "hour" => "hour",
            "minute" => "minute",
            "second" => {
                // "12.345": ECMA-402 splits the fraction off.
                match innermost(stack, "decimal").map(|(_, p)| p.value) {
                    Some("fraction") => return Some(("fractionalSecond", *id)),
                    Some("decimal") => return None,
                    _ => "second",
                }
            }
            "timeZoneName" => "timeZoneName",
            _ => return None,
        };
        Some((kind, *id))
    }))
}

/// The ICU4X field set for ECMA-402's resolved options.
fn field_set_builder(ctx: &Ctx<'_>, options: &Object<'_>) -> Result<FieldSetBuilder> {
    let date_style = option(options, "dateStyle")?;
    let time_style = option(options, "timeStyle")?;
    if date_style.is_some() || time_style.is_some() {
        let mut builder = FieldSetBuilder::new();
        let length = |style: &str| match style {
            "full" | "long" => Length::Long,
            "medium" => Length::Medium,
            _ => Length::Short,
        };
        if let Some(style) = &date_style {
            builder.length = Some(length(style));
            builder.date_fields = Some(if style == "full" {
                DateFields::YMDE
            } else {
                DateFields::YMD
            });
        } else {
            builder.length = time_style.as_deref().map(length);
        }
        if let Some(style) = &time_style {
            builder.time_precision = Some(if style == "short" {
                TimePrecision::Minute
            } else {
                TimePrecision::Second
            });
            builder.zone_style = match style.as_str() {
                "full" => Some(ZoneStyle::SpecificLong),
                "long" => Some(ZoneStyle::SpecificShort),
                _ => None,
            };
        }
        return Ok(builder);
    }
    let mut bag = DateTimeFieldBag::default();
    let numeric_or_two = |value: &str| value == "2-digit";
    if let Some(era) = option(options, "era")? {
        bag.era = Some(match era.as_str() {
            "long" => field::Era::Long,
            "narrow" => field::Era::Narrow,
            _ => field::Era::Short,
        });
    }
    if let Some(year) = option(options, "year")? {
        bag.year = Some(if numeric_or_two(&year) {
            field::Year::TwoDigit
        } else {
            field::Year::Numeric
        });
    }
    if let Some(month) = option(options, "month")? {
        bag.month = Some(match month.as_str() {
            "2-digit" => field::Month::TwoDigit,
            "short" => field::Month::Short,
            "long" => field::Month::Long,
            "narrow" => field::Month::Narrow,
            _ => field::Month::Numeric,
        });
    }
    if let Some(day) = option(options, "day")? {
        bag.day = Some(if numeric_or_two(&day) {
            field::Day::TwoDigit
        } else {
            field::Day::Numeric
        });
    }
    if let Some(weekday) = option(options, "weekday")? {
        bag.weekday = Some(match weekday.as_str() {
            "long" => field::Weekday::Long,
            "narrow" => field::Weekday::Narrow,
            _ => field::Weekday::Short,
        });
    }
    if let Some(period) = option(options, "dayPeriod")? {
        bag.day_period = Some(match period.as_str() {
            "long" => field::DayPeriod::FlexibleLong,
            "narrow" => field::DayPeriod::FlexibleNarrow,
            _ => field::DayPeriod::FlexibleShort,
        });
    }
    if let Some(hour) = option(options, "hour")? {
        bag.hour = Some(if numeric_or_two(&hour) {
            field::Hour::TwoDigit
        } else {
            field::Hour::Numeric
        });
    }
    if let Some(minute) = option(options, "minute")? {
        bag.minute = Some(if numeric_or_two(&minute) {
            field::Minute::TwoDigit
        } else {
            field::Minute::Numeric
        });
    }
    if let Some(second) = option(options, "second")? {
        bag.second = Some(if numeric_or_two(&second) {
            field::Second::TwoDigit
        } else {
            field::Second::Numeric
        });
    }
    let digits: Value = options.get("fractionalSecondDigits")?;
    if let Some(digits) = digits.as_number() {
        bag.fractional_second_digits = Some(if digits < 1.5 {
            field::FractionalSecondDigits::F1
        } else if digits < 2.5 {
            field::FractionalSecondDigits::F2
        } else {
            field::FractionalSecondDigits::F3
        });
    }
    if let Some(name) = option(options, "timeZoneName")? {
        bag.time_zone_name = Some(match name.as_str() {
            "long" => field::TimeZoneName::LongSpecific,
            "shortOffset" => field::TimeZoneName::ShortOffset,
            "longOffset" => field::TimeZoneName::LongOffset,
            "shortGeneric" => field::TimeZoneName::ShortGeneric,
            "longGeneric" => field::TimeZoneName::LongGeneric,
            _ => field::TimeZoneName::ShortSpecific,
        });
    }
    if bag == DateTimeFieldBag::default() {
        return range(ctx, "no date or time field to format");
    }
    Ok(bag.to_field_set_builder())
}

/// The instant `epoch_ms` in `zone` (a name [`time_zone_name`] returned), with its offset
/// from jiff's tz database.
fn zoned(
    ctx: &Ctx<'_>,
    zone: &str,
    epoch_ms: f64,
) -> Result<ZonedDateTime<Iso, TimeZoneInfo<icu::time::zone::models::AtTime>>> {
    if !epoch_ms.is_finite() || epoch_ms.abs() > 8.64e15 {
        return range(ctx, "invalid time value");
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a finite time value within ±8.64e15"
    )]
    let ms = epoch_ms as i64;
    let seconds = if zone == "UTC" {
        0
    } else {
        let tz = match jiff::tz::TimeZone::get(zone) {
            Ok(tz) => tz,
            Err(_) => return range(ctx, &format!("invalid time zone: `{zone}`")),
        };
        let Ok(timestamp) = jiff::Timestamp::from_millisecond(ms) else {
            return range(ctx, "invalid time value");
        };
        tz.to_offset(timestamp).seconds()
    };
    let Ok(offset) = UtcOffset::try_from_seconds(seconds) else {
        return range(ctx, &format!("invalid time zone: `{zone}`"));
    };
    let local = ZonedDateTime::from_epoch_milliseconds_and_utc_offset(ms, offset);
    let id = if zone == "UTC" {
        TimeZoneInfo::utc().id()
    } else {
        TimeZone::from_iana_id(zone)
    };
    let info = id.with_offset(Some(offset)).at_date_time(DateTime {
        date: local.date,
        time: local.time,
    });
    Ok(ZonedDateTime {
        date: local.date,
        time: local.time,
        zone: info,
    })
}

/// `dateTimeResolve(locale)` → `[calendar, numberingSystem, hourCycle]` of the locale (with
/// its `-u-` keywords).
fn date_time_resolve(ctx: Ctx<'_>, tag: String) -> Result<Vec<String>> {
    let locale = locale(&ctx, &tag)?;
    let mut builder = FieldSetBuilder::new();
    builder.time_precision = Some(TimePrecision::Hour);
    builder.date_fields = Some(DateFields::YMD);
    builder.length = Some(Length::Short);
    let calendar = match builder.build_composite() {
        Ok(field_set) => match DateTimeFormatter::try_new((&locale).into(), field_set) {
            Ok(formatter) => {
                let kind = formatter.calendar().kind();
                let hour = formatter
                    .format(&zoned(&ctx, "UTC", 13.0 * 3_600_000.0)?)
                    .to_string();
                (calendar_name(kind), hour)
            }
            Err(error) => {
                return range(
                    &ctx,
                    &format!("no date-time format for this locale: {error}"),
                );
            }
        },
        Err(error) => return range(&ctx, &format!("no date-time format: {error}")),
    };
    let (calendar, sample) = calendar;
    let numbering = numbering_system(&locale);
    // Formatting 13:00: a 24-hour clock shows 13 (in the locale's digits).
    let thirteen: String = "13".chars().map(|c| digit_in(&numbering, c)).collect();
    let hour_cycle = if sample.contains(&thirteen) {
        "h23"
    } else {
        "h12"
    };
    Ok(vec![calendar.to_owned(), numbering, hour_cycle.to_owned()])
}

fn calendar_name(kind: icu::calendar::AnyCalendarKind) -> &'static str {
    use icu::calendar::AnyCalendarKind as K;
    match kind {
        K::Buddhist => "buddhist",
        K::Chinese => "chinese",
        K::Coptic => "coptic",
        K::Dangi => "dangi",
        K::Ethiopian => "ethiopic",
        K::EthiopianAmeteAlem => "ethioaa",
        K::Hebrew => "hebrew",
        K::Indian => "indian",
        K::HijriTabularTypeIIFriday => "islamic-civil",
        K::HijriTabularTypeIIThursday => "islamic-tbla",
        K::HijriUmmAlQura => "islamic-umalqura",
        K::Japanese => "japanese",
        K::Persian => "persian",
        K::Roc => "roc",
        _ => "gregory",
    }
}

/// The digit `c` (ASCII) in the numbering system named `system`.
fn digit_in(system: &str, c: char) -> char {
    let zero = match system {
        "arab" => '\u{660}',
        "arabext" => '\u{6F0}',
        "beng" => '\u{9E6}',
        "deva" => '\u{966}',
        "mymr" => '\u{1040}',
        "thai" => '\u{E50}',
        _ => '0',
    };
    let offset = u32::from(c) - u32::from('0');
    char::from_u32(u32::from(zero) + offset).unwrap_or(c)
}

/// The numbering system of `locale` (its `-u-nu-` or its default), by the digit zero it uses.
fn numbering_system(locale: &Locale) -> String {
    let Ok(formatter) =
        DecimalFormatter::try_new(locale.into(), DecimalFormatterOptions::default())
    else {
        return "latn".to_owned();
    };
    let zero = formatter.format_to_string(&Decimal::from(0));
    match zero.chars().next() {
        Some('\u{660}') => "arab",
        Some('\u{6F0}') => "arabext",
        Some('\u{9E6}') => "beng",
        Some('\u{966}') => "deva",
        Some('\u{1040}') => "mymr",
        Some('\u{E50}') => "thai",
        _ => "latn",
    }
    .to_owned()
}

/// Reads a number intl.js passed as a string (`Number`'s shortest round-trip digits or a
/// `BigInt`'s decimal digits).
fn decimal(ctx: &Ctx<'_>, digits: &str) -> Result<Decimal> {
    match Decimal::try_from_str(digits) {
        Ok(decimal) => Ok(decimal),
        Err(_) => range(ctx, &format!("cannot format the number `{digits}`")),
    }
}

/// A whole-number option of `options`.
fn integer(options: &Object<'_>, name: &str) -> Result<Option<i16>> {
    let value: Value = options.get(name)?;
    #[allow(
        clippy::cast_possible_truncation,
        reason = "intl.js checked the ranges (0 to 100)"
    )]
    Ok(value.as_number().map(|n| n as i16))
}

/// ECMA-402's rounding mode of `options` (`roundingMode`, default `halfExpand`).
fn rounding_mode(options: &Object<'_>) -> Result<fixed_decimal::SignedRoundingMode> {
    use fixed_decimal::{SignedRoundingMode as S, UnsignedRoundingMode as U};
    Ok(match option(options, "roundingMode")?.as_deref() {
        Some("ceil") => S::Ceil,
        Some("floor") => S::Floor,
        Some("expand") => S::Unsigned(U::Expand),
        Some("trunc") => S::Unsigned(U::Trunc),
        Some("halfCeil") => S::HalfCeil,
        Some("halfFloor") => S::HalfFloor,
        Some("halfTrunc") => S::Unsigned(U::HalfTrunc),
        Some("halfEven") => S::Unsigned(U::HalfEven),
        _ => S::Unsigned(U::HalfExpand),
    })
}

/// ECMA-402 ToRawPrecision: `value` rounded to `max` significant digits and padded to `min`,
/// with its rounding magnitude.
fn to_precision(
    value: &Decimal,
    min: i16,
    max: i16,
    mode: fixed_decimal::SignedRoundingMode,
) -> (Decimal, i16) {
    let mut value = value.clone();
    if value.absolute.is_zero() {
        value.absolute.pad_end(1 - min);
        return (value, 1 - max);
    }
    let top = value.absolute.nonzero_magnitude_start();
    value.round_with_mode(top - max + 1, mode);
    let top = value.absolute.nonzero_magnitude_start();
    value.absolute.trim_end();
    value.absolute.pad_end(top - min + 1);
    (value, top - max + 1)
}

/// ECMA-402 ToRawFixed: `value` rounded to a multiple of `increment` × 10^−`max` and padded to
/// `min` fraction digits, with its rounding magnitude.
fn to_fixed(
    value: &Decimal,
    min: i16,
    max: i16,
    increment: u32,
    mode: fixed_decimal::SignedRoundingMode,
) -> (Decimal, i16) {
    use fixed_decimal::RoundingIncrement;
    let mut value = value.clone();
    // 1, 2, 5 or 25 times a power of ten (intl.js allows no other increment).
    let (mut factor, mut shift) = (increment.max(1), 0i16);
    while factor % 10 == 0 {
        factor /= 10;
        shift += 1;
    }
    let step = match factor {
        2 => RoundingIncrement::MultiplesOf2,
        5 => RoundingIncrement::MultiplesOf5,
        25 => RoundingIncrement::MultiplesOf25,
        _ => RoundingIncrement::MultiplesOf1,
    };
    value.round_with_mode_and_increment(shift - max, mode, step);
    value.absolute.trim_end();
    value.absolute.pad_end(-min);
    (value, -max)
}

/// Rounds and pads `value` as ECMA-402's FormatNumericToString says for the digit options
/// intl.js resolved (`roundingType`, the digit counts, `roundingMode`, `roundingIncrement`,
/// `trailingZeroDisplay`, `minimumIntegerDigits`).
fn round(value: &mut Decimal, options: &Object<'_>) -> Result<()> {
    let mode = rounding_mode(options)?;
    let precision = |value: &Decimal| -> Result<(Decimal, i16)> {
        let min = integer(options, "minimumSignificantDigits")?.unwrap_or(1);
        let max = integer(options, "maximumSignificantDigits")?.unwrap_or(21);
        Ok(to_precision(value, min, max, mode))
    };
    let fixed = |value: &Decimal| -> Result<(Decimal, i16)> {
        let min = integer(options, "minimumFractionDigits")?.unwrap_or(0);
        let max = integer(options, "maximumFractionDigits")?.unwrap_or(3);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "intl.js allows 1 to 5000 only"
        )]
        let increment = options
            .get::<_, Value>("roundingIncrement")?
            .as_number()
            .map_or(1, |n| n as u32);
        Ok(to_fixed(value, min, max, increment, mode))
    };
    let rounded = match option(options, "roundingType")?.as_deref() {
        Some("significantDigits") => precision(value)?.0,
        Some(priority @ ("morePrecision" | "lessPrecision")) => {
            let (by_precision, precision_magnitude) = precision(value)?;
            let (by_fraction, fraction_magnitude) = fixed(value)?;
            let precision_is_finer = precision_magnitude <= fraction_magnitude;
            if precision_is_finer == (priority == "morePrecision") {
                by_precision
            } else {
                by_fraction
            }
        }
        _ => fixed(value)?.0,
    };
    *value = rounded;
    if option(options, "trailingZeroDisplay")?.as_deref() == Some("stripIfInteger") {
        value.absolute.trim_end_if_integer();
    }
    let min_int = integer(options, "minimumIntegerDigits")?.unwrap_or(1);
    value.absolute.pad_start(min_int);
    Ok(())
}

/// `numberParts(locale, options, digits)`: `options` holds the resolved `style`, `currency`,
/// `currencyDisplay`, `useGrouping`, `signDisplay` and digit options.
fn number_parts<'js>(
    ctx: Ctx<'js>,
    tag: String,
    options: Object<'js>,
    digits: String,
) -> Result<Vec<String>> {
    use fixed_decimal::SignDisplay;
    let locale = locale(&ctx, &tag)?;
    let style = option(&options, "style")?.unwrap_or_else(|| "decimal".to_owned());
    let mut value = decimal(&ctx, &digits)?;
    if style == "percent" {
        value.absolute.multiply_pow10(2);
    }
    let notation = option(&options, "notation")?.unwrap_or_default();
    // Scientific and engineering notation: the significand and its power of ten. Compact
    // notation: the significand, and the text around it (prefix, suffix) in the locale.
    let mut exponent = None;
    let mut compact = None;
    match notation.as_str() {
        "scientific" | "engineering" => {
            let engineering = notation == "engineering";
            let pick = |magnitude: i16| {
                if engineering {
                    magnitude.div_euclid(3) * 3
                } else {
                    magnitude
                }
            };
            exponent = Some(scale(&mut value, &options, pick)?);
        }
        "compact" => {
            let prefs = (&locale).into();
            let formatter = if option(&options, "compactDisplay")?.as_deref() == Some("long") {
                CompactDecimalFormatter::try_new_long(prefs, Default::default())
            } else {
                CompactDecimalFormatter::try_new_short(prefs, Default::default())
            };
            let formatter = match formatter {
                Ok(formatter) => formatter,
                Err(error) => {
                    return range(
                        &ctx,
                        &format!("no compact number format for this locale: {error}"),
                    );
                }
            };
            let power = scale(&mut value, &options, |magnitude| {
                compact_exponent(&formatter, magnitude)
            })?;
            compact = Some((formatter, power));
        }
        _ => round(&mut value, &options)?,
    }
    let sign_display = match option(&options, "signDisplay")?.as_deref() {
        Some("never") => SignDisplay::Never,
        Some("always") => SignDisplay::Always,
        Some("exceptZero") => SignDisplay::ExceptZero,
        Some("negative") => SignDisplay::Negative,
        _ => SignDisplay::Auto,
    };
    value.apply_sign_display(sign_display);
    let grouping = match option(&options, "useGrouping")?.as_deref() {
        Some("false") => GroupingStrategy::Never,
        Some("always") => GroupingStrategy::Always,
        Some("min2") => GroupingStrategy::Min2,
        _ => GroupingStrategy::Auto,
    };
    let mut decimal_options = DecimalFormatterOptions::default();
    decimal_options.grouping_strategy = Some(grouping);
    let failed = |ctx: &Ctx<'_>, error: &dyn fmt::Display| -> Result<Vec<String>> {
        range(ctx, &format!("no number format for this locale: {error}"))
    };
    let decimal_formatter = match DecimalFormatter::try_new((&locale).into(), decimal_options) {
        Ok(formatter) => formatter,
        Err(error) => return failed(&ctx, &error),
    };
    // The number itself, unsigned, as ECMA-402 parts: the digits with their separators, the
    // exponent (scientific, engineering), the text compact notation puts around it.
    let mut magnitude = value.clone();
    magnitude.apply_sign_display(SignDisplay::Never);
    let mut number: Vec<(&'static str, String)> = Parts::of(&decimal_formatter.format(&magnitude))
        .flatten(|stack| {
            let (id, part) = innermost(stack, "decimal")?;
            let kind = match part.value {
                "integer" => "integer",
                "fraction" => "fraction",
                "group" => "group",
                "decimal" => "decimal",
                _ => return None,
            };
            Some((kind, *id))
        })
        .into_iter()
        .filter(|(kind, _)| *kind != "literal")
        .collect();
    if let Some(exponent) = exponent {
        let mut digits = Decimal::from(exponent.unsigned_abs());
        digits.apply_sign_display(SignDisplay::Never);
        let digits = match decimal_formatter_plain(&locale) {
            Ok(formatter) => Parts::of(&formatter.format(&digits)).text,
            Err(error) => return failed(&ctx, &error),
        };
        number.push(("exponentSeparator", "E".to_owned()));
        if exponent < 0 {
            number.push(("exponentMinusSign", "-".to_owned()));
        }
        number.push(("exponentInteger", digits));
    }
    if let Some((formatter, power)) = &compact {
        number = compact_parts(formatter, &magnitude, *power, number);
    }
    // The number in its style (sign, percent sign, currency, unit), as ICU4X writes it; its
    // digits are replaced by `number`, since ICU4X's style formatters round by their own rules
    // (a currency's minor digits, compact notation's two significant digits).
    let styled = match style.as_str() {
        "percent" => {
            let formatter = match PercentFormatter::try_new_with_decimal_formatter(
                (&locale).into(),
                decimal_formatter,
                Default::default(),
            ) {
                Ok(formatter) => formatter,
                Err(error) => return failed(&ctx, &error),
            };
            formatter.format(&value).write_to_string().into_owned()
        }
        "currency" => {
            let code = option(&options, "currency")?.unwrap_or_default();
            let Ok(currency) = CurrencyType::try_from_str(&code.to_ascii_lowercase()) else {
                return range(&ctx, &format!("invalid currency code: `{code}`"));
            };
            let prefs = (&locale).into();
            let formatter = match option(&options, "currencyDisplay")?.as_deref() {
                Some("code") => {
                    CurrencyFormatter::try_new_code(prefs, currency, Default::default())
                }
                Some("name") => CurrencyFormatter::try_new_name(prefs, currency),
                Some("narrowSymbol") => {
                    CurrencyFormatter::try_new_symbol_narrow(prefs, currency, Default::default())
                }
                _ => CurrencyFormatter::try_new_symbol(prefs, currency, Default::default()),
            };
            match formatter {
                Ok(formatter) => formatter
                    .format_fixed_decimal(&value)
                    .write_to_string()
                    .into_owned(),
                Err(error) => return failed(&ctx, &error),
            }
        }
        "unit" => {
            let unit = option(&options, "unit")?.unwrap_or_default();
            let width = match option(&options, "unitDisplay")?.as_deref() {
                Some("long") => Width::Long,
                Some("narrow") => Width::Narrow,
                _ => Width::Short,
            };
            match unit_parts(&locale, &unit, width, &value) {
                Some(Ok(parts)) => parts.text,
                Some(Err(error)) => return failed(&ctx, &error),
                None => return range(&ctx, &format!("unsupported unit: `{unit}`")),
            }
        }
        _ => decimal_formatter
            .format(&value)
            .write_to_string()
            .into_owned(),
    };
    // A unit's name is literal text, as ECMA-402's "unit" part.
    let currency = style == "currency";
    let unit = style == "unit";
    let mut out = Vec::new();
    match digit_run(&styled) {
        Some((start, end)) => {
            split_literal(&styled[..start], currency, unit, &mut out);
            out.extend(number);
            split_literal(&styled[end..], currency, unit, &mut out);
        }
        None => split_literal(&styled, currency, unit, &mut out),
    }
    Ok(flat(out))
}

/// The byte range of `text` from its first decimal digit to the end of its last (any
/// script's digits: ECMA-402's numbering systems), `None` if it has none.
fn digit_run(text: &str) -> Option<(usize, usize)> {
    use icu::properties::CodePointMapData;
    use icu::properties::props::GeneralCategory;
    let categories = CodePointMapData::<GeneralCategory>::new();
    let is_digit = |c: char| categories.get(c) == GeneralCategory::DecimalNumber;
    let start = text.find(is_digit)?;
    let (last, c) = text.char_indices().rev().find(|(_, c)| is_digit(*c))?;
    Some((start, last + c.len_utf8()))
}

/// A decimal formatter for `locale` without grouping (an exponent's digits).
fn decimal_formatter_plain(
    locale: &Locale,
) -> std::result::Result<DecimalFormatter, icu_provider::DataError> {
    let mut options = DecimalFormatterOptions::default();
    options.grouping_strategy = Some(GroupingStrategy::Never);
    DecimalFormatter::try_new(locale.into(), options)
}

/// ECMA-402 ComputeExponent: scales `value` by the power of ten `pick` chooses for its
/// magnitude and rounds it as the digit options say; if rounding reaches the next magnitude
/// (9.9996 → 10.000), the power chosen for that one. Returns the power.
fn scale(value: &mut Decimal, options: &Object<'_>, pick: impl Fn(i16) -> i16) -> Result<i16> {
    if value.absolute.is_zero() {
        round(value, options)?;
        return Ok(0);
    }
    let magnitude = value.absolute.nonzero_magnitude_start();
    let scaled = |power: i16| -> Result<Decimal> {
        let mut scaled = value.clone();
        scaled.absolute.multiply_pow10(-power);
        round(&mut scaled, options)?;
        Ok(scaled)
    };
    let mut power = pick(magnitude);
    let mut result = scaled(power)?;
    if !result.absolute.is_zero() && result.absolute.nonzero_magnitude_start() != magnitude - power
    {
        power = pick(magnitude + 1);
        result = scaled(power)?;
    }
    *value = result;
    Ok(power)
}

/// The power of ten compact notation divides a number of `magnitude` by in this locale (3 for
/// "1.2K" in English, 4 for "1.2万" in Japanese, 0 where the locale does not compact it),
/// read from how ICU4X formats 10^`magnitude`: the digits it keeps of it.
fn compact_exponent(formatter: &CompactDecimalFormatter, magnitude: i16) -> i16 {
    if magnitude <= 0 {
        return 0;
    }
    let mut probe = Decimal::from(1);
    probe.absolute.multiply_pow10(magnitude);
    let text = formatter.format(&probe).write_to_string().into_owned();
    let Some((start, end)) = digit_run(&text) else {
        return magnitude;
    };
    // Grouping separators are not digits; 10^n has no fraction.
    let digits = text[start..end]
        .chars()
        .filter(|c| digit_run(c.encode_utf8(&mut [0; 4])).is_some())
        .count();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "a significand has at most a few digits"
    )]
    let kept = digits as i16;
    (magnitude - (kept - 1)).max(0)
}

/// `number` (the unsigned significand's parts) with the text compact notation puts around
/// it for `magnitude` × 10^`power` (`magnitude` is the rounded significand), as ECMA-402
/// parts: words and letters are "compact", spaces "literal". A locale's form without digits
/// ("mille") replaces the number.
fn compact_parts(
    formatter: &CompactDecimalFormatter,
    magnitude: &Decimal,
    power: i16,
    number: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    // ICU4X rounds what it formats to two significant digits (or to a whole number): cut to
    // those first, so that its rounding cannot reach the next power and change the words.
    let mut whole = magnitude.clone();
    if !whole.absolute.is_zero() {
        let top = whole.absolute.nonzero_magnitude_start();
        whole.round_with_mode(
            top - 1,
            fixed_decimal::SignedRoundingMode::Unsigned(fixed_decimal::UnsignedRoundingMode::Trunc),
        );
    }
    whole.absolute.multiply_pow10(power);
    let text = formatter.format(&whole).write_to_string().into_owned();
    let pieces = |text: &str, out: &mut Vec<(&'static str, String)>| {
        for piece in split_spaces(text) {
            let kind = if piece.chars().all(char::is_whitespace) {
                "literal"
            } else {
                "compact"
            };
            out.push((kind, piece));
        }
    };
    let mut out = Vec::new();
    match digit_run(&text) {
        Some((start, end)) => {
            pieces(&text[..start], &mut out);
            out.extend(number);
            pieces(&text[end..], &mut out);
        }
        None => pieces(&text, &mut out),
    }
    out
}

/// `text` cut where it changes between whitespace and the rest.
fn split_spaces(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut last_space = None;
    for c in text.chars() {
        let space = c.is_whitespace();
        match pieces.last_mut() {
            Some(piece) if last_space == Some(space) => piece.push(c),
            _ => pieces.push(c.to_string()),
        }
        last_space = Some(space);
    }
    pieces
}

/// The units ICU4X formats (its categorized formatters): `Intl.supportedValuesOf("unit")`.
pub(crate) const UNITS: [&str; 14] = [
    "day",
    "gram",
    "hour",
    "kilogram",
    "liter",
    "meter",
    "microsecond",
    "millisecond",
    "minute",
    "month",
    "nanosecond",
    "second",
    "week",
    "year",
];

/// `value` formatted in `unit`, `None` if ICU4X cannot format that unit.
fn unit_parts(
    locale: &Locale,
    unit: &str,
    width: Width,
    value: &Decimal,
) -> Option<core::result::Result<Parts, icu_provider::DataError>> {
    use icu::experimental::measure::category::{Duration, Length, Mass, Volume};
    fn with<C>(
        locale: &Locale,
        unit: icu::experimental::measure::category::CategorizedMeasureUnit<C>,
        width: Width,
        value: &Decimal,
    ) -> core::result::Result<Parts, icu_provider::DataError>
    where
        C: icu::experimental::measure::category::MeasureUnitCategory,
        icu::experimental::provider::Baked: icu_provider::DataProvider<C::DataMarkerCore>
            + icu_provider::DataProvider<C::DataMarkerExtended>
            + icu_provider::DataProvider<C::DataMarkerOutlier>,
    {
        let formatter = CategorizedFormatter::<C>::try_new_outlier(
            locale.into(),
            unit,
            UnitsFormatterOptions::from(width),
        )?;
        Ok(Parts::of(&formatter.format_fixed_decimal(value)))
    }
    Some(match unit {
        "second" => with(locale, Duration::second(), width, value),
        "minute" => with(locale, Duration::minute(), width, value),
        "hour" => with(locale, Duration::hour(), width, value),
        "day" => with(locale, Duration::day(), width, value),
        "week" => with(locale, Duration::week(), width, value),
        "month" => with(locale, Duration::month(), width, value),
        "year" => with(locale, Duration::year(), width, value),
        "millisecond" => with(locale, Duration::millisecond(), width, value),
        "microsecond" => with(locale, Duration::microsecond(), width, value),
        "nanosecond" => with(locale, Duration::nanosecond(), width, value),
        "meter" => with(locale, Length::meter(), width, value),
        "gram" => with(locale, Mass::gram(), width, value),
        "kilogram" => with(locale, Mass::kilogram(), width, value),
        "liter" => with(locale, Volume::liter(), width, value),
        _ => return None,
    })
}

/// Splits a literal of a formatted number into the signs, percent sign and currency it holds
/// (ICU4X's percent and currency formatters write them as plain text).
fn split_literal(text: &str, currency: bool, unit: bool, out: &mut Vec<(&'static str, String)>) {
    let kind_of = |c: char| -> &'static str {
        match c {
            '%' | '\u{66A}' | '\u{2030}' => "percentSign",
            '-' | '\u{2212}' => "minusSign",
            '+' => "plusSign",
            // Spaces and direction marks stay literal; they join the sign they precede.
            c if c.is_whitespace() || matches!(c, '\u{200E}' | '\u{200F}' | '\u{61C}') => "literal",
            _ if currency => "currency",
            _ if unit => "unit",
            _ => "literal",
        }
    };
    let mut pending_marks = String::new();
    for c in text.chars() {
        let kind = kind_of(c);
        if matches!(c, '\u{200E}' | '\u{200F}' | '\u{61C}') {
            pending_marks.push(c);
            continue;
        }
        let mut piece = std::mem::take(&mut pending_marks);
        piece.push(c);
        match out.last_mut() {
            Some((last, text))
                if *last == kind && matches!(kind, "literal" | "currency" | "unit") =>
            {
                text.push_str(&piece)
            }
            _ => out.push((kind, piece)),
        }
    }
    if !pending_marks.is_empty() {
        match out.last_mut() {
            Some((_, text)) => text.push_str(&pending_marks),
            None => out.push(("literal", pending_marks)),
        }
    }
}

/// `pluralSelect(locale, ordinal, digits, options)` → the category's name.
fn plural_select<'js>(
    ctx: Ctx<'js>,
    tag: String,
    ordinal: bool,
    digits: String,
    options: Object<'js>,
) -> Result<String> {
    let locale = locale(&ctx, &tag)?;
    let rules = plural_rules(&ctx, &locale, ordinal)?;
    let mut value = decimal(&ctx, &digits)?;
    round(&mut value, &options)?;
    Ok(category_name(rules.category_for(&value)).to_owned())
}

fn plural_rules(ctx: &Ctx<'_>, locale: &Locale, ordinal: bool) -> Result<PluralRules> {
    let kind = if ordinal {
        PluralRuleType::Ordinal
    } else {
        PluralRuleType::Cardinal
    };
    match PluralRules::try_new(locale.into(), kind.into()) {
        Ok(rules) => Ok(rules),
        Err(error) => range(ctx, &format!("no plural rules for this locale: {error}")),
    }
}

fn category_name(category: PluralCategory) -> &'static str {
    match category {
        PluralCategory::Zero => "zero",
        PluralCategory::One => "one",
        PluralCategory::Two => "two",
        PluralCategory::Few => "few",
        PluralCategory::Many => "many",
        _ => "other",
    }
}

/// `pluralCategories(locale, ordinal)` → the categories, in ECMA-402's order.
fn plural_categories(ctx: Ctx<'_>, tag: String, ordinal: bool) -> Result<Vec<String>> {
    let locale = locale(&ctx, &tag)?;
    let rules = plural_rules(&ctx, &locale, ordinal)?;
    let present: Vec<PluralCategory> = rules.categories().collect();
    Ok([
        PluralCategory::Zero,
        PluralCategory::One,
        PluralCategory::Two,
        PluralCategory::Few,
        PluralCategory::Many,
        PluralCategory::Other,
    ]
    .into_iter()
    .filter(|c| present.contains(c))
    .map(|c| category_name(c).to_owned())
    .collect())
}

/// `collator(locale, sensitivity, ignorePunctuation)` → `compare(a, b)` (-1, 0 or 1), with
/// `-u-kn-` and `-u-kf-` in the locale. The function keeps its ICU4X collator (a few words
/// pointing into the static data), so sorting does not build one per comparison.
fn collator<'js>(
    ctx: Ctx<'js>,
    tag: String,
    sensitivity: String,
    ignore_punctuation: bool,
) -> Result<Function<'js>> {
    let locale = locale(&ctx, &tag)?;
    let mut options = CollatorOptions::default();
    match sensitivity.as_str() {
        "base" => options.strength = Some(Strength::Primary),
        "accent" => options.strength = Some(Strength::Secondary),
        "case" => {
            options.strength = Some(Strength::Primary);
            options.case_level = Some(CaseLevel::On);
        }
        _ => options.strength = Some(Strength::Tertiary),
    }
    if ignore_punctuation {
        options.alternate_handling = Some(AlternateHandling::Shifted);
    }
    let collator = match Collator::try_new((&locale).into(), options) {
        Ok(collator) => collator,
        Err(error) => return range(&ctx, &format!("no collation for this locale: {error}")),
    };
    Function::new(ctx.clone(), move |a: String, b: String| -> i32 {
        match collator.compare(&a, &b) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }
    })
}

/// `relativeTimeParts(locale, style, numeric, unit, digits)`.
fn relative_time_parts(
    ctx: Ctx<'_>,
    tag: String,
    style: String,
    numeric: String,
    unit: String,
    digits: String,
) -> Result<Vec<String>> {
    let locale = locale(&ctx, &tag)?;
    let mut options = RelativeTimeFormatterOptions::default();
    options.numeric = Some(if numeric == "auto" {
        Numeric::Auto
    } else {
        Numeric::Always
    });
    let prefs = (&locale).into();
    macro_rules! pick {
        ($($style:literal, $unit:literal => $ctor:ident;)*) => {
            match (style.as_str(), unit.as_str()) {
                $(($style, $unit) => RelativeTimeFormatter::$ctor(prefs, options),)*
                _ => return range(&ctx, &format!("invalid unit: `{unit}`")),
            }
        };
    }
    let formatter = pick! {
        "long", "second" => try_new_long_second; "long", "minute" => try_new_long_minute;
        "long", "hour" => try_new_long_hour; "long", "day" => try_new_long_day;
        "long", "week" => try_new_long_week; "long", "month" => try_new_long_month;
        "long", "quarter" => try_new_long_quarter; "long", "year" => try_new_long_year;
        "short", "second" => try_new_short_second; "short", "minute" => try_new_short_minute;
        "short", "hour" => try_new_short_hour; "short", "day" => try_new_short_day;
        "short", "week" => try_new_short_week; "short", "month" => try_new_short_month;
        "short", "quarter" => try_new_short_quarter; "short", "year" => try_new_short_year;
        "narrow", "second" => try_new_narrow_second; "narrow", "minute" => try_new_narrow_minute;
        "narrow", "hour" => try_new_narrow_hour; "narrow", "day" => try_new_narrow_day;
        "narrow", "week" => try_new_narrow_week; "narrow", "month" => try_new_narrow_month;
        "narrow", "quarter" => try_new_narrow_quarter; "narrow", "year" => try_new_narrow_year;
    };
    let formatter = match formatter {
        Ok(formatter) => formatter,
        Err(error) => {
            return range(
                &ctx,
                &format!("no relative time format for this locale: {error}"),
            );
        }
    };
    let value = decimal(&ctx, &digits)?;
    let parts = Parts::of(&formatter.format(value));
    Ok(flat(parts.flatten(|stack| {
        let (id, part) = innermost(stack, "decimal")?;
        let kind = match part.value {
            "integer" => "integer",
            "fraction" => "fraction",
            "group" => "group",
            "decimal" => "decimal",
            _ => return None,
        };
        Some((kind, *id))
    })))
}

/// `listParts(locale, type, style, items)`.
fn list_parts(
    ctx: Ctx<'_>,
    tag: String,
    kind: String,
    style: String,
    items: Vec<String>,
) -> Result<Vec<String>> {
    let locale = locale(&ctx, &tag)?;
    let length = match style.as_str() {
        "short" => ListLength::Short,
        "narrow" => ListLength::Narrow,
        _ => ListLength::Wide,
    };
    let options = ListFormatterOptions::default().with_length(length);
    let formatter = match kind.as_str() {
        "disjunction" => ListFormatter::try_new_or((&locale).into(), options),
        "unit" => ListFormatter::try_new_unit((&locale).into(), options),
        _ => ListFormatter::try_new_and((&locale).into(), options),
    };
    let formatter = match formatter {
        Ok(formatter) => formatter,
        Err(error) => return range(&ctx, &format!("no list format for this locale: {error}")),
    };
    let parts = Parts::of(&formatter.format(items.iter()));
    Ok(flat(parts.flatten(|stack| {
        let (id, part) = innermost(stack, "list")?;
        (part.value == "element").then_some(("element", *id))
    })))
}

/// `segment(granularity, text)` → `[end, wordLike, end, wordLike...]` in UTF-16 code units
/// (word-likeness only for `word`).
fn segment(granularity: String, text: String) -> Vec<f64> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out = Vec::new();
    #[allow(
        clippy::cast_precision_loss,
        reason = "indices of a JavaScript string: below 2^53"
    )]
    match granularity.as_str() {
        "word" => {
            let segmenter = WordSegmenter::new_dictionary(WordBreakInvariantOptions::default());
            let mut breaks = segmenter.segment_utf16(&units);
            while let Some(end) = breaks.next() {
                if end == 0 {
                    continue;
                }
                out.push(end as f64);
                out.push(if breaks.is_word_like() { 1.0 } else { 0.0 });
            }
        }
        "sentence" => {
            let segmenter = SentenceSegmenter::new(SentenceBreakInvariantOptions::default());
            for end in segmenter.segment_utf16(&units).filter(|&end| end > 0) {
                out.push(end as f64);
                out.push(0.0);
            }
        }
        _ => {
            let segmenter = GraphemeClusterSegmenter::new();
            for end in segmenter.segment_utf16(&units).filter(|&end| end > 0) {
                out.push(end as f64);
                out.push(0.0);
            }
        }
    }
    out
}

/// `caseMap(locale, text, upper)`.
fn case_map(ctx: Ctx<'_>, tag: String, text: String, upper: bool) -> Result<String> {
    let locale = locale(&ctx, &tag)?;
    let mapper = icu::casemap::CaseMapper::new();
    let mapped: Cow<'_, str> = if upper {
        mapper.uppercase_to_string(&text, &locale.id)
    } else {
        mapper.lowercase_to_string(&text, &locale.id)
    };
    Ok(mapped.into_owned())
}

/// `supportedValues(key)` for `Intl.supportedValuesOf` (sorted, as ECMA-402 requires).
fn supported_values(ctx: Ctx<'_>, key: String) -> Result<Vec<String>> {
    let mut values: Vec<String> = match key.as_str() {
        "calendar" => [
            "buddhist",
            "chinese",
            "coptic",
            "dangi",
            "ethioaa",
            "ethiopic",
            "gregory",
            "hebrew",
            "indian",
            "islamic-civil",
            "islamic-tbla",
            "islamic-umalqura",
            "iso8601",
            "japanese",
            "persian",
            "roc",
        ]
        .map(str::to_owned)
        .to_vec(),
        "collation" => ["default", "emoji", "eor"].map(str::to_owned).to_vec(),
        "currency" => CURRENCIES.split(' ').map(str::to_owned).collect(),
        "numberingSystem" => ["arab", "arabext", "beng", "deva", "latn", "mymr", "thai"]
            .map(str::to_owned)
            .to_vec(),
        "timeZone" => jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_owned())
            .filter(|name| {
                name.contains('/') && !name.starts_with("Etc/") && !name.starts_with("SystemV/")
                    || name == "UTC"
            })
            .collect(),
        "unit" => UNITS.map(str::to_owned).to_vec(),
        _ => return range(&ctx, &format!("invalid key: `{key}`")),
    };
    values.sort();
    values.dedup();
    Ok(values)
}

/// ISO 4217 currencies in use (the ones CLDR has symbols for).
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND \
BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN \
ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD \
JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP \
MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD \
RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD \
TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL";
