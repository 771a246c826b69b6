module example.com/slipway-e2e/daggermod

go 1.25.0
