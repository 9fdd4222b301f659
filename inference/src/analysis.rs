//! `analyze`: a video file in, tracked people with expression and behaviour intervals out.
//!
//! Shape (after text-embeddings-inference's batching queue): a decoder thread feeds sampled
//! frames through a bounded channel; this loop owns the model sessions, gathers frames into
//! batches, runs the detectors, tracks people, classifies all faces of a batch at once, and
//! pushes per-person samples into timelines that emit intervals as soon as they are final.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use opencv::core::Mat;
use tokio_util::sync::CancellationToken;

use crate::{
    appearance,
    behaviour::{BehaviourRules, CHANNELS},
    error::InferenceError,
    isolated::{Decoding, MediaSource},
    labels::{Behaviour, Emotion, Role},
    models::{
        BoundingBox, EmotionClassifier, ExpressionInput, Face, FaceDetector, Person, PoseEstimator, default_models_dir,
    },
    quality::{self, FaceCounts, QualityBar, Unusable},
    role::{BodyStats, guess_roles},
    runtime::{Runtime, RuntimeOptions},
    timeline::{Interval, Timeline, TimelineOptions},
    tracker::{TrackedDetection, Tracker, TrackerOptions},
    video::{Decoded, Frame, MediaLimits, VideoError, VideoInfo, decoded_size},
};

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("the analysis was cancelled")]
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// Frames analysed per second of video (`None`: every frame).
    pub analysis_fps: Option<f64>,
    /// Frames per batch through the face detector (and faces per batch through the classifier).
    pub batch_size: usize,
    /// Long side of the face detector's input, in pixels (rounded to a multiple of 32).
    pub face_input_long_side: i32,
    /// Long side of the pose network's input.
    pub pose_input_long_side: i32,
    /// How face crops become the expression classifier's input.
    pub expression: ExpressionInput,
    /// Faces below it do not vote on the person's expression.
    pub quality_bar: QualityBar,
    /// Shorter intervals are dropped as flicker.
    pub min_interval_ms: i64,
    /// Videos over these are refused before analysis.
    pub limits: MediaLimits,
    /// Where the video is probed and decoded.
    pub decoding: Decoding,
    pub models_dir: PathBuf,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            analysis_fps: Some(2.0),
            batch_size: 8,
            face_input_long_side: 320,
            pose_input_long_side: 256,
            expression: ExpressionInput::default(),
            quality_bar: QualityBar::default(),
            min_interval_ms: 1_000,
            limits: MediaLimits::default(),
            decoding: Decoding::InProcess,
            models_dir: default_models_dir(),
        }
    }
}

/// Where an analysis is: going through the frames, or finished with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Analysing,
    Done,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Analysing => "analysing",
            Stage::Done => "done",
        }
    }
}

/// How far an analysis is.
#[derive(Clone, Debug)]
pub struct Progress {
    pub stage: Stage,
    pub frames_done: i64,
    pub frames_total: i64,
    pub percent: f64,
    pub eta_seconds: Option<f64>,
}

/// Receives progress and intervals while the analysis runs (for live streaming). Object ids are
/// the tracker's; they match `TrackedObject::track_id` in the result.
pub trait AnalysisSink {
    fn progress(&mut self, _progress: &Progress) {}
    fn emotion_interval(&mut self, _track_id: u32, _interval: &Interval<Emotion>) {}
    fn behaviour_interval(&mut self, _track_id: u32, _interval: &Interval<Behaviour>) {}
}

/// A sink that ignores everything.
pub struct NoSink;
impl AnalysisSink for NoSink {}

#[derive(Clone, Debug)]
pub struct EmotionShare {
    pub emotion: Emotion,
    pub fraction: f64,
    pub duration_ms: i64,
}

/// One person followed through the video.
#[derive(Clone, Debug)]
pub struct TrackedObject {
    pub track_id: u32,
    /// "Person 1", "Person 2", … in order of first appearance.
    pub label: String,
    pub role: Role,
    pub role_confidence: f32,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub emotion_intervals: Vec<Interval<Emotion>>,
    pub behaviour_intervals: Vec<Interval<Behaviour>>,
    pub emotion_share: Vec<EmotionShare>,
    /// How often their face was seen and good enough to vote; with no usable face, there are
    /// no expression intervals, and `FaceCounts::main_reason` says why.
    pub faces: FaceCounts,
    /// Where the person was at each analysed frame, for identity evaluation.
    pub sightings: Vec<Sighting>,
}

/// One analysed frame's view of a person. Boxes are in fractions of the frame (0..1), so that
/// they compare with hand labels whatever size the frames were decoded at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sighting {
    pub t_ms: i64,
    pub body: BoundingBox,
    /// The face attributed to this person in that frame, if any.
    pub face: Option<BoundingBox>,
}

#[derive(Clone, Debug)]
pub struct AnalysisResult {
    pub video: VideoInfo,
    pub analysed_frames: i64,
    pub objects: Vec<TrackedObject>,
    /// Times of the analysed frames that begin a new shot: the picture changed wholesale since
    /// the frame before (an edited clip, a recording paused and resumed).
    pub cuts_ms: Vec<i64>,
    pub timings: Timings,
}

/// Time per stage, for the benchmark: wall time, except `pose`, the time both detector
/// threads spent on the pose model (they share it).
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub decode_wait: Duration,
    pub pose: Duration,
    pub faces: Duration,
    pub emotions: Duration,
    pub tracking: Duration,
    pub total: Duration,
}

/// The loaded models; create once, analyse many videos.
pub struct Engine {
    faces: FaceDetector,
    poses: PoseEstimator,
    /// A second pose session, for the face detector's thread once its batch is done: MoveNet
    /// takes one frame at a time and costs more than the faces, so both threads share it.
    poses_beside_faces: PoseEstimator,
    emotions: EmotionClassifier,
}

impl Engine {
    pub fn load(runtime_options: RuntimeOptions, models_dir: &Path) -> Result<Self, InferenceError> {
        let runtime = Runtime::load(runtime_options)?;
        Ok(Self {
            faces: FaceDetector::new(&runtime, models_dir, 320, 256)?,
            poses: PoseEstimator::new(&runtime, models_dir, 256, 192)?,
            poses_beside_faces: PoseEstimator::new(&runtime, models_dir, 256, 192)?,
            emotions: EmotionClassifier::new(&runtime, models_dir)?,
        })
    }
}

/// `(width, height)` with the long side `long_side`, both multiples of 32.
pub(crate) fn network_size(width: i32, height: i32, long_side: i32) -> (i32, i32) {
    let scale = long_side as f32 / width.max(height) as f32;
    let round = |v: i32| (((v as f32 * scale) / 32.0).round() as i32).max(1) * 32;
    (round(width), round(height))
}

/// Decoded frames an analysis may hold at once (a batch, and two more waiting in the decoder's
/// channel) fit in this many bytes: large frames make smaller batches.
const FRAMES_IN_FLIGHT_BYTES: u64 = 768 << 20;

/// The batch size asked for, made smaller where frames of `width`×`height` RGB would not fit
/// `FRAMES_IN_FLIGHT_BYTES` three batches deep.
fn batch_size_for(asked: usize, width: i32, height: i32) -> usize {
    let frame_bytes = (width.max(1) as u64) * (height.max(1) as u64) * 3;
    let fits = (FRAMES_IN_FLIGHT_BYTES / (3 * frame_bytes)).max(1) as usize;
    asked.clamp(1, fits.max(1))
}

/// What a track needs to count as a person rather than a detector hiccup: this many samples
/// spanning at least the minimum interval duration.
const MIN_TRACK_SAMPLES: u32 = 3;

struct PersonTimelines {
    emotion: Timeline<Emotion>,
    behaviours: Vec<Timeline<Behaviour>>,
    emotion_intervals: Vec<Interval<Emotion>>,
    behaviour_intervals: Vec<Interval<Behaviour>>,
    body: BodyStats,
    first_seen_ms: i64,
    last_seen_ms: i64,
    faces: FaceCounts,
    sightings: Vec<Sighting>,
}

/// `bbox` in fractions of a `size` frame.
fn normalised(bbox: &BoundingBox, size: (i32, i32)) -> BoundingBox {
    let (width, height) = (size.0.max(1) as f32, size.1.max(1) as f32);
    BoundingBox { x: bbox.x / width, y: bbox.y / height, width: bbox.width / width, height: bbox.height / height }
}

pub fn analyze(
    engine: &mut Engine,
    path: &Path,
    options: &AnalysisOptions,
    sink: &mut dyn AnalysisSink,
    cancel: &CancellationToken,
) -> Result<AnalysisResult, AnalysisError> {
    let started = Instant::now();
    let info = options.decoding.probe(MediaSource::File(path), &options.limits)?;
    let frame_size = decoded_size(info.width, info.height);
    (engine.faces.input_width, engine.faces.input_height) =
        network_size(info.width, info.height, options.face_input_long_side);
    let pose_size = network_size(info.width, info.height, options.pose_input_long_side);
    (engine.poses.input_width, engine.poses.input_height) = pose_size;
    (engine.poses_beside_faces.input_width, engine.poses_beside_faces.input_height) = pose_size;
    let period_ms = match options.analysis_fps.filter(|rate| *rate > 0.0 && *rate < info.fps) {
        Some(rate) => (1000.0 / rate).round() as i64,
        None => (1000.0 / info.fps).round().max(1.0) as i64,
    };
    let frames_total = (info.duration_ms / period_ms).max(1);
    let timeline_options = TimelineOptions { radius: 2, period_ms, min_duration_ms: options.min_interval_ms };
    let batch_size = batch_size_for(options.batch_size, frame_size.0, frame_size.1);
    let (frames, decoder) =
        options.decoding.spawn_decoder(path, &info, options.analysis_fps, batch_size * 2, cancel.clone())?;

    let mut tracker = Tracker::new(TrackerOptions::default());
    let mut rules = BehaviourRules::default();
    let mut people: BTreeMap<u32, PersonTimelines> = BTreeMap::new();
    let mut timings = Timings::default();
    let mut batch: Vec<Frame> = Vec::with_capacity(batch_size);
    let mut frames_done = 0i64;
    let mut frames_read = None;
    sink.progress(&Progress { stage: Stage::Analysing, frames_done: 0, frames_total, percent: 0.0, eta_seconds: None });

    loop {
        if cancel.is_cancelled() {
            drop(frames);
            let _ = decoder.join();
            return Err(AnalysisError::Cancelled);
        }
        let wait = Instant::now();
        let message = frames.recv().ok();
        timings.decode_wait += wait.elapsed();
        let end = match message {
            Some(Decoded::Frame(frame)) => {
                batch.push(frame);
                false
            }
            Some(Decoded::End { frames_read: read }) => {
                frames_read = Some(read);
                true
            }
            Some(Decoded::Failed(error)) => {
                let _ = decoder.join();
                return Err(error.into());
            }
            None => true,
        };
        if batch.len() >= batch_size || (end && !batch.is_empty()) {
            process_batch(
                engine,
                &batch,
                frame_size,
                &mut tracker,
                &mut rules,
                &mut people,
                timeline_options,
                &options.expression,
                &options.quality_bar,
                sink,
                &mut timings,
            )?;
            frames_done += batch.len() as i64;
            batch.clear();
            let elapsed = started.elapsed().as_secs_f64();
            let fraction = (frames_done as f64 / frames_total as f64).min(1.0);
            sink.progress(&Progress {
                stage: Stage::Analysing,
                frames_done,
                frames_total,
                percent: (fraction * 99.0).min(99.0),
                eta_seconds: (fraction > 0.0).then(|| elapsed / fraction - elapsed),
            });
        }
        if end {
            break;
        }
    }
    let _ = decoder.join();
    if let Some(read) = frames_read {
        // A container that promises far more frames than it holds was cut short.
        if info.frame_count > 0 && (read as f64) < info.frame_count as f64 * 0.9 {
            return Err(VideoError::Truncated { decoded: read, expected: info.frame_count }.into());
        }
    }

    // Close every timeline; keep the people seen often enough to be real.
    let mut tracked: Vec<(u32, PersonTimelines)> = people.into_iter().collect();
    for (id, person) in tracked.iter_mut() {
        let end = (person.last_seen_ms + period_ms).min(info.duration_ms.max(person.last_seen_ms + 1));
        for interval in person.emotion.finish(end) {
            sink.emotion_interval(*id, &interval);
            person.emotion_intervals.push(interval);
        }
        for timeline in person.behaviours.iter_mut() {
            for interval in timeline.finish(end) {
                sink.behaviour_interval(*id, &interval);
                person.behaviour_intervals.push(interval);
            }
        }
    }
    tracked.retain(|(_, person)| {
        person.faces.samples >= MIN_TRACK_SAMPLES
            && person.last_seen_ms - person.first_seen_ms >= options.min_interval_ms
    });
    tracked.sort_by_key(|(id, person)| (person.first_seen_ms, *id));
    let roles = guess_roles(&tracked.iter().map(|(_, p)| p.body.clone()).collect::<Vec<_>>());
    let objects = tracked
        .into_iter()
        .zip(roles)
        .enumerate()
        .map(|(index, ((track_id, mut person), (role, role_confidence)))| {
            person.behaviour_intervals.sort_by_key(|i| (i.start_ms, i.label));
            TrackedObject {
                track_id,
                label: format!("Person {}", index + 1),
                role,
                role_confidence,
                first_seen_ms: person.first_seen_ms,
                last_seen_ms: person.last_seen_ms,
                emotion_share: emotion_share(&person.emotion_intervals),
                faces: person.faces,
                emotion_intervals: person.emotion_intervals,
                behaviour_intervals: person.behaviour_intervals,
                sightings: person.sightings,
            }
        })
        .collect();
    timings.total = started.elapsed();
    sink.progress(&Progress {
        stage: Stage::Done,
        frames_done,
        frames_total: frames_done,
        percent: 100.0,
        eta_seconds: Some(0.0),
    });
    Ok(AnalysisResult {
        video: info,
        analysed_frames: frames_done,
        objects,
        cuts_ms: tracker.cuts_ms().to_vec(),
        timings,
    })
}

fn emotion_share(intervals: &[Interval<Emotion>]) -> Vec<EmotionShare> {
    let total: i64 = intervals.iter().map(|i| i.end_ms - i.start_ms).sum();
    Emotion::ALL
        .iter()
        .filter_map(|emotion| {
            let duration_ms: i64 =
                intervals.iter().filter(|i| i.label == *emotion).map(|i| i.end_ms - i.start_ms).sum();
            (duration_ms > 0).then(|| EmotionShare {
                emotion: *emotion,
                fraction: duration_ms as f64 / total as f64,
                duration_ms,
            })
        })
        .collect()
}

/// The face that belongs to a person: the best-scoring face whose centre lies in the upper half
/// of the person's box (or near its head keypoints) and is not taken by someone else.
fn assign_faces(people: &[Person], faces: &[Face]) -> Vec<Option<usize>> {
    let mut taken = vec![false; faces.len()];
    let mut assigned = vec![None; people.len()];
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by(|a, b| people[*b].score.total_cmp(&people[*a].score));
    for p in order {
        let person = &people[p];
        let head = BoundingBox { height: person.bbox.height * 0.5, ..person.bbox };
        let nose = person.keypoints[0];
        let best = faces
            .iter()
            .enumerate()
            .filter(|(f, _)| !taken[*f])
            .filter(|(_, face)| {
                let (cx, cy) = face.bbox.center();
                head.contains(cx, cy) || (nose.score > 0.3 && face.bbox.contains(nose.x, nose.y))
            })
            .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(f, _)| f);
        if let Some(f) = best {
            taken[f] = true;
            assigned[p] = Some(f);
        }
    }
    assigned
}

#[allow(clippy::too_many_arguments)]
fn process_batch(
    engine: &mut Engine,
    batch: &[Frame],
    frame_size: (i32, i32),
    tracker: &mut Tracker,
    rules: &mut BehaviourRules,
    people: &mut BTreeMap<u32, PersonTimelines>,
    timeline_options: TimelineOptions,
    expression: &ExpressionInput,
    quality_bar: &QualityBar,
    sink: &mut dyn AnalysisSink,
    timings: &mut Timings,
) -> Result<(), AnalysisError> {
    let rgb: Vec<&Mat> = batch.iter().map(|frame| &frame.rgb).collect();

    // The two detectors run side by side, one core each: on small models that beats giving
    // each model both cores in turn (docs/perf.md). The pose model takes the batch's frames one
    // by one from a shared counter, on its thread and, once the faces are done, on theirs.
    let next_pose = AtomicUsize::new(0);
    let poses_of = |estimator: &mut PoseEstimator| {
        let clock = Instant::now();
        let mut found = Vec::new();
        loop {
            let n = next_pose.fetch_add(1, Ordering::Relaxed);
            let Some(frame) = rgb.get(n) else { break };
            let people = estimator.detect(frame, frame_size);
            if people.is_err() {
                // The batch fails with it: the other thread takes no more frames.
                next_pose.store(rgb.len(), Ordering::Relaxed);
            }
            found.push((n, people));
        }
        (found, clock.elapsed())
    };
    let (faces, pose_parts) = std::thread::scope(|scope| {
        let poses = &mut engine.poses;
        let pose_thread = scope.spawn(|| poses_of(poses));
        let clock = Instant::now();
        let faces = engine.faces.detect(&rgb, frame_size);
        timings.faces += clock.elapsed();
        let beside = poses_of(&mut engine.poses_beside_faces);
        let own = pose_thread.join().expect("the pose thread does not panic");
        (faces, [own, beside])
    });
    let faces = faces?;
    // A failed frame fails the batch (and left later frames untaken); otherwise every frame
    // was taken by exactly one thread.
    let mut persons: Vec<Option<Vec<Person>>> = vec![None; rgb.len()];
    for (found, time) in pose_parts {
        timings.pose += time;
        for (n, people) in found {
            persons[n] = Some(people?);
        }
    }
    let persons: Vec<Vec<Person>> = persons
        .into_iter()
        .map(|people| people.expect("every frame of the batch was taken by one pose thread. This is a bug."))
        .collect();

    // Every usable face of the batch through the classifier at once.
    let clock = Instant::now();
    let assignments: Vec<Vec<Option<usize>>> =
        persons.iter().zip(&faces).map(|(people, faces)| assign_faces(people, faces)).collect();
    let mut verdicts: Vec<Vec<Option<Result<(), Unusable>>>> = persons.iter().map(|p| vec![None; p.len()]).collect();
    let mut input = Vec::new();
    let mut owners = Vec::new();
    for (n, assigned) in assignments.iter().enumerate() {
        for (p, face) in assigned.iter().enumerate() {
            if let Some(f) = face {
                let (small, verdict) = quality::view_and_verdict(rgb[n], &faces[n][*f], expression, quality_bar)?;
                verdicts[n][p] = Some(verdict);
                if verdict.is_ok() {
                    EmotionClassifier::push_view(&small, expression, &mut input)?;
                    owners.push((n, p));
                }
            }
        }
    }
    let probabilities = engine.emotions.classify_with(input, expression)?;
    let mut emotions: Vec<Vec<Option<[f32; 7]>>> = persons.iter().map(|p| vec![None; p.len()]).collect();
    for ((n, p), probabilities) in owners.into_iter().zip(probabilities) {
        emotions[n][p] = Some(probabilities);
    }
    timings.emotions += clock.elapsed();

    let clock = Instant::now();
    for (n, frame) in batch.iter().enumerate() {
        let t = frame.timestamp_ms;
        let detections: Vec<TrackedDetection> = persons[n]
            .iter()
            .zip(&assignments[n])
            .map(|(person, face)| TrackedDetection {
                bbox: person.bbox,
                appearance: appearance::of_person(&frame.rgb, person, face.map(|f| &faces[n][f].bbox)),
            })
            .collect();
        let ids = tracker.update(t, appearance::Thumbnail::of_frame(&frame.rgb), &detections);
        let observations = rules.observe(t, &ids, &persons[n]);
        for (p, id) in ids.iter().enumerate() {
            let person = people.entry(*id).or_insert_with(|| PersonTimelines {
                emotion: Timeline::new(timeline_options),
                behaviours: (0..CHANNELS).map(|_| Timeline::new(timeline_options)).collect(),
                emotion_intervals: Vec::new(),
                behaviour_intervals: Vec::new(),
                body: BodyStats::default(),
                first_seen_ms: t,
                last_seen_ms: t,
                faces: FaceCounts::default(),
                sightings: Vec::new(),
            });
            person.last_seen_ms = t;
            person.faces.record(verdicts[n][p]);
            let bbox = persons[n][p].bbox;
            person.body.heights.push(bbox.height);
            person.body.feet.push((bbox.y + bbox.height) / frame_size.1.max(1) as f32);
            if let Some(f) = assignments[n][p] {
                person.body.head_ratios.push(faces[n][f].bbox.height / persons[n][p].bbox.height.max(1.0));
            }
            person.sightings.push(Sighting {
                t_ms: t,
                body: normalised(&bbox, frame_size),
                face: assignments[n][p].map(|f| normalised(&faces[n][f].bbox, frame_size)),
            });
            let votes = emotions[n][p].map(|probabilities| Emotion::ALL.iter().copied().zip(probabilities).collect());
            for interval in person.emotion.push_votes(t, votes) {
                sink.emotion_interval(*id, &interval);
                person.emotion_intervals.push(interval);
            }
            for (channel, timeline) in person.behaviours.iter_mut().enumerate() {
                for interval in timeline.push(t, observations[p][channel]) {
                    sink.behaviour_interval(*id, &interval);
                    person.behaviour_intervals.push(interval);
                }
            }
        }
    }
    timings.tracking += clock.elapsed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_sizes_keep_aspect_in_multiples_of_32() {
        assert_eq!(network_size(768, 576, 320), (320, 256));
        assert_eq!(network_size(176, 144, 256), (256, 224));
        assert_eq!(network_size(1920, 1080, 256), (256, 160));
    }

    #[test]
    fn large_frames_make_smaller_batches() {
        assert_eq!(batch_size_for(64, 1280, 720), 64);
        assert!(batch_size_for(64, 3840, 2160) <= 12);
        assert_eq!(batch_size_for(64, 16_000, 16_000), 1);
        assert_eq!(batch_size_for(0, 640, 480), 1);
    }
}
