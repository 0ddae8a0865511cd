//! The Prometheus text exposition format, version 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
//!
//! Per family: `# HELP` (backslash and newline escaped), `# TYPE`, then one line per sample,
//! label values escaped (backslash, double quote, newline). A histogram writes cumulative
//! `_bucket` samples ending with `le="+Inf"`, then `_sum` and `_count`; `+Inf` and `_count` are
//! the same number, computed from one read of the buckets.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{Cell, Family, Kind, lock};

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends one family (its description, then its series in label order).
pub(crate) fn family(out: &mut String, f: &Family) {
    let series = lock(&f.series);
    let kind = match f.kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram(_) => "histogram",
    };
    let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
    let _ = writeln!(out, "# TYPE {} {kind}", f.name);
    for (values, cell) in series.iter() {
        let labels = label_pairs(&f.label_names, values);
        match cell {
            Cell::Counter(c) => sample(out, &f.name, "", &labels, None, &c.get().to_string()),
            Cell::Gauge(g) => sample(out, &f.name, "", &labels, None, &float(g.get())),
            Cell::Histogram(h) => {
                let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
                let mut cumulative = 0u64;
                for (i, n) in counts.iter().enumerate() {
                    cumulative += n;
                    let le = h.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| float(*b));
                    sample(out, &f.name, "_bucket", &labels, Some(&le), &cumulative.to_string());
                }
                sample(out, &f.name, "_sum", &labels, None, &float(h.sum()));
                sample(out, &f.name, "_count", &labels, None, &cumulative.to_string());
            }
        }
    }
}

fn label_pairs(names: &[String], values: &[String]) -> String {
    let mut s = String::new();
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{n}=\"{}\"", escape_label(v));
    }
    s
}

fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<&str>, value: &str) {
    out.push_str(name);
    out.push_str(suffix);
    match (labels.is_empty(), le) {
        (true, None) => {}
        (false, None) => {
            let _ = write!(out, "{{{labels}}}");
        }
        (true, Some(le)) => {
            let _ = write!(out, "{{le=\"{le}\"}}");
        }
        (false, Some(le)) => {
            let _ = write!(out, "{{{labels},le=\"{le}\"}}");
        }
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A sample value as Prometheus parses it: `NaN`, `+Inf`, `-Inf`, or a decimal number (Rust's
/// `Display` for `f64` never uses an exponent, and prints integers without a fraction).
pub(crate) fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// `# HELP` text: backslash and line feed escaped.
pub(crate) fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value: backslash, double quote and line feed escaped.
pub(crate) fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
