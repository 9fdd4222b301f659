//! The expression stage's accuracy on the FER2013 PublicTest faces, the development set that
//! lives beside the repository (`../shared/eval/fer2013-public`, or `IMIND_EVAL_DIR`); never in
//! it. Where the set is not there the test says so and checks nothing.

use super::common;

use std::path::PathBuf;

use imind_inference::{Alignment, ExpressionEvalOptions, ExpressionInput, Unusable, evaluate_expressions};

fn development_set() -> Option<PathBuf> {
    let dir = std::env::var_os("IMIND_EVAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/eval/fer2013-public")));
    if !dir.is_dir() {
        eprintln!("{} is not here: the accuracy figures are not checked", dir.display());
        return None;
    }
    Some(dir)
}

#[test]
fn the_expression_stage_scores_what_models_readme_says() {
    let Some(dir) = development_set() else { return };
    let options = |flip| ExpressionEvalOptions {
        whole_image: true,
        input: ExpressionInput { flip, align: Alignment::None },
        models_dir: common::models_dir(),
        ..ExpressionEvalOptions::default()
    };
    // `fer`'s own preprocessing, as measured when the model was adopted.
    let plain = evaluate_expressions(&dir, &options(false)).unwrap();
    assert_eq!(plain.images, 3589);
    assert!((plain.accuracy - 0.584).abs() < 0.001, "{:.4}", plain.accuracy);
    // Mirror-image averaging, the pipeline's default, does better on every summary figure.
    let flipped = evaluate_expressions(&dir, &options(true)).unwrap();
    assert!(flipped.accuracy >= 0.592, "{:.4}", flipped.accuracy);
    assert!(flipped.macro_f1 > plain.macro_f1, "{:.4} vs {:.4}", flipped.macro_f1, plain.macro_f1);
}

#[test]
fn faces_that_pass_the_quality_bar_are_read_better_than_those_below_it() {
    let Some(dir) = development_set() else { return };
    let options = ExpressionEvalOptions { models_dir: common::models_dir(), ..ExpressionEvalOptions::default() };
    // The pipeline's own path: CenterFace (its int8 build where the CPU runs it), the crop
    // turned so the eyes are level, mirrored (models/README.md has both builds' figures).
    let report = evaluate_expressions(&dir, &options).unwrap();
    let (found, accuracy_of_found, passing) =
        if imind_inference::int8_dot_products() { (2924, 0.6153, 2432) } else { (2837, 0.6100, 2343) };
    assert_eq!((report.images, report.faces_found), (3589, found));
    assert!((report.accuracy_of_found - accuracy_of_found).abs() < 0.001, "{:.4}", report.accuracy_of_found);
    let usable = report.usable.expect("the engine path reports the quality bar's split");
    assert_eq!(usable.faces, passing);
    assert!(usable.accuracy > report.accuracy_of_found + 0.015, "{:.4}", usable.accuracy);
    for below in &usable.unusable {
        match below.reason {
            // The faces turned away or uncertain are the ones the classifier gets wrong more.
            Unusable::TurnedAway | Unusable::Uncertain => {
                assert!(below.faces > 50 && below.accuracy < usable.accuracy - 0.05, "{below:?}")
            }
            // FER2013's faces are sharp and mostly big enough.
            Unusable::TooSmall | Unusable::Blurred => assert!(below.faces < 30, "{below:?}"),
        }
    }
}
