//! A metric's value (defined or undefined with a reason) and one measured row.

/// A metric's value: a finite number, or undefined with the reason (a zero failure rate in a
/// denominator, fewer than two groups for a variance...). Never NaN or infinite.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A finite number.
    Defined(f64),
    /// No value, and why.
    Undefined(String),
}

impl Value {
    /// A defined value when `x` is finite, otherwise undefined with `reason`.
    pub fn finite_or(x: f64, reason: impl Into<String>) -> Value {
        if x.is_finite() {
            Value::Defined(x)
        } else {
            Value::Undefined(reason.into())
        }
    }

    /// The number, when defined.
    pub fn get(&self) -> Option<f64> {
        match self {
            Value::Defined(x) => Some(*x),
            Value::Undefined(_) => None,
        }
    }

    /// The ratio `num / den`, undefined with `reason` when the denominator is 0 or either side
    /// is undefined (then the first reason is kept).
    pub fn ratio(num: &Value, den: &Value, reason: impl Into<String>) -> Value {
        match (num, den) {
            (Value::Undefined(r), _) | (_, Value::Undefined(r)) => Value::Undefined(r.clone()),
            (Value::Defined(_), Value::Defined(d)) if *d == 0.0 => Value::Undefined(reason.into()),
            (Value::Defined(n), Value::Defined(d)) => Value::finite_or(n / d, reason),
        }
    }
}

/// Relative size below which a value is float noise: a spread, sd or difference whose
/// magnitude is at most `NOISE` times the scale of the values it comes from (three seeds
/// computing 2/3 by different sums differ by ~1e-16, an sd of 1.6e-16 that means 0).
pub const NOISE: f64 = 1e-12;

/// `x`, or 0 when its magnitude is at most [`NOISE`] times `scale` (the magnitude of the values
/// `x` is a spread or difference of). For reading only: machine-readable files keep `x`.
pub fn denoise(x: f64, scale: f64) -> f64 {
    if x.abs() <= NOISE * scale.abs() {
        0.0
    } else {
        x
    }
}

/// One measured quantity of one system: the metric, its grouping, value, optional bootstrap
/// interval and permutation p-value, and a note (the worst group, excluded groups...).
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// `individual` for person-level rows, otherwise the group column's name.
    pub grouping: String,
    /// The metric's name (see the module documentation of [`crate::metrics`]).
    pub metric: String,
    /// The point estimate.
    pub value: Value,
    /// Bootstrap percentile 95% interval, when requested and defined.
    pub ci: Option<(f64, f64)>,
    /// Permutation p-value, when requested and defined.
    pub p_value: Option<f64>,
    /// Free-text remarks; empty when none.
    pub note: String,
}

impl Measurement {
    /// A row with a value and no interval, p-value or note.
    pub fn new(grouping: &str, metric: impl Into<String>, value: Value) -> Self {
        Measurement {
            grouping: grouping.to_string(),
            metric: metric.into(),
            value,
            ci: None,
            p_value: None,
            note: String::new(),
        }
    }

    /// Adds a remark to the note (separated by `; `).
    pub fn add_note(&mut self, note: &str) {
        if note.is_empty() {
            return;
        }
        if !self.note.is_empty() {
            self.note.push_str("; ");
        }
        self.note.push_str(note);
    }

    /// The same row with a note.
    pub fn with_note(mut self, note: &str) -> Self {
        self.add_note(note);
        self
    }
}

/// "1 person" or "N people", for notes.
pub fn people(n: impl std::fmt::Display) -> String {
    let n = n.to_string();
    match n.as_str() {
        "1" => "1 person".to_string(),
        _ => format!("{n} people"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_relative_to_the_scale_is_zero() {
        // The sd of 2/3 computed three ways (0.6666666666666666, ...669, ...666).
        assert_eq!(denoise(1.5700924586837752e-16, 0.6666666666666666), 0.0);
        assert_eq!(denoise(-2.2e-16, 0.5), 0.0);
        // A real spread, and a small value on a small scale, are kept.
        assert_eq!(denoise(0.0128, 0.637), 0.0128);
        assert_eq!(denoise(3e-9, 1e-6), 3e-9);
        // A zero scale keeps everything but 0.
        assert_eq!(denoise(1e-300, 0.0), 1e-300);
    }
}
