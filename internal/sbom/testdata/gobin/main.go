// Command gobin is a tiny Go program the sbom tests compile and put in an
// image: its build information names golang.org/x/mod.
package main

import (
	"fmt"

	"golang.org/x/mod/semver"
)

func main() {
	fmt.Println(semver.Compare("v1.2.3", "v1.10.0"))
}
