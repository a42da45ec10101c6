//! The run's figures (plotters, SVG and PNG, DejaVu Sans through the data-sharing study's
//! [`register_fonts`]), each with a header above its panels (title, what the marks are, n, and
//! the legend on an opaque background, so that nothing covers data): Figure 3 (homogenization
//! per method, bars at the mean over seeds with ± 1 sd error bars, one panel per grouping, a
//! dashed line at H = 1; a mean of exactly 0 is a marked flat bar, an undefined one reads
//! "n/a"), Table 1 as a heat-map of Pearson R² between metrics across systems (a colour bar;
//! undefined and never-compared pairs told apart), and the k-of-n curves (observed / expected
//! share failed by at least m deployments, mean ± 1 sd over seeds).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::mean_sd;
use crate::error::{Error, Result};
use crate::experiment::datasharing::plot::{
    hatch, is_ratio, light_mesh, reference_line, register_fonts, span, text_width, tick_formatter,
    Header, Key, CAPTION_FONT, DESC_FONT, REFERENCE, TICK_FONT,
};
use crate::metrics::across::pearson;
use crate::metrics::{Measurement, SystemResult, INDIVIDUAL};
use crate::report::figure::{self, plot_err};

type PerMethod = [(String, Vec<Measurement>)];

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Grey of a heat-map cell whose R² is undefined.
const UNDEFINED: RGBColor = RGBColor(185, 185, 185);

/// Draws a figure as SVG and PNG under temporary names, renames them into place
/// ([`figure::install`]) and records their paths.
macro_rules! save {
    ($dir:expr, $stem:expr, $size:expr, $out:expr, |$a:ident| $body:expr) => {{
        let drawn = figure::temporaries(&$dir, &$stem);
        {
            let $a = SVGBackend::new(&drawn[0], $size).into_drawing_area();
            $body?;
        }
        {
            let $a = BitMapBackend::new(&drawn[1], $size).into_drawing_area();
            $body?;
        }
        $out.extend(figure::install(&$dir, &$stem, &drawn)?);
    }};
}

/// Draws every figure into `dir`; returns their paths relative to the run folder.
pub fn figures(
    dir: &Path,
    methods: &[String],
    groupings: &[String],
    systems: &[SystemResult],
    per_method: &PerMethod,
    correlations: &[Measurement],
) -> Result<Vec<PathBuf>> {
    if systems.is_empty() {
        return Ok(Vec::new());
    }
    register_fonts();
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating folder {}", dir.display()), e))?;
    let mut panels = vec![(INDIVIDUAL.to_string(), "h_individual".to_string())];
    panels.extend(groupings.iter().map(|g| (g.clone(), "h_avg".to_string())));
    // A metric undefined for every method (H_individual when the tasks decide about different
    // people) would be an empty panel; report.md says why it is undefined.
    panels.retain(|(grouping, metric)| {
        methods
            .iter()
            .any(|m| mean_sd(per_method, m, grouping, metric).0.is_some())
    });
    let mut out = Vec::new();
    if !panels.is_empty() {
        let header = bars_header(methods, per_method, &panels);
        let cols = panels.len().min(3);
        let rows = panels.len().div_ceil(3);
        let w = (430 * cols as u32).max(640);
        let h = header.height(w) + 430 * rows as u32;
        save!(dir, "figure3_homogenization", (w, h), out, |a| draw_bars(
            &a,
            &header,
            methods,
            per_method,
            &panels,
            (rows, cols)
        ));
    }
    let metrics = heat_metrics(correlations);
    if metrics.len() >= 2 {
        let heat = Heat::new(correlations, systems, metrics);
        let size = heat.size();
        save!(dir, "table1_correlations", size, out, |a| heat.draw(&a));
    }
    let k = systems
        .iter()
        .flat_map(|s| &s.rows)
        .filter_map(|r| {
            r.metric
                .strip_prefix("at_least_")?
                .strip_suffix("_ratio")?
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    // A curve needs m >= 2 somewhere (m = 1 alone is 1 whenever each person met one
    // deployment).
    let any_ratio = systems.iter().flat_map(|s| &s.rows).any(|r| {
        let m = r
            .metric
            .strip_prefix("at_least_")
            .and_then(|m| m.strip_suffix("_ratio"))
            .and_then(|m| m.parse::<usize>().ok());
        m.is_some_and(|m| m >= 2) && r.value.get().is_some()
    });
    if k > 0 && any_ratio {
        let header = kofn_header(methods, per_method, k);
        let w = 700;
        let h = header.height(w) + 460;
        save!(dir, "kofn_curves", (w, h), out, |a| draw_kofn(
            &a, &header, methods, per_method, k
        ));
    }
    Ok(out)
}

/// The number of seeds (systems) behind a method's mean of `metric` in `grouping`.
fn n_of(per_method: &PerMethod, method: &str, grouping: &str, metric: &str) -> Option<usize> {
    let key = format!("method={method}");
    let (_, rows) = per_method.iter().find(|(k, _)| *k == key)?;
    rows.iter()
        .find(|r| r.grouping == grouping && r.metric == format!("n:{metric}"))
        .and_then(|r| r.value.get())
        .map(|n| n as usize)
}

/// The smallest and largest positive n over `(method, grouping, metric)` cells.
fn n_range<'a>(
    per_method: &PerMethod,
    cells: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> Option<(usize, usize)> {
    let ns: Vec<usize> = cells
        .filter_map(|(m, g, metric)| n_of(per_method, m, g, metric))
        .filter(|&n| n > 0)
        .collect();
    Some((*ns.iter().min()?, *ns.iter().max()?))
}

/// Figure 3's header: title, what the bars and error bars are over how many seeds, how a zero
/// and an undefined mean look, and the legend.
fn bars_header(methods: &[String], per_method: &PerMethod, panels: &[(String, String)]) -> Header {
    let cells = methods.iter().flat_map(|m| {
        panels
            .iter()
            .map(move |(g, metric)| (m.as_str(), g.as_str(), metric.as_str()))
    });
    let mut first = match n_range(per_method, cells) {
        Some((lo, hi)) => format!(
            "Bars: mean over n = {} seeds per method; error bars: ± 1 sd (sample sd over seeds)",
            span(lo, hi)
        ),
        None => "Bars: mean over seeds; error bars: ± 1 sd (sample sd over seeds)".into(),
    };
    let single = methods.iter().any(|m| {
        panels
            .iter()
            .any(|(g, metric)| n_of(per_method, m, g, metric) == Some(1))
    });
    if single {
        first.push_str("; no error bar where a single seed is defined");
    }
    first.push('.');
    let mut legend: Vec<(Key, String)> = methods
        .iter()
        .enumerate()
        .map(|(i, m)| (Key::Swatch(COLORS[i % COLORS.len()].to_rgba()), m.clone()))
        .collect();
    legend.extend([
        (Key::ErrorBar, "± 1 sd over seeds".to_string()),
        (
            Key::Dashed(REFERENCE),
            "H = 1 (independent failures)".to_string(),
        ),
    ]);
    Header {
        title: "Figure 3: homogenization per adaptation method".into(),
        notes: vec![
            first,
            "A mean too close to 0 to see is a flat marker labelled with its value (0.00); \
             n/a: no bar, the metric is undefined in every seed."
                .into(),
        ],
        legend,
    }
}

fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    header: &Header,
    methods: &[String],
    per_method: &PerMethod,
    panels: &[(String, String)],
    grid: (usize, usize),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(plot_err)?;
    let body = header.draw(area)?;
    let cells = body.split_evenly(grid);
    let n = methods.len();
    for (cell, (grouping, metric)) in cells.iter().zip(panels) {
        let bars: Vec<(usize, Option<f64>, Option<f64>)> = methods
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (mean, sd) = mean_sd(per_method, m, grouping, metric);
                (i, mean, sd)
            })
            .collect();
        let top = bars
            .iter()
            .filter_map(|b| Some(b.1? + b.2.unwrap_or(0.0)))
            .fold(1.0f64, f64::max);
        let y_hi = top * 1.12;
        let mut chart = ChartBuilder::on(cell)
            .caption(
                format!("{metric} ({grouping})"),
                ("sans-serif", CAPTION_FONT),
            )
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0.0f64..y_hi)
            .map_err(plot_err)?;
        let y_label = tick_formatter(y_hi);
        light_mesh(&mut chart)
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                    methods[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&y_label)
            .x_desc("adaptation method")
            .y_desc(format!("{metric}, mean ± sd over seeds"))
            .draw()
            .map_err(plot_err)?;
        for &(i, mean, sd) in &bars {
            let x = i as f64;
            let color = COLORS[i % COLORS.len()];
            let Some(mean) = mean else {
                // Undefined in every seed: no bar, and a text saying so.
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((x, 0.0))
                            + Text::new(
                                "n/a",
                                (0, -8),
                                ("sans-serif", TICK_FONT + 2)
                                    .into_font()
                                    .color(&RGBColor(90, 90, 90))
                                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
                            ),
                    ))
                    .map_err(plot_err)?;
                continue;
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.35, 0.0), (x + 0.35, mean)],
                    color.filled(),
                )))
                .map_err(plot_err)?;
            if mean.abs() < y_hi * 0.005 {
                // A bar too flat to see (a mean of 0): a marker 4 pixels high and its value.
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((x, 0.0))
                            + Rectangle::new([(-30, -4), (30, 0)], color.filled())
                            + Text::new(
                                format!("{mean:.2}").replace("-0.00", "0.00"),
                                (0, -8),
                                ("sans-serif", TICK_FONT + 2)
                                    .into_font()
                                    .color(&BLACK)
                                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
                            ),
                    ))
                    .map_err(plot_err)?;
            }
            // The error bar: a vertical line from mean - sd to mean + sd with caps.
            if let Some(sd) = sd.filter(|sd| *sd > 0.0) {
                let (lo, hi) = (mean - sd, mean + sd);
                chart
                    .draw_series([
                        PathElement::new(vec![(x, lo), (x, hi)], BLACK.stroke_width(1)),
                        PathElement::new(vec![(x - 0.1, lo), (x + 0.1, lo)], BLACK.stroke_width(1)),
                        PathElement::new(vec![(x - 0.1, hi), (x + 0.1, hi)], BLACK.stroke_width(1)),
                    ])
                    .map_err(plot_err)?;
            }
        }
        if is_ratio(metric) {
            reference_line(&mut chart, 1.0, REFERENCE)?;
        }
    }
    area.present().map_err(plot_err)
}

/// The `grouping:metric` names in the Pearson R² rows, in order of appearance.
fn heat_metrics(c: &[Measurement]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in c {
        if let Some((a, b)) = m
            .metric
            .strip_prefix("pearson_r2:")
            .and_then(|p| p.split_once('|'))
        {
            for x in [a, b] {
                let g = if super::measure::is_group_metric(x) {
                    m.grouping.as_str()
                } else {
                    INDIVIDUAL
                };
                let name = format!("{g}:{x}");
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// A heat-map cell: R² between two metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
enum R2 {
    /// Defined.
    Value(f64),
    /// Computed but undefined (fewer than 3 systems with both, or a metric constant).
    Undefined,
    /// Never computed (metrics of two different groupings).
    NotCompared,
}

/// R² between `grouping:metric` names `a` and `b` from the correlation rows; on the diagonal,
/// R² of the metric with itself: 1 where it is defined (at least 3 systems with a value, not
/// all equal), undefined otherwise.
fn r2_of(c: &[Measurement], systems: &[SystemResult], a: &str, b: &str) -> R2 {
    let (Some((ga, ma)), Some((gb, mb))) = (a.split_once(':'), b.split_once(':')) else {
        return R2::NotCompared;
    };
    if a == b {
        let x: Vec<f64> = systems.iter().filter_map(|s| s.value(ga, ma)).collect();
        return match pearson(&x, &x) {
            Ok((r, _)) => R2::Value(r * r),
            Err(_) => R2::Undefined,
        };
    }
    if ga != INDIVIDUAL && gb != INDIVIDUAL && ga != gb {
        return R2::NotCompared; // metrics of two different groupings are not correlated
    }
    let grouping = if ga != INDIVIDUAL { ga } else { gb };
    c.iter()
        .find(|m| {
            m.grouping == grouping
                && (m.metric == format!("pearson_r2:{ma}|{mb}")
                    || m.metric == format!("pearson_r2:{mb}|{ma}"))
        })
        .map_or(R2::NotCompared, |m| {
            m.value.get().map_or(R2::Undefined, R2::Value)
        })
}

/// The colour of an R² in [0, 1]: white to blue.
fn r2_color(v: f64) -> RGBColor {
    let t = v.clamp(0.0, 1.0);
    RGBColor(
        (255.0 * (1.0 - t)) as u8,
        (255.0 * (1.0 - 0.6 * t)) as u8,
        255,
    )
}

/// Side of a heat-map cell, in pixels.
const CELL: u32 = 60;
/// Width of the colour bar's column (bar, ticks and labels), in pixels.
const BAR_COLUMN: u32 = 110;
/// Blank margin around the heat-map, in pixels.
const MARGIN: u32 = 16;
/// Font size of the heat-map's metric names.
const NAME_FONT: u32 = 14;

/// Table 1 as a heat-map: the cells, names along both sides (columns rotated), a colour bar
/// with ticks, and a header that tells undefined cells from pairs never compared.
struct Heat {
    names: Vec<String>,
    cells: Vec<Vec<R2>>,
    header: Header,
    /// Width of the row names' column, in pixels.
    left: u32,
    /// Height of the (rotated) column names' row, in pixels.
    bottom: u32,
}

impl Heat {
    fn new(c: &[Measurement], systems: &[SystemResult], names: Vec<String>) -> Self {
        let cells = names
            .iter()
            .map(|a| names.iter().map(|b| r2_of(c, systems, a, b)).collect())
            .collect();
        let longest = names
            .iter()
            .map(|n| text_width(n, NAME_FONT))
            .max()
            .unwrap_or(0);
        let header = Header {
            title: "Table 1: Pearson R² between metrics across systems".into(),
            notes: vec![format!(
                "Each off-diagonal cell: R² over the systems (of {}: method × seed) where both \
                 metrics are defined; diagonal: 1 where the metric is defined and varies over at \
                 least 3 systems.",
                systems.len()
            )],
            legend: vec![
                (
                    Key::Cell(UNDEFINED, "—"),
                    "undefined (fewer than 3 systems, or a metric constant)".into(),
                ),
                (
                    Key::Hatch,
                    "not compared (metrics of different groupings)".into(),
                ),
            ],
        };
        Heat {
            names,
            cells,
            header,
            left: longest + 14,
            bottom: longest + 14,
        }
    }

    /// The figure's size in pixels.
    fn size(&self) -> (u32, u32) {
        let n = self.names.len() as u32;
        let w = (MARGIN + self.left + n * CELL + BAR_COLUMN + MARGIN).max(760);
        (
            w,
            self.header.height(w) + MARGIN + n * CELL + self.bottom + MARGIN,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(plot_err)?;
        let body = self.header.draw(area)?;
        let n = self.names.len() as i32;
        let c = CELL as i32;
        let (w, _) = body.dim_in_pixel();
        // Centre the map, names and colour bar horizontally.
        let total = self.left as i32 + n * c + BAR_COLUMN as i32;
        let x0 = (w as i32 - total) / 2 + self.left as i32;
        let y0 = MARGIN as i32;
        let text = |size: u32, color: &RGBColor, h: HPos, v: VPos| {
            ("sans-serif", size)
                .into_font()
                .color(color)
                .pos(Pos::new(h, v))
        };
        for (i, row) in self.cells.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                let (x, y) = (x0 + j as i32 * c, y0 + i as i32 * c);
                let centre = (x + c / 2, y + c / 2);
                match *cell {
                    R2::Value(v) => {
                        body.draw(&Rectangle::new(
                            [(x, y), (x + c, y + c)],
                            r2_color(v).filled(),
                        ))
                        .map_err(plot_err)?;
                        let ink = if v > 0.55 { WHITE } else { BLACK };
                        body.draw(&Text::new(
                            format!("{v:.2}"),
                            centre,
                            text(15, &ink, HPos::Center, VPos::Center),
                        ))
                        .map_err(plot_err)?;
                    }
                    R2::Undefined => {
                        body.draw(&Rectangle::new(
                            [(x, y), (x + c, y + c)],
                            UNDEFINED.filled(),
                        ))
                        .map_err(plot_err)?;
                        body.draw(&Text::new(
                            "—",
                            centre,
                            text(15, &BLACK, HPos::Center, VPos::Center),
                        ))
                        .map_err(plot_err)?;
                    }
                    R2::NotCompared => hatch(&body, (x, y), (x + c, y + c))?,
                }
                body.draw(&Rectangle::new(
                    [(x, y), (x + c, y + c)],
                    WHITE.stroke_width(1),
                ))
                .map_err(plot_err)?;
            }
        }
        for (i, name) in self.names.iter().enumerate() {
            let mid = i as i32 * c + c / 2;
            body.draw(&Text::new(
                name.as_str(),
                (x0 - 8, y0 + mid),
                text(NAME_FONT, &BLACK, HPos::Right, VPos::Center),
            ))
            .map_err(plot_err)?;
            // Column names read upwards, ending just under the map.
            let style = text(NAME_FONT, &BLACK, HPos::Right, VPos::Center)
                .transform(FontTransform::Rotate270);
            body.draw(&Text::new(name.as_str(), (x0 + mid, y0 + n * c + 8), style))
                .map_err(plot_err)?;
        }
        // The colour bar: 0 at the bottom, 1 at the top, ticks every 0.25.
        let (bx, bw, bh) = (x0 + n * c + 28, 22, n * c);
        let steps = bh.max(1);
        for s in 0..steps {
            let v = 1.0 - (s as f64 + 0.5) / steps as f64;
            body.draw(&Rectangle::new(
                [(bx, y0 + s), (bx + bw, y0 + s + 1)],
                r2_color(v).filled(),
            ))
            .map_err(plot_err)?;
        }
        body.draw(&Rectangle::new(
            [(bx, y0), (bx + bw, y0 + bh)],
            BLACK.stroke_width(1),
        ))
        .map_err(plot_err)?;
        for t in 0..=4 {
            let v = t as f64 / 4.0;
            let y = y0 + bh - (v * bh as f64).round() as i32;
            body.draw(&PathElement::new(
                vec![(bx + bw, y), (bx + bw + 5, y)],
                BLACK.stroke_width(1),
            ))
            .map_err(plot_err)?;
            body.draw(&Text::new(
                format!("{v:.2}"),
                (bx + bw + 8, y),
                text(TICK_FONT, &BLACK, HPos::Left, VPos::Center),
            ))
            .map_err(plot_err)?;
        }
        body.draw(&Text::new(
            "R²",
            (bx + bw / 2, y0 + bh + 8),
            text(DESC_FONT, &BLACK, HPos::Center, VPos::Top),
        ))
        .map_err(plot_err)?;
        area.present().map_err(plot_err)
    }
}

/// The k-of-n figure's header: what the points and error bars are, over how many seeds.
fn kofn_header(methods: &[String], per_method: &PerMethod, k: usize) -> Header {
    let metrics: Vec<String> = (1..=k).map(|j| format!("at_least_{j}_ratio")).collect();
    let cells = methods.iter().flat_map(|m| {
        metrics
            .iter()
            .map(move |metric| (m.as_str(), INDIVIDUAL, metric.as_str()))
    });
    let n = n_range(per_method, cells)
        .map_or(String::new(), |(lo, hi)| format!(" n = {}", span(lo, hi)));
    let mut legend: Vec<(Key, String)> = methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                Key::Line {
                    color: COLORS[i % COLORS.len()],
                    width: 2,
                    dot: true,
                },
                m.clone(),
            )
        })
        .collect();
    legend.extend([
        (Key::ErrorBar, "± 1 sd over seeds".to_string()),
        (
            Key::Dashed(REFERENCE),
            "1 (independent failures)".to_string(),
        ),
    ]);
    Header {
        title: "k-of-n exclusion: failed by at least m deployments".into(),
        notes: vec![format!(
            "y: share of people failed by at least m deployments, observed / expected under \
             independent failures. Points: mean over{n} seeds per method; error bars: ± 1 sd (sample sd over seeds); \
             methods are shifted slightly sideways so that their bars do not overlap."
        )],
        legend,
    }
}

fn draw_kofn<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    header: &Header,
    methods: &[String],
    per_method: &PerMethod,
    k: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(plot_err)?;
    let body = header.draw(area)?;
    let spread = 0.05 * (k as f64).max(2.0) / 2.0;
    let curves: Vec<Vec<(f64, f64, Option<f64>)>> = methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let shift = (i as f64 - (methods.len() as f64 - 1.0) / 2.0) * spread;
            (1..=k)
                .filter_map(|j| {
                    let (mean, sd) =
                        mean_sd(per_method, m, INDIVIDUAL, &format!("at_least_{j}_ratio"));
                    Some((j as f64 + shift, mean?, sd))
                })
                .collect()
        })
        .collect();
    let y_hi = curves
        .iter()
        .flatten()
        .map(|p| p.1 + p.2.unwrap_or(0.0))
        .fold(1.0f64, f64::max)
        * 1.1;
    let y_lo = curves
        .iter()
        .flatten()
        .map(|p| p.1 - p.2.unwrap_or(0.0))
        .fold(0.0f64, f64::min);
    let y_lo = if y_lo < 0.0 {
        y_lo - 0.04 * (y_hi - y_lo)
    } else {
        y_lo
    };
    let mut chart = ChartBuilder::on(&body)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(0.5f64..(k as f64 + 0.5), y_lo..y_hi)
        .map_err(plot_err)?;
    let y_label = tick_formatter(y_hi - y_lo);
    light_mesh(&mut chart)
        .disable_x_mesh()
        .x_labels(k)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&y_label)
        .x_desc("m (person failed by at least m deployments)")
        .y_desc("observed / expected share")
        .draw()
        .map_err(plot_err)?;
    reference_line(&mut chart, 1.0, REFERENCE)?;
    for (i, pts) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))
            .map_err(plot_err)?;
        for &(x, mean, sd) in pts {
            if let Some(sd) = sd.filter(|sd| *sd > 0.0) {
                let (lo, hi) = (mean - sd, mean + sd);
                chart
                    .draw_series([
                        PathElement::new(vec![(x, lo), (x, hi)], color.stroke_width(2)),
                        PathElement::new(
                            vec![(x - 0.03, lo), (x + 0.03, lo)],
                            color.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(x - 0.03, hi), (x + 0.03, hi)],
                            color.stroke_width(2),
                        ),
                    ])
                    .map_err(plot_err)?;
            }
        }
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.0, p.1), 5, color.filled())),
            )
            .map_err(plot_err)?;
    }
    area.present().map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{aggregate_by, correlations, Value};

    /// Three methods × three seeds: `zero` has H = 0 everywhere, `none` an undefined H, `some`
    /// values that vary; hair and beard groupings; k-of-n ratios for m = 1, 2.
    fn systems() -> Vec<SystemResult> {
        let mut out = Vec::new();
        for method in ["zero", "none", "some"] {
            for seed in 0..3 {
                let h = match method {
                    "zero" => Value::Defined(0.0),
                    "none" => Value::Undefined("no person met two deployments".into()),
                    _ => Value::Defined(1.2 + 0.1 * seed as f64),
                };
                let s = seed as f64;
                let rows = vec![
                    Measurement::new(INDIVIDUAL, "h_individual", h.clone()),
                    Measurement::new(
                        INDIVIDUAL,
                        "systemic_failure_observed",
                        Value::Defined(0.1 + 0.01 * s * s),
                    ),
                    Measurement::new("hair", "h_avg", h),
                    Measurement::new("hair", "unfairness", Value::Defined(0.2 - 0.03 * s)),
                    Measurement::new("beard", "h_avg", Value::Defined(0.9 + 0.05 * s)),
                    Measurement::new(INDIVIDUAL, "at_least_1_ratio", Value::Defined(1.0)),
                    Measurement::new(
                        INDIVIDUAL,
                        "at_least_2_ratio",
                        Value::Defined(1.1 + 0.1 * s),
                    ),
                ];
                out.push(SystemResult {
                    name: format!("{method}/seed-{seed}"),
                    attributes: vec![
                        ("method".into(), method.into()),
                        ("seed".into(), seed.to_string()),
                    ],
                    rows,
                });
            }
        }
        out
    }

    #[test]
    fn heat_cells_tell_undefined_from_not_compared() {
        let systems = systems();
        let c = correlations(&systems);
        let r2 = |a: &str, b: &str| r2_of(&c, &systems, a, b);
        // Defined and varying: 1 on the diagonal.
        assert_eq!(
            r2("beard:h_avg", "beard:h_avg"),
            R2::Value(1.0),
            "a defined metric correlates with itself"
        );
        // Undefined for a third of the systems but varying: still 1.
        assert_eq!(r2("hair:h_avg", "hair:h_avg"), R2::Value(1.0));
        // A metric undefined in every system: undefined, not 1.
        let undefined: Vec<SystemResult> = systems
            .iter()
            .filter(|s| s.name.starts_with("none"))
            .cloned()
            .collect();
        assert_eq!(
            r2_of(&c, &undefined, "hair:h_avg", "hair:h_avg"),
            R2::Undefined
        );
        // Metrics of two groupings were never compared.
        assert_eq!(r2("hair:h_avg", "beard:h_avg"), R2::NotCompared);
        // A compared pair.
        assert!(matches!(
            r2("individual:h_individual", "hair:h_avg"),
            R2::Value(_)
        ));
    }

    #[test]
    fn figures_mark_zero_and_undefined_bars_and_state_n() {
        let systems = systems();
        let per_method = aggregate_by(&systems, "method").unwrap();
        let methods: Vec<String> = ["zero", "none", "some"].map(String::from).to_vec();
        let groupings: Vec<String> = ["hair", "beard"].map(String::from).to_vec();
        let dir = tempfile::tempdir().unwrap();
        let made = figures(
            dir.path(),
            &methods,
            &groupings,
            &systems,
            &per_method,
            &correlations(&systems),
        )
        .unwrap();
        assert_eq!(made.len(), 6, "{made:?}");
        let read = |stem: &str| std::fs::read_to_string(dir.path().join(stem)).unwrap();
        let bars = read("figure3_homogenization.svg");
        for needle in ["n/a", "0.00", "n = 3 seeds", "± 1 sd", "H = 1"] {
            assert!(bars.contains(needle), "figure 3 lacks {needle}");
        }
        let heat = read("table1_correlations.svg");
        for needle in ["not compared", "undefined", "R²", "beard:h_avg"] {
            assert!(heat.contains(needle), "table 1 lacks {needle}");
        }
        let kofn = read("kofn_curves.svg");
        assert!(kofn.contains("m (person failed by at least m deployments)"));
        assert!(kofn.contains("n = 3 seeds"));
    }
}
