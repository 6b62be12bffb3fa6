//! Python bindings for trae (in progress).
