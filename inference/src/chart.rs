//! Lane charts as PNG, drawn with OpenCV (no font files needed: Hershey fonts are built in):
//! one row per lane, a coloured bar per span on a shared time axis, the lane's name on the
//! left and a legend below. The timeline pictures of child exports.

use opencv::{
    core::{CV_8UC3, Mat, Point, Rect, Scalar, Vector},
    imgcodecs, imgproc,
    prelude::*,
};

use crate::error::{InferenceError, Result};

/// A row of the chart; `highlight` marks it (bold name, a bar at the left edge); `note` is
/// written in the row's plot area (why an empty row is empty).
#[derive(Clone, Debug, Default)]
pub struct Lane {
    pub name: String,
    pub spans: Vec<Span>,
    pub highlight: bool,
    pub note: Option<String>,
}

/// A bar from `start_ms` to `end_ms`, in an RGB colour.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
    pub colour: [u8; 3],
}

// The layout, in pixels; the gateway's SVG timeline draws the same one.
pub const WIDTH: i32 = 1600;
pub const LEFT: i32 = 240;
pub const RIGHT: i32 = 30;
pub const TOP: i32 = 50;
pub const LANE: i32 = 26;
pub const AXIS: i32 = 40;
pub const LEGEND_ROW: i32 = 24;
/// Beyond this many lanes a picture is no longer readable; the rest are left out.
pub const MAX_LANES: usize = 200;

/// The chart of `lanes` over `[0, duration_ms]`, titled `title`, with `legend` (name, colour)
/// below, as PNG bytes.
pub fn lanes_png(title: &str, duration_ms: i64, lanes: &[Lane], legend: &[(String, [u8; 3])]) -> Result<Vec<u8>> {
    let lanes = &lanes[..lanes.len().min(MAX_LANES)];
    let duration_ms = duration_ms.max(1);
    let legend_rows = legend.len().div_ceil(6) as i32;
    let height = TOP + LANE * lanes.len() as i32 + AXIS + LEGEND_ROW * legend_rows + 20;
    let mut image = Mat::new_rows_cols_with_default(height, WIDTH, CV_8UC3, Scalar::all(255.0))?;
    let plot_width = WIDTH - LEFT - RIGHT;
    let x_of = |ms: i64| LEFT + ((ms.clamp(0, duration_ms) as f64 / duration_ms as f64) * plot_width as f64) as i32;

    text(&mut image, title, Point::new(12, 30), 0.7, 1)?;
    for (index, lane) in lanes.iter().enumerate() {
        let top = TOP + LANE * index as i32;
        if index % 2 == 0 {
            fill(&mut image, Rect::new(LEFT, top, plot_width, LANE), [244, 244, 244])?;
        }
        if lane.highlight {
            fill(&mut image, Rect::new(4, top + 3, 4, LANE - 6), [30, 30, 30])?;
        }
        let thickness = if lane.highlight { 2 } else { 1 };
        text(&mut image, &lane.name, Point::new(12, top + LANE - 8), 0.45, thickness)?;
        if let Some(note) = &lane.note {
            text(&mut image, note, Point::new(LEFT + 8, top + LANE - 8), 0.42, 1)?;
        }
        for span in &lane.spans {
            let (left, right) = (x_of(span.start_ms), x_of(span.end_ms));
            fill(&mut image, Rect::new(left, top + 3, (right - left).max(1), LANE - 6), span.colour)?;
        }
    }

    let axis_y = TOP + LANE * lanes.len() as i32 + 4;
    fill(&mut image, Rect::new(LEFT, axis_y, plot_width, 1), [0, 0, 0])?;
    for tick in ticks(duration_ms) {
        let x = x_of(tick);
        fill(&mut image, Rect::new(x, axis_y, 1, 6), [0, 0, 0])?;
        text(&mut image, &clock(tick), Point::new(x - 16, axis_y + 22), 0.4, 1)?;
    }

    let legend_top = axis_y + AXIS;
    for (index, (name, colour)) in legend.iter().enumerate() {
        let (row, column) = (index as i32 / 6, index as i32 % 6);
        let x = LEFT + column * (plot_width / 6);
        let y = legend_top + row * LEGEND_ROW;
        fill(&mut image, Rect::new(x, y - 12, 14, 14), *colour)?;
        text(&mut image, name, Point::new(x + 20, y), 0.42, 1)?;
    }

    let mut png = Vector::<u8>::new();
    if !imgcodecs::imencode(".png", &image, &mut png, &Vector::new())? {
        return Err(InferenceError::Image("the chart could not be encoded as PNG".into()));
    }
    Ok(png.to_vec())
}

/// `mm:ss` (or `h:mm:ss`) of a time from the start of the video.
pub fn clock(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 { format!("{hours}:{minutes:02}:{seconds:02}") } else { format!("{minutes:02}:{seconds:02}") }
}

/// The time axis' ticks over `duration_ms`: at most about ten, on round steps.
pub fn ticks(duration_ms: i64) -> Vec<i64> {
    const STEPS_MS: [i64; 9] = [10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];
    let step = STEPS_MS.into_iter().find(|step| duration_ms / step <= 10).unwrap_or(3_600_000);
    (0..=duration_ms.max(0) / step).map(|index| index * step).collect()
}

fn fill(image: &mut Mat, rect: Rect, [r, g, b]: [u8; 3]) -> Result<()> {
    let colour = Scalar::new(f64::from(b), f64::from(g), f64::from(r), 0.0);
    imgproc::rectangle(image, rect, colour, imgproc::FILLED, imgproc::LINE_8, 0)?;
    Ok(())
}

/// Hershey fonts draw ASCII only; anything else becomes `?`.
fn text(image: &mut Mat, text: &str, origin: Point, scale: f64, thickness: i32) -> Result<()> {
    let ascii: String = text.chars().take(60).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    imgproc::put_text(
        image,
        &ascii,
        origin,
        imgproc::FONT_HERSHEY_SIMPLEX,
        scale,
        Scalar::all(30.0),
        thickness,
        imgproc::LINE_AA,
        false,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_decodable_png_with_the_bars() {
        let lanes = vec![Lane {
            name: "person 1 · expression".into(),
            spans: vec![Span { start_ms: 0, end_ms: 30_000, colour: [255, 0, 0] }],
            highlight: true,
            note: None,
        }];
        let png = lanes_png("Session 1", 60_000, &lanes, &[("HAPPY".into(), [255, 0, 0])]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = imgcodecs::imdecode(&Vector::from_slice(&png), imgcodecs::IMREAD_COLOR).unwrap();
        assert_eq!(decoded.cols(), WIDTH);
        // The bar's first half is red (BGR order in OpenCV), the second half is background.
        let inside = decoded.at_2d::<opencv::core::Vec3b>(TOP + LANE / 2, LEFT + 10).unwrap();
        let outside = decoded.at_2d::<opencv::core::Vec3b>(TOP + LANE / 2, WIDTH - RIGHT - 10).unwrap();
        assert_eq!(inside.0, [0, 0, 255]);
        assert_ne!(outside.0, [0, 0, 255]);
        // The highlighted lane's marker.
        assert_eq!(decoded.at_2d::<opencv::core::Vec3b>(TOP + LANE / 2, 5).unwrap().0, [30, 30, 30]);
    }

    #[test]
    fn clocks_and_ticks() {
        assert_eq!(clock(0), "00:00");
        assert_eq!(clock(65_400), "01:05");
        assert_eq!(clock(25 * 60_000), "25:00");
        assert_eq!(clock(3_725_000), "1:02:05");
        assert_eq!(ticks(25 * 60_000), (0..=5).map(|i| i * 300_000).collect::<Vec<_>>());
        assert_eq!(ticks(90_000), (0..=9).map(|i| i * 10_000).collect::<Vec<_>>());
    }
}
