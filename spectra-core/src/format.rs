//! Human-readable presentation shared by every frontend that prints.

/// Bytes in binary units with one decimal (`1.5 KiB`, `3.0 GiB`); exact below 1 KiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A size someone set (a quota's limit, a policy's threshold) exactly, in the unit that writes
/// its number shortest — decimal or binary, as it was most likely given: `5 MB` (5,000,000), `5 MiB`
/// (5,242,880), `1.5 GB`, `123 B`. It reads back through [`crate::units::parse_size`] to the
/// same number. Measured sizes use [`bytes`] (binary units, one decimal).
pub fn exact_size(n: u64) -> String {
    const UNITS: [(&str, u128); 10] = [
        ("PB", 1_000_000_000_000_000),
        ("PiB", 1 << 50),
        ("TB", 1_000_000_000_000),
        ("TiB", 1 << 40),
        ("GB", 1_000_000_000),
        ("GiB", 1 << 30),
        ("MB", 1_000_000),
        ("MiB", 1 << 20),
        ("KB", 1_000),
        ("KiB", 1 << 10),
    ];
    let mut best = format!("{n} B");
    // Judged by the number's digits, so that a unit beats bytes (`1.5 KiB`, not `1536 B`).
    let mut best_digits = best.len() - 2;
    for (name, size) in UNITS {
        let n = u128::from(n);
        // At most three decimals, exactly.
        if n < size || (n * 1000) % size != 0 {
            continue;
        }
        let whole = n / size;
        let thousandths = (n % size) * 1000 / size;
        let number = if thousandths == 0 {
            whole.to_string()
        } else {
            let decimals = format!("{thousandths:03}");
            format!("{whole}.{}", decimals.trim_end_matches('0'))
        };
        if number.len() < best_digits {
            best_digits = number.len();
            best = format!("{number} {name}");
        }
    }
    best
}

/// Seconds as a person reads a span: `42.5 s`, `2m 5s`, `3h 20m`, `4d 2h`.
pub fn seconds(value: f64) -> String {
    let sign = if value < 0.0 { "-" } else { "" };
    let value = value.abs();
    if value < 60.0 {
        return format!("{sign}{value:.1} s");
    }
    let total = value.round() as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    if days > 0 {
        format!("{sign}{days}d {hours}h")
    } else if hours > 0 {
        format!("{sign}{hours}h {minutes}m")
    } else {
        format!("{sign}{minutes}m {secs}s")
    }
}

/// A duration in seconds, to the millisecond, without trailing zeros (`30 s`, `2.5 s`).
pub fn duration(d: std::time::Duration) -> String {
    let millis = d.as_millis();
    let (whole, fraction) = (millis / 1000, millis % 1000);
    if fraction == 0 {
        format!("{whole} s")
    } else {
        let fraction = format!("{fraction:03}");
        format!("{whole}.{} s", fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_size_shows_as_it_was_given_and_reads_back() {
        for (n, shown) in [
            (5_000_000, "5 MB"),
            (5 << 20, "5 MiB"),
            (1_500_000_000, "1.5 GB"),
            (500_000_000_000_000, "500 TB"),
            (123, "123 B"),
            (1536, "1.5 KiB"),
            (1_000_001, "1000001 B"),
        ] {
            assert_eq!(exact_size(n), shown, "{n}");
            assert_eq!(crate::units::parse_size(shown).expect(shown), n, "{shown}");
        }
    }

    #[test]
    fn spans_read_in_their_largest_units() {
        assert_eq!(seconds(42.46), "42.5 s");
        assert_eq!(seconds(125.0), "2m 5s");
        assert_eq!(seconds(3.0 * 3600.0 + 20.0 * 60.0), "3h 20m");
        assert_eq!(seconds(-90.0), "-1m 30s");
        assert_eq!(seconds(4.0 * 86_400.0 + 7200.0), "4d 2h");
    }

    #[test]
    fn durations_read_in_seconds() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_secs(30)), "30 s");
        assert_eq!(duration(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(duration(Duration::from_millis(250)), "0.25 s");
        assert_eq!(duration(Duration::from_millis(1)), "0.001 s");
    }

    #[test]
    fn sizes_read_like_du_h() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }
}
