//! Who is who: the tracker on hand-labelled clips of the test footage (labels under
//! tests/identity/) and on cuts between photographs of different people.

use super::common;

use std::path::Path;

use imind_inference::{
    AnalysisOptions, AnalysisResult, Engine, IdentityLabels, IdentityReport, RuntimeOptions, analyze,
    evaluate_identities, format_identity_report,
};
use opencv::{
    core::{Mat, Rect, Size},
    imgcodecs, imgproc,
    prelude::*,
    videoio::VideoWriter,
};
use tokio_util::sync::CancellationToken;

fn analyse(path: &Path, fps: f64) -> AnalysisResult {
    let mut engine =
        Engine::load(RuntimeOptions { intra_threads: 2, ..RuntimeOptions::default() }, &common::models_dir()).unwrap();
    let options = AnalysisOptions { analysis_fps: Some(fps), ..AnalysisOptions::default() };
    analyze(&mut engine, path, &options, &mut imind_inference::NoSink, &CancellationToken::new()).unwrap()
}

fn labels(name: &str) -> IdentityLabels {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/identity").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The labelled clip `name` analysed at 4 fps, its figures and their printout.
fn evaluate(name: &str) -> (IdentityLabels, AnalysisResult, IdentityReport, String) {
    let labels = labels(name);
    let result = analyse(&common::footage(&labels.video), 4.0);
    let report = evaluate_identities(&labels, &result);
    let printed = format_identity_report(&report);
    eprintln!("{printed}");
    (labels, result, report, printed)
}

fn figures<'a>(report: &'a IdentityReport, person: &str) -> &'a imind_inference::PersonFigures {
    report.people.iter().find(|p| p.person == person).unwrap_or_else(|| panic!("{person} is labelled"))
}

/// Megamind.avi at 4 fps: a woman with a man behind her, a cut to a man in glasses in close-up
/// (her shoulder at the edge), back to her, back to him. The man behind her and the man in
/// glasses are different people in the same part of the frame: only appearance tells them apart.
#[test]
fn megamind_keeps_its_three_people_apart() {
    let (labels, result, report, printed) = evaluate("megamind.json");
    // The three cuts (frames 99, 155 and 201) are found, within one analysed frame.
    for cut in [99, 155, 201] {
        let t_ms = (cut as f64 * 1000.0 / labels.fps) as i64;
        assert!(
            result.cuts_ms.iter().any(|found| (found - t_ms).abs() <= 250),
            "the cut at {t_ms} ms was missed: {:?}",
            result.cuts_ms
        );
    }

    let diner = figures(&report, "diner");
    let glasses = figures(&report, "glasses");
    let woman = figures(&report, "woman");
    assert!(
        diner.tracks.iter().all(|track| !glasses.tracks.contains(track)),
        "the man behind her and the man in glasses share a track:\n{printed}"
    );
    assert_eq!(report.merges, 0, "a track holds two people:\n{printed}");
    assert_eq!(report.misses, 0, "a person in full view was not found in a shot:\n{printed}");
    assert_eq!(report.wrong_faces, 0, "a face went to the wrong body:\n{printed}");
    // She is back after 2.3 s in his close-up: the same person, by appearance alone.
    assert_eq!(woman.switches, 0, "the woman changed track:\n{printed}");
    assert!(glasses.switches <= 1, "the man in glasses changed track more than once:\n{printed}");
}

/// carphone_pristine.mp4 at 4 fps: one man in close-up on a car's back seat, talking and
/// pulling faces, the countryside passing in the window: one shot, one person.
#[test]
fn a_talking_close_up_stays_one_person() {
    let (_, result, report, printed) = evaluate("carphone.json");
    assert!(result.cuts_ms.is_empty(), "cuts in a single shot: {:?}", result.cuts_ms);
    assert_eq!((report.switches, report.misses, report.wrong_faces), (0, 0, 0), "{printed}");
    assert_eq!(figures(&report, "passenger").tracks.len(), 1, "{printed}");
}

fn image(name: &str, crop: Option<Rect>, height: i32) -> Mat {
    let mut bgr = imgcodecs::imread(common::footage(name), imgcodecs::IMREAD_COLOR).unwrap();
    if let Some(crop) = crop {
        bgr = Mat::roi(&bgr, crop).unwrap().try_clone().unwrap();
    }
    let scale = height as f64 / bgr.rows() as f64;
    let mut out = Mat::default();
    imgproc::resize(&bgr, &mut out, Size::new(0, 0), scale, scale, imgproc::INTER_AREA).unwrap();
    out
}

/// Three shots of 3 s at 10 fps: the astronaut, a footballer in the same place, the astronaut
/// again. Position says "same person" at both cuts; appearance says otherwise.
#[test]
fn a_cut_to_someone_else_in_the_same_place_is_someone_else() {
    let canvas = Size::new(640, 480);
    let centred = |picture: Mat| common::on_canvas(&picture, canvas, (canvas.width - picture.cols()) / 2);
    let astronaut = centred(image("astronaut.png", None, 440));
    let footballer = centred(image("messi5.jpg", Some(Rect::new(60, 30, 400, 312)), 440));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cuts.avi");
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(&path, fourcc, 10.0, canvas, true).unwrap();
    for frame in [&astronaut, &footballer, &astronaut] {
        for _ in 0..30 {
            writer.write(frame).unwrap();
        }
    }
    writer.release().unwrap();

    let result = analyse(&path, 4.0);
    // The main person of each shot: the track seen most within it.
    let main_track = |from_ms: i64, to_ms: i64| {
        result
            .objects
            .iter()
            .max_by_key(|o| o.sightings.iter().filter(|s| s.t_ms >= from_ms && s.t_ms < to_ms).count())
            .map(|o| o.track_id)
            .expect("someone is found")
    };
    let shots = [main_track(0, 3_000), main_track(3_000, 6_000), main_track(6_000, 9_000)];
    let tracks: Vec<(u32, Vec<i64>)> =
        result.objects.iter().map(|o| (o.track_id, o.sightings.iter().map(|s| s.t_ms).collect())).collect();
    assert_ne!(shots[0], shots[1], "the footballer took the astronaut's track: {tracks:?}");
    assert_eq!(shots[0], shots[2], "the astronaut came back as someone new: {tracks:?}");
}
