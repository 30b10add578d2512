//! Customer ingress.
