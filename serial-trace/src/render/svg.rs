//! The timeline drawn with plotters as SVG: lanes for suspend phases, per-port bytes and drops,
//! timer lateness and wakeups, on one CLOCK_BOOTTIME axis.
//!
//! Every lane shares the x axis (seconds since the recording started) and the same left label
//! area, so a moment lines up across lanes. Series are drawn as one bar per bucket, or per pixel
//! column (the largest bucket in it) when buckets are narrower than a pixel, so the SVG stays
//! small however long the recording. Text goes out as SVG `<text>` with plotters' naive font
//! metrics: no font file and no system font library is needed. plotters escapes `& < > " '` in
//! text; control characters (invalid in XML, and terminal escapes) are replaced here with
//! [`neutralize`] before any kernel-supplied string reaches it.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::analysis::{PortSeries, Report, Series};
use crate::fmt::{escape, neutralize};

const FONT: &str = "sans-serif";
const LEFT_AREA: u32 = 78;
const RIGHT_MARGIN: u32 = 18;
const X_AXIS_AREA: u32 = 34;
const CAPTION_PX: u32 = 13;

const RECEIVED: RGBColor = RGBColor(0x3b, 0x75, 0xaf);
const DROPPED: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const LATENESS: RGBColor = RGBColor(0xe6, 0x80, 0x0e);
const WAKEUPS: RGBColor = RGBColor(0x4c, 0x9a, 0x6a);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const NO_DATA: RGBColor = RGBColor(0x99, 0x99, 0x99);
/// Phase colours, picked by a hash of the phase name so a phase keeps its colour.
const PHASES: [RGBColor; 8] = [
    RGBColor(0x8d, 0xa0, 0xcb),
    RGBColor(0x66, 0xc2, 0xa5),
    RGBColor(0xfc, 0x8d, 0x62),
    RGBColor(0xe7, 0x8a, 0xc3),
    RGBColor(0xa6, 0xd8, 0x54),
    RGBColor(0xff, 0xd9, 0x2f),
    RGBColor(0xe5, 0xc4, 0x94),
    RGBColor(0xb3, 0xb3, 0xb3),
];
const ASLEEP: RGBColor = RGBColor(0x2c, 0x3e, 0x74);

/// Lane heights relative to each other.
enum Lane<'a> {
    Suspend,
    Port(&'a PortSeries),
    NoPorts,
    Lateness,
    Wakeups,
}

impl Lane<'_> {
    fn weight(&self) -> u32 {
        match self {
            Lane::Suspend => 5,
            Lane::Port(_) | Lane::NoPorts => 6,
            Lane::Lateness => 6,
            Lane::Wakeups => 5,
        }
    }
}

/// The x axis: boottime ns → seconds since the recording started.
#[derive(Clone, Copy)]
struct Axis {
    start_ns: u64,
    /// Seconds shown (at least a little, so an empty recording still has an axis).
    secs: f64,
    /// Plot width in pixels.
    px: u32,
}

impl Axis {
    fn x(&self, boot_ns: u64) -> f64 {
        let s = boot_ns.saturating_sub(self.start_ns) as f64 / 1e9;
        s.clamp(0.0, self.secs)
    }

    /// Seconds covered by `n` pixels.
    fn px_secs(&self, n: f64) -> f64 {
        self.secs * n / f64::from(self.px.max(1))
    }

    /// `[x0, x1]` widened to at least `min_px` pixels.
    fn span(&self, from_ns: u64, to_ns: u64, min_px: f64) -> (f64, f64) {
        let (a, b) = (self.x(from_ns), self.x(to_ns.max(from_ns)));
        let min = self.px_secs(min_px);
        if b - a >= min {
            (a, b)
        } else {
            let b = (a + min).min(self.secs);
            ((b - min).max(0.0), b)
        }
    }
}

/// `(x0, x1, value)` bars of a series: one per bucket, or the largest bucket per pixel column
/// when buckets are narrower than a pixel.
fn bars(s: &Series, bucket_ns: u64, axis: &Axis) -> Vec<(f64, f64, u64)> {
    let bucket = bucket_ns.max(1);
    let col_secs = axis.px_secs(1.0).max(1e-12);
    let mut out: Vec<(f64, f64, u64)> = Vec::new();
    let mut last_col = None;
    for (t, v) in s.points() {
        let (x0, x1) = (axis.x(t), axis.x(t.saturating_add(bucket)));
        let col = (x0 / col_secs) as u64;
        match out.last_mut() {
            Some(bar) if last_col == Some(col) => {
                bar.1 = bar.1.max(x1);
                bar.2 = bar.2.max(v);
            }
            _ => out.push((x0, x1, v)),
        }
        last_col = Some(col);
    }
    // at least one pixel wide, so a single bucket in a long recording is still seen
    let min = axis.px_secs(1.0);
    for b in &mut out {
        if b.1 - b.0 < min {
            b.1 = b.0 + min;
            if b.1 > axis.secs {
                (b.0, b.1) = ((axis.secs - min).max(0.0), axis.secs);
            }
        }
    }
    out
}

fn max_of(s: &Series) -> u64 {
    s.points().map(|(_, v)| v).max().unwrap_or(0)
}

fn text_style(size: u32, color: &RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(color)
}

fn phase_color(name: &str) -> RGBColor {
    if name == "machine_suspend" {
        return ASLEEP;
    }
    // FNV-1a: stable across runs and platforms
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    PHASES[(h % PHASES.len() as u64) as usize]
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The timeline of `r` as one SVG document of `width` × `height` pixels (raised to a minimum
/// that fits every lane). Never panics on an empty or odd report.
pub fn render_timeline_svg(r: &Report, width: u32, height: u32) -> String {
    let mut lanes = vec![Lane::Suspend];
    if r.timeline.ports.is_empty() {
        lanes.push(Lane::NoPorts);
    } else {
        lanes.extend(r.timeline.ports.iter().map(Lane::Port));
    }
    lanes.push(Lane::Lateness);
    lanes.push(Lane::Wakeups);
    let width = width.max(LEFT_AREA + RIGHT_MARGIN + 200);
    let min_height = 30 + X_AXIS_AREA + lanes.len() as u32 * 70;
    let height = height.max(min_height);
    let mut out = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        draw(&root, r, &lanes).and_then(|()| root.present().map_err(Into::into))
    };
    match drawn {
        Ok(()) => out,
        Err(e) => fallback(width, height, &e.to_string()),
    }
}

/// A plain SVG saying why the timeline could not be drawn (plotters reported an error).
fn fallback(width: u32, height: u32, why: &str) -> String {
    let why = escape(why);
    format!(
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\n<text x=\"10\" y=\"20\" font-family=\"{FONT}\" font-size=\"12\">timeline could not be drawn: {why}</text>\n</svg>\n"
    )
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &Report,
    lanes: &[Lane<'_>],
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let title = format!(
        "timeline: {} on {} (kernel {}), {:.1} s",
        neutralize(&r.trace.tool),
        neutralize(&r.kernel.hostname),
        neutralize(&r.kernel.release),
        r.duration_ns as f64 / 1e9
    );
    let (head, body) = root.split_vertically(26);
    head.draw(&Text::new(
        title,
        (LEFT_AREA as i32, 7),
        text_style(14, &BLACK),
    ))?;
    let start_ns = r.timeline.start_boot_ns;
    let end_ns = r.timeline.end_boot_ns.max(start_ns);
    let secs = (end_ns - start_ns) as f64 / 1e9;
    let axis = Axis {
        start_ns,
        secs: if secs > 0.0 { secs } else { 1.0 },
        px: w.saturating_sub(LEFT_AREA + RIGHT_MARGIN).max(1),
    };
    let total_weight: u32 = lanes.iter().map(Lane::weight).sum();
    let lanes_px = (h - 26).saturating_sub(X_AXIS_AREA);
    let mut rest = body;
    for (i, lane) in lanes.iter().enumerate() {
        let last = i + 1 == lanes.len();
        let area = if last {
            rest.clone()
        } else {
            let px = lanes_px * lane.weight() / total_weight;
            let (a, b) = rest.split_vertically(px);
            rest = b;
            a
        };
        let x_area = if last { X_AXIS_AREA } else { 0 };
        match lane {
            Lane::Suspend => suspend_lane(&area, r, &axis, x_area)?,
            Lane::Port(p) => port_lane(&area, r, p, &axis, x_area)?,
            Lane::NoPorts => empty_lane(&area, "serial ports: bytes per 100 ms", &axis, x_area)?,
            Lane::Lateness => lateness_lane(&area, r, &axis, x_area)?,
            Lane::Wakeups => wakeup_lane(&area, r, &axis, x_area)?,
        }
    }
    Ok(())
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A lane with a linear y axis `0..y_max` and its caption.
fn linear_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    axis: &Axis,
    y_max: f64,
    x_area: u32,
) -> DrawResult<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let mut chart = lane(area, caption, x_area).build_cartesian_2d(0f64..axis.secs, 0f64..y_max)?;
    mesh(&mut chart, x_area, 3, &|v| fmt_count(*v))?;
    Ok(chart)
}

/// The builder every lane starts from: its caption, margins and label areas (`x_area` > 0 only
/// for the bottom lane, which carries the shared seconds axis).
fn lane<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(caption, text_style(CAPTION_PX, &BLACK))
        .margin_top(2)
        .margin_bottom(4)
        .margin_right(RIGHT_MARGIN)
        .y_label_area_size(LEFT_AREA)
        .x_label_area_size(x_area);
    b
}

/// The grid and labels of one lane: the shared seconds axis (described only under the bottom
/// lane, `x_area` > 0) and `y_labels` labels formatted by `y_fmt`.
fn mesh<DB, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    x_area: u32,
    y_labels: usize,
    y_fmt: &dyn Fn(&Y::ValueType) -> String,
) -> DrawResult<()>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged + plotters::coord::ranged1d::ValueFormatter<Y::ValueType>,
{
    let mut m = chart.configure_mesh();
    m.disable_y_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(GRID)
        .y_labels(y_labels)
        .x_labels(12)
        .label_style(text_style(11, &BLACK))
        .x_label_formatter(&|v| fmt_secs(*v))
        .y_label_formatter(y_fmt);
    if x_area > 0 {
        m.x_desc("seconds since the recording started (CLOCK_BOOTTIME)");
    }
    m.draw()?;
    Ok(())
}

fn fmt_secs(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else if (v * 10.0) == (v * 10.0).trunc() {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let style = text_style(13, &NO_DATA).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new("no data", (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

fn empty_lane<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    axis: &Axis,
    x_area: u32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let chart = linear_chart(area, caption, axis, 1.0, x_area)?;
    no_data(&chart.plotting_area().strip_coord_spec())
}

fn suspend_lane<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
    axis: &Axis,
    x_area: u32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    // nesting depth of each phase: phases still open when it begins
    let mut placed = Vec::new();
    let mut rows = 1usize;
    for c in &r.suspend_cycles {
        let mut open: Vec<u64> = Vec::new();
        for p in &c.phases {
            let end = p.end_boot_ns.unwrap_or(c.end_boot_ns).max(p.begin_boot_ns);
            open.retain(|&e| e > p.begin_boot_ns);
            let depth = open.len();
            open.push(end);
            rows = rows.max(depth + 1);
            placed.push((p, end, depth));
        }
    }
    let rows = rows.min(6);
    // one row for the cycle labels above the phase rows
    let y_max = rows as f64 + 1.0;
    let mut chart = lane(
        area,
        "suspend cycles and their phases (dark: platform suspended)",
        x_area,
    )
    .build_cartesian_2d(0f64..axis.secs, 0f64..y_max)?;
    mesh(&mut chart, x_area, 0, &|v| fmt_count(*v))?;
    if r.suspend_cycles.is_empty() {
        return no_data(&chart.plotting_area().strip_coord_spec());
    }
    let plot = chart.plotting_area();
    for c in &r.suspend_cycles {
        let (x0, x1) = axis.span(c.start_boot_ns, c.end_boot_ns, 2.0);
        let tint = if c.machine_suspend { ASLEEP } else { LATENESS };
        plot.draw(&Rectangle::new(
            [(x0, 0.0), (x1, y_max)],
            tint.mix(0.08).filled(),
        ))?;
        let label = format!("{} #{}", c.kind(), c.index);
        plot.draw(&Text::new(
            label,
            (x0, y_max - 0.1),
            text_style(11, &BLACK).pos(Pos::new(HPos::Left, VPos::Top)),
        ))?;
    }
    let row_h = 1.0;
    for (p, end, depth) in placed {
        let depth = depth.min(rows - 1);
        let (x0, x1) = axis.span(p.begin_boot_ns, end, 1.0);
        let y1 = rows as f64 - depth as f64 * row_h;
        let y0 = y1 - row_h * 0.85;
        let color = phase_color(&p.name);
        plot.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))?;
        let name = neutralize(&p.name);
        // label only phases wide enough to hold it (~5 px per character at this size)
        let px = (x1 - x0) / axis.secs * f64::from(axis.px);
        if px > name.chars().count() as f64 * 5.0 + 6.0 {
            let fg = if color == ASLEEP { WHITE } else { BLACK };
            plot.draw(&Text::new(
                name,
                ((x0 + x1) / 2.0, (y0 + y1) / 2.0),
                text_style(10, &fg).pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
    }
    Ok(())
}

fn port_lane<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
    p: &PortSeries,
    axis: &Axis,
    x_area: u32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let name = neutralize(&p.name);
    let drops: Vec<_> = r.drops.iter().filter(|d| d.port == p.name).collect();
    // log scale: a reader's steady trickle and a flush of the whole flip buffer at thaw differ
    // by three orders of magnitude and both must be visible
    let y_max = max_of(&p.received).max(max_of(&p.dropped)).max(10) as f64 * 2.0;
    let caption = format!(
        "{name}: bytes per 100 ms received (blue) and dropped (red), log scale; shaded: drop windows"
    );
    let mut chart = lane(area, &caption, x_area)
        .build_cartesian_2d(0f64..axis.secs, (1f64..y_max).log_scale())?;
    mesh(&mut chart, x_area, 4, &|v| fmt_count(*v))?;
    if p.received.is_empty() && p.dropped.is_empty() && drops.is_empty() {
        return no_data(&chart.plotting_area().strip_coord_spec());
    }
    let bucket = r.timeline.bucket_ns;
    chart.draw_series(drops.iter().map(|d| {
        // a polled drop happened somewhere in the interval before the sample that saw it
        let from = if d.coarse {
            d.t_boot_ns.saturating_sub(d.interval_ns)
        } else {
            d.t_boot_ns
        };
        let (x0, x1) = axis.span(from, d.end_boot_ns, 3.0);
        Rectangle::new([(x0, 1.0), (x1, y_max)], DROPPED.mix(0.18).filled())
    }))?;
    chart.draw_series(
        bars(&p.received, bucket, axis)
            .into_iter()
            .filter(|b| b.2 > 0)
            .map(|(x0, x1, v)| Rectangle::new([(x0, 1.0), (x1, v as f64)], RECEIVED.filled())),
    )?;
    chart.draw_series(
        bars(&p.dropped, bucket, axis)
            .into_iter()
            .filter(|b| b.2 > 0)
            .map(|(x0, x1, v)| Rectangle::new([(x0, 1.0), (x1, v as f64)], DROPPED.filled())),
    )?;
    Ok(())
}

fn lateness_lane<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
    axis: &Axis,
    x_area: u32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    const FLOOR_MS: f64 = 1e-3; // 1 µs: the bottom of the log axis
    let s = &r.timeline.timer_lateness_max;
    let top = (max_of(s) as f64 / 1e6).max(FLOOR_MS * 10.0) * 2.0;
    let mut chart = lane(
        area,
        "largest hrtimer lateness per 100 ms (ms, log scale)",
        x_area,
    )
    .build_cartesian_2d(0f64..axis.secs, (FLOOR_MS..top).log_scale())?;
    mesh(&mut chart, x_area, 4, &|v| fmt_ms(*v))?;
    if s.is_empty() {
        return no_data(&chart.plotting_area().strip_coord_spec());
    }
    chart.draw_series(
        bars(s, r.timeline.bucket_ns, axis)
            .into_iter()
            .map(|(x0, x1, v)| {
                let ms = (v as f64 / 1e6).max(FLOOR_MS);
                Rectangle::new([(x0, FLOOR_MS), (x1, ms)], LATENESS.filled())
            }),
    )?;
    Ok(())
}

fn fmt_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0} ms")
    } else if v >= 0.001 {
        format!("{:.0} µs", v * 1e3)
    } else {
        format!("{:.0} ns", v * 1e6)
    }
}

fn wakeup_lane<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
    axis: &Axis,
    x_area: u32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let s = &r.timeline.wakeups;
    let y_max = max_of(s).max(1) as f64 * 1.3;
    let mut chart = linear_chart(
        area,
        "task-visible timer wakeups per 100 ms; red: lost wakeups (deadline → ran)",
        axis,
        y_max,
        x_area,
    )?;
    if s.is_empty() && r.lost_wakeups.is_empty() {
        return no_data(&chart.plotting_area().strip_coord_spec());
    }
    chart.draw_series(
        bars(s, r.timeline.bucket_ns, axis)
            .into_iter()
            .map(|(x0, x1, v)| Rectangle::new([(x0, 0.0), (x1, v as f64)], WAKEUPS.filled())),
    )?;
    // each lost wakeup: a line from the deadline to when the task ran, a marker at the end
    let y = y_max * 0.88;
    chart.draw_series(r.lost_wakeups.iter().map(|l| {
        let (x0, x1) = (axis.x(l.expected_boot_ns), axis.x(l.actual_boot_ns));
        PathElement::new(vec![(x0, y), (x1.max(x0), y)], DROPPED.stroke_width(2))
    }))?;
    chart.draw_series(
        r.lost_wakeups
            .iter()
            .map(|l| TriangleMarker::new((axis.x(l.actual_boot_ns), y), 5, DROPPED.filled())),
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::render::html::tests::{empty_report, synthetic_report};

    #[test]
    fn timeline_svg_draws_every_lane() {
        let r = synthetic_report();
        let svg = render_timeline_svg(&r, 1200, 700);
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for lane in [
            "suspend cycles",
            "bytes per 100 ms",
            "hrtimer lateness",
            "wakeups per 100 ms",
            "seconds since the recording started",
        ] {
            assert!(svg.contains(lane), "lane {lane} missing");
        }
        assert!(svg.contains("pm_test #1"), "pm_test cycle label");
        assert!(svg.contains("S3 #2"), "S3 cycle label");
        assert!(
            svg.contains("machine_suspend"),
            "the long phase is labelled"
        );
        // two ports, each its own lane
        assert_eq!(svg.matches("bytes per 100 ms received").count(), 2);
        assert!(
            !svg.contains("no data"),
            "every lane of the synthetic report has data"
        );
        // drops are red
        assert!(svg.contains("#D62728") || svg.contains("#d62728"));
    }

    #[test]
    fn timeline_svg_of_an_empty_report_says_no_data() {
        let r = empty_report();
        let svg = render_timeline_svg(&r, 1200, 640);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // suspend, ports, lateness, wakeups
        assert_eq!(svg.matches("no data").count(), 4, "{svg}");
        // odd sizes never panic
        for (w, h) in [(0, 0), (1, 1), (100, 50), (5000, 200)] {
            let s = render_timeline_svg(&r, w, h);
            assert!(s.contains("no data"), "{w}x{h}");
            let s = render_timeline_svg(&synthetic_report(), w, h);
            assert!(s.ends_with("</svg>\n") || s.trim_end().ends_with("</svg>"));
        }
    }

    #[test]
    fn timeline_svg_neutralizes_kernel_strings() {
        let r = synthetic_report();
        let svg = render_timeline_svg(&r, 1200, 700);
        assert!(
            !svg.contains("<script"),
            "markup in a port name must be escaped"
        );
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        for c in svg.chars() {
            assert!(
                !c.is_control() || c == '\n',
                "control character {:?} in SVG",
                c
            );
        }
        assert!(svg.contains('\u{241b}'), "ESC shown as its control picture");
    }

    #[test]
    fn bars_merge_buckets_narrower_than_a_pixel() {
        let mut s = Series::default();
        for i in 0..10_000u64 {
            s.add(i * 100_000_000, i % 7);
        }
        let axis = Axis {
            start_ns: 0,
            secs: 1000.0,
            px: 500,
        };
        let b = bars(&s, 100_000_000, &axis);
        assert!(b.len() <= 501, "{}", b.len());
        assert_eq!(b.iter().map(|b| b.2).max(), Some(6));
        let axis = Axis {
            start_ns: 0,
            secs: 1.0,
            px: 500,
        };
        let mut one = Series::default();
        one.add(200_000_000, 9);
        assert_eq!(bars(&one, 100_000_000, &axis), vec![(0.2, 0.3, 9)]);
    }
}
