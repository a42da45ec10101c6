//! What several benchmarks share: synthetic CelebA-sized JPEGs.

/// Makes CelebA-sized images (178×218): smooth colours plus noise, so that decoding their JPEG
/// does real work. One xorshift stream runs through all the images a maker makes.
pub struct CelebaLikeImages {
    noise: u64,
}

impl Default for CelebaLikeImages {
    /// A maker whose noise stream starts at a fixed state (the same images every run).
    fn default() -> Self {
        CelebaLikeImages {
            noise: 0x2545_f491_4f6c_dd1d,
        }
    }
}

impl CelebaLikeImages {
    /// Image number `i`.
    pub fn image(&mut self, i: usize) -> image::RgbImage {
        image::RgbImage::from_fn(178, 218, |x, y| {
            self.noise ^= self.noise << 13;
            self.noise ^= self.noise >> 7;
            self.noise ^= self.noise << 17;
            let jitter = (self.noise % 32) as u32;
            image::Rgb([
                ((x + 7 * i as u32 + jitter) % 256) as u8,
                ((y + jitter) % 256) as u8,
                ((x + y + jitter) % 256) as u8,
            ])
        })
    }
}
