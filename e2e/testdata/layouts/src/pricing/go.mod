module example.com/pricing

go 1.26

require example.com/money v0.0.0

replace example.com/money => ../../lib/money
