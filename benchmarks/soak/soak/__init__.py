"""The Prism soak: fixed-rate load through the gateway with periodic kills (docs/loadtest.md)."""
