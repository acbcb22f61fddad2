//! Sweeps: one scenario run once per value of one of its parameters (a dotted path such as
//! `crash_rate` or `network.loss`), the reports side by side.

use serde::Serialize;

use crate::{Report, Scenario, run};

/// Why a sweep cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The scenario cannot be written as TOML (not expected for a parsed one).
    #[error("scenario: {0}")]
    Encode(#[from] toml::ser::Error),
    /// The path names no parameter of the scenario.
    #[error("no scenario parameter '{0}'")]
    UnknownParameter(String),
    /// A value does not fit the parameter.
    #[error("'{parameter} = {value}': {reason}")]
    BadValue {
        /// The parameter.
        parameter: String,
        /// The value.
        value: String,
        /// What the scenario made of it.
        reason: String,
    },
}

/// One point of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The parameter's value, as given.
    pub value: String,
    /// The report at that value.
    pub report: Report,
}

/// Runs `base` once per value of `parameter`. Values are TOML literals (`0.05`, `3`,
/// `"fixed"`); a bare word that is not one is taken as a string.
///
/// # Errors
///
/// [`SweepError`] when the parameter does not exist or a value does not fit it.
pub fn sweep(
    base: &Scenario,
    parameter: &str,
    values: &[String],
) -> Result<Vec<Point>, SweepError> {
    values
        .iter()
        .map(|value| {
            let scenario = scenario_at(base, parameter, value)?;
            Ok(Point { value: value.clone(), report: run(&scenario) })
        })
        .collect()
}

/// `base` with `parameter` set to `value` (a TOML literal, as for [`sweep`]): one point of a
/// sweep that the caller runs itself (a live sweep runs each point on real nodes).
///
/// # Errors
///
/// [`SweepError`] when the parameter does not exist or the value does not fit it.
pub fn scenario_at(base: &Scenario, parameter: &str, value: &str) -> Result<Scenario, SweepError> {
    with(&toml::Table::try_from(base)?, parameter, value)
}

/// Writes a sweep as CSV: the parameter's value, then the report's fields.
///
/// # Errors
///
/// Writing failed.
pub fn write_sweep_csv(
    parameter: &str,
    points: &[Point],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = points
        .iter()
        .map(|p| match serde_json::to_value(&p.report) {
            Ok(serde_json::Value::Object(fields)) => flatten(fields),
            _ => serde_json::Map::new(),
        })
        .collect();
    let Some(first) = rows.first() else { return Ok(()) };
    let names: Vec<&String> = first.keys().collect();
    let header: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    writeln!(out, "{parameter},{}", header.join(","))?;
    for (point, row) in points.iter().zip(&rows) {
        let cells: Vec<String> = names.iter().map(|n| row[n.as_str()].to_string()).collect();
        writeln!(out, "{},{}", point.value, cells.join(","))?;
    }
    Ok(())
}

/// Nested objects (a live run's `live`) become columns `live.nodes`, `live.form_s`, ….
fn flatten(
    fields: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut flat = serde_json::Map::new();
    for (name, value) in fields {
        match value {
            serde_json::Value::Object(inner) => {
                for (inner_name, value) in flatten(inner) {
                    flat.insert(format!("{name}.{inner_name}"), value);
                }
            }
            value => {
                flat.insert(name, value);
            }
        }
    }
    flat
}

fn with(table: &toml::Table, parameter: &str, value: &str) -> Result<Scenario, SweepError> {
    let bad = |reason: String| SweepError::BadValue {
        parameter: parameter.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let parsed: toml::Value = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let mut table = table.clone();
    let mut slot = &mut table;
    let mut parts = parameter.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            let Some(old) = slot.get(part) else {
                return Err(SweepError::UnknownParameter(parameter.to_owned()));
            };
            // Integers given for a float parameter are meant as that float.
            let parsed = match (old, parsed) {
                (toml::Value::Float(_), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
                (_, parsed) => parsed,
            };
            slot.insert(part.to_owned(), parsed);
            break;
        }
        slot = match slot.get_mut(part) {
            Some(toml::Value::Table(inner)) => inner,
            _ => return Err(SweepError::UnknownParameter(parameter.to_owned())),
        };
    }
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| bad(e.message().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn more_crashes_fail_more_calls() {
        let base = Scenario { requests: 2_000, racers: 1, ..Scenario::default() };
        let points = sweep(&base, "crash_rate", &values(&["0", "0.1", "0.3"])).unwrap();
        let failed: Vec<usize> = points.iter().map(|p| p.report.timed_out).collect();
        assert_eq!(failed[0], 0);
        assert!(failed[0] < failed[1] && failed[1] < failed[2], "{failed:?}");
    }

    #[test]
    fn nested_parameters_and_typed_errors() {
        let base = Scenario { requests: 500, ..Scenario::default() };
        let points = sweep(&base, "network.loss", &values(&["0", "0.2"])).unwrap();
        assert_eq!(points[0].report.lost_messages, 0);
        assert!(points[1].report.lost_messages > 0);
        assert!(matches!(
            sweep(&base, "network.nope", &values(&["1"])),
            Err(SweepError::UnknownParameter(p)) if p == "network.nope"
        ));
        assert!(matches!(
            sweep(&base, "workers", &values(&["many"])),
            Err(SweepError::BadValue { .. })
        ));
    }
}
