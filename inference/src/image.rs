//! OpenCV conversions shared by the models. Frames travel as 8-bit RGB `Mat`s.

use opencv::{
    core::{Mat, Rect, Size},
    imgcodecs, imgproc,
    prelude::*,
};

use crate::error::{InferenceError, Result};

/// Reads an image file as 8-bit RGB.
pub fn read_rgb(path: &std::path::Path) -> Result<Mat> {
    let bgr = imgcodecs::imread(path, imgcodecs::IMREAD_COLOR)?;
    if bgr.empty() {
        return Err(InferenceError::Image(format!("{} is not a readable image", path.display())));
    }
    bgr_to_rgb(&bgr)
}

pub fn bgr_to_rgb(bgr: &Mat) -> Result<Mat> {
    let mut rgb = Mat::default();
    imgproc::cvt_color(bgr, &mut rgb, imgproc::COLOR_BGR2RGB, 0)?;
    Ok(rgb)
}

/// Bilinear resize (OpenCV's INTER_LINEAR, as the reference outputs were made).
pub fn resize(src: &Mat, width: i32, height: i32) -> Result<Mat> {
    let mut dst = Mat::default();
    imgproc::resize(src, &mut dst, Size::new(width, height), 0.0, 0.0, imgproc::INTER_LINEAR)?;
    Ok(dst)
}

/// Area-averaging shrink (OpenCV's INTER_AREA: no aliasing when downscaling).
pub fn shrink(src: &Mat, width: i32, height: i32) -> Result<Mat> {
    let mut dst = Mat::default();
    imgproc::resize(src, &mut dst, Size::new(width, height), 0.0, 0.0, imgproc::INTER_AREA)?;
    Ok(dst)
}

/// A copy of `rect` (clipped to the image) as grayscale (ITU-R 601 luma).
pub fn gray_crop(rgb: &Mat, rect: Rect) -> Result<Mat> {
    let bounds = Rect::new(0, 0, rgb.cols(), rgb.rows());
    let clipped = rect & bounds;
    if clipped.width <= 0 || clipped.height <= 0 {
        return Err(InferenceError::Image(format!("crop {rect:?} lies outside the frame")));
    }
    let roi = Mat::roi(rgb, clipped)?;
    let mut gray = Mat::default();
    imgproc::cvt_color(&roi, &mut gray, imgproc::COLOR_RGB2GRAY, 0)?;
    Ok(gray)
}

/// The pixels of a continuous 8-bit Mat.
pub fn bytes(mat: &Mat) -> Result<&[u8]> {
    Ok(mat.data_bytes()?)
}
