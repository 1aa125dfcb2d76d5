//! S3 responses classified the way the core acts on them. The error type itself is
//! silt-remote's, re-exported here.

pub use silt_remote::{ErrorKind, RemoteError, Result};

/// Classifies a response by status and error code (S3's `<Code>`).
pub(crate) fn classify(status: Option<u16>, code: Option<&str>) -> ErrorKind {
    match (status, code) {
        (_, Some("PreconditionFailed")) | (Some(412), _) => ErrorKind::PreconditionFailed,
        (_, Some("NoSuchUpload")) => ErrorKind::NoSuchUpload,
        (_, Some("NoSuchBucket")) => ErrorKind::Permanent,
        (_, Some("NoSuchKey" | "NotFound")) | (Some(404), None) => ErrorKind::NotFound,
        (
            _,
            Some(
                "SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout"
                | "InternalError" | "ServiceUnavailable" | "RequestTimeTooSkewed"
                // AWS: a conditional write raced another one; retry.
                | "ConditionalRequestConflict",
            ),
        ) => ErrorKind::Transient,
        (Some(s), _) if s >= 500 || s == 429 || s == 409 => ErrorKind::Transient,
        (Some(404), Some(_)) => ErrorKind::NotFound,
        _ => ErrorKind::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_status_and_code() {
        assert_eq!(classify(Some(412), None), ErrorKind::PreconditionFailed);
        assert_eq!(classify(Some(503), Some("SlowDown")), ErrorKind::Transient);
        assert_eq!(classify(Some(500), None), ErrorKind::Transient);
        assert_eq!(classify(Some(429), None), ErrorKind::Transient);
        assert_eq!(classify(Some(404), Some("NoSuchKey")), ErrorKind::NotFound);
        assert_eq!(classify(Some(404), None), ErrorKind::NotFound);
        assert_eq!(
            classify(Some(404), Some("NoSuchUpload")),
            ErrorKind::NoSuchUpload
        );
        assert_eq!(
            classify(Some(404), Some("NoSuchBucket")),
            ErrorKind::Permanent
        );
        assert_eq!(
            classify(Some(403), Some("AccessDenied")),
            ErrorKind::Permanent
        );
        assert_eq!(
            classify(Some(400), Some("InvalidRequest")),
            ErrorKind::Permanent
        );
        assert_eq!(classify(None, None), ErrorKind::Permanent);
    }
}
