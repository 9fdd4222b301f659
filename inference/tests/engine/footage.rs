//! The whole pipeline on real footage (fetched by scripts/fetch-footage.sh) and on clips made
//! from real photographs.

use super::common;

use std::path::{Path, PathBuf};

use imind_inference::{
    AnalysisError, AnalysisOptions, AnalysisResult, AnalysisSink, Behaviour, Emotion, Engine, Interval, Progress,
    RuntimeOptions, Stage, Unusable, VideoError, analyze,
};
use opencv::{
    core::{Mat, Rect, Size},
    imgcodecs, imgproc,
    prelude::*,
    videoio::VideoWriter,
};
use tokio_util::sync::CancellationToken;

fn engine() -> Engine {
    Engine::load(RuntimeOptions { intra_threads: 2, ..RuntimeOptions::default() }, &common::models_dir()).unwrap()
}

fn run(path: &Path) -> Result<AnalysisResult, AnalysisError> {
    analyze(&mut engine(), path, &AnalysisOptions::default(), &mut imind_inference::NoSink, &CancellationToken::new())
}

/// Writes an MJPG clip of `seconds` at 10 fps; `frame(i)` draws frame i (BGR).
fn clip(dir: &Path, name: &str, size: Size, seconds: usize, frame: impl Fn(usize) -> Mat) -> PathBuf {
    let path = dir.join(name);
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(&path, fourcc, 10.0, size, true).unwrap();
    assert!(writer.is_opened().unwrap());
    for i in 0..seconds * 10 {
        writer.write(&frame(i)).unwrap();
    }
    writer.release().unwrap();
    path
}

fn image(name: &str, scale: f64) -> Mat {
    let bgr = imgcodecs::imread(common::footage(name), imgcodecs::IMREAD_COLOR).unwrap();
    let mut out = Mat::default();
    imgproc::resize(&bgr, &mut out, Size::new(0, 0), scale, scale, imgproc::INTER_AREA).unwrap();
    out
}

fn longest_behaviour(result: &AnalysisResult, behaviour: Behaviour) -> i64 {
    result
        .objects
        .iter()
        .flat_map(|o| &o.behaviour_intervals)
        .filter(|i| i.label == behaviour)
        .map(|i| i.end_ms - i.start_ms)
        .max()
        .unwrap_or(0)
}

#[test]
fn the_smiling_astronaut_is_happy() {
    let dir = tempfile::tempdir().unwrap();
    let astronaut = image("astronaut.png", 1.0);
    let path = clip(dir.path(), "astronaut.avi", Size::new(512, 512), 4, |_| astronaut.clone());
    let result = run(&path).unwrap();
    assert_eq!(result.objects.len(), 1, "{result:#?}");
    let person = &result.objects[0];
    let happy: i64 =
        person.emotion_intervals.iter().filter(|i| i.label == Emotion::Happy).map(|i| i.end_ms - i.start_ms).sum();
    assert!(happy >= 3_000, "HAPPY for {happy} ms of 4 s: {:?}", person.emotion_intervals);
    assert!(person.emotion_share[0].emotion == Emotion::Happy && person.emotion_share[0].fraction > 0.9);
}

#[test]
fn a_blurred_face_does_not_vote_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let sharp = image("astronaut.png", 1.0);
    let mut blurred = Mat::default();
    imgproc::gaussian_blur_def(&sharp, &mut blurred, Size::new(0, 0), 4.5).unwrap();
    let path = clip(dir.path(), "blurred.avi", Size::new(512, 512), 4, |_| blurred.clone());
    let result = run(&path).unwrap();
    assert_eq!(result.objects.len(), 1, "{result:#?}");
    let person = &result.objects[0];
    // Her face is still found, but it is too soft to read: no expression rather than one read
    // off a smear (without the bar this clip reads NEUTRAL or worse).
    assert!(person.faces.with_face >= 6, "{:?}", person.faces);
    assert_eq!(person.faces.usable, 0, "{:?}", person.faces);
    assert_eq!(person.faces.main_reason(), Some(Unusable::Blurred));
    // Her body is still followed.
    assert!(!person.behaviour_intervals.is_empty());

    // The same clip sharp: every face votes, and each interval says how many samples it rests on.
    let path = clip(dir.path(), "sharp.avi", Size::new(512, 512), 4, |_| sharp.clone());
    let person = run(&path).unwrap().objects.remove(0);
    assert_eq!((person.faces.usable, person.faces.with_face), (person.faces.samples, person.faces.samples));
    let voted: u32 = person.emotion_intervals.iter().map(|i| i.samples).sum();
    assert!(voted >= 6, "{voted} of {:?}", person.faces);
}

#[test]
fn the_blurred_man_behind_megamind_has_no_expression() {
    let result = analyze(
        &mut engine(),
        &common::footage("Megamind.avi"),
        &AnalysisOptions { analysis_fps: Some(4.0), ..AnalysisOptions::default() },
        &mut imind_inference::NoSink,
        &CancellationToken::new(),
    )
    .unwrap();
    // The first shot: the woman in focus in front, a man out of focus behind her.
    let first_shot: Vec<_> = result.objects.iter().filter(|o| o.first_seen_ms < 1_000).collect();
    let background = first_shot
        .iter()
        .find(|o| o.faces.with_face > 0 && o.faces.usable == 0)
        .unwrap_or_else(|| panic!("no unreadable face in the first shot: {first_shot:#?}"));
    assert_eq!(background.faces.main_reason(), Some(Unusable::Blurred), "{:?}", background.faces);
    let woman = first_shot.iter().find(|o| o.faces.usable >= 10).expect("the woman's face is readable");
    assert!(!woman.emotion_intervals.is_empty());
}

#[test]
fn two_people_in_basketball1() {
    let dir = tempfile::tempdir().unwrap();
    let picture = image("basketball1.png", 1.0);
    let size = Size::new(picture.cols() / 2 * 2, picture.rows() / 2 * 2);
    let picture = Mat::roi(&picture, Rect::new(0, 0, size.width, size.height)).unwrap().try_clone().unwrap();
    let path = clip(dir.path(), "basketball.avi", size, 3, |_| picture.clone());
    let result = run(&path).unwrap();
    assert_eq!(result.objects.len(), 2, "{result:#?}");
}

#[test]
fn faces_are_found_in_the_face_clips() {
    for name in ["carphone_pristine.mp4", "Megamind.avi"] {
        let result = run(&common::footage(name)).unwrap();
        let expressions: usize = result.objects.iter().map(|o| o.emotion_intervals.len()).sum();
        assert!(expressions > 0, "{name}: no expression intervals: {result:#?}");
    }
}

#[test]
fn vtest_keeps_a_stable_number_of_people() {
    let result = run(&common::footage("vtest.avi")).unwrap();
    // About a dozen pedestrians cross the scene; an id per detection would be hundreds.
    let people = result.objects.len();
    assert!((5..=25).contains(&people), "{people} people");
    // One fixed camera: no shot cuts.
    assert!(result.cuts_ms.is_empty(), "cuts in a single shot: {:?}", result.cuts_ms);
    let labels: Vec<&str> = result.objects.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels[0], "Person 1");
}

#[test]
fn moving_and_still_people() {
    let dir = tempfile::tempdir().unwrap();
    let small = image("astronaut.png", 0.5);
    let canvas = Size::new(896, 320);
    let moving = clip(dir.path(), "moving.avi", canvas, 4, |i| common::on_canvas(&small, canvas, (i * 15) as i32));
    let result = run(&moving).unwrap();
    assert!(longest_behaviour(&result, Behaviour::Moving) >= 2_000, "{result:#?}");
    let still = clip(dir.path(), "still.avi", canvas, 4, |_| common::on_canvas(&small, canvas, 300));
    let result = run(&still).unwrap();
    assert!(longest_behaviour(&result, Behaviour::Still) >= 2_000, "{result:#?}");
    assert_eq!(longest_behaviour(&result, Behaviour::Moving), 0);
}

#[test]
fn broken_files_end_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(common::footage("vtest.avi")).unwrap();
    let cut = dir.path().join("cut.avi");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    match run(&cut) {
        Err(AnalysisError::Video(VideoError::Truncated { decoded, expected })) => assert!(decoded < expected),
        other => panic!("a truncated AVI: {other:?}"),
    }
    let text = dir.path().join("notes.avi");
    std::fs::write(&text, b"not a video at all").unwrap();
    assert!(matches!(run(&text), Err(AnalysisError::Video(VideoError::NotAVideo))));
    let empty = dir.path().join("empty.avi");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(run(&empty), Err(AnalysisError::Video(VideoError::Empty))));
}

/// Records what the pipeline streams.
#[derive(Default)]
struct Recorder {
    percents: Vec<f64>,
    intervals_before_done: usize,
    done: bool,
    cancel_after: Option<(usize, CancellationToken)>,
}

impl AnalysisSink for Recorder {
    fn progress(&mut self, progress: &Progress) {
        self.percents.push(progress.percent);
        self.done |= progress.stage == Stage::Done;
        if let Some((_, token)) = self.cancel_after.as_ref().filter(|(after, _)| self.percents.len() > *after) {
            token.cancel();
        }
    }

    fn emotion_interval(&mut self, _: u32, _: &Interval<Emotion>) {
        self.intervals_before_done += usize::from(!self.done);
    }

    fn behaviour_interval(&mut self, _: u32, _: &Interval<Behaviour>) {
        self.intervals_before_done += usize::from(!self.done);
    }
}

#[test]
fn progress_rises_and_intervals_stream_before_the_end() {
    let mut recorder = Recorder::default();
    let options = AnalysisOptions { batch_size: 4, ..AnalysisOptions::default() };
    let result =
        analyze(&mut engine(), &common::footage("vtest.avi"), &options, &mut recorder, &CancellationToken::new())
            .unwrap();
    assert!(recorder.percents.windows(2).all(|p| p[1] >= p[0]), "{:?}", recorder.percents);
    assert_eq!(recorder.percents.last(), Some(&100.0));
    assert!(recorder.percents.len() > 10);
    let total: usize = result.objects.iter().map(|o| o.emotion_intervals.len() + o.behaviour_intervals.len()).sum();
    assert!(recorder.intervals_before_done > 0 && total > 0);
}

#[test]
fn cancelling_stops_the_analysis() {
    let token = CancellationToken::new();
    let mut recorder = Recorder { cancel_after: Some((2, token.clone())), ..Recorder::default() };
    let options = AnalysisOptions { batch_size: 2, ..AnalysisOptions::default() };
    let started = std::time::Instant::now();
    let result = analyze(&mut engine(), &common::footage("vtest.avi"), &options, &mut recorder, &token);
    assert!(matches!(result, Err(AnalysisError::Cancelled)), "{result:?}");
    assert!(started.elapsed().as_secs() < 10);
}
