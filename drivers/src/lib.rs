//! lpa-drivers
