//! `/stats`' chart: daily volume by outcome as lines, drawn in-process with plotters into an
//! RGB buffer and encoded as PNG in memory. Text needs a font; we read the first of a few
//! common system fonts once (DejaVu Sans from Debian's `fonts-dejavu-core` first) and, when
//! none is installed, draw the same chart without caption, axis labels or legend rather than
//! fail: the message's text carries the figures either way.

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::prelude::*;
use store::DayCounts;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 420;
/// The name text is drawn with; plotters looks fonts up by it.
const FAMILY: &str = "sans-serif";

/// Regular sans-serif fonts as Debian (and other distributions) install them.
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("could not draw the chart: {0}")]
    Draw(String),
    #[error("could not encode the chart as PNG")]
    Encode(#[from] png::EncodingError),
}

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub png: Vec<u8>,
    /// Whether it has its caption, axis labels and legend (a font was found).
    pub labelled: bool,
}

/// Reads and registers a system font once; `false` when none could be used.
fn font_available() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        FONT_CANDIDATES.iter().any(|path| {
            let Ok(bytes) = std::fs::read(path) else {
                return false;
            };
            // plotters keeps fonts for the life of the process: leaked once, by design.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// One line of the chart: its legend, the day's value, its colour.
type Series = (&'static str, fn(&DayCounts) -> u64, RGBColor);

/// The series drawn, in legend order.
const SERIES: &[Series] = &[
    ("answered", |d| d.answered, RGBColor(52, 101, 164)),
    ("resolved", |d| d.resolved, RGBColor(78, 154, 6)),
    ("handed off", |d| d.handed_off, RGBColor(245, 121, 0)),
    ("escalated", |d| d.escalated, RGBColor(117, 80, 123)),
    ("blocked", |d| d.blocked, RGBColor(204, 0, 0)),
];

/// Daily volume by outcome over `days` (oldest first), with text when a font is installed.
pub fn daily_volume(days: &[(NaiveDate, DayCounts)]) -> Result<Chart, ChartError> {
    render(days, font_available())
}

/// Renders with or without text; without, no font is touched.
pub fn render(days: &[(NaiveDate, DayCounts)], labelled: bool) -> Result<Chart, ChartError> {
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(&mut pixels, days, labelled).map_err(ChartError::Draw)?;
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(Chart { png, labelled })
}

fn draw(pixels: &mut [u8], days: &[(NaiveDate, DayCounts)], labelled: bool) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::with_buffer(pixels, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let last_x = days.len().saturating_sub(1).max(1) as f64;
    let peak = days
        .iter()
        .flat_map(|(_, d)| SERIES.iter().map(move |(_, value, _)| value(d)))
        .max()
        .unwrap_or(0);
    // Headroom above the highest point, and a visible scale when every day is empty.
    let top = ((peak as f64) * 1.15).max(peak as f64 + 1.0).max(4.0);

    let mut builder = ChartBuilder::on(&root);
    builder.margin(18);
    if labelled {
        builder
            .caption("Daily volume by outcome (UTC)", (FAMILY, 22))
            .x_label_area_size(34)
            .y_label_area_size(44);
    }
    let mut chart = builder
        .build_cartesian_2d(-0.3f64..last_x + 0.3, 0f64..top)
        .map_err(|e| fail(&e))?;
    if labelled {
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            days.get(i as usize)
                .map(|(day, _)| day.format("%m-%d").to_string())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(days.len().clamp(2, 12))
            .x_label_formatter(&label)
            .y_labels(6)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .label_style((FAMILY, 13))
            .draw()
            .map_err(|e| fail(&e))?;
    } else {
        // No font: the plot's frame instead of labelled axes.
        chart
            .plotting_area()
            .draw(&Rectangle::new(
                [(-0.3, 0.0), (last_x + 0.3, top)],
                BLACK.mix(0.4).stroke_width(1),
            ))
            .map_err(|e| fail(&e))?;
    }
    for &(name, value, colour) in SERIES {
        let points: Vec<(f64, f64)> = days
            .iter()
            .enumerate()
            .map(|(i, (_, d))| (i as f64, value(d) as f64))
            .collect();
        let line = chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))
            .map_err(|e| fail(&e))?;
        if labelled {
            line.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
            });
        }
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| fail(&e))?;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 14))
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week() -> Vec<(NaiveDate, DayCounts)> {
        let first = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        (0..7)
            .map(|i| {
                let n = i as u64;
                (
                    first + chrono::Duration::days(i),
                    DayCounts {
                        questions: n + 2,
                        answered: n + 1,
                        handed_off: n % 2,
                        escalated: n % 3,
                        blocked: 1,
                        resolved: n / 2,
                    },
                )
            })
            .collect()
    }

    /// Width and height from the PNG's IHDR chunk.
    fn png_size(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the PNG signature");
        assert_eq!(&png[12..16], b"IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&png[16..20]), be(&png[20..24]))
    }

    #[test]
    fn a_chart_without_a_font_is_still_drawn() {
        let chart = render(&week(), false).unwrap();
        assert!(!chart.labelled);
        assert_eq!(png_size(&chart.png), (WIDTH, HEIGHT));
    }

    #[test]
    fn an_empty_window_draws_an_empty_chart() {
        let chart = render(&[], false).unwrap();
        assert_eq!(png_size(&chart.png), (WIDTH, HEIGHT));
    }

    #[test]
    fn with_a_system_font_the_chart_has_text() {
        // Only where one of the fonts is installed; the unlabelled path is tested above.
        if font_available() {
            let chart = daily_volume(&week()).unwrap();
            assert!(chart.labelled);
            assert_eq!(png_size(&chart.png), (WIDTH, HEIGHT));
        }
    }
}
