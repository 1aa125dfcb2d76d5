//! The core's events: logged with `tracing` and counted for the status.
//!
//! Every upload attempt that ends gives one line with the key, the bytes (sent, and copied
//! server-side), the attempt and the outcome (`stored`, `retry`, `permanent`, `conflict`).
//! Keys, ETags and error texts are logged; credentials, signatures and URLs never reach
//! these lines (the remote's errors carry none).

use crate::metrics::observe::UploadSummary;
use crate::status::EventCounts;
use silt_core::Event;

/// Logs `event` and counts it (`upload`: what the upload attempt it ends did); returns the
/// reason if the event is fatal.
pub(crate) fn record(
    counts: &mut EventCounts,
    event: Event,
    upload: Option<&UploadSummary>,
) -> Option<String> {
    let u = upload.cloned().unwrap_or_default();
    let bytes = u.sent + u.copied;
    match event {
        Event::Uploaded { key, etag } => {
            counts.uploads_done += 1;
            tracing::info!(
                %key,
                bytes,
                sent = u.sent,
                copied = u.copied,
                attempt = u.attempt.max(1),
                outcome = "stored",
                seconds = u.seconds,
                %etag,
                "upload"
            );
        }
        Event::Invalidated { key, etag } => {
            counts.invalidations += 1;
            tracing::info!(%key, ?etag, "object changed remotely; cache follows the new version");
        }
        Event::Conflict(c) => {
            counts.conflicts += 1;
            tracing::warn!(
                key = %c.original_key,
                bytes,
                attempt = u.attempt.max(1),
                outcome = "conflict",
                conflict_key = %c.conflict_key,
                remote_etag = ?c.remote_etag,
                missing_ranges = c.missing.len(),
                "conflict: the object changed remotely under local edits; local version kept as a conflict copy"
            );
        }
        Event::DeleteSkipped { key } => {
            counts.deletes_skipped += 1;
            tracing::info!(%key, "journaled delete skipped: the object changed since");
        }
        Event::UploadFailed {
            key,
            attempts,
            error,
            permanent,
        } => {
            counts.upload_failures += 1;
            if permanent {
                counts.permanent_failures += 1;
                tracing::error!(
                    %key,
                    bytes,
                    attempt = attempts,
                    outcome = "permanent",
                    %error,
                    "upload failed permanently; retrying slowly, needs attention"
                );
            } else {
                tracing::warn!(
                    %key,
                    bytes,
                    attempt = attempts,
                    outcome = "retry",
                    %error,
                    "upload failed; will retry"
                );
            }
        }
        Event::SpaceExhausted { dirty_bytes } => {
            counts.space_exhausted += 1;
            tracing::warn!(dirty_bytes, "cache full of dirty data: writers get ENOSPC");
        }
        Event::Fatal(reason) => {
            tracing::error!(%reason, "cache cannot go on safely; restart it");
            return Some(reason);
        }
    }
    None
}
