//! Where the trainer computes (`--device cpu|wgpu`): burn's flex backend on the CPU by default,
//! burn's wgpu backend on a GPU (or, without one, on a software Vulkan such as Mesa lavapipe).

use anyhow::Result;
use burn::tensor::Device;

/// The device a `tans` command trains and evaluates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compute {
    /// burn flex, on every core.
    #[default]
    Cpu,
    /// burn wgpu: the most capable adapter wgpu finds (a GPU, else a CPU Vulkan driver).
    Wgpu,
}

impl Compute {
    /// The burn device; for wgpu, the one initialised on first use and shared afterwards.
    pub fn device(self) -> Result<Device> {
        Ok(match self {
            Self::Cpu => Device::flex(),
            Self::Wgpu => wgpu::device()?.0,
        })
    }

    /// What runs the computation, for logs and provenance (the wgpu adapter's name).
    pub fn describe(self) -> Result<String> {
        Ok(match self {
            Self::Cpu => "cpu (burn flex)".into(),
            Self::Wgpu => format!("wgpu ({})", wgpu::device()?.1),
        })
    }
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use std::sync::OnceLock;

    use anyhow::{Result, anyhow};
    use burn::tensor::{Device, DeviceKind};

    /// The wgpu device and its adapter's description, initialised once per process.
    pub fn device() -> Result<(Device, String)> {
        static DEVICE: OnceLock<Result<(Device, String), String>> = OnceLock::new();
        DEVICE
            .get_or_init(|| {
                // The default selector prefers a high-power GPU; a machine with only a CPU
                // Vulkan driver (lavapipe) is served by asking for that adapter kind.
                let init = |kind| {
                    Device::wgpu_options()
                        .device_kind(kind)
                        .init_with_setup()
                        .map(|(device, setup)| {
                            let info = setup.adapter.get_info();
                            let name = format!(
                                "{}, {:?}, {:?}",
                                info.name, info.device_type, info.backend
                            );
                            (device, name)
                        })
                };
                init(DeviceKind::DefaultDevice).or_else(|first| {
                    init(DeviceKind::Cpu)
                        .map_err(|second| format!("{first}; and as a CPU adapter: {second}"))
                })
            })
            .clone()
            .map_err(|why| {
                anyhow!(
                    "--device wgpu: no wgpu adapter ({why}). A GPU driver, or Mesa's software \
                     Vulkan (`apt-get install mesa-vulkan-drivers`), provides one"
                )
            })
    }
}

#[cfg(not(feature = "wgpu"))]
mod wgpu {
    use anyhow::{Result, bail};
    use burn::tensor::Device;

    pub fn device() -> Result<(Device, String)> {
        bail!("--device wgpu: this `tans` was built without the `wgpu` feature")
    }
}
