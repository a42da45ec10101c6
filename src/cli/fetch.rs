//! `homogen fetch dataset NAME` / `homogen fetch model ID`: download into the Hugging Face cache.

use clap::{Args, Subcommand};
use homogen::data::hub;

/// Arguments of `homogen fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(subcommand)]
    pub what: FetchWhat,
}

/// What to fetch.
#[derive(Debug, Subcommand)]
pub enum FetchWhat {
    /// A dataset's data files: celeba, imdb, ag_news, yahoo_answers_topics, hate_speech18.
    Dataset {
        /// The dataset's name (or its Hub id).
        name: String,
        /// Revision (branch, tag or commit); default: the pinned one, else `main`.
        #[arg(long)]
        revision: Option<String>,
    },
    /// A model's config, tokenizer and weights.
    Model {
        /// The Hub model id (e.g. roberta-base).
        id: String,
        /// Revision (branch, tag or commit); default `main`.
        #[arg(long)]
        revision: Option<String>,
    },
}

/// Downloads and prints where the files are.
pub fn run(args: FetchArgs, quiet: bool) -> anyhow::Result<()> {
    let fetched = match &args.what {
        FetchWhat::Dataset { name, revision } => {
            hub::fetch_dataset(name, revision.as_deref(), !quiet)?
        }
        FetchWhat::Model { id, revision } => hub::fetch_model(id, revision.as_deref(), !quiet)?,
    };
    if let Some(commit) = &fetched.commit {
        println!("commit {commit} ({} files)", fetched.files.len());
    }
    println!("{}", fetched.snapshot.display());
    Ok(())
}
