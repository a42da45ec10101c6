//! Our backward passes against PyTorch's autograd: the gradient of the mean cross-entropy with
//! respect to every parameter of the tiny RoBERTa (its checkpoint's mlp head), BERT (a linear
//! head) and CLIP vision tower (a linear head), dropout off, compared with the float64 gradients
//! that `scripts/make_training_fixtures.py` committed (tests/fixtures/models/gradients.safetensors).
//! Part of the `models_grad` test binary, which the GPU check (scripts/gpu_check.sh) runs too.
//!
//! Each case runs twice on the CPU: in f32, through the CPU's fused custom ops (dense layers,
//! attention, layer norm, GELU); and in f64, through the tensor-op graph the GPU takes (matmuls
//! with the frozen-weight op, candle's layer norm with our attached backward, composed
//! attention). BitFit and probing must give the same gradients to the parameters they train as
//! finetuning does (the frozen-linear op drops only the weight gradient), and none to the
//! others. `HOMOGEN_TEST_DEVICE=cuda:0` runs the f32 cases on a GPU.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{DType, Tensor};
use homogen::device::Precision;
use homogen::models::encoder::EncoderInput;
use homogen::models::heads::HeadKind;
use homogen::models::hub::from_folder;
use homogen::models::{Batch, HeadSpec, Model, Selection};

use crate::common::{
    assert_loss_and_gradients_match, device, set_linear_head, GradTolerance, LINEAR_3,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

/// The committed references, read once per test binary.
fn reference() -> &'static HashMap<String, Tensor> {
    static REFS: OnceLock<HashMap<String, Tensor>> = OnceLock::new();
    REFS.get_or_init(|| {
        candle_core::safetensors::load(
            fixtures().join("gradients.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap()
    })
}

/// One case of the references: a model loaded in `precision` with its head set to the
/// fixture's, and its input.
struct Case {
    name: &'static str,
    model: Model,
    batch: Batch,
}

fn on_device(t: &Tensor) -> Tensor {
    t.to_device(&device()).unwrap()
}

fn ids(t: &Tensor) -> Tensor {
    on_device(&t.to_dtype(DType::U32).unwrap())
}

fn load(folder: &str, head: HeadSpec, precision: Precision) -> Model {
    let files = from_folder(&fixtures().join(folder), false, None).unwrap();
    Model::load(&files, Some(head), &device(), precision, 0)
        .unwrap()
        .0
}

fn case(name: &'static str, precision: Precision) -> Case {
    let refs = reference();
    let input = |k: &str| &refs[&format!("{name}.input.{k}")];
    let (model, batch) = match name {
        "roberta_mlp" => {
            let head = HeadSpec {
                kind: HeadKind::Mlp,
                classes: 2,
            };
            let batch = Batch::Text(EncoderInput {
                input_ids: ids(input("input_ids")),
                attention_mask: ids(input("attention_mask")),
                token_type_ids: None,
            });
            (load("roberta", head, precision), batch)
        }
        "bert_linear" => {
            let batch = Batch::Text(EncoderInput {
                input_ids: ids(input("input_ids")),
                attention_mask: ids(input("attention_mask")),
                token_type_ids: Some(ids(input("token_type_ids"))),
            });
            let model = load("bert", LINEAR_3, precision);
            set_linear_head(&model, refs, name);
            (model, batch)
        }
        "clip_linear" => {
            let pixels = input("pixel_values").to_dtype(precision.compute).unwrap();
            let batch = Batch::Pixels(on_device(&pixels));
            let model = load("clip", LINEAR_3, precision);
            set_linear_head(&model, refs, name);
            (model, batch)
        }
        other => panic!("no case {other}"),
    };
    Case { name, model, batch }
}

/// f32 through the fused CPU ops, and f64 through the tensor-op graph (which normalises layers
/// in f32, as it does for bf16), on the CPU; looser on a GPU, whose kernels sum in other orders.
/// bf16 mixed precision (dense layers' products and activations with 8 bits of mantissa) only
/// within a few percent of the largest gradient: enough to catch a gradient lost, doubled or
/// taken from the wrong tensor, not rounding. Measured worst: 1.6e-2 (RoBERTa), 1.1e-2 (BERT),
/// 4.6e-3 (CLIP); PyTorch's CPU autocast on the same RoBERTa and BERT: 1.0e-2 and 6.6e-3. With
/// the residual stream in bf16 (before autocast's scheme was adopted): 4.1e-2, 3.4e-2, 6e-3.
fn tolerance(precision: Precision) -> GradTolerance {
    let (of_scale, of_value) = if precision.compute == DType::BF16 {
        (3e-2, 3e-2)
    } else if device().is_cpu() {
        (2e-6, 2e-5)
    } else {
        (1e-4, 1e-3)
    };
    GradTolerance {
        loss: of_value,
        of_scale,
        of_value,
    }
}

fn check_selections(name: &'static str, precision: impl Into<Precision>, selections: &[Selection]) {
    let precision = precision.into();
    for &selection in selections {
        let c = case(name, precision);
        let what = format!("{name} {:?} {selection:?}", precision.compute);
        let tol = tolerance(precision);
        let refs = reference();
        let worst = assert_loss_and_gradients_match(
            &what, &c.model, &c.batch, refs, c.name, selection, &tol,
        );
        eprintln!("{what}: worst |diff| / scale = {worst:.2e}");
    }
}

const ALL: [Selection; 3] = [Selection::All, Selection::BitFit, Selection::Head];

#[test]
fn roberta_gradients_match_pytorch_in_f32() {
    check_selections("roberta_mlp", DType::F32, &ALL);
}

#[test]
fn bert_gradients_match_pytorch_in_f32() {
    check_selections("bert_linear", DType::F32, &ALL);
}

#[test]
fn clip_gradients_match_pytorch_in_f32() {
    check_selections("clip_linear", DType::F32, &ALL);
}

/// f64 runs the tensor-op graph a GPU trains through, on the CPU (the CPU's fused ops take f32
/// only). Probing is left out: its frozen backbone takes candle's inference kernels, whose CPU
/// layer norm has no f64 (the f32 cases check the probe's gradients).
#[test]
fn gradients_through_the_tensor_op_graph_match_pytorch_in_f64() {
    if !device().is_cpu() {
        return; // f64 on a GPU takes the same graph; the f32 cases cover the GPU's kernels
    }
    for name in ["roberta_mlp", "bert_linear", "clip_linear"] {
        check_selections(name, DType::F64, &[Selection::All, Selection::BitFit]);
    }
}

/// Mixed precision (f32 masters, bf16 compute: what `--dtype bf16` trains with) on every case.
#[test]
fn mixed_bf16_gradients_stay_near_pytorch() {
    for name in ["roberta_mlp", "bert_linear", "clip_linear"] {
        check_selections(name, Precision::training(DType::BF16), &ALL);
    }
}
