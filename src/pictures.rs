//! Display pictures: uploads are decoded within `limits` and re-encoded (metadata
//! stripped, square, at most 512 px), and people without one get a generated avatar. No
//! HTTP or SQL here.

pub mod attachment;
pub mod limits;

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer, ImageFormat, Pixel};

use crate::domain::Invalid;

pub use limits::MAX_UPLOAD_BYTES;

pub const MAX_SIDE: u32 = 512;
/// The stored picture must stay below the table's limit (256 KiB).
const MAX_STORED_BYTES: usize = 256 * 1024;

pub struct Encoded {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Decodes an uploaded PNG, JPEG, WebP or GIF within `limits`, crops it to a centred
/// square of at most 512 px and encodes it again: only pixels survive, so EXIF, GPS, XMP
/// and ICC data are gone.
pub fn reencode(upload: &[u8]) -> Result<Encoded, Invalid> {
    let (img, orientation) = limits::decode(upload)?;
    let mut square = centre_square(img).ok_or(Invalid("That picture could not be processed."))?;
    if let Some(o) = orientation {
        // Phone photos store their rotation in EXIF, which is about to be dropped. Turning
        // or flipping the centred square gives the centred square of the turned picture,
        // so this is done on 512 px, not on a copy of the whole picture.
        square.apply_orientation(o);
    }
    encode(square).ok_or(Invalid("That picture could not be processed."))
}

/// The centred square of `img`, scaled down to at most `MAX_SIDE`, with no buffer the
/// size of the picture beside it: the square is cut out in place, averaged down to at
/// most twice the final size (one output pixel per block of input, no intermediate), and
/// only that small image gets the Lanczos filter (whose intermediate holds a float pixel
/// per input column and output row: 64 MiB for an 8192 px wide picture).
///
/// Only `DynamicImage`'s own methods do pixel work here: generic `imageops` functions
/// would be compiled in this crate, without the optimisation the image crate gets in
/// development builds (over 10 s instead of under 1 s for 40 megapixels).
fn centre_square(img: DynamicImage) -> Option<DynamicImage> {
    let target = img.width().min(img.height()).clamp(1, MAX_SIDE);
    let square = crop_square_in_place(img)?;
    let side = square.width();
    let averaged = (2 * target).min(side);
    let small = if averaged == side { square } else { square.thumbnail_exact(averaged, averaged) };
    Some(if averaged == target { small } else { small.resize_exact(target, target, FilterType::Lanczos3) })
}

/// The centred square of `img`, moved to the front of its own buffer row by row (each
/// row lands at or before where it was), so no second buffer is needed.
fn crop_square_in_place(img: DynamicImage) -> Option<DynamicImage> {
    let (width, height) = (img.width(), img.height());
    let side = width.min(height);
    if side == 0 {
        return None;
    }
    if width == height {
        return Some(img);
    }
    let (x, y) = (((width - side) / 2) as usize, ((height - side) / 2) as usize);
    let (width, side_px) = (width as usize, side as usize);
    fn cut<T: Copy>(samples: &mut Vec<T>, channels: usize, width: usize, side: usize, x: usize, y: usize) {
        let (row, square_row) = (width * channels, side * channels);
        for r in 0..side {
            let from = (y + r) * row + x * channels;
            samples.copy_within(from..from + square_row, r * square_row);
        }
        samples.truncate(side * square_row);
    }
    macro_rules! square {
        ($buffer:expr, $variant:path) => {{
            let channels = usize::from(channels_of(&$buffer));
            let mut samples = $buffer.into_raw();
            cut(&mut samples, channels, width, side_px, x, y);
            ImageBuffer::from_raw(side, side, samples).map($variant)
        }};
    }
    match img {
        DynamicImage::ImageLuma8(b) => square!(b, DynamicImage::ImageLuma8),
        DynamicImage::ImageLumaA8(b) => square!(b, DynamicImage::ImageLumaA8),
        DynamicImage::ImageRgb8(b) => square!(b, DynamicImage::ImageRgb8),
        DynamicImage::ImageRgba8(b) => square!(b, DynamicImage::ImageRgba8),
        DynamicImage::ImageLuma16(b) => square!(b, DynamicImage::ImageLuma16),
        DynamicImage::ImageLumaA16(b) => square!(b, DynamicImage::ImageLumaA16),
        DynamicImage::ImageRgb16(b) => square!(b, DynamicImage::ImageRgb16),
        DynamicImage::ImageRgba16(b) => square!(b, DynamicImage::ImageRgba16),
        DynamicImage::ImageRgb32F(b) => square!(b, DynamicImage::ImageRgb32F),
        DynamicImage::ImageRgba32F(b) => square!(b, DynamicImage::ImageRgba32F),
        // Not made by these decoders: a copy, correct if not frugal.
        other => Some(other.crop_imm(x as u32, y as u32, side, side)),
    }
}

fn channels_of<P: Pixel>(_: &ImageBuffer<P, Vec<P::Subpixel>>) -> u8 {
    P::CHANNEL_COUNT
}

/// PNG keeps transparency; photos (or a PNG that would be too big) become JPEG.
fn encode(img: DynamicImage) -> Option<Encoded> {
    if img.color().has_alpha() {
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).ok()?;
        if png.len() <= MAX_STORED_BYTES {
            return Some(Encoded { content_type: "image/png", bytes: png });
        }
    }
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    for quality in [85u8, 70, 50] {
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
        rgb.write_with_encoder(encoder).ok()?;
        if jpeg.len() <= MAX_STORED_BYTES {
            return Some(Encoded { content_type: "image/jpeg", bytes: jpeg });
        }
    }
    None
}

/// A generated avatar: the first letter of the name on a colour derived from the user id.
pub fn default_avatar_svg(user_id: &crate::models::UserId, username: &str) -> String {
    let hue = u32::from(user_id.as_uuid().as_bytes()[15]) * 360 / 256;
    // Usernames are a-z 0-9 _ . - only, so the letter needs no escaping.
    let letter = username.chars().next().unwrap_or('?').to_ascii_uppercase();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" width=\"64\" height=\"64\">\
         <rect width=\"64\" height=\"64\" fill=\"hsl({hue},55%,38%)\"/>\
         <text x=\"32\" y=\"32\" dy=\".35em\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" \
         font-size=\"30\" font-weight=\"600\" fill=\"#fff\">{letter}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = DynamicImage::new_rgb8(width, height);
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap_or_default();
        out
    }

    #[test]
    fn a_picture_becomes_a_square_of_at_most_512_px() {
        let encoded = reencode(&png(1200, 700)).map_err(|e| e.0);
        let encoded = encoded.as_ref().map(|e| image::load_from_memory(&e.bytes).map(|i| (i.width(), i.height())));
        assert!(matches!(encoded, Ok(Ok((512, 512)))), "{encoded:?}");
    }

    #[test]
    fn a_small_picture_keeps_its_size_but_is_cropped_square() {
        let encoded = reencode(&png(100, 60)).map(|e| image::load_from_memory(&e.bytes).map(|i| (i.width(), i.height())));
        assert!(matches!(encoded, Ok(Ok((60, 60)))));
    }

    #[test]
    fn the_centred_square_is_cut_out_in_place() {
        // Each pixel holds its own coordinates.
        let landscape = image::RgbImage::from_fn(7, 3, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let square = crop_square_in_place(DynamicImage::ImageRgb8(landscape)).map(|s| s.to_rgb8());
        let expected = image::RgbImage::from_fn(3, 3, |x, y| image::Rgb([x as u8 + 2, y as u8, 9]));
        assert_eq!(square, Some(expected));
        let portrait = image::ImageBuffer::from_fn(2, 5, |x, y| image::LumaA([x as u16 * 100 + y as u16, 7u16]));
        let square = crop_square_in_place(DynamicImage::ImageLumaA16(portrait)).map(|s| s.into_luma_alpha16());
        let expected = image::ImageBuffer::from_fn(2, 2, |x, y| image::LumaA([x as u16 * 100 + y as u16 + 1, 7u16]));
        assert_eq!(square, Some(expected));
    }

    #[test]
    fn text_is_not_a_picture() {
        assert!(reencode(b"hello, I am not an image").is_err());
        assert!(reencode(b"").is_err());
    }
}
