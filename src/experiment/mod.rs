//! Experiments: the data-sharing protocol, tabular learners and the runner that turns trials
//! into failure tables, measurements and reports.

pub mod config;
pub mod datasharing;
pub mod learners;
pub mod modelsharing;
pub mod protocol;
