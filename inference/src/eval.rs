//! `imind eval expressions`: how right the expression stage is on labelled face images.
//!
//! A directory holds one folder per class (`angry disgust fear happy sad surprise neutral`).
//! Each image goes through the engine's own path — CenterFace on the whole image at the
//! pipeline's input size, the best face, the pipeline's crop, the classifier — or, with
//! `whole_image`, straight to the classifier as a pre-cropped face. An image in which no face is
//! found counts as wrong (it is a miss of the engine), and is reported apart as well.

use std::path::{Path, PathBuf};

use opencv::{
    core::{Mat, Rect},
    prelude::*,
};
use serde::Serialize;

use crate::{
    analysis::network_size,
    error::{InferenceError, Result},
    image,
    labels::Emotion,
    models::{EmotionClassifier, Face, FaceDetector, emotion::ExpressionInput},
    quality::{self, QualityBar, Unusable},
    runtime::{Runtime, RuntimeOptions},
};

/// Images through the networks at once.
const BATCH: usize = 32;

#[derive(Clone, Debug)]
pub struct ExpressionEvalOptions {
    /// Classify each image as it is (pre-cropped faces) instead of finding the face first.
    pub whole_image: bool,
    /// How crops become the classifier's input (the pipeline's own by default).
    pub input: ExpressionInput,
    /// Long side of the face detector's input, as `AnalysisOptions::face_input_long_side`.
    pub face_input_long_side: i32,
    /// The bar a face must pass to vote in the pipeline; the engine mode reports the figures of
    /// the faces that pass it beside those of all faces found.
    pub quality_bar: QualityBar,
    pub runtime: RuntimeOptions,
    pub models_dir: PathBuf,
}

impl Default for ExpressionEvalOptions {
    fn default() -> Self {
        let pipeline = crate::analysis::AnalysisOptions::default();
        Self {
            whole_image: false,
            input: ExpressionInput::default(),
            face_input_long_side: pipeline.face_input_long_side,
            quality_bar: pipeline.quality_bar,
            runtime: RuntimeOptions::default(),
            models_dir: pipeline.models_dir,
        }
    }
}

/// One class's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassFigures {
    pub label: Emotion,
    /// Images of this class.
    pub support: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// What an evaluation measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpressionReport {
    /// `engine` (face → crop → expression) or `whole-image`.
    pub mode: &'static str,
    pub images: u64,
    /// Images in which a face was found (all of them in `whole-image` mode).
    pub faces_found: u64,
    /// Correct ÷ images; an image without a face found is wrong.
    pub accuracy: f64,
    /// Correct ÷ faces found.
    pub accuracy_of_found: f64,
    /// The mean of the classes' F1.
    pub macro_f1: f64,
    pub classes: Vec<ClassFigures>,
    /// Rows: the true class; columns: the predicted one, both in `labels` order.
    pub labels: [Emotion; 7],
    pub confusion: [[u64; 7]; 7],
    /// Per true class, images in which no face was found.
    pub no_face: [u64; 7],
    /// Engine mode: the faces that pass the pipeline's quality bar (the samples that vote).
    pub usable: Option<UsableFigures>,
}

/// How the quality bar splits the faces found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsableFigures {
    pub faces: u64,
    /// Correct ÷ usable faces.
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Per reason, the faces below the bar and how often the classifier was right on them.
    pub unusable: Vec<UnusableFigures>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnusableFigures {
    pub reason: Unusable,
    pub faces: u64,
    pub accuracy: f64,
}

/// Counts of predictions against truths, and the figures they give.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub confusion: [[u64; 7]; 7],
    pub no_face: [u64; 7],
}

impl Tally {
    pub fn record(&mut self, truth: Emotion, predicted: Option<Emotion>) {
        match predicted {
            Some(predicted) => self.confusion[truth as usize][predicted as usize] += 1,
            None => self.no_face[truth as usize] += 1,
        }
    }

    pub fn report(&self, mode: &'static str) -> ExpressionReport {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let found: u64 = self.confusion.iter().flatten().sum();
        let images = found + self.no_face.iter().sum::<u64>();
        let correct: u64 = (0..7).map(|c| self.confusion[c][c]).sum();
        let classes: Vec<ClassFigures> = Emotion::ALL
            .iter()
            .map(|label| {
                let c = *label as usize;
                let support = self.confusion[c].iter().sum::<u64>() + self.no_face[c];
                let predicted: u64 = (0..7).map(|row| self.confusion[row][c]).sum();
                let hits = self.confusion[c][c];
                let (precision, recall) = (ratio(hits, predicted), ratio(hits, support));
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassFigures { label: *label, support, precision, recall, f1 }
            })
            .collect();
        ExpressionReport {
            mode,
            images,
            faces_found: found,
            accuracy: ratio(correct, images),
            accuracy_of_found: ratio(correct, found),
            macro_f1: classes.iter().map(|class| class.f1).sum::<f64>() / classes.len() as f64,
            classes,
            labels: Emotion::ALL,
            confusion: self.confusion,
            no_face: self.no_face,
            usable: None,
        }
    }
}

/// The class a folder name stands for.
fn class_of(folder: &str) -> Option<Emotion> {
    Emotion::ALL.into_iter().find(|emotion| emotion.folder_name() == folder)
}

/// Every image of `dir`'s class folders, with its class, in a stable order.
pub fn labelled_images(dir: &Path) -> Result<Vec<(PathBuf, Emotion)>> {
    let unreadable = |error: std::io::Error| InferenceError::Image(format!("{}: {error}", dir.display()));
    let mut images = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let class = class_of(&name).ok_or_else(|| {
            InferenceError::Image(format!(
                "{}: a folder named {name:?} is not a class (angry disgust fear happy sad surprise neutral)",
                dir.display()
            ))
        })?;
        for file in std::fs::read_dir(entry.path()).map_err(unreadable)? {
            let path = file.map_err(unreadable)?.path();
            if path.is_file() && !path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.')) {
                images.push((path, class));
            }
        }
    }
    if images.is_empty() {
        return Err(InferenceError::Image(format!("{} holds no images in class folders", dir.display())));
    }
    images.sort();
    Ok(images)
}

/// The most probable class.
fn predicted(probabilities: &[f32; 7]) -> Emotion {
    let best = (0..7).max_by(|a, b| probabilities[*a].total_cmp(&probabilities[*b])).expect("seven classes");
    Emotion::ALL[best]
}

/// Evaluates the expression stage on `dir` (see the module's documentation).
pub fn evaluate_expressions(dir: &Path, options: &ExpressionEvalOptions) -> Result<ExpressionReport> {
    let images = labelled_images(dir)?;
    let runtime = Runtime::load(options.runtime.clone())?;
    let mut classifier = EmotionClassifier::new(&runtime, &options.models_dir)?;
    let mut detector =
        (!options.whole_image).then(|| FaceDetector::new(&runtime, &options.models_dir, 32, 32)).transpose()?;
    let mut tally = Tally::default();
    let mut usable = Tally::default();
    let mut unusable: Vec<(Unusable, u64, u64)> = Unusable::ALL.iter().map(|reason| (*reason, 0, 0)).collect();
    for chunk in images.chunks(BATCH) {
        let frames: Vec<Mat> = chunk.iter().map(|(path, _)| image::read_rgb(path)).collect::<Result<_>>()?;
        let mut batch = Vec::new();
        // Per image: whether a face was classified, and the quality bar's verdict on it.
        let mut verdicts: Vec<Option<Result<(), Unusable>>> = Vec::with_capacity(frames.len());
        match detector.as_mut() {
            None => {
                for frame in &frames {
                    let small = EmotionClassifier::crop_input(frame, Rect::new(0, 0, frame.cols(), frame.rows()))?;
                    EmotionClassifier::push_view(&small, &options.input, &mut batch)?;
                    verdicts.push(Some(Ok(())));
                }
            }
            Some(detector) => {
                for (frame, face) in frames.iter().zip(best_faces(detector, &frames, options.face_input_long_side)?) {
                    let Some(face) = face else {
                        verdicts.push(None);
                        continue;
                    };
                    let (small, verdict) =
                        quality::view_and_verdict(frame, &face, &options.input, &options.quality_bar)?;
                    EmotionClassifier::push_view(&small, &options.input, &mut batch)?;
                    verdicts.push(Some(verdict));
                }
            }
        }
        let mut probabilities = classifier.classify_with(batch, &options.input)?.into_iter();
        for ((_, truth), verdict) in chunk.iter().zip(verdicts) {
            let guess = verdict.map(|_| predicted(&probabilities.next().expect("one result per face. This is a bug.")));
            tally.record(*truth, guess);
            match (verdict, guess) {
                (Some(Ok(())), Some(guess)) => usable.record(*truth, Some(guess)),
                (Some(Err(reason)), Some(guess)) => {
                    let entry = unusable.iter_mut().find(|(r, _, _)| *r == reason).expect("every reason is listed");
                    entry.1 += 1;
                    entry.2 += u64::from(guess == *truth);
                }
                _ => {}
            }
        }
    }
    let mut report = tally.report(if options.whole_image { "whole-image" } else { "engine" });
    if detector.is_some() {
        let figures = usable.report("usable");
        report.usable = Some(UsableFigures {
            faces: figures.faces_found,
            accuracy: figures.accuracy,
            macro_f1: figures.macro_f1,
            unusable: unusable
                .into_iter()
                .map(|(reason, faces, right)| UnusableFigures {
                    reason,
                    faces,
                    accuracy: if faces == 0 { 0.0 } else { right as f64 / faces as f64 },
                })
                .collect(),
        });
    }
    Ok(report)
}

/// Per frame, the best-scoring face, if any; frames of one size share a detector batch.
fn best_faces(detector: &mut FaceDetector, frames: &[Mat], long_side: i32) -> Result<Vec<Option<Face>>> {
    let mut best = Vec::with_capacity(frames.len());
    let mut start = 0;
    while start < frames.len() {
        let size = (frames[start].cols(), frames[start].rows());
        let end = start + frames[start..].iter().take_while(|frame| (frame.cols(), frame.rows()) == size).count();
        (detector.input_width, detector.input_height) = network_size(size.0, size.1, long_side);
        let refs: Vec<&Mat> = frames[start..end].iter().collect();
        for faces in detector.detect(&refs, size)? {
            best.push(faces.into_iter().max_by(|a, b| a.score.total_cmp(&b.score)));
        }
        start = end;
    }
    Ok(best)
}

/// The report as the command prints it.
pub fn format_report(report: &ExpressionReport) -> String {
    let mut text = format!(
        "mode {}: {} images, faces found in {} ({:.1} %)\naccuracy {:.1} % (of faces found {:.1} %), macro-F1 {:.3}\n\n",
        report.mode,
        report.images,
        report.faces_found,
        100.0 * report.faces_found as f64 / report.images.max(1) as f64,
        100.0 * report.accuracy,
        100.0 * report.accuracy_of_found,
        report.macro_f1
    );
    text += "class      support  precision  recall  f1\n";
    for class in &report.classes {
        text += &format!(
            "{:<10} {:>7}  {:>9.3}  {:>6.3}  {:.3}\n",
            class.label.folder_name(),
            class.support,
            class.precision,
            class.recall,
            class.f1
        );
    }
    text += "\nconfusion (rows: truth, columns: predicted; last column: no face)\n           ";
    for label in &report.labels {
        text += &format!("{:>8}", &label.folder_name()[..label.folder_name().len().min(7)]);
    }
    text += "    none\n";
    for (row, label) in report.labels.iter().enumerate() {
        text += &format!("{:<10} ", label.folder_name());
        for count in report.confusion[row] {
            text += &format!("{count:>8}");
        }
        text += &format!("{:>8}\n", report.no_face[row]);
    }
    if let Some(usable) = &report.usable {
        text += &format!(
            "\nfaces that pass the quality bar (they vote in the pipeline): {} of {}, accuracy {:.1} %, macro-F1 {:.3}\n",
            usable.faces,
            report.faces_found,
            100.0 * usable.accuracy,
            usable.macro_f1
        );
        for below in &usable.unusable {
            text += &format!(
                "  below the bar, {:<14} {:>6} faces, accuracy {:.1} %\n",
                below.reason.as_str(),
                below.faces,
                100.0 * below.accuracy
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_the_hand_computed_ones() {
        let mut tally = Tally::default();
        // happy: 3 right, 1 read as sad, 1 without a face; sad: 2 right, 1 read as happy.
        for _ in 0..3 {
            tally.record(Emotion::Happy, Some(Emotion::Happy));
        }
        tally.record(Emotion::Happy, Some(Emotion::Sad));
        tally.record(Emotion::Happy, None);
        tally.record(Emotion::Sad, Some(Emotion::Sad));
        tally.record(Emotion::Sad, Some(Emotion::Sad));
        tally.record(Emotion::Sad, Some(Emotion::Happy));
        let report = tally.report("engine");
        assert_eq!((report.images, report.faces_found), (8, 7));
        assert!((report.accuracy - 5.0 / 8.0).abs() < 1e-12);
        assert!((report.accuracy_of_found - 5.0 / 7.0).abs() < 1e-12);
        let happy = &report.classes[Emotion::Happy as usize];
        // precision 3/4, recall 3/5, f1 2·(3/4)(3/5)/(3/4+3/5) = 2/3.
        assert_eq!(happy.support, 5);
        assert!((happy.precision - 0.75).abs() < 1e-12 && (happy.recall - 0.6).abs() < 1e-12);
        assert!((happy.f1 - 2.0 / 3.0).abs() < 1e-12);
        let sad = &report.classes[Emotion::Sad as usize];
        // precision 2/3, recall 2/3, f1 2/3.
        assert!((sad.precision - 2.0 / 3.0).abs() < 1e-12 && (sad.f1 - 2.0 / 3.0).abs() < 1e-12);
        // Classes never seen nor predicted score 0; the macro mean is over all seven.
        assert!((report.macro_f1 - (4.0 / 3.0) / 7.0).abs() < 1e-12);
        assert_eq!(report.confusion[Emotion::Happy as usize][Emotion::Sad as usize], 1);
        assert_eq!(report.no_face[Emotion::Happy as usize], 1);
        let text = format_report(&report);
        assert!(text.contains("accuracy 62.5 %"), "{text}");
    }

    #[test]
    fn folders_must_be_classes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("happy")).unwrap();
        std::fs::create_dir(dir.path().join("joy")).unwrap();
        let error = labelled_images(dir.path()).unwrap_err().to_string();
        assert!(error.contains("\"joy\" is not a class"), "{error}");
        std::fs::remove_dir(dir.path().join("joy")).unwrap();
        let error = labelled_images(dir.path()).unwrap_err().to_string();
        assert!(error.contains("no images"), "{error}");
    }
}
