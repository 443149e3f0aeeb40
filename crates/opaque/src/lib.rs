//! OPAQUE (being written).
