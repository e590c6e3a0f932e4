//! Behaviour tests of the receiver runtime.
