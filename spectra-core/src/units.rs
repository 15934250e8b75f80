//! Sizes (`10GB`, `1.5GiB`), durations (`90d`, `15m`) and dates as people type them, read
//! once for every frontend: policy rules, alert conditions, the server's query parameters,
//! the agent's configuration and the CLI's options.
//!
//! Sizes: `KB`, `MB`, `GB`, `TB`, `PB` are powers of 1000, `KiB` … `PiB` (and `K`, `M`, `G`,
//! `T`, `P`) powers of 1024; a plain number is bytes. Durations: `s`, `m` (or `min`), `h`,
//! `d`, `w`, `y` (365 days).
//!
//! ```
//! use spectra_core::units::{parse_duration, parse_size};
//! assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
//! assert_eq!(parse_size("2KiB").unwrap(), 2048);
//! assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
//! assert!(parse_size("lots").is_err());
//! ```

/// A duration as rules write it (`14d`, `12h`, `90m`, `2w`), for options such as
/// `purge --older-than`.
pub fn parse_duration(text: &str) -> crate::Result<std::time::Duration> {
    match parse_number(text) {
        Ok(Literal::Seconds(secs)) if secs >= 0.0 => std::time::Duration::try_from_secs_f64(secs)
            .map_err(|e| crate::Error::invalid("duration", format!("'{text}': {e}"))),
        _ => Err(crate::Error::invalid(
            "duration",
            format!("'{text}' is not a duration such as 14d, 12h or 30m"),
        )),
    }
}

/// A size as rules write it (`1.5GB`, `500MiB`, `10TB`; a plain number is bytes), for
/// options and query parameters such as `--min-size` and `min_size=`.
pub fn parse_size(text: &str) -> crate::Result<u64> {
    match parse_number(text.trim()) {
        Ok(Literal::Bytes(bytes) | Literal::Plain(bytes))
            if bytes >= 0.0 && bytes.fract() == 0.0 && bytes < u64::MAX as f64 =>
        {
            Ok(bytes as u64)
        }
        _ => Err(crate::Error::invalid(
            "size",
            format!("'{text}' is not a size such as 500MB, 1.5GiB or 10TB"),
        )),
    }
}

pub(crate) enum Literal {
    Plain(f64),
    Bytes(f64),
    Seconds(f64),
    Date(f64),
}

impl Literal {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Literal::Plain(_) => "a plain number",
            Literal::Bytes(_) => "a size",
            Literal::Seconds(_) => "a duration",
            Literal::Date(_) => "a date",
        }
    }
}

/// `42`, `1.5GB` (×1000ⁿ), `500MiB` (×1024ⁿ), `90d`, `12h`, `2025-01-01`.
pub(crate) fn parse_number(text: &str) -> Result<Literal, String> {
    if text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-' {
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|e| format!("bad date '{text}': {e}"))?;
        let midnight = date
            .and_hms_opt(0, 0, 0)
            .ok_or_else(|| format!("bad date '{text}'"))?;
        return Ok(Literal::Date(midnight.and_utc().timestamp() as f64));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    // `5 MB` as well as `5MB`: what tables print reads back.
    let unit = unit.trim_start_matches(' ');
    let value: f64 = digits.parse().map_err(|_| format!("bad number '{text}'"))?;
    let scale = |base: f64, power: i32| value * base.powi(power);
    Ok(match unit {
        "" => Literal::Plain(value),
        "B" | "b" => Literal::Bytes(value),
        "KB" | "kB" | "kb" => Literal::Bytes(scale(1000.0, 1)),
        "MB" | "mb" => Literal::Bytes(scale(1000.0, 2)),
        "GB" | "gb" => Literal::Bytes(scale(1000.0, 3)),
        "TB" | "tb" => Literal::Bytes(scale(1000.0, 4)),
        "PB" | "pb" => Literal::Bytes(scale(1000.0, 5)),
        "KiB" | "K" => Literal::Bytes(scale(1024.0, 1)),
        "MiB" | "M" => Literal::Bytes(scale(1024.0, 2)),
        "GiB" | "G" => Literal::Bytes(scale(1024.0, 3)),
        "TiB" | "T" => Literal::Bytes(scale(1024.0, 4)),
        "PiB" | "P" => Literal::Bytes(scale(1024.0, 5)),
        "s" => Literal::Seconds(value),
        "m" | "min" => Literal::Seconds(value * 60.0),
        "h" => Literal::Seconds(value * 3600.0),
        "d" => Literal::Seconds(value * 86_400.0),
        "w" => Literal::Seconds(value * 7.0 * 86_400.0),
        "y" => Literal::Seconds(value * 365.0 * 86_400.0),
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': sizes B KB MB GB TB KiB MiB GiB TiB, durations s m h d w y"
            ));
        }
    })
}
