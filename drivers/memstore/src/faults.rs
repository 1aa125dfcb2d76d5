//! Fault injection, decided by the caller: explicit switches ([`Fault`], a store that is
//! down) or draws from the caller's own generator ([`FaultRates`]). The store has no
//! randomness of its own, so a seeded caller reproduces every fault.

use silt_core::{RemoteError, RemoteOp};

/// The kind of an operation, to aim a fault at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// HeadObject.
    Head,
    /// GetObject.
    Get,
    /// PutObject.
    Put,
    /// CreateMultipartUpload.
    CreateMultipart,
    /// UploadPart.
    UploadPart,
    /// UploadPartCopy.
    UploadPartCopy,
    /// CompleteMultipartUpload.
    Complete,
    /// AbortMultipartUpload.
    Abort,
    /// ListParts.
    ListParts,
    /// ListObjectsV2.
    List,
    /// DeleteObject.
    Delete,
    /// CopyObject.
    Copy,
}

impl OpKind {
    /// The kind of `op`.
    pub fn of(op: &RemoteOp) -> OpKind {
        match op {
            RemoteOp::Head { .. } => OpKind::Head,
            RemoteOp::Get { .. } => OpKind::Get,
            RemoteOp::Put { .. } => OpKind::Put,
            RemoteOp::CreateMultipart { .. } => OpKind::CreateMultipart,
            RemoteOp::UploadPart { .. } => OpKind::UploadPart,
            RemoteOp::UploadPartCopy { .. } => OpKind::UploadPartCopy,
            RemoteOp::Complete { .. } => OpKind::Complete,
            RemoteOp::Abort { .. } => OpKind::Abort,
            RemoteOp::ListParts { .. } => OpKind::ListParts,
            RemoteOp::List { .. } => OpKind::List,
            RemoteOp::Delete { .. } => OpKind::Delete,
        }
    }

    /// True for operations that change the bucket or an upload.
    pub fn writes(self) -> bool {
        !matches!(
            self,
            OpKind::Head | OpKind::Get | OpKind::ListParts | OpKind::List
        )
    }
}

/// When a fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Before the operation: it is refused and changes nothing (a 503, a refused
    /// connection).
    Before,
    /// After the operation took effect: its answer is lost (a timeout, a reset while the
    /// response was on its way). The caller cannot tell whether it happened.
    After,
}

/// A scripted fault: the next `times` operations that `on` matches fail with `error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The kind of operation struck; `None` strikes any.
    pub on: Option<OpKind>,
    /// Before or after the operation takes effect.
    pub when: When,
    /// The answer instead of the real one.
    pub error: RemoteError,
    /// How many matching operations it strikes.
    pub times: u32,
}

impl Fault {
    /// `times` operations of kind `on` refused with a transient error (a 503).
    pub fn refuse(on: OpKind, times: u32) -> Fault {
        Fault {
            on: Some(on),
            when: When::Before,
            error: RemoteError::Transient("503 SlowDown (injected)".into()),
            times,
        }
    }

    /// `times` operations of kind `on` applied, but answered with a timeout.
    pub fn lose_answer(on: OpKind, times: u32) -> Fault {
        Fault {
            on: Some(on),
            when: When::After,
            error: RemoteError::Transient("timeout (injected; the request was applied)".into()),
            times,
        }
    }

    pub(crate) fn strikes(&self, kind: OpKind, when: When) -> bool {
        self.times > 0 && self.when == when && self.on.is_none_or(|k| k == kind)
    }
}

/// Random faults at rates, drawn from the caller's generator: per operation, a draw below
/// `error_per_mille` refuses it (a 503 SlowDown, nothing happens, no second draw);
/// otherwise it is performed, and a second draw below `timeout_per_mille` loses its answer
/// (a timeout: it may have been applied). The draws depend only on the draws before them,
/// so a seeded generator replays the same faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRates {
    /// Per mille of operations refused before they take effect.
    pub error_per_mille: u32,
    /// Per mille of operations whose answer is lost after they took effect.
    pub timeout_per_mille: u32,
}

impl FaultRates {
    /// The error of a refused operation.
    pub fn refused() -> RemoteError {
        RemoteError::Transient("503 SlowDown".into())
    }

    /// The error of an operation whose answer was lost.
    pub fn timed_out() -> RemoteError {
        RemoteError::Transient("timeout (the request may have been applied)".into())
    }
}
