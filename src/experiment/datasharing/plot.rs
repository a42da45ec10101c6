//! The study's figures (plotters, SVG and PNG, DejaVu Sans embedded): per learner, one panel per
//! metric against the training-set size, `fixed` and `disjoint` as lines with a mean ± sd band —
//! homogenization, the paired difference fixed − disjoint with its 95% interval and a line at
//! zero, the expected systemic failure, and the group-level values.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

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
        let (w, h) = (420 * n_panels as u32, 360);
        let stem = format!("{dataset}_{learner}");
        let drawn = figure::temporaries(dir, &stem);
        draw(
            &SVGBackend::new(&drawn[0], (w, h)).into_drawing_area(),
            learner,
            n_train,
            results,
            &panels,
            &differences,
        )?;
        draw(
            &BitMapBackend::new(&drawn[1], (w, h)).into_drawing_area(),
            learner,
            n_train,
            results,
            &panels,
            &differences,
        )?;
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
            })
        })
        .collect();
    pts.sort_by(|a, b| a.size.total_cmp(&b.size));
    pts
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
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d((x_lo - x_pad)..(x_hi + x_pad), (y_lo - pad)..(y_hi + pad))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("training-set size")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_desc)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// Draws a panel's legend.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(plot_err)
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
        let fill = BLACK.mix(0.12).filled();
        chart
            .draw_series(std::iter::once(Polygon::new(band, fill)))
            .map_err(plot_err)?
            .label("95% interval over data seeds")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill));
    }
    let x = chart.x_range();
    chart
        .draw_series(DashedLineSeries::new(
            [(x.start, 0.0), (x.end, 0.0)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(plot_err)?
        .label("no difference")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(1)));
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.size, p.difference)),
            BLACK.stroke_width(2),
        ))
        .map_err(plot_err)?
        .label("mean paired difference")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(2)));
    chart
        .draw_series(
            pts.iter()
                .map(|p| Circle::new((p.size, p.difference), 3, BLACK.filled())),
        )
        .map_err(plot_err)?;
    legend(&mut chart)
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    learner: &str,
    n_train: usize,
    results: &[ResultRow],
    panels: &[(String, String)],
    differences: &[DifferencePoint],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(plot_err)?;
    // `None` is the difference panel, right after the headline panel it summarises.
    let mut order: Vec<Option<&(String, String)>> = panels.iter().map(Some).collect();
    if !differences.is_empty() {
        order.insert(1.min(order.len()), None);
    }
    let cells = area.split_evenly((1, order.len()));
    for (cell, panel) in cells.iter().zip(order) {
        let Some((grouping, metric)) = panel else {
            draw_difference(cell, learner, differences)?;
            continue;
        };
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
            continue;
        }
        let x_lo = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let x_hi = all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let y_lo = all.iter().map(|p| p.1 - p.2).fold(f64::INFINITY, f64::min);
        let y_hi = all
            .iter()
            .map(|p| p.1 + p.2)
            .fold(f64::NEG_INFINITY, f64::max);
        let title = if grouping == "individual" {
            format!("{learner}: {metric}")
        } else {
            format!("{learner}: {metric} ({grouping})")
        };
        let mut chart = panel_chart(cell, title, (x_lo, x_hi), (y_lo, y_hi), metric)?;
        for (pts, color, name) in [(&fixed, RED, "fixed"), (&disjoint, BLUE, "disjoint")] {
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
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
                )
                .map_err(plot_err)?;
        }
        legend(&mut chart)?;
    }
    area.present().map_err(plot_err)
}
