module github.com/slipwayci/slipway/ci

go 1.25.0

require github.com/slipwayci/slipway v0.0.0

replace github.com/slipwayci/slipway => ../
