module github.com/slipwayci/slipway

go 1.25.0
