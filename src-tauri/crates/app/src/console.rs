//! Console-only queries and actions: what the salesperson and manager screens need beyond the
//! live path (annotations per message, suggestion history, hand-off, strategy versions and
//! test-runs, dashboard aggregates).
