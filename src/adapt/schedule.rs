//! Learning-rate schedules, stepwise, as transformers and torch define them.
//!
//! `step` counts optimiser steps from 0: the learning rate of the first update is
//! `lr(base, 0)`, and the schedule advances once after every optimiser step (transformers'
//! Trainer calls `lr_scheduler.step()` right after `optimizer.step()`). Which is which:
//!
//! | variant | reference |
//! |---|---|
//! | [`Schedule::LinearWithWarmup`] | `transformers.get_linear_schedule_with_warmup` (the Trainer default, `lr_scheduler_type="linear"`) |
//! | [`Schedule::CosineWithWarmup`] | `transformers.get_cosine_schedule_with_warmup` (half a cosine by default) |
//! | [`Schedule::Constant`] | `transformers.get_constant_schedule` / `get_constant_schedule_with_warmup` |
//! | [`Schedule::CosineAnnealing`] | `torch.optim.lr_scheduler.CosineAnnealingLR` stepped after every optimiser step |
//! | [`Schedule::CosineAnnealingEpochs`] | `CosineAnnealingLR(T_max=epochs)` stepped once per epoch (the paper's vision recipe: the rate is constant within an epoch) |
//!
//! The transformers schedules multiply the base rate by a factor and never go below 0 (past the
//! end they stay at 0); torch's cosine annealing is periodic past `t_max`, as in torch.

use std::f64::consts::PI;

/// A learning-rate schedule over optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Linear warmup from 0 over `warmup_steps`, then linear decay to 0 at `total_steps`.
    LinearWithWarmup {
        /// Steps of linear warmup (0: none).
        warmup_steps: u64,
        /// Total optimiser steps of the run.
        total_steps: u64,
    },
    /// Linear warmup, then `0.5 * (1 + cos(pi * num_cycles * 2 * progress))` with progress
    /// going from 0 to 1 between the end of warmup and `total_steps`.
    CosineWithWarmup {
        /// Steps of linear warmup (0: none).
        warmup_steps: u64,
        /// Total optimiser steps of the run.
        total_steps: u64,
        /// Number of cosine waves; transformers' default 0.5 decays from the base rate to 0.
        num_cycles: f64,
    },
    /// The base rate, after an optional linear warmup.
    Constant {
        /// Steps of linear warmup (0: none).
        warmup_steps: u64,
    },
    /// torch's `CosineAnnealingLR`: `eta_min + (base - eta_min) * (1 + cos(pi * step / t_max)) / 2`.
    CosineAnnealing {
        /// Steps of one half-period (torch's `T_max`, counted here in optimiser steps).
        t_max: u64,
        /// Minimum learning rate (torch's default 0).
        eta_min: f64,
    },
    /// torch's `CosineAnnealingLR(T_max=epochs)` with `eta_min = 0`, stepped at the end of
    /// each epoch as the paper's vision code did: every step of epoch `e` (0-based) uses
    /// `base * (1 + cos(pi * e / epochs)) / 2`.
    CosineAnnealingEpochs {
        /// Epochs of the run (torch's `T_max`).
        epochs: u64,
        /// Optimiser steps per epoch.
        steps_per_epoch: u64,
    },
}

impl Schedule {
    /// transformers' cosine schedule with its default half cycle.
    pub fn cosine_with_warmup(warmup_steps: u64, total_steps: u64) -> Self {
        Schedule::CosineWithWarmup {
            warmup_steps,
            total_steps,
            num_cycles: 0.5,
        }
    }

    /// torch's `CosineAnnealingLR(T_max=t_max)` with `eta_min = 0`.
    pub fn cosine_annealing(t_max: u64) -> Self {
        Schedule::CosineAnnealing {
            t_max,
            eta_min: 0.0,
        }
    }

    /// The learning rate of optimiser step `step` (0-based) for a base rate `base_lr`.
    pub fn lr(&self, base_lr: f64, step: u64) -> f64 {
        let s = step as f64;
        let warmup = |w: u64| s / (w.max(1) as f64);
        match *self {
            Schedule::LinearWithWarmup {
                warmup_steps,
                total_steps,
            } => {
                let factor = if step < warmup_steps {
                    warmup(warmup_steps)
                } else {
                    let left = total_steps as f64 - s;
                    let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                    (left / span).max(0.0)
                };
                base_lr * factor
            }
            Schedule::CosineWithWarmup {
                warmup_steps,
                total_steps,
                num_cycles,
            } => {
                let factor = if step < warmup_steps {
                    warmup(warmup_steps)
                } else {
                    let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                    let progress = (s - warmup_steps as f64) / span;
                    (0.5 * (1.0 + (PI * num_cycles * 2.0 * progress).cos())).max(0.0)
                };
                base_lr * factor
            }
            Schedule::Constant { warmup_steps } => {
                if step < warmup_steps {
                    base_lr * warmup(warmup_steps)
                } else {
                    base_lr
                }
            }
            Schedule::CosineAnnealing { t_max, eta_min } => {
                let t_max = t_max.max(1) as f64;
                eta_min + (base_lr - eta_min) * (1.0 + (PI * s / t_max).cos()) / 2.0
            }
            Schedule::CosineAnnealingEpochs {
                epochs,
                steps_per_epoch,
            } => Schedule::cosine_annealing(epochs).lr(base_lr, step / steps_per_epoch.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_warmup_by_hand() {
        // warmup 2 of 6 steps, base 1: 0/2, 1/2, then (6-2)/4, (6-3)/4, (6-4)/4, (6-5)/4, 0, 0.
        let s = Schedule::LinearWithWarmup {
            warmup_steps: 2,
            total_steps: 6,
        };
        let lrs: Vec<f64> = (0..8).map(|k| s.lr(1.0, k)).collect();
        assert_eq!(lrs, vec![0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn cosine_annealing_by_hand() {
        // T_max 4, base 2: 2*(1+cos(k*pi/4))/2 = 1 + cos(k*pi/4): 2, 1.7071, 1, 0.2929, 0.
        let s = Schedule::cosine_annealing(4);
        let want = [2.0, 1.0 + 0.5f64.sqrt(), 1.0, 1.0 - 0.5f64.sqrt(), 0.0];
        for (k, w) in want.iter().enumerate() {
            assert!((s.lr(2.0, k as u64) - w).abs() < 1e-12, "step {k}");
        }
    }

    #[test]
    fn cosine_annealing_per_epoch_by_hand() {
        // 4 epochs of 3 steps, base 2: epoch e's steps all use 1 + cos(e*pi/4).
        let s = Schedule::CosineAnnealingEpochs {
            epochs: 4,
            steps_per_epoch: 3,
        };
        let per_epoch = [2.0, 1.0 + 0.5f64.sqrt(), 1.0, 1.0 - 0.5f64.sqrt()];
        for step in 0..12u64 {
            let w = per_epoch[(step / 3) as usize];
            assert!((s.lr(2.0, step) - w).abs() < 1e-12, "step {step}");
        }
    }
}
