//! The failure table (DESIGN.md §3): the long per-example record of every decision, its
//! validation, reading and writing, and the person × deployment view the metrics use.

mod arrow_columns;
mod builder;
pub mod mapping;
pub mod matrix;
pub mod read;
pub mod table;
pub mod write;

pub use mapping::{ColumnMap, ReadOptions, Role, Wide};
pub use matrix::{check_attribute, systems, Grouping, SystemMatrix, ABSENT, FAILED, OK};
pub use read::{read_table, read_tables, read_tables_noting, read_tables_with, Format};
pub use table::{
    columns, deployment_name_problem, Categorical, FailureTable, RowOrigin, PAIR_SEPARATOR,
};
pub use write::{
    check_output_file, check_output_folder, refuse_overwriting_inputs, temporary_sibling,
    write_atomically, write_csv, write_parquet, write_parquet_parts, write_safetensors,
    write_table,
};
