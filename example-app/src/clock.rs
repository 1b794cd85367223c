//! RFC 3339 timestamps in UTC, as the app stores them (text sorts in time order and is the
//! same on the three databases).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, e.g. `2026-11-25T04:48:09.173Z`.
pub fn now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_unix_millis(since.as_millis().try_into().unwrap_or(i64::MAX))
}

/// Formats milliseconds since the Unix epoch (clamped to years 0..=9999).
pub fn format_unix_millis(millis: i64) -> String {
    const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
    let millis = millis.clamp(MIN, MAX);
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::format_unix_millis;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_unix_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_unix_millis(1_795_581_689_173),
            "2026-11-25T04:41:29.173Z"
        );
        assert_eq!(format_unix_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_unix_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_unix_millis(i64::MIN), "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn is_rfc3339_and_sorts_as_text() {
        let a = super::now();
        assert_eq!(a.len(), 24);
        assert!(a.ends_with('Z'));
        assert!(format_unix_millis(1_000) < format_unix_millis(10_000));
    }
}
