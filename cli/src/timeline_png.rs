//! The per-person timeline picture of `imind analyze --timeline`: for every tracked person, a
//! lane of observed expressions and lanes of posture, motion and events, on one time axis, so a
//! counsellor sees at a glance who showed what, when.

use std::{path::Path, sync::OnceLock};

use anyhow::Context;
use imind_inference::{AnalysisResult, Behaviour, Emotion};
use plotters::{
    prelude::*,
    style::{FontStyle, register_font},
};

const WIDTH: u32 = 1600;
const LEFT: i32 = 190;
const RIGHT: i32 = 30;
const LANE: i32 = 26;
const FONT_FILE: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn emotion_colour(emotion: Emotion) -> RGBColor {
    match emotion {
        Emotion::Angry => RGBColor(214, 39, 40),
        Emotion::Disgust => RGBColor(140, 86, 75),
        Emotion::Fear => RGBColor(148, 103, 189),
        Emotion::Happy => RGBColor(255, 187, 40),
        Emotion::Sad => RGBColor(31, 119, 180),
        Emotion::Surprise => RGBColor(23, 190, 207),
        Emotion::Neutral => RGBColor(170, 170, 170),
    }
}

fn behaviour_colour(behaviour: Behaviour) -> RGBColor {
    match behaviour {
        Behaviour::Standing => RGBColor(44, 160, 44),
        Behaviour::Sitting => RGBColor(152, 223, 138),
        Behaviour::Lying => RGBColor(188, 189, 34),
        Behaviour::Moving => RGBColor(255, 127, 14),
        Behaviour::Still => RGBColor(199, 199, 199),
        Behaviour::HandRaised => RGBColor(227, 119, 194),
        Behaviour::FaceCovered => RGBColor(127, 39, 4),
        Behaviour::Approaching => RGBColor(23, 118, 100),
        Behaviour::Withdrawing => RGBColor(120, 60, 160),
    }
}

/// The lanes under each person, and which behaviours go in each.
const BEHAVIOUR_LANES: [(&str, &[Behaviour]); 3] = [
    ("posture", &[Behaviour::Standing, Behaviour::Sitting, Behaviour::Lying]),
    ("motion", &[Behaviour::Moving, Behaviour::Still]),
    ("events", &[Behaviour::HandRaised, Behaviour::FaceCovered, Behaviour::Approaching, Behaviour::Withdrawing]),
];

fn register_sans_serif() -> anyhow::Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let bytes = std::fs::read(FONT_FILE)
            .map_err(|error| format!("{FONT_FILE}: {error} (install the Debian package fonts-dejavu-core)"))?;
        register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
            .map_err(|_| format!("{FONT_FILE} is not a usable font"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

fn clock(ms: i64) -> String {
    format!("{:02}:{:02}", ms / 60_000, (ms / 1000) % 60)
}

fn name(label: impl std::fmt::Debug) -> String {
    format!("{label:?}").chars().fold(String::new(), |mut out, c| {
        if c.is_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        out
    })
}

pub fn draw(result: &AnalysisResult, path: &Path) -> anyhow::Result<()> {
    register_sans_serif()?;
    let rows_per_person = 1 + BEHAVIOUR_LANES.len() as i32;
    let people = result.objects.len().max(1) as i32;
    let top = 50;
    let legend = 80;
    let height = (top + people * (rows_per_person * LANE + 34) + legend) as u32;
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let duration = result.video.duration_ms.max(1);
    let x_of = |ms: i64| LEFT + ((WIDTH as i32 - LEFT - RIGHT) as f64 * ms as f64 / duration as f64) as i32;
    let text = |size: i32| ("sans-serif", size).into_font().color(&BLACK);

    root.draw(&Text::new(
        format!(
            "Observed expressions and behaviours — {} s video, {} people (expressions are what faces looked like, not feelings)",
            duration / 1000,
            result.objects.len()
        ),
        (12, 12),
        text(17),
    ))?;
    // Time axis: a tick every ~10% of the video, on whole seconds.
    let step = ((duration / 10).max(1000) / 1000) * 1000;
    let axis_bottom = height as i32 - legend;
    for tick in (0..=duration).step_by(step as usize) {
        let x = x_of(tick);
        root.draw(&PathElement::new(vec![(x, top - 6), (x, axis_bottom)], RGBColor(230, 230, 230)))?;
        root.draw(&Text::new(clock(tick), (x - 16, top - 20), text(12)))?;
    }

    let mut y = top;
    for object in &result.objects {
        root.draw(&Text::new(
            format!("{} · {} {:.0}%", object.label, name(object.role), object.role_confidence * 100.0),
            (12, y + 4),
            ("sans-serif", 15).into_font().style(FontStyle::Normal).color(&BLACK),
        ))?;
        y += 24;
        root.draw(&Text::new("expression", (24, y + 6), text(13)))?;
        // An empty lane is not a calm face: say why no expression was observed.
        if let Some(note) = object.faces.why_no_expression().filter(|_| object.emotion_intervals.is_empty()) {
            root.draw(&Text::new(note, (LEFT + 8, y + 6), text(13).color(&RGBColor(90, 90, 90))))?;
        }
        for interval in &object.emotion_intervals {
            let colour = emotion_colour(interval.label).mix(0.35 + 0.65 * interval.mean_confidence as f64);
            root.draw(&Rectangle::new(
                [
                    (x_of(interval.start_ms), y + 2),
                    (x_of(interval.end_ms).max(x_of(interval.start_ms) + 1), y + LANE - 4),
                ],
                colour.filled(),
            ))?;
        }
        y += LANE;
        for (lane, behaviours) in BEHAVIOUR_LANES {
            root.draw(&Text::new(lane, (24, y + 6), text(13)))?;
            for interval in object.behaviour_intervals.iter().filter(|i| behaviours.contains(&i.label)) {
                root.draw(&Rectangle::new(
                    [
                        (x_of(interval.start_ms), y + 4),
                        (x_of(interval.end_ms).max(x_of(interval.start_ms) + 1), y + LANE - 6),
                    ],
                    behaviour_colour(interval.label).filled(),
                ))?;
            }
            y += LANE;
        }
        y += 10;
    }

    // Legend.
    let mut x = 12;
    let legend_y = axis_bottom + 14;
    for emotion in Emotion::ALL {
        root.draw(&Rectangle::new([(x, legend_y), (x + 14, legend_y + 14)], emotion_colour(emotion).filled()))?;
        root.draw(&Text::new(name(emotion), (x + 18, legend_y), text(12)))?;
        x += 120;
    }
    let mut x = 12;
    for (_, behaviours) in BEHAVIOUR_LANES {
        for behaviour in behaviours.iter().copied() {
            root.draw(&Rectangle::new(
                [(x, legend_y + 28), (x + 14, legend_y + 42)],
                behaviour_colour(behaviour).filled(),
            ))?;
            root.draw(&Text::new(name(behaviour), (x + 18, legend_y + 28), text(12)))?;
            x += 150;
        }
    }
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_clock() {
        assert_eq!(name(Behaviour::HandRaised), "HAND_RAISED");
        assert_eq!(name(Emotion::Happy), "HAPPY");
        assert_eq!(clock(125_000), "02:05");
    }
}
