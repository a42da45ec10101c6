//! Reports: the tidy metrics table and its renderings (CSV, JSON, terminal table), and the
//! atomic writing of figures.

pub mod figure;
pub mod tidy;
