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
