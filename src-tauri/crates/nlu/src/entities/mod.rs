//! Rule-based entity and lead-field detectors (owner: entities work in progress).
