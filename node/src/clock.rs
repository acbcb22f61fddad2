//! The one place that reads the wall clock. Everything else takes `now` as an argument.

/// Milliseconds since the Unix epoch, now.
#[allow(clippy::disallowed_methods)] // the clock seam itself
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
