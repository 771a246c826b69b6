package vuln

import (
	"flag"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files and the osv-scanner fixture under testdata")

// testNow is the instant policy tests evaluate at: 2099-01-10 12:00 UTC.
var testNow = time.Date(2099, 1, 10, 12, 0, 0, 0, time.UTC)
