//! Datasets and groupings: each loader turns files in their published layout into the people,
//! features, task labels and group columns an experiment needs.

pub mod tabular;
