//! The run's figures (plotters, SVG and PNG, DejaVu Sans through the data-sharing study's
//! [`register_fonts`]): Figure 3 (homogenization per method, mean ± sd over seeds, one panel per
//! grouping, a line at H = 1), Table 1 as a heat-map of Pearson R² between metrics across
//! systems, and the k-of-n curves (observed / expected share failed by at least m deployments).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::mean_sd;
use crate::error::{Error, Result};
use crate::experiment::datasharing::plot::register_fonts;
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
        let w = 380 * panels.len() as u32;
        save!(dir, "figure3_homogenization", (w, 400), out, |a| draw_bars(
            &a, methods, per_method, &panels
        ));
    }
    let metrics = heat_metrics(correlations);
    if metrics.len() >= 2 {
        save!(dir, "table1_correlations", (780, 640), out, |a| draw_heat(
            &a,
            correlations,
            &metrics
        ));
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
        save!(dir, "kofn_curves", (600, 440), out, |a| draw_kofn(
            &a, methods, per_method, k
        ));
    }
    Ok(out)
}

fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    methods: &[String],
    per_method: &PerMethod,
    panels: &[(String, String)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(plot_err)?;
    let cells = area.split_evenly((1, panels.len()));
    for (cell, (grouping, metric)) in cells.iter().zip(panels) {
        let bars: Vec<(usize, f64, f64)> = methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let (mean, sd) = mean_sd(per_method, m, grouping, metric);
                Some((i, mean?, sd.unwrap_or(0.0)))
            })
            .collect();
        let y_hi = bars.iter().map(|b| b.1 + b.2).fold(1.0f64, f64::max) * 1.15;
        let n = methods.len();
        let mut chart = ChartBuilder::on(cell)
            .caption(format!("{metric} ({grouping})"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0.0f64..y_hi)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
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
            .x_desc("adaptation method")
            .y_desc(format!("{metric}, mean ± sd over seeds"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        for &(i, mean, sd) in &bars {
            let x = i as f64;
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.35, 0.0), (x + 0.35, mean)],
                    color.filled(),
                )))
                .map_err(plot_err)?
                .label(methods[i].as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            // The error bar: a vertical line from mean - sd to mean + sd with caps.
            let (lo, hi) = (mean - sd, mean + sd);
            chart
                .draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], BLACK.stroke_width(1)),
                    PathElement::new(vec![(x - 0.1, lo), (x + 0.1, lo)], BLACK.stroke_width(1)),
                    PathElement::new(vec![(x - 0.1, hi), (x + 0.1, hi)], BLACK.stroke_width(1)),
                ])
                .map_err(plot_err)?;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(plot_err)?
            .label("H = 1 (independent failures)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(plot_err)?;
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

fn r2_of(c: &[Measurement], a: &str, b: &str) -> Option<f64> {
    let (ga, ma) = a.split_once(':')?;
    let (gb, mb) = b.split_once(':')?;
    if ga != INDIVIDUAL && gb != INDIVIDUAL && ga != gb {
        return None; // metrics of two different groupings are not correlated with each other
    }
    let grouping = if ga != INDIVIDUAL { ga } else { gb };
    c.iter()
        .find(|m| {
            m.grouping == grouping
                && (m.metric == format!("pearson_r2:{ma}|{mb}")
                    || m.metric == format!("pearson_r2:{mb}|{ma}"))
        })
        .and_then(|m| m.value.get())
}

fn draw_heat<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &[Measurement],
    names: &[String],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(plot_err)?;
    let n = names.len();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Pearson R² between metrics across systems (grey: undefined)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(230)
        .build_cartesian_2d(0.0f64..n as f64, 0.0f64..n as f64)
        .map_err(plot_err)?;
    // Rows carry "k. grouping:metric"; columns the same numbers k (long names do not fit).
    let at = |x: &f64| {
        let i = x.floor() as usize;
        ((x - x.floor() - 0.5).abs() < 1e-6 && i < n).then_some(i)
    };
    let y_label = |x: &f64| at(x).map_or(String::new(), |i| format!("{}. {}", i + 1, names[i]));
    let x_label = |x: &f64| at(x).map_or(String::new(), |i| format!("{}", i + 1));
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(2 * n + 1)
        .y_labels(2 * n + 1)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 12))
        .x_desc("metric (number as in the rows)")
        .y_desc("metric")
        .draw()
        .map_err(plot_err)?;
    for i in 0..n {
        for j in 0..n {
            let v = if i == j {
                Some(1.0)
            } else {
                r2_of(c, &names[i], &names[j])
            };
            let color = match v {
                Some(v) => {
                    let t = v.clamp(0.0, 1.0);
                    RGBColor(
                        (255.0 * (1.0 - t)) as u8,
                        (255.0 * (1.0 - 0.6 * t)) as u8,
                        255,
                    )
                }
                None => RGBColor(200, 200, 200),
            };
            let (x, y) = (i as f64, j as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    color.filled(),
                )))
                .map_err(plot_err)?;
            if let Some(v) = v {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.2}"),
                        (x + 0.3, y + 0.6),
                        ("sans-serif", 12),
                    )))
                    .map_err(plot_err)?;
            }
        }
    }
    area.present().map_err(plot_err)
}

fn draw_kofn<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    methods: &[String],
    per_method: &PerMethod,
    k: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(plot_err)?;
    let curves: Vec<Vec<(f64, f64)>> = methods
        .iter()
        .map(|m| {
            (1..=k)
                .filter_map(|j| {
                    let (mean, _) =
                        mean_sd(per_method, m, INDIVIDUAL, &format!("at_least_{j}_ratio"));
                    Some((j as f64, mean?))
                })
                .collect()
        })
        .collect();
    let y_hi = curves.iter().flatten().map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "k-of-n exclusion: observed / expected share failed by ≥ m deployments",
            ("sans-serif", 15),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.5f64..(k as f64 + 0.5), 0.0f64..y_hi)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(k)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("m (deployments that fail the person)")
        .y_desc("observed / expected (mean over seeds)")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(plot_err)?;
    for (i, (m, pts)) in methods.iter().zip(&curves).enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(m.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(plot_err)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.5, 1.0), (k as f64 + 0.5, 1.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(plot_err)?
        .label("independence")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(plot_err)?;
    area.present().map_err(plot_err)
}
