"""catalog: a small product catalog HTTP API (slipway sample service)."""
