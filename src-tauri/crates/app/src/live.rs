//! Live customer channels: the chat widget, the inbound webhook, the simulator and call sessions,
//! wired into the one ingest path.
