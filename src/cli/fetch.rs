//! `homogen fetch dataset NAME` / `homogen fetch model ID`: download into the Hugging Face cache;
//! `homogen fetch dataset acs --state CA [--root DIR]`: download ACS PUMS person files.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use homogen::data::hub;
use homogen::data::tabular::fetch as acs_fetch;
use homogen::error::Error;

/// Arguments of `homogen fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(subcommand)]
    pub what: FetchWhat,
}

/// What to fetch.
#[derive(Debug, Subcommand)]
pub enum FetchWhat {
    /// A dataset's data files: celeba, imdb, ag_news, yahoo_answers_topics, hate_speech18
    /// (from the Hub), or acs (2018 1-year PUMS person files from the Census Bureau).
    Dataset {
        /// The dataset's name (or its Hub id).
        name: String,
        /// Revision (branch, tag or commit); default: the pinned one, else `main`.
        #[arg(long)]
        revision: Option<String>,
        /// acs only: a state's postal code (e.g. CA, or DC), or `all` (folktables' 51: the 50
        /// states and Puerto Rico, not DC; the paper's population).
        #[arg(long)]
        state: Option<String>,
        /// acs only: folktables' root_dir; files go to ROOT/2018/1-Year/csv_p<st>.zip.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Ignored: Puerto Rico is part of `all` (kept so older commands still run).
        #[arg(long)]
        include_pr: bool,
    },
    /// A model's config, tokenizer and weights.
    Model {
        /// The Hub model id (e.g. FacebookAI/roberta-base), or a shipped model card's name
        /// (roberta-base, clip-vit-base-patch16, bert-base-uncased: the card's pinned commit).
        id: String,
        /// Revision (branch, tag or commit); default: the card's commit, else `main`.
        #[arg(long)]
        revision: Option<String>,
    },
}

/// Downloads and prints where the files are.
pub fn run(args: FetchArgs, quiet: bool) -> anyhow::Result<()> {
    let fetched = match &args.what {
        FetchWhat::Dataset {
            name,
            revision,
            state,
            root,
            include_pr,
        } if name == "acs" => {
            if revision.is_some() {
                return Err(Error::input("--revision is for Hub datasets, not acs").into());
            }
            let state = state.as_deref().ok_or_else(|| {
                Error::input("acs needs --state (a postal code such as CA, or `all`)")
            })?;
            let states = acs_fetch::resolve_states(state, *include_pr)?;
            let root = root.clone().unwrap_or_else(|| PathBuf::from("data/acs"));
            let base = acs_fetch::base_url();
            for file in acs_fetch::fetch_person_files(&root, &states, &base, !quiet)? {
                println!("{}", file.path.display());
            }
            return Ok(());
        }
        FetchWhat::Dataset {
            name,
            revision,
            state,
            root,
            include_pr,
        } => {
            if state.is_some() || root.is_some() || *include_pr {
                return Err(Error::input(format!(
                    "--state, --root and --include-pr are for `acs` only, not `{name}`"
                ))
                .into());
            }
            if let Err(Error::Input(mut e)) = hub::hub_dataset(name) {
                // `acs` is fetched here too (from the Census Bureau, not the Hub).
                e.message += ", or acs (the 2018 ACS PUMS person files)";
                return Err(Error::Input(e).into());
            }
            hub::fetch_dataset(name, revision.as_deref(), !quiet)?
        }
        FetchWhat::Model { id, revision } => {
            if id.trim().is_empty() {
                return Err(Error::from(homogen::error::InputError::new(
                    "empty model id; expected a Hub id (owner/name) or a model card's name",
                ))
                .into());
            }
            let (id, revision) = homogen::models::card::hub_ref(id, revision.as_deref());
            hub::fetch_model(&id, Some(&revision), !quiet)?
        }
    };
    if let Some(commit) = &fetched.commit {
        println!("commit {commit} ({} files)", fetched.files.len());
    }
    println!("{}", fetched.snapshot.display());
    Ok(())
}
