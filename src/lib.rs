//! homogen: measure outcome homogenization — whether ML systems built from shared components
//! (the same training data, the same foundation model) keep failing the same people.
//!
//! Data flows datasets -> models -> adaptation -> failure tables -> metrics -> reports; the
//! modules follow that order. `metrics` depends only on the failure-table types and does no I/O.

pub mod adapt;
pub mod alloc;
pub mod data;
pub mod decode_guard;
pub mod device;
pub mod error;
pub mod experiment;
pub mod failures;
pub mod metrics;
pub mod models;
#[cfg(feature = "cuda")]
pub(crate) mod nvrtc;
pub mod report;
pub mod tomlfile;
