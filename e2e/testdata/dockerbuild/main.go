// Command hello is the program of the two-stage Dockerfile fixture. It
// imports a third-party module so that the build stage proves that
// `go mod download` works offline in the Go image.
package main

import (
	"fmt"

	"github.com/google/uuid"
)

func main() {
	fmt.Println("hello from a two-stage build")
	fmt.Println("uuid", uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://slipway.invalid/e2e")))
}
