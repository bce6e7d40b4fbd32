//! Pictures of a run, simulated (`lpa simulate --plot`) or recorded
//! (`lpa report --plot`, `lpa demo`), as SVG or PNG. Both fill a [`Run`]
//! and get the same panels over one time axis:
//!
//! ```text
//!   replicas: current (step line), ready, and each scale decision marked by outcome
//!   one panel per target: observed against its target line, breached cycles shaded
//!   load (when known) against serving capacity (when modelled)
//! ```
//!
//! Legends sit in a strip beside each panel, never over the data. Text is
//! drawn with DejaVu Sans compiled into the binary (plotters' `ab_glyph`
//! backend), so a PNG renders the same on a machine without fonts or
//! fontconfig.

use std::path::{Path, PathBuf};
use std::sync::Once;

use lpa_core::log::num;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
pub(crate) const FAMILY: &str = "sans-serif";
const WIDTH: u32 = 1200;
/// The title line and the space under the subtitle's lines.
const TITLE_HEIGHT: u32 = 38;
const SUBTITLE_SIZE: u32 = 17;
const SUBTITLE_LINE: u32 = 22;
const PANEL_HEIGHT: u32 = 300;
/// The legend strip right of each panel.
const LEGEND_WIDTH: u32 = 290;
/// Past this many cycles a run is drawn thinned (see [`TimeAxis::thin`]):
/// with a point and a shaded span per cycle, a million-cycle run made an
/// SVG of 70 MB that browsers do not open.
const THIN_PAST: usize = 2000;
/// The time axis' columns when thinned: more than the chart is pixels
/// wide, so that a column is under a pixel and the thinning never shows.
const COLUMNS: f64 = 1000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        match crate::text::extension(path).as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(format!(
                "--plot {}: unknown format (expected a .svg or .png file name)",
                path.display()
            )),
        }
    }
}

/// A run to draw: one entry per cycle, times in seconds from its start.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub title: String,
    /// A second title line (the scores, say).
    pub subtitle: String,
    pub targets: Vec<TargetSeries>,
    pub cycles: Vec<Cycle>,
    /// Requests/s one serving replica takes, when a model says so.
    pub capacity: Option<f64>,
    /// What the cycles' `load` is, when not the offered load of a model.
    pub load_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetSeries {
    /// For people: `GET /fibonacci?n=10 mean`.
    pub label: String,
    /// `ms`, or empty for a ratio (errorRate).
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cycle {
    /// The span the cycle's replica count held and its measurement was
    /// taken in; the decision comes at `end`.
    pub start: f64,
    pub end: f64,
    pub current: u32,
    /// Replicas serving (a simulation's startup delay), when known.
    pub ready: Option<u32>,
    pub decided: u32,
    pub outcome: Outcome,
    /// Per target, in [`Run::targets`]' order.
    pub measures: Vec<Measure>,
    /// Offered load, requests/s, when known.
    pub load: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measure {
    /// `None`: no data for the target this cycle.
    pub observed: Option<f64>,
    pub target: Option<f64>,
    pub breached: bool,
}

/// What became of a cycle's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    #[default]
    Applied,
    /// The count changed outside lpa meanwhile: nothing was overwritten.
    Refused,
    /// Scaling failed (kubectl error, pool limit).
    Failed,
    DryRun,
}

/// A target's label for people: `GET_/fibonacci?n=10` and `mean` give
/// `GET /fibonacci?n=10 mean`. Control characters (a Locust name may hold
/// any) are escaped: XML has no place for them.
pub fn target_label(key: &str, kind: &str) -> String {
    let label = match key.split_once('_') {
        Some((method, name)) => format!("{method} {name} {kind}"),
        None => format!("{key} {kind}"),
    };
    lpa_core::text::escape_controls(&label)
}

/// Seconds as a clock reading: `0:07`, `12:30`, `1:02:03`.
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
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

/// Draws the run to `path` (SVG or PNG by extension), through a
/// temporary file.
pub fn draw(run: &Run, path: &Path) -> Result<(), String> {
    prepare(run, path)?.keep()
}

/// Draws the run beside `path`, to be put in place with [`Drawn::keep`]
/// once everything else a command writes is ready too.
pub fn prepare(run: &Run, path: &Path) -> Result<Drawn, String> {
    // The subtitle is wrapped by the font's measure.
    register_font()?;
    if run.cycles.is_empty() {
        return Err(format!("{}: no cycles to draw", path.display()));
    }
    let panels = 1 + run.targets.len() as u32 + u32::from(has_load(run));
    let subtitle = wrap(&run.subtitle, SUBTITLE_SIZE, WIDTH - 32);
    let head = TITLE_HEIGHT + SUBTITLE_LINE * subtitle.len() as u32;
    stage(
        path,
        (WIDTH, head + panels * PANEL_HEIGHT),
        |area| render(area, run, &subtitle, head, false),
        |area| render(area, run, &subtitle, head, true),
    )
}

/// Draws a picture of `size` to `path` (SVG or PNG by extension), through
/// a temporary file so a failure leaves nothing half-drawn. One drawing
/// function per backend, as a closure cannot be generic over them.
pub(crate) fn save(
    path: &Path,
    size: (u32, u32),
    svg: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
    png: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    stage(path, size, svg, png)?.keep()
}

/// A picture drawn beside its path and not yet in place: [`Drawn::keep`]
/// renames it over the path; dropped, it is removed.
#[must_use = "a drawn picture is removed unless kept"]
pub struct Drawn {
    tmp: PathBuf,
    path: PathBuf,
    kept: bool,
}

impl Drawn {
    pub fn keep(mut self) -> Result<(), String> {
        self.kept = true;
        let kept = std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            format!("{}: cannot write the plot: {e}", self.path.display())
        });
        crate::cmd::output::unstaged(&self.tmp);
        kept
    }
}

impl Drop for Drawn {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.tmp);
            crate::cmd::output::unstaged(&self.tmp);
        }
    }
}

fn stage(
    path: &Path,
    size: (u32, u32),
    svg: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
    png: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<Drawn, String> {
    register_font()?;
    let format = Format::of(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("plot");
    let tmp = path.with_file_name(format!(".{}.tmp.{name}", std::process::id()));
    // Created here, so an unwritable place is the system's own words
    // ("No such file or directory"), not the backend's nested debug form;
    // noted first, so that no signal finds it made and not noted.
    crate::cmd::output::note_staged(&tmp);
    if let Err(e) = std::fs::File::create(&tmp) {
        crate::cmd::output::unstaged(&tmp);
        return Err(format!("{}: cannot write the plot: {e}", path.display()));
    }
    let drawn = Drawn {
        tmp,
        path: path.to_path_buf(),
        kept: false,
    };
    match format {
        Format::Svg => svg(SVGBackend::new(&drawn.tmp, size).into_drawing_area()),
        Format::Png => png(BitMapBackend::new(&drawn.tmp, size).into_drawing_area()),
    }
    .map_err(|e| format!("{}: cannot draw the plot: {e}", path.display()))?;
    Ok(drawn)
}

fn has_load(run: &Run) -> bool {
    run.cycles.iter().any(|c| c.load.is_some())
}

/// The line colours: distinguishable for the common colour blindnesses
/// (Okabe & Ito's palette).
pub(crate) const BLUE: RGBColor = RGBColor(0, 114, 178);
pub(crate) const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub(crate) const VERMILION: RGBColor = RGBColor(213, 94, 0);
pub(crate) const GREEN: RGBColor = RGBColor(0, 158, 115);
pub(crate) const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
/// Shading behind cycles over target, and behind cycles with no data.
const OVER: RGBColor = RGBColor(250, 226, 212);
const NO_DATA: RGBColor = RGBColor(225, 225, 225);

/// A legend entry's sample.
#[derive(Clone, Copy)]
enum Glyph {
    Line(RGBColor, u32),
    Dashed(RGBColor),
    Band(RGBColor),
    Mark(Mark),
}

/// Point markers; each outcome has its own shape as well as its colour.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Up,
    Down,
    Refused,
    Failed,
    DryRun,
    Sample,
    Breach,
}

type Legend = Vec<(Glyph, String)>;

fn mark_of(cycle: &Cycle) -> Option<Mark> {
    if cycle.decided == cycle.current {
        return None;
    }
    Some(match cycle.outcome {
        Outcome::Applied if cycle.decided > cycle.current => Mark::Up,
        Outcome::Applied => Mark::Down,
        Outcome::Refused => Mark::Refused,
        Outcome::Failed => Mark::Failed,
        Outcome::DryRun => Mark::DryRun,
    })
}

fn mark_label(m: Mark) -> &'static str {
    match m {
        Mark::Up => "scale up (applied)",
        Mark::Down => "scale down (applied)",
        Mark::Refused => "refused: replicas changed outside lpa",
        Mark::Failed => "scale failed",
        Mark::DryRun => "decided, not applied (dry run)",
        Mark::Sample => "observed",
        Mark::Breach => "over target",
    }
}

/// A marker centred on `at` (pixels), drawn in backend coordinates so its
/// size does not depend on the axes.
fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    mark: Mark,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (x, y) = at;
    match mark {
        Mark::Up | Mark::Down => {
            let s = if mark == Mark::Up { -1 } else { 1 };
            let points = vec![(x - 7, y - 5 * s), (x + 7, y - 5 * s), (x, y + 7 * s)];
            area.draw(&Polygon::new(points.clone(), INK.filled()))?;
            let mut outline = points;
            outline.push(outline[0]);
            area.draw(&PathElement::new(outline, WHITE.stroke_width(1)))
        }
        Mark::Refused => area.draw(&Rectangle::new(
            [(x - 6, y - 6), (x + 6, y + 6)],
            ORANGE.stroke_width(3),
        )),
        Mark::Failed => {
            let style = VERMILION.stroke_width(3);
            area.draw(&PathElement::new(
                vec![(x - 7, y - 7), (x + 7, y + 7)],
                style,
            ))?;
            area.draw(&PathElement::new(
                vec![(x - 7, y + 7), (x + 7, y - 7)],
                style,
            ))
        }
        Mark::DryRun => area.draw(&Polygon::new(
            vec![(x - 8, y), (x, y - 8), (x + 8, y), (x, y + 8)],
            PURPLE.filled(),
        )),
        Mark::Sample => area.draw(&Circle::new((x, y), 3, BLUE.filled())),
        Mark::Breach => {
            area.draw(&Circle::new((x, y), 7, WHITE.filled()))?;
            area.draw(&Circle::new((x, y), 6, VERMILION.filled()))?;
            area.draw(&Circle::new((x, y), 6, INK.stroke_width(1)))
        }
    }
}

/// A backend's error in the system's words: the PNG backend's own
/// `Display` is its nested debug form (`ImageError(IoError(Custom { ..`).
pub(crate) trait Fault {
    fn describe(&self) -> String;
}

impl Fault for std::io::Error {
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl Fault for plotters_bitmap::BitMapBackendError {
    fn describe(&self) -> String {
        use plotters_bitmap::BitMapBackendError as E;
        match self {
            E::IOError(e) => e.to_string(),
            // image's Display of an I/O failure is the io::Error's.
            E::ImageError(e) => e.to_string(),
            other => format!("{other:?}"),
        }
    }
}

pub(crate) fn fault<E: Fault + std::error::Error + Send + Sync>(
    e: DrawingAreaErrorKind<E>,
) -> String {
    match e {
        DrawingAreaErrorKind::BackendError(plotters_backend::DrawingErrorKind::DrawingError(e)) => {
            e.describe()
        }
        other => other.to_string(),
    }
}

fn render<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    run: &Run,
    subtitle: &[String],
    head_height: u32,
    bitmap: bool,
) -> Result<(), String>
where
    DB::ErrorType: Fault,
{
    let e = fault::<DB::ErrorType>;
    root.fill(&WHITE).map_err(e)?;
    let (head, body) = root.split_vertically(head_height);
    head.draw_text(&run.title, &(FAMILY, 22).into_text_style(&head), (16, 6))
        .map_err(e)?;
    let style = (FAMILY, SUBTITLE_SIZE).into_text_style(&head).color(&INK);
    for (i, line) in subtitle.iter().enumerate() {
        let y = 34 + (SUBTITLE_LINE as i32) * i as i32;
        head.draw_text(line, &style, (16, y)).map_err(e)?;
    }
    let count = 1 + run.targets.len() + usize::from(has_load(run));
    let panels = body.split_evenly((count, 1));
    let axis = TimeAxis::of(run, bitmap);

    replicas_panel(&panels[0], run, &axis).map_err(e)?;
    for (i, t) in run.targets.iter().enumerate() {
        target_panel(&panels[1 + i], run, i, t, &axis).map_err(e)?;
    }
    if has_load(run) {
        load_panel(&panels[count - 1], run, &axis).map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

/// The time axis: seconds from the run's start, ticks at whole clock steps.
struct TimeAxis {
    end: f64,
    ticks: Vec<f64>,
    /// A column's width in seconds, when the run is drawn thinned.
    column: Option<f64>,
    /// Thinned lines are drawn a segment at a time (see [`draw_line`]).
    apart: bool,
}

impl TimeAxis {
    fn of(run: &Run, bitmap: bool) -> TimeAxis {
        // Room after the last cycle for its decision's marker.
        let end = run
            .cycles
            .last()
            .map_or(1.0, |c| c.end + (c.end - c.start) / 2.0)
            .max(1.0);
        let step = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
            7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
        ]
        .into_iter()
        .find(|s| end / s <= 12.0)
        .unwrap_or((end / 12.0).ceil());
        let ticks = (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|t| *t <= end + 1e-9)
            .collect();
        let column = (run.cycles.len() > THIN_PAST).then_some(end / COLUMNS);
        TimeAxis {
            end,
            ticks,
            column,
            apart: bitmap && column.is_some(),
        }
    }

    /// `line` with only the first, lowest, highest and last of its points
    /// in each column, in their order (M4: Jugel et al., "M4: a
    /// visualization-oriented time series data aggregation", VLDB 2014):
    /// drawn, it covers the same pixels, a one-cycle peak included, in at
    /// most four points a column. Unthinned, `line` as it is.
    fn thin(&self, line: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
        let Some(width) = self.column else {
            return line;
        };
        let column = |p: &(f64, f64)| (p.0 / width).floor();
        let mut kept = Vec::new();
        let mut rest = line.as_slice();
        while let Some(first) = rest.first() {
            let n = rest
                .iter()
                .take_while(|p| column(p) == column(first))
                .count();
            let (span, after) = rest.split_at(n);
            let by_value = |a: &usize, b: &usize| span[*a].1.total_cmp(&span[*b].1);
            let lowest = (0..n).min_by(by_value).unwrap_or(0);
            let highest = (0..n).max_by(by_value).unwrap_or(0);
            let mut picks = vec![0, lowest, highest, n - 1];
            picks.sort_unstable();
            picks.dedup();
            kept.extend(picks.into_iter().map(|i| span[i]));
            rest = after;
        }
        kept
    }

    /// The spans of the cycles `pick` chooses, each cycle's own; thinned,
    /// spans less than a column apart are one, so a column with any such
    /// cycle is shaded and there are at most as many spans as columns.
    fn spans(&self, run: &Run, pick: impl Fn(&Cycle) -> bool) -> Vec<(f64, f64)> {
        let mut spans: Vec<(f64, f64)> = Vec::new();
        for c in run.cycles.iter().filter(|c| pick(c)) {
            match (spans.last_mut(), self.column) {
                (Some(last), Some(width)) if c.start - last.1 < width => last.1 = c.end,
                _ => spans.push((c.start, c.end)),
            }
        }
        spans
    }

    fn ranged(&self) -> Ticked {
        Ticked::new(0.0..self.end, self.ticks.clone())
    }
}

/// Splits a panel into the chart and its legend strip.
fn with_legend<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let (w, _) = panel.dim_in_pixel();
    panel.split_horizontally(w.saturating_sub(LEGEND_WIDTH))
}

fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(Glyph, String)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let style = (FAMILY, 16).into_text_style(area);
    let mut y = 44;
    for (glyph, text) in entries {
        let mid = y + 9;
        match *glyph {
            Glyph::Line(c, w) => area.draw(&PathElement::new(
                vec![(6, mid), (36, mid)],
                c.stroke_width(w),
            ))?,
            Glyph::Dashed(c) => {
                for x in [6, 18, 30] {
                    area.draw(&PathElement::new(
                        vec![(x, mid), (x + 7, mid)],
                        c.stroke_width(2),
                    ))?;
                }
            }
            Glyph::Band(c) => {
                area.draw(&Rectangle::new([(6, mid - 8), (36, mid + 8)], c.filled()))?
            }
            Glyph::Mark(m) => marker(area, (21, mid), m)?,
        }
        // Long labels wrap at a space rather than run off the picture.
        for line in wrap(text, 16, LEGEND_WIDTH.saturating_sub(56)) {
            area.draw_text(&line, &style, (44, y))?;
            y += 20;
        }
        y += 8;
    }
    Ok(())
}

/// Splits `text` at spaces into lines at most `room` pixels wide in `size`.
fn wrap(text: &str, size: u32, room: u32) -> Vec<String> {
    let font = (FAMILY, size).into_font();
    let fits = |s: &str| font.box_size(s).map_or(true, |(w, _)| w <= room);
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if fits(&format!("{line} {word}")) => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Whole-number ticks from 0 to `top`, at most about eight.
fn integer_ticks(top: f64) -> Vec<f64> {
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        .into_iter()
        .find(|s| top / s <= 8.0)
        .unwrap_or((top / 8.0).ceil());
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= top)
        .collect()
}

/// A step line: each cycle's value held over its span, thinned as the axis
/// is.
fn steps(
    run: &Run,
    axis: &TimeAxis,
    value: impl Fn(&Cycle) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for c in &run.cycles {
        match value(c) {
            Some(v) => {
                let last = runs.last_mut().expect("never empty");
                last.push((c.start, v));
                last.push((c.end, v));
            }
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|r| !r.is_empty());
    runs.into_iter().map(|r| axis.thin(r)).collect()
}

/// Draws `line` as one path or, thinned into a PNG, a segment at a time:
/// plotters' bitmap backend joins a thick line's sharp turn (up and back
/// down within a column, as a thinned peak is) with a spike far past it,
/// below the axis and into the next panel, where an SVG viewer bevels it.
fn draw_line<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Ticked, Y>>,
    axis: &TimeAxis,
    line: Vec<(f64, f64)>,
    style: ShapeStyle,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    Y: Ranged<ValueType = f64>,
{
    if axis.apart {
        chart.draw_series(line.windows(2).map(|w| PathElement::new(w.to_vec(), style)))?;
    } else {
        chart.draw_series(LineSeries::new(line, style))?;
    }
    Ok(())
}

/// A panel's chart: its caption above, room for the axes' labels.
fn builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(10)
        .margin_right(16)
        .caption(caption, (FAMILY, 19))
        .x_label_area_size(40)
        .y_label_area_size(70);
    b
}

fn replicas_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    run: &Run,
    axis: &TimeAxis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (area, strip) = with_legend(panel);
    let peak = run
        .cycles
        .iter()
        .map(|c| c.current.max(c.decided))
        .max()
        .unwrap_or(1);
    let top = (f64::from(peak) * 1.15 + 0.5).ceil().max(2.0);
    let mut chart = builder(&area, "replicas")
        .build_cartesian_2d(axis.ranged(), Ticked::new(0.0..top, integer_ticks(top)))?;
    mesh(&mut chart, "replicas")?;
    let mut entries: Legend = vec![(Glyph::Line(BLUE, 2), "replicas (current)".into())];
    // Ready under current: where they agree, the line reads as replicas.
    if run.cycles.iter().any(|c| c.ready.is_some()) {
        for line in steps(run, axis, |c| c.ready.map(f64::from)) {
            draw_line(&mut chart, axis, line, GREEN.stroke_width(5))?;
        }
        entries.push((Glyph::Line(GREEN, 5), "ready (serving)".into()));
    }
    for line in steps(run, axis, |c| Some(f64::from(c.current))) {
        draw_line(&mut chart, axis, line, BLUE.stroke_width(2))?;
    }
    let plotting = chart.plotting_area().strip_coord_spec();
    let mut seen: Vec<Mark> = Vec::new();
    for c in &run.cycles {
        // Thousands of applied scales would bury the line; the rare
        // refused, failed and dry-run ones stay.
        let shown = mark_of(c).filter(|m| !dense(run) || !matches!(m, Mark::Up | Mark::Down));
        if let Some(m) = shown {
            let at = chart.backend_coord(&(c.end, f64::from(c.decided)));
            let (x0, y0) = plotting.get_base_pixel();
            marker(&plotting, (at.0 - x0, at.1 - y0), m)?;
            if !seen.contains(&m) {
                seen.push(m);
            }
        }
    }
    for m in [
        Mark::Up,
        Mark::Down,
        Mark::Refused,
        Mark::Failed,
        Mark::DryRun,
    ] {
        if seen.contains(&m) {
            entries.push((Glyph::Mark(m), mark_label(m).into()));
        }
    }
    if !seen.is_empty() {
        entries.push((
            Glyph::Line(WHITE, 1),
            "markers: the count decided, at the decision".into(),
        ));
    }
    legend(&strip, &entries)
}

/// Too many cycles for a marker each to mean anything.
fn dense(run: &Run) -> bool {
    run.cycles.len() > 300
}

fn mesh<'a, DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    y_desc: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let label_font = (FAMILY, 15);
    let x_desc = if chart.x_range().end >= 3600.0 {
        "time in the run (h:mm:ss)"
    } else {
        "time in the run (m:ss)"
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| clock(*v))
        .y_label_formatter(&|v: &f64| num(*v))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style(label_font)
        .axis_desc_style(label_font)
        .draw()
}

fn target_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    run: &Run,
    i: usize,
    t: &TargetSeries,
    axis: &TimeAxis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (area, strip) = with_legend(panel);
    let m = |c: &Cycle| c.measures.get(i).copied().unwrap_or_default();
    let values: Vec<f64> = run
        .cycles
        .iter()
        .flat_map(|c| [m(c).observed, m(c).target])
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    let lo = values
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::MAX, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    let unit = if t.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", t.unit)
    };
    let mut limits: Vec<f64> = run.cycles.iter().filter_map(|c| m(c).target).collect();
    limits.dedup();
    let (target_text, bound) = match limits.as_slice() {
        [] => ("no target recorded".to_string(), String::new()),
        [one] => (
            format!("target {}{unit}", num(*one)),
            format!(" at most {}{unit}", num(*one)),
        ),
        _ => (
            "target (changed during the run)".to_string(),
            " (target changed during the run)".to_string(),
        ),
    };
    // A saturated service can be thousands of times over its target: a
    // log scale keeps both legible. Otherwise a linear axis from 0.
    let log = t.unit == "ms" && lo < f64::MAX && hi / lo > 30.0;
    let caption = format!(
        "observed {} against target: {}{bound}{}",
        if t.unit == "ms" { "latency" } else { "value" },
        t.label,
        if log { " (log scale)" } else { "" }
    );
    let y_desc = if t.unit.is_empty() {
        "ratio".to_string()
    } else {
        t.unit.clone()
    };
    let mut entries: Legend = vec![
        (Glyph::Line(BLUE, 2), t.label.clone()),
        (Glyph::Dashed(VERMILION), target_text.clone()),
    ];
    if run.cycles.iter().any(|c| m(c).breached) {
        if !dense(run) {
            entries.push((Glyph::Mark(Mark::Breach), "over target (breach)".into()));
        }
        entries.push((Glyph::Band(OVER), "cycle over target".into()));
    }
    if run.cycles.iter().any(|c| m(c).observed.is_none()) {
        entries.push((Glyph::Band(NO_DATA), "no data".into()));
    }
    if log {
        let mut chart = builder(&area, &caption)
            .build_cartesian_2d(axis.ranged(), (lo / 1.5..hi * 1.5).log_scale())?;
        mesh(&mut chart, &y_desc)?;
        draw_target(&mut chart, run, axis, i, (lo / 1.5, hi * 1.5))?;
    } else {
        let top = if hi > 0.0 { hi * 1.2 } else { 1.0 };
        let mut chart = builder(&area, &caption).build_cartesian_2d(axis.ranged(), 0f64..top)?;
        mesh(&mut chart, &y_desc)?;
        draw_target(&mut chart, run, axis, i, (0.0, top))?;
    }
    legend(&strip, &entries)
}

/// Draws, in order so nothing hides what matters: shaded breached and
/// no-data cycles, the target line, the observed line, then each breach as
/// a large outlined dot on top (one just over the line stays visible).
fn draw_target<'a, DB: DrawingBackend, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<Ticked, Y>>,
    run: &Run,
    axis: &TimeAxis,
    i: usize,
    (bottom, top): (f64, f64),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let m = |c: &Cycle| c.measures.get(i).copied().unwrap_or_default();
    let shade = |spans: Vec<(f64, f64)>, colour: RGBColor| {
        spans
            .into_iter()
            .map(move |(start, end)| Rectangle::new([(start, bottom), (end, top)], colour.filled()))
    };
    chart.draw_series(shade(axis.spans(run, |c| m(c).breached), OVER))?;
    chart.draw_series(shade(axis.spans(run, |c| m(c).observed.is_none()), NO_DATA))?;
    for line in steps(run, axis, |c| m(c).target) {
        chart.draw_series(DashedLineSeries::new(
            line,
            10,
            6,
            VERMILION.stroke_width(2),
        ))?;
    }
    let mid = |c: &Cycle| (c.start + c.end) / 2.0;
    let positive = |v: f64| v > 0.0 || bottom <= 0.0;
    let mut line: Vec<(f64, f64)> = Vec::new();
    let mut lines = Vec::new();
    for c in &run.cycles {
        match m(c).observed.filter(|v| positive(*v)) {
            Some(v) => line.push((mid(c), v)),
            None => lines.push(std::mem::take(&mut line)),
        }
    }
    lines.push(line);
    for l in lines.into_iter().filter(|l| !l.is_empty()) {
        draw_line(chart, axis, axis.thin(l), BLUE.stroke_width(2))?;
    }
    let plotting = chart.plotting_area().strip_coord_spec();
    let (x0, y0) = plotting.get_base_pixel();
    // A dot per measurement helps a short run; a long one is a line, and
    // in a very long one the shading alone marks the breaches.
    let samples = run.cycles.len() <= 60;
    for breach in [false, true] {
        if (!breach && !samples) || (breach && dense(run)) {
            continue;
        }
        for c in &run.cycles {
            let Some(v) = m(c).observed.filter(|v| positive(*v)) else {
                continue;
            };
            if m(c).breached == breach {
                let at = chart.backend_coord(&(mid(c), v));
                let mark = if breach { Mark::Breach } else { Mark::Sample };
                marker(&plotting, (at.0 - x0, at.1 - y0), mark)?;
            }
        }
    }
    Ok(())
}

/// A linear axis with ticks chosen here: clock steps, whole replicas.
/// (plotters' `with_key_points` loses the label formatter on f64 axes.)
#[derive(Clone)]
struct Ticked {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            linear: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(v, limit)
    }

    fn key_points<H: KeyPointHint>(&self, _: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
    }
}

fn load_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    run: &Run,
    axis: &TimeAxis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (area, strip) = with_legend(panel);
    let capacity = |c: &Cycle| {
        run.capacity
            .zip(c.ready.or(Some(c.current)))
            .map(|(per, n)| per * f64::from(n))
    };
    let top = run
        .cycles
        .iter()
        .flat_map(|c| [c.load, capacity(c)])
        .flatten()
        .fold(1.0, f64::max);
    let label = run.load_label.as_deref().unwrap_or("offered load");
    let caption = if run.capacity.is_some() {
        format!("{label} against serving capacity")
    } else {
        label.to_string()
    };
    let mut chart = builder(&area, &caption).build_cartesian_2d(axis.ranged(), 0f64..top * 1.15)?;
    mesh(&mut chart, "requests/s")?;
    let mut entries: Legend = Vec::new();
    for line in steps(run, axis, |c| c.load) {
        draw_line(&mut chart, axis, line, ORANGE.stroke_width(3))?;
    }
    entries.push((Glyph::Line(ORANGE, 3), label.to_string()));
    if let Some(per) = run.capacity {
        for line in steps(run, axis, capacity) {
            draw_line(&mut chart, axis, line, GREEN.stroke_width(2))?;
        }
        entries.push((
            Glyph::Line(GREEN, 2),
            format!("capacity (ready x {}/s)", num(per)),
        ));
    }
    legend(&strip, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_clock() {
        assert_eq!(
            target_label("GET_/fibonacci?n=10", "mean"),
            "GET /fibonacci?n=10 mean"
        );
        assert_eq!(target_label("odd", "p95"), "odd p95");
        assert_eq!(target_label("GET_/\u{1}", "p95"), "GET /\\u{1} p95");
        assert_eq!(clock(7.0), "0:07");
        assert_eq!(clock(750.0), "12:30");
        assert_eq!(clock(3723.0), "1:02:03");
    }

    #[test]
    fn thinning_keeps_each_columns_first_extremes_and_last() {
        let axis = TimeAxis {
            end: 10.0,
            ticks: Vec::new(),
            column: Some(1.0),
            apart: false,
        };
        let at = |i: i32| match i {
            37 => 9.0,
            42 => -1.0,
            _ => 1.0,
        };
        let line: Vec<(f64, f64)> = (0..100).map(|i| (f64::from(i) / 10.0, at(i))).collect();
        let thin = axis.thin(line.clone());
        assert_eq!(
            thin[6..12],
            [
                (3.0, 1.0),
                (3.7, 9.0),
                (3.9, 1.0),
                (4.0, 1.0),
                (4.2, -1.0),
                (4.9, 1.0)
            ]
        );
        assert_eq!(thin.len(), 22);
        let whole = TimeAxis {
            column: None,
            ..axis
        };
        assert_eq!(whole.thin(line.clone()), line);
    }
}
