//! The study's figures (plotters, SVG and PNG, DejaVu Sans embedded): per learner, a header
//! (title naming the dataset and learner, what the lines and bands are, and the legend, all
//! above the panels so that nothing covers data), then a grid of panels, two per row, each a
//! metric against the training-set size: `fixed` and `disjoint` as lines with a mean ± 1 sd
//! band over the data seeds — homogenization (with a dashed line at H = 1, independence), the paired
//! difference fixed − disjoint with its 95% interval and a line at zero, the expected systemic
//! failure, and the group-level values.
//!
//! `Header` (title, wrapped notes and a legend row on an opaque background) is shared with the
//! model-sharing study's figures.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::compare::Comparison;
use super::report::{find, ResultRow, EXPECTED, HEADLINE};
use crate::error::{Error, Result};
use crate::experiment::protocol::Setting;
use crate::report::figure::{self, plot_err};

static FONT: Once = Once::new();

/// Registers DejaVu Sans as plotters' `sans-serif` (once per process).
pub fn register_fonts() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Font size of a figure's title.
const TITLE_FONT: u32 = 22;
/// Font size of a header's notes.
const NOTE_FONT: u32 = 15;
/// Font size of legend labels.
const LEGEND_FONT: u32 = 15;
/// Font size of panel captions.
pub(crate) const CAPTION_FONT: u32 = 18;
/// Font size of tick labels.
pub(crate) const TICK_FONT: u32 = 14;
/// Font size of axis descriptions.
pub(crate) const DESC_FONT: u32 = 15;
/// Blank space around a header's contents, in pixels.
const PAD: u32 = 10;
/// Width of a legend entry's key (the line or swatch before its label), in pixels.
const KEY_W: u32 = 30;
/// Space between two legend entries, in pixels.
const ITEM_GAP: u32 = 26;
/// Colour of the reference line at H = 1.
pub(crate) const REFERENCE: RGBColor = RGBColor(90, 90, 90);

/// The height of a line of text of font size `size`, in pixels.
fn line_height(size: u32) -> u32 {
    size * 3 / 2
}

/// The width of `text` in font size `size`, in pixels (estimated when the font cannot lay it
/// out).
pub(crate) fn text_width(text: &str, size: u32) -> u32 {
    ("sans-serif", size)
        .into_font()
        .box_size(text)
        .map(|(w, _)| w)
        .unwrap_or_else(|_| text.chars().count() as u32 * size * 3 / 5)
}

/// `text` broken into lines of at most `width` pixels at font size `size`, at spaces (a word
/// longer than the width gets a line of its own).
pub(crate) fn wrap(text: &str, size: u32, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || text_width(&candidate, size) <= width {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// What a legend entry draws before its label.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key {
    /// A solid line of a colour and width; with a dot on it when `dot`.
    Line {
        /// Colour.
        color: RGBColor,
        /// Stroke width in pixels.
        width: u32,
        /// Whether a dot marks it (a line through points).
        dot: bool,
    },
    /// A dashed line of a colour.
    Dashed(RGBColor),
    /// A filled square of a colour (a bar, or a shaded band).
    Swatch(RGBAColor),
    /// An error bar: a vertical line with caps.
    ErrorBar,
    /// A filled square with a text on it (a cell of a heat-map).
    Cell(RGBColor, &'static str),
    /// A hatched square (a heat-map's pair that was not compared).
    Hatch,
}

/// A figure's header, drawn in a strip above the panels where it cannot cover data: a title,
/// notes (what the marks mean, wrapped to the width) and a legend row on an opaque background.
pub(crate) struct Header {
    /// The title.
    pub title: String,
    /// Notes under the title, one paragraph each.
    pub notes: Vec<String>,
    /// Legend entries, laid out left to right and wrapped to the width.
    pub legend: Vec<(Key, String)>,
}

impl Header {
    fn title_lines(&self, width: u32) -> Vec<String> {
        wrap(&self.title, TITLE_FONT, width.saturating_sub(2 * PAD))
    }

    fn note_lines(&self, width: u32) -> Vec<String> {
        self.notes
            .iter()
            .flat_map(|n| wrap(n, NOTE_FONT, width.saturating_sub(2 * PAD)))
            .collect()
    }

    fn item_width(&self, i: usize) -> u32 {
        KEY_W + 6 + text_width(&self.legend[i].1, LEGEND_FONT)
    }

    /// The legend's rows (indices into `legend`) within `width` pixels.
    fn legend_rows(&self, width: u32) -> Vec<Vec<usize>> {
        let room = width.saturating_sub(4 * PAD);
        let mut rows: Vec<Vec<usize>> = Vec::new();
        let mut used = 0;
        for i in 0..self.legend.len() {
            let w = self.item_width(i);
            match rows.last_mut() {
                Some(row) if used + ITEM_GAP + w <= room => {
                    row.push(i);
                    used += ITEM_GAP + w;
                }
                _ => {
                    rows.push(vec![i]);
                    used = w;
                }
            }
        }
        rows
    }

    fn row_width(&self, row: &[usize]) -> u32 {
        row.iter().map(|&i| self.item_width(i)).sum::<u32>()
            + ITEM_GAP * row.len().saturating_sub(1) as u32
    }

    /// The header's height at `width` pixels.
    pub fn height(&self, width: u32) -> u32 {
        let mut h = PAD + self.title_lines(width).len() as u32 * line_height(TITLE_FONT);
        h += self.note_lines(width).len() as u32 * line_height(NOTE_FONT);
        let rows = self.legend_rows(width).len() as u32;
        if rows > 0 {
            h += PAD / 2 + rows * line_height(LEGEND_FONT + 4) + PAD;
        }
        h + PAD
    }

    /// Draws the header at the top of `area`; returns the area below it.
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<DrawingArea<DB, Shift>>
    where
        DB::ErrorType: 'static,
    {
        let (w, _) = area.dim_in_pixel();
        let (top, rest) = area.split_vertically(self.height(w));
        let center = (w / 2) as i32;
        let mut y = PAD as i32;
        for (lines, size, color) in [
            (self.title_lines(w), TITLE_FONT, BLACK),
            (self.note_lines(w), NOTE_FONT, RGBColor(50, 50, 50)),
        ] {
            for line in lines {
                let style = ("sans-serif", size)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Top));
                top.draw(&Text::new(line, (center, y), style))
                    .map_err(plot_err)?;
                y += line_height(size) as i32;
            }
        }
        let rows = self.legend_rows(w);
        if rows.is_empty() {
            return Ok(rest);
        }
        y += (PAD / 2) as i32;
        let row_h = line_height(LEGEND_FONT + 4) as i32;
        let box_w = rows.iter().map(|r| self.row_width(r)).max().unwrap_or(0) + 2 * PAD;
        let left = center - (box_w / 2) as i32;
        top.draw(&Rectangle::new(
            [
                (left, y),
                (left + box_w as i32, y + row_h * rows.len() as i32),
            ],
            WHITE.filled(),
        ))
        .map_err(plot_err)?;
        top.draw(&Rectangle::new(
            [
                (left, y),
                (left + box_w as i32, y + row_h * rows.len() as i32),
            ],
            RGBColor(120, 120, 120).stroke_width(1),
        ))
        .map_err(plot_err)?;
        for row in rows {
            let mut x = center - (self.row_width(&row) / 2) as i32;
            let yc = y + row_h / 2;
            for i in row {
                let (key, label) = &self.legend[i];
                draw_key(&top, *key, x, yc)?;
                let style = ("sans-serif", LEGEND_FONT)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center));
                top.draw(&Text::new(
                    label.as_str(),
                    (x + KEY_W as i32 + 6, yc),
                    style,
                ))
                .map_err(plot_err)?;
                x += (self.item_width(i) + ITEM_GAP) as i32;
            }
            y += row_h;
        }
        Ok(rest)
    }
}

/// Draws a legend key `KEY_W` pixels wide from `x`, centred on `yc`.
fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    key: Key,
    x: i32,
    yc: i32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let kw = KEY_W as i32;
    match key {
        Key::Line { color, width, dot } => {
            area.draw(&PathElement::new(
                vec![(x, yc), (x + kw, yc)],
                color.stroke_width(width),
            ))
            .map_err(plot_err)?;
            if dot {
                area.draw(&Circle::new((x + kw / 2, yc), 4, color.filled()))
                    .map_err(plot_err)?;
            }
        }
        Key::Dashed(color) => {
            let mut s = x;
            while s < x + kw {
                area.draw(&PathElement::new(
                    vec![(s, yc), ((s + 6).min(x + kw), yc)],
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?;
                s += 10;
            }
        }
        Key::Swatch(color) => {
            area.draw(&Rectangle::new(
                [(x + 4, yc - 8), (x + kw - 4, yc + 8)],
                color.filled(),
            ))
            .map_err(plot_err)?;
        }
        Key::Cell(color, text) => {
            area.draw(&Rectangle::new(
                [(x + 1, yc - 9), (x + kw - 1, yc + 9)],
                color.filled(),
            ))
            .map_err(plot_err)?;
            let style = ("sans-serif", 11)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            area.draw(&Text::new(text, (x + kw / 2, yc), style))
                .map_err(plot_err)?;
        }
        Key::Hatch => hatch(area, (x + 4, yc - 9), (x + kw - 4, yc + 9))?,
        Key::ErrorBar => {
            let c = x + kw / 2;
            for pts in [
                vec![(c, yc - 9), (c, yc + 9)],
                vec![(c - 5, yc - 9), (c + 5, yc - 9)],
                vec![(c - 5, yc + 9), (c + 5, yc + 9)],
            ] {
                area.draw(&PathElement::new(pts, BLACK.stroke_width(1)))
                    .map_err(plot_err)?;
            }
        }
    }
    Ok(())
}

/// A white rectangle from `(x0, y0)` to `(x1, y1)` (pixels) hatched with grey diagonal lines
/// and a grey border: "nothing here", unlike any colour of a value.
pub(crate) fn hatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let grey = RGBColor(170, 170, 170);
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], WHITE.filled()))
        .map_err(plot_err)?;
    // Lines x + y = c, clipped to the rectangle.
    let mut c = x0 + y0 + 7;
    while c < x1 + y1 {
        let (ax, ay) = if c - y0 <= x1 {
            (c - y0, y0)
        } else {
            (x1, c - x1)
        };
        let (bx, by) = if c - y1 >= x0 {
            (c - y1, y1)
        } else {
            (x0, c - x0)
        };
        area.draw(&PathElement::new(
            vec![(ax, ay), (bx, by)],
            grey.stroke_width(1),
        ))
        .map_err(plot_err)?;
        c += 7;
    }
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], grey.stroke_width(1)))
        .map_err(plot_err)?;
    Ok(())
}

/// A dashed horizontal line at `y` across the chart's x range (a reference value).
pub(crate) fn reference_line<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y: f64,
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let x = chart.x_range();
    chart
        .draw_series(DashedLineSeries::new(
            [(x.start, y), (x.end, y)],
            6,
            4,
            color.stroke_width(2),
        ))
        .map_err(plot_err)?;
    Ok(())
}

/// Width of one panel of a learner's figure, in pixels.
const PANEL_W: u32 = 600;
/// Height of one panel of a learner's figure, in pixels.
const PANEL_H: u32 = 420;

/// Whether `metric` is a homogenization ratio (observed / expected), where 1 is independence.
pub(crate) fn is_ratio(metric: &str) -> bool {
    matches!(metric, "h_individual" | "h_avg" | "h_unif" | "h_worst")
}

/// The (grouping, metric) panels to draw for a learner: homogenization, expected systemic
/// failure and the group-level metrics when measured; the failure rates otherwise.
fn panels(results: &[ResultRow], learner: &str) -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = vec![
        ("individual".into(), HEADLINE.into()),
        ("individual".into(), EXPECTED.into()),
    ];
    for r in results.iter().filter(|r| r.learner == learner) {
        if r.grouping != "individual" && (r.metric == "h_avg" || r.metric == "h_unif") {
            let p = (r.grouping.clone(), r.metric.clone());
            if !wanted.contains(&p) {
                wanted.push(p);
            }
        }
    }
    let present = |(g, m): &(String, String)| {
        results
            .iter()
            .any(|r| r.learner == learner && &r.grouping == g && &r.metric == m && r.mean.is_some())
    };
    let mut out: Vec<_> = wanted.into_iter().filter(present).collect();
    if out.is_empty() {
        for r in results.iter().filter(|r| r.learner == learner) {
            let p = (r.grouping.clone(), r.metric.clone());
            if r.metric.starts_with("failure_rate:") && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The dataset's name for a title: the full name of a built-in dataset, with its short name.
fn dataset_title(dataset: &str) -> String {
    match dataset {
        "gc" => "German Credit (gc)".into(),
        "acs" => "ACS PUMS (acs)".into(),
        "lsac" => "LSAC bar passage (lsac)".into(),
        other => other.into(),
    }
}

/// `lo` when `lo == hi`, else `lo–hi`.
pub(crate) fn span(lo: usize, hi: usize) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    }
}

/// A learner's header: the title, what the lines, bands and reference lines are, the legend.
fn header(
    dataset: &str,
    learner: &str,
    results: &[ResultRow],
    panels: &[(String, String)],
    differences: &[DifferencePoint],
) -> Header {
    let n: Vec<usize> = results
        .iter()
        .filter(|r| {
            r.learner == learner
                && r.mean.is_some()
                && panels
                    .iter()
                    .any(|(g, m)| *g == r.grouping && *m == r.metric)
        })
        .map(|r| r.n)
        .collect();
    let (n_lo, n_hi) = (
        n.iter().copied().min().unwrap_or(0),
        n.iter().copied().max().unwrap_or(0),
    );
    let mut notes = vec![
        "fixed: every task trains on the same block of training data; disjoint: each task \
         trains on a different block of the same size."
            .to_string(),
        format!(
            "Lines: mean over n = {} data seeds per point (each seed's value the mean over its \
             model seeds); shaded bands: mean ± 1 sd (sample sd) over those data seeds.",
            span(n_lo, n_hi)
        ),
    ];
    let mut legend = vec![
        (
            Key::Line {
                color: RED,
                width: 2,
                dot: true,
            },
            "fixed (mean)".to_string(),
        ),
        (Key::Swatch(RED.mix(0.15)), "fixed ± 1 sd".to_string()),
        (
            Key::Line {
                color: BLUE,
                width: 2,
                dot: true,
            },
            "disjoint (mean)".to_string(),
        ),
        (Key::Swatch(BLUE.mix(0.15)), "disjoint ± 1 sd".to_string()),
    ];
    if panels.iter().any(|(_, m)| is_ratio(m)) {
        legend.push((
            Key::Dashed(REFERENCE),
            "H = 1 (independent failures)".to_string(),
        ));
    }
    if !differences.is_empty() {
        let seeds: Vec<usize> = differences.iter().map(|d| d.n_data_seeds).collect();
        let seeds = span(
            seeds.iter().copied().min().unwrap_or(0),
            seeds.iter().copied().max().unwrap_or(0),
        );
        notes.push(format!(
            "fixed − disjoint panel: mean over {seeds} data seeds of the difference paired by \
             seed; grey band: its 95% t interval."
        ));
        legend.extend([
            (
                Key::Line {
                    color: BLACK,
                    width: 2,
                    dot: true,
                },
                "fixed − disjoint (mean)".to_string(),
            ),
            (Key::Swatch(BLACK.mix(0.15)), "95% interval".to_string()),
            (Key::Dashed(BLACK), "0 (no difference)".to_string()),
        ]);
    }
    Header {
        title: format!(
            "{}: does shared training data homogenize outcomes? Learner: {learner}",
            dataset_title(dataset)
        ),
        notes,
        legend,
    }
}

/// Draws every learner's figure into `dir` (SVG and PNG); returns the paths relative to the run
/// folder (`figures/<dataset>_<learner>.svg`, ...).
pub fn figures(
    dir: &Path,
    dataset: &str,
    n_train: usize,
    results: &[ResultRow],
    comparisons: &[Comparison],
) -> Result<Vec<PathBuf>> {
    register_fonts();
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating folder {}", dir.display()), e))?;
    let mut learners: Vec<&str> = Vec::new();
    for r in results {
        if !learners.contains(&r.learner.as_str()) {
            learners.push(&r.learner);
        }
    }
    let mut out = Vec::new();
    for learner in learners {
        let panels = panels(results, learner);
        if panels.is_empty() {
            continue;
        }
        let differences = difference_series(comparisons, learner, n_train);
        let n_panels = panels.len() + usize::from(!differences.is_empty());
        let cols = n_panels.min(2) as u32;
        let rows = n_panels.div_ceil(2) as u32;
        let header = header(dataset, learner, results, &panels, &differences);
        let w = cols * PANEL_W;
        let h = header.height(w) + rows * PANEL_H;
        let stem = format!("{dataset}_{learner}");
        let drawn = figure::temporaries(dir, &stem);
        let figure = Figure {
            header: &header,
            learner,
            n_train,
            results,
            panels: &panels,
            differences: &differences,
            grid: (rows as usize, cols as usize),
        };
        figure.draw(&SVGBackend::new(&drawn[0], (w, h)).into_drawing_area())?;
        figure.draw(&BitMapBackend::new(&drawn[1], (w, h)).into_drawing_area())?;
        out.extend(figure::install(dir, &stem, &drawn)?);
    }
    Ok(out)
}

/// One series: (train size, mean, sd) per scale, ascending in train size.
fn series(
    results: &[ResultRow],
    learner: &str,
    setting: Setting,
    grouping: &str,
    metric: &str,
    n_train: usize,
) -> Vec<(f64, f64, f64)> {
    let mut scales: Vec<usize> = results
        .iter()
        .filter(|r| r.learner == learner)
        .map(|r| r.scale)
        .collect();
    scales.sort_unstable();
    scales.dedup();
    let mut pts: Vec<(f64, f64, f64)> = scales
        .iter()
        .filter_map(|&s| {
            let r = find(results, learner, setting, s, grouping, metric)?;
            Some(((n_train / s) as f64, r.mean?, r.sd.unwrap_or(0.0)))
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// One scale's paired difference of the headline metric.
struct DifferencePoint {
    /// Training-set size.
    size: f64,
    /// Mean paired difference fixed − disjoint.
    difference: f64,
    /// Its 95% interval over data seeds, when there are at least two.
    interval: Option<(f64, f64)>,
    /// Data seeds the mean is over.
    n_data_seeds: usize,
}

impl DifferencePoint {
    /// The interval, or the point itself when there is none.
    fn bounds(&self) -> (f64, f64) {
        self.interval.unwrap_or((self.difference, self.difference))
    }
}

/// The headline's paired difference per scale, ascending in training-set size; scales without
/// a difference are left out.
fn difference_series(
    comparisons: &[Comparison],
    learner: &str,
    n_train: usize,
) -> Vec<DifferencePoint> {
    let mut pts: Vec<_> = comparisons
        .iter()
        .filter(|c| c.learner == learner && c.grouping == "individual" && c.metric == HEADLINE)
        .filter_map(|c| {
            Some(DifferencePoint {
                size: (n_train / c.scale) as f64,
                difference: c.difference?,
                interval: c.interval,
                n_data_seeds: c.n_data_seeds,
            })
        })
        .collect();
    pts.sort_by(|a, b| a.size.total_cmp(&b.size));
    pts
}

/// Styles a chart's mesh: major grid lines only, light; tick labels and axis descriptions in
/// readable sizes.
pub(crate) fn light_mesh<'a, 'b, DB: DrawingBackend>(
    chart: &'b mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> plotters::chart::MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB> {
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .label_style(("sans-serif", TICK_FONT))
        .axis_desc_style(("sans-serif", DESC_FONT));
    mesh
}

/// A tick label formatter for an axis spanning `range`: as many decimals as the ticks' spacing
/// needs, and no "-0.0".
pub(crate) fn tick_formatter(range: f64) -> impl Fn(&f64) -> String {
    let step = (range / 10.0).abs().max(1e-12);
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    move |v: &f64| {
        let s = format!("{v:.decimals$}");
        if s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_string()
        } else {
            s
        }
    }
}

/// A panel's chart: caption, axes over the data's ranges (padded), mesh and axis labels.
fn panel_chart<'a, DB: DrawingBackend>(
    cell: &'a DrawingArea<DB, Shift>,
    title: String,
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
    y_desc: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>>
where
    DB::ErrorType: 'static,
{
    let pad = ((y_hi - y_lo) * 0.08).max(1e-3);
    let x_pad = ((x_hi - x_lo) * 0.03).max(1.0);
    let mut chart = ChartBuilder::on(cell)
        .caption(title, ("sans-serif", CAPTION_FONT))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .build_cartesian_2d((x_lo - x_pad)..(x_hi + x_pad), (y_lo - pad)..(y_hi + pad))
        .map_err(plot_err)?;
    let y_label = tick_formatter(y_hi - y_lo + 2.0 * pad);
    light_mesh(&mut chart)
        .x_desc("training-set size")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&y_label)
        .y_desc(y_desc)
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// The panel of the paired difference fixed − disjoint: a line with its 95% interval as a band
/// and a dashed line at zero (no difference).
fn draw_difference<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    learner: &str,
    pts: &[DifferencePoint],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let x_lo = pts.iter().map(|p| p.size).fold(f64::INFINITY, f64::min);
    let x_hi = pts.iter().map(|p| p.size).fold(f64::NEG_INFINITY, f64::max);
    let y_lo = pts.iter().map(|p| p.bounds().0).fold(0.0, f64::min);
    let y_hi = pts.iter().map(|p| p.bounds().1).fold(0.0, f64::max);
    let mut chart = panel_chart(
        cell,
        format!("{learner}: {HEADLINE}, fixed − disjoint"),
        (x_lo, x_hi),
        (y_lo, y_hi),
        "difference (paired by seed)",
    )?;
    let with_interval: Vec<&DifferencePoint> =
        pts.iter().filter(|p| p.interval.is_some()).collect();
    if !with_interval.is_empty() {
        let mut band: Vec<(f64, f64)> = with_interval
            .iter()
            .map(|p| (p.size, p.bounds().1))
            .collect();
        band.extend(with_interval.iter().rev().map(|p| (p.size, p.bounds().0)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                BLACK.mix(0.15).filled(),
            )))
            .map_err(plot_err)?;
    }
    reference_line(&mut chart, 0.0, BLACK)?;
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.size, p.difference)),
            BLACK.stroke_width(2),
        ))
        .map_err(plot_err)?;
    chart
        .draw_series(
            pts.iter()
                .map(|p| Circle::new((p.size, p.difference), 4, BLACK.filled())),
        )
        .map_err(plot_err)?;
    Ok(())
}

/// What a learner's figure draws.
struct Figure<'a> {
    header: &'a Header,
    learner: &'a str,
    n_train: usize,
    results: &'a [ResultRow],
    panels: &'a [(String, String)],
    differences: &'a [DifferencePoint],
    /// Rows and columns of panels.
    grid: (usize, usize),
}

impl Figure<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(plot_err)?;
        let body = self.header.draw(area)?;
        // `None` is the difference panel, right after the headline panel it summarises.
        let mut order: Vec<Option<&(String, String)>> = self.panels.iter().map(Some).collect();
        if !self.differences.is_empty() {
            order.insert(1.min(order.len()), None);
        }
        let cells = body.split_evenly(self.grid);
        for (cell, panel) in cells.iter().zip(order) {
            match panel {
                None => draw_difference(cell, self.learner, self.differences)?,
                Some((grouping, metric)) => self.draw_panel(cell, grouping, metric)?,
            }
        }
        area.present().map_err(plot_err)
    }

    /// One metric's panel: `fixed` and `disjoint` as lines through their means with a ± 1 sd
    /// band, and the line at H = 1 for a homogenization ratio.
    fn draw_panel<DB: DrawingBackend>(
        &self,
        cell: &DrawingArea<DB, Shift>,
        grouping: &str,
        metric: &str,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (learner, results, n_train) = (self.learner, self.results, self.n_train);
        let fixed = series(results, learner, Setting::Fixed, grouping, metric, n_train);
        let disjoint = series(
            results,
            learner,
            Setting::Disjoint,
            grouping,
            metric,
            n_train,
        );
        let all: Vec<&(f64, f64, f64)> = fixed.iter().chain(&disjoint).collect();
        if all.is_empty() {
            return Ok(());
        }
        let ratio = is_ratio(metric);
        let x_lo = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let x_hi = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let mut y_lo = all.iter().map(|p| p.1 - p.2).fold(f64::INFINITY, f64::min);
        let mut y_hi = all
            .iter()
            .map(|p| p.1 + p.2)
            .fold(f64::NEG_INFINITY, f64::max);
        if ratio {
            // Keep the reference H = 1 in view.
            (y_lo, y_hi) = (y_lo.min(1.0), y_hi.max(1.0));
        }
        let title = if grouping == "individual" {
            format!("{learner}: {metric}")
        } else {
            format!("{learner}: {metric} ({grouping})")
        };
        let mut chart = panel_chart(cell, title, (x_lo, x_hi), (y_lo, y_hi), metric)?;
        for (pts, color) in [(&fixed, RED), (&disjoint, BLUE)] {
            if pts.is_empty() {
                continue;
            }
            let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1 + p.2)).collect();
            band.extend(pts.iter().rev().map(|p| (p.0, p.1 - p.2)));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    color.mix(0.15).filled(),
                )))
                .map_err(plot_err)?;
        }
        if ratio {
            reference_line(&mut chart, 1.0, REFERENCE)?;
        }
        for (pts, color) in [(&fixed, RED), (&disjoint, BLUE)] {
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
                )
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_word_within_the_width() {
        register_fonts();
        let text = "Lines: mean over n = 25 trials per point; shaded bands: mean ± 1 sd";
        let lines = wrap(text, 15, 200);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert!(lines.iter().all(|l| text_width(l, 15) <= 200), "{lines:?}");
        assert_eq!(wrap("short", 15, 2000), vec!["short".to_string()]);
    }

    #[test]
    fn header_grows_when_narrow() {
        register_fonts();
        let header = Header {
            title: "A title".into(),
            notes: vec!["a note that is long enough to need two lines when narrow".into()],
            legend: (0..6)
                .map(|i| (Key::Dashed(BLACK), format!("legend entry {i}")))
                .collect(),
        };
        assert!(header.height(300) > header.height(1600));
    }

    #[test]
    fn ticks_have_the_decimals_they_need_and_no_negative_zero() {
        let f = tick_formatter(0.8);
        assert_eq!(f(&-1e-17), "0.00");
        assert_eq!(f(&0.25), "0.25");
        assert_eq!(tick_formatter(300.0)(&150.0), "150");
    }

    #[test]
    fn ratios_get_the_reference_line() {
        for m in ["h_individual", "h_avg", "h_unif"] {
            assert!(is_ratio(m));
        }
        assert!(!is_ratio("systemic_failure_expected"));
    }
}
