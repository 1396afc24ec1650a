use super::*;
use proptest::prelude::*;

#[test]
fn known_instants() {
    assert_eq!(parse_timestamp_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_timestamp_ms("2024-02-29T23:59:59.999Z"),
        Some(1_709_251_199_999)
    );
    assert_eq!(parse_timestamp_ms("2024-02-30T00:00:00Z"), None);
    assert_eq!(parse_timestamp_ms("2024-01-01T24:00:00Z"), None);
    assert_eq!(parse_timestamp_ms("2024-01-01"), Some(1_704_067_200_000));
    assert_eq!(parse_timestamp_ms("not a time"), None);
    assert_eq!(format_date(0), "1970-01-01");
}

#[test]
fn instants_as_collectors_send_them() {
    let t = 1_795_168_800_123; // 2026-11-20T10:00:00.123Z
    for s in [
        "2026-11-20 10:00:00.123",
        "2026-11-20T10:00:00.123Z",
        "2026-11-20t10:00:00.123z",
        "2026-11-20T18:00:00.123+08:00",
        "2026-11-20T18:00:00.123+0800",
        "2026-11-20T05:30:00.123-04:30",
        "2026-11-20T10:00:00.123+00:00",
        "2026-11-20T10:00:00.123-00:00",
        "2026-11-20 10:00:00.123 UTC",
        "2026-11-20T10:00:00.123000Z",
        "2026-11-20 10:00:00.123000000",
        "1795168800123",
    ] {
        assert_eq!(parse_instant_ms(s), Ok(t), "{s}");
    }
    assert_eq!(parse_instant_ms("2026-11-20 10:00:00"), Ok(t - 123));
    assert_eq!(parse_instant_ms("2026-11-20T10:00:00.1Z"), Ok(t - 23));
    assert_eq!(parse_instant_ms("2026-11-21T02:00:00+16"), Ok(t - 123));
    assert_eq!(parse_instant_ms("2026-11-20"), Ok(t - 36_000_123));
}

#[test]
fn instants_the_column_cannot_keep_say_why() {
    use TimeError as E;
    assert_eq!(
        parse_instant_ms("2026-11-20 10:00:00.1234"),
        Err(E::TooPrecise(4))
    );
    assert_eq!(
        parse_instant_ms("2026-11-20T10:00:00.123000001Z"),
        Err(E::TooPrecise(9))
    );
    assert_eq!(
        parse_instant_ms("2026-11-20T10:00:00 Europe/Paris"),
        Err(E::UnknownZone("Europe/Paris".into()))
    );
    assert_eq!(
        parse_instant_ms("2026-11-20T10:00:00EST"),
        Err(E::UnknownZone("EST".into()))
    );
    for bad in [
        "+8:00",
        "+08:0",
        "+24:00",
        "+08:60",
        "+08:00:00",
        "*08",
        "+é0",
        "+0é00",
    ] {
        assert_eq!(
            parse_instant_ms(&format!("2026-11-20T10:00:00{bad}")),
            Err(E::BadOffset(bad.into())),
            "{bad}"
        );
    }
    for bad in [
        "",
        "2026-11-20T",
        "2026-11-20T10:00",
        "2026-11-20T10:00:60Z",
        "2026-11-20T10:00:00.Z",
        "2026-13-01 00:00:00",
        "2026-11-20X10:00:00",
        "2026-11-20T1é:00:00",
        "now",
    ] {
        assert_eq!(parse_instant_ms(bad), Err(E::Malformed), "{bad:?}");
    }
    let e = E::TooPrecise(6).to_string();
    assert!(e.contains("milliseconds") && e.contains("zeros"), "{e}");
}

#[test]
fn dates_take_a_midnight_and_refuse_another_time() {
    let d = 20_412; // 2025-11-20
    for s in [
        "2025-11-20",
        "2025-11-20 00:00:00",
        "2025-11-20T00:00:00.000Z",
        "2025-11-20T08:00:00+08:00",
    ] {
        assert_eq!(parse_day(s), Ok(d), "{s}");
    }
    assert_eq!(
        parse_day("2025-11-20 10:00:00"),
        Err(TimeError::NotMidnight("2025-11-20T10:00:00.000Z".into()))
    );
    assert_eq!(
        parse_day("2025-11-20T00:00:00+08:00"),
        Err(TimeError::NotMidnight("2025-11-19T16:00:00.000Z".into()))
    );
    assert_eq!(
        parse_day("2025-11-20 00:00:00.0001"),
        Err(TimeError::TooPrecise(4))
    );
    assert_eq!(parse_day("20412"), Err(TimeError::Malformed));
}

proptest! {
    /// Every written form of one instant reads back as that instant:
    /// ClickHouse's text, RFC 3339 at any offset, zero-padded nanoseconds.
    #[test]
    fn every_form_of_an_instant_reads_the_same(
        ms in 100_000_000_000i64..253_402_214_400_000,
        offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        zeros in 0usize..7,
    ) {
        let utc = format_timestamp_ms(ms);
        prop_assert_eq!(parse_instant_ms(&utc), Ok(ms));
        let ch = format!("{} {}", &utc[..10], &utc[11..23]);
        prop_assert_eq!(parse_instant_ms(&ch), Ok(ms));
        prop_assert_eq!(parse_instant_ms(&format!("{ch}{}", "0".repeat(zeros))), Ok(ms));
        let local = format_timestamp_ms(ms + offset_min * 60_000);
        let sign = if offset_min < 0 { '-' } else { '+' };
        let (h, m) = (offset_min.abs() / 60, offset_min.abs() % 60);
        let rfc = format!("{}{sign}{h:02}:{m:02}", &local[..23]);
        prop_assert_eq!(parse_instant_ms(&rfc), Ok(ms), "{}", rfc);
    }

    /// A nonzero digit past the millisecond is always refused, never
    /// rounded or cut.
    #[test]
    fn sub_millisecond_digits_are_refused(ms in 100_000_000_000i64..253_402_214_400_000, extra in 1u32..999_999) {
        let utc = format_timestamp_ms(ms);
        let s = format!("{}{extra:06}Z", &utc[..23]);
        prop_assert!(matches!(parse_instant_ms(&s), Err(TimeError::TooPrecise(9))), "{}", s);
    }

    #[test]
    fn instant_parsing_never_panics(s in "[0-9T:.+ Z-]{0,40}|.{0,40}") {
        let _ = parse_instant_ms(&s);
        let _ = parse_day(&s);
    }

    #[test]
    fn timestamps_round_trip(ms in 0i64..253_402_300_799_999) {
        prop_assert_eq!(parse_timestamp_ms(&format_timestamp_ms(ms)), Some(ms));
    }

    #[test]
    fn never_panics(s in ".{0,40}") {
        let _ = parse_timestamp_ms(&s);
    }
}
