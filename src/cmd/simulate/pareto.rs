//! `lpa simulate --pareto A.json B.json ... --plot OUT.svg`: the results of
//! `--compare --out` on several scenarios in one picture, a panel each,
//! replica-cycles (log scale) against cycles over target, one point per
//! yardstick. Lower left is better; the shaded box is where a point has
//! neither more cycles over target nor more replica-cycles than either HPA
//! baseline, the dashed line 115 % of the oracle's replica-cycles, the
//! purple line the bound (`bound_curve`), where the JSON has one.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use crate::plot::{self, BLUE, GREEN, INK, ORANGE, PURPLE, VERMILION};
use crate::settings::{Failure, Result};

/// One yardstick's summed scores on one scenario.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    who: &'static str,
    over: f64,
    cost: f64,
}

/// One scenario's comparison.
#[derive(Debug, Clone, PartialEq)]
struct Panel {
    scenario: String,
    seeds: usize,
    points: Vec<Point>,
    /// The bound's corners (cycles over target, replica-cycles); empty in
    /// a JSON without one.
    bound: Vec<(f64, f64)>,
}

impl Panel {
    fn read(path: &Path) -> Result<Panel> {
        let name = path.display().to_string();
        let text = crate::settings::read_record_text(path)
            .map_err(|e| Failure::new(format!("{name}: cannot read: {e}")))?;
        let j: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::new(format!("{name}: not JSON: {e}")))?;
        let not_compare = || {
            Failure::new(format!(
                "{name}: not the JSON of lpa simulate --compare --out (expected scores, baselines and oracle)"
            ))
        };
        // A yardstick's scores: absent or null where it has none (HPA on
        // CPU where no utilisation holds), else counts, each checked, so
        // a hand-edited file is not drawn from what was left of it.
        let point = |who, at: &str, scores: &Value| -> Result<Option<Point>> {
            if scores.is_null() {
                return Ok(None);
            }
            let count = |field: &str| {
                let v = scores.get(field).unwrap_or(&Value::Null);
                v.as_u64().map(|n| n as f64).ok_or_else(|| {
                    Failure::new(format!(
                        "{name}: {at}.{field}: invalid value {} (expected a whole number >= 0)",
                        lpa_core::parse::show_json(v)
                    ))
                })
            };
            Ok(Some(Point {
                who,
                over: count("cycles_over_target")?,
                cost: count("replica_cycles")?,
            }))
        };
        let baselines = j
            .get("baselines")
            .filter(|b| b.is_object())
            .ok_or_else(not_compare)?;
        let policy = j
            .get("scores")
            .filter(|s| s.is_object())
            .ok_or_else(not_compare)?;
        let mut points = point("policy", "scores", policy)?
            .into_iter()
            .collect::<Vec<_>>();
        for (who, key) in [
            ("seed", "seed"),
            ("hpa-cpu", "hpa_cpu"),
            ("hpa-latency", "hpa_latency"),
        ] {
            let at = format!("baselines.{key}");
            points.extend(point(who, &at, &baselines[key])?);
        }
        points.extend(point("oracle", "oracle", &j["oracle"])?);
        // Absent in a JSON from before the bound; anything else there must
        // be corners, or the line would be drawn from what was left.
        let bound = match j.get("bound_curve") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => corners(v).ok_or_else(|| {
                Failure::new(format!(
                    "{name}: bound_curve: invalid value {} (expected [cycles over target, replica-cycles] pairs of numbers >= 0)",
                    lpa_core::parse::show_json(v)
                ))
            })?,
        };
        Ok(Panel {
            scenario: j["scenario"].as_str().ok_or_else(not_compare)?.to_string(),
            seeds: match j.get("seeds") {
                None => 1,
                Some(v) => v
                    .as_array()
                    .map(Vec::len)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        Failure::new(format!(
                            "{name}: seeds: invalid value {} (expected the list of seeds)",
                            lpa_core::parse::show_json(v)
                        ))
                    })?,
            },
            points,
            bound,
        })
    }

    fn find(&self, who: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.who == who)
    }
}

/// A bound curve's corners, each `[cycles over target, replica-cycles]`;
/// `None` if any is not a pair of finite numbers >= 0.
fn corners(v: &Value) -> Option<Vec<(f64, f64)>> {
    let number = |x: &Value| x.as_f64().filter(|f| f.is_finite() && *f >= 0.0);
    v.as_array()?
        .iter()
        .map(|c| match c.as_array()?.as_slice() {
            [over, cost] => Some((number(over)?, number(cost)?)),
            _ => None,
        })
        .collect()
}

/// Draws the comparisons in `inputs` to `out` (SVG or PNG by extension).
pub fn draw(inputs: &[PathBuf], out: &Path) -> Result<()> {
    plot::Format::of(out).map_err(Failure::new)?;
    if inputs.len() > MAX_PANELS {
        return Err(Failure::new(format!(
            "--pareto: {} files, where one plot draws at most {MAX_PANELS} (a panel each, {} rows of {PANEL_HEIGHT} px); draw them in parts",
            inputs.len(),
            MAX_PANELS / COLUMNS
        )));
    }
    let panels = inputs
        .iter()
        .map(|p| Panel::read(p))
        .collect::<Result<Vec<_>>>()?;
    let rows = panels.len().div_ceil(COLUMNS) as u32;
    plot::save(
        out,
        (WIDTH, HEAD + rows * PANEL_HEIGHT),
        |area| render(area, &panels),
        |area| render(area, &panels),
    )
    .map_err(Failure::new)
}

const WIDTH: u32 = 1200;
const COLUMNS: usize = 2;
const HEAD: u32 = 106;
const PANEL_HEIGHT: u32 = 400;
/// A plot of 3000 panels was a 108 MB PNG 600 000 px high, drawn in 2.2 GB;
/// 64 is a 12 906 px page, more scenarios than anyone compares at once.
const MAX_PANELS: usize = 64;
/// A light green, the box where a point dominates both HPA baselines.
const DOMINATES: RGBColor = RGBColor(214, 240, 226);

/// How each yardstick is drawn: colour, and the label beside its point.
fn style(who: &str) -> RGBColor {
    match who {
        "policy" => BLUE,
        "seed" => ORANGE,
        "hpa-cpu" => GREEN,
        "hpa-latency" => VERMILION,
        "oracle" => INK,
        _ => PURPLE,
    }
}

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> std::result::Result<(), String>
where
    DB::ErrorType: plot::Fault,
{
    let e = plot::fault::<DB::ErrorType>;
    root.fill(&WHITE).map_err(e)?;
    let (head, body) = root.split_vertically(HEAD);
    let seeds = panels.first().map_or(1, |p| p.seeds);
    head.draw_text(
        &format!("Replica-cycles against cycles over target, {seeds} seeds per scenario summed: lower left is better"),
        &(plot::FAMILY, 21).into_text_style(&head),
        (16, 8),
    )
    .map_err(e)?;
    let small = (plot::FAMILY, 15).into_text_style(&head).color(&INK);
    head.draw_text(
        "shaded: neither more cycles over target nor more replica-cycles than either HPA baseline (Pareto-dominates both);",
        &small,
        (16, 40),
    )
    .map_err(e)?;
    head.draw_text(
        "dashed: 115 % of the oracle's replica-cycles; purple: the bound, the fewest replica-cycles any policy can expect for as",
        &small,
        (16, 60),
    )
    .map_err(e)?;
    head.draw_text(
        "many cycles over target, even knowing the load ahead. Cycles over target as the load test measured them, noise included.",
        &small,
        (16, 80),
    )
    .map_err(e)?;
    let rows = panels.len().div_ceil(COLUMNS);
    let areas = body.split_evenly((rows, COLUMNS));
    for (panel, area) in panels.iter().zip(&areas) {
        draw_panel(area, panel).map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let most_over = panel.points.iter().map(|p| p.over).fold(1.0, f64::max);
    let (low, high) = panel
        .points
        .iter()
        .fold((f64::INFINITY, 0f64), |(l, h), p| {
            (l.min(p.cost), h.max(p.cost))
        });
    let oracle = panel.find("oracle").map(|p| p.cost);
    let high = high.max(oracle.unwrap_or(0.0) * 1.15);
    // The bound's whole width in view: it ends lowest.
    let low = panel.bound.last().map_or(low, |&(_, c)| low.min(c));
    // At least a factor of 3 top to bottom, so the log axis has ticks.
    let y0 = low.max(1.0) / 1.25;
    let y1 = (high * 1.3).max(y0 * 3.0);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.scenario, (plot::FAMILY, 19))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..most_over * 1.35, (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("cycles over target")
        .y_desc("replica-cycles (log)")
        .x_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        // The log axis labels only powers of ten: its ticks are drawn below.
        .y_label_formatter(&|_| String::new())
        .disable_y_mesh()
        .label_style((plot::FAMILY, 13))
        .axis_desc_style((plot::FAMILY, 14))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    let hpas: Vec<&Point> = ["hpa-cpu", "hpa-latency"]
        .iter()
        .filter_map(|w| panel.find(w))
        .collect();
    if !hpas.is_empty() {
        let x = hpas.iter().map(|p| p.over).fold(f64::INFINITY, f64::min);
        let y = hpas.iter().map(|p| p.cost).fold(f64::INFINITY, f64::min);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y0), (x, y)],
            DOMINATES.filled(),
        )))?;
    }
    let right = most_over * 1.35;
    for v in ticks(y0, y1) {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, v), (right, v)],
            RGBColor(225, 225, 225).stroke_width(1),
        )))?;
        chart.draw_series(std::iter::once(
            EmptyElement::at((0.0, v))
                + Text::new(
                    format!("{v:.0}"),
                    (4, -15),
                    (plot::FAMILY, 12).into_font().color(&INK),
                ),
        ))?;
    }
    if let Some(o) = oracle {
        // Dashes, drawn as segments: one every 4 % of the width.
        let limit = 1.15 * o;
        let step = most_over * 1.35 / 50.0;
        chart.draw_series((0..25).map(|i| {
            let x = 2.0 * f64::from(i) * step;
            PathElement::new(vec![(x, limit), (x + step, limit)], INK.stroke_width(1))
        }))?;
    }
    // The bound below the top of the panel: where it starts higher, from
    // the point on its line at the top.
    let mut bound = Vec::new();
    for w in panel.bound.windows(2) {
        let ((x0, c0), (x1, c1)) = (w[0], w[1]);
        if c1 > y1 {
            continue;
        }
        if bound.is_empty() {
            bound.push(if c0 > y1 && c0 > c1 {
                (x0 + (x1 - x0) * (c0 - y1) / (c0 - c1), y1)
            } else {
                (x0, c0.min(y1))
            });
        }
        bound.push((x1, c1));
    }
    // Corners closer than a pixel apart draw nothing more: the curve's
    // first few hundred fall within a hair of none over target.
    let (dx, dy) = (right / 600.0, (y1 / y0).ln() / 400.0);
    let mut thin: Vec<(f64, f64)> = Vec::with_capacity(bound.len());
    for (i, &(x, c)) in bound.iter().enumerate() {
        let far = thin
            .last()
            .is_none_or(|&(lx, lc)| x - lx >= dx || (lc / c).ln().abs() >= dy);
        if far || i + 1 == bound.len() {
            thin.push((x, c));
        }
    }
    let bound = thin;
    if bound.len() > 1 {
        chart.draw_series(std::iter::once(PathElement::new(
            bound,
            PURPLE.stroke_width(2),
        )))?;
    }
    for p in &panel.points {
        let colour = style(p.who);
        chart.draw_series(std::iter::once(
            EmptyElement::at((p.over, p.cost))
                + Circle::new(
                    (0, 0),
                    if p.who == "policy" { 7 } else { 5 },
                    colour.filled(),
                )
                + Text::new(
                    format!("{} ({:.0}, {:.0})", p.who, p.over, p.cost),
                    // The seed's and the oracle's below their points: they
                    // often sit near the policy's.
                    if matches!(p.who, "seed" | "oracle") {
                        (9, 4)
                    } else {
                        (9, -18)
                    },
                    (plot::FAMILY, 13).into_font().color(&colour),
                ),
        ))?;
    }
    Ok(())
}

/// Ticks at 1, 1.5, 2, 3, 5 and 7 times the powers of ten inside
/// [lo, hi], thinned to at most 7.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let mut all = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 1.5, 2.0, 3.0, 5.0, 7.0] {
            let v = m * decade;
            if v >= lo && v <= hi {
                all.push(v);
            }
        }
        decade *= 10.0;
    }
    let every = all.len().div_ceil(7).max(1);
    all.into_iter().step_by(every).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compare_json_reads_into_a_panel_and_anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("step.json");
        std::fs::write(
            &good,
            r#"{"scenario":"step","seeds":[1,2],"scores":{"cycles_over_target":3,"replica_cycles":600},
               "baselines":{"seed":{"cycles_over_target":20,"replica_cycles":630},"hpa_cpu":null,
               "hpa_latency":{"cycles_over_target":3,"replica_cycles":1300}},
               "oracle":{"cycles_over_target":50,"replica_cycles":540},
               "bound_curve":[[0,1200],[3.5,700],[60,520]]}"#,
        )
        .unwrap();
        let p = Panel::read(&good).unwrap();
        assert_eq!(p.scenario, "step");
        assert_eq!(p.seeds, 2);
        let names: Vec<&str> = p.points.iter().map(|p| p.who).collect();
        assert_eq!(names, ["policy", "seed", "hpa-latency", "oracle"]);
        assert_eq!(p.find("oracle").map(|p| p.cost), Some(540.0));
        assert_eq!(p.bound, [(0.0, 1200.0), (3.5, 700.0), (60.0, 520.0)]);
        let text = std::fs::read_to_string(&good).unwrap();
        for (bad, shown) in [
            (r#"[[0,1200],[3.5],[60,520]]"#, "[[0,1200],[3.5],[60,520]]"),
            (r#"[[0,1200],[3.5,-1]]"#, "[[0,1200],[3.5,-1]]"),
            (r#"{"0":1200}"#, r#"{"0":1200}"#),
        ] {
            let corrupt = dir.path().join("corrupt.json");
            let with = text.replace("[[0,1200],[3.5,700],[60,520]]", bad);
            assert_ne!(with, text);
            std::fs::write(&corrupt, with).unwrap();
            let err = Panel::read(&corrupt).unwrap_err().to_string();
            assert!(
                err.ends_with(&format!("corrupt.json: bound_curve: invalid value {shown} (expected [cycles over target, replica-cycles] pairs of numbers >= 0)")),
                "{err}"
            );
        }
        let none = dir.path().join("none.json");
        let without = text.replace(
            r#""bound_curve":[[0,1200],[3.5,700],[60,520]]"#,
            r#""other":0"#,
        );
        assert_ne!(without, text);
        std::fs::write(&none, without).unwrap();
        assert!(Panel::read(&none).unwrap().bound.is_empty());
        let trace = dir.path().join("trace.json");
        std::fs::write(&trace, r#"{"scenario":"step","scores":{}}"#).unwrap();
        let err = Panel::read(&trace).unwrap_err().to_string();
        assert!(
            err.contains("not the JSON of lpa simulate --compare --out"),
            "{err}"
        );
    }

    #[test]
    fn log_ticks_are_round_numbers() {
        assert_eq!(
            ticks(2400.0, 84_000.0),
            [3000.0, 7000.0, 15_000.0, 30_000.0, 70_000.0]
        );
        assert_eq!(ticks(10_600.0, 25_000.0), [15_000.0, 20_000.0]);
        assert!(ticks(0.0, 1.0).is_empty());
        assert_eq!(ticks(1.0, 1e9).len(), 7);
    }
}
