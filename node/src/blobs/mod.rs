//! Content-addressed bundles over iroh: publish, fetch from any provider with verified
//! streaming, keep on disk.

mod bundle;
mod store;

pub use bundle::{Bundle, BundleError};
pub use iroh::RelayUrl;
pub use store::{BlobError, BlobStore};
