//! Plots of a simulation: replicas, observed latency against target, and
//! load against serving capacity, stacked over one time axis, as SVG or PNG.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (plotters'
//! `ab_glyph` backend), so a PNG renders the same on a machine without
//! fonts or fontconfig.

use std::path::Path;
use std::sync::Once;

use lpa_core::sim::{Scenario, Trace};
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1200, 960);
const FAMILY: &str = "sans-serif";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(format!(
                "--plot {}: unknown format (expected a .svg or .png file name)",
                path.display()
            )),
        }
    }
}

fn register_font() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the embedded plot font is invalid".to_string());
    });
    result
}

/// Draws the trace to `path` (SVG or PNG by extension), through a
/// temporary file so a failure leaves nothing half-drawn.
pub fn draw(trace: &Trace, scenario: &Scenario, title: &str, path: &Path) -> Result<(), String> {
    register_font()?;
    let format = Format::of(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot");
    let tmp = path.with_file_name(format!(".{}.{}.{name}", std::process::id(), "tmp"));
    let drawn = match format {
        Format::Svg => render(
            SVGBackend::new(&tmp, SIZE).into_drawing_area(),
            trace,
            scenario,
            title,
        ),
        Format::Png => render(
            BitMapBackend::new(&tmp, SIZE).into_drawing_area(),
            trace,
            scenario,
            title,
        ),
    };
    let done = drawn.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done.map_err(|e| format!("{}: cannot draw the plot: {e}", path.display()))
}

/// The line colours: distinguishable for the common colour blindnesses
/// (Okabe & Ito's palette).
const BLUE: RGBColor = RGBColor(0, 114, 178);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const VERMILION: RGBColor = RGBColor(213, 94, 0);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const GREY: RGBColor = RGBColor(120, 120, 120);

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    trace: &Trace,
    scenario: &Scenario,
    title: &str,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, (FAMILY, 26)).map_err(e)?;
    let panels = root.split_evenly((3, 1));
    let interval_min = trace.interval_secs as f64 / 60.0;
    let minutes = |cycle: u32| f64::from(cycle) * interval_min;
    let end = minutes(trace.rows.len() as u32).max(interval_min);
    // Values hold for a whole cycle: draw steps, not slopes.
    let steps = |value: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        let mut v = Vec::with_capacity(trace.rows.len() * 2);
        for (i, r) in trace.rows.iter().enumerate() {
            v.push((minutes(r.cycle), value(i)));
            v.push((minutes(r.cycle + 1), value(i)));
        }
        v
    };
    let label_font = (FAMILY, 17);
    let caption_font = (FAMILY, 20);

    // 1. Replicas.
    let peak = trace
        .rows
        .iter()
        .map(|r| r.replicas.max(r.decided))
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(&panels[0])
        .margin(12)
        .margin_right(30)
        .caption("replicas", caption_font)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..end, 0f64..(f64::from(peak) * 1.4).ceil().max(2.0))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("replicas")
        .x_label_formatter(&short)
        .y_label_formatter(&short)
        .light_line_style(WHITE)
        .label_style(label_font)
        .axis_desc_style(label_font)
        .draw()
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            steps(&|i| f64::from(trace.rows[i].replicas)),
            BLUE.stroke_width(3),
        ))
        .map_err(e)?
        .label("replicas")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLUE.stroke_width(3)));
    chart
        .draw_series(LineSeries::new(
            steps(&|i| f64::from(trace.rows[i].ready)),
            GREEN.stroke_width(2),
        ))
        .map_err(e)?
        .label("ready (serving)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], GREEN.stroke_width(2)));
    legend(&mut chart).map_err(e)?;

    // 2. Latency against target, on a log scale: a saturated service is
    // thousands of times slower than its target, and both must stay legible.
    let latency: Vec<usize> = trace
        .targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.unit == "ms")
        .map(|(i, _)| i)
        .collect();
    let values = trace
        .rows
        .iter()
        .flat_map(|r| latency.iter().filter_map(|&i| r.observed[i]))
        .chain(latency.iter().map(|&i| trace.targets[i].target))
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // A decade of headroom keeps the legend clear of the data.
    let (lo, hi) = if lo <= hi {
        (lo / 1.5, hi * 10.0)
    } else {
        (0.1, 10.0)
    };
    let mut chart = ChartBuilder::on(&panels[1])
        .margin(12)
        .margin_right(30)
        .caption("observed latency against target (log scale)", caption_font)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..end, (lo..hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("ms")
        .x_label_formatter(&short)
        .y_label_formatter(&short)
        .light_line_style(WHITE)
        .label_style(label_font)
        .axis_desc_style(label_font)
        .draw()
        .map_err(e)?;
    let colours = [BLUE, ORANGE, GREEN, GREY];
    for (n, &i) in latency.iter().enumerate() {
        let t = &trace.targets[i];
        let colour = colours[n % colours.len()];
        let points: Vec<(f64, f64)> = trace
            .rows
            .iter()
            .filter_map(|r| {
                r.observed[i]
                    .filter(|v| *v > 0.0)
                    .map(|v| (minutes(r.cycle) + interval_min / 2.0, v))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(e)?
            .label(format!("{} {}", t.kind, t.key))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|(_, v)| *v > t.target)
                    .map(|&(x, v)| Circle::new((x, v), 4, VERMILION.filled())),
            )
            .map_err(e)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, t.target), (end, t.target)],
                10,
                6,
                VERMILION.stroke_width(2),
            ))
            .map_err(e)?
            .label(format!(
                "target {} <= {}ms (dots: breaches)",
                t.kind, t.target
            ))
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], VERMILION.stroke_width(2))
            });
    }
    legend(&mut chart).map_err(e)?;

    // 3. Load against what the serving replicas can take.
    let capacity = |i: usize| f64::from(trace.rows[i].ready) * scenario.service.capacity;
    let top = (0..trace.rows.len())
        .map(|i| trace.rows[i].load.max(capacity(i)))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&panels[2])
        .margin(12)
        .margin_right(30)
        .caption("load against serving capacity", caption_font)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..end, 0f64..top * 1.4)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("requests/s")
        .x_label_formatter(&short)
        .y_label_formatter(&short)
        .light_line_style(WHITE)
        .label_style(label_font)
        .axis_desc_style(label_font)
        .draw()
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            steps(&|i| trace.rows[i].load),
            ORANGE.stroke_width(3),
        ))
        .map_err(e)?
        .label("offered load")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], ORANGE.stroke_width(3)));
    chart
        .draw_series(LineSeries::new(steps(&capacity), GREEN.stroke_width(2)))
        .map_err(e)?
        .label(format!(
            "capacity (ready x {}/s)",
            scenario.service.capacity
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], GREEN.stroke_width(2)));
    legend(&mut chart).map_err(e)?;

    root.present().map_err(e)?;
    Ok(())
}

/// Axis numbers without float noise: 5, 2.5, 1000.
fn short(v: &f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()
}
