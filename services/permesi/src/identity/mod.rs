//! Accounts' identifying data, kept out of reach of a database dump: emails are normalised,
//! stored encrypted through the key backend's `Cipher`, and found through a keyed blind index.

pub mod email;
