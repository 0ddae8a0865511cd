//! Provider simulator (being written).
