//! Line charts drawn with plotters, each written as SVG and PNG (text in an embedded DejaVu
//! Sans, so a PNG looks the same on a machine without fonts). A [`Chart`] is plain data —
//! what [`crate::charts`] derives from a run or a sweep — and [`Chart::write`] renders it.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use plotters::{
    coord::Shift,
    prelude::{
        BLACK, BitMapBackend, ChartBuilder, DrawingArea, DrawingAreaErrorKind, DrawingBackend,
        IntoDrawingArea, LineSeries, PathElement, RGBColor, SVGBackend, WHITE,
    },
    style::{Color, FontStyle},
};
use serde::Serialize;

/// Size of every chart, in pixels.
const SIZE: (u32, u32) = (900, 500);
/// Series colours, in order (colour-blind safe).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];
/// The font family every chart uses (registered once, from the embedded font).
const FONT: &str = "sans-serif";

/// Why a chart could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The embedded font did not load (not expected).
    #[error("the embedded font is invalid")]
    Font,
    /// Drawing or writing the file failed.
    #[error("{file}: {message}")]
    Draw {
        /// The file being written.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// Its points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart: a file name, a title, axis names and its lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// File stem (`latency` → `latency.svg`, `latency.png`).
    pub name: &'static str,
    /// Title above the chart.
    pub title: String,
    /// What the x axis measures.
    pub x_label: String,
    /// What the y axis measures.
    pub y_label: String,
    /// Its lines.
    pub series: Vec<Series>,
}

impl Chart {
    /// Whether the chart has any point to draw.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// Writes `<name>.svg` and `<name>.png` into `dir`; returns their paths.
    ///
    /// # Errors
    ///
    /// [`PlotError`] if drawing or writing fails.
    pub fn write(&self, dir: &Path) -> Result<[PathBuf; 2], PlotError> {
        register_font()?;
        let svg = dir.join(format!("{}.svg", self.name));
        let failed = |file: &Path| {
            let file = file.to_owned();
            move |e: String| PlotError::Draw { file, message: e }
        };
        self.draw(SVGBackend::new(&svg, SIZE).into_drawing_area()).map_err(failed(&svg))?;
        let png = dir.join(format!("{}.png", self.name));
        self.draw(BitMapBackend::new(&png, SIZE).into_drawing_area()).map_err(failed(&png))?;
        Ok([svg, png])
    }

    fn draw<DB: DrawingBackend>(&self, area: DrawingArea<DB, Shift>) -> Result<(), String> {
        let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        area.fill(&WHITE).map_err(text)?;
        let ((x0, x1), (y0, y1)) = self.bounds();
        let mut chart = ChartBuilder::on(&area)
            .caption(&self.title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(series.points.iter().copied(), colour.stroke_width(2)))
                .map_err(text)?
                .label(series.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
                });
        }
        if self.series.len() > 1 || self.series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(text)?;
        }
        area.present().map_err(text)
    }

    /// The ranges the points span (y from zero), widened where they are a single value.
    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let points = || self.series.iter().flat_map(|s| s.points.iter());
        let span = |values: &mut dyn Iterator<Item = f64>, from_zero: bool| {
            let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
            for v in values.filter(|v| v.is_finite()) {
                low = low.min(v);
                high = high.max(v);
            }
            if !low.is_finite() {
                return (0.0, 1.0);
            }
            if from_zero {
                low = low.min(0.0);
            }
            if (high - low).abs() < f64::EPSILON {
                return (low - 0.5, high + 0.5);
            }
            // A little headroom above, so the top line stays off the frame.
            (low, high + (high - low) * 0.05)
        };
        (span(&mut points().map(|p| p.0), false), span(&mut points().map(|p| p.1), true))
    }
}

fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if *ok { Ok(()) } else { Err(PlotError::Font) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_written_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let chart = Chart {
            name: "line",
            title: "A line".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series { label: "up".into(), points: vec![(0.0, 0.0), (1.0, 2.0), (2.0, 3.0)] },
                Series { label: "flat".into(), points: vec![(0.0, 1.0), (2.0, 1.0)] },
            ],
        };
        let [svg, png] = chart.write(dir.path()).unwrap();
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("A line") && svg.contains("<polyline"));
        let png = std::fs::read(png).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1_000);
    }

    #[test]
    fn a_chart_without_points_still_draws_its_frame() {
        let dir = tempfile::tempdir().unwrap();
        let chart = Chart {
            name: "empty",
            title: "Nothing".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![],
        };
        assert!(chart.is_empty());
        chart.write(dir.path()).unwrap();
    }
}
