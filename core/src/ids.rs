//! Identifiers. Requests, I/O operations and transactions carry an id so that a driver can
//! report their completion back as an input.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A cached object's entry. Unique for the life of a cache directory (never reused), it
    /// names the entry's cache file, so object keys never become file names.
    EntryId
);
id_type!(
    /// An open file handle, returned by `Open`.
    HandleId
);
id_type!(
    /// A file request from the mount; its reply carries the same id. Chosen by the driver.
    RequestId
);
id_type!(
    /// A local cache-file operation the core ordered.
    IoId
);
id_type!(
    /// A remote (object store) operation the core ordered.
    RemoteId
);
id_type!(
    /// An index transaction the core ordered.
    TxnId
);
id_type!(
    /// An upload-journal record (an upload or a remote delete). Unique for the life of a
    /// cache directory; it is part of the token stored with every uploaded object.
    JournalId
);
