//! Step 1: which windows to archive. Pure, so it is property-tested.

use hotcold_core::schema::{Window, DAY_MS};

/// The cutoff for a retention: the start of the day that holds `now - retention`.
/// Windows ending at or before it are old enough to archive.
pub fn cutoff(now_ms: i64, retention_ms: i64) -> i64 {
    Window::day_of(now_ms.saturating_sub(retention_ms)).start
}

/// Day windows from the watermark (or the oldest hot row) up to the cutoff,
/// oldest first. Windows below the watermark are archived already.
pub fn windows(watermark: Option<i64>, min_time: Option<i64>, cutoff: i64) -> Vec<Window> {
    let Some(min_time) = min_time else {
        return Vec::new();
    };
    let first = Window::day_of(min_time).start;
    let start = watermark.map_or(first, |w| w.max(first));
    let mut out = Vec::new();
    let mut t = start;
    while t + DAY_MS <= cutoff {
        out.push(Window::new(t, t + DAY_MS));
        t += DAY_MS;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn windows_tile_the_range_below_the_cutoff(
            wm_days in proptest::option::of(0i64..50),
            min in 0i64..50 * DAY_MS,
            now in 0i64..80 * DAY_MS,
            ret_days in 1i64..10,
        ) {
            let c = cutoff(now, ret_days * DAY_MS);
            let wm = wm_days.map(|d| d * DAY_MS);
            let ws = windows(wm, Some(min), c);
            for pair in ws.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
            }
            for w in &ws {
                prop_assert!(w.end <= c);
                prop_assert!(w.end <= now - ret_days * DAY_MS + DAY_MS);
                prop_assert_eq!(w.end - w.start, DAY_MS);
                if let Some(wm) = wm { prop_assert!(w.start >= wm); }
            }
            if let Some(first) = ws.first() {
                prop_assert!(first.start <= min.max(wm.unwrap_or(i64::MIN)));
            }
        }
    }

    #[test]
    fn nothing_to_do_without_rows() {
        assert!(windows(None, None, 10 * DAY_MS).is_empty());
        assert_eq!(windows(None, Some(DAY_MS + 5), 3 * DAY_MS).len(), 2);
    }
}
