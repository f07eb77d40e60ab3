//! Verification (placeholder until written).
