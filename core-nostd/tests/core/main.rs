//! Integration tests of the core: the conformance corpus, differential tests against
//! etherparse, and the accumulators' invariants.

mod accumulators;
mod conformance;
mod differential;
