//! The vendored candle-core's backward pass (vendor/README.md): the first gradient reaching a
//! tensor is stored as it is, later ones are added (or subtracted). Each case's gradient is
//! worked out by hand; every stored gradient must be contiguous, as upstream's zero-filled sums
//! were, because the model ops and the fused optimiser kernels read gradients as flat slices.

use candle_core::{Device, Tensor, Var};

fn var(values: &[f32], shape: (usize, usize)) -> Var {
    Var::from_tensor(&Tensor::from_slice(values, shape, &Device::Cpu).unwrap()).unwrap()
}

fn grad_of(grads: &candle_core::backprop::GradStore, v: &Var) -> Tensor {
    let g = grads
        .get(v.as_tensor())
        .expect("no gradient stored")
        .clone();
    assert!(g.is_contiguous(), "stored gradient is not contiguous");
    assert_eq!(g.dims(), v.dims(), "gradient shape");
    g
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2::<f32>().unwrap()
}

/// One use, reached through a transpose: the incoming gradient is a strided view, so the store
/// must copy it into the parameter's layout. d/dx sum(x^T * c) = c^T.
#[test]
fn single_use_through_transpose_is_stored_contiguous() {
    let x = var(&[1., 2., 3., 4., 5., 6.], (2, 3));
    let c = Tensor::from_slice(&[1f32, 10., 100., 1000., 0.5, -2.], (3, 2), &Device::Cpu).unwrap();
    let loss = (x.as_tensor().t().unwrap() * &c)
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(
        rows(&grad_of(&grads, &x)),
        vec![vec![1., 100., 0.5], vec![10., 1000., -2.]]
    );
}

/// Two uses: the second gradient is added to the first. d/dx [sum(x*a) + sum(x*b)] = a + b.
#[test]
fn two_uses_are_summed() {
    let x = var(&[1., -1., 2., 0.], (2, 2));
    let a = Tensor::from_slice(&[1f32, 2., 3., 4.], (2, 2), &Device::Cpu).unwrap();
    let b = Tensor::from_slice(&[0.25f32, -8., 0.5, 16.], (2, 2), &Device::Cpu).unwrap();
    let xt = x.as_tensor();
    let loss =
        ((xt * &a).unwrap().sum_all().unwrap() + (xt * &b).unwrap().sum_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(
        rows(&grad_of(&grads, &x)),
        vec![vec![1.25, -6.], vec![3.5, 20.]]
    );
}

/// Subtraction, first and second use: d/dx [sum(k - x)] = -1 (stored negated), then
/// d/dx [sum(k - x) + 3 sum(x)] = 2 (a later gradient added to the negated one), and
/// d/dx [sum(x) - sum(x*x)] = 1 - 2x (a negated gradient added to a stored one).
#[test]
fn subtraction_negates_first_and_later_gradients() {
    let x = var(&[1., 2., -3., 0.5], (2, 2));
    let k = Tensor::from_slice(&[7f32, 7., 7., 7.], (2, 2), &Device::Cpu).unwrap();
    let xt = x.as_tensor();

    let grads = (&k - xt).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(
        rows(&grad_of(&grads, &x)),
        vec![vec![-1., -1.], vec![-1., -1.]]
    );

    let loss =
        ((&k - xt).unwrap().sum_all().unwrap() + (xt * 3.0).unwrap().sum_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(rows(&grad_of(&grads, &x)), vec![vec![2., 2.], vec![2., 2.]]);

    let loss = (xt.sum_all().unwrap() - (xt * xt).unwrap().sum_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(
        rows(&grad_of(&grads, &x)),
        vec![vec![-1., -3.], vec![7., 0.]]
    );
}

/// A broadcast operand gets its gradient summed over the broadcast dimension; the stored
/// gradient of the broadcast result is a stride-0 view upstream would never have stored.
/// d/db sum((x + b) * w) = column sums of w.
#[test]
fn broadcast_operand_gets_summed_gradient() {
    let x = var(&[1., 2., 3., 4., 5., 6.], (2, 3));
    let b =
        Var::from_tensor(&Tensor::from_slice(&[0f32, 1., 2.], 3, &Device::Cpu).unwrap()).unwrap();
    let w = Tensor::from_slice(&[1f32, 2., 3., 10., 20., 30.], (2, 3), &Device::Cpu).unwrap();
    let loss = (x.as_tensor().broadcast_add(b.as_tensor()).unwrap() * &w)
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let gb = grads.get(b.as_tensor()).unwrap();
    assert!(gb.is_contiguous());
    assert_eq!(gb.to_vec1::<f32>().unwrap(), vec![11., 22., 33.]);
    assert_eq!(
        rows(&grad_of(&grads, &x)),
        vec![vec![1., 2., 3.], vec![10., 20., 30.]]
    );
}

/// A scalar broadcast to a matrix: the gradient of the broadcast's input arrives as a
/// broadcast view of ones and must be stored materialised. d/dx sum(x * s) = s for each entry.
#[test]
fn broadcast_gradient_view_is_materialised() {
    let x = var(&[1., 2., 3., 4.], (2, 2));
    let s = Tensor::new(3f32, &Device::Cpu).unwrap();
    let loss = x.as_tensor().broadcast_mul(&s).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(rows(&grad_of(&grads, &x)), vec![vec![3., 3.], vec![3., 3.]]);
}
