//! Chaos harness (issue: chaos and deployment).
