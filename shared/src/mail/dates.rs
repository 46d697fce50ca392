//! Moments as a team reads them: on its own calendar, in its own time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Calendar days from `from` to `to`, both taken as dates in `tz`: a deadline tomorrow at
/// 01:00 is one day away at 23:30 today, whatever the hours between.
pub(crate) fn calendar_days(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> i64 {
    let from = from.with_timezone(&tz).date_naive();
    let to = to.with_timezone(&tz).date_naive();
    (to - from).num_days()
}

/// "Dec 5".
pub(crate) fn short_date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%b %-d").to_string()
}

/// "Sat, Dec 5, 2026".
pub(crate) fn long_date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a, %b %-d, %Y").to_string()
}

/// "Sat, Dec 5, 2026, 09:00 (Asia/Tokyo)".
pub(crate) fn date_and_time(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    format!(
        "{}, {} ({})",
        long_date(at, tz),
        local.format("%H:%M"),
        tz.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn days_are_counted_on_the_team_calendar() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 14, 30, 0).unwrap();
        let by = Utc.with_ymd_and_hms(2026, 12, 5, 16, 0, 0).unwrap();

        assert_eq!(calendar_days(now, by, chrono_tz::Asia::Tokyo), 5);
        assert_eq!(calendar_days(now, by, chrono_tz::UTC), 4);
        assert_eq!(calendar_days(by, now, chrono_tz::UTC), -4);
    }

    #[test]
    fn dates_are_written_in_the_team_time_zone() {
        let by = Utc.with_ymd_and_hms(2026, 12, 5, 16, 0, 0).unwrap();

        assert_eq!(short_date(by, chrono_tz::Asia::Tokyo), "Dec 6");
        assert_eq!(
            date_and_time(by, chrono_tz::Asia::Tokyo),
            "Sun, Dec 6, 2026, 01:00 (Asia/Tokyo)"
        );
        assert_eq!(
            date_and_time(by, chrono_tz::UTC),
            "Sat, Dec 5, 2026, 16:00 (UTC)"
        );
    }
}
