//! Reports: the tidy metrics table and its renderings (CSV, JSON, terminal table).

pub mod tidy;
