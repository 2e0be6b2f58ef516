//! The bounds of every picture the server decodes, in one place: display pictures now,
//! attachments (issue 15) with the same numbers. SECURITY.md ("Uploads and image
//! bombs"), README and docs/http.md quote them, and so do the messages (checked below).
//!
//! A picture is judged by its header before a single pixel is decoded: its sides, its
//! pixel count, and the memory its decoder will hold (the pixels it returns plus its own
//! buffers, estimated per format). Only then is it decoded, with the same limits handed
//! to the decoder, which refuses anything past them itself.

use std::time::Duration;

use image::error::{LimitError, LimitErrorKind};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::config::Limit;
use crate::domain::Invalid;

/// The largest upload (the `picture` field; `routes::settings` checks its limit is this).
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// The largest multipart body: the upload, its token part and the boundaries.
pub const MAX_BODY_BYTES: usize = MAX_UPLOAD_BYTES + 64 * 1024;
/// At most this many pixels a side ...
pub const MAX_SIDE_PX: u32 = 8192;
/// ... and this many in all (40 megapixels).
pub const MAX_PIXELS: u64 = 40_000_000;
/// The memory one decode may hold: the decoded pixels and the decoder's own buffers.
/// An 8-bit RGB picture of 40 megapixels (120 MB) fits; transparency, 16-bit colour,
/// a progressive JPEG or WebP need more a pixel, so they must be smaller.
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;

/// Pictures decoded at once per instance (`cpu::run_picture`): with `MAX_DECODE_BYTES`
/// each, this bounds the memory all picture work takes.
pub const DECODERS: usize = 1;
/// Uploads waiting for a decoder at most; more are refused at once (503). Each waiting
/// upload holds its body (up to `MAX_BODY_BYTES`).
pub const QUEUE: usize = 4;
/// The longest an upload waits for a decoder before it is refused (503).
pub const QUEUE_WAIT: Duration = Duration::from_secs(3);
/// Uploads a person may send (each attempt counts, refused or not), in PostgreSQL, so it
/// holds across instances; then 429.
pub const UPLOADS_PER_PERSON: Limit = Limit { limit: 6, window: Duration::from_secs(60) };

/// Refused for its dimensions (sides or pixel count).
pub const TOO_LARGE: &str = "That picture is too large: at most 8192 px a side and 40 megapixels.";
/// Within the dimensions, but its decoder would need more than `MAX_DECODE_BYTES`.
pub const TOO_MUCH_MEMORY: &str = "That picture is too large to process. A progressive JPEG, a WebP or a picture with \
                                   transparency or 16-bit colour must be smaller than 40 megapixels.";
const UNREADABLE: &str = "That file could not be read.";
const DAMAGED: &str = "That picture is damaged or could not be decoded.";

/// What the PNG decoder may allocate for itself while it reads the header and the rows
/// (chunks, an ICC profile it inflates, row buffers), apart from the pixels: an iCCP
/// chunk of a few MB could otherwise inflate to all of `MAX_DECODE_BYTES` before a
/// single pixel is decoded.
const PNG_OWN_BYTES: u64 = 8 * 1024 * 1024;
const _: () = assert!(MAX_PIXELS * 3 + PNG_OWN_BYTES <= MAX_DECODE_BYTES, "an 8-bit RGB picture at the pixel bound must fit");

/// The limits handed to the decoder: its dimensions and the memory it may allocate.
fn decoder_limits(max_alloc: u64) -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PX);
    limits.max_image_height = Some(MAX_SIDE_PX);
    limits.max_alloc = Some(max_alloc);
    limits
}

/// Decodes an uploaded PNG, JPEG, WebP or GIF (sniffed from its bytes, never from the
/// client's content type) within the bounds above, checked from its header first. Also
/// returns the orientation its metadata asks for (phone photos), which is about to be
/// dropped with the rest of the metadata.
pub fn decode(upload: &[u8]) -> Result<(DynamicImage, Option<Orientation>), Invalid> {
    if upload.is_empty() {
        return Err(Invalid("Choose a picture to upload."));
    }
    let mut reader = ImageReader::new(std::io::Cursor::new(upload)).with_guessed_format().map_err(|_| Invalid(UNREADABLE))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif)) => f,
        _ => return Err(Invalid("Upload a PNG, JPEG, WebP or GIF picture.")),
    };
    // The PNG decoder takes its own allocation limit here, once; the others later.
    reader.limits(decoder_limits(if format == ImageFormat::Png { PNG_OWN_BYTES } else { MAX_DECODE_BYTES }));
    // Reads the header only; refuses sides over MAX_SIDE_PX already.
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if !within_dimensions(width, height) {
        return Err(Invalid(TOO_LARGE));
    }
    let pixels = decoder.total_bytes();
    if pixels.saturating_add(working_bytes(format, upload, width, height)) > MAX_DECODE_BYTES {
        return Err(Invalid(TOO_MUCH_MEMORY));
    }
    // As `ImageReader::decode` does (`into_decoder` does not): the pixels are reserved,
    // and the decoder gets what is left for its own allocations (a GIF frame that does
    // not fill its screen).
    let mut limits = decoder_limits(MAX_DECODE_BYTES);
    limits.reserve(pixels).map_err(|_| Invalid(TOO_MUCH_MEMORY))?;
    decoder.set_limits(limits).map_err(refusal)?;
    let orientation = decoder.orientation().ok();
    let img = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    Ok((img, orientation))
}

/// At most `MAX_SIDE_PX` a side and `MAX_PIXELS` in all.
pub fn within_dimensions(width: u32, height: u32) -> bool {
    width <= MAX_SIDE_PX && height <= MAX_SIDE_PX && u64::from(width) * u64::from(height) <= MAX_PIXELS
}

/// A decoder's refusal, told apart by its kind (never its text).
fn refusal(e: ImageError) -> Invalid {
    match e {
        ImageError::Limits(e) if is_dimension_error(&e) => Invalid(TOO_LARGE),
        ImageError::Limits(_) => Invalid(TOO_MUCH_MEMORY),
        ImageError::IoError(_) => Invalid(UNREADABLE),
        _ => Invalid(DAMAGED),
    }
}

fn is_dimension_error(e: &LimitError) -> bool {
    matches!(e.kind(), LimitErrorKind::DimensionError)
}

/// What a decoder holds beyond the pixels it returns, from the header: the PNG decoder
/// the limit it is given; the others what they allocate without counting it against
/// `max_alloc`.
fn working_bytes(format: ImageFormat, upload: &[u8], width: u32, height: u32) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    match format {
        ImageFormat::Png => PNG_OWN_BYTES,
        // Only a frame smaller than the picture takes a buffer, from what the limits
        // leave beside the pixels.
        ImageFormat::Gif => 0,
        // zune-jpeg keeps every coefficient of a progressive JPEG until its last scan; a
        // baseline one is decoded a row of blocks at a time. Unreadable: the worst case,
        // four components of 2 bytes.
        ImageFormat::Jpeg => jpeg_coefficient_bytes(upload).unwrap_or(pixels * 8),
        _ => webp_working_bytes(upload, pixels),
    }
}

/// WebP (image-webp): a lossy picture is decoded into YUV planes (1.5 bytes a pixel), a
/// lossless one into RGBA (4); an extended one may add a lossless alpha plane decoded as
/// RGBA, or an animation's canvas and frame (8 at most).
fn webp_working_bytes(upload: &[u8], pixels: u64) -> u64 {
    match upload.get(12..16) {
        Some(b"VP8 ") => pixels * 2,
        Some(b"VP8L") => pixels * 4,
        _ => pixels * 8,
    }
}

/// The bytes of DCT coefficients zune-jpeg allocates for a progressive JPEG (one `i16`
/// per coefficient, per component, padded to whole MCUs), read from its frame header;
/// 0 for a baseline JPEG. `None` when there is no readable frame header.
fn jpeg_coefficient_bytes(jpeg: &[u8]) -> Option<u64> {
    let (marker, frame) = jpeg_frame_header(jpeg)?;
    // SOF2, SOF6, SOF10, SOF14: progressive.
    if !matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE) {
        return Some(0);
    }
    let height = u64::from(u16::from_be_bytes([*frame.get(1)?, *frame.get(2)?]));
    let width = u64::from(u16::from_be_bytes([*frame.get(3)?, *frame.get(4)?]));
    let count = usize::from(*frame.get(5)?);
    let sampling: Vec<(u64, u64)> = (0..count)
        .map(|i| frame.get(6 + 3 * i + 1).map(|hv| (u64::from(hv >> 4).max(1), u64::from(hv & 0x0F).max(1))))
        .collect::<Option<_>>()?;
    let h_max = sampling.iter().map(|s| s.0).max()?;
    let v_max = sampling.iter().map(|s| s.1).max()?;
    let mcus = width.div_ceil(8 * h_max) * height.div_ceil(8 * v_max);
    Some(sampling.iter().map(|(h, v)| mcus * 64 * h * v * 2).sum())
}

/// The first frame header (SOFn) of a JPEG: its marker and its segment after the length.
fn jpeg_frame_header(jpeg: &[u8]) -> Option<(u8, &[u8])> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        if *jpeg.get(at)? != 0xFF {
            return None;
        }
        // Fill bytes: any number of 0xFF before the marker.
        while *jpeg.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = *jpeg.get(at + 1)?;
        match marker {
            // Markers without a segment.
            0x01 | 0xD0..=0xD8 => at += 2,
            // The image ended or its scans began before any frame header.
            0xD9 | 0xDA => return None,
            _ => {
                let length = usize::from(u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]));
                let segment = jpeg.get(at + 4..at + 2 + length)?;
                // SOF0-SOF15, except DHT (C4), JPG (C8) and DAC (CC).
                if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                    return Some((marker, segment));
                }
                at += 2 + length;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_say_the_bounds() {
        assert!(TOO_LARGE.contains(&format!("{MAX_SIDE_PX} px a side")));
        assert!(TOO_LARGE.contains(&format!("{} megapixels", MAX_PIXELS / 1_000_000)));
        assert!(TOO_MUCH_MEMORY.contains(&format!("{} megapixels", MAX_PIXELS / 1_000_000)));
    }

    #[test]
    fn dimensions_are_bounded_by_side_and_by_pixel_count() {
        assert!(within_dimensions(8192, 4882));
        assert!(within_dimensions(6324, 6324));
        assert!(!within_dimensions(8193, 1));
        assert!(!within_dimensions(1, 8193));
        assert!(!within_dimensions(7999, 7999), "64 megapixels");
        assert!(!within_dimensions(6325, 6325));
    }

    fn jpeg_with_frame(marker: u8, width: u16, height: u16, components: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0xFF, 0xFF, marker];
        let length = 8 + 3 * components.len() as u16;
        jpeg.extend_from_slice(&length.to_be_bytes());
        jpeg.push(8);
        jpeg.extend_from_slice(&height.to_be_bytes());
        jpeg.extend_from_slice(&width.to_be_bytes());
        jpeg.push(components.len() as u8);
        for (i, hv) in components.iter().enumerate() {
            jpeg.extend_from_slice(&[i as u8 + 1, *hv, 0]);
        }
        jpeg.extend_from_slice(&[0xFF, 0xDA]);
        jpeg
    }

    #[test]
    fn a_progressive_jpeg_counts_its_coefficients_and_a_baseline_one_nothing() {
        // 4:2:0: luma 2 bytes a pixel, each chroma plane a quarter of that.
        let progressive = jpeg_with_frame(0xC2, 1600, 1200, &[0x22, 0x11, 0x11]);
        assert_eq!(jpeg_coefficient_bytes(&progressive), Some(1600 * 1200 * 2 * 3 / 2));
        // 4:4:4 with a width that is not a whole number of blocks: padded.
        let padded = jpeg_with_frame(0xC2, 10, 8, &[0x11, 0x11, 0x11]);
        assert_eq!(jpeg_coefficient_bytes(&padded), Some(16 * 8 * 2 * 3));
        let baseline = jpeg_with_frame(0xC0, 1600, 1200, &[0x22, 0x11, 0x11]);
        assert_eq!(jpeg_coefficient_bytes(&baseline), Some(0));
    }

    #[test]
    fn a_jpeg_without_a_readable_frame_header_is_not_trusted() {
        assert_eq!(jpeg_coefficient_bytes(b""), None);
        assert_eq!(jpeg_coefficient_bytes(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None, "scans before the frame");
        let cut = jpeg_with_frame(0xC2, 1600, 1200, &[0x22, 0x11, 0x11]);
        assert_eq!(jpeg_coefficient_bytes(&cut[..cut.len() - 6]), None, "cut inside the frame header");
        assert_eq!(working_bytes(ImageFormat::Jpeg, b"\xFF\xD8", 100, 100), 100 * 100 * 8, "assumed the worst");
    }

    #[test]
    fn a_webp_counts_what_its_kind_decodes_into() {
        let webp = |kind: &[u8; 4]| [b"RIFF\0\0\0\0WEBP".as_slice(), kind].concat();
        assert_eq!(webp_working_bytes(&webp(b"VP8 "), 100), 200);
        assert_eq!(webp_working_bytes(&webp(b"VP8L"), 100), 400);
        assert_eq!(webp_working_bytes(&webp(b"VP8X"), 100), 800);
    }
}
