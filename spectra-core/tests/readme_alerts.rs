//! Every alert condition the README shows parses — and every one it says is refused is
//! refused — so a user who copies one gets what the README promises.

use spectra_core::alert::Condition;

const README: &str = include_str!("../../README.md");

/// Whether `span` (inline code) reads like a condition: a series or `time_to_full(…)`, then a
/// comparison.
fn looks_like_a_condition(span: &str) -> bool {
    let starts_like_a_series = span.split_once('.').is_some_and(|(kind, _)| {
        !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    }) || span.starts_with("time_to_full(");
    let compares = [" > ", " < ", " >= ", " <= ", " == ", " != "]
        .iter()
        .any(|op| span.contains(op));
    starts_like_a_series && compares && !span.contains('\n')
}

#[test]
fn every_alert_condition_in_the_readme_parses_or_is_refused_as_it_says() {
    let section = README
        .split("\n## Alerts")
        .nth(1)
        .expect("the README has an Alerts section")
        .split("\n## ")
        .next()
        .expect("its text");
    let mut parsed = 0;
    let mut refused = 0;
    // Inline code: every other piece between backticks (the fenced block's own backticks
    // leave empty pieces, which are not conditions).
    let pieces: Vec<&str> = section.split('`').collect();
    for (i, span) in pieces.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        if !looks_like_a_condition(span) {
            continue;
        }
        let after = pieces.get(i + 1).copied().unwrap_or_default();
        if after.trim_start().starts_with("(refused") {
            assert!(
                Condition::parse(span).is_err(),
                "the README says {span:?} is refused"
            );
            refused += 1;
        } else {
            if let Err(e) = Condition::parse(span) {
                panic!("the README's {span:?} does not parse: {e}");
            }
            parsed += 1;
        }
    }
    // The command line's `--condition '…'` in the fenced block.
    for line in section.lines() {
        if let Some((_, rest)) = line.split_once("--condition '") {
            let condition = rest.split('\'').next().expect("quoted");
            if let Err(e) = Condition::parse(condition) {
                panic!("the README's {condition:?} does not parse: {e}");
            }
            parsed += 1;
        }
    }
    assert!(
        parsed >= 5 && refused >= 3,
        "{parsed} parsed, {refused} refused: the examples were found"
    );
}
