//! Report pictures: a session's per-person timeline (SVG, or PNG drawn by `imind_inference::chart`
//! as in child exports) and a child's expression trend over sessions (SVG). The lanes are built
//! once here for every picture of a session; the child is the person labelled as them, else the
//! one guessed CHILD, and their lanes are marked.

use std::{collections::BTreeMap, fmt::Write};

use chrono::{DateTime, Utc};
use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion, ObjectRole},
    session, session_marker, tracked_object,
};
use imind_inference::chart::{self, Lane, Span, clock, ticks};

/// What a session's timeline shows.
pub struct SessionChart {
    pub title: String,
    pub duration_ms: i64,
    pub lanes: Vec<Lane>,
    pub legend: Vec<(String, [u8; 3])>,
}

pub fn emotion_colour(emotion: Emotion) -> [u8; 3] {
    match emotion {
        Emotion::Angry => [214, 39, 40],
        Emotion::Disgust => [140, 86, 75],
        Emotion::Fear => [148, 103, 189],
        Emotion::Happy => [255, 187, 40],
        Emotion::Sad => [31, 119, 180],
        Emotion::Surprise => [23, 190, 207],
        Emotion::Neutral => [170, 170, 170],
    }
}

pub fn behaviour_colour(behaviour: Behaviour) -> [u8; 3] {
    match behaviour {
        Behaviour::Standing => [44, 160, 44],
        Behaviour::Sitting => [152, 223, 138],
        Behaviour::Lying => [188, 189, 34],
        Behaviour::Moving => [255, 127, 14],
        Behaviour::Still => [199, 199, 199],
        Behaviour::HandRaised => [227, 119, 194],
        Behaviour::FaceCovered => [127, 39, 4],
        Behaviour::Approaching => [23, 120, 60],
        Behaviour::Withdrawing => [90, 90, 160],
    }
}

/// The person of `session` (among `people`, of any sessions) who is its child: labelled as them,
/// else the first guessed CHILD.
pub fn child_person<'a>(
    session: &session::Model,
    people: impl IntoIterator<Item = &'a tracked_object::Model> + Clone,
) -> Option<uuid::Uuid> {
    let of_session = |person: &&tracked_object::Model| person.session_id == session.id;
    people
        .clone()
        .into_iter()
        .filter(of_session)
        .find(|person| person.child_id == Some(session.child_id))
        .or_else(|| {
            people
                .into_iter()
                .filter(of_session)
                .find(|person| person.child_id.is_none() && person.role == ObjectRole::Child)
        })
        .map(|person| person.id)
}

/// A picture: (session, results version, file name).
pub type PictureKey = (uuid::Uuid, i64, &'static str);

/// A drawn picture and the intervals it draws.
pub type Drawn = (Vec<u8>, usize);

/// Drawn pictures by key, bounded by bytes held: a new version is drawn anew.
pub struct PictureCache {
    state: std::sync::Mutex<(lru::LruCache<PictureKey, Drawn>, usize)>,
    limit_bytes: usize,
}

impl PictureCache {
    pub fn new(limit_bytes: usize) -> Self {
        Self { state: std::sync::Mutex::new((lru::LruCache::unbounded(), 0)), limit_bytes }
    }

    pub fn get(&self, key: &PictureKey) -> Option<Drawn> {
        self.state.lock().expect("the picture cache's lock is never poisoned").0.get(key).cloned()
    }

    /// Keeps `drawn`, evicting the least recently used beyond the limit; a picture over an
    /// eighth of the limit is not kept.
    pub fn put(&self, key: PictureKey, drawn: Drawn) {
        let size = drawn.0.len();
        if size > self.limit_bytes / 8 {
            return;
        }
        let mut state = self.state.lock().expect("the picture cache's lock is never poisoned");
        let (entries, held) = &mut *state;
        if let Some(replaced) = entries.put(key, drawn) {
            *held -= replaced.0.len();
        }
        *held += size;
        while *held > self.limit_bytes {
            let (_, evicted) = entries.pop_lru().expect("entries hold what is counted. This is a bug.");
            *held -= evicted.0.len();
        }
    }
}

/// The colour of the markers' lane.
const MARKER_COLOUR: [u8; 3] = [40, 40, 40];

/// The session's timeline: per person a lane of expressions and one per behaviour observed, and
/// a lane of the session's markers when it has some. `None` for a session without results.
pub fn session_chart(
    session: &session::Model,
    people: &[tracked_object::Model],
    expressions: &[emotion_interval::Model],
    behaviours: &[behaviour_interval::Model],
    markers: &[session_marker::Model],
) -> Option<SessionChart> {
    let people: Vec<&tracked_object::Model> = people.iter().filter(|person| person.session_id == session.id).collect();
    if people.is_empty() {
        return None;
    }
    let child = child_person(session, people.iter().copied());
    let mut lanes = Vec::new();
    let mut legend = BTreeMap::new();
    for person in &people {
        let highlight = Some(person.id) == child;
        let name = if highlight { format!("{} (child)", person.label) } else { person.label.clone() };
        let spans = expressions.iter().filter(|i| i.object_id == person.id).map(|interval| {
            legend.insert(interval.emotion.as_str(), emotion_colour(interval.emotion));
            Span { start_ms: interval.start_ms, end_ms: interval.end_ms, colour: emotion_colour(interval.emotion) }
        });
        let spans: Vec<Span> = spans.collect();
        // An empty lane is not a calm face: say why the analysis observed no expression.
        let note = crate::reports::face_counts(person)
            .filter(|_| spans.is_empty())
            .and_then(|counts| counts.why_no_expression());
        lanes.push(Lane { name: format!("{name} expression"), spans, highlight, note });
        let mut by_behaviour: BTreeMap<&'static str, Vec<Span>> = BTreeMap::new();
        for interval in behaviours.iter().filter(|i| i.object_id == person.id) {
            let colour = behaviour_colour(interval.behaviour);
            legend.insert(interval.behaviour.as_str(), colour);
            by_behaviour.entry(interval.behaviour.as_str()).or_default().push(Span {
                start_ms: interval.start_ms,
                end_ms: interval.end_ms,
                colour,
            });
        }
        for (behaviour, spans) in by_behaviour {
            lanes.push(Lane { name: format!("{name} {}", behaviour.to_lowercase()), spans, highlight, note: None });
        }
    }
    let duration_ms =
        session.video_duration_ms.unwrap_or_else(|| people.iter().map(|person| person.last_seen_ms).max().unwrap_or(0));
    // A marker is a moment: drawn as a tick a 250th of the video wide.
    let tick_ms = (duration_ms / 250).max(1);
    let ticks: Vec<Span> = markers
        .iter()
        .filter(|marker| marker.session_id == session.id)
        .map(|marker| Span { start_ms: marker.at_ms, end_ms: marker.at_ms + tick_ms, colour: MARKER_COLOUR })
        .collect();
    if !ticks.is_empty() {
        legend.insert("marker", MARKER_COLOUR);
        lanes.push(Lane { name: "markers".to_owned(), spans: ticks, highlight: false, note: None });
    }
    Some(SessionChart {
        title: format!("{} - {}", session.title, session.recorded_at.format("%Y-%m-%d")),
        duration_ms,
        lanes,
        legend: legend.into_iter().map(|(name, colour)| (name.to_owned(), colour)).collect(),
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn rgb([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

// The PNG's layout (`imind_inference::chart`), in SVG's integers.
const WIDTH: i64 = chart::WIDTH as i64;
const LEFT: i64 = chart::LEFT as i64;
const RIGHT: i64 = chart::RIGHT as i64;
const TOP: i64 = chart::TOP as i64;
const LANE: i64 = chart::LANE as i64;
const AXIS: i64 = chart::AXIS as i64;
const LEGEND_ROW: i64 = chart::LEGEND_ROW as i64;

/// The session's timeline as SVG: the same layout as the PNG.
pub fn timeline_svg(chart: &SessionChart) -> String {
    let lanes = &chart.lanes[..chart.lanes.len().min(chart::MAX_LANES)];
    let duration_ms = chart.duration_ms.max(1);
    let legend_rows = chart.legend.len().div_ceil(6) as i64;
    let axis_y = TOP + LANE * lanes.len() as i64 + 4;
    let height = axis_y + AXIS + LEGEND_ROW * legend_rows + 20;
    let plot_width = WIDTH - LEFT - RIGHT;
    let x_of = |ms: i64| LEFT + ms.clamp(0, duration_ms) * plot_width / duration_ms;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         font-family=\"DejaVu Sans, sans-serif\" font-size=\"13\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\
         <text x=\"12\" y=\"30\" font-size=\"18\">{}</text>",
        escape(&chart.title)
    );
    for (index, lane) in lanes.iter().enumerate() {
        let top = TOP + LANE * index as i64;
        if index % 2 == 0 {
            let _ = write!(
                svg,
                "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{plot_width}\" height=\"{LANE}\" fill=\"#f4f4f4\"/>"
            );
        }
        let weight = if lane.highlight { " font-weight=\"bold\"" } else { "" };
        if lane.highlight {
            let _ =
                write!(svg, "<rect x=\"4\" y=\"{}\" width=\"4\" height=\"{}\" fill=\"#1e1e1e\"/>", top + 3, LANE - 6);
        }
        let _ = write!(svg, "<text x=\"12\" y=\"{}\"{weight}>{}</text>", top + LANE - 8, escape(&lane.name));
        if let Some(note) = &lane.note {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" fill=\"#555555\" font-style=\"italic\">{}</text>",
                LEFT + 8,
                top + LANE - 8,
                escape(note)
            );
        }
        for span in &lane.spans {
            let (left, right) = (x_of(span.start_ms), x_of(span.end_ms));
            let _ = write!(
                svg,
                "<rect x=\"{left}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} - {}</title></rect>",
                top + 3,
                (right - left).max(1),
                LANE - 6,
                rgb(span.colour),
                clock(span.start_ms),
                clock(span.end_ms)
            );
        }
    }
    let _ = write!(svg, "<rect x=\"{LEFT}\" y=\"{axis_y}\" width=\"{plot_width}\" height=\"1\" fill=\"#000000\"/>");
    for tick in ticks(duration_ms) {
        let x = x_of(tick);
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{axis_y}\" width=\"1\" height=\"6\" fill=\"#000000\"/>\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
            axis_y + 22,
            clock(tick)
        );
    }
    let legend_top = axis_y + AXIS;
    for (index, (name, colour)) in chart.legend.iter().enumerate() {
        let (row, column) = (index as i64 / 6, index as i64 % 6);
        let x = LEFT + column * (plot_width / 6);
        let y = legend_top + row * LEGEND_ROW;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" y=\"{y}\">{}</text>",
            y - 12,
            rgb(*colour),
            x + 20,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One analysed session of a child's trend: when, and the time of each expression the child
/// showed.
pub struct TrendSession {
    pub recorded_at: DateTime<Utc>,
    pub expression_ms: Vec<(Emotion, i64)>,
}

/// A child's expression shares per analysed session, oldest first: one stacked bar each.
pub fn trend_svg(child_name: &str, sessions: &[TrendSession]) -> String {
    const HEIGHT: i64 = 460;
    const PLOT_TOP: i64 = 50;
    const PLOT_HEIGHT: i64 = 260;
    let width = (LEFT + RIGHT + 90 * sessions.len().max(1) as i64).max(700);
    let plot_width = width - LEFT - RIGHT;
    let bar = plot_width / sessions.len().max(1) as i64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{HEIGHT}\" viewBox=\"0 0 {width} {HEIGHT}\" \
         font-family=\"DejaVu Sans, sans-serif\" font-size=\"13\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\
         <text x=\"12\" y=\"30\" font-size=\"18\">{} - observed facial expressions per session</text>",
        escape(child_name)
    );
    for share in [0, 25, 50, 75, 100] {
        let y = PLOT_TOP + PLOT_HEIGHT - PLOT_HEIGHT * share / 100;
        let _ = write!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{y}\" width=\"{plot_width}\" height=\"1\" fill=\"#dddddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{share} %</text>",
            LEFT - 8,
            y + 4
        );
    }
    let mut legend = BTreeMap::new();
    for (index, session) in sessions.iter().enumerate() {
        let x = LEFT + bar * index as i64 + bar / 6;
        let total: i64 = session.expression_ms.iter().map(|(_, ms)| ms).sum();
        // Stacked from the bottom by cumulative time, so the bar always reaches 100 %.
        let top_of = |cumulative: i64| PLOT_TOP + PLOT_HEIGHT - PLOT_HEIGHT * cumulative / total.max(1);
        let mut cumulative = 0;
        for (emotion, ms) in &session.expression_ms {
            if total == 0 || *ms == 0 {
                continue;
            }
            let (bottom, top) = (top_of(cumulative), top_of(cumulative + ms));
            cumulative += ms;
            legend.insert(emotion.as_str(), emotion_colour(*emotion));
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} {:.0} %</title></rect>",
                bar * 2 / 3,
                bottom - top,
                rgb(emotion_colour(*emotion)),
                emotion.as_str(),
                100.0 * *ms as f64 / total as f64
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
            x + bar / 3,
            PLOT_TOP + PLOT_HEIGHT + 20,
            session.recorded_at.format("%Y-%m-%d")
        );
    }
    let columns = (plot_width / 120).max(1);
    for (index, (name, colour)) in legend.into_iter().enumerate() {
        let x = LEFT + (index as i64 % columns) * 120;
        let y = PLOT_TOP + PLOT_HEIGHT + 60 + (index as i64 / columns) * LEGEND_ROW;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" y=\"{y}\">{name}</text>",
            y - 12,
            rgb(colour),
            x + 20
        );
    }
    svg.push_str("</svg>");
    svg
}
