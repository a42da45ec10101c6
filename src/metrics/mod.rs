//! Homogenization metrics: pure functions over [`crate::failures::SystemMatrix`]; no I/O.
