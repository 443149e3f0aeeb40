//! Secret outputs of a login or registration, zeroized on drop and redacted in `Debug`.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::suite::{EXPORT_KEY_LEN, SESSION_KEY_LEN};

macro_rules! secret_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $len]);

        impl $name {
            pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }

            /// The key bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl PartialEq for $name {
            /// Constant time.
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl Eq for $name {}

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_bytes!(
    /// The 64-byte session key both sides derive from a successful login (RFC 9807 `session_key`).
    SessionKey,
    SESSION_KEY_LEN
);

secret_bytes!(
    /// The 64-byte export key (RFC 9807 `export_key`): known to the client only, the same at
    /// registration and at every login with the same password. permesi does not use it yet.
    ExportKey,
    EXPORT_KEY_LEN
);
