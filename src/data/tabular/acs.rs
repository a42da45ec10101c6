//! ACS PUMS person files (2018 1-year, `psam_pNN.csv` or the Census Bureau's `csv_pxx.zip`)
//! with the three folktables tasks the paper uses, on the same people:
//!
//! - `employment` — folktables' ACSEmployment: ESR == 1;
//! - `income_poverty` — ACSIncomePovertyRatio: POVPIP < 250;
//! - `health_insurance` — ACSHealthInsurance: HINS2 == 1.
//!
//! Feature lists are folktables' (`folktables/acs.py`), each task seeing its own list. As in
//! folktables, none of these three tasks filters rows, features are the raw numeric codes, and a
//! missing value (an empty field) becomes 0 (folktables' `np.nan_to_num(..., nan=0.0)`); a missing
//! target compares false (pandas' `NaN == 1` and `NaN < 250` are false), so it is label 0. Every
//! one of these is counted in the dataset's notes. Group `race` from RAC1P with its nine census
//! names.
//!
//! Several person files (one per state) load as one population, as folktables'
//! `ACSDataSource(...).get_data()` concatenates its states' files: [`load_paths`] takes a list
//! of files, or a folder holding one file per state (folktables' `ROOT/2018/1-Year/`, where
//! `homogen fetch dataset acs` writes), by default every state of folktables' list (the 50
//! states and Puerto Rico, not DC: [`fetch::FOLKTABLES_STATES`]). The files are concatenated
//! in folktables' state order, ascending `ST` code (AL, AK, AZ, ..., WY, PR), whatever order
//! they are given in, so a population always has the same row order: person `i` (its
//! `example_id`) is the `i`-th row of that concatenation. Every file must have the same header
//! (one survey's layout) and a different state. Files are streamed (a zip is decompressed on
//! the fly), keeping only the columns the tasks need: 3.2 million people take about 1 GiB at
//! peak, where folktables takes 23 GiB for the same files (BENCHMARKS.md).

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{fetch, GroupColumn, TabularDataset, Task};
use crate::error::{Error, InputError, Result};

/// folktables' ACSEmployment features.
pub const EMPLOYMENT_FEATURES: [&str; 16] = [
    "AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR",
    "DEYE", "DREM", "SEX", "RAC1P",
];
/// folktables' ACSIncomePovertyRatio features.
pub const INCOME_POVERTY_FEATURES: [&str; 20] = [
    "AGEP", "SCHL", "MAR", "SEX", "DIS", "ESP", "MIG", "CIT", "MIL", "ANC", "NATIVITY", "RELP",
    "DEAR", "DEYE", "DREM", "RAC1P", "GCL", "ESR", "OCCP", "WKHP",
];
/// folktables' ACSHealthInsurance features.
pub const HEALTH_INSURANCE_FEATURES: [&str; 25] = [
    "AGEP", "SCHL", "MAR", "SEX", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR",
    "DEYE", "DREM", "RACAIAN", "RACASN", "RACBLK", "RACNH", "RACPI", "RACSOR", "RACWHT", "PINCP",
    "ESR", "ST", "FER",
];

/// RAC1P codes 1..=9 and their census names.
pub const RACE_NAMES: [&str; 9] = [
    "White alone",
    "Black or African American alone",
    "American Indian alone",
    "Alaska Native alone",
    "American Indian and Alaska Native tribes specified, or not specified",
    "Asian alone",
    "Native Hawaiian and Other Pacific Islander alone",
    "Some Other Race alone",
    "Two or More Races",
];

/// One folktables task: name, features, target column and the rule making it positive.
struct AcsTask {
    name: &'static str,
    features: &'static [&'static str],
    target: &'static str,
    positive: fn(f64) -> bool,
}

const TASKS: [AcsTask; 3] = [
    AcsTask {
        name: "employment",
        features: &EMPLOYMENT_FEATURES,
        target: "ESR",
        positive: |v| v == 1.0,
    },
    AcsTask {
        name: "income_poverty",
        features: &INCOME_POVERTY_FEATURES,
        target: "POVPIP",
        positive: |v| v < 250.0,
    },
    AcsTask {
        name: "health_insurance",
        features: &HEALTH_INSURANCE_FEATURES,
        target: "HINS2",
        positive: |v| v == 1.0,
    },
];

/// How to get person files, for the error about a missing one.
const HOW_TO_GET: &str = "`homogen fetch dataset acs --state all` downloads folktables' 51 \
     person files (the 50 states and Puerto Rico) to data/acs/2018/1-Year/ (`--state CA`: one \
     state; `--root DIR`: another folder), which `data.path` in the config names";

/// The error for a person file that cannot be opened; a missing one says how to download it.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    Error::reading_or_fetch(path, e, Some(HOW_TO_GET))
}

/// Loads one ACS person file, a `.csv` (`psam_pNN.csv`) or a `.zip` holding one
/// (`csv_pxx.zip`); a folder loads as [`load_paths`] does it (every state of folktables' list).
pub fn load(path: &Path) -> Result<TabularDataset> {
    load_paths(&[path.to_path_buf()], None).map(|(ds, _)| ds)
}

/// Loads the people of several person files as one population and returns the files in the
/// order they were concatenated (folktables' state order).
///
/// `paths` is one file, a list of files, or one folder. A folder is read as folktables' data
/// folder (`ROOT/2018/1-Year/`): for each state of `states` (postal codes; `None` means
/// folktables' 51, the 50 states and Puerto Rico) it holds `psam_pNN.csv` (the extracted file
/// folktables keeps) or `csv_pxx.zip` (the Census Bureau's zip, as `homogen fetch` keeps it);
/// when both are there the `.csv` is read. A state without a file is bad input naming the
/// files expected and how to download them. `states` with files rather than a folder is bad
/// input.
pub fn load_paths(
    paths: &[PathBuf],
    states: Option<&[String]>,
) -> Result<(TabularDataset, Vec<PathBuf>)> {
    let files = person_files(paths, states)?;
    load_files(&files)
}

/// The person files `paths` and `states` name (see [`load_paths`]), before ordering.
pub fn person_files(paths: &[PathBuf], states: Option<&[String]>) -> Result<Vec<PathBuf>> {
    match paths {
        [] => Err(InputError::new("no ACS person file given").into()),
        [dir] if dir.is_dir() => folder_files(dir, states),
        _ => {
            if let Some(dir) = paths.iter().find(|p| p.is_dir()) {
                return Err(InputError::new(
                    "is a folder; a list of paths names person files (psam_pNN.csv or \
                     csv_pxx.zip), and a folder of them is given alone",
                )
                .in_file(dir)
                .into());
            }
            if states.is_some() {
                return Err(InputError::new(
                    "`states` picks the files of a folder; with person files named one by one, \
                     leave it out (or point `path` at their folder)",
                )
                .in_file(&paths[0])
                .at_key("data.states")
                .into());
            }
            Ok(paths.to_vec())
        }
    }
}

/// The person files of `states` (default: folktables' list) in folder `dir`, in folktables'
/// order.
fn folder_files(dir: &Path, states: Option<&[String]>) -> Result<Vec<PathBuf>> {
    let mut codes: Vec<(u32, String)> = Vec::new();
    let wanted: Vec<String> = match states {
        Some(s) => s.to_vec(),
        None => fetch::FOLKTABLES_STATES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    for code in &wanted {
        let fips = fetch::fips_of(code).ok_or_else(|| {
            Error::from(
                InputError::new(format!(
                    "unknown state `{code}`; expected postal codes of folktables' list ({}) or DC",
                    fetch::FOLKTABLES_STATES.join(", ")
                ))
                .at_key("data.states"),
            )
        })?;
        if codes.iter().any(|(f, _)| *f == fips) {
            return Err(InputError::new(format!("state `{code}` is listed twice"))
                .at_key("data.states")
                .into());
        }
        codes.push((fips, code.to_ascii_uppercase()));
    }
    codes.sort_unstable();
    let mut files = Vec::with_capacity(codes.len());
    let mut missing = Vec::new();
    for (_, code) in &codes {
        let csv = fetch::person_csv_name(code).map(|n| dir.join(n));
        let zip = dir.join(fetch::person_zip_name(code));
        match csv.filter(|p| p.is_file()) {
            Some(csv) => files.push(csv),
            None if zip.is_file() => files.push(zip),
            None => missing.push(format!(
                "{code} ({} or {})",
                fetch::person_csv_name(code).unwrap_or_default(),
                fetch::person_zip_name(code)
            )),
        }
    }
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = match missing.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        let which = match states {
            None => "folktables' 51 states (the 50 states and Puerto Rico; `data.states` picks \
                     fewer)"
                .to_string(),
            Some(_) => format!("the {} states of `data.states`", codes.len()),
        };
        let nested = dir.join("2018").join("1-Year");
        let hint = if nested.is_dir() {
            format!(
                "; this looks like folktables' root_dir: point `path` at {}",
                nested.display()
            )
        } else {
            String::new()
        };
        return Err(InputError::new(format!(
            "no person file for {} of {which}: {shown}{more} in this folder{hint}; {HOW_TO_GET}",
            missing.len()
        ))
        .in_file(dir)
        .into());
    }
    Ok(files)
}

/// The state a person file's name gives (`psam_p06.csv` or `csv_pca.zip`: FIPS 6), if any.
fn state_of_name(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if let Some(n) = name
        .strip_prefix("psam_p")
        .and_then(|n| n.strip_suffix(".csv"))
    {
        return (n.len() == 2)
            .then(|| n.parse::<u32>().ok())
            .flatten()
            .filter(|f| fetch::code_of_fips(*f).is_some());
    }
    let code = name.strip_prefix("csv_p")?.strip_suffix(".zip")?;
    (code.len() == 2).then(|| fetch::fips_of(code)).flatten()
}

/// Opens a person file and hands `f` its CSV text as a stream (a `.zip`'s first `.csv` entry is
/// decompressed on the fly), the name to give in errors (`x.zip/psam_p06.csv` for an entry)
/// and the size of the text in bytes.
fn with_stream<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn Read, &Path, u64) -> Result<T>,
) -> Result<T> {
    let is_zip = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
    if !is_zip {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        return f(&mut std::io::BufReader::new(file), path, size);
    }
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| InputError::new(format!("not a readable zip archive: {e}")).in_file(path))?;
    let mut name = None;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| InputError::new(format!("unreadable zip entry {i}: {e}")).in_file(path))?;
        let entry_name = entry
            .name()
            .map_err(|e| InputError::new(format!("zip entry {i}: {e}")).in_file(path))?
            .to_string();
        if entry_name.to_ascii_lowercase().ends_with(".csv") {
            name = Some(entry_name);
            break;
        }
    }
    let name = name.ok_or_else(|| {
        InputError::new("the archive holds no .csv file (expected psam_pNN.csv)").in_file(path)
    })?;
    let mut entry = archive
        .by_name(&name)
        .map_err(|e| InputError::new(format!("reading {name}: {e}")).in_file(path))?;
    let size = entry.size();
    f(&mut entry, &path.join(&name), size)
}

/// The columns the tasks need: the features (the union of the three lists, in first-use order;
/// targets that are also features, like ESR, stay), then the targets that are not features.
struct Columns {
    names: Vec<&'static str>,
    n_features: usize,
    /// Per task, the position in `names` of its target.
    targets: Vec<usize>,
    rac1p: usize,
    st: usize,
}

impl Columns {
    fn new() -> Columns {
        let mut names: Vec<&'static str> = Vec::new();
        for t in &TASKS {
            for &f in t.features {
                if !names.contains(&f) {
                    names.push(f);
                }
            }
        }
        let n_features = names.len();
        for t in &TASKS {
            if !names.contains(&t.target) {
                names.push(t.target);
            }
        }
        let at = |name: &str| names.iter().position(|n| *n == name).unwrap_or(0);
        Columns {
            targets: TASKS.iter().map(|t| at(t.target)).collect(),
            rac1p: at("RAC1P"),
            st: at("ST"),
            n_features,
            names,
        }
    }

    /// Where each needed column is in `header`; a missing one is bad input naming `origin`.
    fn locate(&self, header: &csv::StringRecord, origin: &Path) -> Result<Vec<usize>> {
        self.names
            .iter()
            .map(|name| {
                header.iter().position(|h| h == *name).ok_or_else(|| {
                    InputError::new(format!(
                        "the ACS person file has no `{name}` column, which folktables' tasks \
                         need (expected the 2018 PUMS person layout, psam_pNN.csv)"
                    ))
                    .in_file(origin)
                    .in_column(*name)
                    .into()
                })
            })
            .collect()
    }
}

/// A field as a number; an empty field is NaN (pandas' missing value).
fn number(field: &[u8], origin: &Path, row: usize, column: &str) -> Result<f64> {
    let field = field.trim_ascii();
    if field.is_empty() {
        return Ok(f64::NAN);
    }
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| {
            InputError::new(format!(
                "expected a number or an empty field, found `{}`",
                String::from_utf8_lossy(field)
            ))
            .in_file(origin)
            .at_row(row)
            .in_column(column)
            .into()
        })
}

/// What a first look at a person file found: its header and the state of its first row.
struct Peeked {
    path: PathBuf,
    origin: PathBuf,
    header: csv::StringRecord,
    state: u32,
    bytes: u64,
}

fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_reader(reader)
}

fn header_of<R: Read>(csv: &mut csv::Reader<R>, origin: &Path) -> Result<csv::StringRecord> {
    csv.headers().cloned().map_err(|e| {
        InputError::new(format!("unreadable header: {e}"))
            .in_file(origin)
            .into()
    })
}

/// Reads the header and first row of a person file: the columns must be there, a first row
/// too, and its `ST` must be a state code (and the file name's state, when the name has one).
fn peek(path: &Path, columns: &Columns) -> Result<Peeked> {
    with_stream(path, |reader, origin, bytes| {
        let mut csv = csv_reader(reader);
        let header = header_of(&mut csv, origin)?;
        let index = columns.locate(&header, origin)?;
        let mut first = csv::ByteRecord::new();
        let has_row = csv.read_byte_record(&mut first).map_err(|e| {
            InputError::new(format!("malformed CSV record: {e}"))
                .in_file(origin)
                .at_row(1)
        })?;
        if !has_row {
            return Err(InputError::new("no data rows").in_file(origin).into());
        }
        let st = number(first.get(index[columns.st]).unwrap_or(b""), origin, 1, "ST")?;
        let state = (st.fract() == 0.0 && st > 0.0)
            .then_some(st as u32)
            .filter(|&f| fetch::code_of_fips(f).is_some())
            .ok_or_else(|| {
                InputError::new(format!(
                    "expected a state's FIPS code (1 for AL ... 72 for PR), found `{st}`"
                ))
                .in_file(origin)
                .at_row(1)
                .in_column("ST")
            })?;
        if let Some(named) = state_of_name(path).filter(|&n| n != state) {
            return Err(InputError::new(format!(
                "the file's name says state {named:02} ({}) but its first row is state \
                 {state:02} ({})",
                fetch::code_of_fips(named).unwrap_or("?"),
                fetch::code_of_fips(state).unwrap_or("?")
            ))
            .in_file(origin)
            .at_row(1)
            .in_column("ST")
            .into());
        }
        Ok(Peeked {
            path: path.to_path_buf(),
            origin: origin.to_path_buf(),
            header,
            state,
            bytes,
        })
    })
}

/// Loads person files as one population, concatenated in folktables' state order (ascending
/// `ST` of each file's first row), and returns the files in that order. Every file must have
/// the header of the first and a state of its own.
pub fn load_files(files: &[PathBuf]) -> Result<(TabularDataset, Vec<PathBuf>)> {
    let columns = Columns::new();
    let mut peeked = files
        .iter()
        .map(|p| peek(p, &columns))
        .collect::<Result<Vec<_>>>()?;
    peeked.sort_by_key(|p| p.state);
    for pair in peeked.windows(2) {
        if pair[0].state == pair[1].state {
            return Err(InputError::new(format!(
                "holds state {:02} ({}), as {} does; each state's people must be loaded once",
                pair[1].state,
                fetch::code_of_fips(pair[1].state).unwrap_or("?"),
                pair[0].origin.display()
            ))
            .in_file(&pair[1].origin)
            .into());
        }
    }
    let Some(first) = peeked.first() else {
        return Err(InputError::new("no ACS person file given").into());
    };
    for other in &peeked[1..] {
        if other.header != first.header {
            let at = (0..first.header.len().max(other.header.len()))
                .find(|&i| first.header.get(i) != other.header.get(i))
                .unwrap_or(0);
            let show = |h: &csv::StringRecord| {
                h.get(at)
                    .map_or("no column".to_string(), |c| format!("`{c}`"))
            };
            return Err(InputError::new(format!(
                "its header differs from that of {} ({} columns here, {} there; column {} is \
                 {} here and {} there): every person file must come from the same survey (the \
                 2018 1-year PUMS person layout)",
                first.origin.display(),
                other.header.len(),
                first.header.len(),
                at + 1,
                show(&other.header),
                show(&first.header)
            ))
            .in_file(&other.origin)
            .into());
        }
    }
    let index = columns.locate(&first.header, &first.origin)?;
    let total_bytes: u64 = peeked.iter().map(|p| p.bytes).sum();
    let mut rows = Rows::new(&columns);
    let mut read_bytes = 0u64;
    for (i, p) in peeked.iter().enumerate() {
        with_stream(&p.path, |reader, origin, _| {
            let mut csv = csv_reader(reader);
            // Checked equal to the first file's by `peek`; read to skip it.
            header_of(&mut csv, origin)?;
            rows.read(&mut csv, &index, &columns, origin)
        })?;
        read_bytes += p.bytes;
        if i == 0 && peeked.len() > 1 && read_bytes > 0 {
            // Reserve the rest once, from the rows per byte of the first file (+5%), so that
            // 3.2 million people do not double a vector of a gigabyte.
            let per_byte = rows.n as f64 / read_bytes as f64;
            let more = (per_byte * (total_bytes - read_bytes) as f64 * 1.05) as usize;
            rows.reserve(more, &columns);
        }
    }
    let order: Vec<PathBuf> = peeked.iter().map(|p| p.path.clone()).collect();
    let states: Vec<u32> = peeked.iter().map(|p| p.state).collect();
    Ok((rows.finish(&columns, &states, &order), order))
}

/// The needed columns of every row read so far.
struct Rows {
    n: usize,
    /// Row-major, `n_features` per person, missing values already 0.
    features: Vec<f64>,
    /// Per task, one label per person.
    labels: Vec<Vec<u8>>,
    /// RAC1P - 1 per person.
    race: Vec<u8>,
    /// Missing values per needed column.
    missing: Vec<usize>,
    values: Vec<f64>,
    record: csv::ByteRecord,
}

impl Rows {
    fn new(columns: &Columns) -> Rows {
        Rows {
            n: 0,
            features: Vec::new(),
            labels: vec![Vec::new(); TASKS.len()],
            race: Vec::new(),
            missing: vec![0; columns.names.len()],
            values: vec![0.0; columns.names.len()],
            record: csv::ByteRecord::new(),
        }
    }

    fn reserve(&mut self, rows: usize, columns: &Columns) {
        self.features.reserve_exact(rows * columns.n_features);
        for l in &mut self.labels {
            l.reserve_exact(rows);
        }
        self.race.reserve_exact(rows);
    }

    /// Appends every data row of `csv` (`origin` and the file's own 1-based row in errors).
    fn read<R: Read>(
        &mut self,
        csv: &mut csv::Reader<R>,
        index: &[usize],
        columns: &Columns,
        origin: &Path,
    ) -> Result<()> {
        let mut row = 0usize;
        loop {
            let more = csv.read_byte_record(&mut self.record).map_err(|e| {
                InputError::new(format!("malformed CSV record: {e}"))
                    .in_file(origin)
                    .at_row(row + 1)
            })?;
            if !more {
                break;
            }
            row += 1;
            for (c, &i) in index.iter().enumerate() {
                let v = number(
                    self.record.get(i).unwrap_or(b""),
                    origin,
                    row,
                    columns.names[c],
                )?;
                if v.is_nan() {
                    self.missing[c] += 1;
                }
                self.values[c] = v;
            }
            let code = self.values[columns.rac1p];
            if !(code.fract() == 0.0 && (1.0..=9.0).contains(&code)) {
                return Err(InputError::new(format!(
                    "expected a RAC1P code 1..9, found `{}`",
                    if code.is_nan() {
                        "an empty field".to_string()
                    } else {
                        code.to_string()
                    }
                ))
                .in_file(origin)
                .at_row(row)
                .in_column("RAC1P")
                .into());
            }
            self.race.push(code as u8 - 1);
            self.features
                .extend(self.values[..columns.n_features].iter().map(|&v| {
                    if v.is_nan() {
                        0.0
                    } else {
                        v
                    }
                }));
            for ((t, labels), &c) in TASKS.iter().zip(&mut self.labels).zip(&columns.targets) {
                labels.push(u8::from((t.positive)(self.values[c])));
            }
            self.n += 1;
        }
        if row == 0 {
            return Err(InputError::new("no data rows").in_file(origin).into());
        }
        Ok(())
    }

    fn finish(self, columns: &Columns, states: &[u32], files: &[PathBuf]) -> TabularDataset {
        let n = self.n;
        let width = columns.n_features;
        let feature_names: Vec<String> = columns.names[..width]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let features = Array2::from_shape_vec((n, width), self.features)
            .unwrap_or_else(|_| Array2::zeros((n, width)));
        let codes: Vec<&str> = states
            .iter()
            .map(|&s| fetch::code_of_fips(s).unwrap_or("?"))
            .collect();
        let source = match files {
            [one] => format!(
                "{} ({})",
                one.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                codes.join("")
            ),
            _ => format!(
                "{} person files concatenated in folktables' state order ({})",
                files.len(),
                codes.join(", ")
            ),
        };
        let mut notes = vec![format!(
            "ACS PUMS: {n} people from {source}, no rows filtered (folktables' ACSEmployment, \
             ACSIncomePovertyRatio and ACSHealthInsurance have no row filter)"
        )];
        let folktables: Vec<u32> = fetch::FOLKTABLES_STATES
            .iter()
            .filter_map(|s| fetch::fips_of(s))
            .collect();
        if states != folktables.as_slice() {
            let outside: Vec<&str> = codes
                .iter()
                .copied()
                .filter(|c| !fetch::FOLKTABLES_STATES.contains(c))
                .collect();
            notes.push(format!(
                "States: {} of the 51 that folktables' `get_data()` loads by default (the 50 \
                 states and Puerto Rico, the population of the paper's ACS study){}",
                codes.len() - outside.len(),
                if outside.is_empty() {
                    String::new()
                } else {
                    format!(", plus {}, which folktables leaves out", outside.join(", "))
                }
            ));
        }
        let st = features.column(columns.st);
        if let Some(&v) = st.iter().next() {
            if st.iter().all(|&x| x == v) {
                notes.push(format!(
                    "ST (a health_insurance feature) is {v} for everyone: one state's people, \
                     so it carries no information"
                ));
            }
        }
        for (c, name) in columns.names.iter().enumerate() {
            if self.missing[c] > 0 {
                notes.push(format!(
                    "{name}: {} missing values, filled with 0 as folktables does{}",
                    self.missing[c],
                    if TASKS.iter().any(|t| t.target == *name) {
                        " (as a target: label 0)"
                    } else {
                        ""
                    }
                ));
            }
        }
        let tasks = TASKS
            .iter()
            .zip(self.labels)
            .map(|(t, labels)| Task {
                name: t.name.to_string(),
                labels,
                feature_columns: t
                    .features
                    .iter()
                    .map(|f| columns.names.iter().position(|n| n == f).unwrap_or(0))
                    .collect(),
            })
            .collect();
        TabularDataset {
            name: "acs".to_string(),
            ids: (0..n).map(|r| r.to_string()).collect(),
            feature_names,
            features,
            tasks,
            groups: vec![GroupColumn {
                name: "race".to_string(),
                values: self
                    .race
                    .iter()
                    .map(|&r| RACE_NAMES[usize::from(r)].to_string())
                    .collect(),
            }],
            notes,
        }
    }
}

/// Parses one PUMS person CSV stream (`origin` names it in errors).
pub fn parse(reader: impl Read, origin: &Path) -> Result<TabularDataset> {
    let columns = Columns::new();
    let mut csv = csv_reader(reader);
    let header = header_of(&mut csv, origin)?;
    let index = columns.locate(&header, origin)?;
    let mut rows = Rows::new(&columns);
    rows.read(&mut csv, &index, &columns, origin)?;
    let st = rows.features.get(columns.st).copied().unwrap_or(0.0) as u32;
    Ok(rows.finish(&columns, &[st], &[origin.to_path_buf()]))
}
