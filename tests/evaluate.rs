//! `lpa evaluate` through the real binary.
