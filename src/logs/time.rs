//! Absolute time for real logs: an integer count of milliseconds since the Unix epoch (UTC),
//! the timestamp forms the readers meet, and the year a classic syslog line belongs to.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

/// An absolute instant: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct UnixMillis(pub i64);

/// A calendar date and time of day, as a log line writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

const MS_PER_DAY: i64 = 86_400_000;

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl UnixMillis {
    /// The instant of a UTC calendar time.
    pub fn from_civil(c: Civil) -> UnixMillis {
        let days = days_from_civil(c.year, c.month, c.day);
        let ms =
            ((c.hour as i64 * 60 + c.minute as i64) * 60 + c.second as i64) * 1000 + c.milli as i64;
        UnixMillis(days * MS_PER_DAY + ms)
    }

    /// The UTC calendar time of this instant.
    pub fn civil(self) -> Civil {
        let days = self.0.div_euclid(MS_PER_DAY);
        let ms = self.0.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = (ms / 1000) as u32;
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            milli: (ms % 1000) as u32,
        }
    }

    /// This instant plus `ms` milliseconds.
    pub fn plus(self, ms: i64) -> UnixMillis {
        UnixMillis(self.0 + ms)
    }

    /// Whole seconds since the epoch (floor).
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The instant of a file's modification time.
    pub fn from_system(t: SystemTime) -> UnixMillis {
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => UnixMillis(d.as_millis() as i64),
            Err(e) => UnixMillis(-(e.duration().as_millis() as i64)),
        }
    }
}

impl fmt::Display for UnixMillis {
    /// RFC 3339 in UTC with milliseconds: `2026-06-14T18:08:39.620Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
        )
    }
}

/// Month abbreviations as syslog writes them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month_of(b: &[u8]) -> Option<u32> {
    Some(match [b[0], b[1], b[2]] {
        [b'J', b'a', b'n'] => 1,
        [b'F', b'e', b'b'] => 2,
        [b'M', b'a', b'r'] => 3,
        [b'A', b'p', b'r'] => 4,
        [b'M', b'a', b'y'] => 5,
        [b'J', b'u', b'n'] => 6,
        [b'J', b'u', b'l'] => 7,
        [b'A', b'u', b'g'] => 8,
        [b'S', b'e', b'p'] => 9,
        [b'O', b'c', b't'] => 10,
        [b'N', b'o', b'v'] => 11,
        [b'D', b'e', b'c'] => 12,
        _ => return None,
    })
}

/// Month abbreviations of the common locales (lower case, without a trailing dot), as
/// `journalctl` and syslog daemons write them under `LC_TIME`: German (`Mär`, `Dez`, and
/// Austrian `Jän`), French (`févr.`, `déc.`), Spanish, Italian, Portuguese, Dutch, Swedish,
/// Polish, Czech, Turkish and Russian (`авг`, and the genitive `мая`).
const LOCALISED_MONTHS: [&[&str]; 12] = [
    &[
        "jan", "jän", "janv", "ene", "gen", "sty", "led", "oca", "янв",
    ],
    &["feb", "févr", "fév", "fev", "lut", "úno", "şub", "фев"],
    &["mar", "mär", "mars", "mrt", "bře", "мар"],
    &["apr", "avr", "abr", "kwi", "dub", "nis", "апр"],
    &["may", "mai", "mag", "mei", "maj", "kvě", "мая", "май"],
    &["jun", "juin", "giu", "cze", "čvn", "haz", "июн"],
    &["jul", "juil", "lug", "lip", "čvc", "tem", "июл"],
    &["aug", "août", "ago", "sie", "srp", "ağu", "авг"],
    &["sep", "sept", "set", "wrz", "zář", "eyl", "сен"],
    &["oct", "okt", "ott", "out", "paź", "říj", "eki", "окт"],
    &["nov", "lis", "kas", "ноя"],
    &["dec", "dez", "déc", "dic", "gru", "pro", "ara", "дек"],
];

/// The month of a localised abbreviation (any case, an optional trailing dot).
fn localised_month(token: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(token).ok()?;
    let name = text.strip_suffix('.').unwrap_or(text).to_lowercase();
    LOCALISED_MONTHS
        .iter()
        .position(|names| names.contains(&name.as_str()))
        .map(|i| i as u32 + 1)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// A classic syslog timestamp: no year, no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassicStamp {
    pub month: u32,
    pub day: u32,
    /// Milliseconds since local midnight.
    pub ms_of_day: u32,
}

/// `Mmm dd HH:MM:SS[.ffffff]` at the start of `b` (the day may be space-padded): the stamp
/// and the bytes it used. The month is English, or an abbreviation of a common locale
/// ([`LOCALISED_MONTHS`]: `déc. 13 12:00:47`, `авг 09 ...`).
pub fn parse_classic(b: &[u8]) -> Option<(ClassicStamp, usize)> {
    if b.len() < 15 {
        return None;
    }
    if b[3] == b' '
        && let Some(month) = month_of(&b[0..3])
    {
        return day_and_time(b, month, 3);
    }
    // A localised month: up to 8 bytes (6 letters of Cyrillic or with accents, a dot).
    let n = b.iter().take(10).position(|&c| c == b' ')?;
    if n == 0 || b[0].is_ascii_digit() {
        return None;
    }
    let month = localised_month(&b[..n])?;
    day_and_time(b, month, n)
}

/// ` dd HH:MM:SS[.fff]` after a month of `n` bytes.
fn day_and_time(b: &[u8], month: u32, n: usize) -> Option<(ClassicStamp, usize)> {
    let b2 = b.get(n..)?;
    if b2.len() < 12 || b2[0] != b' ' {
        return None;
    }
    let day = if b2[1] == b' ' {
        digits(&b2[2..3])?
    } else {
        digits(&b2[1..3])?
    };
    if b2[3] != b' ' || b2[6] != b':' || b2[9] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&b2[4..6])?, digits(&b2[7..9])?, digits(&b2[10..12])?);
    if day == 0 || day > 31 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let (milli, used) = fraction(&b2[12..]);
    let ms_of_day = ((h * 60 + m) * 60 + s.min(59)) * 1000 + milli;
    Some((
        ClassicStamp {
            month,
            day,
            ms_of_day,
        },
        n + 12 + used,
    ))
}

/// An optional `.digits` fraction of a second: milliseconds (truncated) and bytes used.
fn fraction(b: &[u8]) -> (u32, usize) {
    if b.first() != Some(&b'.') {
        return (0, 0);
    }
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return (0, 0);
    }
    let mut milli = 0;
    for i in 0..3 {
        milli = milli * 10
            + b.get(1 + i)
                .filter(|_| i < n)
                .map_or(0, |c| (c - b'0') as u32);
    }
    (milli, 1 + n)
}

/// A zone offset: `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH`: minutes east of UTC and bytes used.
fn zone(b: &[u8]) -> Option<(i32, usize)> {
    match b.first()? {
        b'Z' | b'z' => Some((0, 1)),
        sign @ (b'+' | b'-') => {
            let h = digits(b.get(1..3)?)? as i32;
            let (m, used) = match b.get(3) {
                Some(b':') => (digits(b.get(4..6)?)? as i32, 6),
                Some(c) if c.is_ascii_digit() => (digits(b.get(3..5)?)? as i32, 5),
                _ => (0, 3),
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            Some((if *sign == b'-' { -minutes } else { minutes }, used))
        }
        _ => None,
    }
}

/// `YYYY-MM-DD?HH:MM:SS[.fff][zone]` where `?` is `T` or a space: the instant (a missing
/// zone is UTC) and the bytes used.
pub fn parse_datetime(b: &[u8]) -> Option<(UnixMillis, usize)> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])? as i64;
    let (month, day) = (digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, m, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    let (milli, frac) = fraction(&b[19..]);
    let mut used = 19 + frac;
    let offset = match zone(&b[used..]) {
        Some((minutes, n)) => {
            used += n;
            minutes
        }
        None => 0,
    };
    let local = UnixMillis::from_civil(Civil {
        year,
        month,
        day,
        hour: h,
        minute: m,
        second: s.min(59),
        milli,
    });
    Some((local.plus(-(offset as i64) * 60_000), used))
}

/// Parses a UTC offset as users write it (`+02:00`, `-0330`, `Z`, `+00:00`): minutes east.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let b = text.trim().as_bytes();
    match zone(b) {
        Some((minutes, used)) if used == b.len() => Some(minutes),
        _ => None,
    }
}

/// Where the year of a classic syslog timestamp came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum YearSource {
    /// The `year` option.
    Given,
    /// The file's modification time.
    FileModified,
    /// The current time (standard input has no modification time).
    Now,
}

/// How a file's times were made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeOrigin {
    /// The year of the first classic timestamp (`None`: no classic timestamp met, every
    /// time carried its own year and zone).
    pub year: Option<i64>,
    pub year_source: YearSource,
    /// Minutes east of UTC applied to classic timestamps.
    pub utc_offset_minutes: i32,
}

/// Turns year-less, zone-less syslog stamps into instants, one file at a time.
///
/// The first stamp's year is the `year` option, else the year of the reference time (the
/// file's modification time, in the log's zone) — or the year before when the first
/// stamp's month is after the reference month. After that each stamp takes the year that
/// puts it nearest after the stamp before, allowing it to be up to [`REORDERED`] earlier
/// (syslog reordering): `Dec 31` after `Jan 1` is the Dec 31 just before, and the `Jan 1`
/// after that is in the new year again, not the year after.
#[derive(Debug, Clone)]
pub struct YearClock {
    given: Option<i64>,
    reference: UnixMillis,
    source: YearSource,
    offset_ms: i64,
    /// The first stamp's year.
    first: Option<i64>,
    /// The last stamp's year, month and instant.
    last: Option<(i64, u32, UnixMillis)>,
}

/// How much earlier than the stamp before a stamp may be and still be the same year's.
pub const REORDERED: i64 = 62 * MS_PER_DAY;

impl YearClock {
    pub fn new(given: Option<i64>, reference: UnixMillis, source: YearSource, offset: i32) -> Self {
        YearClock {
            given,
            reference,
            source: if given.is_some() {
                YearSource::Given
            } else {
                source
            },
            offset_ms: offset as i64 * 60_000,
            first: None,
            last: None,
        }
    }

    fn instant(&self, year: i64, stamp: ClassicStamp) -> Option<UnixMillis> {
        if stamp.day > days_in_month(year, stamp.month) {
            return None;
        }
        let midnight = days_from_civil(year, stamp.month, stamp.day) * MS_PER_DAY;
        Some(UnixMillis(
            midnight + stamp.ms_of_day as i64 - self.offset_ms,
        ))
    }

    /// The instant of a stamp, or `None` for a date that does not exist (Feb 30).
    pub fn resolve(&mut self, stamp: ClassicStamp) -> Option<UnixMillis> {
        let year = match self.last {
            None => {
                let year = self.given.unwrap_or_else(|| {
                    let local = self.reference.plus(self.offset_ms).civil();
                    if stamp.month > local.month {
                        local.year - 1
                    } else {
                        local.year
                    }
                });
                self.first = Some(year);
                year
            }
            Some((year, month, _)) if month == stamp.month => year,
            Some((year, _, last)) => (year - 1..=year + 1)
                .find(|&y| {
                    self.instant(y, stamp)
                        .is_some_and(|t| t.0 >= last.0 - REORDERED)
                })
                .unwrap_or(year),
        };
        let t = self.instant(year, stamp)?;
        self.last = Some((year, stamp.month, t));
        Some(t)
    }

    /// What this clock used, for the report.
    pub fn origin(&self) -> TimeOrigin {
        TimeOrigin {
            year: self.first,
            year_source: self.source,
            utc_offset_minutes: (self.offset_ms / 60_000) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-1_000_000i64, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let t = UnixMillis(1_781_460_519_620);
        assert_eq!(t.to_string(), "2026-06-14T18:08:39.620Z");
        assert_eq!(UnixMillis::from_civil(t.civil()), t);
    }

    #[test]
    fn classic_stamps() {
        let (s, n) = parse_classic(b"Jun  4 18:08:39 host").unwrap();
        assert_eq!((s.month, s.day, s.ms_of_day, n), (6, 4, 65_319_000, 15));
        let (s, n) = parse_classic(b"Dec 31 23:59:59.250 host").unwrap();
        assert_eq!((s.month, s.day, s.ms_of_day, n), (12, 31, 86_399_250, 19));
        assert!(parse_classic(b"Jux  4 18:08:39").is_none());
        assert!(parse_classic(b"Jun  4 24:08:39").is_none());
        assert!(parse_classic(b"Jun 4 18:08:39 x").is_none());
    }

    #[test]
    fn localised_stamps() {
        // journalctl under fr_FR, de_AT, ru_RU, de_DE; lower and upper case.
        for (line, month, day) in [
            ("déc. 13 12:00:47 horous sshd[4036]: x", 12, 13),
            ("août 19 11:08:37 nlaptop symphorien[4961]: test", 8, 19),
            ("Jän 10 16:00:04 grml kernel: x", 1, 10),
            ("авг 09 10:00:00 host postfix/smtp[1]: x", 8, 9),
            ("Mär  5 14:08:36 logger: test", 3, 5),
            ("févr. 28 00:00:00 h p: x", 2, 28),
            ("DEZ 24 18:00:00 h p: x", 12, 24),
        ] {
            let (stamp, used) = parse_classic(line.as_bytes()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!((stamp.month, stamp.day), (month, day), "{line}");
            assert_eq!(&line[used..used + 1], " ", "{line}");
        }
        assert!(parse_classic("xyz. 13 12:00:47 h".as_bytes()).is_none());
    }

    #[test]
    fn datetimes() {
        let (t, n) = parse_datetime(b"2026-06-14T18:08:39.620674-03:00 host").unwrap();
        assert_eq!(
            (t.to_string().as_str(), n),
            ("2026-06-14T21:08:39.620Z", 32)
        );
        let (t, n) = parse_datetime(b"2024-01-02 03:04:05+0000,").unwrap();
        assert_eq!(
            (t.to_string().as_str(), n),
            ("2024-01-02T03:04:05.000Z", 24)
        );
        let (t, _) = parse_datetime(b"2024-01-02T03:04:05Z").unwrap();
        assert_eq!(t.0, 1_704_164_645_000);
        assert!(parse_datetime(b"2023-02-29T00:00:00Z").is_none());
        assert_eq!(parse_utc_offset("+05:30"), Some(330));
        assert_eq!(parse_utc_offset("-0800"), Some(-480));
        assert_eq!(parse_utc_offset("Z"), Some(0));
        assert_eq!(parse_utc_offset("+5"), None);
    }

    fn stamp(month: u32, day: u32) -> ClassicStamp {
        ClassicStamp {
            month,
            day,
            ms_of_day: 0,
        }
    }

    #[test]
    fn year_from_modification_time_spans_new_year() {
        // Modified 2026-01-02: a log starting in December is from 2025 and runs into 2026.
        let mtime = UnixMillis::from_civil(Civil {
            year: 2026,
            month: 1,
            day: 2,
            hour: 0,
            minute: 0,
            second: 0,
            milli: 0,
        });
        let mut clock = YearClock::new(None, mtime, YearSource::FileModified, 0);
        let dec = clock.resolve(stamp(12, 31)).unwrap();
        let jan = clock.resolve(stamp(1, 1)).unwrap();
        assert_eq!(dec.civil().year, 2025);
        assert_eq!(jan.civil().year, 2026);
        assert_eq!(jan.0 - dec.0, MS_PER_DAY);
        let origin = clock.origin();
        assert_eq!(origin.year, Some(2025));
        assert_eq!(origin.year_source, YearSource::FileModified);
    }

    #[test]
    fn given_year_offset_and_reordering() {
        let mut clock = YearClock::new(Some(2024), UnixMillis(0), YearSource::Now, 120);
        let t = clock.resolve(stamp(3, 1)).unwrap();
        assert_eq!(t.to_string(), "2024-02-29T22:00:00.000Z");
        // One month back: reordering, same year.
        assert_eq!(clock.resolve(stamp(2, 29)).unwrap().civil().year, 2024);
        assert_eq!(clock.origin().utc_offset_minutes, 120);
        let mut clock = YearClock::new(Some(2023), UnixMillis(0), YearSource::Now, 0);
        assert!(clock.resolve(stamp(2, 29)).is_none());
    }

    #[test]
    fn a_late_stamp_at_new_year_does_not_push_the_year_on() {
        let mut clock = YearClock::new(Some(2025), UnixMillis(0), YearSource::Given, 0);
        let years: Vec<i64> = [(12, 31), (1, 1), (12, 31), (1, 1), (1, 2), (3, 1)]
            .iter()
            .map(|&(m, d)| clock.resolve(stamp(m, d)).unwrap().civil().year)
            .collect();
        assert_eq!(years, [2025, 2026, 2025, 2026, 2026, 2026]);
        // A gap of months forward stays in the year; a year's log runs into the next.
        let mut clock = YearClock::new(Some(2025), UnixMillis(0), YearSource::Given, 0);
        let years: Vec<i64> = [(1, 5), (8, 1), (12, 30), (2, 1)]
            .iter()
            .map(|&(m, d)| clock.resolve(stamp(m, d)).unwrap().civil().year)
            .collect();
        assert_eq!(years, [2025, 2025, 2025, 2026]);
    }
}
