//! Rows computed batch by batch, in any order, written straight to their inputs' rows of one
//! buffer: a pass over n inputs then holds the result once, instead of the batches, their join
//! and the join put back in input order (a feature-cache fill at CelebA scale held five copies
//! of its features; see BENCHMARKS.md, "Peak memory of a fill").

use std::sync::Mutex;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// An [n, width] f32 host buffer filled by [`place`](Self::place) from several threads, read
/// out by [`finish`](Self::finish) once every row has been placed exactly once.
pub struct RowsInInputOrder {
    n: usize,
    filled: Mutex<Filled>,
}

/// The buffer (allocated when the first batch tells the width) and the rows placed so far.
#[derive(Default)]
struct Filled {
    width: usize,
    values: Vec<f32>,
    placed: Vec<bool>,
    count: usize,
}

impl RowsInInputOrder {
    /// A buffer for the inputs of `order`, which must be a permutation of 0..order.len() (the
    /// order the batches will be computed in: checked here, before any work).
    pub fn new(order: &[usize]) -> Result<Self> {
        super::order_positions(order)?;
        Ok(RowsInInputOrder {
            n: order.len(),
            filled: Mutex::new(Filled::default()),
        })
    }

    /// Writes `rows` [inputs.len(), width] (any float dtype, any device) to the rows `inputs`
    /// name. An error for a width unlike the first batch's, an input out of range or one
    /// placed before.
    pub fn place(&self, inputs: &[usize], rows: &Tensor) -> Result<()> {
        let runtime = |e: candle_core::Error| Error::Runtime(e.to_string());
        let (count, width) = rows.dims2().map_err(runtime)?;
        if count != inputs.len() {
            return Err(Error::Runtime(format!(
                "{count} rows computed for a batch of {} inputs",
                inputs.len()
            )));
        }
        let values = rows
            .to_dtype(candle_core::DType::F32)
            .and_then(|r| r.to_device(&Device::Cpu))
            .and_then(|r| r.flatten_all())
            .and_then(|r| r.to_vec1::<f32>())
            .map_err(runtime)?;
        let mut filled = self.filled.lock().unwrap_or_else(|p| p.into_inner());
        if filled.placed.is_empty() {
            filled.width = width;
            filled.values = vec![0.0; self.n * width];
            filled.placed = vec![false; self.n];
        } else if width != filled.width {
            return Err(Error::Runtime(format!(
                "a batch computed {width} values per row, an earlier one {}",
                filled.width
            )));
        }
        for (j, &i) in inputs.iter().enumerate() {
            if i >= self.n || filled.placed[i] {
                return Err(Error::Runtime(format!(
                    "input {i} is out of range (0..{}) or was computed twice",
                    self.n
                )));
            }
            filled.placed[i] = true;
            filled.values[i * width..(i + 1) * width]
                .copy_from_slice(&values[j * width..(j + 1) * width]);
        }
        filled.count += inputs.len();
        Ok(())
    }

    /// The rows [n, width] on the host in input order; an error unless each was placed.
    pub fn finish(self) -> Result<Tensor> {
        let filled = self.filled.into_inner().unwrap_or_else(|p| p.into_inner());
        if filled.count != self.n {
            return Err(Error::Runtime(format!(
                "{} of {} rows were computed",
                filled.count, self.n
            )));
        }
        Tensor::from_vec(filled.values, (self.n, filled.width), &Device::Cpu)
            .map_err(|e| Error::Runtime(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(inputs: &[usize], width: usize) -> Tensor {
        // Row of input i holds i * 10 + column.
        let v: Vec<f32> = inputs
            .iter()
            .flat_map(|&i| (0..width).map(move |c| (i * 10 + c) as f32))
            .collect();
        Tensor::from_vec(v, (inputs.len(), width), &Device::Cpu).unwrap()
    }

    #[test]
    fn batches_in_any_order_land_on_their_inputs_rows() {
        let order = [3, 0, 4, 1, 2];
        let rows = RowsInInputOrder::new(&order).unwrap();
        for chunk in order.chunks(2).rev() {
            rows.place(chunk, &batch(chunk, 3)).unwrap();
        }
        let got: Vec<Vec<f32>> = rows.finish().unwrap().to_vec2().unwrap();
        let want: Vec<Vec<f32>> = (0..5)
            .map(|i| (0..3).map(|c| (i * 10 + c) as f32).collect())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_row_missing_twice_computed_or_of_another_width_is_an_error() {
        assert!(RowsInInputOrder::new(&[0, 0, 1]).is_err());
        let rows = RowsInInputOrder::new(&[0, 1, 2]).unwrap();
        rows.place(&[0], &batch(&[0], 2)).unwrap();
        assert!(rows.place(&[0], &batch(&[0], 2)).is_err());
        assert!(rows.place(&[1], &batch(&[1], 3)).is_err());
        assert!(rows.place(&[5], &batch(&[5], 2)).is_err());
        rows.place(&[1], &batch(&[1], 2)).unwrap();
        let err = rows.finish().unwrap_err().to_string();
        assert!(err.contains("2 of 3 rows"), "{err}");
    }
}
