//! The expression stage's accuracy on the FER2013 PublicTest faces, the development set that
//! lives beside the repository (`../shared/eval/fer2013-public`, or `IMIND_EVAL_DIR`); never in
//! it. Where the set is not there the test says so and checks nothing.

use super::common;

use std::path::PathBuf;

use imind_inference::{ExpressionEvalOptions, ExpressionInput, evaluate_expressions};

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
        input: ExpressionInput { flip },
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
