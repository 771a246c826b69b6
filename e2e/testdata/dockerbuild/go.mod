module example.com/slipway-e2e/hello

go 1.25.0

require github.com/google/uuid v1.6.0
