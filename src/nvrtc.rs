//! The crate's own CUDA kernels: CUDA C sources compiled at run time by NVRTC (part of candle's
//! CUDA backend, so a `cuda` build needs nothing more than candle does), once per process and
//! source, and loaded once per device.
//!
//! Every module compiles without fused multiply-add contraction, with IEEE division and square
//! root and without flushing denormals, so a kernel written in the operation order of its CPU
//! twin gives the CPU's values bit for bit (the GPU tests check that). Only a `cuda` build has
//! this module.

use std::sync::OnceLock;

use candle_core::cuda_backend::cudarc::driver::{CudaFunction, LaunchConfig};
use candle_core::cuda_backend::cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use candle_core::CudaDevice;

/// One CUDA C source, compiled on first use.
pub(crate) struct Module {
    name: &'static str,
    src: &'static str,
    ptx: OnceLock<std::result::Result<String, String>>,
}

impl Module {
    /// A module called `name` (the name candle caches it under on each device) from `src`.
    pub(crate) const fn new(name: &'static str, src: &'static str) -> Self {
        Module {
            name,
            src,
            ptx: OnceLock::new(),
        }
    }

    /// The PTX, compiled on the first call; a compile error carries NVRTC's message.
    pub(crate) fn ptx(&self) -> candle_core::Result<&str> {
        self.ptx
            .get_or_init(|| {
                let opts = CompileOptions {
                    fmad: Some(false),
                    prec_div: Some(true),
                    prec_sqrt: Some(true),
                    ftz: Some(false),
                    name: Some(format!("{}.cu", self.name)),
                    ..Default::default()
                };
                compile_ptx_with_opts(self.src, opts)
                    .map(|p| p.to_src())
                    .map_err(|e| format!("NVRTC could not compile {}: {e:?}", self.name))
            })
            .as_ref()
            .map(String::as_str)
            .map_err(|e| candle_core::Error::Msg(e.clone()))
    }

    /// Kernel `function`, loaded on `dev` (once per device). Launch it on the device's stream:
    /// `dev.cuda_stream().launch_builder(&f)`, the arguments in the kernel's order, `launch`.
    pub(crate) fn function(
        &self,
        dev: &CudaDevice,
        function: &str,
    ) -> candle_core::Result<CudaFunction> {
        Ok(dev
            .get_or_load_custom_func(function, self.name, self.ptx()?)?
            .into_cuda_function())
    }
}

/// A launch over `n` elements for grid-stride loops: 256 threads per block, at most 65,535
/// blocks (each thread then takes several elements).
pub(crate) fn elementwise_config(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, 65_535) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}
