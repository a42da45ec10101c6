//! CelebA: the official layout and the Hub's Parquet mirrors.
//!
//! - **Official** (`root` or its `Anno/`, `Eval/`, `Img/` folders, or a `celeba/` folder as
//!   torchvision keeps it): `img_align_celeba/*.jpg`; `list_attr_celeba.txt` — first line the
//!   number of images, second the 40 attribute names, then `filename v1 .. v40` with values
//!   -1/1 separated by any whitespace; `list_eval_partition.txt` — `filename 0|1|2`
//!   (train/valid/test). Images are referenced, not read, at load time.
//! - **Parquet mirror** (`flwrlabs/celeba`: `img_align+identity+attr/{train,valid,test}-*.parquet`):
//!   an `image` struct `{bytes, path}` and one column per attribute holding booleans, 0/1 or -1/1.
//!
//! Tasks are attributes by name (label 1 when present). Groupings: `hair`, `beard`, `individual`
//! (see [`super::groupings`]). `example_id` is the image file name (`000001.jpg`); in a mirror
//! without `image.path` it is `celeba:<split>:<row>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use super::example::{Dataset, Example, ImageRef, Input, Split, Task};
use super::groupings::{beard_group, hair_group, HAIR_ATTRIBUTES};
use super::read::{self, Cell, FileKind};
use crate::error::{Error, InputError, Result};

/// The 40 CelebA attributes, in the official file's order.
pub const ATTRIBUTES: [&str; 40] = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
];

/// The paper's default tasks.
pub const DEFAULT_TASKS: [&str; 2] = ["Wearing_Earrings", "Wearing_Necklace"];

/// The groupings CelebA provides.
pub const GROUPINGS: [&str; 3] = ["hair", "beard", "individual"];

/// What to load from CelebA.
#[derive(Debug, Clone)]
pub struct CelebaOptions {
    /// Attributes used as tasks.
    pub tasks: Vec<String>,
    /// Groupings to compute (a subset of [`GROUPINGS`]).
    pub groupings: Vec<String>,
    /// Keep the images' bytes from Parquet mirrors (false: annotations only).
    pub load_images: bool,
}

impl Default for CelebaOptions {
    fn default() -> Self {
        CelebaOptions {
            tasks: DEFAULT_TASKS.iter().map(|s| s.to_string()).collect(),
            groupings: GROUPINGS.iter().map(|s| s.to_string()).collect(),
            load_images: true,
        }
    }
}

/// Attribute name -> position in [`ATTRIBUTES`]; an unknown name is an input error.
fn attribute_index(name: &str) -> Result<usize> {
    ATTRIBUTES.iter().position(|a| *a == name).ok_or_else(|| {
        Error::input(format!(
            "unknown CelebA attribute `{name}`; expected one of: {}",
            ATTRIBUTES.join(", ")
        ))
    })
}

/// Checks options and returns the task attributes' positions.
fn check_options(options: &CelebaOptions) -> Result<Vec<usize>> {
    if options.tasks.is_empty() {
        return Err(Error::input(
            "no CelebA task given; name at least one attribute",
        ));
    }
    for g in &options.groupings {
        if !GROUPINGS.contains(&g.as_str()) {
            return Err(Error::input(format!(
                "unknown CelebA grouping `{g}`; expected one of: {}",
                GROUPINGS.join(", ")
            )));
        }
    }
    options.tasks.iter().map(|t| attribute_index(t)).collect()
}

/// Builds one example from the 40 attribute flags.
fn example(
    options: &CelebaOptions,
    task_idx: &[usize],
    id: String,
    split: Split,
    present: &[bool; 40],
    input: Input,
) -> Example {
    let hair_idx = HAIR_ATTRIBUTES.map(|h| ATTRIBUTES.iter().position(|a| *a == h).unwrap_or(0));
    let no_beard = ATTRIBUTES
        .iter()
        .position(|a| *a == "No_Beard")
        .unwrap_or(0);
    let groups = options
        .groupings
        .iter()
        .map(|g| match g.as_str() {
            "hair" => hair_group(hair_idx.map(|i| present[i])).to_string(),
            "beard" => beard_group(present[no_beard]).to_string(),
            _ => id.clone(),
        })
        .collect();
    Example {
        labels: task_idx.iter().map(|&i| present[i] as i64).collect(),
        groups,
        example_id: id,
        split,
        input,
    }
}

fn dataset(options: &CelebaOptions, examples: Vec<Example>) -> Result<Dataset> {
    let ds = Dataset {
        name: "celeba".into(),
        tasks: options
            .tasks
            .iter()
            .map(|t| Task {
                name: t.clone(),
                classes: vec!["0".into(), "1".into()],
            })
            .collect(),
        groupings: options.groupings.clone(),
        examples,
    };
    ds.check_unique_ids()?;
    Ok(ds)
}

/// Finds a file of the official layout in `root`, `root/<sub>` or `root/celeba[/<sub>]`.
fn find(root: &Path, name: &str, sub: &str) -> Option<PathBuf> {
    [
        root.join(name),
        root.join(sub).join(name),
        root.join("celeba").join(name),
        root.join("celeba").join(sub).join(name),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// Whether `root` holds the official layout (any of its attribute list, partition list or
/// image folder).
pub fn is_official(root: &Path) -> bool {
    find(root, "list_attr_celeba.txt", "Anno").is_some()
        || find(root, "list_eval_partition.txt", "Eval").is_some()
        || find(root, "img_align_celeba", "Img").is_some()
}

/// Loads the official layout under `root`.
pub fn load_official(root: &Path, options: &CelebaOptions) -> Result<Dataset> {
    let task_idx = check_options(options)?;
    let attr_path = find(root, "list_attr_celeba.txt", "Anno").ok_or_else(|| {
        InputError::new(
            "missing CelebA attribute file `list_attr_celeba.txt` (looked in the folder, \
             Anno/ and celeba/)",
        )
        .in_file(root)
    })?;
    let part_path = find(root, "list_eval_partition.txt", "Eval").ok_or_else(|| {
        InputError::new(
            "missing CelebA partition file `list_eval_partition.txt` (looked in the folder, \
             Eval/ and celeba/)",
        )
        .in_file(root)
    })?;
    let image_dir = find(root, "img_align_celeba", "Img")
        .unwrap_or_else(|| attr_path.parent().unwrap_or(root).join("img_align_celeba"));
    let partition = read_partition(&part_path)?;
    let rows = read_attributes(&attr_path)?;
    let mut examples = Vec::with_capacity(rows.len());
    for AttributeRow {
        file,
        present,
        line,
    } in rows
    {
        let split = *partition.get(&file).ok_or_else(|| {
            InputError::new(format!(
                "image `{file}` is in the attribute file but not in {}",
                part_path.display()
            ))
            .in_file(&attr_path)
            .at_line(line)
        })?;
        let input = Input::Image(ImageRef::File(image_dir.join(&file)));
        examples.push(example(options, &task_idx, file, split, &present, input));
    }
    dataset(options, examples)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        InputError::new(format!("cannot read as UTF-8 text: {e}"))
            .in_file(path)
            .into()
    })
}

/// `filename -> split` from `list_eval_partition.txt`.
fn read_partition(path: &Path) -> Result<std::collections::HashMap<String, Split>> {
    let text = read_text(path)?;
    let mut out = std::collections::HashMap::new();
    let mut first_line = std::collections::HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let split = match fields.as_slice() {
            [_, "0"] => Split::Train,
            [_, "1"] => Split::Valid,
            [_, "2"] => Split::Test,
            _ => {
                return Err(InputError::new(format!(
                    "expected `filename 0|1|2`, found `{}`",
                    line.trim()
                ))
                .in_file(path)
                .at_line(i + 1)
                .into())
            }
        };
        if let Some(first) = first_line.insert(fields[0], i + 1) {
            return Err(listed_twice(path, fields[0], i + 1, first));
        }
        out.insert(fields[0].to_string(), split);
    }
    Ok(out)
}

fn listed_twice(path: &Path, file: &str, line: usize, first: usize) -> Error {
    InputError::new(format!(
        "image `{file}` is listed twice (first at line {first})"
    ))
    .in_file(path)
    .at_line(line)
    .into()
}

/// One image's line of `list_attr_celeba.txt`.
struct AttributeRow {
    file: String,
    present: [bool; 40],
    /// The 1-based line in the file, for errors.
    line: usize,
}

/// The images of `list_attr_celeba.txt` with their 40 flags; the first two lines are the count
/// and the attribute names.
fn read_attributes(path: &Path) -> Result<Vec<AttributeRow>> {
    let text = read_text(path)?;
    let mut lines = text.lines();
    let bad = |line: usize, msg: String| -> Error {
        InputError::new(msg).in_file(path).at_line(line).into()
    };
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad(1, "expected the number of images".into()))?;
    let names: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad(2, "expected the 40 attribute names".into()))?
        .split_whitespace()
        .collect();
    if names != ATTRIBUTES {
        let first_difference = match names.iter().zip(ATTRIBUTES).position(|(a, b)| *a != b) {
            Some(j) => format!(
                "name {} is `{}` where CelebA has `{}`",
                j + 1,
                names[j],
                ATTRIBUTES[j]
            ),
            None => format!("found {} names", names.len()),
        };
        return Err(bad(
            2,
            format!(
                "expected the 40 CelebA attribute names ({} ...): {first_difference}",
                ATTRIBUTES[..3].join(" "),
            ),
        ));
    }
    let mut rows: Vec<AttributeRow> = Vec::with_capacity(count);
    let mut first_line = std::collections::HashMap::new();
    for (i, text_line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line = i + 3;
        let fields: Vec<&str> = text_line.split_whitespace().collect();
        if fields.len() != 41 {
            return Err(bad(
                line,
                format!(
                    "expected a file name and 40 values, found {} values",
                    fields.len().saturating_sub(1)
                ),
            ));
        }
        if let Some(first) = first_line.insert(fields[0], line) {
            return Err(listed_twice(path, fields[0], line, first));
        }
        let mut present = [false; 40];
        for (j, v) in fields[1..].iter().enumerate() {
            present[j] = match *v {
                "1" => true,
                "-1" | "0" => false,
                other => {
                    return Err(
                        InputError::new(format!("expected -1 or 1, found `{other}`"))
                            .in_file(path)
                            .at_line(line)
                            .in_column(ATTRIBUTES[j])
                            .into(),
                    )
                }
            };
        }
        rows.push(AttributeRow {
            file: fields[0].to_string(),
            present,
            line,
        });
    }
    if rows.len() != count {
        return Err(bad(
            1,
            format!("the file announces {count} images but lists {}", rows.len()),
        ));
    }
    Ok(rows)
}

/// Loads a Parquet mirror: every `*.parquet` under `root` whose name or folder names a split.
pub fn load_parquet(root: &Path, options: &CelebaOptions) -> Result<Dataset> {
    let task_idx = check_options(options)?;
    let files: Vec<_> = read::find_split_files(root)?
        .into_iter()
        .filter(|f| f.kind == FileKind::Parquet)
        .collect();
    if files.is_empty() {
        return Err(InputError::new(
            "no CelebA data found: expected list_attr_celeba.txt (official layout) or \
             {train,valid,test}-*.parquet files (Hub mirror)",
        )
        .in_file(root)
        .into());
    }
    let mut examples = Vec::new();
    let mut rows_in_split = std::collections::HashMap::<Split, usize>::new();
    for f in &files {
        let builder = read::open_parquet(&f.path)?;
        let columns = read::parquet_columns(&builder);
        for a in ATTRIBUTES {
            if !columns.iter().any(|c| c == a) {
                return Err(InputError::new(format!(
                    "missing attribute column `{a}` (columns found: {})",
                    columns.join(", ")
                ))
                .in_file(&f.path)
                .in_column(a)
                .into());
            }
        }
        let mut keep: Vec<&str> = ATTRIBUTES.to_vec();
        let has_image = columns.iter().any(|c| c == "image");
        if has_image {
            keep.push("image");
        }
        let skip: &[&str] = if options.load_images {
            &[]
        } else {
            &["image.bytes"]
        };
        let mut file_row = 0usize;
        read::read_parquet(&f.path, builder, &keep, skip, |batch| {
            let counter = rows_in_split.entry(f.split).or_insert(0);
            let parsed = parse_batch(batch, &f.path, file_row, has_image)?;
            for (present, name, bytes) in parsed {
                let id = name
                    .clone()
                    .unwrap_or_else(|| format!("celeba:{}:{}", f.split, *counter));
                let input = Input::Image(match (bytes, options.load_images) {
                    (None, false) => ImageRef::NotLoaded { name: id.clone() },
                    // A row without bytes fails when decoded, naming the file and image.
                    (b, _) => ImageRef::Embedded {
                        source: f.path.clone(),
                        name: id.clone(),
                        bytes: b.unwrap_or_else(|| Arc::from(Vec::new())),
                    },
                });
                examples.push(example(options, &task_idx, id, f.split, &present, input));
                *counter += 1;
            }
            file_row += batch.num_rows();
            Ok(())
        })?;
    }
    dataset(options, examples)
}

type ParsedRow = ([bool; 40], Option<String>, Option<Arc<[u8]>>);

/// Attribute flags, image name and image bytes of each row of a batch.
fn parse_batch(
    batch: &RecordBatch,
    file: &Path,
    first_row: usize,
    has_image: bool,
) -> Result<Vec<ParsedRow>> {
    let n = batch.num_rows();
    let mut flags = vec![[false; 40]; n];
    for (j, a) in ATTRIBUTES.iter().enumerate() {
        let col = batch
            .column_by_name(a)
            .ok_or_else(|| Error::Runtime(format!("column {a} vanished from the batch")))?;
        for (i, cell) in read::cells(col)?.into_iter().enumerate() {
            flags[i][j] = match cell {
                Cell::Int(1) => true,
                Cell::Int(0) | Cell::Int(-1) => false,
                Cell::Str(s) if s == "1" || s.eq_ignore_ascii_case("true") => true,
                Cell::Str(s) if s == "0" || s == "-1" || s.eq_ignore_ascii_case("false") => false,
                other => {
                    return Err(InputError::new(format!(
                        "expected a boolean, 0/1 or -1/1, found {other:?}"
                    ))
                    .in_file(file)
                    .at_row(first_row + i + 1)
                    .in_column(*a)
                    .into())
                }
            };
        }
    }
    let mut names = vec![None; n];
    let mut bytes: Vec<Option<Arc<[u8]>>> = vec![None; n];
    if has_image {
        if let Some(image) = batch.column_by_name("image") {
            let DataType::Struct(_) = image.data_type() else {
                return Err(
                    InputError::new("expected `image` to be a struct {bytes, path}")
                        .in_file(file)
                        .in_column("image")
                        .into(),
                );
            };
            let s = image.as_struct();
            if let Some(p) = s.column_by_name("path") {
                for (i, v) in read::strings(p, file, "image.path")?
                    .into_iter()
                    .enumerate()
                {
                    names[i] = v.filter(|v| !v.is_empty()).map(|v| {
                        // Keep the file name: mirrors store `000001.jpg` or a longer path.
                        v.rsplit(['/', '\\']).next().unwrap_or(&v).to_string()
                    });
                }
            }
            if let Some(b) = s.column_by_name("bytes") {
                let b = arrow_cast::cast(b, &DataType::LargeBinary)
                    .map_err(|e| Error::Runtime(format!("casting image.bytes: {e}")))?;
                let b = b.as_binary::<i64>();
                for (i, slot) in bytes.iter_mut().enumerate() {
                    if !b.is_null(i) {
                        *slot = Some(Arc::from(b.value(i)));
                    }
                }
            }
        }
    }
    Ok(flags
        .into_iter()
        .zip(names)
        .zip(bytes)
        .map(|((f, n), b)| (f, n, b))
        .collect())
}
