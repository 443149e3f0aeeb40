//! Admission gate (being written).
