use super::*;

/// The error of a query, or `None` when it parses.
fn ask(schema: &TableSchema, kind: Kind, q: &str) -> Result<(), String> {
    let pairs = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let p = merge_pairs(Some(kind), pairs).map_err(|e| e.message)?;
    parse(&QueryConfig::default(), schema, kind, &p)
        .map(drop)
        .map_err(|e| e.message)
}

/// `from`/`to` take what `ingest` takes: epoch ms, a date, ClickHouse
/// text, RFC 3339 with any offset (also with its `+` decoded as a
/// space); a zone name or excess precision is a 400 naming the key.
#[test]
fn time_parameters_take_offsets_and_name_bad_ones() {
    let t = |v: &str| {
        let p = HashMap::from([("from".to_string(), v.to_string())]);
        time_param(&p, "from").map_err(|e| e.message)
    };
    let utc = 1_763_632_800_123; // 2025-11-20T10:00:00.123Z
    assert_eq!(t("1763632800123"), Ok(utc));
    assert_eq!(t("2025-11-20T10:00:00.123Z"), Ok(utc));
    assert_eq!(t("2025-11-20 10:00:00.123"), Ok(utc));
    assert_eq!(t("2025-11-20T18:00:00.123+08:00"), Ok(utc));
    assert_eq!(
        t("2025-11-20T18:00:00.123 08:00"),
        Ok(utc),
        "a + decoded as a space"
    );
    assert_eq!(t("2025-11-20T05:00:00.123-05:00"), Ok(utc));
    assert_eq!(t("2025-11-20"), Ok(utc - 36_000_123));
    let e = t("2025-11-20T10:00:00 Europe/Paris").expect_err("zone name");
    assert!(e.contains("from=") && e.contains("Europe/Paris"), "{e}");
    let e = t("2025-11-20T10:00:00.1234Z").expect_err("precision");
    assert!(e.contains("from=") && e.contains("fractional"), "{e}");
    assert!(t("soon").expect_err("garbage").contains("from=\"soon\""));
    let e = t("2025-11-20T10:00:00 ").expect_err("a trailing space");
    assert!(!e.contains("\"+\""), "names what was typed: {e}");
    assert!(t("2025-11-20T10:00:00 0").is_err());
    assert!(
        t("2025-11-20T10:00:00 99:00").is_err(),
        "an offset out of range"
    );
}

#[test]
fn an_answer_never_has_two_columns_of_one_name() {
    let s = TableSchema::new(
        "t",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("count", LogicalType::LcString),
            ("px", LogicalType::Float64),
        ],
    );
    let e = ask(&s, Kind::Stats, "from=0&to=10&group_by=count").unwrap_err();
    assert!(
        e.contains("two columns named \"count\"") && e.contains("group_by"),
        "{e}"
    );
    let e = ask(&s, Kind::Rows, "from=0&to=10&columns=px,px").unwrap_err();
    assert!(
        e.contains("two columns named \"px\"") && e.contains("columns="),
        "{e}"
    );
    assert!(ask(&s, Kind::Stats, "from=0&to=10&group_by=count&columns=ts,px").is_err());
    assert!(ask(&s, Kind::Rows, "from=0&to=10&columns=px,ts").is_ok());
}
