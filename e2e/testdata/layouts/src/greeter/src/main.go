// Command greeter answers hello on :8080.
package main

import (
	"fmt"
	"log"
	"net/http"
)

func greeting(name string) string {
	if name == "" {
		name = "world"
	}
	return "hello, " + name
}

func main() {
	http.HandleFunc("/health/ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, greeting(r.URL.Query().Get("name"))) })
	log.Fatal(http.ListenAndServe(":8080", nil))
}
