//! `homogen embed`: features of texts or images from a backbone (DESIGN.md §4).

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use homogen::models::embed::{embed, EmbedInput, EmbedOptions};
use homogen::{device, error::InputError};

/// Arguments of `homogen embed`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["texts", "images", "pixels"])))]
pub struct EmbedArgs {
    /// A model folder (config.json, model.safetensors, tokenizer.json), a Hub id, or a model
    /// card's name (roberta-base, clip-vit-base-patch16, bert-base-uncased: pinned commits).
    #[arg(long)]
    pub model: String,
    /// Hub revision (branch, tag or commit); when absent, a model card's pinned commit, else
    /// `main`.
    #[arg(long)]
    pub revision: Option<String>,
    /// A text file, one text per line.
    #[arg(long)]
    pub texts: Option<PathBuf>,
    /// A folder of images (png/jpg), embedded in file-name order.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// A safetensors file with `pixel_values` [n, 3, 224, 224], already preprocessed.
    #[arg(long)]
    pub pixels: Option<PathBuf>,
    /// Output safetensors file; holds `features` [n, hidden].
    #[arg(long)]
    pub out: PathBuf,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Inputs per forward pass (on the CPU, one batch per thread runs at once).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// `f32` or `bf16`.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Allow loading pytorch_model.bin (a pickle; only for trusted models).
    #[arg(long)]
    pub allow_pickle: bool,
}

/// Parses the options and embeds.
pub fn run(args: EmbedArgs, quiet: bool) -> anyhow::Result<()> {
    let input = match (args.texts, args.images, args.pixels) {
        (Some(t), None, None) => EmbedInput::Texts(t),
        (None, Some(i), None) => EmbedInput::Images(i),
        (None, None, Some(p)) => EmbedInput::Pixels(p),
        _ => return Err(InputError::new("give exactly one of --texts, --images, --pixels").into()),
    };
    let opts = EmbedOptions {
        model: args.model,
        revision: args.revision,
        allow_pickle: args.allow_pickle,
        input,
        out: args.out.clone(),
        device: device::parse_device(&args.device)?,
        dtype: device::parse_dtype(&args.dtype)?,
        batch_size: args.batch_size,
        quiet,
    };
    let (n, hidden) = embed(&opts)?;
    if !quiet {
        eprintln!("wrote features [{n}, {hidden}] to {}", args.out.display());
    }
    Ok(())
}
