//! TANS — Task-Adaptive Network Search (Jeong et al., NeurIPS 2021): the model code shared by
//! the native trainer and the browser. No file or network I/O here: bytes in, plain data out.
//!
//! - [`networks`]: query encoder, model encoder, performance predictor;
//! - [`loss`]: the meta-contrastive objective;
//! - [`query`] and [`topology`]: validated inputs of the two encoders;
//! - [`retrieval`]: top-K by cosine, constraint filter, predictor re-rank;
//! - [`backbone`]: the frozen EfficientNet-Lite0 image backbone, and [`preprocess`], the one
//!   way images become its input;
//! - [`ofa`]: the zoo's search space (OFA MobileNetV3, scaled down), its elastic supernet, exact
//!   costs and standalone subnets;
//! - [`depthwise`]: the backbone's depthwise convolutions as a channels-last CPU kernel, and
//!   [`depthwise_training`]: the supernets' as NCHW CPU kernels with their own backward pass;
//! - [`norm_training`]: the supernets' batch norm and activation, fused, with their own backward;
//!   [`cpu`]: what those CPU kernels share (threads, AVX2, channels-first or -last layouts);
//! - [`weights`]: deterministic burnpack bytes of any network;
//! - [`zoo`]: the published zoo's manifest and files, checked on load;
//! - [`search`]: the whole pipeline a user runs.

pub mod backbone;
pub mod cpu;
pub mod depthwise;
pub mod depthwise_training;
pub mod error;
pub mod loss;
pub mod networks;
pub mod norm_training;
pub mod ofa;
pub mod preprocess;
pub mod query;
pub mod retrieval;
pub mod search;
pub mod topology;
pub mod weights;
pub mod zoo;

pub use error::{Result, TansError};
pub use networks::{NetworkConfig, QueryEncoderKind, QueryNetworks, TansNetworks};
pub use query::{QueryBatch, QuerySet};
pub use retrieval::{Constraints, Hit, ModelCost};
pub use search::{Retriever, SearchRequest, SearchResult};
pub use topology::Topology;
pub use zoo::{FileRef, ModelCard, ZooIndex, ZooManifest};
